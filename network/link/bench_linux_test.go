package link_test

import (
	"net/netip"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"stack/engine/enginetest"
	"stack/network/link"
)

// reportLatency adds p50 and p99 of ds, in microseconds, as name-p50-µs
// and name-p99-µs.
func reportLatency(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		return float64(ds[int(q*float64(len(ds)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.50), name+"-p50-µs")
	b.ReportMetric(at(0.99), name+"-p99-µs")
}

// BenchmarkAttach times Attach alone, per container: an op is one
// attach (eth0 with address, MAC and default route) into a namespace
// made beforehand, untimed, and the detach after it is timed apart.
// "reuse" attaches again and again into one namespace; "fresh" gives
// every attach a new namespace, as containers get.
func BenchmarkAttach(b *testing.B) {
	enginetest.RequireRoot(b)
	for _, fresh := range []bool{false, true} {
		name := "reuse"
		if fresh {
			name = "fresh"
		}
		b.Run(name, func(b *testing.B) {
			host := newNS(b)
			br := link.Bridge{Name: "stk-bench", Gateway: netip.MustParsePrefix("10.200.0.1/16"), MTU: 1500}
			ensure(b, host, br)
			ctr := newNS(b)
			var attach, detach []time.Duration
			b.ResetTimer()
			do(b, host, func() error {
				for i := 0; b.Loop(); i++ {
					b.StopTimer()
					var f *os.File
					if fresh {
						var err error
						if f, err = link.NewNetNS(); err != nil {
							return err
						}
						ctr = int(f.Fd())
					}
					ep := link.Endpoint{
						HostName: "vb" + strconv.Itoa(i),
						IfName:   "eth0",
						Bridge:   br.Name,
						MTU:      1500,
						Addr:     netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 200, byte(1 + i/250%250), byte(2 + i%250)}), 16),
						Gateway:  br.Gateway.Addr(),
						MAC:      []byte{0x02, 0x42, 10, 200, byte(i >> 8), byte(i)},
					}
					b.StartTimer()
					t0 := time.Now()
					if err := link.Attach(ctr, ep); err != nil {
						return err
					}
					attach = append(attach, time.Since(t0))
					b.StopTimer()
					t0 = time.Now()
					if err := link.Detach(ep.HostName); err != nil {
						return err
					}
					detach = append(detach, time.Since(t0))
					if f != nil {
						f.Close()
					}
					b.StartTimer()
				}
				return nil
			})
			reportLatency(b, "attach", attach)
			reportLatency(b, "detach", detach)
		})
	}
}

// BenchmarkNewNetNS times creating a network namespace and closing it
// (the kernel frees it later, asynchronously).
func BenchmarkNewNetNS(b *testing.B) {
	enginetest.RequireRoot(b)
	for b.Loop() {
		f, err := link.NewNetNS()
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkDo times a round trip into a namespace and back.
func BenchmarkDo(b *testing.B) {
	enginetest.RequireRoot(b)
	ns := newNS(b)
	for b.Loop() {
		if err := link.Do(ns, func() error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnsureBridgeExisting times the common case: the bridge is
// there and right.
func BenchmarkEnsureBridgeExisting(b *testing.B) {
	enginetest.RequireRoot(b)
	host := newNS(b)
	br := link.Bridge{Name: "stk-bench", Gateway: netip.MustParsePrefix("10.200.0.1/16"), MTU: 1500}
	ensure(b, host, br)
	do(b, host, func() error {
		for b.Loop() {
			if err := link.EnsureBridge(br); err != nil {
				return err
			}
		}
		return nil
	})
}
