package reconciler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"stack/spec"
)

// DefaultStopTimeout is the grace period of a container whose service
// sets no stop_grace_period, as in docker compose.
const DefaultStopTimeout = 10 * time.Second

// DownOptions say what Down removes and how.
type DownOptions struct {
	// Volumes also removes the project's named volumes (never external
	// ones) and the containers' anonymous volumes (down -v).
	Volumes bool
	// RemoveOrphans also stops and removes orphans and running one-off
	// containers (down --remove-orphans). Finished one-offs are always
	// removed.
	RemoveOrphans bool
	// Timeout is the grace period of every container (down -t); nil: the
	// service's stop_grace_period (from Project), else
	// DefaultStopTimeout. See Stop for how it bounds the whole down.
	Timeout *time.Duration
	// Parallel bounds the world operations in flight; <= 0: no bound.
	Parallel int
	// Events receives progress, one call at a time. nil discards it.
	Events func(Event)
	// Project is the loaded project when there is a compose file; nil
	// for `down -p NAME`, which then works from the labels alone. With a
	// project, containers of services it does not have are orphans (left
	// alone with a warning unless RemoveOrphans), those of services its
	// profiles disable are left alone, and only the networks and volumes
	// it declares are removed; grace periods come from its services.
	Project *spec.Project
}

// Down stops and removes a project, working from the observed state: the
// containers (in reverse dependency order, read from their depends_on
// labels, as Stop does), finished one-off containers (compose#11711),
// orphans with RemoveOrphans, then the project's networks (one still in
// use is skipped with a warning; external ones are never touched) and,
// with Volumes, its named volumes. It does as much as it can: a failure
// does not stop the rest, and every failure is returned, joined.
func Down(ctx context.Context, obs *Observed, w World, opts DownOptions) error {
	ev := newEvents(opts.Events)
	var items []ObservedContainer
	known, disabled := map[string]bool{}, map[string]bool{}
	if opts.Project != nil {
		for _, s := range opts.Project.Services {
			known[s.Name] = true
		}
		for _, s := range opts.Project.DisabledServices {
			disabled[s] = true
		}
	}
	for _, c := range obs.Containers {
		running := isRunning(c.State)
		switch {
		case c.OneOff && running && !opts.RemoveOrphans:
			continue // a running `run` container is left to its user
		case c.OneOff:
		case opts.Project == nil || known[c.Service]:
		case disabled[c.Service]:
			continue
		case !opts.RemoveOrphans:
			ev.send(Event{Resource: "Container " + c.Name, Status: StatusWarning,
				Detail: fmt.Sprintf("orphan: service %q is not in the project; down --remove-orphans removes it", c.Service)})
			continue
		}
		items = append(items, c)
	}
	errs := stopOrdered(ctx, items, w, stopConfig{
		remove: true, removeVolumes: opts.Volumes, timeout: opts.Timeout,
		parallel: opts.Parallel, events: ev, project: opts.Project,
	})
	if ctx.Err() != nil {
		return errors.Join(errs...)
	}

	var networks, volumes []string
	for _, n := range obs.Networks {
		if n.External {
			continue
		}
		if opts.Project != nil {
			if pn, ok := opts.Project.Network(n.Key); !ok || pn.External {
				continue
			}
		}
		networks = append(networks, n.Name)
	}
	if opts.Volumes {
		for _, v := range obs.Volumes {
			if v.External {
				continue
			}
			if opts.Project != nil {
				if pv, ok := opts.Project.Volume(v.Key); !ok || pv.External {
					continue
				}
			}
			volumes = append(volumes, v.Name)
		}
	}
	errs = append(errs, removeAll(ctx, "Network", networks, w.RemoveNetwork, ev)...)
	errs = append(errs, removeAll(ctx, "Volume", volumes, w.RemoveVolume, ev)...)
	return errors.Join(errs...)
}

// removeAll removes networks or volumes, one at a time (they are few and
// quick): missing ones are fine, ones still in use are skipped with a
// warning.
func removeAll(ctx context.Context, kind string, names []string, remove func(context.Context, string) error, ev *events) []error {
	var errs []error
	for _, name := range names {
		res := kind + " " + name
		ev.send(Event{Resource: res, Status: StatusRemoving})
		err := remove(ctx, name)
		switch {
		case err == nil || errors.Is(err, ErrNotFound):
			ev.send(Event{Resource: res, Status: StatusRemoved})
		case errors.Is(err, ErrInUse):
			ev.send(Event{Resource: res, Status: StatusWarning, Detail: fmt.Sprintf("%s is still in use: not removed", strings.ToLower(kind))})
		default:
			err = fmt.Errorf("remove %s %q: %w", strings.ToLower(kind), name, err)
			ev.send(Event{Resource: res, Status: StatusError, Detail: err.Error(), Err: err})
			errs = append(errs, err)
		}
	}
	return errs
}

