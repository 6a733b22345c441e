package shim

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"stack/engine/exeseal"
	"stack/engine/initproc"
)

// execProc is a process exec'd into the running container: a child of
// the shim (as under docker, whose exec processes are children of the
// containerd shim), in the container's namespaces and cgroup.
type execProc struct {
	cmd    *exec.Cmd
	master *os.File      // the terminal's master, when it has one
	done   chan struct{} // closed once it is reaped
	code   int           // its exit code, once done
}

// startExec starts p in the container of run r with the given stdio
// (consumed), and returns once p's program runs. The process is a
// stack-init in exec mode (initproc.Exec), started in the container's
// PID namespace and cgroup, which joins the container's other
// namespaces, takes p's identity and execs p. On failure the code is
// docker's exit code for it (126 or 127).
func (s *shim) startExec(r *runState, p *specs.Process, stdio []*os.File) (*execProc, int, error) {
	defer func() {
		for _, f := range stdio {
			f.Close()
		}
	}()
	init := r.cmd.Process.Pid
	x, err := initproc.Exec(init, s.cfg.Spec, p, stdio)
	if err != nil {
		return nil, execFailCode(err.Error()), err
	}
	var childEnds []*os.File
	defer func() {
		for _, f := range childEnds {
			f.Close()
		}
	}()
	fail := func(err error) (*execProc, int, error) {
		if x.Master != nil {
			x.Master.Close()
		}
		return nil, 126, fmt.Errorf("exec: %w", err)
	}
	files := stdio // the process's stdin, stdout and stderr
	if x.Slave != nil {
		childEnds = append(childEnds, x.Slave)
		files = []*os.File{x.Slave, x.Slave, x.Slave}
	}
	if len(files) != 3 {
		return fail(fmt.Errorf("want 3 stdio descriptors, got %d", len(files)))
	}
	exe, err := s.sealedInit()
	if err != nil {
		return fail(err)
	}
	pidfd, err := unix.PidfdOpen(init, 0)
	if err != nil {
		return fail(os.NewSyscallError("pidfd_open", err))
	}
	pidf := os.NewFile(uintptr(pidfd), "pidfd")
	childEnds = append(childEnds, pidf)
	progR, progW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	defer progW.Close()
	childEnds = append(childEnds, progR)
	startR, startW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	defer startR.Close()
	childEnds = append(childEnds, startW)
	cmd := &exec.Cmd{
		Path:   exeseal.Path(exe),
		Args:   []string{"stack-init"},
		Env:    []string{},
		Stdin:  files[0],
		Stdout: files[1],
		Stderr: files[2],
		// prog.FDProgram, FDExit (unused), FDStart, FDFirstFree
		ExtraFiles:  []*os.File{progR, nil, startW, pidf},
		SysProcAttr: &syscall.SysProcAttr{},
	}
	if cgfd, ok := s.cg.FD(); ok {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = cgfd
		defer unix.Close(cgfd)
	}
	if err := startInPIDNS(cmd, pidfd); err != nil {
		return fail(err)
	}
	for _, f := range childEnds {
		f.Close()
	}
	childEnds = nil
	e := &execProc{cmd: cmd, master: x.Master, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		e.code = exitStatus(cmd)
		close(e.done)
	}()
	failRunning := func(err error) (*execProc, int, error) {
		cmd.Process.Kill()
		<-e.done
		return fail(err)
	}
	if !cmd.SysProcAttr.UseCgroupFD {
		if err := s.cg.Add(cmd.Process.Pid); err != nil {
			return failRunning(err)
		}
	}
	_, err = progW.Write(x.Program.Bytes())
	progW.Close()
	if err != nil {
		return failRunning(err)
	}
	if err := waitStarted(startR, x.Program, x.Path); err != nil {
		<-e.done
		if x.Master != nil {
			x.Master.Close()
		}
		var se *startError
		if errors.As(err, &se) && se.step == "exec" {
			return nil, execFailCode(err.Error()), err
		}
		return nil, 126, err
	}
	return e, 0, nil
}

// startInPIDNS starts cmd as a child in the PID namespace of the process
// pidfd refers to. setns(CLONE_NEWPID) sets the namespace of the calling
// thread's future children only, so it is done on a thread locked for the
// purpose, which the Go runtime discards when the goroutine ends (it
// never unlocks).
func startInPIDNS(cmd *exec.Cmd, pidfd int) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(pidfd, unix.CLONE_NEWPID); err != nil {
			errc <- os.NewSyscallError("setns(CLONE_NEWPID)", err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// signal delivers sig to the process.
func (e *execProc) signal(sig syscall.Signal) {
	select {
	case <-e.done:
	default:
		e.cmd.Process.Signal(sig)
	}
}

func execFailCode(msg string) int {
	if strings.HasPrefix(msg, "working directory") {
		return 126 // docker's for a missing exec -w directory
	}
	if strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory") {
		return 127
	}
	return 126
}
