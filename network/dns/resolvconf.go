package dns

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// ResolvConf is what a resolv.conf file says (resolv.conf(5)).
type ResolvConf struct {
	// Nameservers are the valid nameserver addresses, in order.
	Nameservers []string
	// Search is the last search (or domain) line's domains.
	Search []string
	// Options are the options of every options line, in order.
	Options []string
}

// systemdResolvConf is the file in which systemd-resolved lists the
// servers that its stub, 127.0.0.53, forwards to.
const systemdResolvConf = "/run/systemd/resolve/resolv.conf"

// ReadResolvConf reads the host's resolver config at path (normally
// /etc/resolv.conf). As Docker does (moby resolvconf.Path), when the only
// nameserver is systemd-resolved's stub 127.0.0.53 and
// /run/systemd/resolve/resolv.conf can be read, it returns that file's
// config instead.
func ReadResolvConf(path string) (ResolvConf, error) {
	return readResolvConf(path, systemdResolvConf)
}

func readResolvConf(path, systemdPath string) (ResolvConf, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return ResolvConf{}, fmt.Errorf("read resolv.conf: %w", err)
	}
	rc := parseResolvConf(data)
	if len(rc.Nameservers) == 1 && rc.Nameservers[0] == "127.0.0.53" {
		if data, err := os.ReadFile(systemdPath); err == nil {
			return parseResolvConf(data), nil
		}
	}
	return rc, nil
}

func parseResolvConf(data []byte) ResolvConf {
	var rc ResolvConf
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0][0] == '#' || f[0][0] == ';' {
			continue
		}
		switch f[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(f[1]); err == nil {
				rc.Nameservers = append(rc.Nameservers, a.String())
			}
		case "search", "domain": // domain is the obsolete name of search; the last line wins
			rc.Search = f[1:]
		case "options":
			rc.Options = append(rc.Options, f[1:]...)
		}
	}
	return rc
}

// ContainerResolvConf renders the /etc/resolv.conf of a container that
// uses the embedded server, as Docker does (moby
// resolvconf.TransformForIntNS): the only nameserver is 127.0.0.11; the
// search domains are dnsSearch if given (compose dns_search; "." means
// none), else the host's; the options are dnsOpt if given (compose
// dns_opt), else the host's, plus ndots:0 unless they set a valid ndots.
//
// ndots:0 makes the resolver try a name as given before the search
// domains, so a service name is answered by the first query.
func ContainerResolvConf(host ResolvConf, dnsSearch, dnsOpt []string) []byte {
	search := host.Search
	if len(dnsSearch) > 0 {
		search = nil
		for _, d := range dnsSearch {
			if d != "." {
				search = append(search, d)
			}
		}
	}
	opts := host.Options
	if len(dnsOpt) > 0 {
		opts = dnsOpt
	}
	var kept []string
	hasNdots := false
	for _, o := range opts {
		if v, ok := strings.CutPrefix(o, "ndots:"); ok {
			if n, err := strconv.Atoi(v); err != nil || n < 0 {
				continue // invalid: replaced by ndots:0, as Docker does
			}
			hasNdots = true
		}
		kept = append(kept, o)
	}
	if !hasNdots {
		kept = append(kept, "ndots:0")
	}
	var b bytes.Buffer
	b.WriteString("nameserver 127.0.0.11\n")
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	fmt.Fprintf(&b, "options %s\n", strings.Join(kept, " "))
	return b.Bytes()
}

// Upstreams are the servers a container forwards to given the host's
// config: its nameservers, or Docker's fallback, Google's public servers,
// when it has none.
func (rc ResolvConf) Upstreams() []string {
	if len(rc.Nameservers) == 0 {
		return []string{"8.8.8.8", "8.8.4.4"}
	}
	return rc.Nameservers
}
