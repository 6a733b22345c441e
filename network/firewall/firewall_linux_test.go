package firewall

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The addresses of the labs: networks A, B and I (internal), and the
// link to the outside namespace.
var (
	netA  = netip.MustParsePrefix("10.77.1.0/24")
	gwA   = netip.MustParsePrefix("10.77.1.1/24")
	netB  = netip.MustParsePrefix("10.77.2.0/24")
	gwB   = netip.MustParsePrefix("10.77.2.1/24")
	netI  = netip.MustParsePrefix("10.77.3.0/24")
	gwI   = netip.MustParsePrefix("10.77.3.1/24")
	hostX = netip.MustParsePrefix("192.0.2.1/24") // the host's end of the outside link
	outX  = netip.MustParsePrefix("192.0.2.2/24")
)

func addr(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func mustSetNetwork(t testing.TB, ns *os.File, r NetworkRules) {
	t.Helper()
	mustIn(t, ns, func() error { return SetNetwork(r) })
}

func mustSetPorts(t testing.TB, ns *os.File, owner string, ms ...PortMapping) {
	t.Helper()
	mustIn(t, ns, func() error { return SetPorts(owner, ms) })
}

func tcpMap(hostIP string, hostPort uint16, ctr string, ctrPort uint16) PortMapping {
	m := PortMapping{Proto: "tcp", HostPort: hostPort, ContainerIP: netip.MustParseAddr(ctr), ContainerPort: ctrPort}
	if hostIP != "" {
		m.HostIP = netip.MustParseAddr(hostIP)
	}
	return m
}

// TestPublishedPorts: the host reaches a container's published ports on
// 127.0.0.1, on the bridge's address and on its other addresses; another
// machine reaches them on the host's address; a mapping with a host IP
// matches that address only.
func TestPublishedPorts(t *testing.T) {
	t.Parallel()
	withBrNetfilter(t, testPublishedPorts)
}

func testPublishedPorts(t *testing.T, l *lab) {
	l.bridge("stk-a", gwA)
	c1 := l.container("stk-a", addr("10.77.1.2/24"), gwA.Addr())
	out := l.outside(hostX, outX)
	serveTCP(t, c1, ":80", "c1")
	serveUDP(t, c1, ":5353", "c1")
	mustSetNetwork(t, l.host, NetworkRules{Bridge: "stk-a", Subnet: netA})

	// Nothing is published yet.
	wantNoTCP(t, l.host, "127.0.0.1:8080", syscall.ECONNREFUSED)

	udp := tcpMap("", 8053, "10.77.1.2", 5353)
	udp.Proto = "udp"
	mustSetPorts(t, l.host, "c1",
		tcpMap("", 8080, "10.77.1.2", 80),
		udp,
		tcpMap("192.0.2.1", 9090, "10.77.1.2", 80),
	)

	// From the host: loopback connections are masqueraded to the
	// gateway (the container could not answer 127.0.0.1); the others
	// keep their source, which the container routes back to the host.
	wantTCP(t, l.host, "127.0.0.1:8080", "c1 10.77.1.1")
	wantTCP(t, l.host, "10.77.1.1:8080", "c1 10.77.1.1")
	wantTCP(t, l.host, "192.0.2.1:8080", "c1 192.0.2.1")
	wantUDP(t, l.host, "127.0.0.1:8053", "c1 10.77.1.1")
	wantUDP(t, l.host, "192.0.2.1:8053", "c1 192.0.2.1")
	// From another machine, on the host's address.
	wantTCP(t, out, "192.0.2.1:8080", "c1 192.0.2.2")
	wantUDP(t, out, "192.0.2.1:8053", "c1 192.0.2.2")
	// From the container itself, through its gateway: our masquerade
	// brings the reply back through the host. With br_netfilter on, the
	// DNATed packet is bridged back out of the port it came in on, which
	// needs that port's hairpin mode (the caller sets it; without it
	// this fails under bridge-nf-call-iptables=1 only).
	if err := l.h.LinkSetHairpin(mustLink(t, l, "vh1"), true); err != nil {
		t.Fatal(err)
	}
	wantTCP(t, c1, "10.77.1.1:8080", "c1 10.77.1.1")

	// A mapping on 192.0.2.1 only.
	wantTCP(t, l.host, "192.0.2.1:9090", "c1 192.0.2.1")
	wantTCP(t, out, "192.0.2.1:9090", "c1 192.0.2.2")
	wantNoTCP(t, l.host, "127.0.0.1:9090", syscall.ECONNREFUSED)
	wantNoTCP(t, l.host, "10.77.1.1:9090", syscall.ECONNREFUSED)

	// Replaced: 8080 is gone, 8081 is new.
	mustSetPorts(t, l.host, "c1", tcpMap("", 8081, "10.77.1.2", 80))
	wantTCP(t, l.host, "127.0.0.1:8081", "c1 10.77.1.1")
	wantNoTCP(t, l.host, "127.0.0.1:8080", syscall.ECONNREFUSED)

	mustIn(t, l.host, func() error { return RemovePorts("c1") })
	wantNoTCP(t, l.host, "127.0.0.1:8081", syscall.ECONNREFUSED)
	if got, want := tables(t, l.host), []string{"stack-net-stk-a"}; !slices.Equal(got, want) {
		t.Errorf("Tables() = %q, want %q", got, want)
	}
}

func mustLink(t testing.TB, l *lab, name string) netlink.Link {
	t.Helper()
	link, err := l.h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return link
}

// TestOutbound: a container reaches another machine that has no route to
// it, as the host's address; a container on an internal network reaches
// the host but nothing beyond, and nothing beyond reaches it.
func TestOutbound(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	l.bridge("stk-a", gwA)
	l.bridge("stk-i", gwI)
	c1 := l.container("stk-a", addr("10.77.1.2/24"), gwA.Addr())
	// A default route even on the internal network (Docker gives none),
	// so that only the rules keep it in.
	c2 := l.container("stk-i", addr("10.77.3.2/24"), gwI.Addr())
	out := l.outside(hostX, outX)
	serveTCP(t, out, ":80", "out")
	serveTCP(t, c2, ":80", "c2")
	serveTCP(t, l.host, "10.77.3.1:81", "host")

	// Without masquerade the outside cannot answer.
	wantNoTCP(t, c1, "192.0.2.2:80", errTimeout)

	mustSetNetwork(t, l.host, NetworkRules{Bridge: "stk-a", Subnet: netA})
	mustSetNetwork(t, l.host, NetworkRules{Bridge: "stk-i", Subnet: netI, Internal: true})
	wantTCP(t, c1, "192.0.2.2:80", "out 192.0.2.1")

	// The internal network reaches the host...
	wantTCP(t, c2, "10.77.3.1:81", "host 10.77.3.2")
	// ...but not the outside, which it could (no masquerade needed):
	h := handle(t, out)
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Dst: ipnet(netI), Gw: hostX.Addr().AsSlice()}); err != nil {
		t.Fatal(err)
	}
	wantNoTCP(t, c2, "192.0.2.2:80", errTimeout)
	// ...and the outside does not reach it.
	wantNoTCP(t, out, "10.77.3.2:80", errTimeout)

	// Made non-internal, the same network lets both through.
	mustSetNetwork(t, l.host, NetworkRules{Bridge: "stk-i", Subnet: netI})
	wantTCP(t, c2, "192.0.2.2:80", "out 192.0.2.1")
	wantTCP(t, out, "10.77.3.2:80", "c2 192.0.2.2")
}

