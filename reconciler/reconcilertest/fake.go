package reconcilertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"stack/planner"
	"stack/reconciler"
	"stack/spec"
)

// Fake is an in-memory reconciler.World. It keeps state (containers with
// their labels, state, exit code and health; networks; volumes; images),
// records every call in order, fails calls on request (FailOn), and plays
// what containers do once started (Behavior): exit after a while, become
// healthy or unhealthy, ignore SIGTERM. Time goes through the time
// package's timers only, never sleeps, so a test run under testing/synctest
// has a fake clock (create the Fake inside the bubble). It is safe for
// concurrent use.
type Fake struct {
	// DefaultGrace is the stop timeout when StopContainer is given none.
	DefaultGrace time.Duration

	mu         sync.Mutex                   // guards everything below
	containers map[string]*container        // by ID
	networks   map[string]map[string]string // labels by name
	volumes    map[string]map[string]string // labels by name
	images     map[string]string            // ID by reference
	behaviors  map[string]Behavior          // by service
	fails      []failure
	calls      []Call
	next       int
	// changed is closed, and replaced, whenever a container changes, to
	// wake WaitContainer.
	changed chan struct{}
}

var _ reconciler.World = (*Fake)(nil)

// Behavior is what the containers of a service do once started.
type Behavior struct {
	// Exits: the program exits ExitAfter after each start, with ExitCode.
	// Otherwise it runs until stopped.
	Exits     bool
	ExitCode  int
	ExitAfter time.Duration
	// Health is "healthy" or "unhealthy" (the container has a
	// healthcheck, whose status turns to it HealthAfter after each
	// start, Probe being the last probe's output), "none" (no
	// healthcheck), or "" (as the service's healthcheck: none, or
	// healthy at once).
	Health      string
	HealthAfter time.Duration
	Probe       string
	// StopDelay is how long the program takes to exit on SIGTERM;
	// IgnoreSIGTERM makes it wait for SIGKILL at the end of the timeout.
	StopDelay     time.Duration
	IgnoreSIGTERM bool
}

// Call is one recorded call of a World method.
type Call struct {
	Op     string // the method: "CreateContainer", "StartContainer", …
	Name   string // the container's name at the time, the network's, the image reference, the project
	Detail string // WaitContainer: the condition; CreateContainer: the planned name when different
	At     time.Time
}

func (c Call) String() string { return c.Op + " " + c.Name }

type failure struct {
	op, name string
	err      error
}

type container struct {
	id, name   string
	labels     map[string]string
	project    string
	state      reconciler.State
	exitCode   int
	health     string // "", "starting", "healthy", "unhealthy"
	probe      string
	healthy    bool // has a healthcheck
	service    string
	derived    Behavior // what it does when its service has no Behavior
	networks   []string // keys of the project's networks it joins
	volumes    []string // keys of the project's volumes it mounts
	created    time.Time
	startedAt  time.Time
	finishedAt time.Time
	starts     int
	gen        int // bumped at each start and stop, so that old timers do nothing
}

// NewFake returns an empty world with DefaultGrace 10s.
func NewFake() *Fake {
	return &Fake{
		DefaultGrace: reconciler.DefaultStopTimeout,
		containers:   map[string]*container{},
		networks:     map[string]map[string]string{},
		volumes:      map[string]map[string]string{},
		images:       map[string]string{},
		behaviors:    map[string]Behavior{},
		changed:      make(chan struct{}),
	}
}

// ImageID is a deterministic fake image ID for ref.
func ImageID(ref string) string {
	sum := sha256.Sum256([]byte("image " + ref))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// AddImage makes ref available with the given ID (ImageID(ref) when id is
// "").
func (f *Fake) AddImage(ref, id string) {
	if id == "" {
		id = ImageID(ref)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[ref] = id
}

// Image returns the ID of ref, if the Fake has it.
func (f *Fake) Image(ref string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.images[ref]
	return id, ok
}

// SetBehavior sets what the containers of service do from now on: when
// they start, and when they are stopped.
func (f *Fake) SetBehavior(service string, b Behavior) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.behaviors[service] = b
}

// FailOn makes the next call of op ("CreateContainer", "StartContainer",
// "StopContainer", "RemoveContainer", "RenameContainer", "WaitContainer",
// "CreateNetwork", "RemoveNetwork", "CreateVolume", "RemoveVolume",
// "EnsureImage", "Observe") that names name (a container, network or
// volume name, an image reference, a project; "" for any) fail with err,
// before it changes anything. Each FailOn fails one call.
func (f *Fake) FailOn(op, name string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails = append(f.fails, failure{op, name, err})
}

// AddContainer adds a container as something other than the reconciler
// made it: a foreign container (no project label), an orphan, a one-off.
// It returns its ID.
func (f *Fake) AddContainer(name string, labels map[string]string, state reconciler.State) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.newContainer(name, labels)
	c.state = state
	if state != reconciler.Created {
		c.starts, c.startedAt = 1, time.Now()
	}
	f.notify()
	return c.id
}

