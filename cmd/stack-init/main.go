// Command stack-init is PID 1 of every container: started by the
// container's shim, it runs the program of system calls the shim built
// (package engine/initproc/prog), starts the container's process as its
// child, forwards signals to it, reaps every zombie, and exits with its
// exit code.
//
// It is written in Go but never starts the Go runtime: on the machines
// stack runs on, a runtime boot costs 6–9 ms and 175 page faults (a fault
// traps to the hypervisor), about a quarter of a container start, where
// this binary takes 0.3 ms of CPU and 7 faults. It is linked with its own
// entry point,
//
//	CGO_ENABLED=0 go build -ldflags=-E=main.entry ./cmd/stack-init
//
// (make build does), and entry (entry_amd64.s) points the FS register at
// a word holding a zeroed stand-in for the runtime's g, so that every
// function prologue's stack check passes (stackguard0 is 0), then calls
// start on the stack the kernel gave the process. From there on, only
// code that never calls into the runtime may run: raw system calls,
// arithmetic, arrays, and slices of memory that is not the heap. No
// allocation, map, channel, defer, panic or goroutine (TestNoRuntime
// checks the calls). Without the runtime the process has one thread, so
// fork is safe.
//
// The contract with the shim, by descriptor (prog.FD*): 0–2 the
// container's stdio; 3 the program; 4 the exit code, written just before
// exiting; 5 a failed call's index and errno, or end of file once the
// container's process has exec'd. Every other descriptor is closed on
// exec. A failed call ends the start with 125 (126 or 127 for the
// execve, as a shell reports a command it cannot run or find).
//
// PID 1 blocks every signal and reads them from a signalfd: SIGCHLD reaps
// every child (orphans included), any other signal goes to the main
// process. When the main process ends, the rest of the namespace is
// killed and reaped, and stack-init exits with the main process's status
// as a shell reports it (128+N for signal N).
//
// Without a program (tests), `stack-init PATH ARG...` runs PATH the same
// way.
package main

import (
	"syscall"
	"unsafe"

	"stack/engine/initproc/prog"
)

func entry()

// fakeG stands in for the runtime's g: zero, so every stack check passes.
var fakeG [1024]byte

// tlsBlock: FS points at its end; the word before FS holds &fakeG.
var tlsBlock [64]uintptr

const (
	sigSetmask        = 2
	sfdCloexec        = 0x80000
	wnohang           = 1
	sigchld           = 17
	sizeofSigset      = 8
	closeRangeCloexec = 4
	sysCloseRange     = 436
	// sizeofSiginfo is struct signalfd_siginfo's size; ssi_signo is its
	// first field.
	sizeofSiginfo = 128
)

func raw(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(trap, a1, a2, a3, a4, a5, a6)
	return r, e
}

func exit(code int) {
	raw(syscall.SYS_EXIT_GROUP, uintptr(code), 0, 0, 0, 0, 0)
}

func sigprocmask(set *uint64) {
	raw(syscall.SYS_RT_SIGPROCMASK, sigSetmask, uintptr(unsafe.Pointer(set)), 0, sizeofSigset, 0, 0)
}

// progBuf holds the program; its pages are touched only as far as the
// program goes.
var progBuf [1 << 20]byte

