package engine_test

import (
	"archive/tar"
	"context"
	"io"
	"runtime"
	"testing"
	"time"

	"stack/engine"
)

// peakHeap samples the heap while fn runs and returns its peak in MiB.
func peakHeap(fn func()) float64 {
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var max uint64
		var ms runtime.MemStats
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			max = maxU(max, ms.HeapInuse)
			select {
			case <-done:
				peak <- max
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	return float64(<-peak) / (1 << 20)
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// BenchmarkCopy100MB: stack cp of a 100 MiB file into a running
// container and back out, as tar streams (the CLI adds only the host
// side's extraction).
func BenchmarkCopy100MB(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	c, err := e.Create(ctx, engine.CreateOptions{Image: busybox, Cmd: []string{"sleep", "1000"}})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(ctx, c.ID()); err != nil {
		b.Fatal(err)
	}
	defer e.Remove(ctx, c.ID(), true)
	const size = 100 << 20
	chunk := make([]byte, 1<<20)
	var in, out time.Duration
	var peakIn, peakOut float64
	b.SetBytes(2 * size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pr, pw := io.Pipe()
		go func() {
			tw := tar.NewWriter(pw)
			tw.WriteHeader(&tar.Header{Name: "big", Mode: 0o644, Size: size, ModTime: time.Unix(1700000000, 0)})
			for range size / len(chunk) {
				tw.Write(chunk)
			}
			pw.CloseWithError(tw.Close())
		}()
		t0 := time.Now()
		peakIn = max(peakIn, peakHeap(func() {
			if err := e.CopyTo(ctx, c.ID(), "/tmp", pr); err != nil {
				b.Fatal(err)
			}
		}))
		t1 := time.Now()
		peakOut = max(peakOut, peakHeap(func() {
			if err := e.CopyFrom(ctx, c.ID(), "/tmp/big", io.Discard, false); err != nil {
				b.Fatal(err)
			}
		}))
		in, out = in+t1.Sub(t0), out+time.Since(t1)
	}
	b.ReportMetric(float64(in.Milliseconds())/float64(b.N), "in-ms")
	b.ReportMetric(float64(out.Milliseconds())/float64(b.N), "out-ms")
	b.ReportMetric(peakIn, "in-peak-heap-MiB")
	b.ReportMetric(peakOut, "out-peak-heap-MiB")
}
