package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"stack/planner"
)

// Event is one change of a resource's progress, for the CLI to render
// (compose's `✔ Container demo-web-1  Started`).
type Event struct {
	// Resource is the kind and name: "Container demo-web-1", "Network
	// demo_default", "Volume demo_data", "Image busybox:latest".
	Resource string
	// Status is one of the Status* words, as docker compose prints them.
	Status string
	// Detail says more: the cause of a warning, the error's text.
	Detail string
	// Err is set with StatusError.
	Err error
}

// Event statuses: docker compose's words.
const (
	StatusCreating  = "Creating"
	StatusCreated   = "Created"
	StatusStarting  = "Starting"
	StatusStarted   = "Started"
	StatusRunning   = "Running"
	StatusWaiting   = "Waiting"
	StatusHealthy   = "Healthy"
	StatusExited    = "Exited"
	StatusRecreate  = "Recreate"
	StatusRecreated = "Recreated"
	StatusStopping  = "Stopping"
	StatusStopped   = "Stopped"
	StatusRemoving  = "Removing"
	StatusRemoved   = "Removed"
	StatusError     = "Error"
	StatusWarning   = "Warning"
)

// ApplyOptions say how Apply works; what it does is in the actions.
type ApplyOptions struct {
	// Parallel bounds the world operations (create, start, stop, remove)
	// in flight at once; <= 0 means no bound (--parallel, default -1 as
	// in compose). Waiting for a dependency never holds a slot.
	Parallel int
	// Events receives progress. Apply calls it from one goroutine at a
	// time, so it need not be safe for concurrent use; it must not block
	// for long. nil discards events.
	Events func(Event)
	// Timeout is the stop timeout for the containers Apply stops
	// (recreate, restart, scale down, orphans): up -t. nil: each
	// container's own (stop_grace_period, else 10s).
	Timeout *time.Duration
	// WaitTimeout bounds each wait for a dependency's condition
	// (healthy, completed successfully); 0 means no bound beyond the
	// healthcheck's own retries.
	WaitTimeout time.Duration
	// RenewAnonVolumes gives recreated containers new anonymous volumes
	// instead of the old container's (up -V): the new container is
	// created without planner.LabelReplace and the old one is removed
	// with its anonymous volumes.
	RenewAnonVolumes bool
}