// TestIsolation: a container cannot open connections to another network's
// containers by address, but reaches their published ports through a
// host address; a container reaches a published port of its own
// network's containers through the gateway.
func TestIsolation(t *testing.T) {
	t.Parallel()
	withBrNetfilter(t, testIsolation)
}

func testIsolation(t *testing.T, l *lab) {
	l.bridge("stk-a", gwA)
	l.bridge("stk-b", gwB)
	c1 := l.container("stk-a", addr("10.77.1.2/24"), gwA.Addr())
	c3 := l.container("stk-a", addr("10.77.1.3/24"), gwA.Addr())
	c2 := l.container("stk-b", addr("10.77.2.2/24"), gwB.Addr())
	serveTCP(t, c2, ":80", "c2")
	serveTCP(t, c3, ":80", "c3")

	// Routed, and nothing stops it yet.
	wantTCP(t, c1, "10.77.2.2:80", "c2 10.77.1.2")
	wantTCP(t, c2, "10.77.1.3:80", "c3 10.77.2.2")

	mustSetNetwork(t, l.host, NetworkRules{Bridge: "stk-a", Subnet: netA})
	mustSetNetwork(t, l.host, NetworkRules{Bridge: "stk-b", Subnet: netB})
	mustSetPorts(t, l.host, "c2", tcpMap("", 8081, "10.77.2.2", 80))
	mustSetPorts(t, l.host, "c3", tcpMap("", 8082, "10.77.1.3", 80))

	// Published ports, through either gateway. Leaving its network, c1
	// is masqueraded to b's gateway.
	wantTCP(t, c1, "10.77.1.1:8081", "c2 10.77.2.1")
	wantTCP(t, c1, "10.77.2.1:8081", "c2 10.77.2.1")
	// Within a network, through the gateway: masqueraded, so that the
	// reply goes back through the host.
	wantTCP(t, c1, "10.77.1.1:8082", "c3 10.77.1.1")
	wantTCP(t, c2, "10.77.2.1:8082", "c3 10.77.1.1")
	// Within a network, directly: bridged, no rule involved.
	wantTCP(t, c1, "10.77.1.3:80", "c3 10.77.1.2")

	// Across networks by address: dropped, both ways.
	wantNoTCP(t, c1, "10.77.2.2:80", errTimeout)
	wantNoTCP(t, c2, "10.77.1.3:80", errTimeout)

	// Without b's rules, a still keeps its containers from b, but b's
	// may open connections to a's.
	mustIn(t, l.host, func() error { return RemoveNetwork("stk-b") })
	wantNoTCP(t, c1, "10.77.2.2:80", errTimeout)
	wantTCP(t, c2, "10.77.1.3:80", "c3 10.77.2.2")
}

