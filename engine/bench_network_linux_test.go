package engine_test

import (
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
	"unsafe"

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
// its shim's server), answered with all three addresses.
//
//   - serial: one asker, a lookup after the other, from one socket;
//     serial-fresh opens a socket per lookup, as a resolver does.
//   - burst50: 50 lookups sent at once, round after round, by 50
//     goroutines of this process (a program's threads resolving at the
//     same moment). It reports the CPU the server spends per answer.
//   - burst50procs: the same from 50 processes (this binary in the asker
//     role, which waits for its answer in a blocking read, as glibc's
//     resolver does, not in Go's netpoller).
//   - parallel50procs: 50 processes asking as fast as they can, each
//     again as soon as it has its answer. That is a throughput test: the
//     latency is 50 lookers over the throughput (Little's law).
//
// The -floor cases ask a responder that does nothing but send a canned
// answer back, a recvfrom and a sendto per query, with no redirect: what
// this machine allows any server with that many askers.
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
		// the redirect costs)
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
		cpu := meterCPU(b, client.State.ShimPid)
		for i := 0; i < b.N; i++ {
			ds = append(ds, lookup(conns[0], buf))
		}
		cpu(b.N)
		reportLatencies(b, ds)
	})
	// A socket per lookup, as a resolver opens one per getaddrinfo: the
	// socket's making is timed too.
	b.Run("serial-fresh", func(b *testing.B) {
		ds := make([]time.Duration, 0, b.N)
		cpu := meterCPU(b, client.State.ShimPid)
		inNetNS(b, client.State.Pid, func() error {
			for range b.N {
				t0 := time.Now()
				c, err := net.Dial("udp4", server)
				if err != nil {
					return err
				}
				lookup(c, buf)
				c.Close()
				ds = append(ds, time.Since(t0))
			}
			return nil
		})
		cpu(b.N)
		reportLatencies(b, ds)
	})
	b.Run("burst50", func(b *testing.B) {
		cpu := meterCPU(b, client.State.ShimPid)
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
		cpu(len(ds))
		reportLatencies(b, ds)
	})
	// The processes' cases, against the shim's server and the floor.
	for _, c := range []struct {
		name  string
		burst bool
	}{{"burst50procs", true}, {"parallel50procs", false}} {
		b.Run(c.name, func(b *testing.B) {
			askProcesses(b, client.State.Pid, client.State.ShimPid, 53, c.burst)
		})
		b.Run(c.name+"-floor", func(b *testing.B) {
			port, pid := floorResponder(b, client.State.Pid, conns[0], query)
			askProcesses(b, client.State.Pid, pid, port, c.burst)
		})
	}
}

