package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"stack/engine/container"
	"stack/engine/oci"
	"stack/engine/shim"
	"stack/network"
	"stack/network/dns"
	"stack/network/firewall"
	"stack/network/ipam"
	"stack/network/link"
)

// NetworkAttachment asks for a container's endpoint on a network.
type NetworkAttachment struct {
	Network string   // name or ID
	Aliases []string // names it answers to on that network besides its own
	IPv4    string   // a static address; "" picks one
}

// dnsDir is the directory of a network's DNS records, which the DNS server
// of every container on it reads.
func (e *Engine) dnsDir(netID string) string {
	return filepath.Join(e.root.Dir, "dns", netID)
}

// CreateNetwork creates a bridge network: its record and address space,
// its bridge and its NAT and isolation rules. On failure nothing is left.
func (e *Engine) CreateNetwork(ctx context.Context, o network.CreateOptions) (*network.Network, error) {
	reserved, err := link.Reserved()
	if err != nil {
		return nil, err
	}
	if o.DefaultMTU == 0 {
		o.DefaultMTU = link.DefaultMTU()
	}
	n, err := e.Nets.Create(o, reserved)
	if err != nil {
		return nil, err
	}
	if err := e.ensureNetwork(n); err != nil {
		e.dropNetwork(n)
		return nil, fmt.Errorf("create network %q: %w", n.Name, err)
	}
	return n, nil
}

func (e *Engine) ensureNetwork(n *network.Network) error {
	gw := netip.PrefixFrom(n.Gateway, n.Subnet.Bits())
	if err := link.EnsureBridge(link.Bridge{Name: n.Bridge, Gateway: gw, MTU: n.MTU, Internal: n.Internal}); err != nil {
		return err
	}
	return firewall.SetNetwork(firewall.NetworkRules{Bridge: n.Bridge, Subnet: n.Subnet, Internal: n.Internal})
}

// dropNetwork removes a network's rules, bridge, records and DNS records.
// The record goes last, and only once the rest is gone, so that a failure
// can be retried.
func (e *Engine) dropNetwork(n *network.Network) error {
	if err := errors.Join(firewall.RemoveNetwork(n.Bridge), link.DeleteBridge(n.Bridge), os.RemoveAll(e.dnsDir(n.ID))); err != nil {
		return err
	}
	return e.Nets.Remove(n.ID)
}

// Network finds a network by name, ID or unique ID prefix.
func (e *Engine) Network(ref string) (*network.Network, error) { return e.Nets.Get(ref) }

// Networks lists the networks.
func (e *Engine) Networks() ([]*network.Network, error) { return e.Nets.List() }

// NetworkContainers returns the containers with an endpoint on network id.
func (e *Engine) NetworkContainers(id string) ([]*Container, error) {
	cs, err := e.List(true)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(cs, func(c *Container) bool {
		return !slices.ContainsFunc(c.Config.Endpoints, func(ep container.Endpoint) bool { return ep.NetworkID == id })
	}), nil
}

// RemoveNetwork removes a network that no running container uses (docker's
// "has active endpoints"); stopped containers lose their endpoint on it and
// cannot start until it exists again.
func (e *Engine) RemoveNetwork(ctx context.Context, ref string) error {
	// Under the lock: no container is given an address on it meanwhile.
	lock, err := e.lock()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	n, err := e.Nets.Get(ref)
	if err != nil {
		return err
	}
	users, err := e.NetworkContainers(n.ID)
	if err != nil {
		return err
	}
	var active []string
	for _, c := range users {
		if isRunning(c.State.Status) {
			active = append(active, c.Config.Name)
		}
	}
	if len(active) > 0 {
		return fmt.Errorf("error while removing network: network %s has active endpoints (%s): %w", n.Name, strings.Join(active, ", "), ErrInUse)
	}
	if err := e.dropNetwork(n); err != nil {
		return fmt.Errorf("remove network %q: %w", n.Name, err)
	}
	return nil
}

func isRunning(s container.Status) bool {
	return s == container.Running || s == container.Paused || s == container.Restarting
}

// networking is a new container's network set-up, resolved at create.
type networking struct {
	mode      string
	endpoints []container.Endpoint
	hosts     string // /etc/hosts
	resolv    string // /etc/resolv.conf
	specOpts  []oci.SpecOpt
}

