package prog

import (
	"encoding/binary"
	"syscall"
)

// Process describes a container process, all decided: the executable's
// path resolved in the container, the user's numbers looked up in its
// /etc/passwd and /etc/group, capabilities as numbers.
type Process struct {
	Path      string // absolute, inside the container
	Args, Env []string
	Cwd       string
	UID, GID  uint32
	Groups    []uint32 // supplementary groups
	Bounding  []int    // the capabilities to keep, by number
	LastCap   int      // the kernel's highest capability (cap_last_cap)
	// Permitted is the process's permitted set before the calls (the
	// starter's: capget), kept as the effective and permitted sets while
	// the inheritable set is emptied; capset cannot add to it.
	Permitted  uint64
	NoNewPrivs bool
	Umask      uint32
	// Terminal makes stdin the controlling terminal. With TerminalPath,
	// that terminal is opened first (by its path in the container) as
	// stdin, stdout and stderr.
	Terminal     bool
	TerminalPath string
}

const (
	prCapbsetDrop        = 24
	prSetNoNewPrivs      = 38
	prCapAmbient         = 47
	prCapAmbientClearAll = 4
	capVersion3          = 0x20080522
)

// ChildProcess adds the calls that turn the child into p, in the order
// that keeps the privileges each call needs: a session of its own (with
// the terminal as its controlling one), the bounding set cut to
// p.Bounding and the inheritable set emptied (what root keeps through
// execve, as Docker does), no ambient capabilities, no_new_privs if
// asked, then groups, gid and uid, umask, working directory, and the
// execve.
func (p *Program) ChildProcess(proc Process) {
	p.Child("setsid", syscall.SYS_SETSID, nil)
	if proc.TerminalPath != "" {
		p.Child("terminal", syscall.SYS_OPEN, nil, Str(proc.TerminalPath), Int(syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC), Int(0))
		for fd := 0; fd < 3; fd++ {
			// dup3 returns the new descriptor: the next one copies it.
			p.Child("terminal", syscall.SYS_DUP3, nil, Result(), Int(fd), Int(0))
		}
	}
	if proc.Terminal {
		p.Child("terminal", syscall.SYS_IOCTL, nil, Int(0), Int(syscall.TIOCSCTTY), Int(0))
	}
	keep := map[int]bool{}
	for _, c := range proc.Bounding {
		keep[c] = true
	}
	for c := 0; c <= proc.LastCap; c++ {
		if !keep[c] {
			p.Child("capabilities", syscall.SYS_PRCTL, []syscall.Errno{syscall.EINVAL}, Int(prCapbsetDrop), Int(c))
		}
	}
	hdr := binary.LittleEndian.AppendUint32(nil, capVersion3)
	hdr = binary.LittleEndian.AppendUint32(hdr, 0) // this process
	// Two cap_user_data_t {effective, permitted, inheritable}: the low
	// and the high 32 capabilities.
	var data []byte
	for _, half := range []uint32{uint32(proc.Permitted), uint32(proc.Permitted >> 32)} {
		data = binary.LittleEndian.AppendUint32(data, half) // effective
		data = binary.LittleEndian.AppendUint32(data, half) // permitted
		data = binary.LittleEndian.AppendUint32(data, 0)    // inheritable
	}
	p.Child("capabilities", syscall.SYS_CAPSET, nil, Blob(hdr), Blob(data))
	p.Child("capabilities", syscall.SYS_PRCTL, []syscall.Errno{syscall.EINVAL}, Int(prCapAmbient), Int(prCapAmbientClearAll), Int(0), Int(0), Int(0))
	if proc.NoNewPrivs {
		p.Child("no_new_privs", syscall.SYS_PRCTL, nil, Int(prSetNoNewPrivs), Int(1), Int(0), Int(0), Int(0))
	}
	var groups []byte
	for _, g := range proc.Groups {
		groups = binary.LittleEndian.AppendUint32(groups, g)
	}
	if len(groups) == 0 {
		groups = make([]byte, 4) // a valid pointer for an empty list
	}
	p.Child("setgroups", syscall.SYS_SETGROUPS, nil, Int(len(proc.Groups)), Blob(groups))
	p.Child("setgid", syscall.SYS_SETRESGID, nil, Int(proc.GID), Int(proc.GID), Int(proc.GID))
	p.Child("setuid", syscall.SYS_SETRESUID, nil, Int(proc.UID), Int(proc.UID), Int(proc.UID))
	p.Child("umask", syscall.SYS_UMASK, nil, Int(proc.Umask))
	p.Child("working directory", syscall.SYS_CHDIR, nil, Str(proc.Cwd))
	p.Child("exec", syscall.SYS_EXECVE, nil, Str(proc.Path), Vec(proc.Args), Vec(proc.Env))
}

// Rlimit adds a set-up call that sets this process's limit res (inherited
// by the child).
func (p *Program) Rlimit(res int, soft, hard uint64) {
	lim := binary.LittleEndian.AppendUint64(nil, soft)
	lim = binary.LittleEndian.AppendUint64(lim, hard)
	p.Setup("rlimits", syscall.SYS_PRLIMIT64, nil, Int(0), Int(res), Blob(lim), Int(0))
}

// PivotRoot adds the set-up calls that make the working directory of
// PID 1 (the mounted rootfs) the root: pivot_root(".", "."), the old root
// detached from on top of the new one, and "/" as the working directory
// (as runc does, without a directory for the old root).
func (p *Program) PivotRoot() {
	p.Setup("pivot_root", syscall.SYS_PIVOT_ROOT, nil, Str("."), Str("."))
	p.Setup("pivot_root", syscall.SYS_UMOUNT2, nil, Str("."), Int(syscall.MNT_DETACH))
	p.Setup("pivot_root", syscall.SYS_CHDIR, nil, Str("/"))
}
