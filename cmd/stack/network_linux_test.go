package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"

	"stack/network/link"
)

// These tests run in the private network namespace of the test run (make
// test-integration): the "host" they publish ports on is that namespace,
// and the "outside world" a second namespace joined to it by a veth.

// webShell serves "hello from HOSTNAME" on port 80 with busybox httpd.
const webShell = "mkdir -p /www && echo hello from $(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"

const webCommand = `["sh", "-c", "` + webShell + `"]`

func (r runner) execOut(t *testing.T, service string, args ...string) (string, string, int) {
	t.Helper()
	return r(append([]string{"exec", "-T", service}, args...)...)
}

// inspectNet is what the tests read of `container inspect`.
type inspectNet struct {
	State           struct{ Pid int }
	NetworkSettings struct {
		Networks map[string]struct{ IPAddress string }
		Ports    map[string][]struct{ HostIp, HostPort string }
	}
}

func (c *cli) inspectNet(name string) inspectNet {
	c.t.Helper()
	var info []inspectNet
	if err := json.Unmarshal([]byte(c.ok("container", "inspect", name)), &info); err != nil || len(info) != 1 {
		c.t.Fatalf("inspect %s: %v", name, err)
	}
	return info[0]
}

func (c *cli) ipOf(name, network string) string {
	c.t.Helper()
	ip := c.inspectNet(name).NetworkSettings.Networks[network].IPAddress
	if ip == "" {
		c.t.Fatalf("%s has no address on %s", name, network)
	}
	return ip
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	cl := http.Client{Timeout: 5 * time.Second}
	var lastErr error
	for range 50 { // the server may still be starting
		resp, err := cl.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return ""
}

// outside makes a namespace that plays the world outside the machine: a
// veth joins it to the test's namespace (198.51.100.1 here, .2 there), and
// it has no route to anything else, so a container reaches it only if its
// traffic is masqueraded. It serves "outside" over HTTP on port 8080.
func outside(t *testing.T) (host, remote string) {
	t.Helper()
	ns, err := link.NewNetNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	la := netlink.NewLinkAttrs()
	la.Name = "stktest-out"
	veth := &netlink.Veth{LinkAttrs: la, PeerName: "stktest-peer", PeerNamespace: netlink.NsFd(int(ns.Fd()))}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlink.LinkDel(veth) })
	addr, _ := netlink.ParseAddr("198.51.100.1/24")
	if err := netlink.AddrAdd(veth, addr); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	err = link.Do(int(ns.Fd()), func() error {
		peer, err := netlink.LinkByName("stktest-peer")
		if err != nil {
			return err
		}
		a, _ := netlink.ParseAddr("198.51.100.2/24")
		if err := netlink.AddrAdd(peer, a); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(peer); err != nil {
			return err
		}
		lo, _ := netlink.LinkByName("lo")
		netlink.LinkSetUp(lo)
		ln, err = net.Listen("tcp4", "198.51.100.2:8080")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "outside, you are %s", strings.Split(r.RemoteAddr, ":")[0])
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "198.51.100.1", "198.51.100.2"
}

// fakeUpstream serves name -> addr (A) on 127.0.0.1:53 of the test's
// namespace, and returns how many queries it answered so far.
func fakeUpstream(t *testing.T, name, addr string) func() int {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:53")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		n.Add(1)
		m := new(dns.Msg)
		m.SetReply(q)
		switch {
		case len(q.Question) != 1 || !strings.EqualFold(q.Question[0].Name, name):
			m.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeA:
			rr, _ := dns.NewRR(name + " 60 IN A " + addr)
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return func() int { return int(n.Load()) }
}

// inNetNS runs fn in the network namespace of process pid (a container's
// init): sockets it makes stay there.
func inNetNS(t *testing.T, pid int, fn func() error) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := link.Do(int(f.Fd()), fn); err != nil {
		t.Fatal(err)
	}
}

