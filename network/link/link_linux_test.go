package link_test

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"stack/engine/enginetest"
	"stack/network/link"
)

// Every test works in namespaces of its own, made with NewNetNS: a "host"
// one holding the bridges and host ends, and one per "container". Closing
// a namespace's last file removes it and every link in it, so the cleanup
// registered by newNS is all the teardown a test needs.

// newNS returns a fresh network namespace, closed when the test ends.
func newNS(t testing.TB) int {
	t.Helper()
	f, err := link.NewNetNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

// do runs fn inside ns and fails the test on error.
func do(t testing.TB, ns int, fn func() error) {
	t.Helper()
	if err := link.Do(ns, fn); err != nil {
		t.Fatal(err)
	}
}

// handle is a netlink handle inside ns, for looking at what a test made.
func handle(t testing.TB, ns int) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(netns.NsHandle(ns), unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func linkNames(t testing.TB, h *netlink.Handle) []string {
	t.Helper()
	links, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	slices.Sort(names)
	return names
}

func mustLink(t testing.TB, h *netlink.Handle, name string) netlink.Link {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("LinkByName(%q): %v", name, err)
	}
	return l
}

func addrs(t testing.TB, h *netlink.Handle, l netlink.Link) []netip.Prefix {
	t.Helper()
	as, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for _, a := range as {
		p, _ := link.IPNetPrefix(a.IPNet)
		out = append(out, p)
	}
	return out
}

func sysctl(t testing.TB, ns int, path string) string {
	t.Helper()
	var v []byte
	do(t, ns, func() (err error) {
		v, err = os.ReadFile("/proc/sys/" + path)
		return err
	})
	return strings.TrimSpace(string(v))
}

// setSysctl writes a sysctl of the namespace ns.
func setSysctl(t testing.TB, ns int, path, value string) {
	t.Helper()
	do(t, ns, func() error { return os.WriteFile("/proc/sys/"+path, []byte(value), 0o644) })
}

// addIface adds an up link with an address to the namespace of h: a veth
// pair, name and name+"p" (the test kernel has no dummy driver).
func addIface(t testing.TB, h *netlink.Handle, name string, mtu int, addr string) netlink.Link {
	t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = name, mtu
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: name + "p"}); err != nil {
		t.Fatalf("add veth %s: %v", name, err)
	}
	l := mustLink(t, h, name)
	if addr != "" {
		if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix(addr))}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{name, name + "p"} {
		if err := h.LinkSetUp(mustLink(t, h, n)); err != nil {
			t.Fatal(err)
		}
	}
	return mustLink(t, h, name)
}

func ensure(t testing.TB, host int, b link.Bridge) {
	t.Helper()
	do(t, host, func() error { return link.EnsureBridge(b) })
}

