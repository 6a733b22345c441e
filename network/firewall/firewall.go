package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
)

// BridgePrefix begins the name of every stack bridge. The isolation rule
// of each network drops traffic towards any interface with this prefix
// other than its own bridge, so a network whose bridge lacked it would not
// be isolated from the others: SetNetwork refuses such a bridge.
const BridgePrefix = "stk-"

// TablePrefix begins the name of every table this package installs.
const TablePrefix = "stack-"

const (
	netTablePrefix   = TablePrefix + "net-"
	portsTablePrefix = TablePrefix + "ports-"
	dnsTableName     = TablePrefix + "dns"
	// ownerLen is how much of an owner (a container ID) names its
	// ports table, as Docker's short IDs.
	ownerLen = 12
)

func networkTableName(bridge string) string { return netTablePrefix + bridge }

func portsTableName(owner string) string {
	return portsTablePrefix + owner[:min(len(owner), ownerLen)]
}

// ErrInvalid is wrapped by every error about malformed input: retrying
// such a call cannot succeed.
var ErrInvalid = errors.New("invalid argument")

// invalidError is an input error: it reads as its text and matches
// ErrInvalid.
type invalidError string

func (e invalidError) Error() string        { return string(e) }
func (e invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return invalidError(fmt.Sprintf(format, args...))
}

// NetworkRules describes one bridge network.
type NetworkRules struct {
	// Bridge is the bridge's name: BridgePrefix, then at most 11 more
	// bytes (IFNAMSIZ is 16 with the NUL).
	Bridge string
	// Subnet is the network's IPv4 subnet. Host bits are ignored.
	Subnet netip.Prefix
	// Internal networks have no way out: no masquerade, and nothing is
	// forwarded between the bridge and any other interface.
	Internal bool
}

func (r NetworkRules) validate() error {
	if err := validBridge(r.Bridge); err != nil {
		return err
	}
	if !r.Subnet.IsValid() || !r.Subnet.Addr().Is4() {
		return invalidf("subnet %s: want an IPv4 subnet like 172.20.0.0/16", r.Subnet)
	}
	if r.Subnet.Bits() == 0 {
		return invalidf("subnet %s covers every address", r.Subnet)
	}
	return nil
}

func validBridge(name string) error {
	if !strings.HasPrefix(name, BridgePrefix) || len(name) <= len(BridgePrefix) || len(name) >= ifnameLen {
		return invalidf("bridge %q: want %q and 1 to %d more bytes", name, BridgePrefix, ifnameLen-1-len(BridgePrefix))
	}
	if strings.ContainsAny(name, "/ \t\n\x00*:") {
		return invalidf("bridge %q: not a valid interface name", name)
	}
	return nil
}

// SetNetwork installs the rules of the network r in the calling thread's
// network namespace (the host's): outbound masquerade, masquerade for
// published ports reached from 127.0.0.1 or from the network itself, and
// isolation from other stack networks (see the package doc for the exact
// rules). It replaces the network's table in one atomic transaction, so it
// is idempotent and there is no moment without rules.
func SetNetwork(r NetworkRules) error { return setNetwork(0, r) }

// setNetwork is SetNetwork in the namespace netnsFD (0: the calling
// thread's), as are the other lower-case twins below.
func setNetwork(netnsFD int, r NetworkRules) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("firewall: set network %q: %w", r.Bridge, err)
	}
	r.Subnet = r.Subnet.Masked()
	if err := install(newConn(netnsFD), networkTable(r)); err != nil {
		return fmt.Errorf("firewall: set network %q: %w", r.Bridge, err)
	}
	return nil
}

// RemoveNetwork removes the rules of the network whose bridge is named
// bridge. A network without rules is not an error.
func RemoveNetwork(bridge string) error { return removeNetwork(0, bridge) }

