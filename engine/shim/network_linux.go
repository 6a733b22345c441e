package shim

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"stack/engine/container"
	"stack/network/dns"
	"stack/network/firewall"
	"stack/network/link"
)

// The shim owns its container's network: it creates the network namespace
// on the thread that forks every init (so restarts keep it, with the same
// addresses), attaches the veths, serves the embedded DNS server inside it,
// reserves and forwards the published ports, and publishes the container's
// DNS records; at exit it undoes all of it. A shim killed with SIGKILL
// leaves the records and the port table behind (the veths die with the
// namespace): CleanupNetwork, run by the next command that finds the shim
// gone, removes them.

// netState is what setupNetwork made.
type netState struct {
	mu       sync.Mutex            // guards attached and the DNS config (sync requests)
	ns       *os.File              // the namespace the inits run in (own or joined)
	attached map[string]attachment // by network ID
	hasRoute bool                  // a default route was set
	ports    []*os.File            // the reserved host ports
	bound    []container.PortBinding
	forwards bool // the port table exists
	dns      *dns.Server
	stopDNS  context.CancelFunc
	// name is the container's name in its DNS records: the config's at
	// start, the new one after a rename (syncNetwork).
	name string
}

// attachment is one endpoint set up in the namespace.
type attachment struct {
	ep     container.Endpoint
	ifName string
	veth   string
	record bool // the DNS record is written
}

// VethName is the host end of container id's veth on network netID:
// derived from both, so it is found again without a record (after a
// crash) and never collides with another endpoint's. FNV, not a
// cryptographic hash: the shim must not link crypto, whose package
// initialisers cost every container start milliseconds.
func VethName(id, netID string) string {
	h := fnv.New64a()
	h.Write([]byte(id + "/" + netID))
	return fmt.Sprintf("veth%011x", h.Sum64()>>20)
}

// enterOwnNetNS moves the spawn thread into a new network namespace, which
// every init forked from it inherits. Idempotent.
func (s *shim) enterOwnNetNS() error {
	if s.net.ns != nil {
		return nil
	}
	var err error
	s.onSpawn(func() {
		if err = unix.Unshare(unix.CLONE_NEWNET); err != nil {
			err = os.NewSyscallError("unshare(CLONE_NEWNET)", err)
			return
		}
		s.net.ns, err = os.Open("/proc/thread-self/ns/net")
	})
	return err
}

// joinNetNS moves the spawn thread into the network namespace of the
// container id, which must be running.
func (s *shim) joinNetNS(id string) error {
	other := container.Paths{Dir: filepath.Join(filepath.Dir(s.p.Dir), id), ID: id}
	name := id
	if c, err := container.LoadConfig(other); err == nil {
		name = c.Name
	}
	st, err := container.LoadState(other)
	if err != nil || st.Pid == 0 || st.Status != container.Running && st.Status != container.Paused {
		return fmt.Errorf("cannot join network namespace of a non running container: %s", name)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", st.Pid))
	if err != nil {
		return fmt.Errorf("network namespace of container %s: %w", name, err)
	}
	s.onSpawn(func() {
		if err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			err = os.NewSyscallError("setns", err)
		}
	})
	if err != nil {
		f.Close()
		return err
	}
	s.net.ns = f
	return nil
}

// enterNetwork puts the spawn thread in the container's network namespace
// (its own, made now, or another container's), before any init is forked.
func (s *shim) enterNetwork() error {
	if id, ok := container.NetworkContainer(s.cfg.NetworkMode); ok {
		if err := s.joinNetNS(id); err != nil {
			return &netError{&startError{step: "network namespace", err: err}}
		}
		return nil
	}
	if s.cfg.NetworkMode != container.NetworkBridge {
		return nil
	}
	if err := s.enterOwnNetNS(); err != nil {
		return &netError{&startError{step: "network namespace", err: err}}
	}
	return nil
}

// netError is a failed network set-up: docker's 125, not the program's.
type netError struct{ err error }