// TestDNSRedirect: inside a namespace, 127.0.0.11:53 reaches servers on
// other ports of 127.0.0.11, and their replies come from port 53; the
// namespace's own server on port 53 of another address is left alone; and
// conntrack follows none of it (the redirect is stateless).
func TestDNSRedirect(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	ns := newNetNS(t)
	u1 := serveUDP(t, ns, "127.0.0.11:0", "embedded")
	t1 := serveTCP(t, ns, "127.0.0.11:0", "embedded")
	serveUDP(t, ns, "127.0.0.1:53", "own")
	serveTCP(t, ns, "127.0.0.1:53", "own")

	wantNoTCP(t, ns, "127.0.0.11:53", syscall.ECONNREFUSED)

	// Set from outside the namespace: the fd says where.
	if err := SetDNSRedirect(int(ns.Fd()), uint16(u1.Port), uint16(t1.Port)); err != nil {
		t.Fatal(err)
	}
	wantUDP(t, ns, "127.0.0.11:53", "embedded 127.0.0.1")
	wantTCP(t, ns, "127.0.0.11:53", "embedded 127.0.0.1")
	wantUDP(t, ns, "127.0.0.1:53", "own 127.0.0.1")
	wantTCP(t, ns, "127.0.0.1:53", "own 127.0.0.1")

	// Replaced: a restarted server on new ports.
	u2 := serveUDP(t, ns, "127.0.0.11:0", "embedded2")
	t2 := serveTCP(t, ns, "127.0.0.11:0", "embedded2")
	if err := SetDNSRedirect(int(ns.Fd()), uint16(u2.Port), uint16(t2.Port)); err != nil {
		t.Fatal(err)
	}
	wantUDP(t, ns, "127.0.0.11:53", "embedded2 127.0.0.1")
	wantTCP(t, ns, "127.0.0.11:53", "embedded2 127.0.0.1")
	if got, want := tables(t, ns), []string{"stack-dns"}; !slices.Equal(got, want) {
		t.Errorf("Tables() = %q, want %q", got, want)
	}
	flows, err := handle(t, ns).ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		t.Errorf("conntrack entry %v", f)
	}
}

