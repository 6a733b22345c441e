package shim

import (
	"io"
	"sync"

	"golang.org/x/sys/unix"

	"stack/engine/ipc"
)

// fanout copies the container's output to attached clients. A client that
// does not keep up loses output rather than stalling the container: the
// log file is the complete record.
type fanout struct {
	mu      sync.Mutex // guards clients, done and the replay buffer
	clients map[*attachClient]bool
	done    bool
	// replay keeps the start of the run's output (up to replayMax bytes),
	// so a client that attaches right after start — `stack container run`
	// — sees the output from the first byte.
	replay      []Response
	replayBytes int
}

const replayMax = 1 << 20

type attachClient struct {
	ch chan Response
}

func newFanout() *fanout { return &fanout{clients: map[*attachClient]bool{}} }

// add registers a client and returns the output so far; false once the
// run has ended.
func (f *fanout) add() (*attachClient, []Response, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return nil, nil, false
	}
	c := &attachClient{ch: make(chan Response, 256)}
	f.clients[c] = true
	return c, append([]Response(nil), f.replay...), true
}

// dropReplay frees the replay buffer and stops recording one: it serves a
// client attaching right after start, and must not hold memory for the
// life of a chatty container.
func (f *fanout) dropReplay() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replay = nil
	f.replayBytes = replayMax
}

func (f *fanout) remove(c *attachClient) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.clients[c] {
		delete(f.clients, c)
		close(c.ch)
	}
}

// writer returns an io.Writer that sends what is written as stream name.
func (f *fanout) writer(name string) io.Writer { return streamWriter{f, name} }

type streamWriter struct {
	f    *fanout
	name string
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	if len(w.f.clients) == 0 && w.f.replayBytes >= replayMax {
		return len(p), nil
	}
	msg := Response{Type: RespOutput, Stream: w.name, Data: append([]byte(nil), p...)}
	if w.f.replayBytes < replayMax {
		w.f.replay = append(w.f.replay, msg)
		w.f.replayBytes += len(p)
	}
	for c := range w.f.clients {
		select {
		case c.ch <- msg:
		default: // slow client: drop
		}
	}
	return len(p), nil
}

// finish tells every client the run ended with code, after all output.
func (f *fanout) finish(code int, oom bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done = true
	for c := range f.clients {
		c.ch <- Response{Type: RespExited, ExitCode: code, OOMKilled: oom}
		close(c.ch)
		delete(f.clients, c)
	}
}

// attach streams the current run's output to the client, and its input to
// the container, until the run ends or the client goes away.
func (s *shim) attach(c *ipc.Conn, req Request) {
	s.mu.Lock()
	r := s.cur
	s.mu.Unlock()
	if r == nil {
		c.Send(Response{Type: RespError, Error: "container " + s.cfg.Name + " is not running", NotRunning: true})
		return
	}
	cl, replay, ok := r.fan.add()
	if !ok {
		c.Send(Response{Type: RespError, Error: "container " + s.cfg.Name + " is not running", NotRunning: true})
		return
	}
	if err := c.Send(Response{Type: RespOK}); err != nil {
		r.fan.remove(cl)
		return
	}
	for _, m := range replay {
		if c.Send(m) != nil {
			r.fan.remove(cl)
			return
		}
	}
	reading := make(chan struct{})
	go func() {
		defer close(reading)
		defer r.fan.remove(cl)
		for {
			var in Request
			files, err := c.Recv(&in)
			for _, f := range files {
				f.Close()
			}
			if err != nil {
				return
			}
			switch in.Type {
			case ReqStdin:
				r.writeStdin(in.Data)
			case ReqStdinClose:
				if req.Stdin && r.master == nil {
					r.closeStdin()
				}
			case ReqResize:
				if r.master != nil {
					unix.IoctlSetWinsize(int(r.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: in.Rows, Col: in.Cols})
				}
			}
		}
	}()
	for resp := range cl.ch {
		if c.Send(resp) != nil {
			r.fan.remove(cl)
			for range cl.ch {
			}
			return
		}
	}
	linger(reading)
}

func (r *runState) writeStdin(p []byte) {
	r.stdinMu.Lock()
	f := r.stdin
	r.stdinMu.Unlock()
	if f != nil {
		f.Write(p) // a closed stdin or a gone reader only loses input
	}
}

func (r *runState) closeStdin() {
	r.stdinMu.Lock()
	defer r.stdinMu.Unlock()
	if r.stdin != nil {
		r.stdin.Close()
		r.stdin = nil
	}
}

var _ io.Writer = streamWriter{}
