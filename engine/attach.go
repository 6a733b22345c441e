package engine

import (
	"context"
	"errors"
	"fmt"
	"io"

	"stack/engine/shim"
)

// AttachOptions connect the caller to a running container's stdio.
type AttachOptions struct {
	Stdin  io.Reader // nil: no input; EOF closes the container's stdin
	Stdout io.Writer // nil: discarded
	Stderr io.Writer // nil: discarded
	// Resize, when set, delivers terminal sizes (rows, cols) to apply to the
	// container's terminal; the first is applied right away.
	Resize <-chan [2]uint16
}

// Attach streams a running container's output to the caller (and the
// caller's input to it, when the container was created with OpenStdin)
// until its process exits, and returns the exit code of that run.
func (e *Engine) Attach(ctx context.Context, ref string, opts AttachOptions) (int, error) {
	c, err := e.Get(ref)
	if err != nil {
		return -1, err
	}
	cl, err := e.dialRunning(c)
	if err != nil {
		return -1, err
	}
	defer cl.Close()
	if err := cl.Attach(opts.Stdin != nil); err != nil {
		if errors.Is(err, shim.ErrNotRunning) {
			return -1, fmt.Errorf("container %q is not running: %w", c.Config.Name, ErrNotRunning)
		}
		return -1, fmt.Errorf("container %q: attach: %w", c.Config.Name, err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			cl.Close()
		case <-stop:
		}
	}()
	if opts.Resize != nil {
		go func() {
			for {
				select {
				case sz, ok := <-opts.Resize:
					if !ok {
						return
					}
					cl.Resize(sz[0], sz[1])
				case <-stop:
					return
				}
			}
		}()
	}
	if opts.Stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := opts.Stdin.Read(buf)
				if n > 0 {
					if cl.SendStdin(buf[:n]) != nil {
						return
					}
				}
				if err != nil {
					cl.CloseStdin()
					return
				}
			}
		}()
	}
	for {
		r, err := cl.Next()
		if err != nil {
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			return -1, fmt.Errorf("container %q: attach: %w", c.Config.Name, err)
		}
		switch r.Type {
		case shim.RespOutput:
			w := opts.Stdout
			if r.Stream == "stderr" {
				w = opts.Stderr
			}
			if w != nil {
				w.Write(r.Data)
			}
		case shim.RespExited:
			return r.ExitCode, nil
		}
	}
}
