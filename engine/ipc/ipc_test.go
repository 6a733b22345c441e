package ipc

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// blob is a message that is its own binary form.
type blob []byte

func (b blob) MarshalBinary() ([]byte, error) { return b, nil }

func (b *blob) UnmarshalBinary(p []byte) error {
	*b = append((*b)[:0], p...)
	return nil
}

func pair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan *net.UnixConn, 1)
	go func() {
		c, _ := l.AcceptUnix()
		accepted <- c
	}()
	a, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	b := New(<-accepted)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestRecvSizes: messages of every size up to MaxMessage arrive whole,
// one per Recv, with their descriptors, whatever came before them; a
// closed peer ends the stream.
func TestRecvSizes(t *testing.T) {
	a, b := pair(t)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sizes := []int{1, 100, 600, 70 << 10, 3, MaxMessage, 10}
	sent := make(chan error, 1)
	go func() {
		defer a.Close()
		for i, n := range sizes {
			m := bytes.Repeat([]byte{byte(i + 1)}, n)
			var err error
			if i%2 == 0 {
				err = a.Send(blob(m), f)
			} else {
				err = a.Send(blob(m))
			}
			if err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for i, n := range sizes {
		var m blob
		files, err := b.Recv(&m)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(m, bytes.Repeat([]byte{byte(i + 1)}, n)) {
			t.Fatalf("message %d: got %d bytes, want %d of %d", i, len(m), n, i+1)
		}
		if want := 1 - i%2; len(files) != want {
			t.Fatalf("message %d: %d descriptors, want %d", i, len(files), want)
		}
		for _, f := range files {
			f.Close()
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	var m blob
	if _, err := b.Recv(&m); !errors.Is(err, ErrClosed) {
		t.Fatalf("after the peer closed: %v, want ErrClosed", err)
	}
}

func TestSendTooLarge(t *testing.T) {
	a, _ := pair(t)
	if err := a.Send(blob(make([]byte, MaxMessage+1))); err == nil {
		t.Fatal("a message over MaxMessage was sent")
	}
}

// TestRecvClosedFirst: a peer that closes before sending anything ends
// the stream at once.
func TestRecvClosedFirst(t *testing.T) {
	a, b := pair(t)
	a.Close()
	var m blob
	if _, err := b.Recv(&m); !errors.Is(err, ErrClosed) {
		t.Fatalf("Recv = %v, want ErrClosed", err)
	}
}

// TestRecvReset: a peer that closes with a message of ours unread resets
// the connection; Recv reports ECONNRESET (the shim's clients treat it as
// the shim gone).
func TestRecvReset(t *testing.T) {
	a, b := pair(t)
	if err := b.Send(blob("unread")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	var m blob
	if _, err := b.Recv(&m); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Recv = %v, want ECONNRESET", err)
	}
}