// TestNetworkCompose: name resolution, isolation, published ports (TCP,
// UDP, loopback, the host's address, ephemeral), NAT to the outside and
// internal networks, on one project.
func TestNetworkCompose(t *testing.T) {
	c := newCLI(t)
	hostAddr, remote := outside(t)
	_, run := c.project(`
name: net
services:
  web:
    image: busybox:cli
    command: ` + webCommand + `
    networks:
      default:
        aliases: [www]
    ports: ["18080:80", "127.0.0.1:18081:80"]
    expose: ["9000"]
  eph:
    image: busybox:cli
    command: ` + webCommand + `
    ports: ["80"]
  dgram:
    image: busybox:cli
    command: ["sleep", "1000"]
    ports: ["15353:5353/udp"]
  client:
    image: busybox:cli
    command: ["sleep", "1000"]
    networks: [default, back]
    hostname: cli
    domainname: example.test
    extra_hosts: ["gw:host-gateway", "static.test:192.0.2.7"]
    dns_search: [corp.test]
    dns_opt: [timeout:2]
    links: ["web:webby"]
  fwd:
    image: busybox:cli
    command: ["sleep", "1000"]
    dns: ["127.0.0.1"]
  other:
    image: busybox:cli
    command: ` + webCommand + `
    networks: [back]
  priv:
    image: busybox:cli
    command: ["sleep", "1000"]
    networks: [internal]
  sidecar:
    image: busybox:cli
    command: ["sleep", "1000"]
    network_mode: service:web
  hostnet:
    image: busybox:cli
    command: ["sleep", "1000"]
    network_mode: host
  nonet:
    image: busybox:cli
    command: ["sleep", "1000"]
    network_mode: none
networks:
  back: {}
  internal:
    internal: true
`)
	upstream := fakeUpstream(t, "far.example.", "192.0.2.99")
	run.must(t, "up", "-d")
	defer run.must(t, "down")

	// Other names go upstream (here the service's dns:, a server of the
	// test's own on the host's loopback, reached from the host side).
	if out, errOut, code := run.execOut(t, "fwd", "nslookup", "far.example"); code != 0 || !strings.Contains(out, "192.0.2.99") {
		t.Errorf("fwd: nslookup far.example = %q %q exit %d, want the upstream's answer", out, errOut, code)
	}
	if upstream() == 0 {
		t.Errorf("the upstream saw no query")
	}
	hosts, _, _ := run.execOut(t, "client", "cat", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname")
	for _, want := range []string{"192.0.2.7\tstatic.test", "\tgw\n", "cli.example.test cli", "nameserver 127.0.0.11", "search corp.test", "timeout:2", "ndots:0"} {
		if !strings.Contains(hosts, want) {
			t.Errorf("client's hosts, resolv.conf, hostname lack %q:\n%s", want, hosts)
		}
	}

	// Names: the service, the alias, the container name, on a shared
	// network; nothing of a network the asker is not on.
	for _, name := range []string{"web", "www", "net-web-1", "webby"} {
		out, errOut, code := run.execOut(t, "client", "timeout", "5", "wget", "-qO-", "http://"+name+"/")
		if code != 0 || !strings.HasPrefix(out, "hello from") {
			t.Errorf("client: wget http://%s/ = %q, %q, exit %d", name, out, errOut, code)
		}
	}
	if out, _, code := run.execOut(t, "client", "timeout", "5", "wget", "-qO-", "http://other/"); code != 0 || !strings.HasPrefix(out, "hello from") {
		t.Errorf("client (on default and back) cannot reach other on back: %q exit %d", out, code)
	}
	if _, _, code := run.execOut(t, "other", "nslookup", "web"); code == 0 {
		t.Errorf("other (on back only) resolves web")
	}
	webIP := c.ipOf("net-web-1", "net_default")
	if _, _, code := run.execOut(t, "other", "timeout", "2", "wget", "-qO-", "http://"+webIP+"/"); code == 0 {
		t.Errorf("other (on back only) connects to web's address %s on another network", webIP)
	}

	// Published ports from the host: 127.0.0.1 and the host's address;
	// a binding to 127.0.0.1 only answers there.
	for _, url := range []string{"http://127.0.0.1:18080/", "http://" + hostAddr + ":18080/", "http://127.0.0.1:18081/"} {
		if got := httpGet(t, url); !strings.HasPrefix(got, "hello from") {
			t.Errorf("GET %s = %q", url, got)
		}
	}
	if conn, err := net.DialTimeout("tcp", hostAddr+":18081", time.Second); err == nil {
		conn.Close()
		t.Errorf("127.0.0.1:18081 answers on %s too", hostAddr)
	}
	// ... and from another container, through the host's address.
	if out, _, code := run.execOut(t, "other", "timeout", "5", "wget", "-qO-", "http://"+hostAddr+":18080/"); code != 0 || !strings.HasPrefix(out, "hello from") {
		t.Errorf("other: published port through the host address: %q exit %d", out, code)
	}
	if out, _, code := run.execOut(t, "web", "timeout", "5", "wget", "-qO-", "http://"+hostAddr+":18080/"); code != 0 || !strings.HasPrefix(out, "hello from") {
		t.Errorf("web: its own published port through the host address: %q exit %d", out, code)
	}
	if got := strings.TrimSpace(run.must(t, "port", "web", "80")); got != "0.0.0.0:18080" {
		t.Errorf("port web 80 = %q", got)
	}
	ephAddr := strings.TrimSpace(run.must(t, "port", "eph", "80"))
	if _, port, ok := strings.Cut(ephAddr, ":"); !ok || port == "0" {
		t.Errorf("port eph 80 = %q, want an ephemeral port", ephAddr)
	} else if got := httpGet(t, "http://127.0.0.1:"+port+"/"); !strings.HasPrefix(got, "hello from") {
		t.Errorf("ephemeral port %s: %q", port, got)
	}
	psOut := run.must(t, "ps", "--format", "{{.Service}} {{.Ports}}", "web")
	if !strings.Contains(psOut, "0.0.0.0:18080->80/tcp") || !strings.Contains(psOut, "127.0.0.1:18081->80/tcp") || !strings.Contains(psOut, "9000/tcp") {
		t.Errorf("ps ports of web = %q", psOut)
	}
	var row struct{ Publishers []portPublisher }
	if err := json.Unmarshal([]byte(run.must(t, "ps", "--format", "json", "web")), &row); err != nil || len(row.Publishers) != 3 {
		t.Errorf("ps --format json Publishers = %+v (%v)", row.Publishers, err)
	}

	// UDP: a server of the test's own inside dgram's namespace.
	var udp net.PacketConn
	inNetNS(t, c.inspectNet("net-dgram-1").State.Pid, func() (err error) {
		udp, err = net.ListenPacket("udp4", "0.0.0.0:5353")
		return err
	})
	defer udp.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := udp.ReadFrom(buf)
			if err != nil {
				return
			}
			udp.WriteTo(append([]byte("echo "), buf[:n]...), from)
		}
	}()
	for _, addr := range []string{"127.0.0.1:15353", hostAddr + ":15353"} {
		conn, err := net.Dial("udp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		conn.Write([]byte("ping"))
		buf := make([]byte, 64)
		n, err := conn.Read(buf)
		conn.Close()
		if err != nil || string(buf[:n]) != "echo ping" {
			t.Errorf("UDP %s: %q, %v", addr, buf[:n], err)
		}
	}

	// NAT to the outside; internal networks have no way out.
	out, errOut, code := run.execOut(t, "client", "timeout", "5", "wget", "-qO-", "http://"+remote+":8080/")
	if code != 0 || out != "outside, you are "+hostAddr {
		t.Errorf("client to the outside: %q, %q, exit %d (want masqueraded as %s)", out, errOut, code, hostAddr)
	}
	if out, _, _ := run.execOut(t, "priv", "ip", "route"); strings.Contains(out, "default") {
		t.Errorf("a container on an internal network has a default route:\n%s", out)
	}
	if _, _, code := run.execOut(t, "priv", "timeout", "2", "wget", "-qO-", "http://"+remote+":8080/"); code == 0 {
		t.Errorf("a container on an internal network reached the outside")
	}

	// Network modes.
	if out, _, code := run.execOut(t, "sidecar", "timeout", "5", "wget", "-qO-", "http://127.0.0.1/"); code != 0 || !strings.HasPrefix(out, "hello from") {
		t.Errorf("sidecar (service:web) on 127.0.0.1:80: %q exit %d", out, code)
	}
	if out, _, _ := run.execOut(t, "hostnet", "ip", "addr"); !strings.Contains(out, hostAddr) {
		t.Errorf("network_mode host does not see the host's addresses:\n%s", out)
	}
	if out, _, _ := run.execOut(t, "nonet", "ip", "-o", "link"); strings.Count(out, "\n") != 1 || !strings.Contains(out, "lo:") {
		t.Errorf("network_mode none has links besides lo:\n%s", out)
	}
}

