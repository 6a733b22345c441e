package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

func pfxs(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, pfx(s))
	}
	return out
}

// TestDefaultPoolOrder walks the default pools to the end: 15 /16s in 172.x
// then 16 /20s in 192.168, each taken in turn, then exhaustion.
func TestDefaultPoolOrder(t *testing.T) {
	var want []string
	for i := 17; i <= 31; i++ {
		want = append(want, fmt.Sprintf("172.%d.0.0/16", i))
	}
	for i := 0; i < 16; i++ {
		want = append(want, fmt.Sprintf("192.168.%d.0/20", i*16))
	}
	var taken []netip.Prefix
	for i, w := range want {
		got, err := NextSubnet(DefaultPools(), taken)
		if err != nil || got.String() != w {
			t.Fatalf("NextSubnet #%d = %v, %v, want %s", i, got, err, w)
		}
		taken = append(taken, got)
	}
	got, err := NextSubnet(DefaultPools(), taken)
	if !errors.Is(err, ErrExhausted) {
		t.Fatalf("NextSubnet after %d = %v, %v, want ErrExhausted", len(taken), got, err)
	}
}

func TestNextSubnet(t *testing.T) {
	tests := []struct {
		name    string
		pools   []Pool // nil: DefaultPools
		taken   []netip.Prefix
		want    string
		wantErr string // substring; "exhausted" means errors.Is ErrExhausted
	}{
		{name: "empty", want: "172.17.0.0/16"},
		{name: "first taken", taken: pfxs("172.17.0.0/16"), want: "172.18.0.0/16"},
		{name: "taken /24 inside first", taken: pfxs("172.17.5.0/24"), want: "172.18.0.0/16"},
		{name: "taken host route", taken: pfxs("172.17.0.1/32"), want: "172.18.0.0/16"},
		{name: "taken unmasked", taken: pfxs("172.17.9.9/16"), want: "172.18.0.0/16"},
		{name: "taken /12 covers all 172", taken: pfxs("172.16.0.0/12"), want: "192.168.0.0/20"},
		{name: "taken /8 overlaps nothing", taken: pfxs("10.0.0.0/8"), want: "172.17.0.0/16"},
		{name: "taken /8 inside /14 pool", taken: pfxs("172.17.0.0/16", "172.18.0.0/15", "172.20.0.0/15"), want: "172.22.0.0/16"},
		{name: "taken 192.168.0.0/24 in /20 pool", pools: []Pool{{pfx("192.168.0.0/16"), 20}}, taken: pfxs("192.168.0.0/24"), want: "192.168.16.0/20"},
		{name: "taken /17 in /20 pool", pools: []Pool{{pfx("192.168.0.0/16"), 20}}, taken: pfxs("192.168.0.0/17"), want: "192.168.128.0/20"},
		{name: "ipv6 taken ignored", taken: pfxs("fd00::/8"), want: "172.17.0.0/16"},
		{name: "whole pool /8 into /24s, first /16 taken", pools: []Pool{{pfx("10.0.0.0/8"), 24}}, taken: pfxs("10.0.0.0/16", "10.1.0.0/24"), want: "10.1.1.0/24"},
		{name: "exhausted /8 pool", pools: []Pool{{pfx("10.0.0.0/8"), 24}}, taken: pfxs("0.0.0.0/0"), wantErr: "exhausted"},
		{name: "no pools", pools: []Pool{}, wantErr: "exhausted"},
		{name: "pool at top of space", pools: []Pool{{pfx("255.255.255.0/24"), 30}}, taken: pfxs("255.255.255.0/25"), want: "255.255.255.128/30"},
		{name: "bad pool host bits", pools: []Pool{{pfx("10.0.0.1/8"), 16}}, wantErr: "host bits"},
		{name: "bad pool size", pools: []Pool{{pfx("10.0.0.0/16"), 8}}, wantErr: "between /16 and /30"},
		{name: "bad pool ipv6", pools: []Pool{{pfx("fd00::/48"), 64}}, wantErr: "only IPv4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pools := tt.pools
			if pools == nil {
				pools = DefaultPools()
			}
			got, err := NextSubnet(pools, tt.taken)
			if tt.wantErr != "" {
				if tt.wantErr == "exhausted" && !errors.Is(err, ErrExhausted) || tt.wantErr != "exhausted" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
					t.Fatalf("NextSubnet = %v, %v, want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("NextSubnet = %v, %v, want %s", got, err, tt.want)
			}
		})
	}
}

func TestOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"10.0.0.0/8", "10.1.0.0/16", true},
		{"10.1.0.0/16", "10.0.0.0/8", true},
		{"10.0.0.0/24", "10.0.1.0/24", false},
		{"10.0.0.0/24", "10.0.0.255/32", true},
		{"10.0.0.0/8", "::/0", false},
	}
	for _, tt := range tests {
		if got := Overlaps(pfx(tt.a), pfx(tt.b)); got != tt.want {
			t.Errorf("Overlaps(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		subnet, ipRange, gateway string
		want                     Config
		wantErr                  string
	}{
		{want: Config{}},
		{subnet: "10.0.0.0/24", want: Config{pfx("10.0.0.0/24"), pfx("10.0.0.0/24"), ip("10.0.0.1")}},
		{subnet: "10.0.0.0/16", ipRange: "10.0.5.0/24", want: Config{pfx("10.0.0.0/16"), pfx("10.0.5.0/24"), ip("10.0.0.1")}},
		{subnet: "10.0.0.0/24", gateway: "10.0.0.254", want: Config{pfx("10.0.0.0/24"), pfx("10.0.0.0/24"), ip("10.0.0.254")}},
		{subnet: "10.0.0.0/24", ipRange: "10.0.0.0/24", want: Config{pfx("10.0.0.0/24"), pfx("10.0.0.0/24"), ip("10.0.0.1")}},
		{subnet: "10.0.0.0/30", want: Config{pfx("10.0.0.0/30"), pfx("10.0.0.0/30"), ip("10.0.0.1")}},

		{ipRange: "10.0.1.0/24", wantErr: `ipam: ip_range "10.0.1.0/24" needs a subnet`},
		{gateway: "10.0.0.1", wantErr: `ipam: gateway "10.0.0.1" needs a subnet`},
		{subnet: "10.0.0/24", wantErr: `ipam: invalid subnet "10.0.0/24": want an IPv4 CIDR like 172.20.0.0/16`},
		{subnet: "10.0.0.0", wantErr: `ipam: invalid subnet "10.0.0.0"`},
		{subnet: "10.0.0.1/24", wantErr: `ipam: subnet "10.0.0.1/24" has host bits set: use "10.0.0.0/24"`},
		{subnet: "fd00::/64", wantErr: `ipam: subnet "fd00::/64": only IPv4 is supported`},
		{subnet: "::ffff:10.0.0.0/120", wantErr: `only IPv4 is supported`},
		{subnet: "10.0.0.0/31", wantErr: `ipam: subnet "10.0.0.0/31" is too small`},
		{subnet: "10.0.0.0/32", wantErr: `is too small`},
		{subnet: "10.0.0.0/24", ipRange: "10.0.1.0/24", wantErr: `ipam: ip_range "10.0.1.0/24" is not inside subnet "10.0.0.0/24"`},
		{subnet: "10.0.0.0/24", ipRange: "10.0.0.0/23", wantErr: `ipam: ip_range "10.0.0.0/23" is not inside subnet "10.0.0.0/24"`},
		{subnet: "10.0.0.0/24", ipRange: "10.0.0.128/24", wantErr: `ipam: ip_range "10.0.0.128/24" has host bits set: use "10.0.0.0/24"`},
		{subnet: "10.0.0.0/24", ipRange: "x", wantErr: `ipam: invalid ip_range "x"`},
		{subnet: "10.0.0.0/24", gateway: "10.0.1.1", wantErr: `ipam: gateway "10.0.1.1" is not inside subnet "10.0.0.0/24"`},
		{subnet: "10.0.0.0/24", gateway: "10.0.0.0", wantErr: `ipam: gateway "10.0.0.0" is the network address of subnet "10.0.0.0/24"`},
		{subnet: "10.0.0.0/24", gateway: "10.0.0.255", wantErr: `ipam: gateway "10.0.0.255" is the broadcast address of subnet "10.0.0.0/24"`},
		{subnet: "10.0.0.0/24", gateway: "10.0.0.1/24", wantErr: `ipam: invalid gateway "10.0.0.1/24"`},
		{subnet: "10.0.0.0/24", gateway: "fd00::1", wantErr: `ipam: gateway "fd00::1": only IPv4 is supported`},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%q,%q,%q", tt.subnet, tt.ipRange, tt.gateway)
		t.Run(name, func(t *testing.T) {
			got, err := ParseConfig(tt.subnet, tt.ipRange, tt.gateway)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseConfig(%s) = %+v, %v, want error %q", name, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseConfig(%s) = %+v, %v, want %+v", name, got, err, tt.want)
			}
		})
	}
}

func TestForSubnet(t *testing.T) {
	if got, want := ForSubnet(pfx("172.18.0.0/16")), (Config{pfx("172.18.0.0/16"), pfx("172.18.0.0/16"), ip("172.18.0.1")}); got != want {
		t.Errorf("ForSubnet = %+v, want %+v", got, want)
	}
	if got := ForSubnet(pfx("fd00::/64")); got != (Config{}) {
		t.Errorf("ForSubnet(fd00::/64) = %+v, want zero", got)
	}
}

