package firewall

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// requireRoot is enginetest.RequireRoot, which this package cannot import
// (enginetest imports engine/shim, which imports this package): it skips a
// test that needs root and a private network namespace, with the reason,
// and fails instead when STACK_TEST_ROOT=1.
func requireRoot(t testing.TB) {
	t.Helper()
	strict := os.Getenv("STACK_TEST_ROOT") == "1"
	if testing.Short() && !strict {
		t.Skip("integration test: skipped under -short")
	}
	if os.Geteuid() != 0 {
		if strict {
			t.Fatal("STACK_TEST_ROOT=1 but not running as root")
		}
		t.Skip("integration test: needs root")
	}
	self, err1 := os.Readlink("/proc/self/ns/net")
	init1, err2 := os.Readlink("/proc/1/ns/net")
	if err1 == nil && err2 == nil && self == init1 {
		if strict {
			t.Fatal("integration tests must run in a private network namespace (make test-integration uses unshare --net)")
		}
		t.Skip("integration test: run inside a private network namespace (unshare --net), see make test-integration")
	}
}

// newNetNS makes a network namespace with lo up, held by the returned
// file, which is closed (and the namespace with its links and tables
// destroyed) when the test ends.
func newNetNS(t testing.TB) *os.File {
	t.Helper()
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result)
	go func() {
		// Never unlocked: the thread leaves the process's namespace, so
		// it must die with this goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{err: os.NewSyscallError("unshare(CLONE_NEWNET)", err)}
			return
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		ch <- result{f, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.f.Close() })
	h := handle(t, r.f)
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatalf("set lo up: %v", err)
	}
	return r.f
}

// in runs f on a thread in the namespace ns. Sockets made by f stay in ns
// whoever uses them later.
func in(ns *os.File, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see newNetNS
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- os.NewSyscallError("setns", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// mustIn is in, failing the test on error.
func mustIn(t testing.TB, ns *os.File, f func() error) {
	t.Helper()
	if err := in(ns, f); err != nil {
		t.Fatal(err)
	}
}

// handle is a netlink handle on ns.
func handle(t testing.TB, ns *os.File) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(netns.NsHandle(ns.Fd()))
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// sysctl writes /proc/sys/<key> as seen from ns: /proc/sys/net is that of
// the namespace of the thread that opens it.
func sysctl(t testing.TB, ns *os.File, key, value string) {
	t.Helper()
	mustIn(t, ns, func() error {
		return os.WriteFile("/proc/sys/"+key, []byte(value), 0)
	})
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

// lab is a host namespace with forwarding on, the bridges, containers and
// outside namespace a test wires to it.
type lab struct {
	t     *testing.T
	host  *os.File
	h     *netlink.Handle
	veths int
}

func newLab(t *testing.T) *lab {
	t.Helper()
	requireRoot(t)
	host := newNetNS(t)
	sysctl(t, host, "net/ipv4/ip_forward", "1")
	return &lab{t: t, host: host, h: handle(t, host)}
}

// withBrNetfilter runs f twice, in parallel, on a lab with
// net.bridge.bridge-nf-call-iptables off and on. On, packets bridged
// between two ports of a bridge pass the IPv4 hooks (so conntrack undoes
// NAT on them, and the forward chains see them); off, as on a host where
// the br_netfilter module is not loaded, they do not. The rules must
// work either way.
func withBrNetfilter(t *testing.T, f func(t *testing.T, l *lab)) {
	for _, on := range []string{"0", "1"} {
		t.Run("bridge-nf-call-iptables="+on, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			if _, err := os.Stat("/proc/sys/net/bridge"); err != nil && on == "1" {
				t.Skip("no br_netfilter in this kernel")
			} else if err == nil {
				sysctl(t, l.host, "net/bridge/bridge-nf-call-iptables", on)
			}
			f(t, l)
		})
	}
}

// bridge makes a bridge with the gateway address gw, up, with
// route_localnet on as the package doc requires.
func (l *lab) bridge(name string, gw netip.Prefix) {
	l.t.Helper()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := l.h.LinkAdd(br); err != nil {
		l.t.Fatalf("add bridge %s: %v", name, err)
	}
	if err := l.h.AddrAdd(br, &netlink.Addr{IPNet: ipnet(gw)}); err != nil {
		l.t.Fatalf("bridge %s: add %s: %v", name, gw, err)
	}
	if err := l.h.LinkSetUp(br); err != nil {
		l.t.Fatalf("bridge %s up: %v", name, err)
	}
	sysctl(l.t, l.host, "net/ipv4/conf/"+name+"/route_localnet", "1")
}

// veth makes a veth pair: host end up in the host namespace (on master
// when master is not empty), eth0 in a new namespace with addr, up. It
// returns the new namespace and its handle.
func (l *lab) veth(master string, addr netip.Prefix) (*os.File, *netlink.Handle, netlink.Link) {
	l.t.Helper()
	ns := newNetNS(l.t)
	l.veths++
	// Not "stk-": that prefix is for bridges, and the isolation rules
	// treat such interfaces as other networks.
	name := fmt.Sprintf("vh%d", l.veths)
	attrs := netlink.LinkAttrs{Name: name}
	if master != "" {
		br, err := l.h.LinkByName(master)
		if err != nil {
			l.t.Fatal(err)
		}
		attrs.MasterIndex = br.Attrs().Index
	}
	v := &netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ns.Fd()))}
	if err := l.h.LinkAdd(v); err != nil {
		l.t.Fatalf("add veth %s: %v", name, err)
	}
	hostEnd, err := l.h.LinkByName(name)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := l.h.LinkSetUp(hostEnd); err != nil {
		l.t.Fatal(err)
	}
	nh := handle(l.t, ns)
	eth0, err := nh.LinkByName("eth0")
	if err != nil {
		l.t.Fatal(err)
	}
	if err := nh.AddrAdd(eth0, &netlink.Addr{IPNet: ipnet(addr)}); err != nil {
		l.t.Fatalf("eth0: add %s: %v", addr, err)
	}
	if err := nh.LinkSetUp(eth0); err != nil {
		l.t.Fatal(err)
	}
	return ns, nh, hostEnd
}

