package ipam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// ErrExhausted is wrapped by NextSubnet and NextAddr when nothing is free.
var ErrExhausted = errors.New("no free address space")

// Pool is a range of subnets: Base split into subnets of prefix length Size.
// Base must be an IPv4 prefix without host bits, and Size lie between
// Base.Bits() and 30.
type Pool struct {
	Base netip.Prefix
	Size int
}

// DefaultPools are Docker's local defaults, in the order Docker tries them
// (moby daemon/libnetwork/ipamutils/utils.go): 172.17.0.0/16,
// 172.18.0.0/16, 172.19.0.0/16, 172.20.0.0/14, 172.24.0.0/14 and
// 172.28.0.0/14, each split into /16s, then 192.168.0.0/16 split into /20s.
// Each call returns a new slice.
func DefaultPools() []Pool {
	p := func(s string, size int) Pool { return Pool{Base: netip.MustParsePrefix(s), Size: size} }
	return []Pool{
		p("172.17.0.0/16", 16),
		p("172.18.0.0/16", 16),
		p("172.19.0.0/16", 16),
		p("172.20.0.0/14", 16),
		p("172.24.0.0/14", 16),
		p("172.28.0.0/14", 16),
		p("192.168.0.0/16", 20),
	}
}

func (p Pool) check() error {
	switch {
	case !p.Base.IsValid() || !p.Base.Addr().Is4():
		return fmt.Errorf("ipam: pool %s: only IPv4 is supported", p.Base)
	case p.Base != p.Base.Masked():
		return fmt.Errorf("ipam: pool %s has host bits set: use %s", p.Base, p.Base.Masked())
	case p.Size < p.Base.Bits() || p.Size > 30:
		return fmt.Errorf("ipam: pool %s: subnet size /%d must lie between /%d and /30", p.Base, p.Size, p.Base.Bits())
	}
	return nil
}

// NextSubnet returns the first subnet of the pools (in order, each pool from
// its lowest address up) that overlaps none of taken. Taken prefixes may be
// of any size and need not line up with the pools' subnets: a taken /8
// skips every subnet inside it, a taken /24 only the subnet around it.
// The error wraps ErrExhausted when every subnet overlaps something, and
// names the pool when one is malformed.
func NextSubnet(pools []Pool, taken []netip.Prefix) (netip.Prefix, error) {
	for _, p := range pools {
		if err := p.check(); err != nil {
			return netip.Prefix{}, err
		}
		step := uint64(1) << (32 - p.Size)
		end := uint64(last(p.Base)) + 1
		for a := uint64(first(p.Base)); a < end; {
			c := netip.PrefixFrom(addr4(uint32(a)), p.Size)
			t, hit := overlapping(c, taken)
			if !hit {
				return c, nil
			}
			next := a + step
			// t holds c and more: jump past all of t at once, so a taken /8
			// does not cost 65536 comparisons against a pool of /24s.
			if t.Bits() < p.Size {
				next = max(next, uint64(last(t))+1)
			}
			a = next
		}
	}
	return netip.Prefix{}, fmt.Errorf("ipam: every subnet of the %d pools overlaps a network or host route: %w", len(pools), ErrExhausted)
}

// overlapping returns the first of taken that overlaps c.
func overlapping(c netip.Prefix, taken []netip.Prefix) (netip.Prefix, bool) {
	for _, t := range taken {
		if Overlaps(c, t) {
			return t.Masked(), true
		}
	}
	return netip.Prefix{}, false
}

// Overlaps reports whether a and b share an address. Prefixes of different
// families, or invalid ones, never overlap.
func Overlaps(a, b netip.Prefix) bool { return a.Overlaps(b) }

// Config is one network's IPv4 addressing, complete: IPRange (where dynamic
// addresses come from) lies inside Subnet, and Gateway (the bridge's own
// address) inside Subnet. Static addresses may lie anywhere in Subnet, as
// Docker allows.
type Config struct {
	Subnet  netip.Prefix
	IPRange netip.Prefix
	Gateway netip.Addr
}

// ForSubnet returns the complete Config of a subnet picked by NextSubnet: the
// whole subnet is the range and its first host address the gateway. It
// returns the zero Config for anything but an IPv4 prefix.
func ForSubnet(p netip.Prefix) Config {
	if !p.IsValid() || !p.Addr().Is4() {
		return Config{}
	}
	p = p.Masked()
	return Config{Subnet: p, IPRange: p, Gateway: addr4(first(p) + 1)}
}