func attach(t testing.TB, host, ctr int, ep link.Endpoint) {
	t.Helper()
	do(t, host, func() error { return link.Attach(ctr, ep) })
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

var testBridge = link.Bridge{Name: "stk-t0", Gateway: netip.MustParsePrefix("10.88.0.1/24")}

func TestNewNetNSAndDo(t *testing.T) {
	enginetest.RequireRoot(t)
	ns := newNS(t)
	var st unix.Stat_t
	if err := unix.Fstat(ns, &st); err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var inside string
	do(t, ns, func() (err error) {
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	})
	if want := "net:[" + strconv.FormatUint(st.Ino, 10) + "]"; inside != want {
		t.Errorf("namespace inside link.Do = %s, want %s", inside, want)
	}
	if inside == before {
		t.Errorf("NewNetNS returned the caller's own namespace %s", before)
	}
	if after, _ := os.Readlink("/proc/thread-self/ns/net"); after != before {
		t.Errorf("caller's namespace after link.Do = %s, want %s", after, before)
	}
	if lo := mustLink(t, handle(t, ns), "lo"); lo.Attrs().Flags&net.FlagUp != 0 {
		t.Errorf("lo is up in a new namespace")
	}

	errBoom := errors.New("boom")
	if err := link.Do(ns, func() error { return errBoom }); err != errBoom {
		t.Errorf("Do = %v, want fn's error", err)
	}
	func() {
		defer func() {
			if p := recover(); p != "pop" {
				t.Errorf("recover() = %v, want the panic of fn", p)
			}
		}()
		link.Do(ns, func() error { panic("pop") })
	}()
	if err := link.Do(-1, func() error { return nil }); err == nil {
		t.Error("Do(-1) succeeded")
	}
}

func TestEnsureBridge(t *testing.T) {
	enginetest.RequireRoot(t)
	host := newNS(t)
	h := handle(t, host)
	b := testBridge
	b.MTU = 1400

	check := func(t *testing.T, index int) netlink.Link {
		t.Helper()
		l := mustLink(t, h, b.Name)
		a := l.Attrs()
		if l.Type() != "bridge" || a.MTU != b.MTU || a.Flags&net.FlagUp == 0 {
			t.Errorf("bridge = %s mtu %d flags %v, want bridge mtu %d up", l.Type(), a.MTU, a.Flags, b.MTU)
		}
		if index != 0 && a.Index != index {
			t.Errorf("bridge index = %d, want %d (recreated)", a.Index, index)
		}
		if got := addrs(t, h, l); !slices.Equal(got, []netip.Prefix{b.Gateway}) {
			t.Errorf("bridge addresses = %v, want [%v]", got, b.Gateway)
		}
		if v6, _ := h.AddrList(l, netlink.FAMILY_V6); len(v6) != 0 {
			t.Errorf("bridge IPv6 addresses = %v, want none", v6)
		}
		if mac := a.HardwareAddr; len(mac) != 6 || mac[0]&3 != 2 {
			t.Errorf("bridge MAC = %v, want a locally administered unicast one", mac)
		}
		for path, want := range map[string]string{
			"net/ipv4/ip_forward":                         "1",
			"net/ipv4/conf/" + b.Name + "/forwarding":     "1",
			"net/ipv4/conf/" + b.Name + "/route_localnet": "1",
			"net/ipv6/conf/" + b.Name + "/disable_ipv6":   "1",
		} {
			if got := sysctl(t, host, path); got != want {
				t.Errorf("sysctl %s = %s, want %s", path, got, want)
			}
		}
		return l
	}

	// A new namespace copies ip_forward from the host's
	// (net.core.devconf_inherit_init_net): start from 0 whatever it is.
	setSysctl(t, host, "net/ipv4/ip_forward", "0")
	ensure(t, host, b)
	l := check(t, 0)
	index, mac := l.Attrs().Index, l.Attrs().HardwareAddr.String()

	t.Run("again", func(t *testing.T) {
		ensure(t, host, b)
		check(t, index)
	})
	t.Run("repairs", func(t *testing.T) {
		if err := h.LinkSetDown(l); err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetMTU(l, 1300); err != nil {
			t.Fatal(err)
		}
		if err := h.AddrDel(l, &netlink.Addr{IPNet: ipNet(b.Gateway)}); err != nil {
			t.Fatal(err)
		}
		if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix("10.99.0.1/24"))}); err != nil {
			t.Fatal(err)
		}
		do(t, host, func() error {
			return os.WriteFile("/proc/sys/net/ipv4/conf/"+b.Name+"/route_localnet", []byte("0"), 0)
		})
		ensure(t, host, b)
		l := check(t, index)
		if got := l.Attrs().HardwareAddr.String(); got != mac {
			t.Errorf("bridge MAC = %s, want %s kept", got, mac)
		}
	})
	t.Run("not a bridge", func(t *testing.T) {
		addIface(t, h, "stk-dummy", 1500, "")
		err := link.Do(host, func() error { return link.EnsureBridge(link.Bridge{Name: "stk-dummy", Gateway: b.Gateway}) })
		if err == nil || !strings.Contains(err.Error(), "not a bridge") {
			t.Errorf("EnsureBridge(veth) = %v, want a not-a-bridge error", err)
		}
		if l := mustLink(t, h, "stk-dummy"); l.Type() != "veth" {
			t.Errorf("veth became a %s", l.Type())
		}
	})
}

