package initproc

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// initState is the long-lived state of the container's PID 1.
type initState struct {
	cfg      *Config
	conn     *Conn
	cgroupNS int // fd of the container's cgroup namespace

	// mu guards mainPid, execs and the wait4 calls: a child must be
	// recorded before the reaper can collect it, so spawning and reaping
	// take it in turn (and Go's ForkExec, which reaps a child whose exec
	// failed, never races the reaper).
	mu      sync.Mutex
	mainPid int
	execs   map[int]string // pid -> exec ID
}

// Main runs the init role. It never returns.
func Main() {
	// The shim starts the init with GOMAXPROCS=1 in its environment (read
	// by the runtime at start, unlike a runtime.GOMAXPROCS call, which
	// stops the world): the init mostly sleeps, and every thread it has
	// counts against the container's pids limit.
	//
	// Set-up runs on this thread; unshare(CLONE_NEWCGROUP) is per thread.
	runtime.LockOSThread()
	tracing = os.Getenv(debugEnv) != ""
	mark("main")
	markCloexec()
	mark("cloexec")
	// Exec'd as /proc/self/fd/N, the process would be named "N" in ps.
	os.WriteFile("/proc/self/comm", []byte("stack-init"), 0)
	mark("comm")

	conn, err := NewConn(fdIPC)
	if err != nil {
		fatal("ipc", err)
	}
	// The config comes as soon as the shim has it, and is decoded while
	// the shim places this process in its cgroup and sets up the network;
	// MsgStart says both are done.
	var m Message
	if _, err := conn.Recv(&m); err != nil {
		fatal("read config", err)
	}
	if m.Type != MsgConfig || m.Config == nil || m.Config.Spec == nil || m.Config.Spec.Process == nil {
		fatal("read config", fmt.Errorf("unexpected message %q", m.Type))
	}
	mark("config received")
	in := &initState{cfg: m.Config, conn: conn, cgroupNS: -1, execs: map[int]string{}}
	var start Message
	if _, err := conn.Recv(&start); err != nil {
		if errors.Is(err, ErrClosed) {
			os.Exit(255) // the shim gave up on this start
		}
		fatal("read start", err)
	}
	if start.Type != MsgStart {
		fatal("read start", fmt.Errorf("unexpected message %q", start.Type))
	}
	mark("start received")
	if err := in.setup(); err != nil {
		in.fail(err)
	}
	mark("set up")
	if err := in.startMain(); err != nil {
		in.fail(err)
	}
	mark("main process started")
	// Once the container has run a while (not at once: a short-lived
	// container would pay for it on its way out, and it would compete
	// with the container's start for the CPU): give the set-up's garbage,
	// most of the heap, back to the kernel, and handle the signals a host
	// administrator may send to the init itself.
	time.AfterFunc(time.Second, func() {
		debug.FreeOSMemory()
		go in.forwardSignals()
	})
	in.loop()
}

// fail reports a set-up failure to the shim and exits 255, as runc does.
func (in *initState) fail(err error) {
	var se *stepError
	stepName := "init"
	msg := err.Error()
	if errors.As(err, &se) {
		stepName, msg = se.step, se.err.Error()
	}
	if in.conn.Send(Message{Type: MsgFailed, Step: stepName, Error: msg}) != nil {
		fmt.Fprintf(os.Stderr, "stack init: %s: %s\n", stepName, msg)
	}
	os.Exit(255)
}

func fatal(what string, err error) {
	fmt.Fprintf(os.Stderr, "stack init: %s: %v\n", what, err)
	os.Exit(255)
}

