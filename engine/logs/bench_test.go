package logs

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// lineSource yields n copies of line, in reads of up to 64 KiB, as a pipe
// from a chatty process would.
type lineSource struct {
	line []byte
	n    int
	off  int // position in line of the next byte
}

func (s *lineSource) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, io.EOF
	}
	p = p[:min(len(p), 64<<10)]
	total := 0
	for s.n > 0 && total < len(p) {
		c := copy(p[total:], s.line[s.off:])
		total += c
		s.off += c
		if s.off == len(s.line) {
			s.off = 0
			s.n--
		}
	}
	return total, nil
}

// BenchmarkWriter measures Stream: lines/s, and MB/s of container output.
func BenchmarkWriter(b *testing.B) {
	for _, size := range []int{80, 1024} {
		b.Run(fmt.Sprintf("line=%d", size), func(b *testing.B) {
			line := make([]byte, size)
			for i := range line {
				line[i] = 'a' + byte(i%26)
			}
			line[size-1] = '\n'
			w, _ := newWriter(b, Options{MaxSize: DefaultMaxSize, MaxFiles: DefaultMaxFiles})
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			if err := w.Stream("stdout", &lineSource{line: line, n: b.N}); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// writeLog fills path with entries of about 100 bytes up to size bytes,
// directly, without a Writer, so the setup is quick.
func writeLog(b *testing.B, path string, size int64) int {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var buf []byte
	n, written := 0, int64(0)
	for written < size {
		buf = buf[:0]
		for len(buf) < 1<<20 {
			buf = appendEntry(buf, "stdout", fmt.Appendf(nil, "request %08d handled in 3ms\n", n), t0.Add(time.Duration(n)*time.Millisecond))
			n++
		}
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		written += int64(len(buf))
	}
	return n
}

// BenchmarkTail measures `logs --tail 100` of a 50 MB log, in one file and
// rotated into five; it should not depend on the size of the log.
func BenchmarkTail(b *testing.B) {
	for _, files := range []int{1, 5} {
		b.Run(fmt.Sprintf("files=%d", files), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "c.log")
			for i := range files {
				writeLog(b, rotatedName(path, i), 50<<20/int64(files))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				n := 0
				err := Read(context.Background(), path, ReadOptions{Tail: 100}, func(Entry) error {
					n++
					return nil
				})
				if err != nil || n != 100 {
					b.Fatalf("Read = %d entries, %v", n, err)
				}
			}
		})
	}
}
