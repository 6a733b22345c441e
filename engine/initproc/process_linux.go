package initproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"stack/engine/initproc/prog"
	"stack/engine/rootfs"
)

// resolveProcess decides p in the container whose root is root: its user
// and groups from the image's /etc/passwd and /etc/group, HOME, its
// executable from its PATH, its working directory (made if missing for
// the main process, as Docker's WORKDIR; an exec's must exist, as docker
// exec -w wants), its capabilities, and its terminal: a pty of the
// container's devpts, whose master is returned, and whose slave is
// returned too for an exec (the main process opens it by path, as it
// starts after the shim's stdio is in place). stdio is handed to the
// user.
func resolveProcess(root *os.File, spec *specs.Spec, p *specs.Process, stdio []*os.File, main bool) (proc prog.Process, master, slave *os.File, err error) {
	u, err := userInRoot(root, p.User.Username, groupAdd(spec))
	if err != nil {
		return proc, nil, nil, step("user", err)
	}
	env := withHome(p.Env, u.Home)
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if main {
		d, err := rootfs.MkdirAllInRoot(root, cwd, 0o755)
		if err != nil {
			return proc, nil, nil, step("working directory", err)
		}
		d.Close()
	} else if d, err := rootfs.OpenInRoot(root, cwd, unix.O_PATH|unix.O_DIRECTORY); err != nil {
		var cause error = syscall.ENOTDIR
		if pe, ok := err.(*os.PathError); ok {
			cause = pe.Err
		}
		return proc, nil, nil, step("working directory", fmt.Errorf("chdir to cwd %q: %w", cwd, cause))
	} else {
		d.Close()
	}
	if len(p.Args) == 0 {
		return proc, nil, nil, step("exec", errors.New("no command specified"))
	}
	path, err := lookPathInRoot(root, p.Args[0], cwd, env)
	if err != nil {
		return proc, nil, nil, step("exec", err)
	}
	var bounding []int
	if p.Capabilities != nil {
		if bounding, err = capSet(p.Capabilities.Bounding); err != nil {
			return proc, nil, nil, step("capabilities", err)
		}
	}
	perm, err := permitted()
	if err != nil {
		return proc, nil, nil, step("capabilities", err)
	}
	umask := uint32(0o022)
	if p.User.Umask != nil {
		umask = *p.User.Umask
	}
	proc = prog.Process{
		Path: path, Args: p.Args, Env: env, Cwd: cwd,
		UID: u.UID, GID: u.GID, Groups: u.Groups,
		Bounding: bounding, LastCap: lastCap(), Permitted: perm,
		NoNewPrivs: p.NoNewPrivileges, Umask: umask, Terminal: p.Terminal,
	}
	if p.Terminal {
		var n uint32
		master, slave, n, err = openPty(root, p)
		if err != nil {
			return proc, nil, nil, step("terminal", err)
		}
		unix.Fchown(int(slave.Fd()), int(u.UID), int(u.GID))
		if main {
			proc.TerminalPath = fmt.Sprintf("/dev/pts/%d", n)
			slave.Close()
			slave = nil
		}
	}
	for _, f := range stdio {
		fixStdioOwner(f, u)
	}
	return proc, master, slave, nil
}

// userInRoot resolves spec against the image's /etc/passwd and /etc/group.
func userInRoot(root *os.File, spec string, extra []string) (*ExecUser, error) {
	var pr, gr io.Reader
	if f, err := rootfs.OpenInRoot(root, "/etc/passwd", unix.O_RDONLY); err == nil {
		defer f.Close()
		pr = f
	}
	if f, err := rootfs.OpenInRoot(root, "/etc/group", unix.O_RDONLY); err == nil {
		defer f.Close()
		gr = f
	}
	return ResolveUser(spec, pr, gr, extra)
}

// groupAdd returns compose's group_add, carried as an annotation.
func groupAdd(s *specs.Spec) []string {
	if v := s.Annotations["stack.group_add"]; v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

func withHome(env []string, home string) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "HOME=") {
			return env
		}
	}
	return append(append([]string(nil), env...), "HOME="+home)
}

