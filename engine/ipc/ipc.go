// Package ipc is the message transport between stack commands and a
// container's shim, over the shim's control socket. A message is one
// value in its binary form (encoding.BinaryMarshaler; the shim's types use
// stack/engine/wire) in one SOCK_SEQPACKET packet, optionally carrying
// file descriptors (SCM_RIGHTS). Seqpacket keeps message boundaries, so a
// descriptor always arrives with the message it belongs to.
//
// The shim and the container's init speak the same binary form over a
// socket pair of their own (engine/initproc: Conn), so the init links
// neither the net package nor this one.
package ipc

import (
	"encoding"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// MaxMessage bounds one packet. Messages are small control records; a
// process spec with a large environment still fits. The kernel refuses a
// seqpacket message larger than the socket's send buffer (EMSGSIZE; by
// default net.core.wmem_default, 208 KiB), so a larger bound could not
// be met anyway.
const MaxMessage = 128 << 10

// maxFDs bounds the descriptors accepted with one message.
const maxFDs = 16

// Conn is a seqpacket connection. Send and Recv may be called from different
// goroutines; concurrent Sends are safe (each is one sendmsg), concurrent
// Recvs are not.
type Conn struct {
	c   *net.UnixConn
	buf []byte
}

// New wraps an existing seqpacket connection.
func New(c *net.UnixConn) *Conn { return &Conn{c: c} }

// Dial connects to a seqpacket socket at path. Long paths (over the 108-byte
// sun_path limit, common under test temp dirs) are reached through an
// O_PATH descriptor of the directory.
func Dial(path string) (*Conn, error) {
	var c *net.UnixConn
	err := withShortPath(path, func(p string) error {
		var err error
		c, err = net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: p, Net: "unixpacket"})
		return err
	})
	if err != nil {
		return nil, err
	}
	return New(c), nil
}

// Listen creates a seqpacket listener at path, replacing a stale socket file.
func Listen(path string) (*net.UnixListener, error) {
	os.Remove(path)
	var l *net.UnixListener
	err := withShortPath(path, func(p string) error {
		var err error
		l, err = net.ListenUnix("unixpacket", &net.UnixAddr{Name: p, Net: "unixpacket"})
		return err
	})
	if err != nil {
		return nil, err
	}
	// The listener must not unlink the path on Close: a new shim may already
	// own a socket of the same name.
	l.SetUnlinkOnClose(false)
	return l, nil
}

func withShortPath(path string, fn func(string) error) error {
	if len(path) < 100 {
		return fn(path)
	}
	dir, err := os.OpenFile(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer dir.Close()
	return fn(fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path)))
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// CloseWrite is not available on seqpacket; Shutdown stops further sends.
func (c *Conn) Shutdown() error {
	raw, err := c.c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	raw.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_WR) })
	return serr
}

// Send sends m as one message with the given descriptors attached. The
// caller keeps ownership of the files.
func (c *Conn) Send(m encoding.BinaryMarshaler, files ...*os.File) error {
	b, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	if len(b) > MaxMessage {
		return fmt.Errorf("ipc: message of %d bytes exceeds %d", len(b), MaxMessage)
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	_, _, err = c.c.WriteMsgUnix(b, oob, nil)
	return err
}

// ErrClosed is returned by Recv when the peer has closed the connection.
var ErrClosed = errors.New("ipc: connection closed")

// Recv reads one message into m and returns the descriptors that came with
// it, which the caller owns.
func (c *Conn) Recv(m encoding.BinaryUnmarshaler) ([]*os.File, error) {
	size, err := c.nextSize()
	if err != nil {
		return nil, err
	}
	size = max(size, 1) // 0: the end of the stream, which the read reports
	if size > cap(c.buf) {
		c.buf = make([]byte, max(size, 512))
	}
	oob := make([]byte, unix.CmsgSpace(maxFDs*4))
	n, oobn, flags, _, err := c.c.ReadMsgUnix(c.buf[:size], oob)
	if errors.Is(err, io.EOF) {
		return nil, ErrClosed
	}
	if err != nil {
		return nil, err
	}
	files, ferr := parseRights(oob[:oobn])
	if n == 0 && oobn == 0 {
		return nil, ErrClosed
	}
	if flags&unix.MSG_TRUNC != 0 || flags&unix.MSG_CTRUNC != 0 {
		closeAll(files)
		return nil, fmt.Errorf("ipc: message truncated")
	}
	if ferr != nil {
		return nil, ferr
	}
	if err := m.UnmarshalBinary(c.buf[:n]); err != nil {
		closeAll(files)
		return nil, fmt.Errorf("ipc: decode: %w", err)
	}
	return files, nil
}

// nextSize waits for the next packet and returns its length without
// reading it (a peek with MSG_TRUNC reports a seqpacket message's whole
// length; 0 at the end of the stream), so that Recv allocates what the
// message needs rather than MaxMessage for every connection.
func (c *Conn) nextSize() (int, error) {
	raw, err := c.c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), nil, unix.MSG_PEEK|unix.MSG_TRUNC|unix.MSG_DONTWAIT)
		return rerr != unix.EAGAIN
	})
	if err == nil && rerr != nil {
		err = os.NewSyscallError("recvfrom", rerr)
	}
	if err != nil {
		return 0, err
	}
	if n > MaxMessage {
		// Read it (to drop it): the read below reports the truncation.
		n = MaxMessage
	}
	return n, nil
}

func parseRights(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "ipc-fd"))
		}
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
