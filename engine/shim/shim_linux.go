package shim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"stack/engine/cgroups"
	"stack/engine/container"
	"stack/engine/exeseal"
	"stack/engine/initproc"
	"stack/engine/initproc/prog"
	"stack/engine/ipc"
	"stack/engine/logs"
	"stack/engine/state"
	"stack/volume"
)

// idleAfter is how long a container runs before its shim and init return
// their start-up garbage to the kernel.
const idleAfter = time.Second

// Descriptors inherited from the starting command (Start): the ready
// pipe, the config in the launch form, and the sealed init binary; the
// last two only when the engine could make them.
const (
	fdReady   = 3
	fdLaunch  = 4
	fdInitExe = 5
)

// Main runs the shim role: `stack shim <container dir> <runtime dir> <id>`.
// It never returns.
func Main() {
	if len(os.Args) != 5 && len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: stack shim DIR RUNDIR ID [HINT]")
		os.Exit(2)
	}
	p := container.Paths{Dir: os.Args[2], RunDir: os.Args[3], ID: os.Args[4]}
	logf, err := os.OpenFile(p.ShimLog(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		logf = os.Stderr
	}
	level := slog.LevelInfo
	if os.Getenv("STACK_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: level}))
	// The starting command reads the ready pipe to its end: no child may
	// inherit it.
	unix.CloseOnExec(fdReady)
	ready := os.NewFile(fdReady, "ready")
	s := &shim{p: p, log: log, debug: level == slog.LevelDebug, initExe: inheritedInit(), launchCfg: inheritedLaunch()}
	s.mark("shim main")
	if s.debug {
		initproc.Trace = func(step string) { s.mark("prepare: " + step) }
	}
	if len(os.Args) == 6 {
		s.hint, s.hasHint = ParseHint(os.Args[5])
	}
	// The main thread is the spawn thread (see shim.spawn). The shim's
	// work runs on other goroutines, while this one first forks the init,
	// before anything else, so that its runtime boots while the shim's
	// reads the config and takes the lock; then it serves the spawn
	// requests of later forks.
	runtime.LockOSThread() // never unlocked: the main thread lives as long as the process
	s.spawn = make(chan func())
	preC := make(chan *forked, 1)
	go func() { os.Exit(s.run(ready, preC)) }()
	s.onSpawnThread = true
	pre := s.forkEarly()
	s.onSpawnThread = false
	preC <- pre
	for f := range s.spawn {
		f()
	}
}

// forkEarly starts the init from the command line's hint, before the
// config is read; it waits for its program, which follows once the root
// is prepared. On cgroup v2 the init is
// cloned into its cgroup, which needs the config: there (and for a
// container joining another's network namespace) it returns nil, and
// launch forks. A container on bridge networks gets a network namespace
// of the shim's, made on the spawn thread first, so the init is born into
// it; it is set up (veths, DNS, ports) while the init waits. It runs on
// the spawn thread.
func (s *shim) forkEarly() *forked {
	if !s.hasHint || s.hint.NetNS == NetNSJoin {
		return nil
	}
	if v2, err := cgroups.IsUnified(); err != nil || v2 {
		return nil
	}
	if s.hint.NetNS == NetNSOwn && s.enterOwnNetNS() != nil {
		return nil // launch tries again and reports
	}
	pre, _ := s.forkInit(s.hint, nil) // on failure, launch tries again and reports
	s.mark("init forked early")
	return pre
}

// onSpawn runs f on the spawn thread and waits for it.
func (s *shim) onSpawn(f func()) {
	if s.onSpawnThread {
		f()
		return
	}
	done := make(chan struct{})
	s.spawn <- func() { f(); close(done) }
	<-done
}

type shim struct {
	p       container.Paths
	hint    Hint // from the command line: start the init early
	hasHint bool
	log     *slog.Logger
	debug   bool // log start-up marks (STACK_DEBUG)
	// initExe is the sealed init binary every init of this shim is exec'd
	// from (sealedInit). Only forkInit uses it, and forks run one at a
	// time.
	initExe *os.File
	// launchCfg holds the config in the launch form, from the engine,
	// until loadConfig reads it.
	launchCfg *os.File
	cfg       *container.Config
	cg        cgroups.Manager

	logw *logs.Writer
	net  netState
	// ansN counts the requests being answered (see answering); ansIdle,
	// when set, is closed once it drops to zero. Guarded by ansMu.
	ansMu   sync.Mutex
	ansN    int
	ansIdle chan struct{}

	// netDone is closed when the network set-up that runs alongside the
	// first start is over; netErr is its failure.
	netDone chan struct{}
	netErr  error

	// spawn runs functions on the one OS thread that starts every init,
	// the main thread: Pdeathsig fires when the thread that forked the
	// child exits, so that thread must live as long as the shim.
	spawn chan func()
	// onSpawnThread is set while the main goroutine forks the first init
	// itself, on the spawn thread (Main): onSpawn then runs functions
	// directly. Only that goroutine reads it then; preC orders it before
	// any other use.
	onSpawnThread bool

	// mu guards st, run and the waiters.
	mu      sync.Mutex
	st      *container.State
	cur     *runState // the current run; nil between runs
	final   chan struct{}
	backoff chan struct{} // closed to cut a restart back-off short
	changed chan struct{} // closed at every state change (notifyLocked)
}

// runState is one run of the container's process (one init).
type runState struct {
	cmd    *exec.Cmd     // stack-init, the container's PID 1
	exited chan struct{} // closed once the run has ended and logs are drained
	ended  chan int      // the main process's exit code, from init (prog.FDExit)
	reaped chan struct{} // closed once init is reaped
	code   int
	oom    bool

	fan     *fanout // attached clients
	stdinMu sync.Mutex
	stdin   *os.File // the container's stdin (pipe or pty master), if open
	master  *os.File // the pty master, when the container has a terminal
}

func (s *shim) run(ready *os.File, preC <-chan *forked) int {
	// pre is the init forked early, once taken from preC; whoever does not
	// use it kills it.
	var pre *forked
	preTaken := false
	takePre := func() *forked {
		if !preTaken {
			pre, preTaken = <-preC, true
		}
		return pre
	}
	defer func() {
		if takePre() != nil {
			pre.abort()
		}
	}()
	lock, err := state.TryLock(s.p.ShimLock())
	if err != nil {
		s.report(ready, Ready{Error: fmt.Sprintf("shim lock: %v", err), ExitCode: 125})
		return 1
	}
	defer lock.Unlock()
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	signal_ignore()

	s.final = make(chan struct{})

	var st *container.State
	s.cfg, st, err = s.loadConfig()
	s.mark("config loaded")
	if err != nil {
		s.report(ready, Ready{Error: err.Error(), ExitCode: 125})
		return 1
	}
	// The cgroup is made while the rest of the shim sets up.
	cgc := s.startCgroup()
	defer func() {
		if cgc != nil { // not handed to launch: remove it
			if res := <-cgc; res.cg != nil {
				res.cg.Destroy()
			}
		}
	}()
	takePre()
	if s.st = st; st == nil {
		if s.st, err = container.LoadState(s.p); err != nil {
			s.st = &container.State{}
		}
	}

	lopts, err := logs.ParseOptions(s.cfg.LogOptions)
	if err != nil {
		s.report(ready, Ready{Error: err.Error(), ExitCode: 125})
		return 1
	}
	if s.logw, err = logs.NewWriter(s.p.Log(), lopts); err != nil {
		s.report(ready, Ready{Error: err.Error(), ExitCode: 125})
		return 1
	}
	defer s.logw.Close()

	l, err := ipc.Listen(socketPath(s.p))
	if err != nil {
		s.report(ready, Ready{Error: fmt.Sprintf("control socket: %v", err), ExitCode: 125})
		return 1
	}
	go s.accept(l)
	s.mark("listening")

	s.mu.Lock()
	s.st.ManualStop = false
	s.st.RestartCount = 0
	s.mu.Unlock()
	if err := s.enterNetwork(); err != nil {
		s.finish(-1, 125, false, err.Error())
		s.cleanup(l)
		s.report(ready, readyFromErr(err, 125))
		return 0
	}
	s.startNetwork()
	s.mark("launching")
	r, err := s.launch(pre, cgc)
	pre, cgc = nil, nil // launch used or aborted them
	if err != nil {
		code := startExitCode(err)
		s.finish(-1, code, false, err.Error())
		s.cleanup(l)
		s.report(ready, readyFromErr(err, code))
		return 0
	}
	s.report(ready, Ready{Pid: r.cmd.Process.Pid})
	s.mark("reported")
	// Start-up garbage (the decoded config, set-up buffers) is most of
	// the heap: give it back once the container has run a while (not at
	// once: a short-lived container would pay for it on its way out).
	time.AfterFunc(idleAfter, debug.FreeOSMemory)
	s.supervise(r)
	s.waitAnswered(time.Second)
	s.cleanup(l)
	s.mark("cleaned up")
	return 0
}

func signal_ignore() {
	// The shim runs in its own session; SIGHUP or SIGINT reaching it is a
	// stray, and must not take the container down.
	signalIgnore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE)
}