// TestNetworkReplicasAndChanges: a service name answers with every
// replica, connections spread over them, and records follow scale changes
// without restarting anyone.
func TestNetworkReplicasAndChanges(t *testing.T) {
	c := newCLI(t)
	_, run := c.project(`
name: rr
services:
  web:
    image: busybox:cli
    command: ` + webCommand + `
    scale: 3
  client:
    image: busybox:cli
    command: ["sleep", "1000"]
`)
	run.must(t, "up", "-d")
	defer run.must(t, "down")
	addrs := func() map[string]bool {
		out, errOut, code := run.execOut(t, "client", "nslookup", "web")
		if code != 0 {
			t.Fatalf("nslookup web: %s %s", out, errOut)
		}
		got := map[string]bool{}
		_, answers, _ := strings.Cut(out, "Name:")
		for _, line := range strings.Split(answers, "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "Address:" {
				got[f[1]] = true
			}
		}
		return got
	}
	want := map[string]bool{}
	for i := 1; i <= 3; i++ {
		want[c.ipOf("rr-web-"+strconv.Itoa(i), "rr_default")] = true
	}
	if got := addrs(); len(got) != 3 || !mapsEqual(got, want) {
		t.Errorf("web resolves to %v, want the 3 replicas %v", got, want)
	}
	// Each answer lists the replicas in a new order. (A client that
	// connects through glibc's getaddrinfo re-sorts them by RFC 6724, the
	// longest prefix shared with its own address first, so busybox wget
	// does not spread; a client that takes the first answer does.)
	first := map[string]bool{}
	for range 12 {
		out, _, code := run.execOut(t, "client", "nslookup", "web")
		_, answers, _ := strings.Cut(out, "Name:")
		if f := strings.Fields(answers); code == 0 && len(f) >= 3 && f[1] == "Address:" {
			first[f[2]] = true
		}
	}
	if len(first) < 2 {
		t.Errorf("12 lookups of web all answered %v first", first)
	}

	clientStarted := c.startedAt("rr-client-1")
	run.must(t, "up", "-d", "--scale", "web=2")
	delete(want, c.ipOfGone(t, "rr-web-3", want))
	if got := addrs(); !mapsEqual(got, want) {
		t.Errorf("after scaling to 2, web resolves to %v, want %v", got, want)
	}
	run.must(t, "up", "-d", "--scale", "web=3")
	want[c.ipOf("rr-web-3", "rr_default")] = true
	if got := addrs(); !mapsEqual(got, want) {
		t.Errorf("after scaling back to 3, web resolves to %v, want %v", got, want)
	}
	if !c.startedAt("rr-client-1").Equal(clientStarted) {
		t.Errorf("the client was restarted by scaling web")
	}
}