func (e *netError) Error() string { return e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// startNetwork sets the container's network up in the background, while
// the init starts; waitNetwork, called before the init may run the
// container's program, returns the outcome.
func (s *shim) startNetwork() {
	s.netDone = make(chan struct{})
	go func() {
		defer close(s.netDone)
		if err := s.setupNetwork(); err != nil {
			s.netErr = &netError{err}
		}
	}()
}

func (s *shim) waitNetwork() error {
	if s.netDone == nil {
		return nil
	}
	<-s.netDone
	return s.netErr
}

// setupNetwork attaches the veths, serves DNS, publishes the ports and
// writes the DNS records, in the namespace enterNetwork made.
func (s *shim) setupNetwork() error {
	cfg := s.cfg
	if cfg.NetworkMode != container.NetworkBridge {
		return nil
	}
	fd := int(s.net.ns.Fd())
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	t0 := time.Now()
	defer func() { s.log.Debug("network set up", "took", time.Since(t0)) }()
	// The DNS server's sockets and redirect, and the veths, are made at
	// once: each costs milliseconds, mostly in the kernel.
	dnsErr := make(chan error, 1)
	go func() { dnsErr <- s.serveDNS(fd) }()
	s.net.attached = map[string]attachment{}
	var err error
	for _, ep := range cfg.Endpoints {
		if err = s.attachEndpoint(ep); err != nil {
			err = &startError{step: "network " + ep.NetworkName, err: err}
			break
		}
	}
	s.log.Debug("veths attached", "took", time.Since(t0))
	if err == nil && len(cfg.Endpoints) == 0 {
		if err = link.LoopbackUp(fd); err != nil {
			err = &startError{step: "network", err: err}
		}
	}
	if derr := <-dnsErr; err == nil && derr != nil {
		err = &startError{step: "dns", err: derr}
	}
	if err != nil {
		return err
	}
	if primary, ok := container.PrimaryEndpoint(cfg.Endpoints); ok {
		if err := s.publishPorts(primary.Address.Addr()); err != nil {
			return &startError{step: "publish ports", err: err}
		}
	} else if len(cfg.Ports) > 0 {
		s.log.Warn("published ports are discarded: the container has no network with outbound access")
	}
	return s.writeRecords()
}

// attachEndpoint sets up one endpoint in the namespace. Caller holds s.net.mu.
func (s *shim) attachEndpoint(ep container.Endpoint) error {
	// One RTM_GETLINK by name (net.InterfaceByName would dump every link).
	if _, err := netlink.LinkByName(ep.Bridge); err != nil {
		// The bridge went away (a reboot, or someone deleted it): make
		// it again, with its rules.
		if err := ensureNetwork(ep); err != nil {
			return err
		}
	}
	var gw netip.Addr
	if !s.net.hasRoute && !ep.Internal {
		gw = ep.Gateway
	}
	mac, err := net.ParseMAC(ep.MAC)
	if err != nil {
		return err
	}
	ifName := ""
	for i := 0; ifName == ""; i++ {
		name := "eth" + strconv.Itoa(i)
		if !slices.ContainsFunc(slices.Collect(maps.Values(s.net.attached)), func(a attachment) bool { return a.ifName == name }) {
			ifName = name
		}
	}
	a := attachment{ep: ep, ifName: ifName, veth: VethName(s.cfg.ID, ep.NetworkID)}
	lep := link.Endpoint{
		HostName: a.veth,
		IfName:   ifName,
		Bridge:   ep.Bridge,
		MTU:      ep.MTU,
		Addr:     ep.Address,
		Gateway:  gw,
		MAC:      mac,
		// A container reaching its own published port through the
		// host's address comes back in through its own bridge port.
		Hairpin: true,
	}
	err = link.Attach(int(s.net.ns.Fd()), lep)
	if errors.Is(err, fs.ErrExist) {
		// The host end of this container's last run, whose namespace
		// the kernel has yet to tear down: it is ours to delete.
		if derr := link.Detach(a.veth); derr == nil {
			err = link.Attach(int(s.net.ns.Fd()), lep)
		}
	}
	if err != nil {
		return err
	}
	if gw.IsValid() {
		s.net.hasRoute = true
	}
	s.net.attached[ep.NetworkID] = a
	return nil
}

// writeRecords publishes the container's DNS records on every network it
// is attached to and has none yet. Caller holds s.net.mu.
func (s *shim) writeRecords() error {
	for id, a := range s.net.attached {
		if a.record {
			continue
		}
		if s.net.name == "" {
			s.net.name = s.cfg.Name
		}
		r := dns.Record{ContainerID: s.cfg.ID, Names: recordNames(s.net.name, s.cfg, a.ep), IPv4: a.ep.Address.Addr()}
		if err := dns.WriteRecord(a.ep.DNSDir, r); err != nil {
			return &startError{step: "dns record", err: err}
		}
		a.record = true
		s.net.attached[id] = a
	}
	return nil
}

// syncNetwork makes the attached endpoints and the DNS records those of
// the config on disk: `network connect` and `disconnect`, and `rename`,
// of a running container.
func (s *shim) syncNetwork() error {
	if s.cfg.NetworkMode != container.NetworkBridge || s.net.ns == nil {
		return errors.New("the container is not on bridge networks")
	}
	cfg, err := container.LoadConfig(s.p)
	if err != nil {
		return err
	}
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if cfg.Name != s.net.name {
		// Renamed: every record is written again with the new name.
		s.net.name = cfg.Name
		for id, a := range s.net.attached {
			a.record = false
			s.net.attached[id] = a
		}
	}
	want := map[string]bool{}
	var errs []error
	for _, ep := range cfg.Endpoints {
		want[ep.NetworkID] = true
		if _, ok := s.net.attached[ep.NetworkID]; !ok {
			if err := s.attachEndpoint(ep); err != nil {
				errs = append(errs, fmt.Errorf("network %s: %w", ep.NetworkName, err))
			}
		}
	}
	for id, a := range s.net.attached {
		if want[id] {
			continue
		}
		if a.record {
			errs = append(errs, dns.RemoveRecord(a.ep.DNSDir, s.cfg.ID))
		}
		errs = append(errs, link.Detach(a.veth))
		delete(s.net.attached, id)
	}
	s.mu.Lock()
	s.cfg.Endpoints = cfg.Endpoints
	s.mu.Unlock()
	if s.net.dns != nil {
		s.net.dns.SetConfig(s.dnsConfig())
	}
	errs = append(errs, s.writeRecords())
	return errors.Join(errs...)
}

// ensureNetwork makes a network's bridge and rules again.
func ensureNetwork(ep container.Endpoint) error {
	gw := netip.PrefixFrom(ep.Gateway, ep.Address.Bits())
	if err := link.EnsureBridge(link.Bridge{Name: ep.Bridge, Gateway: gw, MTU: ep.MTU, Internal: ep.Internal}); err != nil {
		return err
	}
	return firewall.SetNetwork(firewall.NetworkRules{Bridge: ep.Bridge, Subnet: ep.Address.Masked(), Internal: ep.Internal})
}

// recordNames are the names the container answers to on ep's network:
// its name first (for reverse lookups), then its aliases, hostname and
// short ID, as Docker's.
func recordNames(name string, cfg *container.Config, ep container.Endpoint) []string {
	names := []string{name}
	names = append(names, ep.Aliases...)
	if h := cfg.Spec.Hostname; h != "" {
		names = append(names, h)
	}
	names = append(names, cfg.ID[:12])
	slices.Sort(names[1:])
	return slices.Compact(names)
}

// serveDNS starts the embedded DNS server: its sockets on 127.0.0.11 in
// the container's namespace, on random ports that 127.0.0.11:53 is
// redirected to, so that the container may run a DNS server of its own.
func (s *shim) serveDNS(fd int) error {
	var udp net.PacketConn
	var tcp net.Listener
	// 127.0.0.11 is an address of lo once it is up (Attach, running at
	// the same time, brings it up too).
	if err := link.LoopbackUp(fd); err != nil {
		return err
	}
	err := link.Do(fd, func() error {
		var err error
		if udp, err = net.ListenPacket("udp4", "127.0.0.11:0"); err != nil {
			return err
		}
		tcp, err = net.Listen("tcp4", "127.0.0.11:0")
		return err
	})
	if err != nil {
		if udp != nil {
			udp.Close()
		}
		return err
	}
	uport := uint16(udp.LocalAddr().(*net.UDPAddr).Port)
	tport := uint16(tcp.Addr().(*net.TCPAddr).Port)
	if err := firewall.SetDNSRedirect(fd, uport, tport); err != nil {
		udp.Close()
		tcp.Close()
		return err
	}
	conf := s.dnsConfig()
	srv, err := dns.NewServer(conf)
	if err != nil {
		udp.Close()
		tcp.Close()
		return err
	}
	s.net.dns = srv
	ctx, cancel := context.WithCancel(context.Background())
	s.net.stopDNS = func() {
		cancel()
		udp.Close()
		tcp.Close()
	}
	go srv.Serve(ctx, udp, tcp)
	return nil
}

// dnsConfig is the DNS server's configuration for the current endpoints:
// their networks' records, and the upstreams unless every network is
// internal.
func (s *shim) dnsConfig() dns.Config {
	conf := dns.Config{Links: s.cfg.DNS.Links, Logger: s.log}
	for _, ep := range s.cfg.Endpoints {
		conf.Dirs = append(conf.Dirs, ep.DNSDir)
	}
	if _, ok := container.PrimaryEndpoint(s.cfg.Endpoints); ok {
		conf.Upstreams = s.cfg.DNS.Servers
		if len(conf.Upstreams) == 0 {
			if rc, err := dns.ReadResolvConf("/etc/resolv.conf"); err == nil {
				conf.Upstreams = rc.Nameservers
			}
		}
	}
	return conf
}

// publishPorts reserves every published host port by binding it (so a
// port in use fails here, with the kernel's EADDRINUSE, not later) and
// forwards it to addr in the kernel.
func (s *shim) publishPorts(addr netip.Addr) error {
	if len(s.cfg.Ports) == 0 {
		return nil
	}
	var maps []firewall.PortMapping
	for _, p := range s.cfg.Ports {
		f, b, err := reservePort(p)
		if err != nil {
			return err
		}
		s.net.ports = append(s.net.ports, f)
		s.net.bound = append(s.net.bound, b)
		m := firewall.PortMapping{Proto: b.Proto, HostPort: b.HostPort, ContainerIP: addr, ContainerPort: b.ContainerPort}
		if b.HostIP != "" {
			m.HostIP, _ = netip.ParseAddr(b.HostIP)
		}
		maps = append(maps, m)
	}
	s.net.forwards = true
	return firewall.SetPorts(s.cfg.ID, maps)
}

// reservePort binds the host side of p: a TCP socket that is bound but never
// listens (no connection can land on it, and no one else can bind the
// port: it has no SO_REUSEADDR) or a UDP socket the forwarded datagrams
// never reach.
func reservePort(p container.PortBinding) (*os.File, container.PortBinding, error) {
	ip := netip.IPv4Unspecified()
	if p.HostIP != "" {
		var err error
		if ip, err = netip.ParseAddr(p.HostIP); err != nil || !ip.Is4() {
			return nil, p, fmt.Errorf("host IP %q: only IPv4 addresses can be published", p.HostIP)
		}
	}
	typ := unix.SOCK_STREAM
	if p.Proto == "udp" {
		typ = unix.SOCK_DGRAM
	}
	last := p.HostPortEnd
	if last < p.HostPort {
		last = p.HostPort
	}
	var err error
	for port := p.HostPort; ; port++ {
		var fd int
		fd, err = unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, p, os.NewSyscallError("socket", err)
		}
		err = unix.Bind(fd, &unix.SockaddrInet4{Port: int(port), Addr: ip.As4()})
		if err == nil {
			b := p
			b.HostPortEnd = 0
			if sa, err := unix.Getsockname(fd); err == nil {
				b.HostPort = uint16(sa.(*unix.SockaddrInet4).Port)
			}
			return os.NewFile(uintptr(fd), "port"), b, nil
		}
		unix.Close(fd)
		if port >= last || port == 0 {
			break
		}
	}
	desc := fmt.Sprintf("%s:%d", ip, p.HostPort)
	if p.HostPortEnd > p.HostPort {
		desc = fmt.Sprintf("%s:%d-%d", ip, p.HostPort, p.HostPortEnd)
	}
	if errors.Is(err, unix.EADDRINUSE) {
		return nil, p, fmt.Errorf("Bind for %s/%s failed: port is already allocated", desc, p.Proto)
	}
	return nil, p, fmt.Errorf("bind %s/%s: %w", desc, p.Proto, err)
}