func (s *shim) report(ready *os.File, r Ready) {
	if b, err := r.MarshalBinary(); err == nil {
		ready.Write(b)
	}
	ready.Close()
}

// startCgroup makes the run's cgroup in the background. It is made while
// the init's runtime starts up: on a v1 or hybrid host the init is moved
// into it after clone anyway, and both steps cost milliseconds. On cgroup
// v2 the init is cloned straight into the cgroup, so there it must exist
// first.
func (s *shim) startCgroup() <-chan cgResult {
	cgc := make(chan cgResult, 1)
	go func() {
		cg, err := s.makeCgroup()
		cgc <- cgResult{cg, err}
		// Closed: whoever receives again (launch's clean-up after a
		// failed start) gets no cgroup rather than waiting forever.
		close(cgc)
	}()
	return cgc
}

// launch starts one run of the container: cgroup, pipes, init, program.
// pre is an init forked early and cgc a cgroup being made, or nil.
func (s *shim) launch(pre *forked, cgc <-chan cgResult) (*runState, error) {
	if cgc == nil {
		cgc = s.startCgroup()
	}
	r, cg, err := s.startInit(cgc, pre)
	if err != nil {
		if cg == nil {
			// Failed before taking the cgroup: collect it to remove it.
			cg = (<-cgc).cg
		}
		if cg != nil {
			cg.Kill(syscall.SIGKILL)
			cg.Destroy()
		}
		return nil, err
	}
	s.cg = cg
	now := time.Now().UTC()
	s.mu.Lock()
	s.cur = r
	s.st.Status = container.Running
	s.st.Pid = r.cmd.Process.Pid
	s.st.ShimPid = os.Getpid()
	s.st.StartedAt = now
	s.st.Error = ""
	s.st.OOMKilled = false
	s.st.Health = nil
	s.st.Ports = s.net.bound
	s.saveLocked()
	s.notifyLocked()
	s.mu.Unlock()
	if hc := s.cfg.Healthcheck; hc != nil && len(hc.Test) > 1 {
		go s.probeLoop(r, hc)
	}
	return r, nil
}

