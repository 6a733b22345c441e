package engine

import (
	"context"

	"stack/engine/container"
	"stack/engine/logs"
)

// Logs reads a container's log. With Follow, it returns when ctx ends or
// once the container has stopped for good and the log is drained: the shim
// drains the container's pipes, then writes the final state next to the log,
// which wakes the reader. Following goes on across restarts.
func (e *Engine) Logs(ctx context.Context, ref string, opts logs.ReadOptions, fn func(logs.Entry) error) error {
	c, err := e.Get(ref)
	if err != nil {
		return err
	}
	p := e.paths(c.Config.ID)
	if opts.Follow && opts.FollowUntil == nil {
		opts.FollowUntil = func() bool {
			st, err := container.LoadState(p)
			if err != nil {
				return true
			}
			switch st.Status {
			case container.Running, container.Paused, container.Restarting:
				return !container.ShimAlive(p)
			}
			return true
		}
	}
	return logs.Read(ctx, p.Log(), opts, fn)
}
