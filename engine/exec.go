package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"stack/engine/shim"
)

// ExecOptions describe a process to run in a running container.
type ExecOptions struct {
	Cmd        []string
	Env        []string // added to the container's environment
	User       string   // "": the container's user
	WorkingDir string   // "": the container's working dir
	Tty        bool
	Stdin      io.Reader // nil: /dev/null
	Stdout     io.Writer // nil: discarded
	Stderr     io.Writer // nil: discarded; ignored with Tty (merged into Stdout)
	Detach     bool      // return once started
	// Signals, if set, are forwarded to the process until it exits.
	Signals <-chan os.Signal
	// ConsoleSize, when Tty, is the terminal's initial size (rows, cols),
	// set before the process starts.
	ConsoleSize *[2]uint16
	// ResizeTTY, when Tty, is called with the pty master once started, so
	// the caller can follow window changes.
	ResizeTTY func(master *os.File)
}

// Exec runs a process in a running container and returns its exit code
// (-1 with Detach). Errors of the process itself are its exit code; errors
// of stack are returned as errors (an ExecError for a program that cannot
// start, with docker's code 126 or 127).
func (e *Engine) Exec(ctx context.Context, ref string, opts ExecOptions) (int, error) {
	c, err := e.Get(ref)
	if err != nil {
		return -1, err
	}
	if len(opts.Cmd) == 0 {
		return -1, fmt.Errorf("exec: no command given: %w", ErrInvalid)
	}
	base := c.Config.Spec.Process
	p := &specs.Process{
		Terminal:        opts.Tty,
		Args:            opts.Cmd,
		Env:             mergeEnv(base.Env, opts.Env),
		Cwd:             base.Cwd,
		User:            base.User,
		Capabilities:    base.Capabilities,
		NoNewPrivileges: base.NoNewPrivileges,
	}
	if opts.WorkingDir != "" {
		p.Cwd = opts.WorkingDir
	}
	if opts.User != "" {
		p.User = specs.User{Username: opts.User}
	}
	if opts.Tty {
		p.Env = mergeEnv(p.Env, []string{"TERM=xterm"})
		if opts.ConsoleSize != nil {
			p.ConsoleSize = &specs.Box{Height: uint(opts.ConsoleSize[0]), Width: uint(opts.ConsoleSize[1])}
		}
	}
	cl, err := e.dialRunning(c)
	if err != nil {
		return -1, err
	}
	defer cl.Close()

	var copies sync.WaitGroup
	var stdio []*os.File
	var parentEnds []*os.File
	if !opts.Tty {
		var childEnds []*os.File
		stdio, parentEnds, childEnds, err = execPipes(opts)
		if err != nil {
			return -1, err
		}
		defer func() {
			for _, f := range childEnds {
				f.Close()
			}
		}()
		stdio = childEnds
	}
	_, master, err := cl.Exec(p, stdio)
	for _, f := range stdio {
		f.Close()
	}
	if err != nil {
		for _, f := range parentEnds {
			f.Close()
		}
		var ee *shim.ExecError
		if errors.As(err, &ee) {
			return ee.Code, &ExecError{Code: ee.Code, Msg: ee.Msg}
		}
		return -1, fmt.Errorf("container %q: exec: %w", c.Config.Name, err)
	}
	if opts.Detach {
		for _, f := range parentEnds {
			f.Close()
		}
		if master != nil {
			master.Close()
		}
		return -1, nil
	}
	if master != nil {
		defer master.Close()
		if opts.ResizeTTY != nil {
			opts.ResizeTTY(master)
		}
		if opts.Stdin != nil {
			go io.Copy(master, opts.Stdin)
		}
		copies.Add(1)
		go func() {
			defer copies.Done()
			w := opts.Stdout
			if w == nil {
				w = io.Discard
			}
			io.Copy(w, master) // ends with EIO when the last slave closes
		}()
	} else {
		// parentEnds: stdin writer, stdout reader, stderr reader.
		if opts.Stdin != nil {
			go func() { io.Copy(parentEnds[0], opts.Stdin); parentEnds[0].Close() }()
		} else {
			parentEnds[0].Close()
		}
		for i, w := range []io.Writer{opts.Stdout, opts.Stderr} {
			r := parentEnds[i+1]
			if w == nil {
				w = io.Discard
			}
			copies.Add(1)
			go func() { defer copies.Done(); io.Copy(w, r); r.Close() }()
		}
	}
	if opts.Signals != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case s := <-opts.Signals:
					if sig, ok := s.(syscall.Signal); ok {
						cl.ExecSignal(sig)
					}
				case <-done:
					return
				}
			}
		}()
	}
	code, err := cl.ExecWait()
	copies.Wait()
	if err != nil {
		return -1, fmt.Errorf("container %q: exec: %w", c.Config.Name, err)
	}
	return code, nil
}

// ExecError is an exec whose program could not be started.
type ExecError struct {
	Code int
	Msg  string
}

func (e *ExecError) Error() string { return e.Msg }

// execPipes makes the three stdio pipes of an exec: the child ends go to the
// container, the parent ends stay here.
func execPipes(opts ExecOptions) (stdio, parent, child []*os.File, err error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, nil, nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, nil, nil, err
	}
	return nil, []*os.File{inW, outR, errR}, []*os.File{inR, outW, errW}, nil
}

// mergeEnv overrides base with extra, key by key, keeping base's order.
func mergeEnv(base, extra []string) []string {
	out := append([]string(nil), base...)
	idx := map[string]int{}
	for i, kv := range out {
		idx[envKey(kv)] = i
	}
	for _, kv := range extra {
		if i, ok := idx[envKey(kv)]; ok {
			out[i] = kv
		} else {
			idx[envKey(kv)] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

func envKey(kv string) string {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i]
		}
	}
	return kv
}
