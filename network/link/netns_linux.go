package link

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// threadNetNS is the calling thread's own namespace link. /proc/self
// would name the thread group leader's, which a locked thread that has
// called setns or unshare no longer shares.
const threadNetNS = "/proc/thread-self/ns/net"

// NewNetNS creates a new, empty network namespace and returns a file that
// refers to it; the namespace lives as long as some file, process or
// socket refers to it. The caller's namespace does not change: the new one
// is made by unshare on a locked thread that the Go runtime then discards
// (a goroutine that exits locked takes its thread with it), so no thread
// of the process is ever left in it. Its loopback interface is down.
func NewNetNS() (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Deliberately never unlocked: after unshare this thread is in
		// the new namespace, and no other goroutine may run on it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("new network namespace: %w", os.NewSyscallError("unshare(CLONE_NEWNET)", err))}
			return
		}
		fd, err := unix.Open(threadNetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{err: fmt.Errorf("new network namespace: %w", &os.PathError{Op: "open", Path: threadNetNS, Err: err})}
			return
		}
		ch <- result{f: os.NewFile(uintptr(fd), "netns")}
	}()
	r := <-ch
	return r.f, r.err
}

// Do runs fn on a locked OS thread that has joined the network namespace
// nsFD, and returns fn's error. Sockets fn creates stay in that namespace
// after it returns (a socket belongs to the namespace it was created in),
// so Do is the way to listen or dial inside a container; other kernel
// objects fn looks up by path (/proc/sys/net, /proc/thread-self/net) are
// the namespace's too. Goroutines fn starts run on other threads, in the
// caller's namespace.
//
// Afterwards the thread rejoins its own namespace and goes back to the
// scheduler; if that fails it stays locked and the runtime discards it, so
// no other goroutine ever runs in the wrong namespace. A panic in fn is
// raised again in the caller's goroutine.
func Do(nsFD int, fn func() error) error {
	type result struct {
		err      error
		panicked bool
		panicVal any
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open(threadNetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("enter network namespace: %w", &os.PathError{Op: "open", Path: threadNetNS, Err: err})}
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(nsFD, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("enter network namespace: %w", os.NewSyscallError("setns", err))}
			return
		}
		var r result
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.panicked, r.panicVal = true, p
				}
			}()
			r.err = fn()
		}()
		// fn's outcome stands either way: a failed restore only means
		// this thread must not be reused, which staying locked ensures.
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- r
	}()
	r := <-ch
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}