// AddNetwork adds a network made by something else (an external one).
func (f *Fake) AddNetwork(name string, labels map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.networks[name] = maps.Clone(labels)
}

// Exit makes the running container called name exit with code now.
func (f *Fake) Exit(name string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.byName(name); c != nil && c.state == reconciler.Running {
		f.exit(c, code)
	}
}

// SetHealth sets the health ("healthy", "unhealthy", "starting") and
// last probe output of the container called name.
func (f *Fake) SetHealth(name, health, probe string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.byName(name); c != nil {
		c.healthy, c.health, c.probe = true, health, probe
		f.notify()
	}
}

// ContainerInfo is what the Fake knows of a container.
type ContainerInfo struct {
	reconciler.ObservedContainer
	StartedAt, FinishedAt time.Time // the last start and exit
	Starts                int       // how many times it was started
}

// Container returns the container called name.
func (f *Fake) Container(name string) (ContainerInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.byName(name)
	if c == nil {
		return ContainerInfo{}, false
	}
	return ContainerInfo{ObservedContainer: c.observed(), StartedAt: c.startedAt, FinishedAt: c.finishedAt, Starts: c.starts}, true
}

// ContainerNames returns the names of every container, sorted.
func (f *Fake) ContainerNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.containers {
		out = append(out, c.name)
	}
	slices.Sort(out)
	return out
}

// Calls returns the calls recorded so far, in order.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallsOf returns the calls of the given methods (every one when none is
// given) as "Op Name" strings, in order.
func (f *Fake) CallsOf(ops ...string) []string {
	var out []string
	for _, c := range f.Calls() {
		if len(ops) == 0 || slices.Contains(ops, c.Op) {
			out = append(out, c.String())
		}
	}
	return out
}

// ResetCalls forgets the calls recorded so far.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// call records a call and returns the scripted failure for it, if any.
// f.mu must be held.
func (f *Fake) call(op, name, detail string) error {
	f.calls = append(f.calls, Call{Op: op, Name: name, Detail: detail, At: time.Now()})
	for i, fl := range f.fails {
		if fl.op == op && (fl.name == "" || fl.name == name) {
			f.fails = slices.Delete(f.fails, i, i+1)
			return fl.err
		}
	}
	return nil
}

func (f *Fake) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *Fake) byName(name string) *container {
	for _, c := range f.containers {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (f *Fake) newContainer(name string, labels map[string]string) *container {
	f.next++
	sum := sha256.Sum256([]byte("container " + strconv.Itoa(f.next)))
	c := &container{
		id: hex.EncodeToString(sum[:]), name: name, labels: maps.Clone(labels),
		project: labels[planner.LabelProject], service: labels[planner.LabelService], created: time.Now(),
		derived: Behavior{Health: "none"},
	}
	if c.labels == nil {
		c.labels = map[string]string{}
	}
	f.containers[c.id] = c
	return c
}

func (c *container) observed() reconciler.ObservedContainer {
	o := reconciler.ObservedContainer{ID: c.id, Name: c.name, State: c.state, ExitCode: c.exitCode, Health: c.health, Created: c.created}
	o.ParseLabels(maps.Clone(c.labels))
	return o
}

func (f *Fake) get(id string) (*container, error) {
	c, ok := f.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", shortID(id), reconciler.ErrNotFound)
	}
	return c, nil
}

func (f *Fake) nameOf(id string) string {
	if c, ok := f.containers[id]; ok {
		return c.name
	}
	return shortID(id)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Observe implements reconciler.Observer.
func (f *Fake) Observe(ctx context.Context, project string) (*reconciler.Observed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("Observe", project, ""); err != nil {
		return nil, err
	}
	o := &reconciler.Observed{Project: project}
	for _, c := range f.containers {
		if c.project == project {
			o.Containers = append(o.Containers, c.observed())
		} else {
			o.Foreign = append(o.Foreign, c.name)
		}
	}
	for name, labels := range f.networks {
		if labels[planner.LabelProject] == project {
			o.Networks = append(o.Networks, reconciler.ParseNetwork(name, labels))
		}
	}
	for name, labels := range f.volumes {
		if labels[planner.LabelProject] == project {
			o.Volumes = append(o.Volumes, reconciler.ParseVolume(name, labels))
		}
	}
	reconciler.SortObserved(o)
	return o, nil
}

// EnsureImage implements reconciler.Images: the image must have been
// added (AddImage).
func (f *Fake) EnsureImage(ctx context.Context, n *planner.Node, opts reconciler.ImageOptions) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	service := ""
	if n.Service != nil {
		service = n.Service.Name
	}
	if err := f.call("EnsureImage", n.Name, ""); err != nil {
		return "", fmt.Errorf("service %q: image %q: %w", service, n.Name, err)
	}
	id, ok := f.images[n.Name]
	if !ok {
		return "", fmt.Errorf("service %q: image %q: %w", service, n.Name, reconciler.ErrNotFound)
	}
	return id, nil
}

// CreateNetwork implements reconciler.Networks.
func (f *Fake) CreateNetwork(ctx context.Context, n *planner.Node) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.create(f.networks, "CreateNetwork", "network", n)
}

