package shim

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"stack/engine/container"
	"stack/engine/ipc"
	"stack/engine/oci"
)

func signalIgnore(sigs ...os.Signal) { signal.Ignore(sigs...) }

// answering counts the requests being answered.
func (s *shim) answering(delta int) {
	s.ansMu.Lock()
	defer s.ansMu.Unlock()
	s.ansN += delta
	if s.ansN == 0 && s.ansIdle != nil {
		close(s.ansIdle)
		s.ansIdle = nil
	}
}

// waitAnswered waits, up to d, until no request is being answered.
func (s *shim) waitAnswered(d time.Duration) {
	s.ansMu.Lock()
	if s.ansN == 0 {
		s.ansMu.Unlock()
		return
	}
	idle := make(chan struct{})
	s.ansIdle = idle
	s.ansMu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	}
}

func (s *shim) accept(l *net.UnixListener) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return
		}
		go s.serve(ipc.New(c))
	}
}

// serve answers one client connection. A connection carries one request,
// except that an exec connection may then send signal requests for its
// process.
func (s *shim) serve(c *ipc.Conn) {
	defer c.Close()
	var req Request
	files, err := c.Recv(&req)
	if err != nil {
		return
	}
	// A request being answered holds the shim's exit back (waitAnswered):
	// the final answers (exited, the last output) go out before the
	// process ends and closes their connections.
	s.answering(1)
	defer s.answering(-1)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	switch req.Type {
	case ReqWait:
		<-s.final
		s.replyExited(c)
	case ReqStop:
		s.stop(req)
		s.replyExited(c)
	case ReqKill:
		if err := s.kill(syscall.Signal(req.Signal)); err != nil {
			c.Send(Response{Type: RespError, Error: err.Error(), NotRunning: errors.Is(err, errNotRunning)})
			return
		}
		c.Send(Response{Type: RespOK})
	case ReqPause, ReqUnpause:
		if err := s.pause(req.Type == ReqPause); err != nil {
			c.Send(Response{Type: RespError, Error: err.Error(), NotRunning: errors.Is(err, errNotRunning)})
			return
		}
		c.Send(Response{Type: RespOK})
	case ReqExec:
		s.exec(c, req, files)
	case ReqAttach:
		s.attach(c, req)
	case ReqSyncNetwork:
		if err := s.syncNetwork(); err != nil {
			c.Send(Response{Type: RespError, Error: err.Error()})
			return
		}
		c.Send(Response{Type: RespOK})
	case ReqWaitCondition:
		if err := s.waitCondition(req.Cond, c); err != nil {
			c.Send(Response{Type: RespError, Error: err.Error()})
			return
		}
		c.Send(Response{Type: RespOK})
	default:
		c.Send(Response{Type: RespError, Error: fmt.Sprintf("unknown request %q", req.Type)})
	}
}

func (s *shim) replyExited(c *ipc.Conn) {
	s.mu.Lock()
	r := Response{Type: RespExited, ExitCode: s.st.ExitCode, OOMKilled: s.st.OOMKilled}
	s.mu.Unlock()
	c.Send(r)
}

// stop sends the stop signal to init (which forwards it to the container's
// process), waits for the grace period, then kills the whole cgroup. It
// also ends any restart back-off: a stop is never undone by the policy.
func (s *shim) stop(req Request) {
	s.mu.Lock()
	s.st.ManualStop = true
	s.saveLocked()
	if s.backoff != nil {
		select {
		case <-s.backoff:
		default:
			close(s.backoff)
		}
	}
	r := s.cur
	s.mu.Unlock()
	if r == nil {
		<-s.final
		return
	}
	timeout := 10 * time.Second
	if s.cfg.StopTimeout != nil {
		timeout = time.Duration(*s.cfg.StopTimeout) * time.Second
	}
	if req.Timeout != nil {
		timeout = time.Duration(*req.Timeout) * time.Second
	}
	sig := syscall.Signal(req.Signal)
	if sig == 0 {
		sig = stopSignal(s.cfg)
	}
	// Signals queue on frozen tasks; a paused container must run to stop.
	s.cg.Thaw()
	if timeout > 0 && sig != syscall.SIGKILL {
		r.signal(sig)
		t := time.NewTimer(timeout)
		select {
		case <-r.exited:
			t.Stop()
			<-s.final
			return
		case <-t.C:
		}
	}
	s.killAll()
	<-s.final
}

func (s *shim) killAll() {
	s.mu.Lock()
	r := s.cur
	s.mu.Unlock()
	if r != nil {
		r.cmd.Process.Kill()
	}
	if s.cg != nil {
		s.cg.Kill(syscall.SIGKILL)
	}
}

// kill delivers sig to the container's main process (init forwards it). SIGKILL
// kills the init itself, which takes the whole PID namespace with it. Like
// docker, a kill counts as a manual stop for the restart policy.
func (s *shim) kill(sig syscall.Signal) error {
	s.mu.Lock()
	r := s.cur
	if sig == syscall.SIGKILL || sig == stopSignal(s.cfg) {
		s.st.ManualStop = true
		s.saveLocked()
	}
	s.mu.Unlock()
	if r == nil {
		return fmt.Errorf("container %s %w", s.cfg.Name, errNotRunning)
	}
	if sig == syscall.SIGKILL {
		s.cg.Thaw()
		s.killAll()
		return nil
	}
	return r.signal(sig)
}

// signal delivers sig to the container's main process: to init, which
// forwards every signal it can catch. SIGSTOP cannot be caught: it goes
// to the main process itself.
func (r *runState) signal(sig syscall.Signal) error {
	pid := r.cmd.Process.Pid
	if sig == syscall.SIGSTOP {
		if m := mainPid(pid); m > 0 {
			pid = m
		}
	}
	return unix.Kill(pid, sig)
}

