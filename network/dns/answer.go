package dns

import (
	"math/rand/v2"

	"github.com/miekg/dns"
)

// handle decides what to do with pkt, one wire-format query that came over
// UDP or (tcp) TCP, given the names in t. It returns either the response to
// send (appended to out[:0] when it fits), or, when the query must be
// forwarded, the unpacked query; both nil means drop pkt.
//
// Malformed queries with a readable header get FORMERR; responses and
// anything shorter than a header are dropped, so that two servers can never
// answer each other in a loop.
func handle(t *table, pkt, out []byte, tcp bool) (resp []byte, fwd *dns.Msg) {
	if r := fastAnswer(out, pkt, t, tcp); r != nil {
		return r, nil
	}
	if len(pkt) < headerLen || pkt[2]&0x80 != 0 {
		return nil, nil
	}
	q := new(dns.Msg)
	if err := q.Unpack(pkt); err != nil {
		return formErr(out, pkt), nil
	}
	switch {
	case q.Opcode != dns.OpcodeQuery:
		return pack(out, new(dns.Msg).SetRcode(q, dns.RcodeNotImplemented)), nil
	case len(q.Question) != 1 || q.Question[0].Qclass == 0:
		// miekg/dns reads a question cut short as class 0 (reserved,
		// RFC 6895 §3.3.1), so this also catches those.
		return pack(out, new(dns.Msg).SetRcode(q, dns.RcodeFormatError)), nil
	}
	m := answerLocal(t, q)
	if m == nil {
		return nil, q
	}
	return pack(out, finish(q, m, tcp)), nil
}

// answerLocal answers q from t as Docker's resolver does, or returns nil
// when q is for the upstream servers.
//   - A, AAAA: the name's addresses of that family, shuffled; none (an
//     empty NOERROR) when the name has only the other family.
//   - MX: an empty NOERROR for a known name, so mailers fall back to its
//     address ("implicit MX", RFC 5321 §5.1).
//   - PTR: the container name of a known address.
func answerLocal(t *table, q *dns.Msg) *dns.Msg {
	qq := q.Question[0]
	if qq.Qclass != dns.ClassINET {
		return nil
	}
	switch qq.Qtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeMX:
		e := t.names[canonical(qq.Name)]
		if e == nil {
			return nil
		}
		m := reply(q)
		addrs := e.v4
		switch qq.Qtype {
		case dns.TypeAAAA:
			addrs = e.v6
		case dns.TypeMX:
			addrs = nil
		}
		for _, i := range rand.Perm(len(addrs)) {
			hdr := dns.RR_Header{Name: qq.Name, Rrtype: qq.Qtype, Class: dns.ClassINET}
			if addrs[i].Is4() {
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: addrs[i].AsSlice()})
			} else {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: addrs[i].AsSlice()})
			}
		}
		return m
	case dns.TypePTR:
		a, ok := addrFromPTR(qq.Name)
		if !ok {
			return nil
		}
		name, ok := t.ptr[a]
		if !ok {
			return nil
		}
		m := reply(q)
		m.Answer = append(m.Answer, &dns.PTR{
			Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET},
			Ptr: dns.Fqdn(name),
		})
		return m
	}
	return nil
}

// reply starts a response to q as Docker's createRespMsg does: the
// question, RD and CD copied, RA set.
func reply(q *dns.Msg) *dns.Msg {
	m := new(dns.Msg).SetReply(q)
	m.RecursionAvailable = true
	return m
}

// finish adds an OPT record to m when q had one, and truncates m to what
// the client can take: 512 bytes over UDP, more if q's EDNS0 says so (RFC
// 6891 §6.2.5), 64 KiB over TCP.
func finish(q, m *dns.Msg, tcp bool) *dns.Msg {
	size := clientSize(q, tcp)
	if opt := q.IsEdns0(); opt != nil {
		m.SetEdns0(ednsSize, opt.Do())
	}
	m.Truncate(size)
	return m
}

// clientSize is the largest response q's client takes.
func clientSize(q *dns.Msg, tcp bool) int {
	if tcp {
		return maxMsgSize
	}
	if opt := q.IsEdns0(); opt != nil {
		return max(minUDPSize, int(opt.UDPSize()))
	}
	return minUDPSize
}

// pack packs m into out, or returns nil if it cannot be packed.
func pack(out []byte, m *dns.Msg) []byte {
	b, err := m.PackBuffer(out[:cap(out)])
	if err != nil {
		return nil
	}
	return b
}

// formErr is the FORMERR response to pkt, whose header is readable but
// whose body is not: the ID, opcode and RD of the query, no sections.
func formErr(out, pkt []byte) []byte {
	return append(out[:0], pkt[0], pkt[1], 0x80|pkt[2]&0x79, 0x80|dns.RcodeFormatError, 0, 0, 0, 0, 0, 0, 0, 0)
}
