package dns

import (
	"math/rand/v2"
	"net/netip"
)

// Wire-format constants (RFC 1035 §4.1, RFC 6891 §6.1.2).
const (
	headerLen = 12
	typeA     = 1
	typeAAAA  = 28
	typeOPT   = 41
	classIN   = 1
	// minUDPSize is what a UDP response must fit without EDNS0.
	minUDPSize = 512
	// maxMsgSize bounds a TCP response.
	maxMsgSize = 65535
	// ednsSize is the UDP payload size this server advertises in its OPT
	// records: the DNS Flag Day 2020 value, which avoids fragmentation.
	ednsSize = 1232
)

// fastAnswer answers q, a wire-format query, straight from t without
// unpacking it, when q is a plain A or AAAA query for a name in t: the hot
// path of a container looking up a service. It appends the response to
// out[:0] and returns it, or returns nil when q needs the full path
// (another type, an unknown name, EDNS0 options it does not handle, or
// anything malformed).
//
// The response is what answerLocal gives for the same query, the question
// copied verbatim (so the case the client chose is kept), each answer's
// owner a compression pointer to it. Over UDP, answers that do not fit the
// client's size are left out and TC is set.
func fastAnswer(out, q []byte, t *table, tcp bool) []byte {
	// A query (QR=0, opcode QUERY) with one question, nothing in the
	// answer and authority sections, and at most an OPT record.
	if len(q) < headerLen+5 || q[2]&0xf8 != 0 ||
		be16(q[4:]) != 1 || be16(q[6:]) != 0 || be16(q[8:]) != 0 || be16(q[10:]) > 1 {
		return nil
	}
	// The name, lowered into key. Only letters, digits, '-' and '_' are
	// taken, so the key is the name's presentation form with no escapes.
	var key [253]byte // the longest name (255 octets on the wire)
	n, off := 0, headerLen
	for {
		if off >= len(q) {
			return nil
		}
		l := int(q[off])
		off++
		if l == 0 {
			break
		}
		// l > 63 also rejects compression pointers, which a question
		// cannot use anyway.
		if l > 63 || off+l > len(q) || n+1+l > len(key) {
			return nil
		}
		if n > 0 {
			key[n] = '.'
			n++
		}
		for _, c := range q[off : off+l] {
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default:
				return nil
			}
			key[n] = c
			n++
		}
		off += l
	}
	if n == 0 || off+4 > len(q) {
		return nil
	}
	qtype, qend := be16(q[off:]), off+4
	if be16(q[off+2:]) != classIN || (qtype != typeA && qtype != typeAAAA) {
		return nil
	}

	size := minUDPSize
	if tcp {
		size = maxMsgSize
	}
	edns, do := false, false
	if be16(q[10:]) == 1 {
		// OPT: root name, type, class = payload size, TTL = extended
		// rcode, version, flags; then its options, which are skipped.
		o := q[qend:]
		if len(o) < 11 || o[0] != 0 || be16(o[1:]) != typeOPT || o[6] != 0 || 11+int(be16(o[9:])) != len(o) {
			return nil
		}
		edns, do = true, o[7]&0x80 != 0
		if !tcp {
			size = max(minUDPSize, int(be16(o[3:])))
		}
	} else if qend != len(q) {
		return nil
	}

	e := t.names[string(key[:n])]
	if e == nil {
		return nil
	}
	addrs, rrLen := e.v4, 16
	if qtype == typeAAAA {
		addrs, rrLen = e.v6, 28
	}
	used := headerLen + (qend - headerLen)
	if edns {
		used += 11
	}
	count := min(len(addrs), max(0, (size-used)/rrLen))

	out = append(out[:0],
		q[0], q[1], // ID
		0x80|q[2]&0x01, // QR, opcode QUERY, RD copied
		0x80|q[3]&0x10, // RA, CD copied, NOERROR
		0, 1, byte(count>>8), byte(count), 0, 0, 0, 0)
	if count < len(addrs) {
		out[2] |= 0x02 // TC
	}
	if edns {
		out[11] = 1
	}
	out = append(out, q[headerLen:qend]...)

	// A random pick of count addresses in random order: a partial
	// Fisher-Yates shuffle over their indexes.
	var idxBuf [64]uint16
	var idx []uint16
	if len(addrs) <= len(idxBuf) {
		idx = idxBuf[:len(addrs)]
	} else {
		idx = make([]uint16, len(addrs))
	}
	for i := range idx {
		idx[i] = uint16(i)
	}
	for i := range count {
		j := i + rand.IntN(len(idx)-i)
		idx[i], idx[j] = idx[j], idx[i]
		out = appendAddrRR(out, addrs[idx[i]])
	}
	if edns {
		var flags byte
		if do {
			flags = 0x80 // RFC 3225 §3: the DO bit is copied into the response
		}
		out = append(out, 0, 0, typeOPT, ednsSize>>8, ednsSize&0xff, 0, 0, flags, 0, 0, 0)
	}
	return out
}

// appendAddrRR appends an A or AAAA record for a, owned by the question's
// name (a pointer to offset 12), with TTL 0.
func appendAddrRR(out []byte, a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		return append(out, 0xc0, headerLen, 0, typeA, 0, classIN, 0, 0, 0, 0, 0, 4, b[0], b[1], b[2], b[3])
	}
	b := a.As16()
	out = append(out, 0xc0, headerLen, 0, typeAAAA, 0, classIN, 0, 0, 0, 0, 0, 16)
	return append(out, b[:]...)
}

func be16(b []byte) int { return int(b[0])<<8 | int(b[1]) }