// start runs with no runtime; sp is the stack pointer the kernel handed
// the process: argc, argv..., 0, envp..., 0.
func start(sp unsafe.Pointer) {
	argc := *(*uintptr)(sp)
	argv := unsafe.Add(sp, 8)
	envp := unsafe.Add(argv, 8*(argc+1))

	var setup, child []call
	var flags uint32
	program := false
	if _, errno := raw(syscall.SYS_FCNTL, prog.FDProgram, syscall.F_GETFD, 0, 0, 0, 0); errno == 0 {
		var ok bool
		if setup, child, flags, ok = load(); !ok {
			exit(125)
		}
		program = true
	} else if argc < 2 {
		exit(2)
	}
	// No descriptor of the shim's may reach a container process
	// (CVE-2024-21626): all but stdio close on exec.
	raw(sysCloseRange, 3, ^uintptr(0), closeRangeCloexec, 0, 0, 0)

	if flags&prog.FlagExec != 0 {
		// An exec: this process becomes the container's process.
		if run(setup, 0) && run(child, len(setup)) {
			exit(127) // unreachable: the last call is the execve
		}
		exit(failCode(child))
	}

	all := ^uint64(0)
	sigprocmask(&all)
	sfd, errno := raw(syscall.SYS_SIGNALFD4, ^uintptr(0), uintptr(unsafe.Pointer(&all)), sizeofSigset, sfdCloexec, 0, 0)
	if errno != 0 {
		exit(125)
	}
	if !run(setup, 0) {
		exit(125)
	}
	pid, errno := raw(syscall.SYS_CLONE, sigchld, 0, 0, 0, 0, 0)
	if errno != 0 {
		exit(125)
	}
	if pid == 0 {
		none := uint64(0)
		sigprocmask(&none)
		if program {
			// The last call is the execve: it returns only on failure.
			run(child, len(setup))
			exit(failCode(child))
		}
		raw(syscall.SYS_SETSID, 0, 0, 0, 0, 0, 0)
		path := *(*uintptr)(unsafe.Add(argv, 8))
		_, errno := raw(syscall.SYS_EXECVE, path, uintptr(unsafe.Add(argv, 8)), uintptr(envp), 0, 0, 0)
		if errno == syscall.ENOENT {
			exit(127)
		}
		exit(126)
	}
	// The child's copy of the start descriptor closes at its execve. The
	// container's stdio is the child's alone: its pipes reach end of file
	// as soon as the container's processes are gone, not when this one is.
	for _, fd := range [...]uintptr{prog.FDStart, 0, 1, 2} {
		raw(syscall.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	}
	code := supervise(sfd, pid)
	if program {
		c := uint32(code)
		raw(syscall.SYS_WRITE, prog.FDExit, uintptr(unsafe.Pointer(&c)), 4, 0, 0, 0)
	}
	exit(code)
}

// failedCall is the call run stopped at, and its errno.
var failedCall struct {
	nr    uint64
	errno syscall.Errno
}

// failCode is the exit code of a process whose calls failed: a shell's
// for a command it cannot find (127) or run (126) when the execve
// failed, else 125.
func failCode(child []call) int {
	if failedCall.nr != syscall.SYS_EXECVE {
		return 125
	}
	if failedCall.errno == syscall.ENOENT {
		return 127
	}
	return 126
}

// call is one system call of the program, its pointers relocated.
type call struct {
	nr, kinds, ok uint64
	args          [6]uint64
}

// load reads the program from its descriptor and relocates its offsets
// into pointers into progBuf.
func load() (setup, child []call, flags uint32, ok bool) {
	n := uintptr(0)
	for n < uintptr(len(progBuf)) {
		r, errno := raw(syscall.SYS_READ, prog.FDProgram, uintptr(unsafe.Pointer(&progBuf[n])), uintptr(len(progBuf))-n, 0, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return nil, nil, 0, false
		}
		if r == 0 {
			break
		}
		n += r
	}
	raw(syscall.SYS_CLOSE, prog.FDProgram, 0, 0, 0, 0, 0)
	if n < prog.HdrSize || u32(0) != prog.Magic || u32(4) != prog.Version {
		return nil, nil, 0, false
	}
	ns, nc := uintptr(u32(8)), uintptr(u32(12))
	if ns > n || nc > n || prog.HdrSize+prog.CallSize*(ns+nc) > n {
		return nil, nil, 0, false
	}
	base := uintptr(unsafe.Pointer(&progBuf[0]))
	calls := unsafe.Slice((*call)(unsafe.Pointer(&progBuf[prog.HdrSize])), ns+nc)
	for i := range calls {
		c := &calls[i]
		for j := range c.args {
			switch (c.kinds >> (2 * j)) & 3 {
			case prog.KindPtr:
				if uintptr(c.args[j]) >= n {
					return nil, nil, 0, false
				}
				c.args[j] += uint64(base)
			case prog.KindVec:
				at := uintptr(c.args[j])
				for {
					if at+8 > n || at%8 != 0 {
						return nil, nil, 0, false
					}
					p := (*uint64)(unsafe.Pointer(&progBuf[at]))
					if *p == ^uint64(0) {
						*p = 0
						break
					}
					if uintptr(*p) >= n {
						return nil, nil, 0, false
					}
					*p += uint64(base)
					at += 8
				}
				c.args[j] += uint64(base)
			}
		}
	}
	return calls[:ns], calls[ns:], u32(16), true
}

// u32 reads the program's header.
func u32(at uintptr) uint32 { return *(*uint32)(unsafe.Pointer(&progBuf[at])) }

// run makes the calls in order; on a failure it reports the call's
// number in the program (first is the number of calls before these) and
// its errno on the start descriptor, and returns false.
func run(calls []call, first int) bool {
	var last uintptr
	for i := range calls {
		c := &calls[i]
		var a [6]uintptr
		for j := range a {
			a[j] = uintptr(c.args[j])
			if (c.kinds>>(2*j))&3 == prog.KindResult {
				a[j] = last
			}
		}
		r, errno := raw(uintptr(c.nr), a[0], a[1], a[2], a[3], a[4], a[5])
		last = r
		if errno == 0 || (errno < 64 && c.ok&(1<<errno) != 0) {
			continue
		}
		failedCall.nr, failedCall.errno = c.nr, errno
		rep := [2]uint32{uint32(first + i), uint32(errno)}
		raw(syscall.SYS_WRITE, prog.FDStart, uintptr(unsafe.Pointer(&rep[0])), 8, 0, 0, 0)
		return false
	}
	return true
}

// supervise forwards signals to the main process and reaps every child
// until the main process has ended; it returns the exit code.
func supervise(sfd, main uintptr) int {
	var info [sizeofSiginfo]byte
	for {
		n, errno := raw(syscall.SYS_READ, sfd, uintptr(unsafe.Pointer(&info[0])), sizeofSiginfo, 0, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 || n != sizeofSiginfo {
			return 125
		}
		signo := *(*uint32)(unsafe.Pointer(&info[0]))
		if signo != sigchld {
			raw(syscall.SYS_KILL, main, uintptr(signo), 0, 0, 0, 0)
			continue
		}
		for {
			var status uint32
			pid, errno := raw(syscall.SYS_WAIT4, ^uintptr(0), uintptr(unsafe.Pointer(&status)), wnohang, 0, 0, 0)
			if errno != 0 || pid == 0 {
				break
			}
			if pid == main {
				return finish(status)
			}
		}
	}
}

// finish kills what is left in the namespace, reaps it, and returns the
// main process's exit code.
func finish(status uint32) int {
	// Only as PID 1 of a namespace of its own: elsewhere kill(-1) would
	// reach every process the caller may signal.
	if pid, _ := raw(syscall.SYS_GETPID, 0, 0, 0, 0, 0, 0); pid == 1 {
		raw(syscall.SYS_KILL, ^uintptr(0), uintptr(syscall.SIGKILL), 0, 0, 0, 0)
	}
	for {
		var st uint32
		if _, errno := raw(syscall.SYS_WAIT4, ^uintptr(0), uintptr(unsafe.Pointer(&st)), 0, 0, 0, 0); errno == syscall.ECHILD {
			break
		}
	}
	ws := syscall.WaitStatus(status)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// main runs only in a binary linked without -E=main.entry, by mistake.
func main() {
	msg := "stack-init must be linked with -ldflags=-E=main.entry (make build)\n"
	syscall.Write(2, unsafe.Slice(unsafe.StringData(msg), len(msg)))
	syscall.Exit(2)
}