func removeNetwork(netnsFD int, bridge string) error {
	if err := validBridge(bridge); err != nil {
		return fmt.Errorf("firewall: remove network: %w", err)
	}
	if err := remove(newConn(netnsFD), networkTableName(bridge)); err != nil {
		return fmt.Errorf("firewall: remove network %q: %w", bridge, err)
	}
	return nil
}

// PortMapping forwards a host port to a container's port.
type PortMapping struct {
	Proto string // "tcp" or "udp"
	// HostIP restricts the mapping to packets sent to this address of
	// the host. The zero Addr and 0.0.0.0 mean any local address,
	// 127.0.0.1 included.
	HostIP        netip.Addr
	HostPort      uint16
	ContainerIP   netip.Addr
	ContainerPort uint16
}

// String prints m as `docker port` does, with the container's address:
// "127.0.0.1:8080->172.20.0.2:80/tcp", or "8080->…" for any address.
func (m PortMapping) String() string {
	host := fmt.Sprint(m.HostPort)
	if m.HostIP.IsValid() && !m.HostIP.IsUnspecified() {
		host = netip.AddrPortFrom(m.HostIP, m.HostPort).String()
	}
	return fmt.Sprintf("%s->%s/%s", host, netip.AddrPortFrom(m.ContainerIP, m.ContainerPort), m.Proto)
}

// normalize checks m and returns it with IPv4-mapped IPv6 addresses
// unmapped.
func (m PortMapping) normalize() (PortMapping, error) {
	if m.Proto != "tcp" && m.Proto != "udp" {
		return m, invalidf("protocol %q: want tcp or udp", m.Proto)
	}
	if m.HostPort == 0 {
		return m, invalidf("host port is 0")
	}
	if m.ContainerPort == 0 {
		return m, invalidf("container port is 0")
	}
	if m.HostIP.IsValid() {
		m.HostIP = m.HostIP.Unmap()
		if !m.HostIP.Is4() {
			return m, invalidf("host IP %s: only IPv4 addresses can be published", m.HostIP)
		}
	}
	m.ContainerIP = m.ContainerIP.Unmap()
	if !m.ContainerIP.Is4() || m.ContainerIP.IsUnspecified() {
		return m, invalidf("container IP %s: want the container's IPv4 address", m.ContainerIP)
	}
	return m, nil
}

func validOwner(owner string) error {
	if owner == "" {
		return invalidf("empty owner")
	}
	for _, c := range owner {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return invalidf("owner %q: want letters, digits, '_', '-' and '.'", owner)
		}
	}
	return nil
}

// SetPorts installs the published ports of owner (a container ID; the
// first 12 bytes name its table, so owners must differ in them) in the
// calling thread's network namespace (the host's). It replaces owner's
// previous mappings in one atomic transaction; no mappings removes them.
//
// A mapping matches packets to a local address of the host, from outside,
// from containers and from the host itself (127.0.0.1 too), and rewrites
// their destination. It does not reserve the host port: two owners
// publishing the same port both install rules, and the first table the
// kernel runs wins. Callers keep the port bound to learn of conflicts.
func SetPorts(owner string, ms []PortMapping) error { return setPorts(0, owner, ms) }

func setPorts(netnsFD int, owner string, ms []PortMapping) error {
	if err := validOwner(owner); err != nil {
		return fmt.Errorf("firewall: set ports: %w", err)
	}
	if len(ms) == 0 {
		return removePorts(netnsFD, owner)
	}
	norm := make([]PortMapping, len(ms))
	type key struct {
		proto string
		ip    netip.Addr
		port  uint16
	}
	seen := map[key]int{}
	for i, m := range ms {
		n, err := m.normalize()
		if err != nil {
			return fmt.Errorf("firewall: set ports of %q: mapping %d (%s): %w", owner, i, m, err)
		}
		k := key{n.Proto, n.HostIP, n.HostPort}
		if k.ip.IsUnspecified() {
			k.ip = netip.Addr{}
		}
		if j, dup := seen[k]; dup {
			return fmt.Errorf("firewall: set ports of %q: mapping %d (%s): %w", owner, i, m,
				invalidf("same host address, port and protocol as mapping %d", j))
		}
		seen[k] = i
		norm[i] = n
	}
	if err := install(newConn(netnsFD), portsTable(owner, norm)); err != nil {
		return fmt.Errorf("firewall: set ports of %q: %w", owner, err)
	}
	return nil
}

