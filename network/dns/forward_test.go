package dns

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzTruncate checks truncate against miekg/dns's Msg.Truncate, which
// the server used before, on answers as a server packs them: the same
// records kept, the OPT record kept and last, TC set when a record is left
// out, and within size.
func FuzzTruncate(f *testing.F) {
	f.Add(uint8(20), uint8(0), uint8(0), uint8(0), int8(-1), true, uint16(512))
	f.Add(uint8(20), uint8(0), uint8(0), uint8(40), int8(-1), false, uint16(512))
	f.Add(uint8(30), uint8(2), uint8(3), uint8(10), int8(0), true, uint16(1232))
	f.Add(uint8(3), uint8(4), uint8(5), uint8(60), int8(2), true, uint16(600))
	f.Add(uint8(2), uint8(0), uint8(0), uint8(250), int8(0), true, uint16(300))
	f.Fuzz(func(t *testing.T, an, ns, extra, txtLen uint8, optAt int8, compress bool, maxSize uint16) {
		m := new(dns.Msg).SetQuestion("big.example.", dns.TypeTXT)
		m.Response, m.RecursionAvailable = true, true
		rr := func(owner string, i int) dns.RR {
			return &dns.TXT{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
				Txt: []string{fmt.Sprintf("%03d %s", i, strings.Repeat("x", int(txtLen)))}}
		}
		for i := range int(an) {
			m.Answer = append(m.Answer, rr("big.example.", i))
		}
		for i := range int(ns) {
			m.Ns = append(m.Ns, &dns.NS{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 60},
				Ns: fmt.Sprintf("ns%d.example.", i)})
		}
		for i := range int(extra) {
			m.Extra = append(m.Extra, rr(fmt.Sprintf("ns%d.example.", i), i))
		}
		if optAt >= 0 {
			opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
			opt.SetUDPSize(4096)
			opt.SetDo()
			m.Extra = slices.Insert(m.Extra, min(int(optAt), len(m.Extra)), dns.RR(opt))
		}
		m.Compress = compress
		msg, err := m.Pack()
		if err != nil {
			t.Skip(err) // too big for a message
		}
		size := max(minUDPSize, int(maxSize))
		if len(msg) <= size {
			return // forward truncates only what does not fit
		}

		out, err := truncate(msg, size)
		if err != nil {
			t.Fatalf("truncate: %v", err)
		}
		got := new(dns.Msg)
		if err := got.Unpack(out); err != nil {
			t.Fatalf("truncated answer does not unpack: %v", err)
		}
		want := m.Copy()
		want.Truncate(size)
		if len(out) > size && len(got.Answer)+len(got.Ns) > 0 {
			t.Errorf("%d bytes, over %d", len(out), size)
		}
		total := len(m.Answer) + len(m.Ns) + len(m.Extra)
		if kept := len(got.Answer) + len(got.Ns) + len(got.Extra); got.Truncated != (kept < total) {
			t.Errorf("TC = %v with %d of %d records", got.Truncated, kept, total)
		}
		got.Truncated, want.Truncated = false, false
		if got.MsgHdr != want.MsgHdr || !slices.Equal(got.Question, want.Question) {
			t.Errorf("header %v %v, want %v %v", got.MsgHdr, got.Question, want.MsgHdr, want.Question)
		}
		// Truncate compresses, so it may keep more of an uncompressed
		// answer; of a compressed one, it keeps the same.
		noOPT := func(rrs []dns.RR) []dns.RR {
			return slices.DeleteFunc(slices.Clone(rrs), func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeOPT })
		}
		for _, s := range []struct {
			name           string
			got, want, all []dns.RR
		}{
			{"answer", got.Answer, want.Answer, m.Answer},
			{"authority", got.Ns, want.Ns, m.Ns},
			{"additional", noOPT(got.Extra), noOPT(want.Extra), noOPT(m.Extra)},
		} {
			if (compress && len(s.got) != len(s.want)) || len(s.got) > len(s.want) {
				t.Errorf("%s: %d records, Truncate keeps %d", s.name, len(s.got), len(s.want))
			}
			for i, rr := range s.got {
				if rr.String() != s.all[i].String() {
					t.Errorf("%s %d: %v, want %v", s.name, i, rr, s.all[i])
				}
			}
		}
		if o, w := got.IsEdns0(), want.IsEdns0(); (o == nil) != (w == nil) || o != nil && (o.UDPSize() != w.UDPSize() || !o.Do()) {
			t.Errorf("OPT = %v, want %v", o, w)
		}
	})
}
