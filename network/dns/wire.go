package dns

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
)

// Wire-format constants (RFC 1035 §4.1, RFC 6891 §6.1.2).
const (
	headerLen = 12
	typeA     = 1
	typePTR   = 12
	typeMX    = 15
	typeAAAA  = 28
	typeOPT   = 41
	classIN   = 1

	opcodeQuery   = 0
	rcodeSuccess  = 0
	rcodeFormErr  = 1
	rcodeServFail = 2
	rcodeNotImp   = 4
	rcodeRefused  = 5

	// maxNameLen is the longest name on the wire, its root label
	// included (RFC 1035 §2.3.4).
	maxNameLen = 255
	// maxPointers bounds the compression pointers followed in one name:
	// a name has at most 127 labels, so a longer chain is a loop.
	maxPointers = 127
	// minUDPSize is what a UDP response must fit without EDNS0.
	minUDPSize = 512
	// maxMsgSize bounds a TCP response.
	maxMsgSize = 65535
	// ednsSize is the UDP payload size this server advertises in its OPT
	// records: the DNS Flag Day 2020 value, which avoids fragmentation.
	ednsSize = 1232
	// optLen is the length of this server's OPT record: the root name,
	// type, class, TTL and an empty RDATA.
	optLen = 11
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
	addrs := e.v4
	if qtype == typeAAAA {
		addrs = e.v6
	}
	out = append(out[:0],
		q[0], q[1], // ID
		0x80|q[2]&0x01, // QR, opcode QUERY, RD copied
		0x80|q[3]&0x10, // RA, CD copied, NOERROR
		0, 1, 0, 0, 0, 0, 0, 0)
	out = append(out, q[headerLen:qend]...)
	return appendAddrs(out, addrs, qtype, size, edns, do)
}

// appendAddrs completes r, the header and question of a NOERROR response
// to a qtype query, with a random pick of as many of addrs as fit in size,
// in random order, each owned by the question's name with TTL 0; then an
// OPT record when edns. It sets the counts, and TC when an address was
// left out.
func appendAddrs(r []byte, addrs []netip.Addr, qtype, size int, edns, do bool) []byte {
	rrLen := 16
	if qtype == typeAAAA {
		rrLen = 28
	}
	used := len(r)
	if edns {
		used += optLen
	}
	count := min(len(addrs), max(0, (size-used)/rrLen))

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
		r = appendAddrRR(r, addrs[idx[i]])
	}
	return finishReply(r, count, count < len(addrs), edns, do)
}

// finishReply sets the answer count of r, a response whose answers are its
// last records, to an, sets TC when tc, and appends an OPT record when
// edns: this server's, with the DO bit of the query (RFC 3225 §3).
func finishReply(r []byte, an int, tc, edns, do bool) []byte {
	r[6], r[7] = byte(an>>8), byte(an)
	if tc {
		r[2] |= 0x02
	}
	if !edns {
		return r
	}
	var flags byte
	if do {
		flags = 0x80
	}
	r[10], r[11] = 0, 1
	return append(r, 0, 0, typeOPT, ednsSize>>8, ednsSize&0xff, 0, 0, flags, 0, 0, 0)
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

// errMalformed is the error of a message that cannot be read.
var errMalformed = errors.New("malformed dns message")

// readName appends to dst the name at msg[off:] in uncompressed wire
// format, following compression pointers, and returns it with the offset
// just past the name's own bytes at off.
func readName(dst, msg []byte, off int) (name []byte, end int, err error) {
	end = -1
	for ptrs := 0; ; {
		if off >= len(msg) {
			return nil, 0, errMalformed
		}
		l := int(msg[off])
		switch l & 0xc0 {
		case 0x00:
			if off+1+l > len(msg) || len(dst)+1+l > maxNameLen {
				return nil, 0, errMalformed
			}
			dst = append(dst, msg[off:off+1+l]...)
			off += 1 + l
			if l == 0 {
				if end < 0 {
					end = off
				}
				return dst, end, nil
			}
		case 0xc0:
			if off+2 > len(msg) || ptrs == maxPointers {
				return nil, 0, errMalformed
			}
			ptrs++
			if end < 0 {
				end = off + 2
			}
			off = (l&0x3f)<<8 | int(msg[off+1])
		default: // the label types 0x40 and 0x80 are reserved
			return nil, 0, errMalformed
		}
	}
}

// appendText appends the presentation form of name, an uncompressed
// wire-format name, to dst: its labels, each followed by a dot, with the
// characters a zone file gives a meaning to escaped by a backslash, and
// other bytes outside printable ASCII as \DDD (RFC 1035 §5.1). It also
// says whether anything was escaped.
func appendText(dst, name []byte) (text []byte, escaped bool) {
	start := len(dst)
	for i := 0; i < len(name) && name[i] != 0; i += 1 + int(name[i]) {
		for _, c := range name[i+1 : i+1+int(name[i])] {
			switch {
			case strings.IndexByte(`. '@;()"\`, c) >= 0:
				dst = append(dst, '\\')
				escaped = true
			case c < ' ' || c > '~':
				dst = append(dst, '\\', '0'+c/100, '0'+c/10%10, '0'+c%10)
				escaped = true
				continue
			}
			dst = append(dst, c)
		}
		dst = append(dst, '.')
	}
	if len(dst) == start {
		dst = append(dst, '.')
	}
	return dst, escaped
}

// rr is the header of a resource record, and where it ends.
type rr struct {
	typ, class int
	ttl        uint32
	end        int
}

// readRR reads the header of the record at msg[off:], checking its owner
// name and that its RDATA is within msg.
func readRR(msg []byte, off int) (rr, error) {
	var scratch [maxNameLen]byte
	_, end, err := readName(scratch[:0], msg, off)
	if err != nil || end+10 > len(msg) || end+10+be16(msg[end+8:]) > len(msg) {
		return rr{}, errMalformed
	}
	ttl := uint32(be16(msg[end+4:]))<<16 | uint32(be16(msg[end+6:]))
	return rr{be16(msg[end:]), be16(msg[end+2:]), ttl, end + 10 + be16(msg[end+8:])}, nil
}

// typeString names the record types the server answers, for logs; others
// get their RFC 3597 name.
func typeString(t int) string {
	switch t {
	case typeA:
		return "A"
	case typeAAAA:
		return "AAAA"
	case typePTR:
		return "PTR"
	case typeMX:
		return "MX"
	}
	return "TYPE" + strconv.Itoa(t)
}