// resolveNetworking allocates a new container's addresses and writes down
// its networking. On error it has allocated nothing.
func (e *Engine) resolveNetworking(id, hostname string, opts *CreateOptions) (*networking, error) {
	nw := &networking{mode: opts.NetworkMode}
	if nw.mode == "" {
		nw.mode = container.NetworkNone
		if len(opts.Networks) > 0 {
			nw.mode = container.NetworkBridge
		}
	}
	if len(opts.Networks) > 0 && nw.mode != container.NetworkBridge {
		return nil, fmt.Errorf("network mode %q cannot be combined with networks: %w", nw.mode, ErrInvalid)
	}
	hostRC, _ := dns.ReadResolvConf("/etc/resolv.conf")
	switch {
	case nw.mode == container.NetworkNone:
		nw.resolv = resolvConf()
	case nw.mode == container.NetworkHost:
		b, _ := os.ReadFile("/etc/resolv.conf")
		nw.resolv = string(b)
		nw.specOpts = append(nw.specOpts, oci.WithoutNamespace(specs.NetworkNamespace))
	case nw.mode == container.NetworkBridge:
		nw.resolv = string(dns.ContainerResolvConf(hostRC, opts.DNS.Search, opts.DNS.Options))
		nw.specOpts = append(nw.specOpts, oci.WithoutNamespace(specs.NetworkNamespace))
	case strings.HasPrefix(nw.mode, "container:"):
		other, err := e.Get(strings.TrimPrefix(nw.mode, "container:"))
		if err != nil {
			return nil, fmt.Errorf("network mode %q: %w", nw.mode, err)
		}
		if other.Config.ID == id {
			return nil, fmt.Errorf("network mode %q: a container cannot join its own network namespace: %w", nw.mode, ErrInvalid)
		}
		nw.mode = "container:" + other.Config.ID
		b, _ := os.ReadFile(e.paths(other.Config.ID).ResolvConf())
		nw.resolv = string(b)
		nw.specOpts = append(nw.specOpts, oci.WithoutNamespace(specs.NetworkNamespace))
	default:
		return nil, fmt.Errorf("invalid network mode %q: %w", nw.mode, ErrInvalid)
	}
	if nw.mode == container.NetworkNone && len(opts.DNS.Servers) > 0 || nw.mode == container.NetworkHost && len(opts.DNS.Servers) > 0 {
		rc := hostRC
		rc.Nameservers = opts.DNS.Servers
		nw.resolv = renderResolvConf(rc, opts.DNS.Search, opts.DNS.Options)
	}
	if len(opts.Networks) > 16 {
		return nil, fmt.Errorf("a container can be on at most 16 networks, not %d: %w", len(opts.Networks), ErrInvalid)
	}
	ok := false
	defer func() {
		if !ok {
			e.Nets.ReleaseAll(id)
		}
	}()
	for _, a := range opts.Networks {
		n, err := e.Nets.Get(a.Network)
		if err != nil {
			return nil, fmt.Errorf("network %s: %w", a.Network, err)
		}
		if slices.ContainsFunc(nw.endpoints, func(ep container.Endpoint) bool { return ep.NetworkID == n.ID }) {
			return nil, fmt.Errorf("network %s given twice: %w", n.Name, ErrInvalid)
		}
		var want netip.Addr
		if a.IPv4 != "" {
			if want, err = netip.ParseAddr(a.IPv4); err != nil || !want.Is4() {
				return nil, fmt.Errorf("network %s: invalid IPv4 address %q: %w", n.Name, a.IPv4, ErrInvalid)
			}
		}
		e.sweepAllocations(n.ID)
		addr, err := e.Nets.Allocate(n.ID, id, want)
		if err != nil {
			return nil, fmt.Errorf("network %s: %w", n.Name, err)
		}
		nw.endpoints = append(nw.endpoints, container.Endpoint{
			NetworkID:   n.ID,
			NetworkName: n.Name,
			Bridge:      n.Bridge,
			Internal:    n.Internal,
			MTU:         n.MTU,
			Address:     netip.PrefixFrom(addr, n.Subnet.Bits()),
			Gateway:     n.Gateway,
			MAC:         ipam.MAC(addr).String(),
			Aliases:     a.Aliases,
			DNSDir:      e.dnsDir(n.ID),
		})
	}
	hosts, err := hostsFile(hostname, opts.Domainname, nw.endpoints, opts.ExtraHosts, nw.mode)
	if err != nil {
		return nil, err
	}
	nw.hosts = hosts
	ok = true
	return nw, nil
}