// TestDNSReplySource: a datagram the embedded server sends from its port
// without a query before it (no conntrack entry to undo) leaves from port
// 53, as Docker's SNAT rule makes it.
func TestDNSReplySource(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	ns := newNetNS(t)
	var got string
	mustIn(t, ns, func() error {
		client, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer client.Close()
		srv, err := net.ListenPacket("udp4", "127.0.0.11:0")
		if err != nil {
			return err
		}
		defer srv.Close()
		port := uint16(srv.LocalAddr().(*net.UDPAddr).Port)
		if err := SetDNSRedirect(int(ns.Fd()), port, port); err != nil {
			return err
		}
		if _, err := srv.WriteTo([]byte("x"), client.LocalAddr()); err != nil {
			return err
		}
		client.SetDeadline(time.Now().Add(5 * time.Second))
		_, from, err := client.ReadFrom(make([]byte, 16))
		if err != nil {
			return err
		}
		got = from.String()
		return nil
	})
	if got != "127.0.0.11:53" {
		t.Errorf("datagram from %s, want 127.0.0.11:53", got)
	}
}

// TestTables: tables are replaced whole, removals are idempotent, and
// nothing is left behind.
func TestTables(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	ns := newNetNS(t)
	const owner = "0123456789abcdef0123"
	want := func(names ...string) {
		t.Helper()
		if got := tables(t, ns); !slices.Equal(got, names) {
			t.Errorf("Tables() = %q, want %q", got, names)
		}
	}
	two := []PortMapping{tcpMap("", 80, "10.0.0.2", 80), tcpMap("127.0.0.1", 81, "10.0.0.2", 81)}
	one := []PortMapping{tcpMap("", 82, "10.0.0.3", 80)}
	r := NetworkRules{Bridge: "stk-x", Subnet: addr("10.0.0.0/24")}

	mustIn(t, ns, func() error { return SetPorts(owner, two) })
	want("stack-ports-0123456789ab")
	wantInstalled(t, ns, portsTable(owner, two))
	mustIn(t, ns, func() error { return SetPorts(owner, one) })
	want("stack-ports-0123456789ab")
	wantInstalled(t, ns, portsTable(owner, one))
	mustIn(t, ns, func() error { return SetPorts(owner, nil) })
	want()
	mustIn(t, ns, func() error { return RemovePorts(owner) })

	mustIn(t, ns, func() error { return SetNetwork(r) })
	mustIn(t, ns, func() error { return SetNetwork(r) })
	want("stack-net-stk-x")
	wantInstalled(t, ns, networkTable(r))
	r.Internal = true
	mustIn(t, ns, func() error { return SetNetwork(r) })
	wantInstalled(t, ns, networkTable(r))
	mustIn(t, ns, func() error { return RemoveNetwork("stk-x") })
	mustIn(t, ns, func() error { return RemoveNetwork("stk-x") })
	want()

	if err := SetDNSRedirect(int(ns.Fd()), 1053, 2053); err != nil {
		t.Fatal(err)
	}
	wantInstalled(t, ns, dnsTable(1053, 2053))
}

// TestConcurrent: shims start and stop together; their batches must not
// disturb each other.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	ns := newNetNS(t)
	const owners, rounds = 16, 20
	errc := make(chan error, owners)
	for i := range owners {
		go func() {
			errc <- in(ns, func() error {
				owner := fmt.Sprintf("owner%02d", i)
				for j := range rounds {
					ms := []PortMapping{tcpMap("", uint16(10000+100*i+j), "10.0.0.2", 80)}
					if err := SetPorts(owner, ms); err != nil {
						return err
					}
					if j%2 == 1 {
						if err := RemovePorts(owner); err != nil {
							return err
						}
					}
				}
				return nil
			})
		}()
	}
	for range owners {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	if got := tables(t, ns); len(got) != 0 {
		t.Errorf("Tables() = %q, want none", got)
	}
}