// CreateVolume implements reconciler.Volumes.
func (f *Fake) CreateVolume(ctx context.Context, n *planner.Node) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.create(f.volumes, "CreateVolume", "volume", n)
}

func (f *Fake) create(objects map[string]map[string]string, op, kind string, n *planner.Node) error {
	if err := f.call(op, n.Name, ""); err != nil {
		return err
	}
	if labels, ok := objects[n.Name]; ok {
		if maps.Equal(labels, n.Labels) {
			return nil
		}
		return fmt.Errorf("%s %q exists with other labels: %w", kind, n.Name, reconciler.ErrConflict)
	}
	objects[n.Name] = maps.Clone(n.Labels)
	return nil
}

// RemoveNetwork implements reconciler.Networks. A network that a
// container of its project joins is in use.
func (f *Fake) RemoveNetwork(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.remove(f.networks, "RemoveNetwork", "network", name, planner.LabelNetwork, func(c *container) []string { return c.networks })
}

// RemoveVolume implements reconciler.Volumes. A volume that a container of
// its project mounts is in use.
func (f *Fake) RemoveVolume(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.remove(f.volumes, "RemoveVolume", "volume", name, planner.LabelVolume, func(c *container) []string { return c.volumes })
}

func (f *Fake) remove(objects map[string]map[string]string, op, kind, name, keyLabel string, uses func(*container) []string) error {
	if err := f.call(op, name, ""); err != nil {
		return err
	}
	labels, ok := objects[name]
	if !ok {
		return fmt.Errorf("%s %q: %w", kind, name, reconciler.ErrNotFound)
	}
	for _, c := range f.containers {
		if c.project == labels[planner.LabelProject] && slices.Contains(uses(c), labels[keyLabel]) {
			return fmt.Errorf("%s %q is used by container %q: %w", kind, name, c.name, reconciler.ErrInUse)
		}
	}
	delete(objects, name)
	return nil
}

// CreateContainer implements reconciler.Containers. The networks and
// named volumes the service uses must exist, labelled with the project
// (add external ones with AddNetwork).
func (f *Fake) CreateContainer(ctx context.Context, n *planner.Node, name string, extraLabels map[string]string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	detail := ""
	if name != n.Name {
		detail = n.Name
	}
	if err := f.call("CreateContainer", name, detail); err != nil {
		return "", err
	}
	if f.byName(name) != nil {
		return "", fmt.Errorf("container name %q: %w", name, reconciler.ErrConflict)
	}
	labels := maps.Clone(n.Labels)
	maps.Copy(labels, extraLabels)
	project := labels[planner.LabelProject]
	var networks, volumes []string
	if s := n.Service; s != nil {
		if s.NetworkMode == "" {
			for _, sn := range s.Networks {
				networks = append(networks, sn.Key)
			}
		}
		for _, m := range s.Volumes {
			if m.Type == spec.MountVolume && m.Source != "" {
				volumes = append(volumes, m.Source)
			}
		}
	}
	for _, key := range networks {
		if !hasObject(f.networks, project, planner.LabelNetwork, key) {
			return "", fmt.Errorf("create container %q: network %q of project %q: %w", name, key, project, reconciler.ErrNotFound)
		}
	}
	for _, key := range volumes {
		if !hasObject(f.volumes, project, planner.LabelVolume, key) {
			return "", fmt.Errorf("create container %q: volume %q of project %q: %w", name, key, project, reconciler.ErrNotFound)
		}
	}
	c := f.newContainer(name, labels)
	c.networks, c.volumes = networks, volumes
	if n.Service != nil {
		c.derived = derived(n.Service)
	}
	f.notify()
	return c.id, nil
}