// StopOptions say what Stop stops and how.
type StopOptions struct {
	// Services restricts the stop to these services' containers; empty:
	// every service container of the project (not one-offs).
	Services []string
	Timeout  *time.Duration // as DownOptions.Timeout
	Parallel int
	Events   func(Event)
	Project  *spec.Project // for the services' stop_grace_period; may be nil
}

// Stop stops the project's service containers (stack stop) in reverse
// dependency order, read from their com.docker.compose.depends_on labels
// so that no compose file is needed.
//
// Naively, each container would be stopped once every container that
// depends on it has exited, with its full grace period, as docker compose
// does level by level. However a chain of three programs that ignore
// SIGTERM then takes three grace periods, since each level waits for the
// SIGKILL of the one above. Sending SIGTERM to everything at once takes
// one grace period, but a database may then go away while the web server
// that uses it is still draining requests. So the grace period is a budget
// for the whole stop, shared out by level:
//
//   - every container's SIGKILL deadline is t0 + its grace period, and
//     never earlier than the deadline of a container that depends on it;
//   - a container is sent SIGTERM as soon as every container that
//     depends on it has exited (the order is kept whenever programs stop
//     within their share), and at the latest at t0 + (deadline - t0) *
//     level / levels, where level is its distance from the top of the
//     dependency graph (0 for what nothing depends on) and levels the
//     number of levels: a container lower down always gets at least
//     1/levels of the grace period between SIGTERM and SIGKILL.
//
// Well-behaved programs thus stop strictly in reverse dependency order,
// and the whole stop takes at most about one grace period whatever the
// depth of the graph (a 3-level chain that ignores SIGTERM: SIGTERMs at 0,
// g/3 and 2g/3, every SIGKILL at g).
func Stop(ctx context.Context, obs *Observed, w World, opts StopOptions) error {
	var items []ObservedContainer
	for _, c := range obs.Containers {
		if !c.OneOff && (len(opts.Services) == 0 || slices.Contains(opts.Services, c.Service)) {
			items = append(items, c)
		}
	}
	return errors.Join(stopOrdered(ctx, items, w, stopConfig{
		timeout: opts.Timeout, parallel: opts.Parallel, events: newEvents(opts.Events), project: opts.Project,
	})...)
}

// RemoveOptions say what Remove removes and how.
type RemoveOptions struct {
	// Services restricts the removal to these services' containers;
	// empty: every service container of the project (not one-offs).
	Services []string
	// Stop stops running containers first (rm -s); otherwise running
	// containers are left alone.
	Stop bool
	// Volumes also removes the containers' anonymous volumes (rm -v).
	Volumes  bool
	Timeout  *time.Duration // as DownOptions.Timeout
	Parallel int
	Events   func(Event)
	Project  *spec.Project // for the services' stop_grace_period; may be nil
}

// Remove removes the project's stopped service containers (stack rm), and
// with Stop stops the running ones first, in the order Stop uses.
func Remove(ctx context.Context, obs *Observed, w World, opts RemoveOptions) error {
	var items []ObservedContainer
	for _, c := range obs.Containers {
		if c.OneOff || len(opts.Services) > 0 && !slices.Contains(opts.Services, c.Service) {
			continue
		}
		if !opts.Stop && isRunning(c.State) {
			continue
		}
		items = append(items, c)
	}
	return errors.Join(stopOrdered(ctx, items, w, stopConfig{
		remove: true, removeVolumes: opts.Volumes, timeout: opts.Timeout,
		parallel: opts.Parallel, events: newEvents(opts.Events), project: opts.Project,
	})...)
}

type stopConfig struct {
	remove        bool // remove each container once stopped
	removeVolumes bool
	timeout       *time.Duration
	parallel      int
	events        *events
	project       *spec.Project
}

// stopItem is one container of stopOrdered.
type stopItem struct {
	c          ObservedContainer
	dependents []*stopItem // the containers that depend on this one
	level      int         // 0: nothing depends on it; else 1 + its dependents' highest
	deadline   time.Time   // SIGKILL
	latest     time.Time   // SIGTERM at the latest
	exited     chan struct{}
	err        error
}

