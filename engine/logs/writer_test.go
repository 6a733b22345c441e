package logs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

func TestStreamsKeptApart(t *testing.T) {
	w, path := newWriter(t, Options{Now: tick(t0, time.Second)})
	stream(t, w, "stdout", "out 1\nout 2\n")
	stream(t, w, "stderr", "err 1\n")
	stream(t, w, "stdout", "out 3\n")

	want := []string{
		`{"log":"out 1\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}`,
		`{"log":"out 2\n","stream":"stdout","time":"2024-05-01T10:00:01Z"}`,
		`{"log":"err 1\n","stream":"stderr","time":"2024-05-01T10:00:02Z"}`,
		`{"log":"out 3\n","stream":"stdout","time":"2024-05-01T10:00:03Z"}`,
	}
	if got := rawLines(t, path); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("file = \n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := text(readAll(t, path, ReadOptions{Tail: -1, Streams: map[string]bool{"stdout": true}})); got != "out 1\nout 2\nout 3\n" {
		t.Errorf("Read(stdout) = %q", got)
	}
	if got := text(readAll(t, path, ReadOptions{Tail: -1, Streams: map[string]bool{"stderr": true}})); got != "err 1\n" {
		t.Errorf("Read(stderr) = %q", got)
	}
}

// TestConcurrentStreamsDoNotInterleave feeds stdout and stderr through pipes
// in random chunks that cut lines anywhere, at the same time, and checks
// that every line of the file is one whole entry and each stream is intact
// and in order.
func TestConcurrentStreamsDoNotInterleave(t *testing.T) {
	w, path := newWriter(t, Options{MaxSize: 64 << 10, MaxFiles: 1000})
	const n = 5000
	var wg sync.WaitGroup
	for s, name := range []string{"stdout", "stderr"} {
		pr, pw := io.Pipe()
		wg.Go(func() {
			if err := w.Stream(name, pr); err != nil {
				t.Errorf("Stream(%s) = %v", name, err)
			}
		})
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(s), 1))
			data := []byte(strings.ReplaceAll(numbered(0, n), "line", name))
			for len(data) > 0 {
				k := min(len(data), 1+rng.IntN(300))
				pw.Write(data[:k])
				data = data[k:]
			}
			pw.Close()
		})
	}
	wg.Wait()

	next := map[string]int{}
	files := logFiles(path)
	for i := len(files) - 1; i >= 0; i-- {
		for _, l := range rawLines(t, files[i]) {
			var je jsonEntry
			if err := json.Unmarshal([]byte(l), &je); err != nil {
				t.Fatalf("%s: line %q: %v", files[i], l, err)
			}
			if want := fmt.Sprintf("%s %04d\n", je.Stream, next[je.Stream]); je.Log != want {
				t.Fatalf("%s: entry %q, want %q", files[i], je.Log, want)
			}
			next[je.Stream]++
		}
	}
	if next["stdout"] != n || next["stderr"] != n {
		t.Errorf("entries = %v, want %d each", next, n)
	}
}

func TestPartialLines(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name string
		in   string
		want []string // entry texts
	}{
		{"short", "a\nb\n", []string{"a\n", "b\n"}},
		{"exactly 16 KiB", long(16384) + "\n", []string{long(16384) + "\n"}},
		{"one byte over", long(16385) + "\n", []string{long(16384), "x\n"}},
		{"three pieces", long(40000) + "\nnext\n", []string{long(16384), long(16384), long(7232) + "\n", "next\n"}},
		{"32 KiB exactly", long(32768) + "\n", []string{long(16384), long(16384) + "\n"}},
		{"final line without newline", "a\nb", []string{"a\n", "b"}},
		{"only a partial", "no newline", []string{"no newline"}},
		{"long without newline", long(20000), []string{long(16384), long(3616)}},
		{"empty lines", "\n\n", []string{"\n", "\n"}},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	for _, tt := range tests {
		for rname, wrap := range readers {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				w, path := newWriter(t, Options{})
				if err := w.Stream("stdout", wrap(strings.NewReader(tt.in))); err != nil {
					t.Fatal(err)
				}
				got := readAll(t, path, ReadOptions{Tail: -1})
				if len(got) != len(tt.want) {
					t.Fatalf("got %d entries, want %d", len(got), len(tt.want))
				}
				for i, e := range got {
					partial := !strings.HasSuffix(tt.want[i], "\n")
					if string(e.Line) != tt.want[i] || e.Partial != partial {
						t.Errorf("entry %d = %.20q… (len %d, partial %v), want %.20q… (len %d, partial %v)",
							i, e.Line, len(e.Line), e.Partial, tt.want[i], len(tt.want[i]), partial)
					}
				}
			})
		}
	}
}

// checkRotated checks the rotation invariants: at most maxFiles files, no
// file above maxSize unless it holds a single entry, and the entries across
// files, oldest first, are the newest lines written, contiguous.
func checkRotated(t *testing.T, path string, maxSize int64, maxFiles, written int) {
	t.Helper()
	files := logFiles(path)
	if len(files) > maxFiles {
		t.Errorf("files = %v, want at most %d", files, maxFiles)
	}
	if _, err := os.Stat(rotatedName(path, maxFiles)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat %s = %v, want not exist", rotatedName(path, maxFiles), err)
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(rawLines(t, f)); fi.Size() > maxSize && n != 1 {
			t.Errorf("%s: %d bytes in %d entries, max size %d", f, fi.Size(), n, maxSize)
		}
	}
	got := text(readAll(t, path, ReadOptions{Tail: -1}))
	if !strings.HasSuffix(numbered(0, written), got) || !strings.HasPrefix(got, "line ") {
		t.Errorf("Read = %q…, want the newest lines of %d", got[:min(len(got), 40)], written)
	}
}

