package link

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fallbackMTU is Docker's DefaultNetworkMtu.
const fallbackMTU = 1500

// DefaultMTU is the MTU of the interface that carries the default IPv4
// route (the one with the lowest metric) in the calling thread's network
// namespace, as netavark picks when a network sets none; 1500 if there is
// no such route or it cannot be read.
func DefaultMTU() int {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fallbackMTU
	}
	defer h.Close()
	routes, err := retryDump(func() ([]netlink.Route, error) { return h.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return fallbackMTU
	}
	index, metric := 0, 0
	for _, r := range routes {
		if p, ok := ipNetPrefix(r.Dst); r.Dst != nil && (!ok || p.Bits() != 0) {
			continue
		}
		i := r.LinkIndex
		if i == 0 && len(r.MultiPath) > 0 {
			i = r.MultiPath[0].LinkIndex
		}
		if i != 0 && (index == 0 || r.Priority < metric) {
			index, metric = i, r.Priority
		}
	}
	if index == 0 {
		return fallbackMTU
	}
	l, err := h.LinkByIndex(index)
	if err != nil || l.Attrs().MTU <= 0 {
		return fallbackMTU
	}
	return l.Attrs().MTU
}

// resolvConf is where Reserved reads the host's nameservers.
const resolvConf = "/etc/resolv.conf"

// Reserved returns the IPv4 prefixes a new network's subnet must not
// overlap, sorted and without duplicates: the destination of every route
// of scope link in the main table of the calling thread's namespace (the
// host's directly connected subnets), and each IPv4 nameserver of
// /etc/resolv.conf as a /32. This is Docker's rule
// (netutils.InferReservedNetworks): it skips routes through a gateway,
// since VPN clients install broad ones and avoiding them all left no
// subnet to pick (moby PR #42598). Unlike Docker it also skips a
// zero-length on-link route (a default route over a point-to-point
// device), which would reserve everything. A missing resolv.conf
// reserves no nameserver.
func Reserved() ([]netip.Prefix, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("reserved subnets: netlink socket: %w", err)
	}
	defer h.Close()
	routes, err := retryDump(func() ([]netlink.Route, error) { return h.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("reserved subnets: list routes: %w", err)
	}
	var out []netip.Prefix
	for _, r := range routes {
		if r.Scope != netlink.SCOPE_LINK {
			continue
		}
		if p, ok := ipNetPrefix(r.Dst); ok && p.Addr().Is4() && p.Bits() > 0 {
			out = append(out, p.Masked())
		}
	}
	rc, err := os.ReadFile(resolvConf)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reserved subnets: %w", err)
	}
	for _, a := range nameservers(bytes.NewReader(rc)) {
		if a.Is4() {
			out = append(out, netip.PrefixFrom(a, 32))
		}
	}
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out), nil
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// nameservers parses the nameserver lines of a resolv.conf(5), skipping
// what does not parse; IPv4-mapped addresses come back as IPv4.
func nameservers(r io.Reader) []netip.Addr {
	var out []netip.Addr
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if a, err := netip.ParseAddr(f[1]); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// HostAddrs lists the IPv4 addresses of every interface in the calling
// thread's network namespace, loopback included, in the kernel's order.
func HostAddrs() ([]netip.Addr, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("host addresses: netlink socket: %w", err)
	}
	defer h.Close()
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("host addresses: %w", err)
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if p, ok := ipNetPrefix(a.IPNet); ok {
			out = append(out, p.Addr())
		}
	}
	return out, nil
}

// retryDump repeats a netlink dump the kernel marked as interrupted (the
// table changed while it was read, NLM_F_DUMP_INTR), which happens when
// other links come and go at the same time.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	for i := 0; ; i++ {
		v, err := dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) || i == 4 {
			return v, err
		}
	}
}
