package dns

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// testTable has service "web" with three replicas, a dual-stack "db", a
// link "database" → "db", and "many" with 40 addresses.
func testTable() *table {
	recs := []Record{
		{ContainerID: "c1", Names: []string{"proj-web-1", "web"}, IPv4: a1},
		{ContainerID: "c2", Names: []string{"proj-web-2", "web"}, IPv4: a2},
		{ContainerID: "c3", Names: []string{"proj-web-3", "web"}, IPv4: a3},
		{ContainerID: "d1", Names: []string{"proj-db-1", "db", "my_db"}, IPv4: b1, IPv6: v6},
	}
	for i := range 40 {
		recs = append(recs, Record{ContainerID: fmt.Sprint("m", i), Names: []string{fmt.Sprint("many-", i), "many"},
			IPv4: netip.AddrFrom4([4]byte{10, 2, 0, byte(i + 1)})})
	}
	return newTable([][]Record{recs}, map[string]string{"database": "db"})
}

type query struct {
	name  string
	qtype uint16
	edns  uint16 // EDNS0 payload size; 0 for no OPT
	do    bool
}

func (q query) pack(t testing.TB) []byte {
	t.Helper()
	m := new(dns.Msg).SetQuestion(q.name, q.qtype)
	if q.edns > 0 {
		m.SetEdns0(q.edns, q.do)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unpack(t testing.TB, b []byte) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("unpack response: %v", err)
	}
	return m
}

// addrs lists the A and AAAA answers of m, sorted.
func addrs(m *dns.Msg) []string {
	var s []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			s = append(s, rr.A.String())
		case *dns.AAAA:
			s = append(s, rr.AAAA.String())
		}
	}
	slices.Sort(s)
	return s
}

func TestHandle(t *testing.T) {
	tb := testTable()
	tests := []struct {
		name    string
		q       query
		tcp     bool
		forward bool
		rcode   int
		want    []string // sorted addresses, or the PTR target
		tc      bool
	}{
		{name: "service", q: query{name: "web.", qtype: dns.TypeA}, want: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}},
		{name: "container", q: query{name: "proj-web-2.", qtype: dns.TypeA}, want: []string{"10.0.0.2"}},
		{name: "case", q: query{name: "PROJ-Web-2.", qtype: dns.TypeA}, want: []string{"10.0.0.2"}},
		{name: "underscore", q: query{name: "my_db.", qtype: dns.TypeA}, want: []string{"10.1.0.1"}},
		{name: "link", q: query{name: "database.", qtype: dns.TypeAAAA}, want: []string{"fd00::1"}},
		{name: "aaaa missing", q: query{name: "web.", qtype: dns.TypeAAAA}},
		{name: "mx", q: query{name: "db.", qtype: dns.TypeMX}},
		{name: "ptr", q: query{name: "3.0.0.10.in-addr.arpa.", qtype: dns.TypePTR}, want: []string{"proj-web-3."}},
		{name: "ptr6", q: query{name: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", qtype: dns.TypePTR}, want: []string{"proj-db-1."}},
		{name: "ptr unknown", q: query{name: "9.0.0.10.in-addr.arpa.", qtype: dns.TypePTR}, forward: true},
		{name: "unknown", q: query{name: "example.com.", qtype: dns.TypeA}, forward: true},
		{name: "other type", q: query{name: "web.", qtype: dns.TypeTXT}, forward: true},
		{name: "odd name", q: query{name: `w\.b.`, qtype: dns.TypeA}, forward: true},
		{name: "truncated", q: query{name: "many.", qtype: dns.TypeA}, tc: true},
		{name: "edns", q: query{name: "many.", qtype: dns.TypeA, edns: 4096}},
		{name: "edns small", q: query{name: "many.", qtype: dns.TypeA, edns: 100}, tc: true},
		{name: "tcp", q: query{name: "many.", qtype: dns.TypeA}, tcp: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := tt.q.pack(t)
			resp, fwd := handle(tb, pkt, nil, tt.tcp)
			if tt.forward {
				if fwd == nil || resp != nil {
					t.Fatalf("handle = %x, %v; want forward", resp, fwd)
				}
				return
			}
			if fwd != nil || resp == nil {
				t.Fatalf("handle = %x, %v; want an answer", resp, fwd)
			}
			m := unpack(t, resp)
			if m.Id != be16AsID(pkt) || !m.Response || !m.RecursionAvailable || !m.RecursionDesired || m.Rcode != tt.rcode {
				t.Errorf("header = %v", m.MsgHdr)
			}
			if len(m.Question) != 1 || m.Question[0].Name != tt.q.name {
				t.Errorf("question = %v", m.Question)
			}
			if m.Truncated != tt.tc {
				t.Errorf("TC = %v, want %v", m.Truncated, tt.tc)
			}
			if !tt.tcp && len(resp) > max(512, int(tt.q.edns)) {
				t.Errorf("len = %d over UDP with EDNS0 %d", len(resp), tt.q.edns)
			}
			switch {
			case tt.q.name == "many.":
				if n := len(m.Answer); tt.tc == (n == 40) || n == 0 {
					t.Errorf("%d answers with TC = %v", n, tt.tc)
				}
			case tt.q.qtype == dns.TypePTR:
				if len(m.Answer) != 1 || m.Answer[0].(*dns.PTR).Ptr != tt.want[0] || m.Answer[0].Header().Ttl != 0 {
					t.Errorf("answer = %v, want PTR %s TTL 0", m.Answer, tt.want[0])
				}
			default:
				if got := addrs(m); !slices.Equal(got, tt.want) {
					t.Errorf("answer = %v, want %v", got, tt.want)
				}
			}
			for _, rr := range m.Answer {
				if rr.Header().Ttl != 0 || !strings.EqualFold(rr.Header().Name, tt.q.name) {
					t.Errorf("answer %v: want TTL 0 and owner %s", rr, tt.q.name)
				}
			}
			if (m.IsEdns0() != nil) != (tt.q.edns > 0) {
				t.Errorf("OPT = %v, want one iff the query had one", m.IsEdns0())
			}
		})
	}
}