// ipOfGone returns the address in want that no remaining replica has.
func (c *cli) ipOfGone(t *testing.T, name string, want map[string]bool) string {
	t.Helper()
	for ip := range want {
		found := false
		for i := 1; i <= 2; i++ {
			if c.ipOf(fmt.Sprintf("rr-web-%d", i), "rr_default") == ip {
				found = true
			}
		}
		if !found {
			return ip
		}
	}
	t.Fatalf("no address of %s left", name)
	return ""
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// TestNetworkProjectsApart: two projects get different subnets, down of
// one leaves the other working, and leaves nothing of its own.
func TestNetworkProjectsApart(t *testing.T) {
	c := newCLI(t)
	yaml := func(name string) string {
		return `
name: ` + name + `
services:
  web:
    image: busybox:cli
    command: ` + webCommand + `
  client:
    image: busybox:cli
    command: ["sleep", "1000"]
`
	}
	_, a := c.project(yaml("pa"))
	_, b := c.project(yaml("pb"))
	a.must(t, "up", "-d")
	b.must(t, "up", "-d")
	defer b.must(t, "down")
	subnet := func(name string) string {
		var nets []struct {
			IPAM struct{ Config []struct{ Subnet string } }
		}
		if err := json.Unmarshal([]byte(c.ok("network", "inspect", name)), &nets); err != nil || len(nets) != 1 {
			t.Fatalf("network inspect %s: %v", name, err)
		}
		return nets[0].IPAM.Config[0].Subnet
	}
	sa, sb := subnet("pa_default"), subnet("pb_default")
	pa, pb := netip.MustParsePrefix(sa), netip.MustParsePrefix(sb)
	if pa.Overlaps(pb) {
		t.Errorf("two projects' networks overlap: %s and %s", sa, sb)
	}
	bridges := func() string {
		out, _ := netlink.LinkList()
		var names []string
		for _, l := range out {
			names = append(names, l.Attrs().Name)
		}
		return strings.Join(names, " ")
	}
	before := bridges()
	a.must(t, "down")
	if out, _, code := b.execOut(t, "client", "timeout", "5", "wget", "-qO-", "http://web/"); code != 0 || !strings.HasPrefix(out, "hello from") {
		t.Errorf("after down of pa, pb's client cannot reach its web: %q exit %d", out, code)
	}
	// The veths go with their namespaces, which the kernel tears down
	// asynchronously.
	var after string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		after = bridges()
		if strings.Count(after, "stk-") == strings.Count(before, "stk-")-1 && strings.Count(after, "veth") == strings.Count(before, "veth")-2 {
			break
		}
	}
	if strings.Count(after, "stk-") != strings.Count(before, "stk-")-1 || strings.Count(after, "veth") != strings.Count(before, "veth")-2 {
		t.Errorf("down of pa left links behind:\nbefore %s\nafter  %s", before, after)
	}
	if _, _, code := c.exec("network", "inspect", "pa_default"); code == 0 {
		t.Errorf("pa_default still exists after down")
	}
}

