package container

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"stack/engine/wire"
)

// The launch form is a Config in stack/engine/wire's binary form. The
// engine hands it to the shim it starts, so that the shim, a fresh
// process at every start, does not decode config.json: encoding/json's
// first decode of a Config (the OCI spec's whole type graph) cost the
// shim ~6 ms of CPU per start on the virtual machines stack runs on,
// more than any other step of its own.
//
// Every field of Config is carried, the Spec in wire's subset (what the
// shim and the init read; see the field lists of launch_test.go and
// wire's spec_test.go). A decoded Config is therefore for running the
// container, never for saving: config.json stays the record.
//
// The engine and the shim it starts come from one build; the version
// byte catches a mismatch anyway.
const launchVersion = 1

// EncodeLaunch encodes c in the launch form.
func EncodeLaunch(c *Config) []byte {
	e := wire.NewEncoder(launchVersion, 4096)
	e.Str(c.ID)
	e.Str(c.Name)
	if e.Present(!c.Created.IsZero()) {
		e.Int(c.Created.UnixNano())
	}
	e.Str(c.Image)
	e.Str(c.ImageName)
	e.StrMap(c.Labels)
	if e.Present(c.Spec != nil) {
		e.Spec(c.Spec)
	}
	e.Strs(c.Lower)
	e.Strs(c.Entrypoint)
	e.Strs(c.Cmd)
	e.Str(c.Restart.Name)
	e.Int(int64(c.Restart.MaxRetries))
	e.Str(c.StopSignal)
	if e.Present(c.StopTimeout != nil) {
		e.Int(int64(*c.StopTimeout))
	}
	e.Bool(c.AutoRemove)
	e.Bool(c.OpenStdin)
	e.StrMap(c.LogOptions)
	e.Str(c.NetworkMode)
	e.Uint(uint64(len(c.Endpoints)))
	for _, ep := range c.Endpoints {
		e.Str(ep.NetworkID)
		e.Str(ep.NetworkName)
		e.Str(ep.Bridge)
		e.Bool(ep.Internal)
		e.Int(int64(ep.MTU))
		if e.Present(ep.Address.IsValid()) {
			e.Str(ep.Address.String())
		}
		if e.Present(ep.Gateway.IsValid()) {
			e.Str(ep.Gateway.String())
		}
		e.Str(ep.MAC)
		e.Strs(ep.Aliases)
		e.Str(ep.DNSDir)
	}
	e.Uint(uint64(len(c.Ports)))
	for _, p := range c.Ports {
		e.Str(p.Proto)
		e.Str(p.HostIP)
		e.Uint(uint64(p.HostPort))
		e.Uint(uint64(p.HostPortEnd))
		e.Uint(uint64(p.ContainerPort))
	}
	e.Strs(c.ExposedPorts)
	e.Strs(c.DNS.Servers)
	e.Strs(c.DNS.Search)
	e.Strs(c.DNS.Options)
	e.StrMap(c.DNS.Links)
	if h := c.Healthcheck; e.Present(h != nil) {
		e.Strs(h.Test)
		e.Int(int64(h.Interval))
		e.Int(int64(h.Timeout))
		e.Int(int64(h.StartPeriod))
		e.Int(int64(h.StartInterval))
		e.Int(int64(h.Retries))
	}
	e.Uint(uint64(len(c.Mounts)))
	for _, m := range c.Mounts {
		e.Str(m.Type)
		e.Str(m.Name)
		e.Str(m.Source)
		e.Str(m.Target)
		e.Bool(m.ReadOnly)
		e.Str(m.Propagation)
		e.Bool(m.Anonymous)
	}
	return e.Bytes()
}

// DecodeLaunch decodes the launch form.
func DecodeLaunch(b []byte) (*Config, error) {
	if len(b) == 0 {
		return nil, errors.New("launch config: empty")
	}
	if b[0] != launchVersion {
		return nil, fmt.Errorf("launch config: version %d, want %d (the shim and the stack command come from different builds)", b[0], launchVersion)
	}
	d := wire.NewDecoder(b[1:])
	c := &Config{ID: d.Str(), Name: d.Str()}
	if d.Present() {
		c.Created = time.Unix(0, d.Int64())
	}
	c.Image = d.Str()
	c.ImageName = d.Str()
	c.Labels = d.StrMap()
	if d.Present() {
		c.Spec = d.Spec()
	}
	c.Lower = d.Strs()
	c.Entrypoint = d.Strs()
	c.Cmd = d.Strs()
	c.Restart = RestartPolicy{Name: d.Str(), MaxRetries: d.Int()}
	c.StopSignal = d.Str()
	if d.Present() {
		t := d.Int()
		c.StopTimeout = &t
	}
	c.AutoRemove = d.Bool()
	c.OpenStdin = d.Bool()
	c.LogOptions = d.StrMap()
	c.NetworkMode = d.Str()
	if n := d.Count(); n > 0 {
		c.Endpoints = make([]Endpoint, n)
		for i := range c.Endpoints {
			ep := &c.Endpoints[i]
			ep.NetworkID = d.Str()
			ep.NetworkName = d.Str()
			ep.Bridge = d.Str()
			ep.Internal = d.Bool()
			ep.MTU = d.Int()
			if d.Present() {
				ep.Address = parsePrefix(d)
			}
			if d.Present() {
				ep.Gateway = parseAddr(d)
			}
			ep.MAC = d.Str()
			ep.Aliases = d.Strs()
			ep.DNSDir = d.Str()
		}
	}
	if n := d.Count(); n > 0 {
		c.Ports = make([]PortBinding, n)
		for i := range c.Ports {
			c.Ports[i] = PortBinding{Proto: d.Str(), HostIP: d.Str(), HostPort: d.Uint16(), HostPortEnd: d.Uint16(), ContainerPort: d.Uint16()}
		}
	}
	c.ExposedPorts = d.Strs()
	c.DNS = DNSConfig{Servers: d.Strs(), Search: d.Strs(), Options: d.Strs(), Links: d.StrMap()}
	if d.Present() {
		c.Healthcheck = &Healthcheck{
			Test:          d.Strs(),
			Interval:      time.Duration(d.Int64()),
			Timeout:       time.Duration(d.Int64()),
			StartPeriod:   time.Duration(d.Int64()),
			StartInterval: time.Duration(d.Int64()),
			Retries:       d.Int(),
		}
	}
	if n := d.Count(); n > 0 {
		c.Mounts = make([]Mount, n)
		for i := range c.Mounts {
			c.Mounts[i] = Mount{Type: d.Str(), Name: d.Str(), Source: d.Str(), Target: d.Str(), ReadOnly: d.Bool(), Propagation: d.Str(), Anonymous: d.Bool()}
		}
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("launch config: %w", err)
	}
	return c, nil
}

func parsePrefix(d *wire.Decoder) netip.Prefix {
	p, err := netip.ParsePrefix(d.Str())
	if err != nil {
		d.Fail("address")
	}
	return p
}

func parseAddr(d *wire.Decoder) netip.Addr {
	a, err := netip.ParseAddr(d.Str())
	if err != nil {
		d.Fail("address")
	}
	return a
}
