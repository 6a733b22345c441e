package dns

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// benchServer serves a project of 50 containers; "web" has 3 replicas.
func benchServer(b *testing.B) *testServer {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "net")
	for i := range 50 {
		names := []string{fmt.Sprintf("proj-svc%d-1", i), fmt.Sprintf("svc%d", i)}
		if i < 3 {
			names = []string{fmt.Sprintf("proj-web-%d", i+1), "web"}
		}
		r := Record{ContainerID: fmt.Sprint("c", i), Names: names, IPv4: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 2)})}
		if err := WriteRecord(dir, r); err != nil {
			b.Fatal(err)
		}
	}
	return startServer(b, Config{Dirs: []string{dir}})
}

// lookups sends n A queries for "web" on conn, one at a time, and records
// each round trip in lat.
func lookups(b *testing.B, conn net.Conn, n int, lat []time.Duration) {
	pkt, err := new(dns.Msg).SetQuestion("web.", dns.TypeA).Pack()
	if err != nil {
		b.Error(err)
		return
	}
	buf := make([]byte, 512)
	for i := range n {
		pkt[0], pkt[1] = byte(i>>8), byte(i)
		start := time.Now()
		if _, err := conn.Write(pkt); err != nil {
			b.Error(err)
			return
		}
		m, err := conn.Read(buf)
		lat[i] = time.Since(start)
		if err != nil {
			b.Error(err)
			return
		}
		// Three A records after the header and question.
		if m != len(pkt)+3*16 || buf[0] != pkt[0] || buf[1] != pkt[1] || buf[3]&0x0f != 0 {
			b.Errorf("bad answer %x", buf[:m])
			return
		}
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	at := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
}

// BenchmarkLookupUDP is one client asking for a service over loopback UDP:
// ns/op is a full round trip.
func BenchmarkLookupUDP(b *testing.B) {
	s := benchServer(b)
	conn, err := net.Dial("udp4", s.udp)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	lat := make([]time.Duration, b.N)
	b.ReportAllocs() // client and server: none on either side
	b.ResetTimer()
	lookups(b, conn, b.N, lat)
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkLookupParallel is 50 clients asking at once, as 50 processes
// starting together would: in each round every client sends one query and
// waits for its answer, and the next round starts when all are answered.
// ns/op is wall time per query (the inverse of throughput); p50/p99 are
// the round trips the clients see.
func BenchmarkLookupParallel(b *testing.B) {
	const clients = 50
	s := benchServer(b)
	rounds := max(1, b.N/clients)
	lat := make([]time.Duration, rounds*clients)
	start := make([]chan struct{}, clients)
	var wg, done sync.WaitGroup
	for i := range clients {
		c, err := net.Dial("udp4", s.udp)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		start[i] = make(chan struct{})
		wg.Go(func() {
			for r := range rounds {
				<-start[i]
				lookups(b, c, 1, lat[r*clients+i:])
				done.Done()
			}
		})
	}
	b.ResetTimer()
	for range rounds {
		done.Add(clients)
		for _, c := range start {
			c <- struct{}{}
		}
		done.Wait()
	}
	b.StopTimer()
	wg.Wait()
	reportLatency(b, lat)
}

// BenchmarkHandle is the server's work for one query, without sockets.
func BenchmarkHandle(b *testing.B) {
	tb := testTable()
	pkt := query{name: "web.", qtype: dns.TypeA}.pack(b)
	out := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		handle(tb, pkt, out, false)
	}
}

// BenchmarkHandleSlow is the server's work for queries the wire-level fast
// path leaves to the full codec: a PTR answered locally, an A query for a
// name to forward, and an MX for a known name (an empty NOERROR).
func BenchmarkHandleSlow(b *testing.B) {
	tb := testTable()
	for _, q := range []query{
		{name: "3.0.0.10.in-addr.arpa.", qtype: dns.TypePTR},
		{name: "example.com.", qtype: dns.TypeA, edns: 1232},
		{name: "db.", qtype: dns.TypeMX},
	} {
		b.Run(dns.TypeToString[q.qtype], func(b *testing.B) {
			pkt := q.pack(b)
			out := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				handle(tb, pkt, out, false)
			}
		})
	}
}
