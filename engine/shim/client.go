package shim

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"stack/engine/container"
	"stack/engine/ipc"
)

// ErrNotRunning is returned by clients when no shim serves the container.
var ErrNotRunning = errors.New("container is not running")

// Start starts a shim for the container at p and waits until the
// container's process runs (or failed to start). exe is the binary to run
// as the shim (normally /proc/self/exe). cfg and st are the container's
// config and state, handed to the shim in the launch form
// (container.EncodeLaunch) so that it need not decode config.json and
// state.json. initExe, when not nil, is the
// sealed init binary (InitBinaryFor(exe), sealed by the caller once for
// all its shims; else each shim seals its own). The shim is not waited
// for by the caller's process unless reap is true (a long-lived caller
// must reap it to avoid a zombie; a CLI that exits right away need not).
func Start(exe string, p container.Paths, cfg *container.Config, st *container.State, reap bool, initExe *os.File) (Ready, error) {
	if err := os.MkdirAll(p.RunDir, 0o700); err != nil {
		return Ready{}, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return Ready{}, err
	}
	defer r.Close()
	// Without a launch form (no memfd) the shim reads the JSON records.
	launch, _ := launchFile(cfg, st)
	if launch != nil {
		defer launch.Close()
	}
	cmd := exec.Command(exe, Arg, p.Dir, p.RunDir, p.ID, HintFor(cfg).String())
	cmd.Args[0] = "stack"
	// A nil file leaves its descriptor closed in the shim.
	cmd.ExtraFiles = []*os.File{w, launch, initExe} // fdReady, fdLaunch, fdInitExe
	cmd.Env = shimEnv(os.Environ())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return Ready{}, fmt.Errorf("start shim: %w", err)
	}
	w.Close()
	if reap {
		go cmd.Wait()
	} else {
		cmd.Process.Release()
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return Ready{}, fmt.Errorf("read shim status: %w", err)
	}
	if len(b) == 0 {
		return Ready{}, fmt.Errorf("shim exited before the container started (see %s)", p.ShimLog())
	}
	var rd Ready
	if err := rd.UnmarshalBinary(b); err != nil {
		return Ready{}, err
	}
	return rd, nil
}

// shimEnv is the shim's environment: the caller's, with one processor for
// its Go runtime (GOMAXPROCS=1, read at start). The shim's work is
// waiting on descriptors, never computing in parallel; with a second P
// the runtime starts threads to look for work that is not there, and on
// a virtual machine, where every thread start and page fault traps to
// the hypervisor, that is measurable both in the start of a container
// (BenchmarkRunTrue) and in the DNS server's CPU per answer
// (BenchmarkDNSLookup).
func shimEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") {
			out = append(out, kv)
		}
	}
	return append(out, "GOMAXPROCS=1")
}

// launchFile returns a memfd holding cfg and st in the launch form, read
// from its start.
func launchFile(cfg *container.Config, st *container.State) (*os.File, error) {
	fd, err := unix.MemfdCreate("stack-launch", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "launch")
	if _, err := f.Write(container.EncodeLaunch(cfg, st)); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Client is a connection to a container's shim.
type Client struct{ c *ipc.Conn }

// Dial connects to the shim of the container at p; ErrNotRunning if none.
// A shim of a build whose protocol differs listens at another name: that
// is an error naming the way out, not ErrNotRunning, which would make a
// stop or rm believe the container had ended.
func Dial(p container.Paths) (*Client, error) {
	c, err := ipc.Dial(socketPath(p))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			if other := otherSocket(p); other != "" && container.ShimAlive(p) {
				how := "kill its shim"
				if st, err := container.LoadState(p); err == nil && st.ShimPid > 0 {
					how = fmt.Sprintf("kill its shim (pid %d)", st.ShimPid)
				}
				return nil, fmt.Errorf("container %s is supervised by a shim of another build of stack (control socket %s): stop it with that build, or %s", p.ID, filepath.Base(other), how)
			}
			return nil, ErrNotRunning
		}
		return nil, err
	}
	return &Client{c: c}, nil
}

// socketPath is the shim's control socket. Its name carries the protocol
// version, so that a command never speaks to a shim in another protocol.
func socketPath(p container.Paths) string {
	return filepath.Join(p.RunDir, fmt.Sprintf("shim-v%d.sock", protoVersion))
}

// otherSocket returns the control socket of a shim of another protocol
// version in p's run directory, if there is one ("shim.sock" was the
// JSON protocol's).
func otherSocket(p container.Paths) string {
	socks, _ := filepath.Glob(filepath.Join(p.RunDir, "shim*.sock"))
	for _, s := range socks {
		if s != socketPath(p) {
			return s
		}
	}
	return ""
}

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close() }