// RemovePorts removes the published ports of owner from the calling
// thread's network namespace. An owner without ports is not an error.
func RemovePorts(owner string) error { return removePorts(0, owner) }

func removePorts(netnsFD int, owner string) error {
	if err := validOwner(owner); err != nil {
		return fmt.Errorf("firewall: remove ports: %w", err)
	}
	if err := remove(newConn(netnsFD), portsTableName(owner)); err != nil {
		return fmt.Errorf("firewall: remove ports of %q: %w", owner, err)
	}
	return nil
}

// SetDNSRedirect makes 127.0.0.11:53 reach the embedded DNS server, which
// listens on 127.0.0.11:udpPort and 127.0.0.11:tcpPort, inside the network
// namespace netnsFD (a container's), and gives the server's replies
// source port 53. Only 127.0.0.11 is redirected, so the container may
// run a DNS server of its own on port 53. It replaces earlier redirects
// in that namespace atomically. The namespace goes away with its rules.
func SetDNSRedirect(netnsFD int, udpPort, tcpPort uint16) error {
	if netnsFD <= 0 {
		return fmt.Errorf("firewall: set dns redirect: %w", invalidf("network namespace fd %d", netnsFD))
	}
	if udpPort == 0 || tcpPort == 0 {
		return fmt.Errorf("firewall: set dns redirect: %w", invalidf("udp port %d, tcp port %d: want both", udpPort, tcpPort))
	}
	if err := install(newConn(netnsFD), dnsTable(udpPort, tcpPort)); err != nil {
		return fmt.Errorf("firewall: set dns redirect: %w", err)
	}
	return nil
}

// Tables returns the names of this package's tables in the calling
// thread's network namespace, sorted: tests use it to look for leaks.
func Tables() ([]string, error) {
	ts, err := newConn(0).ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("firewall: list tables: %w", err)
	}
	var names []string
	for _, t := range ts {
		if strings.HasPrefix(t.Name, TablePrefix) {
			names = append(names, t.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// newConn returns a connection to nftables in the network namespace fd,
// or in the calling thread's when fd is 0. Each operation opens and
// closes its own netlink socket, so calls are safe for concurrent use.
func newConn(fd int) *nftables.Conn {
	return &nftables.Conn{NetNS: fd}
}

// install replaces t in one batch. The batch adds the table (a no-op if
// it exists), deletes it, then adds it again with its chains and rules:
// the kernel commits the batch whole or not at all, so the old rules are
// in force until the new ones are (nft -f scripts use the same idiom).
func install(c *nftables.Conn, t *table) error {
	tbl := &nftables.Table{Name: t.name, Family: nftables.TableFamilyIPv4}
	c.AddTable(tbl)
	c.DelTable(tbl)
	c.AddTable(tbl)
	policy := nftables.ChainPolicyAccept
	for _, ch := range t.chains {
		nc := c.AddChain(&nftables.Chain{
			Name:     ch.name,
			Table:    tbl,
			Type:     ch.typ,
			Hooknum:  ch.hook,
			Priority: ch.prio,
			Policy:   &policy,
		})
		for _, r := range ch.rules {
			c.AddRule(&nftables.Rule{Table: tbl, Chain: nc, Exprs: r.exprs()})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("install table %s: %w", t.name, err)
	}
	return nil
}

// remove deletes the table name if it exists: adding it first makes the
// deletion succeed either way, in one batch.
func remove(c *nftables.Conn, name string) error {
	tbl := &nftables.Table{Name: name, Family: nftables.TableFamilyIPv4}
	c.AddTable(tbl)
	c.DelTable(tbl)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete table %s: %w", name, err)
	}
	return nil
}
