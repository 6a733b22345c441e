package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"stack/engine/container"
	"stack/engine/image"
	"stack/engine/shim"
)

// HealthcheckOptions override the image's HEALTHCHECK field by field, as
// compose's healthcheck: does; zero values keep the image's (or Docker's
// default). Disable, or a test of ["NONE"], turns the check off.
type HealthcheckOptions struct {
	Test          []string
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
	Disable       bool
}

// Docker's healthcheck defaults (moby daemon/health.go).
const (
	defaultProbeInterval      = 30 * time.Second
	defaultProbeTimeout       = 30 * time.Second
	defaultProbeStartInterval = 5 * time.Second
	defaultProbeRetries       = 3
)

// resolveHealthcheck merges the image's healthcheck with the caller's.
func resolveHealthcheck(img *image.HealthConfig, o *HealthcheckOptions) (*container.Healthcheck, error) {
	hc := &container.Healthcheck{}
	if img != nil {
		hc.Test, hc.Interval, hc.Timeout, hc.StartPeriod, hc.StartInterval, hc.Retries =
			img.Test, img.Interval, img.Timeout, img.StartPeriod, img.StartInterval, img.Retries
	}
	if o != nil {
		if o.Disable {
			return nil, nil
		}
		if len(o.Test) > 0 {
			hc.Test = o.Test
		}
		for _, f := range []struct {
			dst *time.Duration
			v   time.Duration
		}{{&hc.Interval, o.Interval}, {&hc.Timeout, o.Timeout}, {&hc.StartPeriod, o.StartPeriod}, {&hc.StartInterval, o.StartInterval}} {
			if f.v != 0 {
				*f.dst = f.v
			}
		}
		if o.Retries != 0 {
			hc.Retries = o.Retries
		}
	}
	if len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return nil, nil
	}
	switch hc.Test[0] {
	case "CMD", "CMD-SHELL":
		if len(hc.Test) < 2 {
			return nil, fmt.Errorf("healthcheck %v: no command: %w", hc.Test, ErrInvalid)
		}
	default:
		// compose's string form: a shell command.
		hc.Test = append([]string{"CMD-SHELL"}, hc.Test...)
	}
	if hc.Interval == 0 {
		hc.Interval = defaultProbeInterval
	}
	if hc.Timeout == 0 {
		hc.Timeout = defaultProbeTimeout
	}
	if hc.StartInterval == 0 {
		hc.StartInterval = defaultProbeStartInterval
	}
	if hc.Retries == 0 {
		hc.Retries = defaultProbeRetries
	}
	return hc, nil
}

// Condition is what WaitCondition waits for.
type Condition int

const (
	// Running: the container's process has started.
	Running Condition = iota + 1
	// Healthy: its healthcheck passed (a container without one: running).
	Healthy
)

func (c Condition) String() string {
	switch c {
	case Running:
		return "running"
	case Healthy:
		return "healthy"
	}
	return fmt.Sprintf("Condition(%d)", int(c))
}

// ErrConditionFailed wraps the reason a condition can no longer hold: the
// container exited, or became unhealthy.
var ErrConditionFailed = errors.New("condition failed")

// WaitCondition blocks until the container is running or healthy. It is
// woken by the shim at each state change, without polling. It fails,
// wrapping ErrConditionFailed, when the container exits or turns
// unhealthy first (the message carries the exit code or the last probe's
// output).
func (e *Engine) WaitCondition(ctx context.Context, ref string, cond Condition) error {
	c, err := e.Get(ref)
	if err != nil {
		return err
	}
	// Without a shim, the recorded state says why the condition cannot hold.
	ended := func() error {
		waitShimGone(e.paths(c.Config.ID))
		c, err := e.load(c.Config.ID)
		if err != nil {
			return err
		}
		return conditionError{fmt.Errorf("container %s is %s (exit %d)", c.Config.Name, c.State.Status, c.State.ExitCode)}
	}
	cl, err := shim.Dial(e.paths(c.Config.ID))
	if errors.Is(err, shim.ErrNotRunning) {
		return ended()
	}
	if err != nil {
		return err
	}
	defer cl.Close()
	wc := shim.CondRunning
	if cond == Healthy {
		wc = shim.CondHealthy
	}
	done := make(chan error, 1)
	go func() { done <- cl.WaitCondition(wc) }()
	select {
	case <-ctx.Done():
		cl.Close()
		return ctx.Err()
	case err := <-done:
		if err != nil {
			if errors.Is(err, shim.ErrNotRunning) {
				return ended()
			}
			return conditionError{err}
		}
		return nil
	}
}

// conditionError is a condition that can no longer hold; it reads as its
// reason and matches ErrConditionFailed.
type conditionError struct{ err error }

func (e conditionError) Error() string        { return e.err.Error() }
func (e conditionError) Unwrap() error        { return e.err }
func (e conditionError) Is(target error) bool { return target == ErrConditionFailed }