// ParseConfig parses compose's ipam.config strings for one network; "" means
// unset. When all three are unset it returns the zero Config: the caller
// picks a subnet (NextSubnet) and completes it (ForSubnet). Otherwise the
// subnet is required, IPRange defaults to the subnet and Gateway to its
// first host address.
//
// Errors name the field as compose spells it and quote the value. Like
// Docker, a subnet with host bits set is refused rather than masked. Only
// IPv4 is supported, and a subnet must be /30 or larger: a network address,
// a gateway, one container and a broadcast address.
func ParseConfig(subnet, ipRange, gateway string) (Config, error) {
	if subnet == "" {
		switch {
		case ipRange != "":
			return Config{}, fmt.Errorf("ipam: ip_range %q needs a subnet", ipRange)
		case gateway != "":
			return Config{}, fmt.Errorf("ipam: gateway %q needs a subnet", gateway)
		}
		return Config{}, nil
	}
	sn, err := parsePrefix("subnet", subnet)
	if err != nil {
		return Config{}, err
	}
	if sn.Bits() > 30 {
		return Config{}, fmt.Errorf("ipam: subnet %q is too small: a network needs at least a /30 (gateway and one container)", subnet)
	}
	c := ForSubnet(sn)
	if ipRange != "" {
		r, err := parsePrefix("ip_range", ipRange)
		if err != nil {
			return Config{}, err
		}
		if r.Bits() < sn.Bits() || !sn.Contains(r.Addr()) {
			return Config{}, fmt.Errorf("ipam: ip_range %q is not inside subnet %q", ipRange, subnet)
		}
		c.IPRange = r
	}
	if gateway != "" {
		gw, err := netip.ParseAddr(gateway)
		switch {
		case err != nil:
			return Config{}, fmt.Errorf("ipam: invalid gateway %q: want an IPv4 address like 172.20.0.1", gateway)
		case !gw.Is4():
			return Config{}, fmt.Errorf("ipam: gateway %q: only IPv4 is supported", gateway)
		case !sn.Contains(gw):
			return Config{}, fmt.Errorf("ipam: gateway %q is not inside subnet %q", gateway, subnet)
		case gw == addr4(first(sn)):
			return Config{}, fmt.Errorf("ipam: gateway %q is the network address of subnet %q", gateway, subnet)
		case gw == addr4(last(sn)):
			return Config{}, fmt.Errorf("ipam: gateway %q is the broadcast address of subnet %q", gateway, subnet)
		}
		c.Gateway = gw
	}
	return c, nil
}

// parsePrefix parses an IPv4 CIDR for field, refusing host bits as Docker
// does ("invalid subnet 10.0.0.1/24 : it should be 10.0.0.0/24").
func parsePrefix(field, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		return netip.Prefix{}, fmt.Errorf("ipam: invalid %s %q: want an IPv4 CIDR like 172.20.0.0/16", field, s)
	case !p.Addr().Is4():
		return netip.Prefix{}, fmt.Errorf("ipam: %s %q: only IPv4 is supported", field, s)
	case p != p.Masked():
		return netip.Prefix{}, fmt.Errorf("ipam: %s %q has host bits set: use %q", field, s, p.Masked())
	}
	return p, nil
}

// NextAddr returns the lowest address in c.IPRange that is not the subnet's
// network or broadcast address or the gateway, and for which used returns
// false. used may be nil. The error wraps ErrExhausted when none is left.
func NextAddr(c Config, used func(netip.Addr) bool) (netip.Addr, error) {
	if !c.Subnet.IsValid() || !c.Subnet.Addr().Is4() {
		return netip.Addr{}, fmt.Errorf("ipam: no IPv4 subnet configured")
	}
	r := c.IPRange
	if !r.IsValid() {
		r = c.Subnet
	}
	if !r.Addr().Is4() {
		return netip.Addr{}, fmt.Errorf("ipam: ip_range %s: only IPv4 is supported", r)
	}
	netAddr, bcast := first(c.Subnet), last(c.Subnet)
	end := uint64(last(r)) + 1
	for u := uint64(first(r)); u < end; u++ {
		if uint32(u) == netAddr || uint32(u) == bcast {
			continue
		}
		a := addr4(uint32(u))
		if a == c.Gateway || used != nil && used(a) {
			continue
		}
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("ipam: no address left in %s: %w", r, ErrExhausted)
}

// CheckAddr validates a static address (compose ipv4_address) for c: it must
// be IPv4, inside the subnet (not necessarily inside the ip_range), and
// neither the network nor the broadcast address nor the gateway.
func CheckAddr(c Config, a netip.Addr) error {
	switch {
	case !a.Is4():
		return fmt.Errorf("ipam: address %q: only IPv4 is supported", a)
	case !c.Subnet.Contains(a):
		return fmt.Errorf("ipam: address %s is not inside subnet %s", a, c.Subnet)
	case a == addr4(first(c.Subnet)):
		return fmt.Errorf("ipam: address %s is the network address of subnet %s", a, c.Subnet)
	case a == addr4(last(c.Subnet)):
		return fmt.Errorf("ipam: address %s is the broadcast address of subnet %s", a, c.Subnet)
	case a == c.Gateway:
		return fmt.Errorf("ipam: address %s is the gateway of subnet %s", a, c.Subnet)
	}
	return nil
}

// MAC is the stable MAC address of an IPv4 address, as Docker made them
// before 25.0: 02:42 (locally administered, unicast) then the four address
// bytes. It returns nil for anything but an IPv4 (or IPv4-mapped) address.
func MAC(a netip.Addr) net.HardwareAddr {
	a = a.Unmap()
	if !a.Is4() {
		return nil
	}
	b := a.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// first and last are the lowest and highest addresses of an IPv4 prefix.
func first(p netip.Prefix) uint32 {
	b := p.Masked().Addr().As4()
	return binary.BigEndian.Uint32(b[:])
}

func last(p netip.Prefix) uint32 {
	return first(p) | uint32(uint64(1)<<(32-p.Bits())-1)
}

func addr4(u uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u)
	return netip.AddrFrom4(b)
}
