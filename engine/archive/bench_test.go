package archive_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"stack/engine/archive"
)

const benchTotal = 100 << 20 // 100 MiB of content per archive

// benchTree fills dir/tree with benchTotal bytes: one file, or files of
// size each in directories of 100.
func benchTree(b *testing.B, dir string, size int) {
	b.Helper()
	data := bytes.Repeat([]byte("stack-bench-data"), size/16+1)[:size]
	for i := 0; i < benchTotal/size; i++ {
		d := filepath.Join(dir, "tree", fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

var benchShapes = []struct {
	name string
	size int
}{
	{"one-file", benchTotal},
	{"files=6400x16KiB", 16 << 10},
}

// BenchmarkTar archives 100 MiB (one file, or 6400 files of 16 KiB) to
// io.Discard: MB/s of content, allocations, and the peak live heap.
func BenchmarkTar(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(sh.name, func(b *testing.B) {
			root, dir := newRoot(b)
			benchTree(b, dir, sh.size)
			b.SetBytes(benchTotal)
			b.ReportAllocs()
			peak := newHeapPeak()
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				peak.begin()
				b.StartTimer()
				if err := archive.Tar(io.Discard, root, "/tree", false); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				peak.end()
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(peak.close(), "peak-heap-MiB")
		})
	}
}

// BenchmarkUntar extracts the same archives, from memory, into a fresh
// directory each time. The copies are deleted only at the end (N x 100
// MiB of disk): on ext4, creating files right after deleting many is slow
// in the kernel (ext4_new_inode skips recently deleted inodes), which
// would measure the clean-up rather than Untar.
func BenchmarkUntar(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(sh.name, func(b *testing.B) {
			src, dir := newRoot(b)
			benchTree(b, dir, sh.size)
			var tb bytes.Buffer
			if err := archive.Tar(&tb, src, "/tree", false); err != nil {
				b.Fatal(err)
			}
			os.RemoveAll(filepath.Join(dir, "tree"))
			dst, dstDir := newRoot(b)
			b.SetBytes(benchTotal)
			b.ReportAllocs()
			peak := newHeapPeak()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				b.StopTimer()
				i++
				into := fmt.Sprintf("/%d", i)
				if err := os.Mkdir(filepath.Join(dstDir, into), 0o755); err != nil {
					b.Fatal(err)
				}
				peak.begin()
				b.StartTimer()
				if err := archive.Untar(bytes.NewReader(tb.Bytes()), dst, into); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				peak.end()
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(peak.close(), "peak-heap-MiB")
		})
	}
}

// heapPeak measures the peak of the heap during benchmark operations:
// begin collects garbage and takes the heap's size (live objects and
// unswept dead ones, from runtime/metrics, which does not stop the world)
// as the base; a sampler reads it every 100µs until end; the largest rise
// over all operations is the peak. Call begin and end with the timer
// stopped.
type heapPeak struct {
	sample  []metrics.Sample
	done    chan struct{}
	stopped chan struct{}

	mu      sync.Mutex // guards the fields below
	running bool
	base    uint64
	cur     uint64 // the largest reading since begin
	peak    uint64 // the largest cur-base over the operations
}

func newHeapPeak() *heapPeak {
	h := &heapPeak{
		sample:  []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}},
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go func() {
		defer close(h.stopped)
		tick := time.NewTicker(100 * time.Microsecond)
		defer tick.Stop()
		s := []metrics.Sample{{Name: h.sample[0].Name}}
		for {
			select {
			case <-h.done:
				return
			case <-tick.C:
				metrics.Read(s)
				v := s[0].Value.Uint64()
				h.mu.Lock()
				if h.running {
					h.cur = max(h.cur, v)
				}
				h.mu.Unlock()
			}
		}
	}()
	return h
}

func (h *heapPeak) read() uint64 {
	metrics.Read(h.sample)
	return h.sample[0].Value.Uint64()
}

func (h *heapPeak) begin() {
	runtime.GC()
	v := h.read()
	h.mu.Lock()
	h.base, h.cur, h.running = v, v, true
	h.mu.Unlock()
}

func (h *heapPeak) end() {
	v := h.read()
	h.mu.Lock()
	h.cur = max(h.cur, v)
	h.peak = max(h.peak, h.cur-h.base)
	h.running = false
	h.mu.Unlock()
}

// close stops the sampler and returns the peak in MiB.
func (h *heapPeak) close() float64 {
	close(h.done)
	<-h.stopped
	h.mu.Lock()
	defer h.mu.Unlock()
	return float64(h.peak) / (1 << 20)
}