func TestEnsureBridgeInternal(t *testing.T) {
	enginetest.RequireRoot(t)
	host := newNS(t)
	setSysctl(t, host, "net/ipv4/ip_forward", "0") // see TestEnsureBridge
	b := link.Bridge{Name: "stk-int", Gateway: netip.MustParsePrefix("10.90.0.1/24"), Internal: true}
	ensure(t, host, b)
	if got := sysctl(t, host, "net/ipv4/conf/stk-int/forwarding"); got != "0" {
		t.Errorf("internal bridge forwarding = %s, want 0", got)
	}
	if got := sysctl(t, host, "net/ipv4/conf/stk-int/route_localnet"); got != "1" {
		t.Errorf("internal bridge route_localnet = %s, want 1", got)
	}
	if got := sysctl(t, host, "net/ipv4/ip_forward"); got != "0" {
		t.Errorf("ip_forward after an internal bridge = %s, want 0 (untouched)", got)
	}
}

func TestEnsureBridgeConcurrent(t *testing.T) {
	enginetest.RequireRoot(t)
	host := newNS(t)
	h := handle(t, host)
	for round := range 5 {
		b := link.Bridge{Name: "stk-c" + strconv.Itoa(round), Gateway: netip.MustParsePrefix("10.91." + strconv.Itoa(round) + ".1/24"), MTU: 1450}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		start := make(chan struct{})
		for i := range errs {
			wg.Go(func() {
				<-start
				errs[i] = link.Do(host, func() error { return link.EnsureBridge(b) })
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		l := mustLink(t, h, b.Name)
		if got := addrs(t, h, l); !slices.Equal(got, []netip.Prefix{b.Gateway}) {
			t.Errorf("round %d: addresses = %v, want [%v]", round, got, b.Gateway)
		}
		if l.Attrs().Flags&net.FlagUp == 0 || l.Attrs().MTU != b.MTU {
			t.Errorf("round %d: flags %v mtu %d, want up mtu %d", round, l.Attrs().Flags, l.Attrs().MTU, b.MTU)
		}
	}
}

// dial connects from inside ns to addr and reads what the peer says.
func dial(ns int, addr string) (string, error) {
	var got []byte
	err := link.Do(ns, func() error {
		c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		got, err = io.ReadAll(c)
		return err
	})
	return string(got), err
}

// serve listens on addr inside ns and answers every connection with
// hello, until the test ends.
func serve(t testing.TB, ns int, addr, hello string) {
	t.Helper()
	var ln net.Listener
	do(t, ns, func() (err error) {
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
			c.Write([]byte(hello))
			c.Close()
		}
	}()
}

func defaultRoutes(t testing.TB, h *netlink.Handle) []netlink.Route {
	t.Helper()
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []netlink.Route
	for _, r := range routes {
		if p, ok := link.IPNetPrefix(r.Dst); r.Dst == nil || ok && p.Bits() == 0 {
			out = append(out, r)
		}
	}
	return out
}

func TestAttach(t *testing.T) {
	enginetest.RequireRoot(t)
	host, c1, c2 := newNS(t), newNS(t), newNS(t)
	hh, h1, h2 := handle(t, host), handle(t, c1), handle(t, c2)
	ensure(t, host, testBridge)
	br := mustLink(t, hh, testBridge.Name)
	brMAC := br.Attrs().HardwareAddr.String()
	// An address of the host outside the bridge's subnet: reachable from a
	// container only through its default route.
	addIface(t, hh, "dummy0", 1500, "192.0.2.1/32")

	mac := net.HardwareAddr{0x02, 0x42, 0x0a, 0x58, 0x00, 0x02}
	ep1 := link.Endpoint{HostName: "vethc1", IfName: "eth0", Bridge: testBridge.Name, MTU: 1400,
		Addr: netip.MustParsePrefix("10.88.0.2/24"), Gateway: netip.MustParseAddr("10.88.0.1"), MAC: mac}
	ep2 := link.Endpoint{HostName: "vethc2", IfName: "eth0", Bridge: testBridge.Name,
		Addr: netip.MustParsePrefix("10.88.0.3/24")}
	// ep2 first: the bridge follows its smallest port's MTU once ep1 is in.
	attach(t, host, c2, ep2)
	attach(t, host, c1, ep1)

	t.Run("host end", func(t *testing.T) {
		for name, mtu := range map[string]int{"vethc1": 1400, "vethc2": br.Attrs().MTU} {
			l := mustLink(t, hh, name)
			a := l.Attrs()
			if l.Type() != "veth" || a.MasterIndex != br.Attrs().Index || a.MTU != mtu || a.Flags&net.FlagUp == 0 {
				t.Errorf("%s = %s master %d mtu %d flags %v, want veth master %d mtu %d up",
					name, l.Type(), a.MasterIndex, a.MTU, a.Flags, br.Attrs().Index, mtu)
			}
		}
		if got := mustLink(t, hh, testBridge.Name).Attrs().HardwareAddr.String(); got != brMAC {
			t.Errorf("bridge MAC changed from %s to %s when ports joined", brMAC, got)
		}

	})
	t.Run("container end", func(t *testing.T) {
		if got, want := linkNames(t, h1), []string{"eth0", "lo"}; !slices.Equal(got, want) {
			t.Errorf("container links = %v, want %v", got, want)
		}
		l := mustLink(t, h1, "eth0")
		a := l.Attrs()
		if a.HardwareAddr.String() != mac.String() || a.MTU != 1400 || a.Flags&net.FlagUp == 0 {
			t.Errorf("eth0 = mac %v mtu %d flags %v, want mac %v mtu 1400 up", a.HardwareAddr, a.MTU, a.Flags, mac)
		}
		if got := addrs(t, h1, l); !slices.Equal(got, []netip.Prefix{ep1.Addr}) {
			t.Errorf("eth0 addresses = %v, want [%v]", got, ep1.Addr)
		}
		if lo := mustLink(t, h1, "lo"); lo.Attrs().Flags&net.FlagUp == 0 {
			t.Error("lo is down")
		}
		if mtu := mustLink(t, h2, "eth0").Attrs().MTU; mtu != br.Attrs().MTU {
			t.Errorf("eth0 MTU with MTU 0 = %d, want the bridge's %d", mtu, br.Attrs().MTU)
		}
	})
	t.Run("default route", func(t *testing.T) {
		r1 := defaultRoutes(t, h1)
		if len(r1) != 1 || !r1[0].Gw.Equal(net.ParseIP("10.88.0.1")) {
			t.Errorf("default routes with a gateway = %v, want one via 10.88.0.1", r1)
		}
		if r2 := defaultRoutes(t, h2); len(r2) != 0 {
			t.Errorf("default routes without a gateway = %v, want none", r2)
		}
	})
	t.Run("connect", func(t *testing.T) {
		serve(t, c2, "10.88.0.3:8080", "from c2")
		serve(t, c1, "10.88.0.2:8080", "from c1")
		serve(t, host, "192.0.2.1:8080", "from host")
		if got, err := dial(c1, "10.88.0.3:8080"); err != nil || got != "from c2" {
			t.Errorf("c1 -> c2 = %q, %v; want %q", got, err, "from c2")
		}
		if got, err := dial(c2, "10.88.0.2:8080"); err != nil || got != "from c1" {
			t.Errorf("c2 -> c1 = %q, %v; want %q", got, err, "from c1")
		}
		if got, err := dial(c1, "192.0.2.1:8080"); err != nil || got != "from host" {
			t.Errorf("c1 -> host through its gateway = %q, %v; want %q", got, err, "from host")
		}
		if _, err := dial(c2, "192.0.2.1:8080"); !errors.Is(err, unix.ENETUNREACH) {
			t.Errorf("c2 -> host without a default route = %v, want ENETUNREACH", err)
		}
	})
}

func TestAttachHairpin(t *testing.T) {
	enginetest.RequireRoot(t)
	host, c := newNS(t), newNS(t)
	ensure(t, host, testBridge)
	attach(t, host, c, link.Endpoint{HostName: "vethhp", IfName: "eth0", Bridge: testBridge.Name,
		Addr: netip.MustParsePrefix("10.88.0.2/24"), Hairpin: true})
	// /sys/class/net shows the namespace sysfs was mounted in, so ask
	// netlink for the port's protinfo.
	pi, err := handle(t, host).LinkGetProtinfo(mustLink(t, handle(t, host), "vethhp"))
	if err != nil {
		t.Fatal(err)
	}
	if !pi.Hairpin {
		t.Error("hairpin mode is off")
	}
}

func TestAttachTwoBridges(t *testing.T) {
	enginetest.RequireRoot(t)
	host, c := newNS(t), newNS(t)
	hc := handle(t, c)
	b2 := link.Bridge{Name: "stk-t1", Gateway: netip.MustParsePrefix("10.89.0.1/24"), Internal: true}
	ensure(t, host, testBridge)
	ensure(t, host, b2)
	attach(t, host, c, link.Endpoint{HostName: "vethx0", IfName: "eth0", Bridge: testBridge.Name,
		Addr: netip.MustParsePrefix("10.88.0.5/24"), Gateway: netip.MustParseAddr("10.88.0.1")})
	attach(t, host, c, link.Endpoint{HostName: "vethx1", IfName: "eth1", Bridge: b2.Name,
		Addr: netip.MustParsePrefix("10.89.0.5/24")})

	if got, want := linkNames(t, hc), []string{"eth0", "eth1", "lo"}; !slices.Equal(got, want) {
		t.Errorf("container links = %v, want %v", got, want)
	}
	if got := addrs(t, hc, mustLink(t, hc, "eth1")); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.89.0.5/24")}) {
		t.Errorf("eth1 addresses = %v", got)
	}
	eth0 := mustLink(t, hc, "eth0").Attrs().Index
	if r := defaultRoutes(t, hc); len(r) != 1 || r[0].LinkIndex != eth0 {
		t.Errorf("default routes = %v, want one, on eth0 (index %d)", r, eth0)
	}
	// Both gateways answer from the host.
	serve(t, host, "10.89.0.1:8081", "gw2")
	if got, err := dial(c, "10.89.0.1:8081"); err != nil || got != "gw2" {
		t.Errorf("container -> second bridge's gateway = %q, %v", got, err)
	}
}

func TestAttachFailureLeavesNothing(t *testing.T) {
	enginetest.RequireRoot(t)
	host, c := newNS(t), newNS(t)
	hh, hc := handle(t, host), handle(t, c)
	ensure(t, host, testBridge)
	b2 := link.Bridge{Name: "stk-t1", Gateway: netip.MustParsePrefix("10.89.0.1/24")}
	ensure(t, host, b2)
	addIface(t, hh, "stk-dummy", 1500, "")
	attach(t, host, c, link.Endpoint{HostName: "vethok", IfName: "eth0", Bridge: testBridge.Name,
		Addr: netip.MustParsePrefix("10.88.0.2/24"), Gateway: netip.MustParseAddr("10.88.0.1")})
	hostBefore, ctrBefore := linkNames(t, hh), linkNames(t, hc)

	second := link.Endpoint{HostName: "vethnew", IfName: "eth1", Bridge: b2.Name, Addr: netip.MustParsePrefix("10.89.0.2/24")}
	tests := []struct {
		name string
		edit func(*link.Endpoint)
		is   error
	}{
		{"missing bridge", func(e *link.Endpoint) { e.Bridge = "stk-none" }, link.ErrNotFound},
		{"not a bridge", func(e *link.Endpoint) { e.Bridge = "stk-dummy" }, nil},
		// Fails in the middle: the veth exists, the route does not.
		{"second default route", func(e *link.Endpoint) { e.Gateway = netip.MustParseAddr("10.89.0.1") }, fs.ErrExist},
		{"container name taken", func(e *link.Endpoint) { e.IfName = "eth0" }, fs.ErrExist},
		{"host name taken", func(e *link.Endpoint) { e.HostName = "vethok" }, fs.ErrExist},
		{"host name is the bridge", func(e *link.Endpoint) { e.HostName = b2.Name }, fs.ErrExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := second
			tt.edit(&ep)
			err := link.Do(host, func() error { return link.Attach(c, ep) })
			if err == nil {
				t.Fatal("Attach succeeded")
			}
			t.Log(err)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Attach = %v, want errors.Is %v", err, tt.is)
			}
			if got := linkNames(t, hh); !slices.Equal(got, hostBefore) {
				t.Errorf("host links = %v, want %v", got, hostBefore)
			}
			if got := linkNames(t, hc); !slices.Equal(got, ctrBefore) {
				t.Errorf("container links = %v, want %v", got, ctrBefore)
			}
		})
	}
	if l := mustLink(t, hc, "eth0"); len(addrs(t, hc, l)) != 1 || l.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("the first attachment was disturbed: %+v", l.Attrs())
	}
}