// lookPathInRoot finds the program in the container, with the process's
// PATH (relative names against its working directory), as execvp would.
func lookPathInRoot(root *os.File, name, cwd string, env []string) (string, error) {
	abs := func(p string) string {
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		return p
	}
	if strings.Contains(name, "/") {
		if err := executableInRoot(root, abs(name)); err != nil {
			return "", fmt.Errorf("%q: %w", name, err)
		}
		return name, nil
	}
	pathEnv := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if executableInRoot(root, abs(p)) == nil {
			return abs(p), nil
		}
	}
	return "", fmt.Errorf("%q: executable file not found in $PATH", name)
}

func executableInRoot(root *os.File, p string) error {
	f, err := rootfs.OpenInRoot(root, p, unix.O_PATH)
	if err != nil {
		if pe, ok := err.(*os.PathError); ok {
			return pe.Err
		}
		return err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return errors.New("is a directory")
	}
	if st.Mode&0o111 == 0 {
		return os.ErrPermission
	}
	return nil
}

// fixStdioOwner hands a pipe to the container user, so a non-root process
// can reopen /dev/stdout (nginx does). Only pipes: the descriptor could be
// the host's /dev/null, or an exec client's own terminal, which must never
// be chowned (a container's terminal is chowned where it is made).
func fixStdioOwner(f *os.File, u *ExecUser) {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return
	}
	if st.Mode&unix.S_IFMT == unix.S_IFIFO {
		unix.Fchown(int(f.Fd()), int(u.UID), int(u.GID))
	}
}

// openPty allocates a terminal in the container's devpts: its master, its
// slave (opened through the master, TIOCGPTPEER) and its number.
func openPty(root *os.File, p *specs.Process) (master, slave *os.File, n uint32, err error) {
	master, err = rootfs.OpenInRoot(root, "/dev/pts/ptmx", unix.O_RDWR|unix.O_NOCTTY)
	if err != nil {
		return nil, nil, 0, err
	}
	fail := func(err error) (*os.File, *os.File, uint32, error) {
		master.Close()
		return nil, nil, 0, err
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return fail(os.NewSyscallError("unlockpt", err))
	}
	if n, err = unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN); err != nil {
		return fail(os.NewSyscallError("ptsname", err))
	}
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, master.Fd(), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return fail(os.NewSyscallError("TIOCGPTPEER", errno))
	}
	if p.ConsoleSize != nil {
		unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(p.ConsoleSize.Height), Col: uint16(p.ConsoleSize.Width)})
	}
	return master, os.NewFile(fd, fmt.Sprintf("/dev/pts/%d", n)), n, nil
}

// Execing is an exec made ready by Exec.
type Execing struct {
	// Program is what stack-init, in exec mode, runs: write it to its
	// prog.FDProgram. It joins the namespaces of the container's init
	// through a pidfd it must inherit as prog.FDFirstFree.
	Program *prog.Program
	// Path is the executable, as resolved (for errors).
	Path string
	// Master and Slave are the terminal's ends, when the process has one:
	// the slave is its stdin, stdout and stderr.
	Master, Slave *os.File
}

// ExecNamespaces are the namespaces an exec joins with setns; the PID
// namespace is the starter's to give (pid_for_children).
const ExecNamespaces = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

// Exec decides p, to run in the container whose init is pid, against the
// container's root (the init's, through /proc), and returns the program
// that makes a stack-init in exec mode that process: it joins the
// container's namespaces, takes the container's rlimits, then p's
// identity, and execs. stdio is handed to the process's user.
func Exec(pid int, spec *specs.Spec, p *specs.Process, stdio []*os.File) (*Execing, error) {
	root, err := os.OpenFile(fmt.Sprintf("/proc/%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, step("container root", err)
	}
	defer root.Close()
	proc, master, slave, err := resolveProcess(root, spec, p, stdio, false)
	if err != nil {
		return nil, err
	}
	x := &Execing{Program: &prog.Program{}, Path: proc.Path, Master: master, Slave: slave}
	x.Program.SetExec()
	x.Program.Setup("join namespaces", unix.SYS_SETNS, nil, prog.Int(prog.FDFirstFree), prog.Int(ExecNamespaces))
	var limits []specs.POSIXRlimit
	if spec.Process != nil {
		limits = spec.Process.Rlimits
	}
	if err := rlimits(x.Program, limits); err != nil {
		x.Close()
		return nil, err
	}
	x.Program.ChildProcess(proc)
	return x, nil
}

// Close closes the terminal's ends, if any.
func (x *Execing) Close() {
	for _, f := range []*os.File{x.Master, x.Slave} {
		if f != nil {
			f.Close()
		}
	}
}
