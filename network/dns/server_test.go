package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testServer is a Server serving on loopback sockets in the host netns.
type testServer struct {
	*Server
	udp, tcp string // addresses
}

func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, udp, tcp) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testServer{Server: s, udp: udp.LocalAddr().String(), tcp: tcp.Addr().String()}
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// ask sends one query over network ("udp" or "tcp") and returns the answer.
func ask(t testing.TB, addr, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 10 * time.Second}
	r, _, err := c.Exchange(new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype), addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}

// wantAddrs checks that r is a NOERROR answer with the addresses want.
func wantAddrs(t testing.TB, r *dns.Msg, want ...string) {
	t.Helper()
	slices.Sort(want)
	if r.Rcode != dns.RcodeSuccess || !slices.Equal(addrs(r), want) {
		t.Errorf("%s: %s %v, want NOERROR %v", r.Question[0].Name, dns.RcodeToString[r.Rcode], addrs(r), want)
	}
}

// upstream is a fake upstream server on loopback. It answers A for
// example.com, a TXT too big for UDP for big.example, and NXDOMAIN for
// the rest, and counts the queries it gets over each transport.
type upstream struct {
	addr     string
	udp, tcp atomic.Int32
}

func startUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{}
	// UDP and TCP on one port, so that TCP fallback finds it. The UDP
	// port the kernel picks may be taken for TCP (by another test's
	// listener or connection): pick again then.
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ {
		var err error
		if pc, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		u.addr = pc.LocalAddr().String()
		if ln, err = net.Listen("tcp4", u.addr); err == nil {
			break
		}
		pc.Close()
		if !errors.Is(err, syscall.EADDRINUSE) || try == 20 {
			t.Fatal(err)
		}
	}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		tcp := w.LocalAddr().Network() == "tcp"
		if tcp {
			u.tcp.Add(1)
		} else {
			u.udp.Add(1)
		}
		m := new(dns.Msg).SetReply(q)
		qq := q.Question[0]
		switch {
		case qq.Name == "example.com." && qq.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(93, 184, 216, 34)})
		case qq.Name == "big.example." && qq.Qtype == dns.TypeTXT:
			for i := range 20 {
				m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
					Txt: []string{fmt.Sprintf("record %02d %s", i, strings.Repeat("x", 40))}})
			}
		default:
			m.Rcode = dns.RcodeNameError
		}
		if !tcp {
			// As real servers do: an empty truncated answer when it
			// does not fit.
			size := minUDPSize
			if opt := q.IsEdns0(); opt != nil {
				size = max(size, int(opt.UDPSize()))
			}
			if m.Len() > size {
				m.Answer, m.Truncated = nil, true
			}
		}
		w.WriteMsg(m)
	})
	servers := []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}}
	for _, s := range servers {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.Shutdown()
		}
	})
	return u
}

