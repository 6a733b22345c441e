package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/miekg/dns"

	"stack/engine"
	"stack/engine/container"
	"stack/network"
	"stack/network/link"
)

// benchNetwork makes a network for a benchmark.
func benchNetwork(b *testing.B, e *engine.Engine, name string) {
	b.Helper()
	if _, err := e.CreateNetwork(context.Background(), network.CreateOptions{Name: name}); err != nil {
		b.Fatal(err)
	}
}

// runOn starts a sleeping container on network net and returns it.
func runOn(b *testing.B, e *engine.Engine, net, name string, aliases []string, ports []container.PortBinding) *engine.Container {
	b.Helper()
	ctx := context.Background()
	c, err := e.Create(ctx, engine.CreateOptions{Name: name, Image: busybox, Cmd: []string{"sleep", "1000"},
		Networks: []engine.NetworkAttachment{{Network: net, Aliases: aliases}}, Ports: ports})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(ctx, c.ID()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Remove(context.Background(), c.ID(), true) })
	c, err = e.Get(c.ID())
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// inNetNS runs fn on a thread in the network namespace of process pid.
func inNetNS(b *testing.B, pid int, fn func() error) {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := link.Do(int(f.Fd()), fn); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRunTrueNetwork is BenchmarkRunTrue on a bridge network: the
// difference is what a network endpoint costs a container (veth, DNS
// server, records).
func BenchmarkRunTrueNetwork(b *testing.B) {
	e := benchEngine(b)
	benchNetwork(b, e, "bench")
	ctx := context.Background()
	var all []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		c, err := e.Create(ctx, engine.CreateOptions{Image: busybox, Cmd: []string{"/bin/true"}, Networks: []engine.NetworkAttachment{{Network: "bench"}}})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Start(ctx, c.ID()); err != nil {
			b.Fatal(err)
		}
		if code, err := e.Wait(ctx, c.ID()); err != nil || code != 0 {
			b.Fatalf("wait: %v code %d", err, code)
		}
		all = append(all, time.Since(t0))
		b.StopTimer()
		if err := e.Remove(ctx, c.ID(), true); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	reportLatencies(b, all)
}

// BenchmarkDNSLookup: A queries for a service name with three replicas,
// sent from inside a container to 127.0.0.11:53 (through the redirect to
// its shim's server): one asker, then 50 at once.
func BenchmarkDNSLookup(b *testing.B) {
	e := benchEngine(b)
	benchNetwork(b, e, "bench")
	for i := range 3 {
		runOn(b, e, "bench", fmt.Sprintf("web-%d", i), []string{"web"}, nil)
	}
	client := runOn(b, e, "bench", "client", nil, nil)
	q := new(dns.Msg)
	q.SetQuestion("web.", dns.TypeA)
	query, _ := q.Pack()
	var conns []net.Conn
	server := "127.0.0.11:53"
	if os.Getenv("STACK_BENCH_DNS_DIRECT") == "1" {
		// straight to the server's port, past the redirect (to see what
		// the NAT costs)
		server = dnsServerAddr(b, client.State.Pid)
	}
	inNetNS(b, client.State.Pid, func() error {
		for range 50 {
			c, err := net.Dial("udp4", server)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	lookup := func(c net.Conn, buf []byte) time.Duration {
		t0 := time.Now()
		c.SetDeadline(t0.Add(2 * time.Second))
		if _, err := c.Write(query); err != nil {
			b.Fatal(err)
		}
		n, err := c.Read(buf)
		d := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		// The header's answer count (bytes 6-7), not a full decode: the
		// askers' own garbage would show in the tail.
		if n < 12 || buf[6] != 0 || buf[7] != 3 {
			var m dns.Msg
			err := m.Unpack(buf[:n])
			b.Fatalf("answer %v: %v", m.Answer, err)
		}
		return d
	}
	buf := make([]byte, 512)
	b.Run("serial", func(b *testing.B) {
		ds := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			ds = append(ds, lookup(conns[0], buf))
		}
		reportLatencies(b, ds)
	})
	// 50 askers, each its own process (as 50 programs in a container
	// would be), each sending b.N lookups one after another.
	b.Run("parallel50procs", func(b *testing.B) {
		reportLatencies(b, askInProcesses(b, client.State.Pid, b.N))
	})
	// 50 lookups in flight at once, round after round, with the askers
	// otherwise idle (50 programs resolving names at the same moment).
	b.Run("burst50", func(b *testing.B) {
		// The CPU the shim spends per answer (all its threads, kernel
		// time included: delivering an answer to the asker's socket is
		// part of sending it), against the askers' (this process).
		shimCPU := func() time.Duration {
			var sum time.Duration
			tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", client.State.ShimPid))
			for _, t := range tasks {
				d, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", client.State.ShimPid, t.Name()))
				var ns int64
				fmt.Sscan(string(d), &ns)
				sum += time.Duration(ns)
			}
			return sum
		}
		selfCPU := func() time.Duration {
			var ru unix.Rusage
			unix.Getrusage(unix.RUSAGE_SELF, &ru)
			return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		s0, c0 := shimCPU(), selfCPU()
		ds := make([]time.Duration, 0, 50*b.N)
		res := make([]time.Duration, len(conns))
		bufs := make([][]byte, len(conns))
		for i := range bufs {
			bufs[i] = make([]byte, 512)
		}
		for range b.N {
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, c := range conns {
				wg.Go(func() {
					<-start
					res[i] = lookup(c, bufs[i])
				})
			}
			time.Sleep(time.Millisecond) // every asker parked at start
			close(start)
			wg.Wait()
			ds = append(ds, res...)
		}
		s1, c1 := shimCPU(), selfCPU()
		reportLatencies(b, ds)
		n := float64(len(ds))
		b.ReportMetric(float64((s1-s0).Microseconds())/n, "server-cpu-us/lookup")
		b.ReportMetric(float64((c1-c0).Microseconds())/n, "askers-cpu-us/lookup")
	})
	b.Run("parallel50", func(b *testing.B) {
		var mu sync.Mutex
		var ds []time.Duration
		var wg sync.WaitGroup
		per := b.N // each of the 50 askers sends b.N queries
		for _, c := range conns {
			wg.Go(func() {
				buf := make([]byte, 512)
				local := make([]time.Duration, 0, per)
				for range per {
					local = append(local, lookup(c, buf))
				}
				mu.Lock()
				ds = append(ds, local...)
				mu.Unlock()
			})
		}
		wg.Wait()
		reportLatencies(b, ds)
	})
}

// dnsServerAddr finds the port the embedded DNS server listens on in the
// network namespace of process pid.
func dnsServerAddr(b *testing.B, pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/udp", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && strings.HasPrefix(f[1], "0B00007F:") {
			port, _ := strconv.ParseUint(strings.TrimPrefix(f[1], "0B00007F:"), 16, 16)
			if port != 53 {
				return fmt.Sprintf("127.0.0.11:%d", port)
			}
		}
	}
	b.Fatal("no DNS server socket found")
	return ""
}

// BenchmarkPublishedPort: TCP throughput and connection rate to a server
// in a container, through a published port on 127.0.0.1 versus straight
// to the container's address.
func BenchmarkPublishedPort(b *testing.B) {
	e := benchEngine(b)
	benchNetwork(b, e, "bench")
	c := runOn(b, e, "bench", "sink", nil, []container.PortBinding{{Proto: "tcp", HostPort: 15000, ContainerPort: 5000}})
	var ln net.Listener
	inNetNS(b, c.State.Pid, func() (err error) {
		ln, err = net.Listen("tcp4", "0.0.0.0:5000")
		return err
	})
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, conn); conn.Close() }()
		}
	}()
	direct := c.Config.Endpoints[0].Address.Addr().String() + ":5000"
	targets := []struct{ name, addr string }{{"published", "127.0.0.1:15000"}, {"direct", direct}}
	chunk := make([]byte, 256<<10)
	for _, tg := range targets {
		b.Run("throughput-"+tg.name, func(b *testing.B) {
			conn, err := net.Dial("tcp4", tg.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := conn.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("connect-"+tg.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				conn, err := net.Dial("tcp4", tg.addr)
				if err != nil {
					b.Fatal(err)
				}
				conn.Close()
			}
		})
	}
}

