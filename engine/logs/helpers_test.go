package logs

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// tick returns a clock that starts at start and advances by step on every
// call, so each entry gets its own time.
func tick(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	next := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := next
		next = next.Add(step)
		return t
	}
}

// newWriter opens a Writer on c.log in a fresh directory.
func newWriter(t testing.TB, opts Options) (*Writer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.log")
	w, err := NewWriter(path, opts)
	if err != nil {
		t.Fatalf("NewWriter(%s) = %v", path, err)
	}
	t.Cleanup(func() { w.Close() })
	return w, path
}

func stream(t testing.TB, w *Writer, name, text string) {
	t.Helper()
	if err := w.Stream(name, strings.NewReader(text)); err != nil {
		t.Fatalf("Stream(%s) = %v", name, err)
	}
}

func numbered(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %04d\n", i)
	}
	return b.String()
}

func readAll(t testing.TB, path string, opts ReadOptions) []Entry {
	t.Helper()
	var got []Entry
	err := Read(context.Background(), path, opts, func(e Entry) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatalf("Read(%s, %+v) = %v", path, opts, err)
	}
	return got
}

// text joins the lines of entries.
func text(es []Entry) string {
	var b strings.Builder
	for _, e := range es {
		b.Write(e.Line)
	}
	return b.String()
}

// rawLines returns the lines of one file on disk.
func rawLines(t testing.TB, name string) []string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// logFiles lists path and its rotated files that exist, newest first.
func logFiles(path string) []string {
	var out []string
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(rotatedName(path, i)); err == nil {
			out = append(out, rotatedName(path, i))
		}
	}
	return out
}
