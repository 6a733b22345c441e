package dns

import (
	"net/netip"
	"strings"
)

// handle decides what to do with pkt, one wire-format query that came over
// UDP or (tcp) TCP, given the names in t. It returns either the response to
// send (appended to out[:0] when it fits), or, when the query must be
// forwarded, the parsed query; both nil means drop pkt.
//
// Malformed queries with a readable header get FORMERR; responses and
// anything shorter than a header are dropped, so that two servers can never
// answer each other in a loop.
func handle(t *table, pkt, out []byte, tcp bool) (resp []byte, fwd *request) {
	if r := fastAnswer(out, pkt, t, tcp); r != nil {
		return r, nil
	}
	return handleFull(t, pkt, out, tcp)
}

// handleFull is handle without the fast path: every query is parsed.
func handleFull(t *table, pkt, out []byte, tcp bool) (resp []byte, fwd *request) {
	if len(pkt) < headerLen || pkt[2]&0x80 != 0 {
		return nil, nil
	}
	var q request
	if err := q.parse(pkt); err != nil {
		return formErr(out, pkt), nil
	}
	switch {
	case q.opcode != opcodeQuery:
		return q.appendReply(out, rcodeNotImp, false), nil
	case q.qdcount != 1 || q.qclass == 0:
		return q.appendReply(out, rcodeFormErr, false), nil
	}
	if resp, local := answerLocal(out, t, &q, tcp); local {
		return resp, nil
	}
	fwd = new(request)
	*fwd = q
	return nil, fwd
}

// request is a parsed query: what the server needs to answer it, or to
// answer for it when forwarding fails.
type request struct {
	id     uint16
	opcode byte
	rd, cd bool
	// qdcount is the number of questions. The fields below are the
	// first's: its name in uncompressed wire format, type and class.
	qdcount       int
	name          [maxNameLen]byte
	nameLen       uint8
	qtype, qclass int
	// edns says the query has an OPT record; udpSize and do are its
	// (the last one's, should there be more).
	edns    bool
	do      bool
	udpSize int
}

// parse reads pkt, a query with a readable header, into q. It fails when a
// section cannot be read. The RDATA of records is not read: a query has
// none but an OPT's, whose fields are in its header.
func (q *request) parse(pkt []byte) error {
	q.id, q.opcode = uint16(be16(pkt)), pkt[2]>>3&0x0f
	q.rd, q.cd = pkt[2]&0x01 != 0, pkt[3]&0x10 != 0
	q.qdcount = be16(pkt[4:])
	if len(pkt) == headerLen {
		// A bare header is a message without sections, whatever its
		// counts say, as it was to miekg/dns: a non-QUERY gets NOTIMP.
		q.qdcount = 0
		return nil
	}
	var scratch [maxNameLen]byte
	off := headerLen
	for i := range q.qdcount {
		dst := scratch[:0]
		if i == 0 {
			dst = q.name[:0]
		}
		name, end, err := readName(dst, pkt, off)
		if err != nil || end+4 > len(pkt) {
			return errMalformed
		}
		if i == 0 {
			q.nameLen = uint8(len(name))
			q.qtype, q.qclass = be16(pkt[end:]), be16(pkt[end+2:])
		}
		off = end + 4
	}
	an, ns, ar := be16(pkt[6:]), be16(pkt[8:]), be16(pkt[10:])
	for i := range an + ns + ar {
		rr, err := readRR(pkt, off)
		if err != nil {
			return err
		}
		if i >= an+ns && rr.typ == typeOPT {
			// The class is the payload size; the TTL holds the
			// extended rcode, version and flags (RFC 6891 §6.1.3).
			q.edns, q.udpSize, q.do = true, rr.class, rr.ttl&0x8000 != 0
		}
		off = rr.end
	}
	return nil
}

// qname is q's first question's name, in wire format.
func (q *request) qname() []byte { return q.name[:q.nameLen] }

// String is q's first question, for logs: "example.com. A".
func (q *request) String() string {
	text, _ := appendText(nil, q.qname())
	return string(text) + " " + typeString(q.qtype)
}

// key appends to dst the key t.names would have q's name under (see
// canonical), or returns false for a name no record has: the root, and
// names whose presentation form needs an escape. Record names are plain
// text, so only one that held the escape itself, as "a\ b", could match
// such a name; compose names hold no backslash.
func (q *request) key(dst []byte) ([]byte, bool) {
	text, escaped := appendText(dst, q.qname())
	if escaped || len(text) == 1 {
		return nil, false
	}
	text = text[:len(text)-1]
	for i, c := range text {
		if 'A' <= c && c <= 'Z' {
			text[i] = c + 'a' - 'A'
		}
	}
	return text, true
}