type cgResult struct {
	cg  cgroups.Manager
	err error
}

// makeCgroup creates a fresh cgroup for one run (OOM counters and
// leftovers start from zero) with the container's limits.
func (s *shim) makeCgroup() (cgroups.Manager, error) {
	spec := s.cfg.Spec
	cg, err := cgroups.New(cgroupPath(s.cfg))
	if err != nil {
		return nil, &startError{step: "cgroup", err: err}
	}
	cg.Destroy()
	if err := cg.Create(resourcesFromSpec(spec)); err != nil {
		cg.Destroy()
		return nil, &startError{step: "cgroup", err: err}
	}
	if !privileged(spec) {
		if err := cg.DevicesDenyAllExcept(cgroups.DefaultDeviceRules()); err != nil {
			cg.Destroy()
			return nil, &startError{step: "cgroup devices", err: err}
		}
	}
	return cg, nil
}

// forked is an init started but not yet given its program: it waits
// for it, while the shim does the rest of its set-up.
type forked struct {
	cmd        *exec.Cmd
	progW      *os.File // the program's pipe: written, then closed, once prepared
	exitR      *os.File // prog.FDExit's reading end
	startR     *os.File // prog.FDStart's reading end
	stdinW     *os.File // the container stdin's writing end, when a pipe
	outR, errR *os.File // the reading ends of stdout and stderr
	hint       Hint
	intoCgroup bool
}

// abort kills a forked init that will not be used.
func (f *forked) abort() {
	f.cmd.Process.Kill()
	f.cmd.Wait()
	f.closeAll()
}

func (f *forked) closeAll() {
	for _, c := range []*os.File{f.progW, f.exitR, f.startR, f.outR, f.errR, f.stdinW} {
		if c != nil {
			c.Close()
		}
	}
}

