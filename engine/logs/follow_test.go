package logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// patience bounds every wait in these tests. It is a failure guard, never
// part of what is tested: nothing here waits for time to pass.
const patience = 20 * time.Second

// follower runs Read with Follow in the background.
type follower struct {
	entries  chan Entry
	finished chan struct{} // closed when Read returned
	err      error         // what Read returned; read after finished
	cancel   context.CancelFunc
	exited   atomic.Bool   // what FollowUntil reports
	started  chan struct{} // closed at the first FollowUntil call
	once     sync.Once
}

// startFollow starts Read(path, opts) with Follow set and FollowUntil wired
// to f.exited.
func startFollow(t *testing.T, path string, opts ReadOptions) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{
		entries:  make(chan Entry, 1<<15),
		finished: make(chan struct{}),
		cancel:   cancel,
		started:  make(chan struct{}),
	}
	opts.Follow = true
	if opts.FollowUntil == nil {
		opts.FollowUntil = func() bool {
			f.once.Do(func() { close(f.started) })
			return f.exited.Load()
		}
	}
	go func() {
		defer close(f.finished)
		f.err = Read(ctx, path, opts, func(e Entry) error {
			f.entries <- e
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-f.finished
	})
	return f
}

// next returns the next entry.
func (f *follower) next(t *testing.T) Entry {
	t.Helper()
	select {
	case e := <-f.entries:
		return e
	case <-f.finished:
		select {
		case e := <-f.entries:
			return e
		default:
		}
		t.Fatalf("Read returned %v while an entry was expected", f.err)
	case <-time.After(patience):
		t.Fatalf("no entry after %v", patience)
	}
	return Entry{}
}

// expect receives entries until their text is want.
func (f *follower) expect(t *testing.T, want string) {
	t.Helper()
	var got strings.Builder
	for got.Len() < len(want) {
		got.Write(f.next(t).Line)
	}
	if g := got.String(); g != want {
		i := 0
		for i < len(g) && i < len(want) && g[i] == want[i] {
			i++
		}
		from := max(0, i-30)
		t.Fatalf("followed %d bytes, want %d; they differ at byte %d: got …%q…, want …%q…",
			len(g), len(want), i, g[from:min(len(g), i+30)], want[from:min(len(want), i+30)])
	}
}

// waitStarted waits until Read is in its follow loop (and so watching).
func (f *follower) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-f.started:
	case <-time.After(patience):
		t.Fatalf("Read did not start following after %v", patience)
	}
}

// exit marks the container stopped the way the shim does: state first, then
// a write in the log's directory, which wakes the follower.
func (f *follower) exit(t *testing.T, dir string) {
	t.Helper()
	f.exited.Store(true)
	if err := os.WriteFile(filepath.Join(dir, "exit"), []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// wait waits for Read to return, and checks nothing more was delivered.
func (f *follower) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-f.finished:
	case <-time.After(patience):
		t.Fatalf("Read did not return after %v", patience)
	}
	if len(f.entries) > 0 {
		t.Errorf("%d entries left undelivered; first %q", len(f.entries), (<-f.entries).Line)
	}
	return f.err
}

// pipeWriter streams what the test writes to it into w as stdout.
func pipeWriter(t *testing.T, w *Writer) (io.WriteCloser, <-chan error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- w.Stream("stdout", pr) }()
	t.Cleanup(func() { pw.Close() })
	return pw, done
}

func TestFollowSeesAppendedLines(t *testing.T) {
	w, path := newWriter(t, Options{})
	stream(t, w, "stdout", numbered(0, 1))
	f := startFollow(t, path, ReadOptions{Tail: -1})
	f.expect(t, numbered(0, 1))

	pw, streamed := pipeWriter(t, w)
	for i := 1; i < 100; i++ {
		io.WriteString(pw, numbered(i, i+1))
		f.expect(t, numbered(i, i+1))
	}
	io.WriteString(pw, numbered(100, 200)+"no newline")
	pw.Close()
	if err := <-streamed; err != nil {
		t.Fatal(err)
	}
	f.expect(t, numbered(100, 200)+"no newline")
	w.Close()
	f.exit(t, filepath.Dir(path))
	if err := f.wait(t); err != nil {
		t.Errorf("Read = %v, want nil after FollowUntil", err)
	}
}