func TestNextAddr(t *testing.T) {
	cfg := func(subnet, ipRange, gateway string) Config {
		c, err := ParseConfig(subnet, ipRange, gateway)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name    string
		c       Config
		used    []string
		want    string
		wantErr bool // ErrExhausted
	}{
		{name: "first after gateway", c: cfg("10.0.0.0/24", "", ""), want: "10.0.0.2"},
		{name: "skip used", c: cfg("10.0.0.0/24", "", ""), used: []string{"10.0.0.2", "10.0.0.3"}, want: "10.0.0.4"},
		{name: "lowest hole", c: cfg("10.0.0.0/24", "", ""), used: []string{"10.0.0.3"}, want: "10.0.0.2"},
		{name: "gateway elsewhere", c: cfg("10.0.0.0/24", "", "10.0.0.254"), want: "10.0.0.1"},
		{name: "gateway .2 skipped", c: cfg("10.0.0.0/24", "", "10.0.0.2"), used: []string{"10.0.0.1"}, want: "10.0.0.3"},
		{name: "ip_range", c: cfg("10.0.0.0/16", "10.0.5.0/24", ""), want: "10.0.5.0"},
		{name: "ip_range at subnet start skips network and gateway", c: cfg("10.0.0.0/16", "10.0.0.0/24", ""), want: "10.0.0.2"},
		{name: "ip_range full", c: cfg("10.0.0.0/16", "10.0.5.0/30", ""), used: []string{"10.0.5.0", "10.0.5.1", "10.0.5.2", "10.0.5.3"}, wantErr: true},
		{name: "ip_range at subnet end skips broadcast", c: cfg("10.0.0.0/24", "10.0.0.252/30", ""), used: []string{"10.0.0.252", "10.0.0.253"}, want: "10.0.0.254"},
		{name: "ip_range broadcast only", c: cfg("10.0.0.0/24", "10.0.0.255/32", ""), wantErr: true},
		{name: "/30 has one", c: cfg("10.0.0.0/30", "", ""), want: "10.0.0.2"},
		{name: "/30 full", c: cfg("10.0.0.0/30", "", ""), used: []string{"10.0.0.2"}, wantErr: true},
		{name: "/24 full", c: cfg("10.0.0.0/24", "", ""), used: all("10.0.0.0/24"), wantErr: true},
		{name: "top of the address space", c: cfg("255.255.255.0/30", "", ""), want: "255.255.255.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			used := map[netip.Addr]bool{}
			for _, u := range tt.used {
				used[ip(u)] = true
			}
			got, err := NextAddr(tt.c, func(a netip.Addr) bool { return used[a] })
			if tt.wantErr {
				if !errors.Is(err, ErrExhausted) {
					t.Fatalf("NextAddr = %v, %v, want ErrExhausted", got, err)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("NextAddr = %v, %v, want %s", got, err, tt.want)
			}
		})
	}
	if _, err := NextAddr(Config{}, nil); err == nil || errors.Is(err, ErrExhausted) {
		t.Errorf("NextAddr(Config{}) = %v, want a configuration error", err)
	}
	if got, err := NextAddr(Config{Subnet: pfx("10.0.0.0/24")}, nil); err != nil || got != ip("10.0.0.1") {
		t.Errorf("NextAddr(subnet only) = %v, %v, want 10.0.0.1", got, err)
	}
}

func all(p string) []string {
	var out []string
	pp := pfx(p)
	for a := pp.Addr(); pp.Contains(a); a = a.Next() {
		out = append(out, a.String())
	}
	return out
}

func TestCheckAddr(t *testing.T) {
	c, err := ParseConfig("10.0.0.0/16", "10.0.5.0/24", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in      string
		wantErr string
	}{
		{in: "10.0.5.7"},
		{in: "10.0.9.9"}, // outside ip_range, inside subnet: allowed, as in Docker
		{in: "10.0.0.2"},
		{in: "10.1.0.2", wantErr: "ipam: address 10.1.0.2 is not inside subnet 10.0.0.0/16"},
		{in: "10.0.0.0", wantErr: "ipam: address 10.0.0.0 is the network address of subnet 10.0.0.0/16"},
		{in: "10.0.255.255", wantErr: "ipam: address 10.0.255.255 is the broadcast address of subnet 10.0.0.0/16"},
		{in: "10.0.0.1", wantErr: "ipam: address 10.0.0.1 is the gateway of subnet 10.0.0.0/16"},
		{in: "fd00::1", wantErr: `ipam: address "fd00::1": only IPv4 is supported`},
		{in: "::ffff:10.0.5.7", wantErr: "only IPv4 is supported"},
	}
	for _, tt := range tests {
		err := CheckAddr(c, ip(tt.in))
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("CheckAddr(%s) = %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestMAC(t *testing.T) {
	tests := []struct{ in, want string }{
		{"172.18.0.2", "02:42:ac:12:00:02"},
		{"10.0.255.1", "02:42:0a:00:ff:01"},
		{"::ffff:10.0.0.1", "02:42:0a:00:00:01"},
		{"fd00::1", ""},
	}
	for _, tt := range tests {
		if got := MAC(ip(tt.in)).String(); got != tt.want {
			t.Errorf("MAC(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
