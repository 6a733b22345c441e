package dns

import (
	"net/netip"
	"slices"
	"testing"
)

var (
	a1 = netip.MustParseAddr("10.0.0.1")
	a2 = netip.MustParseAddr("10.0.0.2")
	a3 = netip.MustParseAddr("10.0.0.3")
	b1 = netip.MustParseAddr("10.1.0.1")
	v6 = netip.MustParseAddr("fd00::1")
)

func TestCanonical(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"web", "web"},
		{"Web.", "web"},
		{"MY-Proj_web-1.example", "my-proj_web-1.example"},
		{"", ""},
		{".", ""},
	} {
		if got := canonical(tt.in); got != tt.want {
			t.Errorf("canonical(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNewTable(t *testing.T) {
	net1 := []Record{
		{ContainerID: "c1", Names: []string{"proj-web-1", "web", "Alias"}, IPv4: a1},
		{ContainerID: "c2", Names: []string{"proj-web-2", "web"}, IPv4: a2},
		{ContainerID: "c3", Names: []string{"proj-web-3", "web", "web"}, IPv4: a3, IPv6: v6},
	}
	net2 := []Record{
		{ContainerID: "c4", Names: []string{"other-web-1", "web", "db."}, IPv4: b1},
		{ContainerID: "c5", Names: []string{"six"}, IPv6: v6},
	}
	tb := newTable([][]Record{net1, net2}, map[string]string{"database": "DB", "ghost": "nobody"})

	tests := []struct {
		name   string
		v4, v6 []netip.Addr
		absent bool
	}{
		// The first network with the name gives all its addresses of a
		// family; the second network's "web" is not mixed in.
		{name: "web", v4: []netip.Addr{a1, a2, a3}, v6: []netip.Addr{v6}},
		{name: "alias", v4: []netip.Addr{a1}},
		{name: "proj-web-2", v4: []netip.Addr{a2}},
		{name: "db", v4: []netip.Addr{b1}},
		{name: "database", v4: []netip.Addr{b1}},
		{name: "six", v6: []netip.Addr{v6}},
		{name: "ghost", absent: true},
		{name: "nobody", absent: true},
	}
	for _, tt := range tests {
		e := tb.names[tt.name]
		if tt.absent {
			if e != nil {
				t.Errorf("names[%q] = %v, want absent", tt.name, e)
			}
			continue
		}
		if e == nil {
			t.Errorf("names[%q] absent", tt.name)
			continue
		}
		if !slices.Equal(e.v4, tt.v4) || !slices.Equal(e.v6, tt.v6) {
			t.Errorf("names[%q] = %v %v, want %v %v", tt.name, e.v4, e.v6, tt.v4, tt.v6)
		}
	}
	for a, want := range map[netip.Addr]string{a1: "proj-web-1", a3: "proj-web-3", v6: "proj-web-3", b1: "other-web-1"} {
		if got := tb.ptr[a]; got != want {
			t.Errorf("ptr[%v] = %q, want %q", a, got, want)
		}
	}
}

func TestAddrFromPTR(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // "" for not an address
	}{
		{"1.0.0.10.in-addr.arpa.", "10.0.0.1"},
		{"4.3.2.1.IN-ADDR.ARPA", "1.2.3.4"},
		{"1.0.0.in-addr.arpa.", ""},
		{"1.0.0.0.10.in-addr.arpa.", ""},
		{"01.0.0.10.in-addr.arpa.", ""},
		{"256.0.0.10.in-addr.arpa.", ""},
		{"x.0.0.10.in-addr.arpa.", ""},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", "fd00::1"},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.D.F.IP6.ARPA.", "fd00::1"},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.ip6.arpa.", ""},
		{"g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", ""},
		{"example.com.", ""},
	} {
		a, ok := addrFromPTR(tt.in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tt.want {
			t.Errorf("addrFromPTR(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
