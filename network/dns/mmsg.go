package dns

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpBatch is the most queries read at once.
const udpBatch = 32

// batch reads the datagrams of a UDP socket, and writes answers to them,
// udpBatch at a time with recvmmsg(2) and sendmmsg(2): a burst of queries,
// as from many clients at once, then costs two system calls, not two per
// query. Nothing is allocated per datagram: the headers and buffers are
// reused, and an answer goes back to the sender's address as the kernel
// gave it. A batch is not safe for concurrent use.
//
// (x/net/ipv4's ReadBatch and WriteBatch make the same system calls, but
// allocate a net.UDPAddr per datagram read: garbage that a burst of
// lookups turns into a bigger heap in every shim.)
type batch struct {
	rc syscall.RawConn
	// rh, riov and from describe the datagrams read into buf. The
	// kernel reads the headers and iovecs through their pointers, so
	// a batch is allocated on the heap, which does not move.
	rh   [udpBatch]unix.Mmsghdr
	riov [udpBatch]unix.Iovec
	from [udpBatch]unix.RawSockaddrInet6 // big enough for either family
	buf  [udpBatch][]byte
	// out[i] is where the answer to datagram i is made; wh and wiov are
	// the n answers queued for the next flush.
	out  [udpBatch][]byte
	wh   [udpBatch]unix.Mmsghdr
	wiov [udpBatch]unix.Iovec
	n    int

	// recv and send are b.recvmmsg and b.sendmmsg; got, errno and sent
	// are their results.
	recv, send func(fd uintptr) bool
	got        int
	errno      syscall.Errno
	sent       int
}

func newBatch(uc *net.UDPConn) (*batch, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &batch{rc: rc}
	b.recv, b.send = b.recvmmsg, b.sendmmsg
	for i := range b.rh {
		// A query needs no more than 512 bytes, but a client may send
		// more, and UDP cuts what does not fit.
		b.buf[i] = make([]byte, maxMsgSize)
		b.out[i] = make([]byte, 0, 4096)
		b.riov[i].Base = &b.buf[i][0]
		b.riov[i].SetLen(len(b.buf[i]))
		b.rh[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.from[i]))
		b.rh[i].Hdr.Iov = &b.riov[i]
		b.rh[i].Hdr.SetIovlen(1)
	}
	return b, nil
}

// read waits for datagrams and reads up to udpBatch of them: b.pkt(0) to
// b.pkt(n-1).
func (b *batch) read() (n int, err error) {
	if err := b.rc.Read(b.recv); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, &net.OpError{Op: "recvmmsg", Net: "udp", Err: b.errno}
	}
	return b.got, nil
}

// recvmmsg is the reading half of read, for RawConn.Read, which calls it
// again when the socket is readable should it return false. (It is a
// method value made once, not a closure made per read, which would be
// allocated.)
//
// It is a raw system call: the socket is non-blocking, so the call never
// waits, and it need not tell the scheduler it is entering the kernel. A
// plain Syscall would, and in a shim whose one P was idle that wakes the
// runtime's monitor thread (sysmon) for every query that finds the server
// idle, a context switch or two each: BenchmarkDNSLookup measured the
// server's CPU per answer at 28-30 µs with 50 processes asking in a loop,
// 12-20 µs without (a responder that does nothing: 12-16 µs).
func (b *batch) recvmmsg(fd uintptr) bool {
	for i := range b.rh {
		b.rh[i].Hdr.Namelen = unix.SizeofSockaddrInet6
	}
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rh[0])), udpBatch, 0, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN, e == 0 && r == 0:
			return false
		}
		b.got, b.errno = int(r), e
		return true
	}
}

// pkt is datagram i of the last read.
func (b *batch) pkt(i int) []byte {
	return b.buf[i][:b.rh[i].Len]
}

// sender is the address datagram i of the last read came from.
func (b *batch) sender(i int) netip.AddrPort {
	sa := &b.from[i]
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), ntohs(sa4.Port))
	case unix.AF_INET6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			a = a.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(a, ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

// ntohs reads a port as sockaddrs hold it: in network byte order.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// queue queues resp, which must not be empty, to be sent by the next
// flush to the sender of datagram i of the last read.
func (b *batch) queue(i int, resp []byte) {
	w := &b.wh[b.n].Hdr
	w.Name, w.Namelen = b.rh[i].Hdr.Name, b.rh[i].Hdr.Namelen
	b.wiov[b.n].Base = &resp[0]
	b.wiov[b.n].SetLen(len(resp))
	w.Iov = &b.wiov[b.n]
	w.SetIovlen(1)
	b.n++
}

// flush sends the queued answers. One the kernel refuses (the client's
// problem: it will ask again) is dropped, and the others still sent; an
// error of the socket is left for the next read to see.
func (b *batch) flush() {
	for b.sent = 0; b.sent < b.n; {
		if err := b.rc.Write(b.send); err != nil {
			break
		}
	}
	clear(b.wiov[:b.n]) // let go of the answers
	b.n = 0
}

// sendmmsg is the writing half of flush, for RawConn.Write, as recvmmsg
// is read's, and raw for the same reason: the socket is non-blocking (and
// delivering to another socket over lo is work done, not waiting).
func (b *batch) sendmmsg(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.wh[b.sent])), uintptr(b.n-b.sent), 0, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		case 0:
			b.sent += max(1, int(r))
		default:
			b.sent++ // sendmmsg fails only on the first message it tries
		}
		return true
	}
}