// markCloexec makes every inherited descriptor above stderr close on exec,
// so no host descriptor reaches a container process (CVE-2024-21626):
// with one close_range(2) (Linux 5.11), else descriptor by descriptor
// from /proc/self/fd.
func markCloexec() {
	if unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

func (in *initState) startMain() error {
	p := in.cfg.Spec.Process
	stdio := []*os.File{os.NewFile(fdStdin, "stdin"), os.NewFile(fdStdout, "stdout"), os.NewFile(fdStderr, "stderr")}
	var master *os.File
	if p.Terminal {
		var err error
		master, stdio, err = in.openPty(p)
		if err != nil {
			return step("terminal", err)
		}
	}
	in.mu.Lock()
	pid, err := in.spawn(p, stdio, true)
	if err == nil {
		in.mainPid = pid
	}
	in.mu.Unlock()
	for _, f := range stdio {
		f.Close()
	}
	if err != nil {
		if master != nil {
			master.Close()
		}
		return err
	}
	var files []*os.File
	if master != nil {
		files = append(files, master)
		defer master.Close()
	}
	return in.conn.Send(Message{Type: MsgStarted, Pid: pid}, files...)
}

// spawn starts a container process as a child of init. Caller holds in.mu.
//
// Capabilities, no_new_privs and the cgroup namespace are per thread in
// Linux, and a forked child inherits the forking thread's. So the fork
// happens on a dedicated locked thread that first joins the container's
// cgroup namespace, drops the bounding set to the spec's and sets
// no_new_privs if asked; the goroutine then exits still locked, which makes
// the Go runtime discard the thread. This gives the child Docker's
// semantics without a second re-exec of the binary: root keeps exactly the
// bounding set through execve, and a non-root user ends with no effective
// capabilities (setuid clears them).
//
// The main process's working directory is made if missing (as Docker's
// WORKDIR); an exec's must exist (docker exec -w fails without it).
func (in *initState) spawn(p *specs.Process, stdio []*os.File, makeCwd bool) (int, error) {
	u, err := resolveInRoot(p.User.Username, groupAdd(in.cfg.Spec))
	if err != nil {
		return 0, step("user", err)
	}
	env := withHome(p.Env, u.Home)
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if makeCwd {
		if err := os.MkdirAll(cwd, 0o755); err != nil {
			return 0, step("working directory", err)
		}
	} else if fi, err := os.Stat(cwd); err != nil || !fi.IsDir() {
		var cause error = syscall.ENOTDIR
		if pe, ok := err.(*os.PathError); ok {
			cause = pe.Err
		}
		return 0, step("working directory", fmt.Errorf("chdir to cwd %q: %w", cwd, cause))
	}
	if len(p.Args) == 0 {
		return 0, step("exec", errors.New("no command specified"))
	}
	path, err := lookPath(p.Args[0], env)
	if err != nil {
		return 0, step("exec", err)
	}
	for _, f := range stdio {
		fixStdioOwner(f, u)
	}
	var bounding []string
	if p.Capabilities != nil {
		bounding = p.Capabilities.Bounding
	}
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread is thrown away
		pid, err := in.forkOnThisThread(path, p, env, cwd, u, stdio, bounding)
		done <- result{pid, err}
	}()
	r := <-done
	return r.pid, r.err
}

func (in *initState) forkOnThisThread(path string, p *specs.Process, env []string, cwd string, u *ExecUser, stdio []*os.File, bounding []string) (int, error) {
	if in.cgroupNS >= 0 {
		if err := unix.Setns(in.cgroupNS, unix.CLONE_NEWCGROUP); err != nil {
			return 0, step("join cgroup namespace", os.NewSyscallError("setns", err))
		}
	}
	if err := dropBounding(bounding); err != nil {
		return 0, step("capabilities", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return 0, step("capabilities", os.NewSyscallError("prctl ambient", err))
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return 0, step("no_new_privs", os.NewSyscallError("prctl", err))
		}
	}
	umask := 0o022
	if p.User.Umask != nil {
		umask = int(*p.User.Umask)
	}
	unix.Umask(umask)
	fds := make([]uintptr, len(stdio))
	for i, f := range stdio {
		fds[i] = f.Fd()
	}
	attr := &syscall.ProcAttr{
		Dir:   cwd,
		Env:   env,
		Files: fds,
		Sys: &syscall.SysProcAttr{
			Setsid:     true,
			Setctty:    p.Terminal,
			Ctty:       0,
			Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.Groups},
		},
	}
	pid, err := syscall.ForkExec(path, p.Args, attr)
	if err != nil {
		return 0, step("exec", fmt.Errorf("%s: %w", p.Args[0], err))
	}
	return pid, nil
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

// lookPath finds the program with the container's PATH (not the init's,
// which is empty after the environment is cleared).
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if err := executable(name); err != nil {
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
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q: executable file not found in $PATH", name)
}

func executable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return errors.New("is a directory")
	}
	if st.Mode()&0o111 == 0 {
		return os.ErrPermission
	}
	return nil
}

// fixStdioOwner hands a pipe to the container user, so a non-root process
// can reopen /dev/stdout (nginx does). Only pipes and ptys: the descriptor
// could be the host's /dev/null, which must never be chowned.
func fixStdioOwner(f *os.File, u *ExecUser) {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return
	}
	if st.Mode&unix.S_IFMT == unix.S_IFIFO || (st.Mode&unix.S_IFMT == unix.S_IFCHR && unix.Major(st.Rdev) == 136) {
		unix.Fchown(int(f.Fd()), int(u.UID), int(u.GID))
	}
}

// openPty allocates a terminal inside the container's devpts and returns the
// master plus the slave as stdin, stdout and stderr.
func (in *initState) openPty(p *specs.Process) (*os.File, []*os.File, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, os.NewSyscallError("unlockpt", err)
	}
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, os.NewSyscallError("ptsname", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	if p.ConsoleSize != nil {
		unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(p.ConsoleSize.Height), Col: uint16(p.ConsoleSize.Width)})
	}
	s2, _ := dupFile(slave)
	s3, _ := dupFile(slave)
	return master, []*os.File{slave, s2, s3}, nil
}

