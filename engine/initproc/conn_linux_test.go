package initproc

import (
	"errors"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A message goes through whole with the descriptors sent beside it, a
// large one too (its size is peeked before it is read), and a closed
// peer ends Recv with ErrClosed.
func TestConn(t *testing.T) {
	shim, initEnd, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer shim.Close()
	fd, err := unix.Dup(int(initEnd.Fd())) // NewConn takes the descriptor over
	initEnd.Close()
	if err != nil {
		t.Fatal(err)
	}
	init, err := NewConn(fd)
	if err != nil {
		t.Fatal(err)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := shim.Send(Message{Type: MsgExec, ExecID: "7", Process: &specs.Process{Args: []string{"ls"}}}, w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var m Message
	files, err := init.Recv(&m)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != MsgExec || m.ExecID != "7" || m.Process == nil || m.Process.Args[0] != "ls" || len(files) != 1 {
		t.Fatalf("got %+v with %d files", m, len(files))
	}
	// The descriptor is the pipe's writing end, and close-on-exec.
	if fl, err := unix.FcntlInt(files[0].Fd(), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Errorf("passed descriptor's flags %#x, %v: want close-on-exec", fl, err)
	}
	if _, err := files[0].Write([]byte("x")); err != nil {
		t.Fatalf("passed descriptor: %v", err)
	}
	files[0].Close()
	buf := make([]byte, 1)
	if n, _ := r.Read(buf); n != 1 || buf[0] != 'x' {
		t.Fatalf("read %q through the passed descriptor", buf[:n])
	}

	big := strings.Repeat("e", 200<<10)
	if err := init.Send(Message{Type: MsgFailed, Error: big}); err != nil {
		t.Fatal(err)
	}
	if _, err := shim.Recv(&m); err != nil || m.Error != big {
		t.Fatalf("large message: %v, %d bytes", err, len(m.Error))
	}

	init.Close()
	if _, err := shim.Recv(&m); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v, want ErrClosed", err)
	}
}