func be16AsID(pkt []byte) uint16 { return uint16(be16(pkt)) }

func TestHandleShuffles(t *testing.T) {
	tb := testTable()
	pkt := query{name: "web.", qtype: dns.TypeA}.pack(t)
	seen := map[string]bool{}
	for range 100 {
		resp, _ := handle(tb, pkt, nil, false)
		var order []string
		for _, rr := range unpack(t, resp).Answer {
			order = append(order, rr.(*dns.A).A.String())
		}
		seen[strings.Join(order, ",")] = true
	}
	if len(seen) < 3 {
		t.Errorf("%d orders of 3 replicas in 100 answers, want several: %v", len(seen), seen)
	}
}

func TestHandleMalformed(t *testing.T) {
	tb := testTable()
	good := query{name: "web.", qtype: dns.TypeA}.pack(t)
	notify := new(dns.Msg).SetNotify("example.com.")
	two := new(dns.Msg).SetQuestion("web.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	packed := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	response := slices.Clone(good)
	response[2] |= 0x80
	// A NOTIFY's header alone, its counts saying one question.
	bareNotify := []byte{0, 1, 4 << 3, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	// An additional record whose name points past the message's end.
	badPointer := append(slices.Clone(good), 0xc0, 0xff, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0)
	badPointer[11] = 1
	// One more additional record counted than there is (which miekg/dns
	// read as a message of what was there).
	overcount := slices.Clone(good)
	overcount[11] = 1

	tests := []struct {
		name  string
		pkt   []byte
		rcode int // -1: dropped
	}{
		{"empty", nil, -1},
		{"short", good[:5], -1},
		{"response", response, -1},
		{"cut question", good[:len(good)-2], dns.RcodeFormatError},
		{"notify", packed(notify), dns.RcodeNotImplemented},
		{"two questions", packed(two), dns.RcodeFormatError},
		{"bare notify", bareNotify, dns.RcodeNotImplemented},
		{"bad pointer", badPointer, dns.RcodeFormatError},
		{"overcount", overcount, dns.RcodeFormatError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, fwd := handle(tb, tt.pkt, nil, false)
			if fwd != nil {
				t.Fatalf("handle forwards %v", fwd)
			}
			if tt.rcode < 0 {
				if resp != nil {
					t.Errorf("handle = %x, want drop", resp)
				}
				return
			}
			m := unpack(t, resp)
			if m.Rcode != tt.rcode || !m.Response || m.Id != be16AsID(tt.pkt) {
				t.Errorf("response = %v, want rcode %s", m.MsgHdr, dns.RcodeToString[tt.rcode])
			}
		})
	}
}

// TestMatchesReference checks the fast path, and the full one, against
// the miekg/dns code they stand in for.
func TestMatchesReference(t *testing.T) {
	tb := testTable()
	for _, tt := range []struct {
		q    query
		fast bool // answered by the fast path
	}{
		{query{name: "web.", qtype: dns.TypeA}, true},
		{query{name: "WEB.", qtype: dns.TypeA, edns: 1232, do: true}, true},
		{query{name: "web.", qtype: dns.TypeAAAA, edns: 512}, true},
		{query{name: "database.", qtype: dns.TypeAAAA}, true},
		{query{name: "many.", qtype: dns.TypeA}, true},
		{query{name: "many.", qtype: dns.TypeA, edns: 700}, true},
		{query{name: "many.", qtype: dns.TypeA, edns: 4096}, true},
		{query{name: "db.", qtype: dns.TypeMX, edns: 1232}, false},
		{query{name: "3.0.0.10.in-addr.arpa.", qtype: dns.TypePTR, edns: 600, do: true}, false},
		{query{name: "example.com.", qtype: dns.TypeA}, false},
	} {
		for _, tcp := range []bool{false, true} {
			pkt := tt.q.pack(t)
			fast := fastAnswer(nil, pkt, tb, tcp)
			if (fast != nil) != tt.fast {
				t.Errorf("%+v tcp=%v: fast path answers: %v, want %v", tt.q, tcp, fast != nil, tt.fast)
			}
			if fast != nil {
				matchReference(t, tb, pkt, fast, false, tcp)
			}
			resp, fwd := handleFull(tb, pkt, nil, tcp)
			matchReference(t, tb, pkt, resp, fwd != nil, tcp)
		}
	}
}

// matchReference checks what the server made of pkt, resp or (fwd) a
// forward, against what the miekg/dns code made of it (refHandle).
func matchReference(t *testing.T, tb *table, pkt, resp []byte, fwd, tcp bool) {
	t.Helper()
	want, wantFwd := refHandle(tb, withoutRDATA(pkt), tcp)
	if resp != nil && bytes.Equal(resp, formErr(nil, pkt)) && refShort(pkt) {
		return // the one difference, by design
	}
	switch {
	case fwd || wantFwd:
		if fwd != wantFwd {
			t.Errorf("%x: forward = %v, want %v", pkt, fwd, wantFwd)
		}
		return
	case resp == nil || want == nil:
		if (resp == nil) != (want == nil) {
			t.Errorf("%x: answer = %x, want %v", pkt, resp, want)
		}
		return
	}
	got := unpack(t, resp)
	if ref, err := want.Pack(); err != nil {
		t.Fatalf("%x: packing the reference answer: %v", pkt, err)
	} else if len(resp) > len(ref) {
		t.Errorf("%x: answer is %d bytes, the reference %d", pkt, len(resp), len(ref))
	}
	if got.MsgHdr != want.MsgHdr {
		t.Errorf("%x: header = %+v, want %+v", pkt, got.MsgHdr, want.MsgHdr)
	}
	if !slices.Equal(got.Question, want.Question) {
		t.Errorf("%x: question = %v, want %v", pkt, got.Question, want.Question)
	}
	// With TC, which records fit is random; all of them are otherwise.
	if len(got.Answer) != len(want.Answer) || (!got.Truncated && !slices.Equal(rrStrings(got.Answer), rrStrings(want.Answer))) {
		t.Errorf("%x: answer = %v, want %v", pkt, got.Answer, want.Answer)
	}
	if len(got.Ns) != 0 || len(got.Extra) != len(want.Extra) {
		t.Errorf("%x: authority %v and additional %v, want none and %v", pkt, got.Ns, got.Extra, want.Extra)
	}
	fo, wo := got.IsEdns0(), want.IsEdns0()
	if (fo == nil) != (wo == nil) || (fo != nil && (fo.UDPSize() != wo.UDPSize() || fo.Do() != wo.Do())) {
		t.Errorf("%x: OPT = %v, want %v", pkt, fo, wo)
	}
}

// refShort says pkt holds fewer records than its header counts, or ends
// inside its first question, which miekg/dns read as a message of what was
// there, but which the server now takes as malformed: FORMERR.
func refShort(pkt []byte) bool {
	var m dns.Msg
	if m.Unpack(pkt) != nil {
		return false
	}
	return len(m.Question) > 0 && m.Question[0].Qclass == 0 ||
		len(m.Question) != be16(pkt[4:]) || len(m.Answer) != be16(pkt[6:]) ||
		len(m.Ns) != be16(pkt[8:]) || len(m.Extra) != be16(pkt[10:])
}

// withoutRDATA is pkt with the RDATA of its records cut to nothing, or pkt
// when that cannot be done. The server does not read the RDATA of a
// query's records (a query has none but an OPT, whose fields are in its
// header), where miekg/dns decoded it and took a bad one for a malformed
// query; without, the two must agree.
func withoutRDATA(pkt []byte) []byte {
	if len(pkt) < headerLen {
		return pkt
	}
	out := slices.Clone(pkt[:headerLen])
	off := headerLen
	var scratch [maxNameLen]byte
	for range be16(pkt[4:]) {
		_, end, err := readName(scratch[:0], pkt, off)
		if err != nil || end+4 > len(pkt) {
			return pkt
		}
		out = append(out, pkt[off:end+4]...)
		off = end + 4
	}
	for range be16(pkt[6:]) + be16(pkt[8:]) + be16(pkt[10:]) {
		name, end, err := readName(scratch[:0], pkt, off)
		rr, rerr := readRR(pkt, off)
		if err != nil || rerr != nil || len(name) != end-off && len(out) != off { // a pointer that moved
			return pkt
		}
		out = append(out, pkt[off:end+8]...)
		out = append(out, 0, 0)
		off = rr.end
	}
	return append(out, pkt[off:]...)
}

// rrStrings is rrs in text, sorted.
func rrStrings(rrs []dns.RR) []string {
	var s []string
	for _, rr := range rrs {
		s = append(s, rr.String())
	}
	slices.Sort(s)
	return s
}

func TestFastAnswerAllocs(t *testing.T) {
	tb := testTable()
	pkt := query{name: "web.", qtype: dns.TypeA, edns: 1232}.pack(t)
	out := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { fastAnswer(out, pkt, tb, false) }); n != 0 {
		t.Errorf("fastAnswer allocates %v times per query, want 0", n)
	}
}

// FuzzHandle checks that no input makes handle panic, and that what it
// makes of any input is what the miekg/dns code made of it.
func FuzzHandle(f *testing.F) {
	for _, q := range []query{
		{name: "web.", qtype: dns.TypeA},
		{name: "many.", qtype: dns.TypeA, edns: 1000, do: true},
		{name: "Database.", qtype: dns.TypeAAAA},
		{name: "3.0.0.10.in-addr.arpa.", qtype: dns.TypePTR},
		{name: "example.com.", qtype: dns.TypeMX},
	} {
		f.Add(q.pack(f), false)
	}
	tb := testTable()
	f.Fuzz(func(t *testing.T, pkt []byte, tcp bool) {
		resp, fwd := handle(tb, pkt, nil, tcp)
		matchReference(t, tb, pkt, resp, fwd != nil, tcp)
	})
}