// The asker role of the test binary (BenchmarkDNSLookup/parallel50procs):
// STACK_DNS_ASKER=PID:N makes it join process PID's network namespace,
// wait for a line on stdin, send N lookups one after the other, and print
// each one's latency in nanoseconds.
func init() {
	v := os.Getenv("STACK_DNS_ASKER")
	if v == "" {
		return
	}
	var pid, n int
	if _, err := fmt.Sscanf(v, "%d:%d", &pid, &n); err != nil {
		os.Exit(2)
	}
	runtime.LockOSThread()
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		os.Exit(3)
	}
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		os.Exit(4)
	}
	c, err := net.Dial("udp4", "127.0.0.11:53")
	if err != nil {
		os.Exit(5)
	}
	q := new(dns.Msg)
	q.SetQuestion("web.", dns.TypeA)
	query, _ := q.Pack()
	buf := make([]byte, 512)
	out := make([]int64, 0, n)
	bufio.NewReader(os.Stdin).ReadString('\n')
	for range n {
		t0 := time.Now()
		c.SetDeadline(t0.Add(2 * time.Second))
		c.Write(query)
		if m, err := c.Read(buf); err != nil || m < 12 || buf[7] != 3 {
			os.Exit(6)
		}
		out = append(out, int64(time.Since(t0)))
	}
	w := bufio.NewWriter(os.Stdout)
	for _, d := range out {
		fmt.Fprintln(w, d)
	}
	w.Flush()
	os.Exit(0)
}

// askInProcesses runs 50 asker processes against container pid, n lookups
// each, started together, and returns every latency.
func askInProcesses(b *testing.B, pid, n int) []time.Duration {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	type asker struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bytes.Buffer
	}
	var askers []asker
	for range 50 {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), fmt.Sprintf("STACK_DNS_ASKER=%d:%d", pid, n))
		var out bytes.Buffer
		cmd.Stdout = &out
		in, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		askers = append(askers, asker{cmd, in, &out})
	}
	time.Sleep(200 * time.Millisecond) // all joined and dialled
	for _, a := range askers {
		io.WriteString(a.in, "go\n")
	}
	var ds []time.Duration
	for _, a := range askers {
		if err := a.cmd.Wait(); err != nil {
			b.Fatalf("asker: %v", err)
		}
		for _, line := range strings.Fields(a.out.String()) {
			v, _ := strconv.ParseInt(line, 10, 64)
			ds = append(ds, time.Duration(v))
		}
	}
	return ds
}
