package shim

import (
	"errors"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"stack/engine/ipc"
)

// seqpacketPair returns two connected ipc.Conns.
func seqpacketPair(t *testing.T) (*ipc.Conn, *ipc.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *ipc.Conn {
		f := os.NewFile(uintptr(fd), "seqpacket")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return ipc.New(c.(*net.UnixConn))
	}
	return conn(fds[0]), conn(fds[1])
}

// TestLinger: a client whose last request is still unread when the shim
// has sent its last answer (a stdin close racing the container's end)
// gets that answer, then the end of the stream. Had the shim closed the
// connection first, the kernel would report ECONNRESET to the client
// ahead of the queued answer (TestCloseUnreadResets shows it).
func TestLinger(t *testing.T) {
	shimEnd, client := seqpacketPair(t)
	defer client.Close()
	if err := client.Send(Request{Type: ReqStdinClose}); err != nil {
		t.Fatal(err)
	}
	if err := shimEnd.Send(Response{Type: RespExited, ExitCode: 3}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		reading := make(chan struct{})
		go func() { // the shim's reader of the client's requests
			defer close(reading)
			for {
				var req Request
				if _, err := shimEnd.Recv(&req); err != nil {
					return
				}
			}
		}()
		linger(reading)
		shimEnd.Close()
		close(done)
	}()
	var r Response
	if _, err := client.Recv(&r); err != nil || r.Type != RespExited || r.ExitCode != 3 {
		t.Fatalf("client got %+v, %v; want the exit", r, err)
	}
	client.Close()
	<-done
}

// TestCloseUnreadResets is the kernel behaviour linger guards against.
func TestCloseUnreadResets(t *testing.T) {
	shimEnd, client := seqpacketPair(t)
	defer client.Close()
	client.Send(Request{Type: ReqStdinClose})
	shimEnd.Send(Response{Type: RespExited})
	shimEnd.Close()
	var r Response
	if _, err := client.Recv(&r); !errors.Is(err, unix.ECONNRESET) {
		t.Skipf("this kernel delivers the answer before the reset (%+v, %v)", r, err)
	}
}