// container attaches a new namespace to bridge br with address addr and a
// default route through the bridge's gateway gw.
func (l *lab) container(br string, addr netip.Prefix, gw netip.Addr) *os.File {
	l.t.Helper()
	ns, nh, _ := l.veth(br, addr)
	eth0, err := nh.LinkByName("eth0")
	if err != nil {
		l.t.Fatal(err)
	}
	if err := nh.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: gw.AsSlice()}); err != nil {
		l.t.Fatalf("default route via %s: %v", gw, err)
	}
	return ns
}

// outside connects a new namespace to the host by a veth: hostAddr on the
// host's end, addr on the other. The outside namespace has no route but
// its link's, so it can answer containers only if they are masqueraded.
func (l *lab) outside(hostAddr, addr netip.Prefix) *os.File {
	l.t.Helper()
	ns, _, hostEnd := l.veth("", addr)
	if err := l.h.AddrAdd(hostEnd, &netlink.Addr{IPNet: ipnet(hostAddr)}); err != nil {
		l.t.Fatalf("add %s: %v", hostAddr, err)
	}
	return ns
}

// Servers answer every TCP connection and UDP datagram with their name
// and the address they saw the client come from: "c2 10.77.2.1".

func serveTCP(t testing.TB, ns *os.File, addr, name string) *net.TCPAddr {
	t.Helper()
	var ln net.Listener
	mustIn(t, ns, func() (err error) {
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "%s %s\n", name, host)
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}

func serveUDP(t testing.TB, ns *os.File, addr, name string) *net.UDPAddr {
	t.Helper()
	var pc net.PacketConn
	mustIn(t, ns, func() (err error) {
		pc, err = net.ListenPacket("udp4", addr)
		return err
	})
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(from.String())
			pc.WriteTo(fmt.Appendf(nil, "%s %s\n", name, host), from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr)
}

// dialTimeout bounds a connection attempt that should fail because its
// packets are dropped. Each such check follows one that proves the path
// works, so a timeout means the rule, not a link still coming up.
const dialTimeout = time.Second

// askTCP connects from ns to addr and returns the server's line.
func askTCP(ns *os.File, addr string, timeout time.Duration) (string, error) {
	var line string
	err := in(ns, func() error {
		c, err := net.DialTimeout("tcp4", addr, timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		line, err = bufio.NewReader(c).ReadString('\n')
		return err
	})
	return strings.TrimSpace(line), err
}

// askUDP sends a datagram from ns to addr and returns the reply's line
// and the address it came from (the socket is not connected, so a reply
// from any address is seen).
func askUDP(ns *os.File, addr string, timeout time.Duration) (line, from string, err error) {
	err = in(ns, func() error {
		to, err := net.ResolveUDPAddr("udp4", addr)
		if err != nil {
			return err
		}
		pc, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer pc.Close()
		pc.SetDeadline(time.Now().Add(timeout))
		if _, err := pc.WriteTo([]byte("?"), to); err != nil {
			return err
		}
		buf := make([]byte, 512)
		n, src, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		line, from = strings.TrimSpace(string(buf[:n])), src.String()
		return nil
	})
	return line, from, err
}

// wantTCP checks that a connection from ns to addr reaches the server
// named in want, seen from the address in want. It retries for a few
// seconds: a link may still be coming up.
func wantTCP(t testing.TB, ns *os.File, addr, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := askTCP(ns, addr, time.Second)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("connect to %s: got %q, %v; want %q", addr, got, err, want)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wantNoTCP checks that a connection from ns to addr fails with why:
// refused when nothing listens, timed out when the firewall drops it.
func wantNoTCP(t testing.TB, ns *os.File, addr string, why error) {
	t.Helper()
	got, err := askTCP(ns, addr, dialTimeout)
	if err == nil {
		t.Errorf("connect to %s: got %q, want %v", addr, got, why)
		return
	}
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	if why == errTimeout && !timeout || why != errTimeout && !errors.Is(err, why) {
		t.Errorf("connect to %s: %v, want %v", addr, err, why)
	}
}

// errTimeout stands for the end of a connection attempt whose packets
// are dropped.
var errTimeout = errors.New("timeout")

// wantUDP checks that a datagram from ns to addr is answered by the
// server named in want, and that the reply comes from addr (conntrack
// undid the translation). It retries as wantTCP does.
func wantUDP(t testing.TB, ns *os.File, addr, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, from, err := askUDP(ns, addr, time.Second)
		if err == nil && got == want && from == addr {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("udp to %s: got %q from %s, %v; want %q from %[1]s", addr, got, from, err, want)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tables lists this package's tables in ns.
func tables(t testing.TB, ns *os.File) []string {
	t.Helper()
	var names []string
	mustIn(t, ns, func() (err error) {
		names, err = Tables()
		return err
	})
	return names
}