// stopOrdered stops (and with cfg.remove removes) the containers as Stop
// documents, and returns the failures in the containers' order.
func stopOrdered(ctx context.Context, cs []ObservedContainer, w World, cfg stopConfig) []error {
	t0 := time.Now()
	items := make([]*stopItem, len(cs))
	byService := map[string][]*stopItem{}
	for i, c := range cs {
		items[i] = &stopItem{c: c, exited: make(chan struct{})}
		byService[c.Service] = append(byService[c.Service], items[i])
	}
	for _, it := range items {
		for _, dep := range labelDependencies(it.c.DependsOn) {
			if dep == it.c.Service {
				continue
			}
			for _, d := range byService[dep] {
				d.dependents = append(d.dependents, it)
			}
		}
	}
	// levels, by a depth-first walk; labels edited by hand could hold a
	// cycle, whose closing edge is ignored
	const (
		unvisited = iota
		onPath
		done
	)
	state := map[*stopItem]int{}
	var level func(it *stopItem) int
	level = func(it *stopItem) int {
		switch state[it] {
		case onPath:
			return -1
		case done:
			return it.level
		}
		state[it] = onPath
		for _, d := range it.dependents {
			if l := level(d); l >= 0 {
				it.level = max(it.level, l+1)
			}
		}
		state[it] = done
		return it.level
	}
	levels := 0
	for _, it := range items {
		levels = max(levels, level(it)+1)
	}
	// deadlines: dependents (lower levels) first
	byLevel := slices.Clone(items)
	slices.SortStableFunc(byLevel, func(a, b *stopItem) int { return a.level - b.level })
	for _, it := range byLevel {
		it.deadline = t0.Add(cfg.grace(it.c.Service))
		for _, d := range it.dependents {
			if d.deadline.After(it.deadline) {
				it.deadline = d.deadline
			}
		}
		it.latest = t0.Add(it.deadline.Sub(t0) * time.Duration(it.level) / time.Duration(levels))
	}

	var slots chan struct{}
	if cfg.parallel > 0 {
		slots = make(chan struct{}, cfg.parallel)
	}
	acquire := func() bool {
		if slots == nil {
			return true
		}
		select {
		case slots <- struct{}{}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	release := func() {
		if slots != nil {
			<-slots
		}
	}
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Go(func() {
			c := it.c
			res := "Container " + c.Name
			fail := func(op string, err error) {
				it.err = fmt.Errorf("service %q: %s container %q: %w", c.Service, op, c.Name, err)
				cfg.events.send(Event{Resource: res, Status: StatusError, Detail: it.err.Error(), Err: it.err})
			}
			if isRunning(c.State) {
				if !waitDependents(ctx, it) || !acquire() {
					close(it.exited)
					fail("stop", ctx.Err())
					return
				}
				timeout := max(0, time.Until(it.deadline))
				cfg.events.send(Event{Resource: res, Status: StatusStopping})
				err := w.StopContainer(ctx, c.ID, &timeout)
				release()
				close(it.exited)
				if err != nil && !errors.Is(err, ErrNotFound) {
					fail("stop", err)
					return
				}
				cfg.events.send(Event{Resource: res, Status: StatusStopped})
			} else {
				close(it.exited)
			}
			if !cfg.remove {
				return
			}
			if !acquire() {
				fail("remove", ctx.Err())
				return
			}
			defer release()
			cfg.events.send(Event{Resource: res, Status: StatusRemoving})
			if err := w.RemoveContainer(ctx, c.ID, cfg.removeVolumes); err != nil && !errors.Is(err, ErrNotFound) {
				fail("remove", err)
				return
			}
			cfg.events.send(Event{Resource: res, Status: StatusRemoved})
		})
	}
	wg.Wait()
	var errs []error
	for _, it := range items {
		if it.err != nil && (ctx.Err() == nil || !errors.Is(it.err, ctx.Err())) {
			errs = append(errs, it.err)
		}
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err()) // once, however many operations it ended
	}
	return errs
}

// waitDependents waits until every container that depends on it has
// exited, or until it.latest; false when ctx ends first.
func waitDependents(ctx context.Context, it *stopItem) bool {
	timer := time.NewTimer(time.Until(it.latest))
	defer timer.Stop()
	for _, d := range it.dependents {
		select {
		case <-d.exited:
		case <-timer.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// grace is a service's grace period: the -t timeout, else its
// stop_grace_period, else DefaultStopTimeout.
func (cfg stopConfig) grace(service string) time.Duration {
	if cfg.timeout != nil {
		return *cfg.timeout
	}
	if cfg.project != nil {
		if s, err := cfg.project.Service(service); err == nil && s.StopGracePeriod != nil {
			return *s.StopGracePeriod
		}
	}
	return DefaultStopTimeout
}

// labelDependencies parses a com.docker.compose.depends_on label,
// "SERVICE:CONDITION:RESTART" entries comma-joined, into the services.
func labelDependencies(label string) []string {
	var out []string
	for entry := range strings.SplitSeq(label, ",") {
		if s, _, _ := strings.Cut(strings.TrimSpace(entry), ":"); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func isRunning(s State) bool { return s == Running || s == Paused || s == Restarting }

// events serialises calls to an Events function.
type events struct {
	mu sync.Mutex // serialises fn
	fn func(Event)
}

func newEvents(fn func(Event)) *events { return &events{fn: fn} }

func (e *events) send(ev Event) {
	if e.fn == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fn(ev)
}
