package container

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"stack/engine/wire"
)

// The launch form is a Config and the State it starts from, in
// stack/engine/wire's binary form. The engine hands it to the shim it
// starts, so that the shim, a fresh process at every start, decodes
// neither config.json nor state.json: encoding/json's first decode of a
// Config (the OCI spec's whole type graph) cost the shim ~6 ms of CPU per
// start on the virtual machines stack runs on, more than any other step
// of its own, and that of a State ~0.7 ms.
//
// Every field of Config and State is carried, the Spec in wire's subset (what the
// shim and the init read; see the field lists of launch_test.go and
// wire's spec_test.go). A decoded Config is therefore for running the
// container, never for saving: config.json stays the record.
//
// The engine and the shim it starts come from one build; the version
// byte catches a mismatch anyway.
const launchVersion = 2

// EncodeLaunch encodes c and st in the launch form.
func EncodeLaunch(c *Config, st *State) []byte {
	e := wire.NewEncoder(launchVersion, 4096)
	encodeConfig(e, c)
	encodeState(e, st)
	return e.Bytes()
}

// DecodeLaunch decodes the launch form.
func DecodeLaunch(b []byte) (*Config, *State, error) {
	if len(b) == 0 {
		return nil, nil, errors.New("launch config: empty")
	}
	if b[0] != launchVersion {
		return nil, nil, fmt.Errorf("launch config: version %d, want %d (the shim and the stack command come from different builds)", b[0], launchVersion)
	}
	d := wire.NewDecoder(b[1:])
	c := decodeConfig(d)
	st := decodeState(d)
	if err := d.Finish(); err != nil {
		return nil, nil, fmt.Errorf("launch config: %w", err)
	}
	return c, st, nil
}

func encodeTime(e *wire.Encoder, t time.Time) {
	if e.Present(!t.IsZero()) {
		e.Int(t.UnixNano())
	}
}

// decodeTime reads a time in UTC, as the shim records them.
func decodeTime(d *wire.Decoder) time.Time {
	if !d.Present() {
		return time.Time{}
	}
	return time.Unix(0, d.Int64()).UTC()
}

func encodePorts(e *wire.Encoder, ports []PortBinding) {
	e.Uint(uint64(len(ports)))
	for _, p := range ports {
		e.Str(p.Proto)
		e.Str(p.HostIP)
		e.Uint(uint64(p.HostPort))
		e.Uint(uint64(p.HostPortEnd))
		e.Uint(uint64(p.ContainerPort))
	}
}

func decodePorts(d *wire.Decoder) []PortBinding {
	n := d.Count()
	if n == 0 {
		return nil
	}
	ports := make([]PortBinding, n)
	for i := range ports {
		ports[i] = PortBinding{Proto: d.Str(), HostIP: d.Str(), HostPort: d.Uint16(), HostPortEnd: d.Uint16(), ContainerPort: d.Uint16()}
	}
	return ports
}

func encodeState(e *wire.Encoder, st *State) {
	if !e.Present(st != nil) {
		return
	}
	e.Str(string(st.Status))
	e.Int(int64(st.Pid))
	e.Int(int64(st.ShimPid))
	encodeTime(e, st.StartedAt)
	encodeTime(e, st.FinishedAt)
	e.Int(int64(st.ExitCode))
	e.Bool(st.OOMKilled)
	e.Str(st.Error)
	e.Int(int64(st.RestartCount))
	e.Bool(st.ManualStop)
	if h := st.Health; e.Present(h != nil) {
		e.Str(h.Status)
		e.Int(int64(h.FailingStreak))
		e.Uint(uint64(len(h.Log)))
		for _, p := range h.Log {
			encodeTime(e, p.Start)
			encodeTime(e, p.End)
			e.Int(int64(p.ExitCode))
			e.Str(p.Output)
		}
	}
	encodePorts(e, st.Ports)
}

func decodeState(d *wire.Decoder) *State {
	if !d.Present() {
		return nil
	}
	st := &State{
		Status:       Status(d.Str()),
		Pid:          d.Int(),
		ShimPid:      d.Int(),
		StartedAt:    decodeTime(d),
		FinishedAt:   decodeTime(d),
		ExitCode:     d.Int(),
		OOMKilled:    d.Bool(),
		Error:        d.Str(),
		RestartCount: d.Int(),
		ManualStop:   d.Bool(),
	}
	if d.Present() {
		h := &Health{Status: d.Str(), FailingStreak: d.Int()}
		if n := d.Count(); n > 0 {
			h.Log = make([]HealthProbe, n)
			for i := range h.Log {
				h.Log[i] = HealthProbe{Start: decodeTime(d), End: decodeTime(d), ExitCode: d.Int(), Output: d.Str()}
			}
		}
		st.Health = h
	}
	st.Ports = decodePorts(d)
	return st
}

func encodeConfig(e *wire.Encoder, c *Config) {
	e.Str(c.ID)
	e.Str(c.Name)
	encodeTime(e, c.Created)
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
	encodePorts(e, c.Ports)
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
}

func decodeConfig(d *wire.Decoder) *Config {
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
	c.Ports = decodePorts(d)
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
	return c
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