// meterCPU starts metering the CPU time of the server, process pid, and
// of this process (the askers), and returns the function that reports
// both per lookup, for n lookups.
func meterCPU(b *testing.B, pid int) func(n int) {
	selfCPU := func() time.Duration {
		var ru unix.Rusage
		unix.Getrusage(unix.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	s0, c0 := processCPU(pid), selfCPU()
	return func(n int) {
		s1, c1 := processCPU(pid), selfCPU()
		reportCPU(b, s1-s0, c1-c0, n)
	}
}

// processCPU is the CPU time process pid has had, all its threads, kernel
// time included (where delivering an answer to the asker's socket is
// counted).
func processCPU(pid int) time.Duration {
	var sum time.Duration
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		d, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		var ns int64
		fmt.Sscan(string(d), &ns)
		sum += time.Duration(ns)
	}
	return sum
}

func reportCPU(b *testing.B, server, askers time.Duration, n int) {
	b.ReportMetric(float64(server.Nanoseconds())/1e3/float64(n), "server-cpu-us/lookup")
	b.ReportMetric(float64(askers.Nanoseconds())/1e3/float64(n), "askers-cpu-us/lookup")
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

// The asker role of the test binary (BenchmarkDNSLookup/*procs):
// STACK_DNS_ASKER=PID:N:PORT:MODE makes it join process PID's network
// namespace and look up "web" at 127.0.0.11:PORT, timing each lookup in
// nanoseconds. MODE "loop": a byte on stdin starts N lookups one after the
// other, and their times follow on stdout. MODE "burst": N rounds of a
// byte on stdin, one lookup, its time on stdout. Last comes the CPU time
// the asker spent from its first lookup on.
func init() {
	v := os.Getenv("STACK_DNS_ASKER")
	if v == "" {
		return
	}
	var pid, n, port int
	var mode string
	if _, err := fmt.Sscanf(strings.ReplaceAll(v, ":", " "), "%d %d %d %s", &pid, &n, &port, &mode); err != nil {
		os.Exit(2)
	}
	joinNetNS(pid)
	// A blocking socket, and raw system calls on this thread: the asker
	// waits for its answer in a read, as glibc's resolver waits in poll,
	// not in Go's netpoller, whose wake-ups (a thread in epoll_wait
	// handing the goroutine to another) would be most of what is timed.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		os.Exit(5)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 11}}); err != nil {
		os.Exit(5)
	}
	tv := unix.Timeval{Sec: 2}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		os.Exit(5)
	}
	q := new(dns.Msg)
	q.SetQuestion("web.", dns.TypeA)
	query, _ := q.Pack()
	buf := make([]byte, 512)
	rawIO := func(nr uintptr, fd int, b []byte) int {
		for {
			r, _, e := unix.RawSyscall(nr, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			if e == unix.EINTR {
				continue // Go's preemption signal
			}
			if e != 0 || r == 0 {
				os.Exit(6)
			}
			return int(r)
		}
	}
	lookup := func() int64 {
		t0 := time.Now()
		rawIO(unix.SYS_WRITE, fd, query)
		if m := rawIO(unix.SYS_READ, fd, buf); m < 12 || buf[7] != 3 {
			os.Exit(7)
		}
		return int64(time.Since(t0))
	}
	cpu := func() int64 {
		var ru unix.Rusage
		unix.Getrusage(unix.RUSAGE_SELF, &ru)
		return ru.Utime.Nano() + ru.Stime.Nano()
	}
	var go1 [1]byte
	out := make([]int64, n+1)
	if mode == "loop" {
		rawIO(unix.SYS_READ, 0, go1[:])
		c0 := cpu()
		for i := range n {
			out[i] = lookup()
		}
		out[n] = cpu() - c0
		os.Stdout.Write(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 8*n))
	} else {
		rawIO(unix.SYS_READ, 0, go1[:])
		c0 := cpu()
		for i := range n {
			if i > 0 {
				rawIO(unix.SYS_READ, 0, go1[:])
			}
			out[i] = lookup()
			rawIO(unix.SYS_WRITE, 1, unsafe.Slice((*byte)(unsafe.Pointer(&out[i])), 8))
		}
		out[n] = cpu() - c0
	}
	os.Stdout.Write(unsafe.Slice((*byte)(unsafe.Pointer(&out[n])), 8))
	os.Exit(0)
}

// joinNetNS moves the calling goroutine, locked to its thread for good, into
// process pid's network namespace, or exits: for the roles' init functions,
// which run before any test.
func joinNetNS(pid int) {
	runtime.LockOSThread()
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		os.Exit(3)
	}
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		os.Exit(4)
	}
	f.Close()
}