// size is the largest response q's client takes: 512 bytes over UDP, more
// if its EDNS0 says so (RFC 6891 §6.2.5), 64 KiB over TCP.
func (q *request) size(tcp bool) int {
	switch {
	case tcp:
		return maxMsgSize
	case q.edns:
		return max(minUDPSize, q.udpSize)
	}
	return minUDPSize
}

// appendReply appends to out[:0] the header and question of a response to
// q with rcode and no records yet, as miekg/dns's Msg.SetReply makes it
// (and so Docker's resolver): q's ID, opcode and first question, its RD
// and CD bits for a QUERY, and RA when ra.
func (q *request) appendReply(out []byte, rcode byte, ra bool) []byte {
	flags := 0x80 | q.opcode<<3
	if ra {
		rcode |= 0x80
	}
	if q.opcode == opcodeQuery {
		if q.rd {
			flags |= 0x01
		}
		if q.cd {
			rcode |= 0x10
		}
	}
	qd := byte(min(q.qdcount, 1))
	out = append(out[:0], byte(q.id>>8), byte(q.id), flags, rcode, 0, qd, 0, 0, 0, 0, 0, 0)
	if qd == 0 {
		return out
	}
	out = append(out, q.qname()...)
	return append(out, byte(q.qtype>>8), byte(q.qtype), byte(q.qclass>>8), byte(q.qclass))
}

// answerLocal answers q from t as Docker's resolver does, appending the
// response to out[:0]; local is false when q is for the upstream servers.
// A nil response with local set means drop q.
//   - A, AAAA: the name's addresses of that family, shuffled; none (an
//     empty NOERROR) when the name has only the other family.
//   - MX: an empty NOERROR for a known name, so mailers fall back to its
//     address ("implicit MX", RFC 5321 §5.1).
//   - PTR: the container name of a known address.
//
// Responses carry an OPT record when q has one, and are cut to what the
// client takes, with TC set (RFC 2181 §9).
func answerLocal(out []byte, t *table, q *request, tcp bool) (resp []byte, local bool) {
	if q.qclass != classIN {
		return nil, false
	}
	var buf [4 * maxNameLen]byte // the longest presentation form: every byte \DDD
	key, ok := q.key(buf[:0])
	if !ok {
		return nil, false
	}
	switch q.qtype {
	case typeA, typeAAAA, typeMX:
		e := t.names[string(key)]
		if e == nil {
			return nil, false
		}
		var addrs []netip.Addr
		switch q.qtype {
		case typeA:
			addrs = e.v4
		case typeAAAA:
			addrs = e.v6
		}
		return appendAddrs(q.appendReply(out, rcodeSuccess, true), addrs, q.qtype, q.size(tcp), q.edns, q.do), true
	case typePTR:
		a, ok := addrFromPTR(string(key))
		if !ok {
			return nil, false
		}
		name, ok := t.ptr[a]
		if !ok {
			return nil, false
		}
		r := q.appendReply(out, rcodeSuccess, true)
		// Owned by the question's name, at offset 12, with TTL 0; the
		// RDATA length is filled in once the name is there.
		rr := len(r)
		r = append(r, 0xc0, headerLen, 0, typePTR, 0, classIN, 0, 0, 0, 0, 0, 0)
		r, ok = appendName(r, name)
		if !ok {
			return nil, true // a name DNS cannot carry: drop, as no answer can be made
		}
		rdlen := len(r) - rr - 12
		r[rr+10], r[rr+11] = byte(rdlen>>8), byte(rdlen)
		used := len(r)
		if q.edns {
			used += optLen
		}
		if used > q.size(tcp) {
			return finishReply(r[:rr], 0, true, q.edns, q.do), true
		}
		return finishReply(r, 1, false, q.edns, q.do), true
	}
	return nil, false
}

// appendName appends name, in presentation form without escapes and
// without the final dot, to dst in wire format. It fails for a name DNS
// cannot carry: an empty label, a label over 63 bytes, or over 255 in all.
func appendName(dst []byte, name string) ([]byte, bool) {
	n := 0
	for label := range strings.SplitSeq(name, ".") {
		if len(label) == 0 || len(label) > 63 {
			return nil, false
		}
		dst = append(append(dst, byte(len(label))), label...)
		n += 1 + len(label)
	}
	return append(dst, 0), n < maxNameLen
}

// formErr is the FORMERR response to pkt, whose header is readable but
// whose body is not: the ID, opcode and RD of the query, no sections.
func formErr(out, pkt []byte) []byte {
	return append(out[:0], pkt[0], pkt[1], 0x80|pkt[2]&0x79, 0x80|rcodeFormErr, 0, 0, 0, 0, 0, 0, 0, 0)
}