func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// loop is the init's life after start: serve execs, and reap on this
// goroutine until the main process exits.
//
// Children are collected with a blocking waitid rather than on SIGCHLD:
// os/signal's machinery costs the init about 2 ms of page faults at
// start, on the critical path.
func (in *initState) loop() {
	runtime.UnlockOSThread()
	go in.serve()
	for {
		// WNOWAIT leaves the zombie for reap, which collects under mu: a
		// child is never reaped before spawn has recorded it.
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOWAIT, nil)
		switch err {
		case nil:
			in.reap()
		case unix.EINTR:
		default:
			// ECHILD cannot last: the main process is our child until
			// reap sees it exit and ends the init.
			fatal("waitid", err)
		}
	}
}

// forwardSignals passes the signals a host administrator may send to the
// init itself on to the main process. Signals for the container's process
// come from the shim as messages (MsgSignal), so any signal reaches it
// without a handler here; without one, PID 1 of a namespace ignores any
// signal but SIGKILL and SIGSTOP from the host.
func (in *initState) forwardSignals() {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	for s := range sigs {
		in.mu.Lock()
		pid := in.mainPid
		in.mu.Unlock()
		unix.Kill(pid, s.(syscall.Signal))
	}
}

// reap collects every exited child. The main process's status ends the
// container (end).
func (in *initState) reap() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		code := exitCode(ws)
		if pid == in.mainPid {
			mark("main process exited")
			in.end(code)
		}
		in.reaped(pid, code)
	}
}

// reaped tells the shim that an exec process has ended. Caller holds in.mu.
func (in *initState) reaped(pid, code int) {
	if id, ok := in.execs[pid]; ok {
		delete(in.execs, pid)
		in.conn.Send(Message{Type: MsgExecExited, ExecID: id, Pid: pid, Status: code})
	}
}

// end ends the container with its main process's exit code: it kills and
// reaps every other process in the PID namespace (what the kernel would
// do when init exits), tells the shim the code (MsgExited), and exits
// with it. The shim can report the exit at once: the kernel's teardown of
// the namespaces on init's way out (RCU grace periods, milliseconds) no
// longer delays it. Caller holds in.mu.
func (in *initState) end(code int) {
	if os.Getpid() != 1 {
		// Not the init of a PID namespace of the container's own (none
		// is shared today): kill(-1) would reach beyond the container.
		in.conn.Send(Message{Type: MsgExited, Status: code})
		os.Exit(code)
	}
	unix.Kill(-1, unix.SIGKILL) // all in the namespace but init itself
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil { // ECHILD: none left
			break
		}
		in.reaped(pid, exitCode(ws))
	}
	in.conn.Send(Message{Type: MsgExited, Status: code})
	mark("exit reported")
	os.Exit(code)
}

func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// serve handles requests from the shim until the socket closes. If the shim
// dies the container dies with it (the shim set Pdeathsig on us), so a
// closed socket needs no further handling.
func (in *initState) serve() {
	for {
		var m Message
		files, err := in.conn.Recv(&m)
		if err != nil {
			return
		}
		switch m.Type {
		case MsgExec:
			in.exec(m, files)
		case MsgSignal:
			in.mu.Lock()
			if m.ExecID == "" {
				unix.Kill(in.mainPid, syscall.Signal(m.Signal))
			}
			for pid, id := range in.execs {
				if m.ExecID != "" && id == m.ExecID {
					unix.Kill(pid, syscall.Signal(m.Signal))
				}
			}
			in.mu.Unlock()
		default:
			for _, f := range files {
				f.Close()
			}
		}
	}
}

func (in *initState) exec(m Message, files []*os.File) {
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	p := m.Process
	if p == nil {
		in.conn.Send(Message{Type: MsgExecFailed, ExecID: m.ExecID, Error: "no process"})
		return
	}
	stdio := files
	var master *os.File
	if p.Terminal {
		var err error
		master, stdio, err = in.openPty(p)
		if err != nil {
			in.conn.Send(Message{Type: MsgExecFailed, ExecID: m.ExecID, Error: err.Error()})
			return
		}
		defer func() {
			for _, f := range stdio {
				f.Close()
			}
			master.Close()
		}()
	} else if len(stdio) != 3 {
		in.conn.Send(Message{Type: MsgExecFailed, ExecID: m.ExecID, Error: fmt.Sprintf("want 3 stdio descriptors, got %d", len(stdio))})
		return
	}
	var out []*os.File
	if master != nil {
		out = append(out, master)
	}
	// Started goes out before the reaper (blocked on mu) can report the
	// exit, so the shim always sees the two in order.
	in.mu.Lock()
	defer in.mu.Unlock()
	pid, err := in.spawn(p, stdio, false)
	if err != nil {
		in.conn.Send(Message{Type: MsgExecFailed, ExecID: m.ExecID, Error: err.Error()})
		return
	}
	in.execs[pid] = m.ExecID
	in.conn.Send(Message{Type: MsgExecStarted, ExecID: m.ExecID, Pid: pid}, out...)
}