// forkInit starts an init (stack-init, from the sealed binary) in the
// container's new namespaces, on the spawn thread, with the container's
// stdio pipes. It waits for its program. On cgroup v2, cg is the cgroup
// it is cloned into; on v1 it is moved there before it gets its program.
func (s *shim) forkInit(h Hint, cg cgroups.Manager) (*forked, error) {
	if err := os.MkdirAll(s.p.Rootfs(), 0o755); err != nil {
		return nil, &startError{step: "rootfs mount point", err: err}
	}
	s.mark("forkInit")
	exe, err := s.sealedInit()
	if err != nil {
		return nil, &startError{step: "seal binary", err: err}
	}
	s.mark("sealed")
	f := &forked{hint: h}
	var childEnds []*os.File // the init's ends, closed once it has them
	defer func() {
		for _, c := range childEnds {
			c.Close()
		}
	}()
	fail := func(err error) (*forked, error) {
		f.closeAll()
		return nil, err
	}
	var progR, exitW, startW, stdin, outW, errW *os.File
	if progR, f.progW, err = os.Pipe(); err != nil {
		return fail(err)
	}
	childEnds = append(childEnds, progR)
	if f.exitR, exitW, err = os.Pipe(); err != nil {
		return fail(err)
	}
	childEnds = append(childEnds, exitW)
	if f.startR, startW, err = os.Pipe(); err != nil {
		return fail(err)
	}
	childEnds = append(childEnds, startW)
	// The container's stdin: /dev/null, or a pipe the shim keeps the
	// writing end of, for attach (docker run -i).
	if h.StdinPipe {
		stdin, f.stdinW, err = os.Pipe()
	} else {
		stdin, err = os.Open(os.DevNull)
	}
	if err != nil {
		return fail(err)
	}
	childEnds = append(childEnds, stdin)
	if f.outR, outW, err = os.Pipe(); err != nil {
		return fail(err)
	}
	childEnds = append(childEnds, outW)
	if f.errR, errW, err = os.Pipe(); err != nil {
		return fail(err)
	}
	childEnds = append(childEnds, errW)
	cmd := &exec.Cmd{
		Path:       exeseal.Path(exe),
		Args:       []string{"stack-init"},
		Env:        []string{},
		Stdin:      stdin,
		Stdout:     outW,
		Stderr:     errW,
		ExtraFiles: []*os.File{progR, exitW, startW}, // prog.FDProgram, FDExit, FDStart
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: h.CloneFlags,
			Pdeathsig:  syscall.SIGKILL,
		},
	}
	// On cgroup v2 the init is cloned straight into its cgroup
	// (CLONE_INTO_CGROUP); on v1 it is moved there before it may go on.
	if cg != nil {
		if cgfd, ok := cg.FD(); ok {
			cmd.SysProcAttr.UseCgroupFD = true
			cmd.SysProcAttr.CgroupFD = cgfd
			f.intoCgroup = true
			defer unix.Close(cgfd)
		}
	}
	var startErr error
	s.mark("cloning")
	s.onSpawn(func() { startErr = cmd.Start() })
	s.mark("cloned")
	if startErr != nil {
		return fail(&startError{step: "start init", err: startErr})
	}
	f.cmd = cmd
	return f, nil
}

