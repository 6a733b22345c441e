package shim

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"stack/engine/container"
)

// Docker keeps at most this much of a probe's output, and this many results.
const (
	maxProbeOutput = 4096
	maxProbeLog    = 5
)

// probeLoop runs the container's healthcheck for one run, until it ends.
//
// The first probe runs at once, not after a whole interval (a service that
// is ready in 100 ms should not wait 30 s to be seen healthy); during the
// start period probes come every start interval, and failures there do not
// count against the retries, as in Docker (moby daemon/health.go).
func (s *shim) probeLoop(r *runState, hc *container.Healthcheck) {
	start := time.Now()
	s.updateHealth(func(h *container.Health) {
		*h = container.Health{Status: container.HealthStarting}
	})
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-r.exited:
			return
		case <-timer.C:
		}
		res := s.probe(r, hc)
		select {
		case <-r.exited:
			return // a probe cut short by the end of the run says nothing
		default:
		}
		inStart := time.Since(start) < hc.StartPeriod
		var status string
		s.updateHealth(func(h *container.Health) {
			applyProbe(h, res, inStart, hc.Retries)
			status = h.Status
		})
		next := hc.Interval
		if inStart && status == container.HealthStarting {
			next = hc.StartInterval
		}
		timer.Reset(next)
	}
}

// applyProbe records one probe result, as Docker does: a success makes
// the container healthy, a failure adds to the failing streak (except
// while it is still starting within its start period), and retries
// failures in a row make it unhealthy. The last few results are kept.
func applyProbe(h *container.Health, res container.HealthProbe, inStart bool, retries int) {
	h.Log = append(h.Log, res)
	if len(h.Log) > maxProbeLog {
		h.Log = h.Log[len(h.Log)-maxProbeLog:]
	}
	switch {
	case res.ExitCode == 0:
		h.Status, h.FailingStreak = container.HealthHealthy, 0
	case inStart && h.Status == container.HealthStarting:
		// Not counted while the service may still be starting.
	default:
		h.FailingStreak++
		if h.FailingStreak >= retries {
			h.Status = container.HealthUnhealthy
		}
	}
}

// probe runs the healthcheck command once in the container (an exec),
// with the container's user and environment, and records its exit code
// and (combined, truncated) output. A probe that outlives the timeout is
// killed and counts as a failure.
func (s *shim) probe(r *runState, hc *container.Healthcheck) container.HealthProbe {
	res := container.HealthProbe{Start: time.Now().UTC()}
	finish := func(code int, out string) container.HealthProbe {
		res.End, res.ExitCode, res.Output = time.Now().UTC(), code, out
		return res
	}
	args := hc.Test[1:]
	if hc.Test[0] == "CMD-SHELL" {
		args = []string{"/bin/sh", "-c", strings.Join(hc.Test[1:], " ")}
	}
	base := s.cfg.Spec.Process
	p := &specs.Process{
		Args: args, Env: base.Env, Cwd: base.Cwd, User: base.User,
		Capabilities: base.Capabilities, NoNewPrivileges: base.NoNewPrivileges,
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return finish(-1, err.Error())
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		devnull.Close()
		return finish(-1, err.Error())
	}
	errW, err := dup(outW)
	if err != nil {
		devnull.Close()
		outR.Close()
		outW.Close()
		return finish(-1, err.Error())
	}
	e, code, err := s.startExec(r, p, []*os.File{devnull, outW, errW})
	if err != nil {
		outR.Close()
		return finish(code, err.Error())
	}
	outc := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(outR, maxProbeOutput))
		io.Copy(io.Discard, outR)
		outR.Close()
		outc <- string(b)
	}()
	t := time.NewTimer(hc.Timeout)
	defer t.Stop()
	select {
	case <-e.done:
		return finish(e.code, <-outc)
	case <-t.C:
		e.signal(syscall.SIGKILL)
		<-e.done
		<-outc
		return finish(-1, fmt.Sprintf("Health check exceeded timeout (%v)", hc.Timeout))
	}
}

func dup(f *os.File) (*os.File, error) {
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil, os.NewSyscallError("dup", err)
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// updateHealth changes the health state, saves it, and wakes whoever waits
// for a condition.
func (s *shim) updateHealth(fn func(*container.Health)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Health == nil {
		s.st.Health = &container.Health{}
	}
	fn(s.st.Health)
	s.saveLocked()
	s.notifyLocked()
}

// notifyLocked wakes every goroutine waiting in waitChange. Caller holds mu.
func (s *shim) notifyLocked() {
	if s.changed != nil {
		close(s.changed)
	}
	s.changed = make(chan struct{})
}

// waitChangeLocked returns a channel closed at the next state change. Caller
// holds mu.
func (s *shim) waitChangeLocked() <-chan struct{} {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}