// TestNetworkBadInput: a taken host port, an overlapping subnet, an
// unknown external network and a bad port fail clearly and leave nothing
// half made.
func TestNetworkBadInput(t *testing.T) {
	c := newCLI(t)
	outside(t) // 198.51.100.0/24 is a route of the host now
	ln, err := net.Listen("tcp4", "127.0.0.1:18090")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, run := c.project(`
name: taken
services:
  web:
    image: busybox:cli
    command: ["sleep", "1000"]
    ports: ["18090:80"]
`)
	_, errOut, code := run("up", "-d")
	if code == 0 || !strings.Contains(errOut, "web") || !strings.Contains(errOut, "18090") {
		t.Errorf("up with a taken port: exit %d, %s", code, errOut)
	}
	run.must(t, "down")

	c.ok("network", "create", "--subnet", "10.123.0.0/16", "mine")
	defer c.ok("network", "rm", "mine")
	cases := []struct{ name, yaml, want string }{
		{"overlap", `
services:
  web:
    image: busybox:cli
    networks: [n]
networks:
  n:
    ipam:
      config: [{subnet: 10.123.4.0/24}]
`, "overlaps network \"mine\""},
		{"hostroute", `
services:
  web:
    image: busybox:cli
    networks: [n]
networks:
  n:
    ipam:
      config: [{subnet: 198.51.100.0/25}]
`, "198.51.100.0/24"},
		{"external", `
services:
  web:
    image: busybox:cli
    networks: [n]
networks:
  n:
    external: true
    name: nowhere
`, "network nowhere declared as external, but could not be found"},
		{"port", `
services:
  web:
    image: busybox:cli
    ports: ["80:80:80"]
`, "port"},
	}
	for _, tc := range cases {
		_, run := c.project("name: bad" + tc.name + "\n" + tc.yaml)
		_, errOut, code := run("up", "-d")
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: up: exit %d, stderr %q, want %q", tc.name, code, errOut, tc.want)
		}
		if out := c.ok("container", "ls", "-a", "--format", "{{.Names}}"); strings.Contains(out, "bad"+tc.name) {
			t.Errorf("%s: containers left: %s", tc.name, out)
		}
		run("down")
	}
}