// startInit gives an init — pre, forked early by run, when it fits the
// container's config, else a new one — its cgroup (from cgc), prepares
// its root and its program (initproc.Prepare) and waits until the
// container's process runs. It returns the cgroup whenever it got one,
// for cleanup.
func (s *shim) startInit(cgc <-chan cgResult, pre *forked) (*runState, cgroups.Manager, error) {
	spec := s.cfg.Spec
	var cg cgroups.Manager
	waitCgroup := func() error {
		if cg != nil {
			return nil
		}
		res := <-cgc
		cg = res.cg
		s.mark("cgroup ready")
		return res.err
	}
	want := HintFor(s.cfg)
	if pre != nil && pre.hint != want {
		pre.abort()
		pre = nil
	}
	f := pre
	if f == nil {
		if v2, err := cgroups.IsUnified(); err != nil || v2 {
			if err := waitCgroup(); err != nil {
				return nil, cg, err
			}
		}
		var err error
		if f, err = s.forkInit(want, cg); err != nil {
			return nil, cg, err
		}
	}
	cmd := f.cmd
	r := &runState{cmd: cmd, exited: make(chan struct{}), ended: make(chan int, 1), reaped: make(chan struct{}), fan: newFanout(), stdin: f.stdinW}
	fail := func(e error) (*runState, cgroups.Manager, error) {
		f.abort()
		return nil, cg, e
	}
	s.mark("init started")
	if !f.intoCgroup {
		if err := waitCgroup(); err != nil {
			return fail(err)
		}
		if err := cg.Add(cmd.Process.Pid); err != nil {
			return fail(&startError{step: "cgroup", err: err})
		}
		s.mark("init moved into its cgroup")
	}
	// The container's process starts once the init has its program: the
	// network must be ready by then (sysctls may name its interfaces).
	if err := s.waitNetwork(); err != nil {
		return fail(err)
	}
	prep, err := s.prepare(f)
	if err != nil {
		return fail(err)
	}
	s.mark("prepared")
	_, err = f.progW.Write(prep.Program.Bytes())
	f.progW.Close()
	f.progW = nil
	if err == nil {
		err = waitStarted(f.startR, prep.Program, prep.Path)
	}
	if err != nil {
		if prep.Master != nil {
			prep.Master.Close()
		}
		return fail(err)
	}
	f.startR.Close()
	f.startR = nil
	s.mark("container process started")
	var wg sync.WaitGroup
	outR, errR, exitR := f.outR, f.errR, f.exitR
	if spec.Process.Terminal && prep.Master != nil {
		outR.Close()
		errR.Close()
		r.master = prep.Master
		if s.cfg.OpenStdin {
			r.stdin = r.master
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.logw.Stream("stdout", io.TeeReader(r.master, r.fan.writer("stdout")))
		}()
	} else {
		wg.Add(2)
		go func() {
			defer wg.Done()
			s.logw.Stream("stdout", io.TeeReader(outR, r.fan.writer("stdout")))
			outR.Close()
		}()
		go func() {
			defer wg.Done()
			s.logw.Stream("stderr", io.TeeReader(errR, r.fan.writer("stderr")))
			errR.Close()
		}()
	}
	go func() {
		// The init writes the main process's exit code just before it
		// exits: the run's end is known without waiting for the kernel
		// to tear its namespaces down.
		var b [4]byte
		if _, err := io.ReadFull(exitR, b[:]); err == nil {
			r.ended <- int(binary.LittleEndian.Uint32(b[:]))
		}
		exitR.Close()
	}()
	time.AfterFunc(10*time.Second, r.fan.dropReplay)
	var reapCode int
	go func() {
		cmd.Wait()
		s.mark("init reaped")
		reapCode = exitStatus(cmd)
		close(r.reaped)
	}()
	go func() {
		// The run ends when init says the main process has (it has
		// killed and reaped the rest, and exits), or when init is gone
		// (killed).
		var code int
		select {
		case code = <-r.ended:
			s.mark("exit reported")
		case <-r.reaped:
			code = reapCode
		}
		// The pipes close when the last process holding them is gone:
		// all are by now.
		wg.Wait()
		oom, _ := cg.OOMKilled()
		r.code, r.oom = code, oom
		if r.master != nil {
			r.master.Close()
		}
		r.stdinMu.Lock()
		if r.stdin != nil && r.stdin != r.master {
			r.stdin.Close()
		}
		r.stdin = nil
		r.stdinMu.Unlock()
		r.fan.finish(code, oom)
		close(r.exited)
	}()
	return r, cg, nil
}