// askProcesses runs 50 asker processes in container pid's namespace
// against the server at 127.0.0.11:port, process server, b.N lookups each,
// and reports their latencies and CPU times. burst: each lookup is a
// round, all 50 askers released at once; otherwise the 50 ask as fast as
// they can, each as soon as it has its last answer.
func askProcesses(b *testing.B, pid, server, port int, burst bool) {
	n := b.N
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	type asker struct {
		cmd     *exec.Cmd
		in, out *os.File
	}
	mode := "loop"
	if burst {
		mode = "burst"
	}
	var askers []asker
	defer func() {
		for _, a := range askers {
			a.in.Close()
			a.out.Close()
			a.cmd.Process.Kill()
			a.cmd.Wait()
		}
	}()
	for range 50 {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), fmt.Sprintf("STACK_DNS_ASKER=%d:%d:%d:%s", pid, n, port, mode), "GOMAXPROCS=1", "GOGC=off")
		inR, inW, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		outR, outW, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stdin, cmd.Stdout = inR, outW
		err = cmd.Start()
		inR.Close()
		outW.Close()
		if err != nil {
			b.Fatal(err)
		}
		askers = append(askers, asker{cmd, inW, outR})
	}
	time.Sleep(200 * time.Millisecond) // all joined and dialled
	read := func(f *os.File, k int) []time.Duration {
		raw := make([]int64, k)
		if _, err := io.ReadFull(f, unsafe.Slice((*byte)(unsafe.Pointer(&raw[0])), 8*k)); err != nil {
			b.Fatalf("asker: %v", err)
		}
		ds := make([]time.Duration, k)
		for i, v := range raw {
			ds[i] = time.Duration(v)
		}
		return ds
	}
	var ds []time.Duration
	s0, t0 := processCPU(server), time.Now()
	if !burst {
		for _, a := range askers {
			a.in.Write([]byte{1})
		}
		for _, a := range askers {
			ds = append(ds, read(a.out, n)...)
		}
	} else {
		for range n {
			for _, a := range askers {
				a.in.Write([]byte{1})
			}
			for _, a := range askers {
				ds = append(ds, read(a.out, 1)...)
			}
		}
	}
	s1, elapsed := processCPU(server), time.Since(t0)
	// Each asker's last word is the CPU time its lookups took.
	var askersCPU time.Duration
	for _, a := range askers {
		askersCPU += read(a.out, 1)[0]
	}
	reportCPU(b, s1-s0, askersCPU, len(ds))
	reportLatencies(b, ds)
	b.ReportMetric(float64(len(ds))/elapsed.Seconds(), "lookups/s")
}

// The floor responder role: STACK_DNS_FLOOR=PID joins PID's network
// namespace, binds 127.0.0.11:0, prints its port, reads the canned answer
// from stdin, and answers every datagram with it (the query's ID copied
// in), one recvfrom and sendto each, raw system calls.
func init() {
	v := os.Getenv("STACK_DNS_FLOOR")
	if v == "" {
		return
	}
	pid, _ := strconv.Atoi(v)
	joinNetNS(pid)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		os.Exit(5)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 11}}); err != nil {
		os.Exit(5)
	}
	sa, _ := unix.Getsockname(fd)
	fmt.Println(sa.(*unix.SockaddrInet4).Port)
	ans, _ := io.ReadAll(os.Stdin)
	buf := make([]byte, 512)
	var from unix.RawSockaddrInet6
	for {
		fl := uint32(unix.SizeofSockaddrInet6)
		r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), 512, 0, uintptr(unsafe.Pointer(&from)), uintptr(unsafe.Pointer(&fl)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 || r < 2 {
			os.Exit(6)
		}
		ans[0], ans[1] = buf[0], buf[1]
		unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&ans[0])), uintptr(len(ans)), 0, uintptr(unsafe.Pointer(&from)), uintptr(fl))
	}
}

// floorResponder starts the floor responder in container pid's network
// namespace, answering with what conn gets for query, and returns its port
// and process ID.
func floorResponder(b *testing.B, pid int, conn net.Conn, query []byte) (port, responder int) {
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	conn.Write(query)
	ans := make([]byte, 512)
	n, err := conn.Read(ans)
	if err != nil {
		b.Fatal(err)
	}
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), fmt.Sprintf("STACK_DNS_FLOOR=%d", pid), "GOMAXPROCS=1", "GOGC=off")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	in.Write(ans[:n])
	in.Close()
	if _, err := fmt.Fscan(out, &port); err != nil {
		b.Fatal(err)
	}
	return port, cmd.Process.Pid
}