// wantInstalled checks that ns holds exactly the table t describes:
// its chains with their hooks, and in each the expressions of its rules.
func wantInstalled(t testing.TB, ns *os.File, want *table) {
	t.Helper()
	c := &nftables.Conn{NetNS: int(ns.Fd())}
	tbl, err := c.ListTableOfFamily(want.name, nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatalf("list table %s: %v", want.name, err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	var got []*nftables.Chain
	for _, ch := range chains {
		if ch.Table.Name == want.name {
			got = append(got, ch)
		}
	}
	if len(got) != len(want.chains) {
		t.Fatalf("table %s: len(chains) = %d, want %d", want.name, len(got), len(want.chains))
	}
	for _, wc := range want.chains {
		i := slices.IndexFunc(got, func(ch *nftables.Chain) bool { return ch.Name == wc.name })
		if i < 0 {
			t.Errorf("table %s: no chain %s", want.name, wc.name)
			continue
		}
		ch := got[i]
		if ch.Type != wc.typ || *ch.Hooknum != *wc.hook || *ch.Priority != *wc.prio || *ch.Policy != nftables.ChainPolicyAccept {
			t.Errorf("chain %s: type %s hook %d priority %d policy %d, want %s %d %d accept",
				wc.name, ch.Type, *ch.Hooknum, *ch.Priority, *ch.Policy, wc.typ, *wc.hook, *wc.prio)
		}
		rules, err := c.GetRules(tbl, ch)
		if err != nil {
			t.Fatal(err)
		}
		if len(rules) != len(wc.rules) {
			t.Errorf("chain %s: len(rules) = %d, want %d", wc.name, len(rules), len(wc.rules))
			continue
		}
		for j, r := range rules {
			if w := wc.rules[j].exprs(); !reflect.DeepEqual(r.Exprs, w) {
				t.Errorf("chain %s rule %d (%s):\n got %s\nwant %s", wc.name, j, wc.rules[j], dump(r.Exprs), dump(w))
			}
		}
	}
}

func dump(es []expr.Any) string {
	s := ""
	for _, e := range es {
		s += fmt.Sprintf("%T%+v ", e, e)
	}
	return s
}

// BenchmarkSetPorts installs and removes one container's table of
// published ports: the firewall's cost per container start and stop. The
// namespace already has a network's table, as it would: the first NAT
// chain of a namespace also turns on conntrack and NAT there, which is
// not a per-container cost. The calls go through the fd twins of SetPorts
// and RemovePorts from an ordinary goroutine, as the shim calls them
// (from a goroutine locked to its thread, every netlink read costs a
// thread handoff and the whole call takes about twice as long).
func BenchmarkSetPorts(b *testing.B) {
	requireRoot(b)
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("mappings=%d", n), func(b *testing.B) {
			ns := newNetNS(b)
			fd := int(ns.Fd())
			if err := setNetwork(fd, NetworkRules{Bridge: "stk-x", Subnet: addr("10.0.0.0/24")}); err != nil {
				b.Fatal(err)
			}
			var ms []PortMapping
			for i := range n {
				ms = append(ms, tcpMap("", uint16(8000+i), "10.0.0.2", 80))
			}
			for b.Loop() {
				if err := setPorts(fd, "0123456789ab", ms); err != nil {
					b.Fatal(err)
				}
				if err := removePorts(fd, "0123456789ab"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSetNetwork replaces a network's table, as creating a network
// or re-applying its rules does.
func BenchmarkSetNetwork(b *testing.B) {
	requireRoot(b)
	ns := newNetNS(b)
	fd := int(ns.Fd())
	r := NetworkRules{Bridge: "stk-x", Subnet: addr("10.0.0.0/24")}
	for b.Loop() {
		if err := setNetwork(fd, r); err != nil {
			b.Fatal(err)
		}
	}
}