// exitStatus is a reaped process's exit code as a shell reports it:
// 128+N for signal N; 255 when it could not be waited for.
func exitStatus(cmd *exec.Cmd) int {
	if cmd.ProcessState == nil {
		return 255
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// prepare runs initproc.Prepare for the init f on a thread of its own,
// which Prepare moves into the init's namespaces and which dies with the
// goroutine.
func (s *shim) prepare(f *forked) (*initproc.Prepared, error) {
	cfg := &initproc.Config{
		ID:       s.cfg.ID,
		Spec:     s.cfg.Spec,
		Rootfs:   s.p.Rootfs(),
		Lower:    s.cfg.Lower,
		Upper:    s.p.Upper(),
		Work:     s.p.Work(),
		CgroupV1: cgroupV1Mounts(),
	}
	var stdio []*os.File // the shim's ends of the same pipes
	for _, f := range []*os.File{f.stdinW, f.outR, f.errR} {
		if f != nil {
			stdio = append(stdio, f)
		}
	}
	type result struct {
		p   *initproc.Prepared
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see initproc.Prepare
		p, err := initproc.Prepare(cfg, f.cmd.Process.Pid, stdio)
		done <- result{p, err}
	}()
	res := <-done
	if res.err != nil {
		if step, cause, ok := initproc.Step(res.err); ok {
			return nil, &startError{step: step, err: cause}
		}
		return nil, &startError{step: "prepare", err: res.err}
	}
	return res.p, nil
}

// waitStarted reads a stack-init's start descriptor to its end: nothing
// means the process has exec'd; else it names the call of p that failed,
// path being the executable for an execve.
func waitStarted(startR *os.File, p *prog.Program, path string) error {
	b, err := io.ReadAll(startR)
	if err != nil {
		return &startError{step: "start init", err: err}
	}
	if len(b) == 0 {
		return nil
	}
	if len(b) < 8 {
		return &startError{step: "init", err: fmt.Errorf("short report %x", b)}
	}
	i := int(binary.LittleEndian.Uint32(b))
	errno := syscall.Errno(binary.LittleEndian.Uint32(b[4:]))
	if p.IsLast(i) {
		return &startError{step: "exec", err: fmt.Errorf("%q: %w", path, errno)}
	}
	return &startError{step: p.Name(i), err: errno}
}

// supervise waits for each run to end and applies the restart policy. A
// run's end is reported as soon as it is known; the next run, or the
// shim's clean-up, waits for its init to be gone (its overlay mount and
// cgroup are in use until then).
func (s *shim) supervise(r *runState) {
	delay := 100 * time.Millisecond
	for {
		<-r.exited
		s.mark("exited")
		ranFor := time.Since(s.startedAt())
		s.mu.Lock()
		manual := s.st.ManualStop
		count := s.st.RestartCount
		s.mu.Unlock()
		restart := shouldRestart(s.cfg.Restart, r.code, count, manual)
		if !restart {
			s.finish(r.code, r.code, r.oom, "")
			s.mark("finished")
			<-r.reaped
			return
		}
		// Docker's back-off: 100 ms doubling to 1 min, reset after a run of
		// 10 s or more (moby restartmanager).
		if ranFor >= 10*time.Second {
			delay = 100 * time.Millisecond
		}
		s.mu.Lock()
		s.cur = nil
		s.st.Status = container.Restarting
		s.st.ExitCode = r.code
		s.st.OOMKilled = r.oom
		s.st.FinishedAt = time.Now().UTC()
		s.st.RestartCount++
		s.st.Pid = 0
		s.backoff = make(chan struct{})
		bo := s.backoff
		s.saveLocked()
		s.notifyLocked()
		s.mu.Unlock()
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-bo:
			t.Stop()
		}
		delay *= 2
		if delay > time.Minute {
			delay = time.Minute
		}
		s.mu.Lock()
		manual = s.st.ManualStop
		s.mu.Unlock()
		<-r.reaped
		if manual {
			s.finish(r.code, r.code, r.oom, "")
			return
		}
		nr, err := s.launch(nil, nil)
		if err != nil {
			s.finish(-1, startExitCode(err), false, err.Error())
			return
		}
		r = nr
	}
}

func (s *shim) startedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.StartedAt
}

// shouldRestart applies Docker's restart policies.
func shouldRestart(p container.RestartPolicy, code, count int, manual bool) bool {
	if manual {
		return false
	}
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		if code == 0 {
			return false
		}
		return p.MaxRetries <= 0 || count < p.MaxRetries
	}
	return false
}

// finish records the final state and wakes everyone waiting for the end.
func (s *shim) finish(_ int, code int, oom bool, errText string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = nil
	s.st.Status = container.Exited
	s.st.ExitCode = code
	s.st.OOMKilled = oom
	s.st.Pid = 0
	s.st.ShimPid = 0
	s.st.Ports = nil
	s.st.Error = errText
	s.st.FinishedAt = time.Now().UTC()
	s.saveLocked()
	s.notifyLocked()
	select {
	case <-s.final:
	default:
		close(s.final)
	}
}

func (s *shim) saveLocked() {
	if err := container.SaveState(s.p, s.st); err != nil {
		s.log.Error("save state", "err", err)
	}
}

