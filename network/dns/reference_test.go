package dns

import (
	"math/rand/v2"

	"github.com/miekg/dns"
)

// This file is the server's query handling as it was written with
// miekg/dns, kept as the reference the wire-level code is checked against
// (TestMatchesReference, FuzzHandle).

// refHandle is what the miekg/dns server did with pkt (fast path aside):
// drop it (all zero), answer it (resp), or forward it (fwd).
func refHandle(t *table, pkt []byte, tcp bool) (resp *dns.Msg, fwd bool) {
	if len(pkt) < headerLen || pkt[2]&0x80 != 0 {
		return nil, false
	}
	q := new(dns.Msg)
	if err := q.Unpack(pkt); err != nil {
		m := new(dns.Msg)
		if m.Unpack(formErr(nil, pkt)) != nil {
			panic("formErr does not unpack")
		}
		return m, false
	}
	switch {
	case q.Opcode != dns.OpcodeQuery:
		return new(dns.Msg).SetRcode(q, dns.RcodeNotImplemented), false
	case len(q.Question) != 1 || q.Question[0].Qclass == 0:
		return new(dns.Msg).SetRcode(q, dns.RcodeFormatError), false
	}
	m := refAnswerLocal(t, q)
	if m == nil {
		return nil, true
	}
	return refFinish(q, m, tcp), false
}

func refAnswerLocal(t *table, q *dns.Msg) *dns.Msg {
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
		m := refReply(q)
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
		m := refReply(q)
		m.Answer = append(m.Answer, &dns.PTR{
			Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET},
			Ptr: dns.Fqdn(name),
		})
		return m
	}
	return nil
}

func refReply(q *dns.Msg) *dns.Msg {
	m := new(dns.Msg).SetReply(q)
	m.RecursionAvailable = true
	return m
}

func refFinish(q, m *dns.Msg, tcp bool) *dns.Msg {
	size := minUDPSize
	if tcp {
		size = maxMsgSize
	} else if opt := q.IsEdns0(); opt != nil {
		size = max(minUDPSize, int(opt.UDPSize()))
	}
	if opt := q.IsEdns0(); opt != nil {
		m.SetEdns0(ednsSize, opt.Do())
	}
	m.Truncate(size)
	return m
}