func (c *Client) roundTrip(req Request, files ...*os.File) (Response, []*os.File, error) {
	if err := c.c.Send(req, files...); err != nil {
		if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			return Response{}, nil, ErrNotRunning
		}
		return Response{}, nil, err
	}
	var resp Response
	got, err := c.c.Recv(&resp)
	if err != nil {
		// A shim that exits while answering (the container it stops has
		// just ended) closes or resets the connection.
		if errors.Is(err, ipc.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			return Response{}, nil, ErrNotRunning
		}
		return Response{}, nil, err
	}
	if resp.Type == RespError {
		if resp.NotRunning {
			return resp, got, fmt.Errorf("%s: %w", resp.Error, ErrNotRunning)
		}
		return resp, got, errors.New(resp.Error)
	}
	return resp, got, nil
}

// Stop stops the container (timeout nil = its default) and returns once it
// has exited.
func (c *Client) Stop(timeout *int, sig syscall.Signal) (Response, error) {
	r, _, err := c.roundTrip(Request{Type: ReqStop, Timeout: timeout, Signal: int(sig)})
	return r, err
}

// Kill sends sig to the container's main process.
func (c *Client) Kill(sig syscall.Signal) error {
	_, _, err := c.roundTrip(Request{Type: ReqKill, Signal: int(sig)})
	return err
}

// Wait blocks until the container has stopped for good (no restart pending).
func (c *Client) Wait() (Response, error) {
	r, _, err := c.roundTrip(Request{Type: ReqWait})
	return r, err
}

// Pause freezes (true) or thaws (false) the container.
func (c *Client) Pause(freeze bool) error {
	t := ReqUnpause
	if freeze {
		t = ReqPause
	}
	_, _, err := c.roundTrip(Request{Type: t})
	return err
}

// SyncNetwork asks the shim to attach and detach the container's endpoints
// to match its config.
func (c *Client) SyncNetwork() error {
	_, _, err := c.roundTrip(Request{Type: ReqSyncNetwork})
	return err
}

// Exec starts p in the container. Without a terminal, stdio are the three
// descriptors the process gets; with one, they must be nil and the pty
// master is returned. The connection then belongs to the exec: call
// ExecWait for the exit code and ExecSignal to signal the process.
func (c *Client) Exec(p *specs.Process, stdio []*os.File) (pid int, master *os.File, err error) {
	r, files, err := c.roundTrip(Request{Type: ReqExec, Process: p}, stdio...)
	if err != nil {
		for _, f := range files {
			f.Close()
		}
		if r.ExitCode != 0 {
			return 0, nil, &ExecError{Code: r.ExitCode, Msg: err.Error()}
		}
		return 0, nil, err
	}
	if len(files) > 0 {
		master = files[0]
	}
	return r.Pid, master, nil
}

// ExecError is an exec that could not start; Code is docker's (126, 127).
type ExecError struct {
	Code int
	Msg  string
}

func (e *ExecError) Error() string { return e.Msg }

// ExecWait waits for the exec'd process and returns its exit code.
func (c *Client) ExecWait() (int, error) {
	var resp Response
	if _, err := c.c.Recv(&resp); err != nil {
		return -1, err
	}
	if resp.Type != RespExecExited {
		return -1, fmt.Errorf("exec: unexpected %q", resp.Type)
	}
	return resp.ExitCode, nil
}

// ExecSignal signals the exec'd process.
func (c *Client) ExecSignal(sig syscall.Signal) error {
	return c.c.Send(Request{Type: ReqSignalExec, Signal: int(sig)})
}

// Attach streams the container's output on this connection. stdin says
// whether the client will send input (and close it). After Attach, call
// Next for each output chunk until it returns the exit.
func (c *Client) Attach(stdin bool) error {
	_, _, err := c.roundTrip(Request{Type: ReqAttach, Stdin: stdin})
	return err
}

// Next returns the next attach message: RespOutput, or RespExited last.
func (c *Client) Next() (Response, error) {
	var r Response
	if _, err := c.c.Recv(&r); err != nil {
		return Response{}, err
	}
	return r, nil
}

// SendStdin sends input to an attached container.
func (c *Client) SendStdin(p []byte) error {
	return c.c.Send(Request{Type: ReqStdin, Data: p})
}

// CloseStdin closes an attached container's stdin (non-terminal only).
func (c *Client) CloseStdin() error { return c.c.Send(Request{Type: ReqStdinClose}) }

// Resize sets the container's terminal size.
func (c *Client) Resize(rows, cols uint16) error {
	return c.c.Send(Request{Type: ReqResize, Rows: rows, Cols: cols})
}

// WaitCondition blocks until the container's process runs (CondRunning)
// or is healthy (CondHealthy), or fails with why it never will.
func (c *Client) WaitCondition(cond string) error {
	_, _, err := c.roundTrip(Request{Type: ReqWaitCondition, Cond: cond})
	return err
}
