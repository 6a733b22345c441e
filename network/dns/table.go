package dns

import (
	"net/netip"
	"strings"
)

// table is an immutable snapshot of what a container can resolve locally.
// A server builds a new one when its records or config change, and never
// modifies one in place, so a query may use it without a lock.
type table struct {
	// names maps a canonical name (see canonical) to its addresses.
	names map[string]*entry
	// ptr maps an address to the container name that PTR answers.
	ptr map[netip.Addr]string
}

// entry is the addresses of one name. A name with no address of a family
// still exists: a query for that family gets an empty answer rather than
// being forwarded.
type entry struct {
	v4, v6 []netip.Addr
}

// canonical is the form names are compared in: lower case, without a final
// dot. It lowers ASCII only, as DNS does (RFC 4343).
func canonical(name string) string {
	name = strings.TrimSuffix(name, ".")
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			b := []byte(name)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return name
}

// newTable builds a table from the records of a container's networks, in
// the container's network order, and its links (alias → name).
//
// As in Docker (moby Sandbox.ResolveName), a name's addresses of one family
// all come from the first network that has any, so the replicas of a
// service are not mixed with a same-named service of another network. Links
// are container-scoped and take precedence over record names; a link whose
// target does not resolve is left out.
func newTable(dirs [][]Record, links map[string]string) *table {
	t := &table{names: make(map[string]*entry), ptr: make(map[netip.Addr]string)}
	for _, recs := range dirs {
		local := make(map[string]*entry)
		for _, r := range recs {
			v4, v6 := r.IPv4.Unmap(), r.IPv6.Unmap()
			if v6.Is4() { // an IPv4 address in the IPv6 field: take it for what it is
				v4, v6 = v6, netip.Addr{}
			}
			if v4.Is6() {
				v4, v6 = netip.Addr{}, v4
			}
			for _, n := range r.Names {
				key := canonical(n)
				if key == "" {
					continue
				}
				e := local[key]
				if e == nil {
					e = &entry{}
					local[key] = e
				}
				e.v4 = appendNew(e.v4, v4)
				e.v6 = appendNew(e.v6, v6)
			}
			if len(r.Names) == 0 || strings.TrimSuffix(r.Names[0], ".") == "" {
				continue
			}
			for _, a := range []netip.Addr{v4, v6} {
				if _, ok := t.ptr[a]; a.IsValid() && !ok {
					t.ptr[a] = strings.TrimSuffix(r.Names[0], ".")
				}
			}
		}
		for key, le := range local {
			e := t.names[key]
			if e == nil {
				e = &entry{}
				t.names[key] = e
			}
			if len(e.v4) == 0 {
				e.v4 = le.v4
			}
			if len(e.v6) == 0 {
				e.v6 = le.v6
			}
		}
	}
	for alias, target := range links {
		if e := t.names[canonical(target)]; e != nil && canonical(alias) != "" {
			t.names[canonical(alias)] = e
		}
	}
	return t
}

func appendNew(addrs []netip.Addr, a netip.Addr) []netip.Addr {
	if !a.IsValid() {
		return addrs
	}
	for _, b := range addrs {
		if a == b {
			return addrs
		}
	}
	return append(addrs, a)
}

// addrFromPTR parses the owner name of a PTR query, such as
// "4.3.2.1.in-addr.arpa." or the 32-nibble ip6.arpa form, into the address
// it asks about.
func addrFromPTR(name string) (netip.Addr, bool) {
	name = canonical(name)
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		var b [4]byte
		for i := 3; i >= 0; i-- {
			label := rest
			if i > 0 {
				var found bool
				label, rest, found = strings.Cut(rest, ".")
				if !found {
					return netip.Addr{}, false
				}
			}
			v, ok := parseOctet(label)
			if !ok {
				return netip.Addr{}, false
			}
			b[i] = v
		}
		return netip.AddrFrom4(b), true
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		if len(rest) != 63 { // 32 nibbles and 31 dots
			return netip.Addr{}, false
		}
		var b [16]byte
		for i := range 32 { // nibble i of the name is nibble 31-i of the address
			if i < 31 && rest[2*i+1] != '.' {
				return netip.Addr{}, false
			}
			v, ok := hexNibble(rest[2*i])
			if !ok {
				return netip.Addr{}, false
			}
			k := 31 - i
			if k%2 == 0 {
				b[k/2] |= v << 4
			} else {
				b[k/2] |= v
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

// parseOctet parses a decimal 0-255 without leading zeros.
func parseOctet(s string) (byte, bool) {
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	if v > 255 {
		return 0, false
	}
	return byte(v), true
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
