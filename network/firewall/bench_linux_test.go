package firewall

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// BenchmarkDNSRedirect: a UDP round trip to 127.0.0.11:53 in a namespace
// whose server listens on another port: straight to that port with no
// table ("none"), through Docker's DNAT and SNAT ("nat", conntrack
// following every flow), and through the stateless rewrite dnsTable
// installs ("stateless"). "reuse" sends every query from one socket;
// "fresh" opens a socket per query, as a resolver does per lookup, which
// under NAT is a conntrack entry made, confirmed and left to expire.
//
// Both ends are raw system calls on blocking sockets, so that what differs
// is the kernel's path.
func BenchmarkDNSRedirect(b *testing.B) {
	for _, red := range []string{"none", "nat", "stateless"} {
		for _, mode := range []string{"reuse", "fresh"} {
			b.Run(red+"/"+mode, func(b *testing.B) {
				requireRoot(b)
				ns := newNetNS(b)
				var srv int
				mustIn(b, ns, func() error {
					var err error
					srv, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
					if err != nil {
						return err
					}
					return unix.Bind(srv, &unix.SockaddrInet4{Addr: dnsAddr.As4()})
				})
				sa, err := unix.Getsockname(srv)
				if err != nil {
					b.Fatal(err)
				}
				port := uint16(sa.(*unix.SockaddrInet4).Port)
				dst := port
				switch red {
				case "nat":
					err = install(newConn(int(ns.Fd())), dockerDNSTable(port, port))
					dst = 53
				case "stateless":
					err = SetDNSRedirect(int(ns.Fd()), port, port)
					dst = 53
				}
				if err != nil {
					b.Fatal(err)
				}
				go echo(srv)
				defer unix.Close(srv) // ends echo
				b.ResetTimer()
				mustIn(b, ns, func() error { return ask(b.N, dst, mode == "fresh") })
			})
		}
	}
}

// echo sends every datagram on fd back to its sender until fd is closed.
func echo(fd int) {
	buf := make([]byte, 512)
	for {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		unix.Sendto(fd, buf[:n], 0, from)
	}
}

// ask makes n round trips to 127.0.0.11:port, from one socket or from a
// socket each.
func ask(n int, port uint16, fresh bool) error {
	dial := func() (int, error) {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(port), Addr: dnsAddr.As4()}); err != nil {
			unix.Close(fd)
			return -1, err
		}
		tv := unix.Timeval{Sec: 2}
		return fd, unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	}
	q, buf := make([]byte, 32), make([]byte, 512)
	fd := -1
	for i := range n {
		if fd < 0 {
			var err error
			if fd, err = dial(); err != nil {
				return err
			}
		}
		if _, err := unix.Write(fd, q); err != nil {
			return err
		}
		for {
			_, err := unix.Read(fd, buf)
			if err == nil {
				break
			}
			if err != unix.EINTR { // Go's preemption signal, with SO_RCVTIMEO set
				return fmt.Errorf("round trip %d: %w", i, err)
			}
		}
		if fresh {
			unix.Close(fd)
			fd = -1
		}
	}
	if fd >= 0 {
		unix.Close(fd)
	}
	return nil
}

// dockerDNSTable is the redirect as Docker makes it
// (moby:libnetwork/resolver_unix.go, setupIPTable), with conntrack's NAT,
// which dnsTable replaced: the reference BenchmarkDNSRedirect measures it
// against.
func dockerDNSTable(udpPort, tcpPort uint16) *table {
	return &table{
		name: dnsTableName,
		chains: []chain{
			natChain("output", nftables.ChainHookOutput,
				rule{ipDaddr(dnsAddr), port("udp", "dport", 53), dnat(dnsAddr, udpPort)},
				rule{ipDaddr(dnsAddr), port("tcp", "dport", 53), dnat(dnsAddr, tcpPort)},
			),
			natChain("postrouting", nftables.ChainHookPostrouting,
				rule{ipSaddr(netip.PrefixFrom(dnsAddr, 32)), port("udp", "sport", udpPort), snatPort(53)},
				rule{ipSaddr(netip.PrefixFrom(dnsAddr, 32)), port("tcp", "sport", tcpPort), snatPort(53)},
			),
		},
	}
}

// snatPort rewrites the source port only, keeping the address
// (`snat to :53`).
func snatPort(port uint16) stmt {
	return stmt{
		text: fmt.Sprintf("snat to :%d", port),
		exprs: []expr.Any{
			&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
			&expr.NAT{
				Type:        expr.NATTypeSourceNAT,
				Family:      unix.NFPROTO_IPV4,
				RegProtoMin: 1,
				RegProtoMax: 1,
				Specified:   true,
			},
		},
	}
}
