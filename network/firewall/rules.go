package firewall

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The rules are described before they are installed: a table is plain data
// whose String is the ruleset in `nft list table` syntax, and every
// statement carries both its text and the expressions that implement it, so
// the two cannot drift apart. Tests compare the text without root, and
// compare the expressions with what the kernel lists back.

// stmt is one piece of a rule: a match or a verdict.
type stmt struct {
	text  string
	exprs []expr.Any
}

// rule is a sequence of statements, matched left to right.
type rule []stmt

func (r rule) String() string {
	parts := make([]string, len(r))
	for i, s := range r {
		parts[i] = s.text
	}
	return strings.Join(parts, " ")
}

func (r rule) exprs() []expr.Any {
	var es []expr.Any
	for _, s := range r {
		es = append(es, s.exprs...)
	}
	return es
}

// chain is a base chain: every chain stack installs hooks into netfilter,
// with policy accept, so that a table only ever drops what it matches.
type chain struct {
	name  string
	typ   nftables.ChainType
	hook  *nftables.ChainHook
	prio  *nftables.ChainPriority
	rules []rule
}

// table is one owner's table, in the ip (IPv4) family.
type table struct {
	name   string
	chains []chain
}

var hookNames = map[nftables.ChainHook]string{
	*nftables.ChainHookPrerouting:  "prerouting",
	*nftables.ChainHookInput:       "input",
	*nftables.ChainHookForward:     "forward",
	*nftables.ChainHookOutput:      "output",
	*nftables.ChainHookPostrouting: "postrouting",
}

var prioNames = map[nftables.ChainPriority]string{
	*nftables.ChainPriorityNATDest:   "dstnat",
	*nftables.ChainPriorityFilter:    "filter",
	*nftables.ChainPriorityNATSource: "srcnat",
	*nftables.ChainPriorityRaw:       "raw",
}

// String renders the table as `nft list table ip <name>` would.
func (t *table) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", t.name)
	for i, c := range t.chains {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\tchain %s {\n", c.name)
		fmt.Fprintf(&b, "\t\ttype %s hook %s priority %s; policy accept;\n", c.typ, hookNames[*c.hook], prioNames[*c.prio])
		for _, r := range c.rules {
			fmt.Fprintf(&b, "\t\t%s\n", r)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// Statements. Each mirrors what nft(8) generates for the same text, so
// that `nft list ruleset` on a machine that has the binary prints the
// rules back as written here.

// ifnameLen is IFNAMSIZ: meta iifname/oifname load the whole
// zero-padded name.
const ifnameLen = unix.IFNAMSIZ

// ifname matches iifname or oifname against a whole interface name.
func ifname(key expr.MetaKey, op expr.CmpOp, name string) stmt {
	data := make([]byte, ifnameLen)
	copy(data, name)
	return stmt{
		text: fmt.Sprintf("%s %s%q", metaName(key), opText(op), name),
		exprs: []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: op, Register: 1, Data: data},
		},
	}
}

// ifnamePrefix matches iifname or oifname against a prefix, as nft's
// `oifname "stk-*"`: the comparison covers the prefix's bytes only.
func ifnamePrefix(key expr.MetaKey, prefix string) stmt {
	return stmt{
		text: fmt.Sprintf("%s %q", metaName(key), prefix+"*"),
		exprs: []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(prefix)},
		},
	}
}

func metaName(key expr.MetaKey) string {
	if key == expr.MetaKeyIIFNAME {
		return "iifname"
	}
	return "oifname"
}

func opText(op expr.CmpOp) string {
	if op == expr.CmpOpNeq {
		return "!= "
	}
	return ""
}

// Offsets in the IPv4 header and in the TCP and UDP headers.
const (
	offSaddr = 12
	offDaddr = 16
	offSport = 0
	offDport = 2
)

// ipSaddr matches the source address against a prefix.
func ipSaddr(p netip.Prefix) stmt { return ipAddr("saddr", offSaddr, p) }

// ipDaddr matches the destination address.
func ipDaddr(a netip.Addr) stmt {
	return ipAddr("daddr", offDaddr, netip.PrefixFrom(a, 32))
}

func ipAddr(field string, off uint32, p netip.Prefix) stmt {
	p = p.Masked()
	load := &expr.Payload{
		OperationType: expr.PayloadLoad,
		DestRegister:  1,
		Base:          expr.PayloadBaseNetworkHeader,
		Offset:        off,
		Len:           4,
	}
	addr := p.Addr().As4()
	if p.Bits() == 32 {
		return stmt{
			text:  fmt.Sprintf("ip %s %s", field, p.Addr()),
			exprs: []expr.Any{load, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:]}},
		}
	}
	var mask [4]byte
	for i := range p.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return stmt{
		text: fmt.Sprintf("ip %s %s", field, p),
		exprs: []expr.Any{
			load,
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask[:], Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:]},
		},
	}
}