// writeRecords writes the standard test records: a project with three web
// replicas and a db on net1, and a worker on net2.
func writeRecords(t testing.TB) (net1, net2 string) {
	t.Helper()
	dir := t.TempDir()
	net1, net2 = filepath.Join(dir, "net1"), filepath.Join(dir, "net2")
	for dir, recs := range map[string][]Record{
		net1: {
			{ContainerID: "w1", Names: []string{"proj-web-1", "web", "frontend", "w1short"}, IPv4: a1},
			{ContainerID: "w2", Names: []string{"proj-web-2", "web", "frontend"}, IPv4: a2},
			{ContainerID: "w3", Names: []string{"proj-web-3", "web", "frontend"}, IPv4: a3},
			{ContainerID: "d1", Names: []string{"proj-db-1", "db"}, IPv4: b1, IPv6: v6},
		},
		net2: {
			{ContainerID: "k1", Names: []string{"proj-worker-1", "worker"}, IPv4: netip.MustParseAddr("10.9.0.1")},
		},
	} {
		for _, r := range recs {
			if err := WriteRecord(dir, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	return net1, net2
}

func TestServerLocal(t *testing.T) {
	net1, net2 := writeRecords(t)
	up := startUpstream(t)
	s := startServer(t, Config{Dirs: []string{net1, net2}, Links: map[string]string{"database": "proj-db-1"}, Upstreams: []string{up.addr}})

	for _, network := range []string{"udp", "tcp"} {
		addr := s.udp
		if network == "tcp" {
			addr = s.tcp
		}
		t.Run(network, func(t *testing.T) {
			wantAddrs(t, ask(t, addr, network, "web", dns.TypeA), "10.0.0.1", "10.0.0.2", "10.0.0.3")
			wantAddrs(t, ask(t, addr, network, "proj-web-2", dns.TypeA), "10.0.0.2")
			wantAddrs(t, ask(t, addr, network, "frontend", dns.TypeA), "10.0.0.1", "10.0.0.2", "10.0.0.3")
			wantAddrs(t, ask(t, addr, network, "W1Short", dns.TypeA), "10.0.0.1")
			wantAddrs(t, ask(t, addr, network, "database", dns.TypeA), "10.1.0.1")
			wantAddrs(t, ask(t, addr, network, "DB", dns.TypeAAAA), "fd00::1")
			wantAddrs(t, ask(t, addr, network, "worker", dns.TypeA), "10.9.0.1")
			wantAddrs(t, ask(t, addr, network, "web", dns.TypeAAAA)) // empty NOERROR
			r := ask(t, addr, network, "2.0.0.10.in-addr.arpa", dns.TypePTR)
			if len(r.Answer) != 1 || r.Answer[0].(*dns.PTR).Ptr != "proj-web-2." {
				t.Errorf("PTR = %v, want proj-web-2.", r.Answer)
			}
		})
	}
	if n := up.udp.Load() + up.tcp.Load(); n != 0 {
		t.Errorf("upstream got %d queries for local names, want 0", n)
	}

	orders := map[string]bool{}
	for range 50 {
		var order []string
		for _, rr := range ask(t, s.udp, "udp", "web", dns.TypeA).Answer {
			order = append(order, rr.(*dns.A).A.String())
		}
		orders[strings.Join(order, " ")] = true
	}
	if len(orders) < 2 {
		t.Errorf("one order in 50 answers, want them shuffled: %v", orders)
	}
}

// eventually polls ask until check passes, for up to 5s. A record change
// reaches a server a few microseconds after it is made.
func eventually(t *testing.T, ask func() *dns.Msg, check func(*dns.Msg) error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := check(ask())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Error(err)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// hasAddrs checks for a NOERROR answer with the addresses want.
func hasAddrs(want ...string) func(*dns.Msg) error {
	slices.Sort(want)
	return func(r *dns.Msg) error {
		if r.Rcode != dns.RcodeSuccess || !slices.Equal(addrs(r), want) {
			return fmt.Errorf("%s: %s %v, want NOERROR %v", r.Question[0].Name, dns.RcodeToString[r.Rcode], addrs(r), want)
		}
		return nil
	}
}

// hasRcode checks for an answer with rcode.
func hasRcode(rcode int) func(*dns.Msg) error {
	return func(r *dns.Msg) error {
		if r.Rcode != rcode {
			return fmt.Errorf("%s: %s, want %s", r.Question[0].Name, dns.RcodeToString[r.Rcode], dns.RcodeToString[rcode])
		}
		return nil
	}
}

func TestServerRecordsChange(t *testing.T) {
	net1, net2 := writeRecords(t)
	net3 := filepath.Join(t.TempDir(), "later", "net3") // made after the server starts
	s := startServer(t, Config{Dirs: []string{net1, net2, net3}})
	a := func(name string) func() *dns.Msg {
		return func() *dns.Msg { return ask(t, s.udp, "udp", name, dns.TypeA) }
	}
	write := func(dir string, r Record) {
		t.Helper()
		if err := WriteRecord(dir, r); err != nil {
			t.Fatal(err)
		}
	}

	if err := RemoveRecord(net1, "w2"); err != nil {
		t.Fatal(err)
	}
	eventually(t, a("web"), hasAddrs("10.0.0.1", "10.0.0.3"))
	// Unknown, with nowhere to forward it.
	eventually(t, a("proj-web-2"), hasRcode(dns.RcodeServerFailure))

	write(net1, Record{ContainerID: "w4", Names: []string{"proj-web-4", "web"}, IPv4: netip.MustParseAddr("10.0.0.4")})
	eventually(t, a("web"), hasAddrs("10.0.0.1", "10.0.0.3", "10.0.0.4"))

	// A recreated container: same ID, new address.
	write(net1, Record{ContainerID: "w4", Names: []string{"proj-web-4", "web"}, IPv4: netip.MustParseAddr("10.0.0.5")})
	eventually(t, a("proj-web-4"), hasAddrs("10.0.0.5"))

	// A directory that did not exist.
	write(net3, Record{ContainerID: "n1", Names: []string{"newcomer"}, IPv4: netip.MustParseAddr("10.3.0.1")})
	eventually(t, a("newcomer"), hasAddrs("10.3.0.1"))

	// A directory removed and made again.
	if err := os.RemoveAll(net2); err != nil {
		t.Fatal(err)
	}
	eventually(t, a("worker"), hasRcode(dns.RcodeServerFailure))
	write(net2, Record{ContainerID: "k1", Names: []string{"worker"}, IPv4: netip.MustParseAddr("10.9.0.2")})
	eventually(t, a("worker"), hasAddrs("10.9.0.2"))

	// A network left and joined: SetConfig has read the records when it
	// returns.
	if err := s.SetConfig(Config{Dirs: []string{net2}}); err != nil {
		t.Fatal(err)
	}
	wantAddrs(t, a("worker")(), "10.9.0.2")
	if r := a("web")(); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("web after leaving its network: %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	write(net1, Record{ContainerID: "w5", Names: []string{"web"}, IPv4: netip.MustParseAddr("10.0.0.6")})
	if err := s.SetConfig(Config{Dirs: []string{net1}}); err != nil {
		t.Fatal(err)
	}
	wantAddrs(t, a("web")(), "10.0.0.1", "10.0.0.3", "10.0.0.5", "10.0.0.6")
	// Watching follows the config: net2 no longer counts, net1 does.
	write(net2, Record{ContainerID: "k2", Names: []string{"web"}, IPv4: netip.MustParseAddr("10.9.0.3")})
	write(net1, Record{ContainerID: "w6", Names: []string{"web"}, IPv4: netip.MustParseAddr("10.0.0.7")})
	eventually(t, a("web"), hasAddrs("10.0.0.1", "10.0.0.3", "10.0.0.5", "10.0.0.6", "10.0.0.7"))
}

func TestServerForward(t *testing.T) {
	net1, _ := writeRecords(t)
	up := startUpstream(t)
	s := startServer(t, Config{Dirs: []string{net1}, Upstreams: []string{up.addr}})

	for _, network := range []string{"udp", "tcp"} {
		addr := s.udp
		if network == "tcp" {
			addr = s.tcp
		}
		before := up.tcp.Load()
		wantAddrs(t, ask(t, addr, network, "example.com", dns.TypeA), "93.184.216.34")
		if r := ask(t, addr, network, "nowhere.example", dns.TypeA); r.Rcode != dns.RcodeNameError {
			t.Errorf("%s: %s, want the upstream's NXDOMAIN", network, dns.RcodeToString[r.Rcode])
		}
		if got := up.tcp.Load() - before; (network == "tcp") != (got > 0) {
			t.Errorf("a query over %s made %d TCP queries upstream", network, got)
		}
	}

	// Over UDP without EDNS0 the upstream truncates; the server asks
	// again over TCP and relays as much as fits in 512 bytes.
	before := up.tcp.Load()
	r := ask(t, s.udp, "udp", "big.example", dns.TypeTXT)
	r.Compress = true // as it came
	if !r.Truncated || len(r.Answer) == 0 || len(r.Answer) == 20 || r.Len() > 512 {
		t.Errorf("big answer over UDP: TC=%v, %d records, %d bytes; want TC and some of the 20 in 512 bytes", r.Truncated, len(r.Answer), r.Len())
	}
	if up.tcp.Load() == before {
		t.Error("truncated upstream answer not asked again over TCP")
	}
	c := &dns.Client{Net: "udp"}
	q := new(dns.Msg).SetQuestion("big.example.", dns.TypeTXT).SetEdns0(4096, false)
	if r, _, err := c.Exchange(q, s.udp); err != nil || r.Truncated || len(r.Answer) != 20 {
		t.Errorf("big answer with EDNS0 4096: %v, want all 20 records (err %v)", r, err)
	}
	if r := ask(t, s.tcp, "tcp", "big.example", dns.TypeTXT); r.Truncated || len(r.Answer) != 20 {
		t.Errorf("big answer over TCP: TC=%v, %d records; want all 20", r.Truncated, len(r.Answer))
	}
}

func TestServerUpstreamDown(t *testing.T) {
	// A port nobody listens on (the kernel refuses at once), and one that
	// swallows queries.
	closed, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := closed.LocalAddr().String()
	closed.Close()
	hole, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	up := startUpstream(t)

	const timeout = 300 * time.Millisecond
	tests := []struct {
		name      string
		upstreams []string
		wantRcode int
	}{
		{"none", nil, dns.RcodeServerFailure},
		{"refusing", []string{refusing}, dns.RcodeServerFailure},
		{"black hole", []string{hole.LocalAddr().String()}, dns.RcodeServerFailure},
		{"black hole then good", []string{hole.LocalAddr().String(), up.addr}, dns.RcodeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, Config{Upstreams: tt.upstreams, Timeout: timeout})
			start := time.Now()
			r := ask(t, s.udp, "udp", "example.com", dns.TypeA)
			if r.Rcode != tt.wantRcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.wantRcode])
			}
			// Generous: the point is that it is bounded by Timeout, not
			// by the client's 10s.
			if d := time.Since(start); d > timeout+2*time.Second {
				t.Errorf("answer took %v with Timeout %v", d, timeout)
			}
		})
	}
}