// Apply carries out Diff's actions on the world, in dependency order.
//
// Before anything, it fails, changing nothing, when an action is a
// Conflict (a container name taken by a container not of this project)
// or would create a container whose image the plan has not resolved. It
// then reports warnings (orphans, diverged networks and volumes) and runs
// every action as soon as what it needs is done, independent ones in
// parallel within opts.Parallel:
//
//   - networks and volumes are created first, each on its own;
//   - a container is created as soon as the networks and volumes it
//     needs exist (and, for network_mode/ipc/pid service:X or
//     volumes_from X, once X's container is started), and started once
//     each depends_on dependency's condition holds: started, healthy or
//     completed successfully, as World.WaitContainer reports it. A
//     dependency that Apply does not touch (kept, or left out by up
//     --no-deps) is waited on in the same way when it has an action
//     (Keep), and not at all when it has none;
//   - a recreate creates the new container under the temporary name
//     <old ID[:12]>_<name> with planner.LabelReplace, stops and removes
//     the old one, renames the new one, then starts it (compose's order,
//     so the new container exists before the old one goes); the
//     dependents restarted because of it (RestartContainer) are stopped
//     before the old container is;
//   - containers to scale down and orphans are stopped and removed.
//
// When an action fails, Apply starts no new action, lets the running ones
// finish, leaves what runs running, and returns every failure, in action
// order, joined with errors.Join; each names the service or resource and
// the cause. A required dependency that fails its condition fails its
// dependents ("service "web" depends on "db" which failed to become
// healthy: …"); an optional one (required: false) gives a warning and the
// dependent starts anyway. Nothing is rolled back: the next up observes
// the world again and continues from there.
func Apply(ctx context.Context, plan *planner.Plan, actions []Action, w World, opts ApplyOptions) error {
	if err := check(plan, actions); err != nil {
		return err
	}
	if err := checkExternal(ctx, plan, actions, w); err != nil {
		return err
	}
	halt, stop := context.WithCancel(ctx)
	defer stop()
	a := &applier{
		ctx: ctx, halt: halt, stop: stop, plan: plan, w: w, opts: opts,
		tasks: map[planner.NodeID]*task{}, dups: map[planner.NodeID][]*task{}, waits: map[waitKey]*waitResult{},
	}
	if opts.Parallel > 0 {
		a.slots = make(chan struct{}, opts.Parallel)
	}
	all := make([]*task, len(actions))
	for i, act := range actions {
		t := &task{a: act, ready: make(chan struct{})}
		all[i] = t
		n, planned := plan.Node(act.Node)
		switch {
		case act.Kind == ScaleDown && planned:
			// a duplicate of a planned container goes first: the
			// recreate's temporary name may be the duplicate's
			a.dups[act.Node] = append(a.dups[act.Node], t)
		case planned && act.Kind != RemoveOrphan && act.Kind != WarnOrphan:
			t.node = n
			a.tasks[act.Node] = t
		}
		if act.Kind == RestartContainer {
			t.stopped = make(chan struct{})
		}
	}
	// what needs no goroutine: kept resources are ready, warnings are said
	for _, t := range all {
		switch t.a.Kind {
		case Keep:
			t.id, t.ok = t.a.LiveID, true
			close(t.ready)
			if t.node != nil && t.node.ID.Kind == planner.KindContainer && t.a.State == Running {
				a.event(Event{Resource: resource(t.node.ID.Kind, t.node.Name), Status: StatusRunning})
			}
		case WarnOrphan:
			close(t.ready)
			a.event(Event{Resource: "Container " + t.a.LiveName, Status: StatusWarning, Detail: t.a.Cause})
		case Diverged:
			t.ok = true // it exists: its users go on with it
			close(t.ready)
			a.event(Event{Resource: resource(t.a.Node.Kind, t.a.LiveName), Status: StatusWarning, Detail: t.a.Cause})
		}
	}
	for _, t := range all {
		var run func(*task)
		switch t.a.Kind {
		case CreateNetwork:
			run = a.network
		case CreateVolume:
			run = a.volume
		case CreateContainer, RecreateContainer, StartContainer, RestartContainer:
			run = a.container
		case ScaleDown, RemoveOrphan:
			run = a.remove
		default:
			continue
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer close(t.ready)
			if t.stopped != nil {
				defer closeOnce(t.stopped)
			}
			run(t)
		}()
	}
	a.wg.Wait()

	var errs []error
	seen := map[string]bool{}
	for _, t := range all {
		if t.err != nil && !seen[t.err.Error()] {
			seen[t.err.Error()] = true
			errs = append(errs, t.err)
		}
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

// check finds what makes the actions impossible before any is run.
func check(plan *planner.Plan, actions []Action) error {
	var errs []error
	for _, act := range actions {
		switch act.Kind {
		case Conflict:
			errs = append(errs, fmt.Errorf("service %q: %s", act.Node.Name, act.Cause))
		case CreateNetwork, CreateVolume, CreateContainer, RecreateContainer, StartContainer, RestartContainer:
			n, ok := plan.Node(act.Node)
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("%s: not in the plan", act))
			case act.Kind == CreateContainer || act.Kind == RecreateContainer:
				if n.Hash == "" {
					errs = append(errs, fmt.Errorf("service %q: image %q is not resolved: ensure the images, then build the plan again with their IDs", n.ID.Name, n.Image))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// ExternalChecker is implemented by a World that can tell whether an
// external network or volume exists.
type ExternalChecker interface {
	// CheckExternal returns an error naming n if the external network or
	// volume n does not exist.
	CheckExternal(ctx context.Context, n *planner.Node) error
}

// checkExternal fails, before anything changes, when a container to create
// needs an external network or volume that does not exist.
func checkExternal(ctx context.Context, plan *planner.Plan, actions []Action, w World) error {
	xc, ok := w.(ExternalChecker)
	if !ok {
		return nil
	}
	var errs []error
	seen := map[planner.NodeID]bool{}
	for _, act := range actions {
		if act.Kind != CreateContainer && act.Kind != RecreateContainer {
			continue
		}
		for _, e := range plan.Dependencies(act.Node) {
			n, ok := plan.Node(e.To)
			if !ok || seen[e.To] {
				continue
			}
			seen[e.To] = true
			if n.Network != nil && n.Network.External || n.Volume != nil && n.Volume.External {
				if err := xc.CheckExternal(ctx, n); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// task is one action being applied.
type task struct {
	a    Action
	node *planner.Node // the planned node; nil for removals
	// id is the container's live ID once it exists, ok whether the action
	// succeeded; both are written before ready is closed.
	id string
	ok bool
	// ready is closed when the action is over: done (ok), failed, or not
	// run because Apply stopped scheduling.
	ready chan struct{}
	// stopped, for RestartContainer, is closed once the container is
	// stopped (or will not be), so its dependency may be replaced.
	stopped chan struct{}
	err     error // this action's failure; written by its own goroutine only
}

type waitKey struct {
	id   string
	cond planner.Condition
}

// waitResult is the outcome of one WaitContainer, shared by every
// dependent that waits for the same container and condition.
type waitResult struct {
	done chan struct{}
	err  error // written before done is closed
}

type applier struct {
	ctx context.Context // for world operations: the caller's
	// halt is cancelled at the first failure: no new action starts, and
	// waits for conditions end.
	halt  context.Context
	stop  context.CancelFunc
	plan  *planner.Plan
	w     World
	opts  ApplyOptions
	slots chan struct{}              // a token per operation in flight; nil: no bound
	tasks map[planner.NodeID]*task   // the actions on planned nodes
	dups  map[planner.NodeID][]*task // ScaleDown of duplicates of a planned container
	wg    sync.WaitGroup

	evMu sync.Mutex // serialises opts.Events

	mu    sync.Mutex // guards waits
	waits map[waitKey]*waitResult
}

func (a *applier) event(e Event) {
	if a.opts.Events == nil {
		return
	}
	a.evMu.Lock()
	defer a.evMu.Unlock()
	a.opts.Events(e)
}

// fail records t's failure and stops the scheduling of new actions.
// An error that only says the caller's context ended is not recorded:
// Apply then returns the context's error once.
func (a *applier) fail(t *task, res string, err error) {
	a.stop()
	if a.ctx.Err() != nil && errors.Is(err, a.ctx.Err()) {
		return
	}
	t.err = err
	a.event(Event{Resource: res, Status: StatusError, Detail: err.Error(), Err: err})
}

// acquire takes a slot for one world operation, unless Apply has stopped
// scheduling, in which case it returns false. It is only called once
// everything the operation waits for is done: holding a slot while
// waiting for a dependency would deadlock a graph wider than Parallel.
func (a *applier) acquire() bool {
	if a.halt.Err() != nil {
		return false
	}
	if a.slots == nil {
		return true
	}
	select {
	case a.slots <- struct{}{}:
		if a.halt.Err() != nil {
			<-a.slots
			return false
		}
		return true
	case <-a.halt.Done():
		return false
	}
}

func (a *applier) release() {
	if a.slots != nil {
		<-a.slots
	}
}

// await waits for the task of id, if there is one, to be over, and
// reports whether it succeeded. No task (a resource up does not touch)
// counts as success.
func (a *applier) await(id planner.NodeID) bool {
	t, ok := a.tasks[id]
	if !ok {
		return true
	}
	select {
	case <-t.ready:
		return t.ok
	case <-a.halt.Done():
		return false
	}
}

func (a *applier) network(t *task) {
	res := resource(planner.KindNetwork, t.node.Name)
	if !a.acquire() {
		return
	}
	defer a.release()
	a.event(Event{Resource: res, Status: StatusCreating})
	if err := a.w.CreateNetwork(a.ctx, t.node); err != nil {
		a.fail(t, res, fmt.Errorf("network %q: create %q: %w", t.node.ID.Name, t.node.Name, err))
		return
	}
	a.event(Event{Resource: res, Status: StatusCreated})
	t.ok = true
}

func (a *applier) volume(t *task) {
	res := resource(planner.KindVolume, t.node.Name)
	if !a.acquire() {
		return
	}
	defer a.release()
	a.event(Event{Resource: res, Status: StatusCreating})
	if err := a.w.CreateVolume(a.ctx, t.node); err != nil {
		a.fail(t, res, fmt.Errorf("volume %q: create %q: %w", t.node.ID.Name, t.node.Name, err))
		return
	}
	a.event(Event{Resource: res, Status: StatusCreated})
	t.ok = true
}

// container applies CreateContainer, RecreateContainer, StartContainer
// or RestartContainer.
func (a *applier) container(t *task) {
	n := t.node
	service := n.ID.Name
	res := resource(planner.KindContainer, n.Name)
	t.id = t.a.LiveID

	for _, d := range a.dups[n.ID] {
		select {
		case <-d.ready:
		case <-a.halt.Done():
			return
		}
	}
	if t.a.Kind == CreateContainer || t.a.Kind == RecreateContainer {
		for _, e := range a.plan.Dependencies(n.ID) {
			switch e.Why {
			case planner.NeedsNetwork, planner.NeedsVolume, planner.SharesNamespace, planner.VolumesFrom:
				if !a.await(e.To) {
					return
				}
			}
		}
	}
	if t.a.Kind == RecreateContainer || t.a.Kind == RestartContainer {
		// dependents restarted because of this container stop first
		for _, e := range a.plan.Dependents(n.ID) {
			if d, ok := a.tasks[e.From]; ok && e.Restart && d.a.Kind == RestartContainer {
				select {
				case <-d.stopped:
				case <-a.halt.Done():
					return
				}
			}
		}
	}

	if !a.acquire() {
		return
	}
	var err error
	switch t.a.Kind {
	case CreateContainer:
		a.event(Event{Resource: res, Status: StatusCreating})
		t.id, err = a.w.CreateContainer(a.ctx, n, n.Name, nil)
		if err != nil {
			err = fmt.Errorf("service %q: create container %q: %w", service, n.Name, err)
		} else {
			a.event(Event{Resource: res, Status: StatusCreated})
		}
	case RecreateContainer:
		err = a.recreate(t, res)
	case RestartContainer:
		a.event(Event{Resource: res, Status: StatusStopping, Detail: t.a.Cause})
		if err = a.w.StopContainer(a.ctx, t.id, a.opts.Timeout); err != nil {
			err = fmt.Errorf("service %q: restart container %q: stop: %w", service, n.Name, err)
		} else {
			a.event(Event{Resource: res, Status: StatusStopped})
		}
		closeOnce(t.stopped)
	}
	// A failure stops the scheduling before the slot is given back, so
	// that no waiting action takes it and starts.
	if err != nil {
		a.fail(t, res, err)
		a.release()
		return
	}
	a.release()
	if t.a.NoStart {
		t.ok = true
		return
	}

	if !a.conditions(t, res) {
		return
	}
	if !a.acquire() {
		return
	}
	defer a.release()
	a.event(Event{Resource: res, Status: StatusStarting})
	if err := a.w.StartContainer(a.ctx, t.id); err != nil {
		a.fail(t, res, fmt.Errorf("service %q: start container %q: %w", service, n.Name, err))
		return
	}
	a.event(Event{Resource: res, Status: StatusStarted})
	t.ok = true
}

// recreate replaces t's container in docker compose's order.
func (a *applier) recreate(t *task, res string) error {
	n := t.node
	old := t.a.LiveID
	tmp := old
	if len(tmp) > 12 {
		tmp = tmp[:12]
	}
	tmp += "_" + n.Name
	extra := map[string]string{planner.LabelReplace: old}
	if a.opts.RenewAnonVolumes {
		extra = nil
	}
	wrap := func(step string, err error) error {
		return fmt.Errorf("service %q: recreate container %q: %s: %w", n.ID.Name, n.Name, step, err)
	}
	a.event(Event{Resource: res, Status: StatusRecreate, Detail: t.a.Cause})
	id, err := a.w.CreateContainer(a.ctx, n, tmp, extra)
	if err != nil {
		return wrap(fmt.Sprintf("create %q", tmp), err)
	}
	if err := a.w.StopContainer(a.ctx, old, a.opts.Timeout); err != nil {
		return wrap("stop the old container", err)
	}
	if err := a.w.RemoveContainer(a.ctx, old, a.opts.RenewAnonVolumes); err != nil && !errors.Is(err, ErrNotFound) {
		return wrap("remove the old container", err)
	}
	if err := a.w.RenameContainer(a.ctx, id, n.Name); err != nil {
		return wrap(fmt.Sprintf("rename %q", tmp), err)
	}
	t.id = id
	a.event(Event{Resource: res, Status: StatusRecreated})
	return nil
}

// conditions waits until each depends_on dependency of t's container is
// in its condition, and reports whether t may start.
func (a *applier) conditions(t *task, res string) bool {
	n := t.node
	for _, e := range a.plan.Dependencies(n.ID) {
		if e.Why != planner.DependsOn || e.To.Kind != planner.KindContainer {
			continue
		}
		dep, ok := a.tasks[e.To]
		if !ok {
			continue // not part of this up (--no-deps)
		}
		if !a.await(e.To) {
			return false
		}
		err := a.waitFor(dep, e.Condition)
		if err == nil {
			continue
		}
		if a.halt.Err() != nil {
			return false // stopped for another failure: not this one's
		}
		if errors.Is(err, context.DeadlineExceeded) && a.opts.WaitTimeout > 0 {
			err = fmt.Errorf("service %q: gave up after %s waiting for %q to %s: %w", n.ID.Name, a.opts.WaitTimeout, e.To.Name, conditionGoal(e.Condition), err)
		} else {
			err = fmt.Errorf("service %q depends on %q which failed to %s: %w", n.ID.Name, e.To.Name, conditionGoal(e.Condition), err)
		}
		if !e.Required {
			a.event(Event{Resource: res, Status: StatusWarning, Detail: err.Error() + "; starting anyway: the dependency is optional (required: false)"})
			continue
		}
		a.fail(t, res, err)
		return false
	}
	return true
}

// waitFor waits for dep's container to be in cond, with one
// WorldContainer.WaitContainer per container and condition however many
// dependents wait: the world wakes it (an event from the shim), the
// reconciler never polls.
func (a *applier) waitFor(dep *task, cond planner.Condition) error {
	key := waitKey{dep.id, cond}
	a.mu.Lock()
	r, ok := a.waits[key]
	if !ok {
		r = &waitResult{done: make(chan struct{})}
		a.waits[key] = r
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer close(r.done)
			res := resource(planner.KindContainer, dep.node.Name)
			ctx := a.halt
			if a.opts.WaitTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, a.opts.WaitTimeout)
				defer cancel()
			}
			if cond != planner.Started {
				a.event(Event{Resource: res, Status: StatusWaiting})
			}
			r.err = a.w.WaitContainer(ctx, dep.id, cond)
			switch {
			case r.err != nil && a.halt.Err() == nil:
				a.event(Event{Resource: res, Status: StatusError, Detail: r.err.Error(), Err: r.err})
			case r.err != nil:
			case cond == planner.Healthy:
				a.event(Event{Resource: res, Status: StatusHealthy})
			case cond == planner.CompletedSuccessfully:
				a.event(Event{Resource: res, Status: StatusExited})
			}
		}()
	}
	a.mu.Unlock()
	<-r.done
	return r.err
}

// remove applies ScaleDown and RemoveOrphan: stop, then remove.
func (a *applier) remove(t *task) {
	res := "Container " + t.a.LiveName
	if !a.acquire() {
		return
	}
	defer a.release()
	what := "service " + fmt.Sprintf("%q", t.a.Node.Name)
	if t.a.Kind == RemoveOrphan {
		what = "orphan"
	}
	if t.a.State == Running || t.a.State == Paused || t.a.State == Restarting {
		a.event(Event{Resource: res, Status: StatusStopping, Detail: t.a.Cause})
		if err := a.w.StopContainer(a.ctx, t.a.LiveID, a.opts.Timeout); err != nil && !errors.Is(err, ErrNotFound) {
			a.fail(t, res, fmt.Errorf("%s: stop container %q: %w", what, t.a.LiveName, err))
			return
		}
		a.event(Event{Resource: res, Status: StatusStopped})
	}
	a.event(Event{Resource: res, Status: StatusRemoving, Detail: t.a.Cause})
	if err := a.w.RemoveContainer(a.ctx, t.a.LiveID, false); err != nil && !errors.Is(err, ErrNotFound) {
		a.fail(t, res, fmt.Errorf("%s: remove container %q: %w", what, t.a.LiveName, err))
		return
	}
	a.event(Event{Resource: res, Status: StatusRemoved})
	t.ok = true
}

// conditionGoal words a condition after "failed to": "become healthy".
func conditionGoal(c planner.Condition) string {
	switch c {
	case planner.Healthy:
		return "become healthy"
	case planner.CompletedSuccessfully:
		return "complete successfully"
	}
	return "start"
}

// resource names a resource in an Event: "Container demo-web-1".
func resource(k planner.Kind, name string) string {
	s := k.String()
	return strings.ToUpper(s[:1]) + s[1:] + " " + name
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// EnsureOptions say which images EnsureImages ensures, and how.
type EnsureOptions struct {
	Image ImageOptions
	// Services and NoDeps select the images as Options selects the
	// containers: those of the named services and their dependencies.
	// Empty: every image of the plan.
	Services []string
	NoDeps   bool
	Parallel int // as ApplyOptions.Parallel
	Events   func(Event)
}

// EnsureImages makes every image of the plan (of the selected services)
// available through World.EnsureImage, in parallel, and returns their IDs
// by reference, for planner.Inputs.ImageIDs: the plan built again with
// them is final and Diff can compare it with live containers. Failures
// are joined in plan order.
func EnsureImages(ctx context.Context, plan *planner.Plan, w Images, opts EnsureOptions) (map[string]string, error) {
	included := selectServices(plan, opts.Services, opts.NoDeps)
	var nodes []*planner.Node
	for _, n := range plan.Nodes {
		if n.ID.Kind != planner.KindImage {
			continue
		}
		use := included == nil
		for _, e := range plan.Dependents(n.ID) {
			use = use || included[e.From.Name]
		}
		if use {
			nodes = append(nodes, n)
		}
	}
	var slots chan struct{}
	if opts.Parallel > 0 {
		slots = make(chan struct{}, opts.Parallel)
	}
	var evMu sync.Mutex // serialises opts.Events
	ids := make([]string, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			if slots != nil {
				slots <- struct{}{}
				defer func() { <-slots }()
			}
			ids[i], errs[i] = w.EnsureImage(ctx, n, opts.Image)
			if errs[i] != nil && opts.Events != nil {
				evMu.Lock()
				opts.Events(Event{Resource: "Image " + n.Name, Status: StatusError, Detail: errs[i].Error(), Err: errs[i]})
				evMu.Unlock()
			}
		})
	}
	wg.Wait()
	out := map[string]string{}
	for i, n := range nodes {
		if errs[i] == nil {
			out[n.Name] = ids[i]
		}
	}
	return out, errors.Join(errs...)
}