func TestDetach(t *testing.T) {
	enginetest.RequireRoot(t)
	host, c := newNS(t), newNS(t)
	hh, hc := handle(t, host), handle(t, c)
	ensure(t, host, testBridge)
	attach(t, host, c, link.Endpoint{HostName: "vethd", IfName: "eth0", Bridge: testBridge.Name, Addr: netip.MustParsePrefix("10.88.0.2/24")})
	do(t, host, func() error { return link.Detach("vethd") })
	if got, want := linkNames(t, hh), []string{"lo", testBridge.Name}; !slices.Equal(got, want) {
		t.Errorf("host links = %v, want %v", got, want)
	}
	if got, want := linkNames(t, hc), []string{"lo"}; !slices.Equal(got, want) {
		t.Errorf("container links = %v, want %v", got, want)
	}
	do(t, host, func() error { return link.Detach("vethd") })
	if err := link.Do(host, func() error { return link.Detach(testBridge.Name) }); err == nil {
		t.Error("Detach(bridge) succeeded")
	}
	mustLink(t, hh, testBridge.Name)
}

func TestDeleteBridge(t *testing.T) {
	enginetest.RequireRoot(t)
	host, c := newNS(t), newNS(t)
	hh, hc := handle(t, host), handle(t, c)
	ensure(t, host, testBridge)
	attach(t, host, c, link.Endpoint{HostName: "vethd", IfName: "eth0", Bridge: testBridge.Name, Addr: netip.MustParsePrefix("10.88.0.2/24")})
	do(t, host, func() error { return link.DeleteBridge(testBridge.Name) })
	do(t, host, func() error { return link.DeleteBridge(testBridge.Name) })
	// Ports are detached, not deleted.
	if got, want := linkNames(t, hh), []string{"lo", "vethd"}; !slices.Equal(got, want) {
		t.Errorf("host links = %v, want %v", got, want)
	}
	if got, want := linkNames(t, hc), []string{"eth0", "lo"}; !slices.Equal(got, want) {
		t.Errorf("container links = %v, want %v", got, want)
	}
	if err := link.Do(host, func() error { return link.DeleteBridge("vethd") }); err == nil {
		t.Error("DeleteBridge(veth) succeeded")
	}
}

