package firewall

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// The layouts, as `nft list table` prints them. The kernel tests check
// that what is installed is exactly these rules' expressions.

func TestNetworkTable(t *testing.T) {
	tests := []struct {
		name string
		in   NetworkRules
		want string
	}{
		{
			name: "outbound",
			in:   NetworkRules{Bridge: "stk-0123456789a", Subnet: netip.MustParsePrefix("172.20.0.0/16")},
			want: `table ip stack-net-stk-0123456789a {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 172.20.0.0/16 oifname != "stk-0123456789a" masquerade
		oifname "stk-0123456789a" ip saddr 127.0.0.0/8 masquerade
		oifname "stk-0123456789a" ct status dnat ip saddr 172.20.0.0/16 masquerade
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		ct status dnat accept
		ct state established,related accept
		iifname "stk-0123456789a" oifname "stk-*" oifname != "stk-0123456789a" drop
	}
}
`,
		},
		{
			name: "internal",
			in:   NetworkRules{Bridge: "stk-i", Subnet: netip.MustParsePrefix("10.9.0.0/24"), Internal: true},
			want: `table ip stack-net-stk-i {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "stk-i" ip saddr 127.0.0.0/8 masquerade
		oifname "stk-i" ct status dnat ip saddr 10.9.0.0/24 masquerade
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "stk-i" oifname != "stk-i" drop
		oifname "stk-i" iifname != "stk-i" drop
		ct status dnat accept
		ct state established,related accept
		iifname "stk-i" oifname "stk-*" oifname != "stk-i" drop
	}
}
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := networkTable(tt.in).String(); got != tt.want {
				t.Errorf("networkTable(%+v) =\n%s\nwant\n%s", tt.in, got, tt.want)
			}
		})
	}
}

func TestPortsTable(t *testing.T) {
	ms := []PortMapping{
		{Proto: "tcp", HostPort: 8080, ContainerIP: netip.MustParseAddr("172.20.0.2"), ContainerPort: 80},
		{Proto: "udp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 5353, ContainerIP: netip.MustParseAddr("172.20.0.2"), ContainerPort: 53},
		{Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: 443, ContainerIP: netip.MustParseAddr("172.20.0.2"), ContainerPort: 8443},
	}
	rules := `		fib daddr type local tcp dport 8080 dnat to 172.20.0.2:80
		fib daddr type local ip daddr 127.0.0.1 udp dport 5353 dnat to 172.20.0.2:53
		fib daddr type local tcp dport 443 dnat to 172.20.0.2:8443
`
	want := `table ip stack-ports-0123456789ab {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
` + rules + `	}

	chain output {
		type nat hook output priority dstnat; policy accept;
` + rules + `	}
}
`
	if got := portsTable("0123456789abcdef", ms).String(); got != want {
		t.Errorf("portsTable =\n%s\nwant\n%s", got, want)
	}
}

func TestDNSTable(t *testing.T) {
	want := `table ip stack-dns {
	chain output {
		type filter hook output priority raw; policy accept;
		ip daddr 127.0.0.11 udp dport 53 notrack udp dport set 40001
		ip daddr 127.0.0.11 tcp dport 53 notrack tcp dport set 40002
		ip saddr 127.0.0.11 udp sport 40001 notrack udp sport set 53
		ip saddr 127.0.0.11 tcp sport 40002 notrack tcp sport set 53
	}
}
`
	if got := dnsTable(40001, 40002).String(); got != want {
		t.Errorf("dnsTable(40001, 40002) =\n%s\nwant\n%s", got, want)
	}
}

// Bad input is refused before any netlink traffic, so these need no root.
func TestInvalid(t *testing.T) {
	ctr := netip.MustParseAddr("172.20.0.2")
	subnet := netip.MustParsePrefix("172.20.0.0/16")
	tcp := func(f func(*PortMapping)) []PortMapping {
		m := PortMapping{Proto: "tcp", HostPort: 8080, ContainerIP: ctr, ContainerPort: 80}
		f(&m)
		return []PortMapping{m}
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"no prefix", SetNetwork(NetworkRules{Bridge: "br0", Subnet: subnet}),
			`firewall: set network "br0": bridge "br0": want "stk-" and 1 to 11 more bytes`},
		{"prefix only", SetNetwork(NetworkRules{Bridge: "stk-", Subnet: subnet}),
			`firewall: set network "stk-": bridge "stk-": want "stk-" and 1 to 11 more bytes`},
		{"long bridge", SetNetwork(NetworkRules{Bridge: "stk-0123456789ab", Subnet: subnet}),
			`firewall: set network "stk-0123456789ab": bridge "stk-0123456789ab": want "stk-" and 1 to 11 more bytes`},
		{"bridge glob", SetNetwork(NetworkRules{Bridge: "stk-*", Subnet: subnet}),
			`firewall: set network "stk-*": bridge "stk-*": not a valid interface name`},
		{"no subnet", SetNetwork(NetworkRules{Bridge: "stk-a"}),
			`firewall: set network "stk-a": subnet invalid Prefix: want an IPv4 subnet like 172.20.0.0/16`},
		{"v6 subnet", SetNetwork(NetworkRules{Bridge: "stk-a", Subnet: netip.MustParsePrefix("fd00::/64")}),
			`firewall: set network "stk-a": subnet fd00::/64: want an IPv4 subnet like 172.20.0.0/16`},
		{"everything", SetNetwork(NetworkRules{Bridge: "stk-a", Subnet: netip.MustParsePrefix("0.0.0.0/0")}),
			`firewall: set network "stk-a": subnet 0.0.0.0/0 covers every address`},
		{"remove bad bridge", RemoveNetwork("eth0"),
			`firewall: remove network: bridge "eth0": want "stk-" and 1 to 11 more bytes`},
		{"proto", SetPorts("c1", tcp(func(m *PortMapping) { m.Proto = "sctp" })),
			`firewall: set ports of "c1": mapping 0 (8080->172.20.0.2:80/sctp): protocol "sctp": want tcp or udp`},
		{"proto case", SetPorts("c1", tcp(func(m *PortMapping) { m.Proto = "TCP" })),
			`firewall: set ports of "c1": mapping 0 (8080->172.20.0.2:80/TCP): protocol "TCP": want tcp or udp`},
		{"host port", SetPorts("c1", tcp(func(m *PortMapping) { m.HostPort = 0 })),
			`firewall: set ports of "c1": mapping 0 (0->172.20.0.2:80/tcp): host port is 0`},
		{"container port", SetPorts("c1", tcp(func(m *PortMapping) { m.ContainerPort = 0 })),
			`firewall: set ports of "c1": mapping 0 (8080->172.20.0.2:0/tcp): container port is 0`},
		{"v6 host", SetPorts("c1", tcp(func(m *PortMapping) { m.HostIP = netip.MustParseAddr("::1") })),
			`firewall: set ports of "c1": mapping 0 ([::1]:8080->172.20.0.2:80/tcp): host IP ::1: only IPv4 addresses can be published`},
		{"v6 any host", SetPorts("c1", tcp(func(m *PortMapping) { m.HostIP = netip.IPv6Unspecified() })),
			`firewall: set ports of "c1": mapping 0 (8080->172.20.0.2:80/tcp): host IP ::: only IPv4 addresses can be published`},
		{"no container IP", SetPorts("c1", tcp(func(m *PortMapping) { m.ContainerIP = netip.Addr{} })),
			`firewall: set ports of "c1": mapping 0 (8080->invalid AddrPort/tcp): container IP invalid IP: want the container's IPv4 address`},
		{"v6 container", SetPorts("c1", tcp(func(m *PortMapping) { m.ContainerIP = netip.MustParseAddr("fd00::2") })),
			`firewall: set ports of "c1": mapping 0 (8080->[fd00::2]:80/tcp): container IP fd00::2: want the container's IPv4 address`},
		{"duplicate", SetPorts("c1", []PortMapping{
			{Proto: "tcp", HostPort: 80, ContainerIP: ctr, ContainerPort: 80},
			{Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: 80, ContainerIP: ctr, ContainerPort: 81},
		}), `firewall: set ports of "c1": mapping 1 (80->172.20.0.2:81/tcp): same host address, port and protocol as mapping 0`},
		{"empty owner", SetPorts("", tcp(func(*PortMapping) {})),
			`firewall: set ports: empty owner`},
		{"owner chars", RemovePorts("a b"),
			`firewall: remove ports: owner "a b": want letters, digits, '_', '-' and '.'`},
		{"dns fd", SetDNSRedirect(0, 1, 2),
			`firewall: set dns redirect: network namespace fd 0`},
		{"dns port", SetDNSRedirect(3, 1, 0),
			`firewall: set dns redirect: udp port 1, tcp port 0: want both`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || tt.err.Error() != tt.want {
				t.Errorf("err = %v, want %s", tt.err, tt.want)
			}
			if !errors.Is(tt.err, ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", tt.err)
			}
		})
	}
}