// teardownNetwork undoes setupNetwork, records first so that no one is
// sent to an address that is going away.
func (s *shim) teardownNetwork() {
	s.waitNetwork() // a set-up still running finishes first
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	for _, a := range s.net.attached {
		if a.record {
			if err := dns.RemoveRecord(a.ep.DNSDir, s.cfg.ID); err != nil {
				s.log.Warn("remove dns record", "err", err)
			}
		}
	}
	if s.net.forwards {
		if err := firewall.RemovePorts(s.cfg.ID); err != nil {
			s.log.Warn("remove port forwards", "err", err)
		}
	}
	for _, f := range s.net.ports {
		f.Close()
	}
	if s.net.stopDNS != nil {
		s.net.stopDNS()
	}
	// The veths go with the namespace, which dies with the last of this
	// process's threads: the kernel removes them asynchronously, which
	// keeps the 15-40 ms a synchronous delete of each costs out of every
	// stop. A restart that finds a host end still there deletes it
	// (attachEndpoint).
	if s.net.ns != nil {
		s.net.ns.Close()
	}
}

// CleanupNetwork removes what the shim of c, now dead, may have left of
// its network: its DNS records and its port forwards. (Its veths went with
// its namespace, which died with it.) It is idempotent.
func CleanupNetwork(c *container.Config) error {
	if c.NetworkMode != container.NetworkBridge {
		return nil
	}
	var errs []error
	for _, ep := range c.Endpoints {
		errs = append(errs, dns.RemoveRecord(ep.DNSDir, c.ID))
	}
	if len(c.Ports) > 0 {
		errs = append(errs, firewall.RemovePorts(c.ID))
	}
	return errors.Join(errs...)
}
