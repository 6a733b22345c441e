// Package prog writes the programs stack-init runs: lists of system calls
// whose string, blob and vector arguments live in the same buffer, so
// that code with no Go runtime (cmd/stack-init) can run them after
// relocating offsets into pointers. All the deciding (which mounts, which
// user, which path) is done in Go by whoever builds the program, the
// shim; stack-init only executes it.
//
// Layout (little endian): a header
//
//	magic u32 "STKP" | version u32 | nsetup u32 | nchild u32 | flags u32 | 0 u32
//
// then nsetup and nchild calls of CallSize bytes each,
//
//	nr u64 | kinds u64 | ok u64 | args [6]u64
//
// then the data. kinds has 2 bits per argument: KindInt an integer,
// KindPtr an offset into the buffer (a string, a blob) to turn into a
// pointer, KindVec the offset of a vector: a list of offsets, ended by ^0,
// turned in place into a NULL-ended array of pointers (argv, envp), and
// KindResult the return value of the call before (a descriptor just
// opened). ok is a bit set of errnos (below 64) that do not fail the call
// (EEXIST for a mkdir).
//
// The set-up calls run in PID 1; the child calls run in its child, the
// last one being the execve. With FlagExec, stack-init does not fork nor
// supervise: it makes the set-up and child calls itself, in order (an
// exec into a running container).
package prog

import (
	"encoding/binary"
	"syscall"
)

const (
	Magic    = 0x504b5453 // "STKP"
	Version  = 2
	HdrSize  = 24
	CallSize = 72

	KindInt    = 0
	KindPtr    = 1
	KindVec    = 2
	KindResult = 3

	// FlagExec: run every call in this process, no fork, no supervision.
	FlagExec = 1
)

// Descriptors of stack-init's contract with the shim. 0–2 are the
// container process's stdio.
const (
	// FDProgram is the program, read to its end and closed.
	FDProgram = 3
	// FDExit receives, when the main process has ended and the rest of the
	// namespace is killed and reaped, its exit code as a u32 (128+N for
	// signal N), just before stack-init exits: the shim need not wait for
	// the kernel's teardown of the namespaces.
	FDExit = 4
	// FDStart receives a failed call as [index u32, errno u32], from PID 1
	// or its child; it reaches end of file, with nothing written, once the
	// child's execve has succeeded (it is close-on-exec in the child, and
	// PID 1 closes its own copy after the fork).
	FDStart = 5
	// FDFirstFree is the first descriptor a program may use for its own
	// inherited files (a pidfd to setns with).
	FDFirstFree = 6
)

// Arg is one argument of a call.
type Arg struct {
	kind int
	n    uint64
	s    []byte   // KindPtr: the bytes (a string gets its NUL)
	v    []string // KindVec
}

// Int is an integer argument.
func Int[T ~int | ~uint | ~uint32 | ~uint64 | ~uintptr | ~int64 | ~int32](n T) Arg {
	return Arg{kind: KindInt, n: uint64(n)}
}

// Str is a NUL-terminated string argument.
func Str(s string) Arg { return Arg{kind: KindPtr, s: append([]byte(s), 0)} }

// Blob is a pointer to bytes (a struct, an array of gids).
func Blob(b []byte) Arg { return Arg{kind: KindPtr, s: b} }

// Vec is a NULL-ended array of strings (argv, envp).
func Vec(v []string) Arg { return Arg{kind: KindVec, v: v} }

// Result is the return value of the call before this one.
func Result() Arg { return Arg{kind: KindResult} }

type call struct {
	name string // what the caller reports when it fails
	nr   uint64
	ok   uint64
	args []Arg
}

// Program is a program being built.
type Program struct {
	setup, child []call
	flags        uint32
}

// SetExec makes the program an exec: no fork, every call in order.
func (p *Program) SetExec() { p.flags |= FlagExec }

// Setup adds a call for PID 1, named for error reports; errnos listed in
// ok do not fail it.
func (p *Program) Setup(name string, nr uintptr, ok []syscall.Errno, args ...Arg) {
	p.setup = append(p.setup, call{name, uint64(nr), errnoSet(ok), args})
}

// Child adds a call for the child, before its execve.
func (p *Program) Child(name string, nr uintptr, ok []syscall.Errno, args ...Arg) {
	p.child = append(p.child, call{name, uint64(nr), errnoSet(ok), args})
}

// Name is the name of the call at index i (as stack-init reports it:
// set-up calls first).
func (p *Program) Name(i int) string {
	switch {
	case i < 0:
	case i < len(p.setup):
		return p.setup[i].name
	case i-len(p.setup) < len(p.child):
		return p.child[i-len(p.setup)].name
	}
	return "init"
}

// IsLast reports whether index i is the program's last call (the execve).
func (p *Program) IsLast(i int) bool { return i == len(p.setup)+len(p.child)-1 }

func errnoSet(ok []syscall.Errno) uint64 {
	var s uint64
	for _, e := range ok {
		if e < 64 {
			s |= 1 << e
		}
	}
	return s
}

// Bytes encodes the program.
func (p *Program) Bytes() []byte {
	calls := append(append([]call(nil), p.setup...), p.child...)
	dataOff := HdrSize + CallSize*len(calls)
	b := make([]byte, dataOff, dataOff+1024)
	le := binary.LittleEndian
	le.PutUint32(b[0:], Magic)
	le.PutUint32(b[4:], Version)
	le.PutUint32(b[8:], uint32(len(p.setup)))
	le.PutUint32(b[12:], uint32(len(p.child)))
	le.PutUint32(b[16:], p.flags)
	for i, c := range calls {
		at := HdrSize + CallSize*i
		var kinds uint64
		var args [6]uint64
		for j, a := range c.args {
			kinds |= uint64(a.kind) << (2 * j)
			switch a.kind {
			case KindInt:
				args[j] = a.n
			case KindPtr:
				for len(b)%8 != 0 {
					b = append(b, 0)
				}
				args[j] = uint64(len(b))
				b = append(b, a.s...)
			case KindVec:
				offs := make([]uint64, len(a.v))
				for k, s := range a.v {
					offs[k] = uint64(len(b))
					b = append(append(b, s...), 0)
				}
				for len(b)%8 != 0 {
					b = append(b, 0)
				}
				args[j] = uint64(len(b))
				for _, o := range offs {
					b = le.AppendUint64(b, o)
				}
				b = le.AppendUint64(b, ^uint64(0))
			}
		}
		le.PutUint64(b[at:], c.nr)
		le.PutUint64(b[at+8:], kinds)
		le.PutUint64(b[at+16:], c.ok)
		for j, v := range args {
			le.PutUint64(b[at+24+8*j:], v)
		}
	}
	return b
}