// TestFollowAcrossRotationLockstep writes one line at a time and waits for
// the follower to see it, so each rotation happens with the reader at the
// end of the file, for every rotation scheme including MaxFiles 1 (unlink).
func TestFollowAcrossRotationLockstep(t *testing.T) {
	for _, maxFiles := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("max-file=%d", maxFiles), func(t *testing.T) {
			w, path := newWriter(t, Options{MaxSize: 300, MaxFiles: maxFiles})
			f := startFollow(t, path, ReadOptions{Tail: -1})
			f.waitStarted(t)
			pw, streamed := pipeWriter(t, w)
			for i := range 200 {
				io.WriteString(pw, numbered(i, i+1))
				f.expect(t, numbered(i, i+1))
			}
			pw.Close()
			if err := <-streamed; err != nil {
				t.Fatal(err)
			}
			f.exit(t, filepath.Dir(path))
			if err := f.wait(t); err != nil {
				t.Errorf("Read = %v", err)
			}
		})
	}
}

// TestFollowAcrossRotationBurst lets the writer run ahead of the follower
// through many rotations; with enough files kept, every entry must arrive
// once, in order.
func TestFollowAcrossRotationBurst(t *testing.T) {
	const n = 10000
	w, path := newWriter(t, Options{MaxSize: 8000, MaxFiles: 1000})
	stream(t, w, "stdout", numbered(0, 10))
	f := startFollow(t, path, ReadOptions{Tail: 5})
	f.expect(t, numbered(5, 10))

	pw, streamed := pipeWriter(t, w)
	data := []byte(numbered(10, n))
	rng := rand.New(rand.NewPCG(1, 2))
	for len(data) > 0 {
		k := min(len(data), 1+rng.IntN(5000))
		pw.Write(data[:k])
		data = data[k:]
	}
	pw.Close()
	if err := <-streamed; err != nil {
		t.Fatal(err)
	}
	w.Close()
	if files := logFiles(path); len(files) < 50 {
		t.Fatalf("only %d files: not enough rotations to test", len(files))
	}
	f.exit(t, filepath.Dir(path))
	f.expect(t, numbered(10, n))
	if err := f.wait(t); err != nil {
		t.Errorf("Read = %v", err)
	}
}

func TestFollowUntilAlreadyTrue(t *testing.T) {
	w, path := newWriter(t, Options{MaxSize: 500, MaxFiles: 10})
	stream(t, w, "stdout", numbered(0, 30))
	w.Close()
	var got []Entry
	err := Read(context.Background(), path, ReadOptions{Tail: 20, Follow: true, FollowUntil: func() bool { return true }},
		func(e Entry) error { got = append(got, e); return nil })
	if err != nil || text(got) != numbered(10, 30) {
		t.Errorf("Read = %q, %v; want lines 10-29, nil", text(got), err)
	}
}

// TestFollowUntilReadsUnterminatedLine: once the writer is done, a last line
// without its newline (torn by a crash) is still offered, and skipped if it
// does not parse.
func TestFollowUntilReadsUnterminatedLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	last := appendEntry(nil, "stdout", []byte("last\n"), t0)
	content := string(appendEntry(nil, "stdout", []byte("first\n"), t0)) + string(last[:len(last)-1])
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	f := startFollow(t, path, ReadOptions{Tail: -1})
	f.expect(t, "first\n")
	f.exit(t, filepath.Dir(path))
	f.expect(t, "last\n")
	if err := f.wait(t); err != nil {
		t.Errorf("Read = %v", err)
	}
}