// TestNetworkCLI: `network create/ls/inspect/connect/disconnect/rm` and
// `container run --network` with a container name that resolves.
func TestNetworkCLI(t *testing.T) {
	c := newCLI(t)
	c.ok("network", "create", "--label", "a=b", "front")
	if out := c.ok("network", "ls", "--format", "{{.Name}} {{.Driver}}", "--filter", "label=a=b"); strings.TrimSpace(out) != "front bridge" {
		t.Errorf("network ls = %q", out)
	}
	c.ok("container", "run", "-d", "--name", "srv", "--network", "front", "busybox:cli", "sh", "-c", webShell)
	c.ok("container", "run", "-d", "--name", "cl", "--network", "front", "busybox:cli", "sleep", "1000")
	if out, errOut, code := c.exec("container", "exec", "cl", "timeout", "5", "wget", "-qO-", "http://srv/"); code != 0 || !strings.HasPrefix(out, "hello from") {
		t.Errorf("cl: wget http://srv/ = %q %q exit %d", out, errOut, code)
	}
	// A rename shows in DNS at once; the other container name goes.
	c.ok("container", "rename", "srv", "srv2")
	if out, errOut, code := c.exec("container", "exec", "cl", "timeout", "5", "wget", "-qO-", "http://srv2/"); code != 0 || !strings.HasPrefix(out, "hello from") {
		t.Errorf("cl: wget http://srv2/ after rename = %q %q exit %d", out, errOut, code)
	}
	if _, _, code := c.exec("container", "exec", "cl", "nslookup", "srv"); code == 0 {
		t.Errorf("cl still resolves srv after its rename to srv2")
	}
	c.ok("container", "rename", "srv2", "srv")
	if _, errOut, code := c.exec("network", "rm", "front"); code == 0 || !strings.Contains(errOut, "active endpoints") {
		t.Errorf("network rm of a used network: exit %d, %s", code, errOut)
	}
	c.ok("network", "create", "back")
	c.ok("container", "run", "-d", "--name", "lonely", "--network", "back", "busybox:cli", "sleep", "1000")
	if _, _, code := c.exec("container", "exec", "lonely", "nslookup", "srv"); code == 0 {
		t.Errorf("lonely resolves srv before connect")
	}
	c.ok("network", "connect", "--alias", "extra", "front", "lonely")
	if out, _, code := c.exec("container", "exec", "lonely", "timeout", "5", "wget", "-qO-", "http://srv/"); code != 0 || !strings.HasPrefix(out, "hello from") {
		t.Errorf("after connect: lonely -> srv %q exit %d", out, code)
	}
	if _, _, code := c.exec("container", "exec", "cl", "nslookup", "extra"); code != 0 {
		t.Errorf("cl does not resolve lonely's alias after connect")
	}
	c.ok("network", "disconnect", "front", "lonely")
	if _, _, code := c.exec("container", "exec", "lonely", "timeout", "2", "wget", "-qO-", "http://srv/"); code == 0 {
		t.Errorf("after disconnect lonely still reaches srv")
	}
	c.ok("container", "rm", "-f", "srv", "cl", "lonely")
	c.ok("network", "rm", "front", "back")
	if out := c.ok("network", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("networks left: %q", out)
	}
}