// hostsFile is a container's /etc/hosts: localhost, its own address and
// name (as Docker writes them), then extra_hosts. "host-gateway" stands
// for the gateway of its first network.
func hostsFile(hostname, domain string, eps []container.Endpoint, extra []string, mode string) (string, error) {
	var b strings.Builder
	if mode == container.NetworkHost {
		if h, err := os.ReadFile("/etc/hosts"); err == nil {
			b.Write(h)
			if len(h) > 0 && h[len(h)-1] != '\n' {
				b.WriteByte('\n')
			}
		}
	} else {
		b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	}
	for _, h := range extra {
		name, ip, ok := strings.Cut(h, ":")
		if i := strings.IndexByte(h, '='); i >= 0 {
			name, ip, ok = h[:i], h[i+1:], true
		}
		if !ok || name == "" || ip == "" {
			return "", fmt.Errorf("extra_hosts: invalid entry %q, want HOST:IP: %w", h, ErrInvalid)
		}
		if ip == "host-gateway" {
			if len(eps) == 0 {
				return "", fmt.Errorf("extra_hosts: %q: host-gateway needs a bridge network: %w", h, ErrInvalid)
			}
			ip = eps[0].Gateway.String()
		}
		ip = strings.Trim(ip, "[]")
		if _, err := netip.ParseAddr(ip); err != nil {
			return "", fmt.Errorf("extra_hosts: invalid IP address in %q: %w", h, ErrInvalid)
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, name)
	}
	if len(eps) > 0 {
		names := hostname
		if domain != "" {
			names = hostname + "." + domain + " " + hostname
		}
		fmt.Fprintf(&b, "%s\t%s\n", eps[0].Address.Addr(), names)
	}
	return b.String(), nil
}

// checkNetworks fails the start of a container whose network was removed.
func (e *Engine) checkNetworks(c *Container) error {
	for _, ep := range c.Config.Endpoints {
		if _, err := e.Nets.Get(ep.NetworkID); err != nil {
			return fmt.Errorf("container %q: network %s not found: %w", c.Config.Name, ep.NetworkName, ErrNotFound)
		}
	}
	return nil
}

// cleanupNetwork removes what a dead shim left of c's network.
func (e *Engine) cleanupNetwork(c *Container) error {
	return shim.CleanupNetwork(c.Config)
}