func TestServeStops(t *testing.T) {
	s, err := NewServer(Config{})
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), udp, tcp) }()
	// An idle TCP client does not keep Serve from returning.
	conn, err := net.Dial("tcp4", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	udp.Close() // closing a socket ends Serve, as ctx would
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
	if _, err := tcp.Accept(); err == nil {
		t.Error("Serve left the TCP listener open")
	}
}

func TestSetConfigInvalid(t *testing.T) {
	if _, err := NewServer(Config{Upstreams: []string{"not an address"}}); err == nil {
		t.Error("NewServer with a bad upstream succeeded")
	}
}

func TestServerPollsWithoutInotify(t *testing.T) {
	net1, _ := writeRecords(t)
	s := startServer(t, Config{Dirs: []string{net1}})
	// As when fs.inotify.max_user_instances is reached.
	s.mu.Lock()
	s.w.close()
	s.w = nil
	s.mu.Unlock()
	if err := WriteRecord(net1, Record{ContainerID: "n", Names: []string{"late"}, IPv4: netip.MustParseAddr("10.0.0.9")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() *dns.Msg { return ask(t, s.udp, "udp", "late", dns.TypeA) }, hasAddrs("10.0.0.9"))
}

func TestServerForwardLimit(t *testing.T) {
	up := startUpstream(t)
	s := startServer(t, Config{Upstreams: []string{up.addr}})
	for range cap(s.sem) {
		s.sem <- struct{}{}
	}
	for _, network := range []string{"udp", "tcp"} {
		addr := map[string]string{"udp": s.udp, "tcp": s.tcp}[network]
		if r := ask(t, addr, network, "example.com", dns.TypeA); r.Rcode != dns.RcodeRefused {
			t.Errorf("%s with %d forwards in flight: %s, want REFUSED", network, cap(s.sem), dns.RcodeToString[r.Rcode])
		}
	}
	for range cap(s.sem) {
		<-s.sem
	}
	wantAddrs(t, ask(t, s.udp, "udp", "example.com", dns.TypeA), "93.184.216.34")
}

func TestServerTCPPipelined(t *testing.T) {
	net1, _ := writeRecords(t)
	up := startUpstream(t)
	s := startServer(t, Config{Dirs: []string{net1}, Upstreams: []string{up.addr}})
	conn, err := dns.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	names := []string{"web.", "example.com.", "db."}
	for _, n := range names {
		if err := conn.WriteMsg(new(dns.Msg).SetQuestion(n, dns.TypeA)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		r, err := conn.ReadMsg()
		if err != nil {
			t.Fatal(err)
		}
		if r.Question[0].Name != n || len(r.Answer) == 0 {
			t.Errorf("answer %v, want one for %s", r, n)
		}
	}
}

// TestLookupAllocs checks that a local answer over UDP, batched reads and
// writes included, allocates nothing, on either side: garbage made per
// query would grow the shim's heap under a burst of lookups.
func TestLookupAllocs(t *testing.T) {
	net1, _ := writeRecords(t)
	s := startServer(t, Config{Dirs: []string{net1}})
	conn, err := net.Dial("udp4", s.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pkt := query{name: "web.", qtype: dns.TypeA}.pack(t)
	buf := make([]byte, 512)
	lookup := func() {
		if _, err := conn.Write(pkt); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	lookup() // the server's buffers are made on its first read
	if n := testing.AllocsPerRun(200, lookup); n != 0 {
		t.Errorf("a lookup allocates %v times, want 0", n)
	}
}