func (s *shim) cleanup(l *net.UnixListener) {
	s.teardownNetwork()
	if s.cg != nil {
		if err := s.cg.Destroy(); err != nil {
			s.log.Error("remove cgroup", "err", err)
		}
	}
	l.Close()
	os.Remove(socketPath(s.p))
	if s.cfg.AutoRemove {
		// Aside first, as engine.Remove does: a crash mid-way leaves a
		// tombstone the next command sweeps, not half a container.
		trash := filepath.Join(filepath.Dir(s.p.Dir), ".rm-"+s.cfg.ID)
		if err := os.Rename(s.p.Dir, trash); err == nil {
			os.RemoveAll(trash)
		}
		os.RemoveAll(s.p.RunDir)
		s.removeAnonymousVolumes()
	}
}

// removeAnonymousVolumes removes, for a --rm container, its anonymous
// volumes that no other container mounts (docker run --rm's behaviour);
// named volumes are never touched.
func (s *shim) removeAnonymousVolumes() {
	var names []string
	for _, m := range s.cfg.Mounts {
		if m.Type == "volume" && m.Anonymous {
			names = append(names, m.Name)
		}
	}
	if len(names) == 0 {
		return
	}
	containers := filepath.Dir(s.p.Dir) // ROOT/containers
	used := map[string]bool{}
	ents, _ := os.ReadDir(containers)
	for _, e := range ents {
		// Containers being made (.tmp-ID) count: one may be taking
		// these volumes with volumes_from.
		if e.Name() == s.cfg.ID || strings.HasPrefix(e.Name(), ".rm-") {
			continue
		}
		c, err := container.LoadConfig(container.Paths{Dir: filepath.Join(containers, e.Name()), ID: e.Name()})
		if err != nil {
			continue
		}
		for _, m := range c.Mounts {
			used[m.Name] = true
		}
	}
	vols, err := volume.Open(filepath.Join(filepath.Dir(containers), "volumes"))
	if err != nil {
		s.log.Warn("remove anonymous volumes", "err", err)
		return
	}
	for _, n := range names {
		if !used[n] {
			if err := vols.Remove(n); err != nil {
				s.log.Warn("remove anonymous volume", "name", n, "err", err)
			}
		}
	}
}

// InitName is the container's init (cmd/stack-init), installed next to
// the runtime binary.
const InitName = "stack-init"

// InitEnv, when set, names the init binary instead (tests, which run
// from a test binary with no stack-init next to it).
const InitEnv = "STACK_INIT_BINARY"

// InitBinaryFor is the init binary for the shims exe starts: $STACK_INIT_BINARY
// if set, else stack-init next to exe (symlinks resolved).
func InitBinaryFor(exe string) (string, error) {
	if p := os.Getenv(InitEnv); p != "" {
		return p, nil
	}
	self, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return "", err
	}
	p := filepath.Join(filepath.Dir(self), InitName)
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("no %s next to %s: install stack with `make build` (the init is a binary of its own)", InitName, self)
	}
	return p, nil
}

// sealedInit returns the sealed init binary: the one the engine passed
// (fdInitExe), else one sealed here, once, and kept for every restart.
func (s *shim) sealedInit() (*os.File, error) {
	if s.initExe != nil {
		return s.initExe, nil
	}
	p, err := InitBinaryFor("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	f, err := exeseal.OpenFile(p, s.emptyDir())
	if err != nil {
		return nil, err
	}
	s.initExe = f
	return f, nil
}

// inheritedLaunch takes the launch form the engine passed as fdLaunch, if
// it did.
func inheritedLaunch() *os.File {
	if _, err := unix.FcntlInt(fdLaunch, unix.F_GETFD, 0); err != nil {
		return nil
	}
	unix.CloseOnExec(fdLaunch)
	return os.NewFile(fdLaunch, "launch")
}

// loadConfig reads the container's config, and its state: from the
// launch form when the engine passed one, else the config from
// config.json (and no state: the caller reads state.json).
func (s *shim) loadConfig() (*container.Config, *container.State, error) {
	if s.launchCfg == nil {
		c, err := container.LoadConfig(s.p)
		return c, nil, err
	}
	defer s.launchCfg.Close()
	b, err := io.ReadAll(s.launchCfg)
	if err != nil {
		return nil, nil, fmt.Errorf("read launch config: %w", err)
	}
	return container.DecodeLaunch(b)
}

// inheritedInit takes the sealed init binary the engine passed as
// fdInitExe, if it did, moved to a high descriptor: the init is exec'd
// as /proc/self/fd/N after its own descriptors (prog.FD*) are in place.
func inheritedInit() *os.File {
	if _, err := unix.FcntlInt(fdInitExe, unix.F_GETFD, 0); err != nil {
		return nil
	}
	fd, err := unix.FcntlInt(fdInitExe, unix.F_DUPFD_CLOEXEC, exeseal.MinFD)
	unix.Close(fdInitExe)
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(fd), "stack-init (sealed)")
}

