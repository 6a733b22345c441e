package prog

import (
	"encoding/binary"
	"syscall"
	"testing"
)

// TestLayout: the header, the calls' kinds and the data as stack-init
// reads them (cmd/stack-init's tests run the programs themselves).
func TestLayout(t *testing.T) {
	var p Program
	p.SetExec()
	p.Setup("open", syscall.SYS_OPEN, []syscall.Errno{syscall.ENOENT}, Str("/x"), Int(2), Int(0))
	p.Child("dup", syscall.SYS_DUP3, nil, Result(), Int(0), Int(0))
	p.Child("exec", syscall.SYS_EXECVE, nil, Str("/bin/true"), Vec([]string{"true"}), Vec(nil))
	b := p.Bytes()
	le := binary.LittleEndian
	if le.Uint32(b) != Magic || le.Uint32(b[4:]) != Version || le.Uint32(b[8:]) != 1 || le.Uint32(b[12:]) != 2 || le.Uint32(b[16:]) != FlagExec {
		t.Fatalf("header % x", b[:HdrSize])
	}
	call := func(i int) []byte { return b[HdrSize+CallSize*i : HdrSize+CallSize*(i+1)] }
	if c := call(0); le.Uint64(c) != syscall.SYS_OPEN || le.Uint64(c[8:]) != KindPtr || le.Uint64(c[16:]) != 1<<syscall.ENOENT {
		t.Errorf("call 0: % x", c)
	} else if off := le.Uint64(c[24:]); string(b[off:off+3]) != "/x\x00" {
		t.Errorf("call 0's string at %d: %q", off, b[off:off+3])
	}
	if c := call(1); le.Uint64(c[8:]) != KindResult {
		t.Errorf("call 1's kinds: %x", le.Uint64(c[8:]))
	}
	c := call(2)
	if kinds := le.Uint64(c[8:]); kinds != KindPtr|KindVec<<2|KindVec<<4 {
		t.Errorf("call 2's kinds: %x", kinds)
	}
	argv := le.Uint64(c[32:])
	if argv%8 != 0 || le.Uint64(b[argv+8:]) != ^uint64(0) {
		t.Errorf("argv at %d is not one offset then the end", argv)
	} else if s := le.Uint64(b[argv:]); string(b[s:s+5]) != "true\x00" {
		t.Errorf("argv[0] = %q", b[s:s+5])
	}
	if envp := le.Uint64(c[40:]); le.Uint64(b[envp:]) != ^uint64(0) {
		t.Errorf("empty envp is not just the end")
	}
	for i, want := range []string{"open", "dup", "exec", "init"} {
		if got := p.Name(i); got != want {
			t.Errorf("Name(%d) = %q, want %q", i, got, want)
		}
	}
	if !p.IsLast(2) || p.IsLast(1) {
		t.Error("IsLast")
	}
}
