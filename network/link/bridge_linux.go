package link

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ErrNotFound is wrapped by errors about a link that does not exist where
// one is needed (Attach's bridge).
var ErrNotFound = errors.New("link not found")

// Bridge is one network's Linux bridge.
type Bridge struct {
	// Name is the interface name: 1 to 15 bytes, no '/', ':' or space.
	Name string
	// Gateway is the bridge's own address with the subnet's prefix
	// length, e.g. 172.20.0.1/16. IPv4 only.
	Gateway netip.Prefix
	// MTU of the bridge; 0 leaves the kernel's 1500. While no MTU has
	// been changed on the bridge after its creation, the kernel keeps it
	// at the smallest MTU among its ports (br_mtu_auto_adjust), which is
	// this one as long as every port is given it.
	MTU int
	// Internal networks get no forwarding: the bridge's
	// net.ipv4.conf.<name>.forwarding is 0, so the host routes nothing
	// that arrives on it.
	Internal bool
}

func (b Bridge) validate() error {
	if err := validName("bridge", b.Name); err != nil {
		return err
	}
	if !b.Gateway.IsValid() || !b.Gateway.Addr().Is4() {
		return fmt.Errorf("bridge %q: gateway %v: want an IPv4 address with prefix length", b.Name, b.Gateway)
	}
	if b.Gateway.Bits() > 30 || b.Gateway.Addr() == b.Gateway.Masked().Addr() {
		return fmt.Errorf("bridge %q: gateway %v: want a host address in a subnet of /30 or larger", b.Name, b.Gateway)
	}
	if b.MTU != 0 && (b.MTU < 68 || b.MTU > 65535) {
		return fmt.Errorf("bridge %q: MTU %d out of range 68-65535", b.Name, b.MTU)
	}
	return nil
}

// EnsureBridge makes the bridge b exist as described, in the calling
// thread's network namespace, and is idempotent: a missing bridge is
// created, an existing one is corrected (MTU, addresses, sysctls, up). Its
// IPv4 addresses other than the gateway are removed. It fails if a link
// named b.Name exists and is not a bridge.
//
// It sets net.ipv4.conf.<name>.route_localnet=1 (published ports on
// 127.0.0.1 are DNATed into the bridge, research/runtime.md §4.2) and
// disables IPv6 on the bridge (no link-local address, no router
// solicitations: the networks are IPv4 only). For a non-internal bridge
// it sets net.ipv4.ip_forward=1, which the kernel applies to every
// interface of the namespace, internal bridges included: isolation of an
// internal network must not rest on forwarding=0 alone, and its firewall
// rules are what hold.
//
// Several callers, in one process or several, may ensure the same bridge
// at once: whoever loses the race to create it finds it existing and
// checks it like any other.
func EnsureBridge(b Bridge) error {
	if err := b.validate(); err != nil {
		return fmt.Errorf("ensure bridge: %w", err)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("ensure bridge %q: netlink socket: %w", b.Name, err)
	}
	defer h.Close()
	if err := ensureBridge(h, b); err != nil {
		return fmt.Errorf("ensure bridge %q: %w", b.Name, err)
	}
	return nil
}

func ensureBridge(h *netlink.Handle, b Bridge) error {
	l, err := lookup(h, b.Name)
	if err != nil {
		return err
	}
	if l == nil {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = b.Name
		attrs.MTU = b.MTU
		// An address given at creation is marked as set by the user
		// (NET_ADDR_SET), so the bridge keeps it. Otherwise the kernel
		// gives the bridge the lowest MAC among its ports, which changes
		// as containers come and go and leaves stale ARP entries in the
		// others (libnetwork's bridge setupDevice does the same).
		attrs.HardwareAddr = randomMAC()
		err := h.LinkAdd(&netlink.Bridge{LinkAttrs: attrs})
		// EEXIST: another caller created it since the lookup. Its
		// settings are checked below, as for any existing bridge.
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create: %w", err)
		}
		if l, err = lookup(h, b.Name); err != nil {
			return err
		}
		if l == nil {
			return fmt.Errorf("created but gone: %w", ErrNotFound)
		}
	}
	if l.Type() != "bridge" {
		return fmt.Errorf("link exists and is a %s, not a bridge", l.Type())
	}
	// Sysctls before the link goes up, so that IPv6 never starts on it.
	if err := bridgeSysctls(b); err != nil {
		return err
	}
	if b.MTU != 0 && l.Attrs().MTU != b.MTU {
		if err := h.LinkSetMTU(l, b.MTU); err != nil {
			return fmt.Errorf("set MTU %d: %w", b.MTU, err)
		}
	}
	if err := ensureAddr(h, l, b.Gateway); err != nil {
		return err
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("set up: %w", err)
		}
	}
	return nil
}