func TestLoopbackUp(t *testing.T) {
	enginetest.RequireRoot(t)
	ns := newNS(t)
	if err := link.LoopbackUp(ns); err != nil {
		t.Fatal(err)
	}
	if lo := mustLink(t, handle(t, ns), "lo"); lo.Attrs().Flags&net.FlagUp == 0 {
		t.Error("lo is down")
	}
	serve(t, ns, "127.0.0.1:9", "lo")
	if got, err := dial(ns, "127.0.0.1:9"); err != nil || got != "lo" {
		t.Errorf("dial 127.0.0.1 = %q, %v", got, err)
	}
}

func TestDefaultMTU(t *testing.T) {
	enginetest.RequireRoot(t)
	ns := newNS(t)
	h := handle(t, ns)
	mtu := func() (m int) {
		do(t, ns, func() error { m = link.DefaultMTU(); return nil })
		return m
	}
	if got := mtu(); got != 1500 {
		t.Errorf("DefaultMTU without a default route = %d, want 1500", got)
	}
	d1 := addIface(t, h, "up1", 1400, "10.77.0.2/24")
	d2 := addIface(t, h, "up2", 1300, "10.78.0.2/24")
	for _, r := range []netlink.Route{
		{LinkIndex: d2.Attrs().Index, Gw: net.ParseIP("10.78.0.1"), Priority: 200},
		{LinkIndex: d1.Attrs().Index, Gw: net.ParseIP("10.77.0.1"), Priority: 100},
	} {
		if err := h.RouteAdd(&r); err != nil {
			t.Fatal(err)
		}
	}
	if got := mtu(); got != 1400 {
		t.Errorf("DefaultMTU = %d, want 1400 (the lower metric's link)", got)
	}
}