func TestRotation(t *testing.T) {
	for _, maxFiles := range []int{1, 2, 3, 5} {
		t.Run(fmt.Sprintf("max-file=%d", maxFiles), func(t *testing.T) {
			const maxSize = 1000
			w, path := newWriter(t, Options{MaxSize: maxSize, MaxFiles: maxFiles, Now: tick(t0, time.Millisecond)})
			// One line at a time, then a burst that rotates within a
			// single batch.
			for i := range 100 {
				stream(t, w, "stdout", numbered(i, i+1))
			}
			stream(t, w, "stdout", numbered(100, 300))
			checkRotated(t, path, maxSize, maxFiles, 300)
			if n := len(logFiles(path)); n != maxFiles {
				t.Errorf("%d files, want %d", n, maxFiles)
			}
			// Entries here are 70 to 74 bytes, so a rotated file, which
			// had no room for one more, holds at least 13.
			if got, want := len(readAll(t, path, ReadOptions{Tail: -1})), 13*(maxFiles-1); got < want {
				t.Errorf("kept %d entries, want at least %d", got, want)
			}
		})
	}
}

func TestRotationEntryLargerThanMaxSize(t *testing.T) {
	const maxSize = 100
	w, path := newWriter(t, Options{MaxSize: maxSize, MaxFiles: 10})
	stream(t, w, "stdout", "a\n"+strings.Repeat("b", 500)+"\nc\n")
	files := logFiles(path)
	if len(files) != 3 {
		t.Fatalf("files = %v, want 3", files)
	}
	for i, want := range []int{1, 1, 1} {
		if n := len(rawLines(t, files[i])); n != want {
			t.Errorf("%s: %d entries, want %d", files[i], n, want)
		}
	}
	if got := text(readAll(t, path, ReadOptions{Tail: -1})); got != "a\n"+strings.Repeat("b", 500)+"\nc\n" {
		t.Errorf("Read = %q", got)
	}
}

func TestNewWriterAppendsAndRepairsTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	good := string(appendEntry(nil, "stdout", []byte("before\n"), t0))
	torn := good[:30]
	if err := os.WriteFile(path, []byte(good+torn), 0o640); err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(path, Options{Now: tick(t0, time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	stream(t, w, "stdout", "after\n")
	if got := text(readAll(t, path, ReadOptions{Tail: -1})); got != "before\nafter\n" {
		t.Errorf("Read = %q, want %q", got, "before\nafter\n")
	}
	if got := rawLines(t, path); len(got) != 3 || got[1] != torn {
		t.Errorf("file lines = %q, want the torn line kept on its own", got)
	}
}

func TestNewWriterPrunesFilesBeyondMaxFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	for i := range 7 {
		if err := os.WriteFile(rotatedName(path, i), nil, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	w, err := NewWriter(path, Options{MaxSize: 1 << 20, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got, want := logFiles(path), []string{path, path + ".1", path + ".2"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("files = %v, want %v", got, want)
	}
}

func TestNewWriterErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, path string
		opts       Options
		want       string
	}{
		{"missing dir", filepath.Join(dir, "nope", "c.log"), Options{}, "open " + filepath.Join(dir, "nope", "c.log") + ": no such file or directory"},
		{"negative size", filepath.Join(dir, "c.log"), Options{MaxSize: -1}, "log " + filepath.Join(dir, "c.log") + ": max size -1 is negative"},
		{"no files", filepath.Join(dir, "c.log"), Options{MaxSize: 10}, "max files 0: must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWriter(tt.path, tt.opts)
			if err == nil {
				w.Close()
				t.Fatalf("NewWriter(%s, %+v) = nil error, want %q", tt.path, tt.opts, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewWriter(%s, %+v) = %v, want %q", tt.path, tt.opts, err, tt.want)
			}
		})
	}
}

// TestStreamAfterClose: writes fail, but the pipe is still drained so the
// container never blocks on it.
func TestStreamAfterClose(t *testing.T) {
	w, path := newWriter(t, Options{})
	stream(t, w, "stdout", "kept\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := strings.NewReader(numbered(0, 5000))
	err := w.Stream("stdout", r)
	if !errors.Is(err, os.ErrClosed) || !strings.Contains(err.Error(), "stdout: 5000 of 5000 entries not written: write "+path) {
		t.Errorf("Stream after Close = %v, want os.ErrClosed naming %s", err, path)
	}
	if r.Len() != 0 {
		t.Errorf("%d bytes left unread", r.Len())
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestStreamReadError(t *testing.T) {
	w, path := newWriter(t, Options{})
	boom := errors.New("boom")
	err := w.Stream("stderr", io.MultiReader(strings.NewReader("a\nhalf"), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) || err.Error() != "stderr: read: boom" {
		t.Errorf("Stream = %v, want stderr: read: boom", err)
	}
	if got := text(readAll(t, path, ReadOptions{Tail: -1})); got != "a\nhalf" {
		t.Errorf("Read = %q, want what was read before the error", got)
	}
}
