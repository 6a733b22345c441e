package logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// rotatedLog writes n numbered lines, alternating stdout and stderr in
// pairs, into a log rotated every ~1 KiB that keeps every file.
func rotatedLog(t *testing.T, n int) string {
	t.Helper()
	w, path := newWriter(t, Options{MaxSize: 1000, MaxFiles: 1000, Now: tick(t0, time.Second)})
	for i := 0; i < n; i += 2 {
		stream(t, w, "stdout", numbered(i, i+1))
		stream(t, w, "stderr", numbered(i+1, i+2))
	}
	if files := logFiles(path); len(files) < n/40 {
		t.Fatalf("only %d files; the test wants many", len(files))
	}
	return path
}

func TestTailAcrossRotatedFiles(t *testing.T) {
	const n = 300
	path := rotatedLog(t, n)
	all := readAll(t, path, ReadOptions{Tail: -1})
	if got := text(all); got != numbered(0, n) {
		t.Fatalf("Read(all) = %q…", got[:40])
	}
	for _, tail := range []int{0, 1, 2, 7, 12, 13, 25, 150, 299, 300, 301, 1000} {
		t.Run(fmt.Sprint(tail), func(t *testing.T) {
			got := text(readAll(t, path, ReadOptions{Tail: tail}))
			if want := numbered(max(0, n-tail), n); got != want {
				t.Errorf("Read(tail %d) = %q, want %q", tail, got, want)
			}
		})
	}
}

func TestTailCountsSelectedStreamOnly(t *testing.T) {
	path := rotatedLog(t, 100)
	got := readAll(t, path, ReadOptions{Tail: 3, Streams: map[string]bool{"stderr": true}})
	if want := "line 0095\nline 0097\nline 0099\n"; text(got) != want {
		t.Errorf("Read(tail 3 stderr) = %q, want %q", text(got), want)
	}
	for _, e := range got {
		if e.Stream != "stderr" {
			t.Errorf("entry %+v: stream %q, want stderr", e, e.Stream)
		}
	}
}

// TestSinceUntil runs in a synctest bubble: the writer stamps entries with
// time.Now, which there is a fake clock that time.Sleep moves.
func TestSinceUntil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		w, path := newWriter(t, Options{MaxSize: 500, MaxFiles: 100})
		for i := range 40 {
			stream(t, w, "stdout", numbered(i, i+1))
			time.Sleep(time.Second)
		}
		at := func(i int) time.Time { return start.Add(time.Duration(i) * time.Second) }
		tests := []struct {
			name string
			opts ReadOptions
			want string
		}{
			{"since", ReadOptions{Tail: -1, Since: at(30)}, numbered(30, 40)},
			{"since between entries", ReadOptions{Tail: -1, Since: at(30).Add(-time.Millisecond)}, numbered(30, 40)},
			{"until", ReadOptions{Tail: -1, Until: at(4)}, numbered(0, 5)},
			{"since and until", ReadOptions{Tail: -1, Since: at(10), Until: at(20)}, numbered(10, 21)},
			{"tail within range", ReadOptions{Tail: 3, Since: at(10), Until: at(20)}, numbered(18, 21)},
			{"tail larger than range", ReadOptions{Tail: 30, Since: at(10), Until: at(20)}, numbered(10, 21)},
			{"empty range", ReadOptions{Tail: -1, Since: at(20), Until: at(10)}, ""},
			{"after the end", ReadOptions{Tail: -1, Since: at(41)}, ""},
		}
		for _, tt := range tests {
			if got := text(readAll(t, path, tt.opts)); got != tt.want {
				t.Errorf("%s: Read = %q, want %q", tt.name, got, tt.want)
			}
		}
		for _, e := range readAll(t, path, ReadOptions{Tail: 2}) {
			if e.Time.Location() != time.UTC {
				t.Errorf("entry time %v not in UTC", e.Time)
			}
		}
	})
}

func TestReadSkipsCorruptLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	entry := func(s string) string { return string(appendEntry(nil, "stdout", []byte(s), t0)) }
	torn := entry("torn\n")[:25]
	content := entry("one\n") +
		torn + "\n" +
		"\n" +
		"not json at all\n" +
		strings.Repeat("g", maxLine+100) + "\n" + // longer than any buffer
		entry("two\n") +
		`{"log":"x"` + "\n" +
		entry("three\n") +
		torn // a crash mid-write at the end
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	if got := text(readAll(t, path, ReadOptions{Tail: -1})); got != "one\ntwo\nthree\n" {
		t.Errorf("Read = %q", got)
	}
	for tail, want := range []string{"", "three\n", "two\nthree\n", "one\ntwo\nthree\n", "one\ntwo\nthree\n"} {
		if got := text(readAll(t, path, ReadOptions{Tail: tail})); got != want {
			t.Errorf("Read(tail %d) = %q, want %q", tail, got, want)
		}
	}
}

func TestReadMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	err := Read(context.Background(), path, ReadOptions{Tail: -1}, func(Entry) error { return nil })
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("Read(missing) = %v, want fs.ErrNotExist naming %s", err, path)
	}
}

// TestReadRotatedOnly: between the writer's rename and create, only path.1
// exists; that is still a log.
func TestReadRotatedOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	if err := os.WriteFile(path+".1", appendEntry(nil, "stdout", []byte("old\n"), t0), 0o640); err != nil {
		t.Fatal(err)
	}
	if got := text(readAll(t, path, ReadOptions{Tail: -1})); got != "old\n" {
		t.Errorf("Read = %q, want %q", got, "old\n")
	}
}

func TestReadReturnsCallbackError(t *testing.T) {
	w, path := newWriter(t, Options{})
	stream(t, w, "stdout", numbered(0, 10))
	stop := errors.New("stop")
	calls := 0
	err := Read(context.Background(), path, ReadOptions{Tail: -1}, func(Entry) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 3 {
		t.Errorf("Read = %v after %d calls, want stop after 3", err, calls)
	}
}

// TestReadDockerFile reads a file as dockerd writes it, attrs included.
func TestReadDockerFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	content := `{"log":"Listening on :80\n","stream":"stdout","attrs":{"tag":"web"},"time":"2024-05-01T10:00:00.123456789Z"}
{"log":"warn: \u003cnone\u003e\n","stream":"stderr","time":"2024-05-01T10:00:01.5Z"}
`
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, path, ReadOptions{Tail: -1})
	if len(got) != 2 || string(got[0].Line) != "Listening on :80\n" || got[1].Stream != "stderr" ||
		string(got[1].Line) != "warn: <none>\n" || !got[1].Time.Equal(t0.Add(1500*time.Millisecond)) {
		t.Errorf("Read = %+v", got)
	}
}

// TestReadWhileRotating reads snapshots while a writer rotates as fast as
// it can: every snapshot must be a run of the lines written so far, in
// order, with no line repeated or missing, ending with the last line
// written at some moment, and Tail 50 must be exactly the last 50 of one.
//
// Each case stresses one way to get that wrong. MaxSize 2000 makes files of
// some 25 entries, so that a writer rotates many times while Read lists
// hundreds of files. With MaxSize 10000, a write of ten entries often
// crosses a page boundary, where Linux may show it half done: Read sees a
// size that ends inside an entry. With MaxFiles 4, the oldest files are
// dropped while Read lists them, and a snapshot starts where they end.
func TestReadWhileRotating(t *testing.T) {
	for _, o := range []Options{
		{MaxSize: 2000, MaxFiles: 100000},
		{MaxSize: 10000, MaxFiles: 100000},
		{MaxSize: 2000, MaxFiles: 4},
	} {
		t.Run(fmt.Sprintf("size %d files %d", o.MaxSize, o.MaxFiles), func(t *testing.T) {
			readWhileRotating(t, o)
		})
	}
}

func readWhileRotating(t *testing.T, o Options) {
	const n = 5000
	keepsAll := o.MaxFiles > n
	w, path := newWriter(t, o)
	stream(t, w, "stdout", numbered(0, 100))
	pr, pw := io.Pipe()
	streamed := make(chan error, 1)
	go func() { streamed <- w.Stream("stdout", pr) }()
	go func() {
		for i := 100; i < n; i += 10 {
			io.WriteString(pw, numbered(i, i+10))
		}
		pw.Close()
	}()
	// run checks that s is lines first, first+1, ..., end-1, and that
	// it is no older than the previous snapshot.
	prevEnd := 0
	run := func(what, s string) (first, end int) {
		t.Helper()
		if _, err := fmt.Sscanf(s, "line %d\n", &first); err != nil {
			t.Fatalf("%s starts with %.10q: %v", what, s, err)
		}
		end = first + strings.Count(s, "\n")
		if s != numbered(first, end) {
			t.Fatalf("%s of %d lines is not lines %d-%d in order", what, end-first, first, end-1)
		}
		if end < prevEnd {
			t.Fatalf("%s ends at line %d, before the previous one (%d)", what, end-1, prevEnd-1)
		}
		prevEnd = end
		return first, end
	}
	for reads := 0; ; reads++ {
		select {
		case err := <-streamed:
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d snapshots", reads)
			first, end := run("final Read", text(readAll(t, path, ReadOptions{Tail: -1})))
			if end != n || keepsAll && first != 0 {
				t.Fatalf("final Read is lines %d-%d, want all up to %d", first, end-1, n-1)
			}
			return
		default:
		}
		if first, _ := run("snapshot", text(readAll(t, path, ReadOptions{Tail: -1}))); keepsAll && first != 0 {
			t.Fatalf("snapshot starts at line %d, not 0", first)
		}
		if first, end := run("tail 50", text(readAll(t, path, ReadOptions{Tail: 50}))); end-first != 50 {
			t.Fatalf("tail 50 is lines %d-%d", first, end-1)
		}
	}
}
