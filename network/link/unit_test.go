package link

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestBridgeValidate(t *testing.T) {
	gw := netip.MustParsePrefix("10.1.0.1/16")
	tests := []struct {
		name string
		b    Bridge
		ok   bool
	}{
		{"ok", Bridge{Name: "stk-abc", Gateway: gw}, true},
		{"empty name", Bridge{Gateway: gw}, false},
		{"long name", Bridge{Name: "stk-0123456789ab", Gateway: gw}, false},
		{"slash", Bridge{Name: "stk/a", Gateway: gw}, false},
		{"no gateway", Bridge{Name: "stk-a"}, false},
		{"network address", Bridge{Name: "stk-a", Gateway: netip.MustParsePrefix("10.1.0.0/16")}, false},
		{"ipv6", Bridge{Name: "stk-a", Gateway: netip.MustParsePrefix("fd00::1/64")}, false},
		{"/31", Bridge{Name: "stk-a", Gateway: netip.MustParsePrefix("10.1.0.1/31")}, false},
		{"mtu", Bridge{Name: "stk-a", Gateway: gw, MTU: 20}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.b.validate(); (err == nil) != tt.ok {
				t.Errorf("validate(%+v) = %v, want ok=%v", tt.b, err, tt.ok)
			}
		})
	}
}

func TestEndpointValidate(t *testing.T) {
	ok := Endpoint{HostName: "vethabc", IfName: "eth0", Bridge: "stk-a", Addr: netip.MustParsePrefix("10.1.0.2/24"), Gateway: netip.MustParseAddr("10.1.0.1")}
	tests := []struct {
		name string
		edit func(*Endpoint)
		ok   bool
	}{
		{"ok", func(*Endpoint) {}, true},
		{"no gateway", func(e *Endpoint) { e.Gateway = netip.Addr{} }, true},
		{"gateway outside", func(e *Endpoint) { e.Gateway = netip.MustParseAddr("10.2.0.1") }, false},
		{"gateway is self", func(e *Endpoint) { e.Gateway = e.Addr.Addr() }, false},
		{"no address", func(e *Endpoint) { e.Addr = netip.Prefix{} }, false},
		{"long host name", func(e *Endpoint) { e.HostName = "veth0123456789ab" }, false},
		{"multicast MAC", func(e *Endpoint) { e.MAC = net.HardwareAddr{1, 0, 0, 0, 0, 1} }, false},
		{"short MAC", func(e *Endpoint) { e.MAC = net.HardwareAddr{2, 0, 0} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := ok
			tt.edit(&ep)
			if err := ep.validate(); (err == nil) != tt.ok {
				t.Errorf("validate(%+v) = %v, want ok=%v", ep, err, tt.ok)
			}
		})
	}
}

func TestNameservers(t *testing.T) {
	in := `# comment
nameserver 10.0.0.2
nameserver   192.168.1.1 # trailing
nameserver fe80::1%eth0
nameserver ::ffff:1.2.3.4
nameserver bogus
search example.com
 nameserver 8.8.8.8
`
	var got []string
	for _, a := range nameservers(strings.NewReader(in)) {
		got = append(got, a.String())
	}
	want := []string{"10.0.0.2", "192.168.1.1", "fe80::1%eth0", "1.2.3.4", "8.8.8.8"}
	if !slices.Equal(got, want) {
		t.Errorf("nameservers = %v, want %v", got, want)
	}
}

func TestIPNetPrefix(t *testing.T) {
	tests := []struct {
		in   *net.IPNet
		want string
	}{
		{&net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}, "0.0.0.0/0"},
		{&net.IPNet{IP: net.IP{10, 1, 0, 0}, Mask: net.CIDRMask(16, 32)}, "10.1.0.0/16"},
		{&net.IPNet{IP: net.ParseIP("10.1.0.0"), Mask: net.CIDRMask(112, 128)}, "10.1.0.0/16"},
		{&net.IPNet{IP: net.ParseIP("fd00::"), Mask: net.CIDRMask(64, 128)}, "fd00::/64"},
		{&net.IPNet{IP: net.IP{10, 1, 0, 0}, Mask: net.CIDRMask(16, 128)}, "invalid"},
		{nil, "invalid"},
	}
	for _, tt := range tests {
		p, ok := ipNetPrefix(tt.in)
		got := p.String()
		if !ok {
			got = "invalid"
		}
		if got != tt.want {
			t.Errorf("ipNetPrefix(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