func hasObject(objects map[string]map[string]string, project, keyLabel, key string) bool {
	for _, labels := range objects {
		if labels[planner.LabelProject] == project && labels[keyLabel] == key {
			return true
		}
	}
	return false
}

// derived is what a container of s does when no Behavior is set for s.
// The Fake understands a few commands so that WorldSuite means the same
// against it as against the real world: ["true"], ["false"] and ["sh",
// "-c", "exit N"] exit at once; a healthcheck test of ["CMD", "false"],
// ["CMD-SHELL", "false"] or ["CMD-SHELL", "exit 1"] fails, any other
// passes at once.
func derived(s *spec.Service) Behavior {
	var b Behavior
	switch cmd := s.Command; {
	case slices.Equal(cmd, []string{"true"}):
		b.Exits = true
	case slices.Equal(cmd, []string{"false"}):
		b.Exits, b.ExitCode = true, 1
	case len(cmd) == 3 && cmd[0] == "sh" && cmd[1] == "-c" && strings.HasPrefix(cmd[2], "exit "):
		if code, err := strconv.Atoi(strings.TrimPrefix(cmd[2], "exit ")); err == nil {
			b.Exits, b.ExitCode = true, code
		}
	}
	b.Health = "none"
	if s.Healthcheck != nil && !s.Healthcheck.Disable && len(s.Healthcheck.Test) > 0 && s.Healthcheck.Test[0] != "NONE" {
		b.Health = "healthy"
		switch t := s.Healthcheck.Test; {
		case slices.Equal(t, []string{"CMD", "false"}), slices.Equal(t, []string{"CMD-SHELL", "exit 1"}), slices.Equal(t, []string{"CMD-SHELL", "false"}):
			b.Health = "unhealthy"
		}
	}
	return b
}

// behavior is what c does now: its service's Behavior if one is set
// (with the healthcheck derived from the service when Health is ""),
// else what its command and healthcheck say. f.mu must be held.
func (f *Fake) behavior(c *container) Behavior {
	b, ok := f.behaviors[c.service]
	if !ok {
		return c.derived
	}
	if b.Health == "" {
		b.Health = c.derived.Health
	}
	return b
}

// StartContainer implements reconciler.Containers.
func (f *Fake) StartContainer(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("StartContainer", f.nameOf(id), ""); err != nil {
		return err
	}
	c, err := f.get(id)
	if err != nil {
		return err
	}
	if c.state == reconciler.Running || c.state == reconciler.Paused || c.state == reconciler.Restarting {
		return nil
	}
	c.state, c.exitCode, c.startedAt = reconciler.Running, 0, time.Now()
	c.starts++
	c.gen++
	gen := c.gen
	b := f.behavior(c)
	c.healthy = b.Health != "none"
	if c.healthy {
		c.health, c.probe = "starting", ""
		if b.HealthAfter == 0 {
			c.health, c.probe = b.Health, b.Probe
		} else {
			time.AfterFunc(b.HealthAfter, func() {
				f.mu.Lock()
				defer f.mu.Unlock()
				if c.gen == gen && c.state == reconciler.Running {
					c.health, c.probe = b.Health, b.Probe
					f.notify()
				}
			})
		}
	}
	if b.Exits {
		if b.ExitAfter == 0 {
			f.exit(c, b.ExitCode)
		} else {
			time.AfterFunc(b.ExitAfter, func() {
				f.mu.Lock()
				defer f.mu.Unlock()
				if c.gen == gen && c.state == reconciler.Running {
					f.exit(c, b.ExitCode)
				}
			})
		}
	}
	f.notify()
	return nil
}