// mainPid is the container's main process: the init's child (its only
// one, but for zombies being reaped), or 0.
func mainPid(init int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", init, init))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// waitCondition blocks until cond holds, or returns why it cannot: the
// container exited (with its code), or its healthcheck failed (with the
// last probe's output). It wakes on state changes, never on a timer. A
// client that goes away ends the wait.
func (s *shim) waitCondition(cond string, c *ipc.Conn) error {
	gone := make(chan struct{})
	go func() {
		var r Request
		c.Recv(&r) // returns when the client closes the connection
		close(gone)
	}()
	for {
		s.mu.Lock()
		st := s.st
		changed := s.waitChangeLocked()
		var err error
		done := false
		switch {
		case st.Status == container.Exited || st.Status == container.Dead:
			done, err = true, fmt.Errorf("container %s exited (%d)", s.cfg.Name, st.ExitCode)
		case st.Status == container.Restarting:
			// wait for the next run
		case cond == CondRunning:
			done = true
		case cond == CondHealthy && st.Health == nil:
			done = s.cfg.Healthcheck == nil
		case cond == CondHealthy && st.Health.Status == container.HealthHealthy:
			done = true
		case cond == CondHealthy && st.Health.Status == container.HealthUnhealthy:
			done, err = true, fmt.Errorf("container %s is unhealthy%s", s.cfg.Name, lastProbe(st.Health))
		}
		s.mu.Unlock()
		if done {
			return err
		}
		select {
		case <-changed:
		case <-gone:
			return errors.New("client gone")
		}
	}
}

// lastProbe describes the last healthcheck result for an error message.
func lastProbe(h *container.Health) string {
	if h == nil || len(h.Log) == 0 {
		return ""
	}
	p := h.Log[len(h.Log)-1]
	out := strings.TrimSpace(p.Output)
	if len(out) > 200 {
		out = out[:200] + "…"
	}
	return fmt.Sprintf(" (last probe: exit %d: %s)", p.ExitCode, out)
}

func (s *shim) pause(freeze bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return fmt.Errorf("container %s %w", s.cfg.Name, errNotRunning)
	}
	switch paused := s.st.Status == container.Paused; {
	case freeze && paused:
		return fmt.Errorf("container %s is already paused", s.cfg.Name)
	case !freeze && !paused:
		return fmt.Errorf("container %s is not paused", s.cfg.Name)
	}
	if freeze {
		if err := s.cg.Freeze(); err != nil {
			return err
		}
		s.st.Status = container.Paused
	} else {
		if err := s.cg.Thaw(); err != nil {
			return err
		}
		s.st.Status = container.Running
	}
	s.saveLocked()
	s.notifyLocked()
	return nil
}

// exec runs a process in the container and relays its start and exit
// to the client. The client's descriptors (stdin, stdout, stderr) become
// the process's; with a terminal, its pty master goes back.
func (s *shim) exec(c *ipc.Conn, req Request, files []*os.File) {
	s.mu.Lock()
	r := s.cur
	paused := s.st.Status == container.Paused
	s.mu.Unlock()
	if r == nil {
		closeFiles(files)
		c.Send(Response{Type: RespError, Error: fmt.Sprintf("container %s is not running", s.cfg.Name), NotRunning: true})
		return
	}
	if paused {
		closeFiles(files)
		c.Send(Response{Type: RespError, Error: fmt.Sprintf("container %s is paused, unpause the container before exec", s.cfg.Name)})
		return
	}
	p := req.Process
	if p == nil {
		closeFiles(files)
		c.Send(Response{Type: RespError, Error: "exec: no process"})
		return
	}
	if p.Terminal {
		closeFiles(files) // the process gets a pty of the container's
		files = nil
	}
	e, code, err := s.startExec(r, p, files)
	if err != nil {
		c.Send(Response{Type: RespError, Error: err.Error(), ExitCode: code})
		return
	}
	var out []*os.File
	if e.master != nil {
		out = append(out, e.master)
	}
	c.Send(Response{Type: RespExecStarted, Pid: e.cmd.Process.Pid}, out...)
	if e.master != nil {
		e.master.Close()
	}
	// Signals from the client for this process, until it exits.
	reading := make(chan struct{})
	go func() {
		defer close(reading)
		for {
			var sr Request
			fs, err := c.Recv(&sr)
			closeFiles(fs)
			if err != nil {
				return
			}
			if sr.Type == ReqSignalExec {
				e.signal(syscall.Signal(sr.Signal))
			}
		}
	}()
	<-e.done
	if c.Send(Response{Type: RespExecExited, ExitCode: e.code}) == nil {
		linger(reading)
	}
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// lingerTimeout bounds how long linger waits for a client to close.
const lingerTimeout = time.Second

// linger waits, at most lingerTimeout, until the client closes a
// connection the shim has sent its last answer on, while the goroutine
// reading the client's requests (reading, closed when it stops) drains
// them. The shim must not close first: closing a unix socket with a
// request of the client's still unread (a stdin close or a signal sent as
// the process ended) makes the kernel report ECONNRESET to the client
// before the answers queued for it, which would lose the exit code and
// the last output.
func linger(reading <-chan struct{}) {
	t := time.NewTimer(lingerTimeout)
	defer t.Stop()
	select {
	case <-reading:
	case <-t.C:
	}
}

// errNotRunning: no process of the container runs at the moment.
var errNotRunning = errors.New("is not running")

// stopSignal is the container's stop signal, SIGTERM by default.
func stopSignal(c *container.Config) syscall.Signal {
	if c.StopSignal != "" {
		if sig, err := oci.ParseSignal(c.StopSignal); err == nil {
			return sig
		}
	}
	return syscall.SIGTERM
}