// port matches `tcp dport N` and the like: the layer 4 protocol, then the
// port in the transport header.
func port(proto, field string, n uint16) stmt {
	num := byte(unix.IPPROTO_TCP)
	if proto == "udp" {
		num = unix.IPPROTO_UDP
	}
	off := uint32(offDport)
	if field == "sport" {
		off = offSport
	}
	return stmt{
		text: fmt.Sprintf("%s %s %d", proto, field, n),
		exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{num}},
			&expr.Payload{
				OperationType: expr.PayloadLoad,
				DestRegister:  1,
				Base:          expr.PayloadBaseTransportHeader,
				Offset:        off,
				Len:           2,
			},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(n)},
		},
	}
}

// fibDaddrLocal matches packets addressed to any address of this network
// namespace (`fib daddr type local`), 127.0.0.1 included.
func fibDaddrLocal() stmt {
	return stmt{
		text: "fib daddr type local",
		exprs: []expr.Any{
			&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		},
	}
}

// ipsDstNAT is IPS_DST_NAT in the conntrack status word
// (include/uapi/linux/netfilter/nf_conntrack_common.h).
const ipsDstNAT = 1 << 5

// ctBits matches when any of bits is set in a conntrack word (state or
// status), as nft's `ct state established,related`.
func ctBits(text string, key expr.CtKey, bits uint32) stmt {
	return stmt{
		text: text,
		exprs: []expr.Any{
			&expr.Ct{Key: key, Register: 1},
			&expr.Bitwise{
				SourceRegister: 1,
				DestRegister:   1,
				Len:            4,
				Mask:           binaryutil.NativeEndian.PutUint32(bits),
				Xor:            make([]byte, 4),
			},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
		},
	}
}

func ctStatusDNAT() stmt { return ctBits("ct status dnat", expr.CtKeySTATUS, ipsDstNAT) }

func ctStateEstablished() stmt {
	return ctBits("ct state established,related", expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED)
}

func accept() stmt {
	return stmt{text: "accept", exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}}
}

func drop() stmt {
	return stmt{text: "drop", exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}}
}

func masquerade() stmt {
	return stmt{text: "masquerade", exprs: []expr.Any{&expr.Masq{}}}
}

// dnat rewrites the destination to addr:port. The ranges' maximum
// registers are the minimum ones, as the kernel would make them anyway
// (and lists them back).
func dnat(addr netip.Addr, port uint16) stmt {
	a := addr.As4()
	return stmt{
		text: "dnat to " + netip.AddrPortFrom(addr, port).String(),
		exprs: []expr.Any{
			&expr.Immediate{Register: 1, Data: a[:]},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(port)},
			&expr.NAT{
				Type:        expr.NATTypeDestNAT,
				Family:      unix.NFPROTO_IPV4,
				RegAddrMin:  1,
				RegAddrMax:  1,
				RegProtoMin: 2,
				RegProtoMax: 2,
				Specified:   true,
			},
		},
	}
}

func notrack() stmt {
	return stmt{text: "notrack", exprs: []expr.Any{&expr.Notrack{}}}
}

// Offsets of the checksum in the UDP and TCP headers.
const (
	offUDPCsum = 6
	offTCPCsum = 16
)

// setPort rewrites a port in the transport header (`udp dport set N`),
// and the checksum with it. A port is not part of the pseudo-header, so
// a checksum the device is left to finish (CHECKSUM_PARTIAL, as on lo)
// is rightly left alone; a zero UDP checksum (none) stays zero.
func setPort(proto, field string, n uint16) stmt {
	off := uint32(offDport)
	if field == "sport" {
		off = offSport
	}
	csum := uint32(offTCPCsum)
	if proto == "udp" {
		csum = offUDPCsum
	}
	return stmt{
		text: fmt.Sprintf("%s %s set %d", proto, field, n),
		exprs: []expr.Any{
			&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(n)},
			&expr.Payload{
				OperationType:  expr.PayloadWrite,
				SourceRegister: 1,
				Base:           expr.PayloadBaseTransportHeader,
				Offset:         off,
				Len:            2,
				CsumType:       expr.CsumTypeInet,
				CsumOffset:     csum,
			},
		},
	}
}

// Chains. The priorities are nft's named ones: NAT at dstnat (-100) and
// srcnat (100), filtering at filter (0), stateless rewriting at raw (-300).

func natChain(name string, hook *nftables.ChainHook, rules ...rule) chain {
	prio := nftables.ChainPriorityNATDest
	if hook == nftables.ChainHookPostrouting {
		prio = nftables.ChainPriorityNATSource
	}
	return chain{name: name, typ: nftables.ChainTypeNAT, hook: hook, prio: prio, rules: rules}
}