func bridgeSysctls(b Bridge) error {
	conf := "net/ipv4/conf/" + b.Name + "/"
	// A kernel booted with ipv6.disable=1 has no net/ipv6 at all.
	if err := ensureSysctl("net/ipv6/conf/"+b.Name+"/disable_ipv6", "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := ensureSysctl(conf+"route_localnet", "1"); err != nil {
		return err
	}
	if b.Internal {
		return ensureSysctl(conf+"forwarding", "0")
	}
	if err := ensureSysctl("net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	// Only matters for a bridge that was internal before.
	return ensureSysctl(conf+"forwarding", "1")
}

// ensureAddr makes gw the only IPv4 address of l.
func ensureAddr(h *netlink.Handle, l netlink.Link, gw netip.Prefix) error {
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(l, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	found := false
	for _, a := range addrs {
		p, ok := ipNetPrefix(a.IPNet)
		if ok && p == gw {
			found = true
			continue
		}
		// EADDRNOTAVAIL: a concurrent caller removed it first.
		if err := h.AddrDel(l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove stale address %v: %w", a.IPNet, err)
		}
	}
	if found {
		return nil
	}
	// EEXIST: a concurrent caller added it first.
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: prefixIPNet(gw)}); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add address %v: %w", gw, err)
	}
	return nil
}

// DeleteBridge deletes the bridge name in the calling thread's network
// namespace; the kernel detaches its ports first. A missing bridge is not
// an error; a link of that name that is not a bridge is left alone and is.
func DeleteBridge(name string) error {
	if err := validName("bridge", name); err != nil {
		return fmt.Errorf("delete bridge: %w", err)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("delete bridge %q: netlink socket: %w", name, err)
	}
	defer h.Close()
	l, err := lookup(h, name)
	if err != nil || l == nil {
		return err
	}
	if l.Type() != "bridge" {
		return fmt.Errorf("delete bridge %q: link is a %s, not a bridge", name, l.Type())
	}
	if err := h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete bridge %q: %w", name, err)
	}
	return nil
}

// lookup returns the link called name, or nil if there is none.
func lookup(h *netlink.Handle, name string) (netlink.Link, error) {
	l, err := h.LinkByName(name)
	if err != nil {
		if errors.As(err, new(netlink.LinkNotFoundError)) {
			return nil, nil
		}
		return nil, fmt.Errorf("look up link %q: %w", name, err)
	}
	return l, nil
}

// ensureSysctl writes value to /proc/sys/<path> unless it is there
// already. Reading first keeps repeated calls from writing (and from
// needing the right to) when nothing is to change. /proc/sys/net shows
// the calling thread's network namespace.
func ensureSysctl(path, value string) error {
	name := strings.ReplaceAll(path, "/", ".")
	p := "/proc/sys/" + path
	cur, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("sysctl %s: %w", name, err)
	}
	if strings.TrimSpace(string(cur)) == value {
		return nil
	}
	if err := os.WriteFile(p, []byte(value), 0); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", name, value, err)
	}
	return nil
}

// validName applies the kernel's dev_valid_name rule, with IFNAMSIZ 16.
func validName(kind, name string) error {
	if name == "" || len(name) > 15 || name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n\v\f\r") {
		return fmt.Errorf("invalid %s name %q: want 1 to 15 bytes, no '/', ':' or space", kind, name)
	}
	return nil
}

// randomMAC returns a random unicast, locally administered address.
func randomMAC() net.HardwareAddr {
	v := rand.Uint64()
	mac := net.HardwareAddr{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24), byte(v >> 32), byte(v >> 40)}
	mac[0] = mac[0]&^0x01 | 0x02
	return mac
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// ipNetPrefix is the inverse of prefixIPNet, with IPv4 unmapped.
func ipNetPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	// netlink gives IPv4 as 4 or 16 bytes (its zero route's Dst is
	// net.IPv4zero, 16 bytes, with a 4-byte mask).
	if a.Is4In6() {
		a = a.Unmap()
		if bits == 128 {
			ones, bits = ones-96, 32
		}
	}
	if bits != a.BitLen() {
		return netip.Prefix{}, false
	}
	p := netip.PrefixFrom(a, ones)
	return p, p.IsValid()
}