// exit makes c exit with code. f.mu must be held.
func (f *Fake) exit(c *container, code int) {
	c.state, c.exitCode, c.finishedAt = reconciler.Exited, code, time.Now()
	c.gen++
	f.notify()
}

// StopContainer implements reconciler.Containers: SIGTERM, then SIGKILL
// when the timeout ends; the program exits on SIGTERM after its
// Behavior's StopDelay unless it ignores SIGTERM.
func (f *Fake) StopContainer(ctx context.Context, id string, timeout *time.Duration) error {
	f.mu.Lock()
	if err := f.call("StopContainer", f.nameOf(id), ""); err != nil {
		f.mu.Unlock()
		return err
	}
	c, err := f.get(id)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	if c.state != reconciler.Running && c.state != reconciler.Paused && c.state != reconciler.Restarting {
		f.mu.Unlock()
		return nil
	}
	grace := f.DefaultGrace
	if timeout != nil {
		grace = *timeout
	}
	b := f.behavior(c)
	wait, code := b.StopDelay, 143 // killed by SIGTERM
	if b.IgnoreSIGTERM || wait > grace {
		wait, code = grace, 137 // SIGKILL
	}
	gen := c.gen
	f.mu.Unlock()

	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("stop container %q: %w", c.name, ctx.Err())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.gen == gen && c.state != reconciler.Exited {
		f.exit(c, code)
	}
	return nil
}

// RemoveContainer implements reconciler.Containers. Removing a running
// container is an error.
func (f *Fake) RemoveContainer(ctx context.Context, id string, removeAnonVolumes bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("RemoveContainer", f.nameOf(id), ""); err != nil {
		return err
	}
	c, err := f.get(id)
	if err != nil {
		return err
	}
	if c.state == reconciler.Running || c.state == reconciler.Paused || c.state == reconciler.Restarting {
		return fmt.Errorf("remove container %q: it is %s: stop it first", c.name, c.state)
	}
	delete(f.containers, id)
	f.notify()
	return nil
}

// RenameContainer implements reconciler.Containers.
func (f *Fake) RenameContainer(ctx context.Context, id, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("RenameContainer", f.nameOf(id), name); err != nil {
		return err
	}
	c, err := f.get(id)
	if err != nil {
		return err
	}
	if o := f.byName(name); o != nil && o != c {
		return fmt.Errorf("rename container %q to %q: %w", c.name, name, reconciler.ErrConflict)
	}
	c.name = name
	f.notify()
	return nil
}

// WaitContainer implements reconciler.Containers: it sleeps until the
// container changes (no polling) and checks again.
func (f *Fake) WaitContainer(ctx context.Context, id string, cond planner.Condition) error {
	f.mu.Lock()
	if err := f.call("WaitContainer", f.nameOf(id), cond.String()); err != nil {
		f.mu.Unlock()
		return err
	}
	for {
		c, err := f.get(id)
		if err != nil {
			f.mu.Unlock()
			return err
		}
		done, err := c.check(cond)
		changed := f.changed
		f.mu.Unlock()
		if done || err != nil {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("container %q: waiting for %s: %w", c.name, cond, ctx.Err())
		}
		f.mu.Lock()
	}
}

// check reports whether cond holds for c, or an error when it no longer
// can. f.mu must be held.
func (c *container) check(cond planner.Condition) (bool, error) {
	ran := c.starts > 0
	over := ran && (c.state == reconciler.Exited || c.state == reconciler.Dead)
	switch cond {
	case planner.Started:
		return ran, nil
	case planner.Healthy:
		switch {
		case !c.healthy:
			return false, fmt.Errorf("container %q has no healthcheck configured", c.name)
		case over:
			return false, fmt.Errorf("container %q exited (%d) before it was healthy", c.name, c.exitCode)
		case c.health == "healthy":
			return true, nil
		case c.health == "unhealthy":
			return false, fmt.Errorf("container %q is unhealthy: last probe: %q", c.name, c.probe)
		}
	case planner.CompletedSuccessfully:
		switch {
		case over && c.exitCode == 0:
			return true, nil
		case over:
			return false, fmt.Errorf("container %q exited with code %d", c.name, c.exitCode)
		}
	default:
		return false, fmt.Errorf("container %q: unknown condition %s", c.name, cond)
	}
	return false, nil
}

// ErrScripted is a convenient error for FailOn.
var ErrScripted = errors.New("scripted failure")
