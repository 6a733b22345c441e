package initproc

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Conn is one end of the shim<->init socket: a SOCK_SEQPACKET pair, one
// Message per packet in the wire form, descriptors alongside as
// SCM_RIGHTS. It works on a non-blocking *os.File, so reads park in the
// runtime's poller rather than a thread, and the init links no net.
type Conn struct {
	f      *os.File
	sendMu sync.Mutex
}

// maxMessage bounds one packet; a config is a few KiB.
const maxMessage = 4 << 20

// maxFDs is the most descriptors one message carries (stdio of an exec).
const maxFDs = 16

// ErrClosed is returned by Recv when the other end has closed.
var ErrClosed = errors.New("init connection closed")

// Pair makes a connected pair: the shim's Conn and the init's end, to be
// passed to the init as descriptor 3 (the init makes it non-blocking).
func Pair() (*Conn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	c, err := NewConn(fds[0])
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	return c, os.NewFile(uintptr(fds[1]), "init-ipc"), nil
}

// NewConn takes over the socket fd.
func NewConn(fd int) (*Conn, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("set non-blocking", err)
	}
	// A non-blocking descriptor makes a pollable File.
	return &Conn{f: os.NewFile(uintptr(fd), "init-ipc")}, nil
}

// Close closes the connection; a Recv in progress returns.
func (c *Conn) Close() error { return c.f.Close() }

// Send sends m with files attached.
func (c *Conn) Send(m Message, files ...*os.File) error {
	b, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	if len(b) > maxMessage {
		return fmt.Errorf("init message of %d bytes exceeds %d", len(b), maxMessage)
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), b, oob, nil, 0)
		return serr != unix.EAGAIN
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return os.NewSyscallError("sendmsg", err)
	}
	return nil
}

// Recv receives one message into m, with the descriptors that came with
// it (close-on-exec). ErrClosed when the other end is gone.
func (c *Conn) Recv(m *Message) ([]*os.File, error) {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	// Peek at the packet's length first (no control buffer: a peek must
	// not install the descriptors), then read it whole.
	var n, oobn, flags int
	var rerr error
	var one [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, _, _, rerr = unix.Recvmsg(int(fd), one[:], nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, os.NewSyscallError("recvmsg", err)
	}
	if n == 0 {
		return nil, ErrClosed
	}
	if n > maxMessage {
		return nil, fmt.Errorf("init message of %d bytes exceeds %d", n, maxMessage)
	}
	buf := make([]byte, n)
	oob := make([]byte, unix.CmsgSpace(maxFDs*4))
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, os.NewSyscallError("recvmsg", err)
	}
	files := parseRights(oob[:oobn])
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeFiles(files)
		return nil, errors.New("init message truncated")
	}
	if err := m.UnmarshalBinary(buf[:n]); err != nil {
		closeFiles(files)
		return nil, err
	}
	return files, nil
}

func parseRights(oob []byte) []*os.File {
	if len(oob) == 0 {
		return nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var files []*os.File
	for _, cm := range msgs {
		fds, err := unix.ParseUnixRights(&cm)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "init-ipc-fd"))
		}
	}
	return files
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