func (s *shim) emptyDir() string {
	d := s.p.RunDir + "/empty"
	os.Mkdir(d, 0o700)
	return d
}

// startError is a failed start, tied to the step that failed.
type startError struct {
	step string
	err  error
}

func (e *startError) Error() string { return e.step + ": " + e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

func readyFromErr(err error, code int) Ready {
	var se *startError
	if errors.As(err, &se) {
		return Ready{Step: se.step, Error: se.err.Error(), ExitCode: code}
	}
	return Ready{Error: err.Error(), ExitCode: code}
}

// startExitCode maps a failed start to the code docker reports: 127 for a
// program that does not exist, 126 for one that cannot be run, else 128.
func startExitCode(err error) int {
	var ne *netError
	if errors.As(err, &ne) {
		return 125
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory") && strings.HasPrefix(msg, "exec"):
		return 127
	case strings.HasPrefix(msg, "exec"):
		return 126
	}
	return 128
}

// HintFor is the start hint of a container (see Hint).
func HintFor(c *container.Config) Hint {
	h := Hint{CloneFlags: cloneFlags(c.Spec), StdinPipe: c.OpenStdin && (c.Spec.Process == nil || !c.Spec.Process.Terminal)}
	switch _, join := container.NetworkContainer(c.NetworkMode); {
	case c.NetworkMode == container.NetworkBridge:
		h.NetNS = NetNSOwn
	case join:
		h.NetNS = NetNSJoin
	}
	return h
}

func cloneFlags(spec *specs.Spec) uintptr {
	var f uintptr
	if spec.Linux == nil {
		return unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Path != "" {
			continue // joining an existing namespace is done elsewhere
		}
		switch ns.Type {
		case specs.MountNamespace:
			f |= unix.CLONE_NEWNS
		case specs.PIDNamespace:
			f |= unix.CLONE_NEWPID
		case specs.UTSNamespace:
			f |= unix.CLONE_NEWUTS
		case specs.IPCNamespace:
			f |= unix.CLONE_NEWIPC
		case specs.NetworkNamespace:
			f |= unix.CLONE_NEWNET
		}
		// The cgroup namespace is unshared by init once it is in its
		// cgroup, which on a v1 host happens only after clone.
	}
	return f
}

func privileged(spec *specs.Spec) bool { return spec.Annotations["stack.privileged"] == "true" }

func cgroupPath(c *container.Config) string { return "stack/" + c.ID }

func resourcesFromSpec(spec *specs.Spec) cgroups.Resources {
	var r cgroups.Resources
	if spec.Linux == nil || spec.Linux.Resources == nil {
		return r
	}
	lr := spec.Linux.Resources
	if m := lr.Memory; m != nil {
		if m.Limit != nil {
			r.MemoryLimit = *m.Limit
		}
		if m.Swap != nil {
			r.MemorySwap = *m.Swap
		}
		if m.Reservation != nil {
			r.MemoryReservation = *m.Reservation
		}
	}
	if c := lr.CPU; c != nil {
		if c.Quota != nil {
			r.CPUQuota = *c.Quota
		}
		if c.Period != nil {
			r.CPUPeriod = *c.Period
		}
		if c.Shares != nil {
			r.CPUShares = *c.Shares
		}
		r.CpusetCpus, r.CpusetMems = c.Cpus, c.Mems
	}
	if p := lr.Pids; p != nil && p.Limit != nil {
		r.PidsLimit = *p.Limit
	}
	return r
}

// cgroupV1Mounts lists the host's cgroup v1 hierarchies for the container's
// /sys/fs/cgroup; empty on a pure v2 host.
func cgroupV1Mounts() []initproc.CgroupMount {
	ms, _ := cgroups.V1Mounts()
	out := make([]initproc.CgroupMount, len(ms))
	for i, m := range ms {
		out[i] = initproc.CgroupMount{Dir: m.Dir, Options: m.Options}
	}
	return out
}