// Mappings of different protocols or host addresses on one port are
// distinct, and mapped addresses are accepted as IPv4.
func TestNormalize(t *testing.T) {
	ctr := netip.MustParseAddr("::ffff:172.20.0.2")
	ms := []PortMapping{
		{Proto: "tcp", HostPort: 53, ContainerIP: ctr, ContainerPort: 53},
		{Proto: "udp", HostPort: 53, ContainerIP: ctr, ContainerPort: 53},
		{Proto: "tcp", HostIP: netip.MustParseAddr("::ffff:127.0.0.1"), HostPort: 53, ContainerIP: ctr, ContainerPort: 53},
	}
	for i, m := range ms {
		n, err := m.normalize()
		if err != nil {
			t.Fatalf("normalize(%s) = %v", m, err)
		}
		ms[i] = n
	}
	got := portsTable("c", ms).String()
	for _, want := range []string{
		"fib daddr type local tcp dport 53 dnat to 172.20.0.2:53",
		"fib daddr type local udp dport 53 dnat to 172.20.0.2:53",
		"fib daddr type local ip daddr 127.0.0.1 tcp dport 53 dnat to 172.20.0.2:53",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("portsTable =\n%s\nwant a rule %q", got, want)
		}
	}
}

func TestPortMappingString(t *testing.T) {
	tests := []struct {
		in   PortMapping
		want string
	}{
		{PortMapping{Proto: "tcp", HostPort: 8080, ContainerIP: netip.MustParseAddr("10.0.0.2"), ContainerPort: 80}, "8080->10.0.0.2:80/tcp"},
		{PortMapping{Proto: "udp", HostIP: netip.IPv4Unspecified(), HostPort: 53, ContainerIP: netip.MustParseAddr("10.0.0.2"), ContainerPort: 53}, "53->10.0.0.2:53/udp"},
		{PortMapping{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 1, ContainerIP: netip.MustParseAddr("10.0.0.2"), ContainerPort: 2}, "127.0.0.1:1->10.0.0.2:2/tcp"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