func TestFollowCancel(t *testing.T) {
	w, path := newWriter(t, Options{})
	stream(t, w, "stdout", "hello\n")
	f := startFollow(t, path, ReadOptions{Tail: -1})
	f.expect(t, "hello\n")
	f.cancel()
	if err := f.wait(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel = %v, want context.Canceled", err)
	}
}

func TestFollowWaitsForFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	f := startFollow(t, path, ReadOptions{Tail: -1})
	f.waitStarted(t)
	w, err := NewWriter(path, Options{MaxSize: 200, MaxFiles: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	stream(t, w, "stdout", numbered(0, 10)) // likely rotated before Read looks
	f.expect(t, numbered(0, 10))
	f.exit(t, dir)
	if err := f.wait(t); err != nil {
		t.Errorf("Read = %v", err)
	}
}

func TestFollowTailZeroSeesOnlyNewLines(t *testing.T) {
	w, path := newWriter(t, Options{})
	stream(t, w, "stdout", numbered(0, 10))
	f := startFollow(t, path, ReadOptions{Tail: 0, Streams: map[string]bool{"stderr": true}})
	f.waitStarted(t)
	stream(t, w, "stdout", "ignored\n")
	stream(t, w, "stderr", "new\n")
	f.expect(t, "new\n")
	f.exit(t, filepath.Dir(path))
	if err := f.wait(t); err != nil {
		t.Errorf("Read = %v", err)
	}
}

// TestFollowUntilTime: entries are stamped by a fake clock an hour ahead, so
// the real-time deadline never fires; the first entry past Until ends Read.
func TestFollowUntilTime(t *testing.T) {
	base := time.Now().Add(time.Hour)
	w, path := newWriter(t, Options{Now: tick(base, time.Second)})
	f := startFollow(t, path, ReadOptions{Tail: -1, Until: base.Add(5 * time.Second)})
	f.waitStarted(t)
	pw, _ := pipeWriter(t, w)
	for i := range 6 {
		io.WriteString(pw, numbered(i, i+1))
		f.expect(t, numbered(i, i+1))
	}
	io.WriteString(pw, numbered(6, 7))
	if err := f.wait(t); err != nil {
		t.Errorf("Read = %v", err)
	}
}

func TestFollowUntilPast(t *testing.T) {
	w, path := newWriter(t, Options{Now: tick(t0, time.Second)})
	stream(t, w, "stdout", numbered(0, 10))
	var got []Entry
	err := Read(context.Background(), path, ReadOptions{Tail: -1, Follow: true, Until: t0.Add(3 * time.Second)},
		func(e Entry) error { got = append(got, e); return nil })
	if err != nil || text(got) != numbered(0, 4) {
		t.Errorf("Read = %q, %v; want lines 0-3, nil", text(got), err)
	}
}

// TestFollowUntilDeadline: with nothing written, Read returns when the
// clock passes Until.
func TestFollowUntilDeadline(t *testing.T) {
	_, path := newWriter(t, Options{})
	f := startFollow(t, path, ReadOptions{Tail: -1, Until: time.Now().Add(20 * time.Millisecond)})
	if err := f.wait(t); err != nil {
		t.Errorf("Read = %v", err)
	}
}

func TestFollowDirectoryRemoved(t *testing.T) {
	w, path := newWriter(t, Options{})
	stream(t, w, "stdout", "hello\n")
	f := startFollow(t, path, ReadOptions{Tail: -1})
	f.expect(t, "hello\n")
	w.Close()
	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	if err := f.wait(t); err != nil {
		t.Errorf("Read = %v, want nil once the directory is gone", err)
	}
}

func TestFollowMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	err := Read(context.Background(), filepath.Join(dir, "c.log"), ReadOptions{Follow: true}, func(Entry) error { return nil })
	if want := "follow " + dir + ": inotify_add_watch: no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("Read = %v, want %s", err, want)
	}
}