func TestReserved(t *testing.T) {
	enginetest.RequireRoot(t)
	ns := newNS(t)
	h := handle(t, ns)
	d := addIface(t, h, "up1", 1500, "10.77.0.2/24")
	for _, r := range []netlink.Route{
		// On-link: reserved.
		{LinkIndex: d.Attrs().Index, Dst: ipNet(netip.MustParsePrefix("203.0.113.0/28")), Scope: netlink.SCOPE_LINK},
		// Through a gateway (a VPN's, say): not reserved.
		{LinkIndex: d.Attrs().Index, Dst: ipNet(netip.MustParsePrefix("172.16.0.0/12")), Gw: net.ParseIP("10.77.0.1")},
		// On-link default: not reserved, it would cover everything.
		{LinkIndex: d.Attrs().Index, Dst: ipNet(netip.MustParsePrefix("0.0.0.0/0")), Scope: netlink.SCOPE_LINK},
	} {
		if err := h.RouteAdd(&r); err != nil {
			t.Fatal(err)
		}
	}
	var got []netip.Prefix
	do(t, ns, func() (err error) {
		got, err = link.Reserved()
		return err
	})
	for _, want := range []string{"10.77.0.0/24", "203.0.113.0/28"} {
		if !slices.Contains(got, netip.MustParsePrefix(want)) {
			t.Errorf("Reserved() = %v, want it to contain %s", got, want)
		}
	}
	for _, p := range got {
		if p.Bits() == 0 || p.Overlaps(netip.MustParsePrefix("172.16.0.0/12")) {
			t.Errorf("Reserved() = %v, has %v", got, p)
		}
	}
	rc, _ := os.ReadFile(link.ResolvConf)
	for _, a := range link.Nameservers(strings.NewReader(string(rc))) {
		if a.Is4() && !slices.Contains(got, netip.PrefixFrom(a, 32)) {
			t.Errorf("Reserved() = %v, want it to contain nameserver %v/32", got, a)
		}
	}
}

func TestHostAddrs(t *testing.T) {
	enginetest.RequireRoot(t)
	ns := newNS(t)
	if err := link.LoopbackUp(ns); err != nil {
		t.Fatal(err)
	}
	addIface(t, handle(t, ns), "up1", 1500, "10.77.0.2/24")
	var got []netip.Addr
	do(t, ns, func() (err error) {
		got, err = link.HostAddrs()
		return err
	})
	want := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.77.0.2")}
	if !slices.Equal(got, want) {
		t.Errorf("HostAddrs() = %v, want %v", got, want)
	}
}