// renderResolvConf writes a resolv.conf that uses nameservers directly
// (network modes without the embedded DNS server).
func renderResolvConf(rc dns.ResolvConf, search, options []string) string {
	var b strings.Builder
	for _, ns := range rc.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(search) == 0 {
		search = rc.Search
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) == 0 {
		options = rc.Options
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.String()
}

// checkPorts validates published ports.
func checkPorts(ps []container.PortBinding) error {
	for _, p := range ps {
		if p.Proto != "tcp" && p.Proto != "udp" {
			return fmt.Errorf("invalid protocol %q for port %d: only tcp and udp can be published: %w", p.Proto, p.ContainerPort, ErrInvalid)
		}
		if p.ContainerPort == 0 {
			return fmt.Errorf("invalid container port 0: %w", ErrInvalid)
		}
		if p.HostPortEnd != 0 && p.HostPortEnd < p.HostPort {
			return fmt.Errorf("invalid host port range %d-%d: %w", p.HostPort, p.HostPortEnd, ErrInvalid)
		}
		if p.HostIP != "" {
			if a, err := netip.ParseAddr(p.HostIP); err != nil || !a.Is4() {
				return fmt.Errorf("invalid host IP %q for port %d: only IPv4 addresses can be published: %w", p.HostIP, p.ContainerPort, ErrInvalid)
			}
		}
	}
	return nil
}

// exposedPorts merges the image's EXPOSE with the caller's, "80/tcp" each,
// sorted.
func exposedPorts(image map[string]struct{}, extra []string) []string {
	var out []string
	for p := range image {
		out = append(out, p)
	}
	for _, p := range extra {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// sweepAllocations releases the addresses of containers that no longer
// exist (removed by their own shim, --rm, or by hand).
func (e *Engine) sweepAllocations(netID string) {
	owners, err := e.Nets.Allocations(netID)
	if err != nil {
		return
	}
	for owner := range owners {
		if _, err := os.Stat(e.paths(owner).Config()); errors.Is(err, os.ErrNotExist) {
			if _, err := os.Stat(filepath.Join(e.root.ContainersDir(), ".tmp-"+owner)); errors.Is(err, os.ErrNotExist) {
				e.Nets.Release(netID, owner)
			}
		}
	}
}

// Connect attaches a container to a network: at once if it runs, else at
// its next start. Only containers on bridge networks (or on none, while
// stopped, which then become bridged) can be connected.
func (e *Engine) Connect(ctx context.Context, ref string, a NetworkAttachment) error {
	lock, err := e.lock()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	c, err := e.Get(ref)
	if err != nil {
		return err
	}
	cfg := c.Config
	running := isRunning(c.State.Status)
	switch {
	case cfg.NetworkMode == container.NetworkBridge:
	case cfg.NetworkMode == container.NetworkNone && !running:
	default:
		return fmt.Errorf("container %s: cannot connect a container with network mode %q to a network: %w", cfg.Name, cfg.NetworkMode, ErrInvalid)
	}
	n, err := e.Nets.Get(a.Network)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(cfg.Endpoints, func(ep container.Endpoint) bool { return ep.NetworkID == n.ID }) {
		return fmt.Errorf("endpoint with name %s already exists in network %s: %w", cfg.Name, n.Name, ErrExists)
	}
	var want netip.Addr
	if a.IPv4 != "" {
		if want, err = netip.ParseAddr(a.IPv4); err != nil || !want.Is4() {
			return fmt.Errorf("invalid IPv4 address %q: %w", a.IPv4, ErrInvalid)
		}
	}
	e.sweepAllocations(n.ID)
	addr, err := e.Nets.Allocate(n.ID, cfg.ID, want)
	if err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	old := slices.Clone(cfg.Endpoints)
	oldMode := cfg.NetworkMode
	cfg.Endpoints = append(cfg.Endpoints, container.Endpoint{
		NetworkID: n.ID, NetworkName: n.Name, Bridge: n.Bridge, Internal: n.Internal, MTU: n.MTU,
		Address: netip.PrefixFrom(addr, n.Subnet.Bits()), Gateway: n.Gateway, MAC: ipam.MAC(addr).String(),
		Aliases: a.Aliases, DNSDir: e.dnsDir(n.ID),
	})
	if cfg.NetworkMode == container.NetworkNone {
		// A stopped container on none gets its own namespace from the
		// shim from now on, and the embedded DNS server.
		cfg.NetworkMode = container.NetworkBridge
		cfg.Spec.Linux.Namespaces = slices.DeleteFunc(cfg.Spec.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.NetworkNamespace })
		if rc, err := dns.ReadResolvConf("/etc/resolv.conf"); err == nil {
			os.WriteFile(e.paths(cfg.ID).ResolvConf(), dns.ContainerResolvConf(rc, cfg.DNS.Search, cfg.DNS.Options), 0o644)
		}
	}
	undo := func() {
		cfg.Endpoints, cfg.NetworkMode = old, oldMode
		container.SaveConfig(e.paths(cfg.ID), cfg)
		e.Nets.Release(n.ID, cfg.ID)
	}
	if err := container.SaveConfig(e.paths(cfg.ID), cfg); err != nil {
		undo()
		return err
	}
	if running {
		if err := e.syncNetwork(c); err != nil {
			undo()
			e.syncNetwork(c)
			return fmt.Errorf("connect container %s to network %s: %w", cfg.Name, n.Name, err)
		}
	}
	return nil
}

// Disconnect detaches a container from a network.
func (e *Engine) Disconnect(ctx context.Context, ref, netRef string, force bool) error {
	lock, err := e.lock()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	c, err := e.Get(ref)
	if err != nil {
		return err
	}
	cfg := c.Config
	i := slices.IndexFunc(cfg.Endpoints, func(ep container.Endpoint) bool {
		return ep.NetworkID == netRef || ep.NetworkName == netRef || strings.HasPrefix(ep.NetworkID, netRef)
	})
	if i < 0 {
		return fmt.Errorf("container %s is not connected to network %s: %w", cfg.Name, netRef, ErrNotFound)
	}
	ep := cfg.Endpoints[i]
	running := isRunning(c.State.Status)
	if primary, ok := container.PrimaryEndpoint(cfg.Endpoints); running && ok && primary.NetworkID == ep.NetworkID {
		// Its default route and published ports lead through this one.
		return fmt.Errorf("cannot disconnect running container %s from %s, the network of its default route and published ports: stop it first: %w", cfg.Name, ep.NetworkName, ErrInUse)
	}
	old := slices.Clone(cfg.Endpoints)
	cfg.Endpoints = slices.Delete(cfg.Endpoints, i, i+1)
	if err := container.SaveConfig(e.paths(cfg.ID), cfg); err != nil {
		return err
	}
	if running {
		if err := e.syncNetwork(c); err != nil && !force {
			cfg.Endpoints = old
			container.SaveConfig(e.paths(cfg.ID), cfg)
			return fmt.Errorf("disconnect container %s from network %s: %w", cfg.Name, ep.NetworkName, err)
		}
	}
	return e.Nets.Release(ep.NetworkID, cfg.ID)
}

func (e *Engine) syncNetwork(c *Container) error {
	cl, err := e.dialRunning(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.SyncNetwork()
}
