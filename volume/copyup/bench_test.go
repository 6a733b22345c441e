package copyup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"stack/volume/copyup"
)

// BenchmarkCopyUp10k copies 10 000 files of 100 bytes in 100 directories
// into an empty volume directory: time per copy, allocations, and the peak
// live heap. fs=tmp runs on the temp directory's filesystem (the disk, as
// a state root would be; TMPDIR moves it), fs=shm on /dev/shm (tmpfs),
// which shows what the copy costs apart from the disk.
//
// The copies are deleted only at the end: on ext4, creating files right
// after deleting many is slow in the kernel (ext4_new_inode skips inodes
// deleted recently, and reading their table blocks dominates), which
// would measure the benchmark's own clean-up rather than CopyUp.
func BenchmarkCopyUp10k(b *testing.B) {
	for _, fs := range []struct{ name, dir string }{{"tmp", ""}, {"shm", "/dev/shm"}} {
		b.Run("fs="+fs.name, func(b *testing.B) {
			if fs.dir != "" {
				var st unix.Statfs_t
				if err := unix.Statfs(fs.dir, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
					b.Skipf("%s is not a tmpfs here", fs.dir)
				}
			}
			base, err := os.MkdirTemp(fs.dir, "copyup-bench")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { os.RemoveAll(base) })
			root := filepath.Join(base, "root")
			data := make([]byte, 100)
			for i := range data {
				data[i] = byte('a' + i%26)
			}
			for d := range 100 {
				dir := filepath.Join(root, "src", fmt.Sprintf("d%02d", d))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					b.Fatal(err)
				}
				for f := range 100 {
					if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", f)), data, 0o644); err != nil {
						b.Fatal(err)
					}
				}
			}
			src := openIn(b, root, "/src")
			b.ReportAllocs()
			peak := newHeapPeak()
			i := 0
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				i++
				dst := filepath.Join(base, fmt.Sprintf("dst%d", i))
				if err := os.Mkdir(dst, 0o755); err != nil {
					b.Fatal(err)
				}
				peak.begin()
				b.StartTimer()
				if ok, err := copyup.CopyUp(src, dst); err != nil || !ok {
					b.Fatalf("CopyUp = %v, %v", ok, err)
				}
				b.StopTimer()
				peak.end()
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(peak.close(), "peak-heap-MiB")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/10000, "µs/file")
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