// rawChain is a filter chain at priority raw (-300), before conntrack.
func rawChain(name string, hook *nftables.ChainHook, rules ...rule) chain {
	return chain{name: name, typ: nftables.ChainTypeFilter, hook: hook, prio: nftables.ChainPriorityRaw, rules: rules}
}

func filterChain(name string, hook *nftables.ChainHook, rules ...rule) chain {
	return chain{name: name, typ: nftables.ChainTypeFilter, hook: hook, prio: nftables.ChainPriorityFilter, rules: rules}
}

// loopback is 127.0.0.0/8, the source of host connections to 127.0.0.1.
var loopback = netip.MustParsePrefix("127.0.0.0/8")

// networkTable is the table of one bridge network; r is valid.
func networkTable(r NetworkRules) *table {
	br := r.Bridge
	var post []rule
	if !r.Internal {
		// Outbound traffic leaves with the host's address.
		post = append(post, rule{ipSaddr(r.Subnet), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br), masquerade()})
	}
	post = append(post,
		// The host reached a published port on 127.0.0.1: the
		// container could not answer a loopback source.
		rule{ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), ipSaddr(loopback), masquerade()},
		// A container reached a published port of its own network
		// through a host address: without this the reply would go to it
		// directly, from an address it did not connect to.
		rule{ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), ctStatusDNAT(), ipSaddr(r.Subnet), masquerade()},
	)
	var fwd []rule
	if r.Internal {
		fwd = append(fwd,
			rule{ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, br), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br), drop()},
			rule{ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), ifname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, br), drop()},
		)
	}
	fwd = append(fwd,
		// Published ports are the way in from other networks.
		rule{ctStatusDNAT(), accept()},
		rule{ctStateEstablished(), accept()},
		// Isolation: no new connection to another stack network's
		// containers by their address.
		rule{ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, br), ifnamePrefix(expr.MetaKeyOIFNAME, BridgePrefix), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br), drop()},
	)
	return &table{
		name: networkTableName(br),
		chains: []chain{
			natChain("postrouting", nftables.ChainHookPostrouting, post...),
			filterChain("forward", nftables.ChainHookForward, fwd...),
		},
	}
}

// portsTable is the table of one owner's published ports; ms are valid.
func portsTable(owner string, ms []PortMapping) *table {
	rules := make([]rule, 0, len(ms))
	for _, m := range ms {
		r := rule{fibDaddrLocal()}
		if h := m.HostIP; h.IsValid() && !h.IsUnspecified() {
			r = append(r, ipDaddr(h))
		}
		r = append(r, port(m.Proto, "dport", m.HostPort), dnat(m.ContainerIP, m.ContainerPort))
		rules = append(rules, r)
	}
	return &table{
		name: portsTableName(owner),
		chains: []chain{
			// From other hosts and from containers (through a host
			// address, the gateway included).
			natChain("prerouting", nftables.ChainHookPrerouting, rules...),
			// From the host itself, 127.0.0.1 included.
			natChain("output", nftables.ChainHookOutput, rules...),
		},
	}
}

// dnsAddr is the address of Docker's embedded DNS server, which
// containers find in their resolv.conf.
var dnsAddr = netip.MustParseAddr("127.0.0.11")

// dnsTable redirects 127.0.0.11:53 to the embedded server's ports inside a
// container's namespace, and gives its replies :53 as their source, as
// Docker's resolver does (moby:libnetwork/resolver_unix.go, setupIPTable),
// but statelessly: each packet's port is rewritten in place, and none is
// tracked. Docker's DNAT and SNAT make conntrack follow every lookup, an
// entry per client socket (a resolver opens one per lookup) created,
// confirmed and expired; and with no NAT rule in the namespace the kernel
// runs no conntrack there at all, for any of the container's traffic. (A
// lookup that finds the server gone gets its ICMP error unmatched, and
// times out instead of being refused: the server goes only with its
// container.)
//
// Both directions are in the output hook, where every packet over lo
// passes once; notrack, before conntrack's own hook (raw comes first),
// keeps these packets out of it should something else turn it on.
func dnsTable(udpPort, tcpPort uint16) *table {
	return &table{
		name: dnsTableName,
		chains: []chain{
			rawChain("output", nftables.ChainHookOutput,
				rule{ipDaddr(dnsAddr), port("udp", "dport", 53), notrack(), setPort("udp", "dport", udpPort)},
				rule{ipDaddr(dnsAddr), port("tcp", "dport", 53), notrack(), setPort("tcp", "dport", tcpPort)},
				rule{ipSaddr(netip.PrefixFrom(dnsAddr, 32)), port("udp", "sport", udpPort), notrack(), setPort("udp", "sport", 53)},
				rule{ipSaddr(netip.PrefixFrom(dnsAddr, 32)), port("tcp", "sport", tcpPort), notrack(), setPort("tcp", "sport", 53)},
			),
		},
	}
}
