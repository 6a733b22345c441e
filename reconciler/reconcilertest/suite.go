package reconcilertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"stack/planner"
	"stack/reconciler"
	"stack/spec"
)

// SuiteConfig configures WorldSuite.
type SuiteConfig struct {
	// Image is an image the world has, or gets with EnsureImage's default
	// policy, whose root has sh, true, false and sleep (busybox:latest).
	Image string
	// WaitTimeout bounds each WaitContainer of the suite; 0: one minute.
	WaitTimeout time.Duration
}

// WorldSuite checks that a reconciler.World keeps the contract the
// reconciler relies on: create, start, stop, remove and rename semantics,
// the sentinel errors, WaitContainer's three conditions and its failures,
// networks and volumes, and Observe reflecting every change with its
// labels parsed. newWorld returns the world for one subtest; every
// subtest uses a project of its own, which it removes at the end.
// reconcilertest.Fake runs it in its tests, and reconciler/live as root.
func WorldSuite(t *testing.T, newWorld func(t *testing.T) reconciler.World, cfg SuiteConfig) {
	if cfg.Image == "" {
		cfg.Image = "busybox:latest"
	}
	if cfg.WaitTimeout == 0 {
		cfg.WaitTimeout = time.Minute
	}
	for _, tc := range []struct {
		name string
		fn   func(*suite)
	}{
		{"EnsureImage", testEnsureImage},
		{"CreateObserve", testCreateObserve},
		{"StartStopRemove", testStartStopRemove},
		{"RemoveRunning", testRemoveRunning},
		{"NameConflict", testNameConflict},
		{"Rename", testRename},
		{"WaitStarted", testWaitStarted},
		{"WaitHealthy", testWaitHealthy},
		{"WaitNoHealthcheck", testWaitNoHealthcheck},
		{"WaitUnhealthy", testWaitUnhealthy},
		{"WaitCompleted", testWaitCompleted},
		{"WaitFailed", testWaitFailed},
		{"WaitCanceled", testWaitCanceled},
		{"Networks", testNetworks},
		{"NetworkInUse", testNetworkInUse},
		{"Volumes", testVolumes},
		{"Foreign", testForeign},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sum := sha256.Sum256([]byte(t.Name()))
			s := &suite{t: t, w: newWorld(t), cfg: cfg, project: "stacksuite" + hex.EncodeToString(sum[:4])}
			t.Cleanup(s.cleanup)
			tc.fn(s)
		})
	}
}

type suite struct {
	t       *testing.T
	w       reconciler.World
	cfg     SuiteConfig
	project string
}

func (s *suite) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WaitTimeout)
	s.t.Cleanup(cancel)
	return ctx
}

// cleanup removes what the subtest's project left.
func (s *suite) cleanup() {
	ctx := context.Background()
	obs, err := s.w.Observe(ctx, s.project)
	if err != nil {
		s.t.Errorf("cleanup: Observe: %v", err)
		return
	}
	zero := time.Duration(0)
	for _, c := range obs.Containers {
		if err := s.w.StopContainer(ctx, c.ID, &zero); err != nil {
			s.t.Errorf("cleanup: StopContainer(%s): %v", c.Name, err)
		}
		if err := s.w.RemoveContainer(ctx, c.ID, true); err != nil {
			s.t.Errorf("cleanup: RemoveContainer(%s): %v", c.Name, err)
		}
	}
	for _, n := range obs.Networks {
		if err := s.w.RemoveNetwork(ctx, n.Name); err != nil {
			s.t.Errorf("cleanup: RemoveNetwork(%s): %v", n.Name, err)
		}
	}
	for _, v := range obs.Volumes {
		if err := s.w.RemoveVolume(ctx, v.Name); err != nil {
			s.t.Errorf("cleanup: RemoveVolume(%s): %v", v.Name, err)
		}
	}
}

// service is a service of the suite's image, on no network unless
// networks are given.
func (s *suite) service(name string, command ...string) *spec.Service {
	return &spec.Service{Name: name, Image: s.cfg.Image, Command: command, Replicas: 1, NetworkMode: "none", Attach: true}
}

// plan builds the plan of the services (with a default network when one
// of them uses it, and a volume "data" when one mounts it), with the
// images ensured.
func (s *suite) plan(services ...*spec.Service) *planner.Plan {
	s.t.Helper()
	p := &spec.Project{Name: s.project, WorkingDir: "/"}
	p.Services = services
	for _, svc := range services {
		for _, n := range svc.Networks {
			if _, ok := p.Network(n.Key); !ok {
				p.Networks = append(p.Networks, &spec.Network{Key: n.Key, Name: planner.NetworkName(s.project, n.Key)})
			}
		}
		for _, m := range svc.Volumes {
			if _, ok := p.Volume(m.Source); !ok && m.Type == spec.MountVolume && m.Source != "" {
				p.Volumes = append(p.Volumes, &spec.Volume{Key: m.Source, Name: planner.VolumeName(s.project, m.Source)})
			}
		}
	}
	plan, err := planner.Build(p, planner.Inputs{})
	if err != nil {
		s.t.Fatalf("planner.Build: %v", err)
	}
	ids := map[string]string{}
	for _, n := range plan.Nodes {
		if n.ID.Kind == planner.KindImage {
			id, err := s.w.EnsureImage(s.ctx(), n, reconciler.ImageOptions{})
			if err != nil {
				s.t.Fatalf("EnsureImage(%s): %v", n.Name, err)
			}
			ids[n.Name] = id
		}
	}
	plan, err = planner.Build(p, planner.Inputs{ImageIDs: ids})
	if err != nil {
		s.t.Fatalf("planner.Build: %v", err)
	}
	return plan
}

func (s *suite) node(plan *planner.Plan, service string) *planner.Node {
	s.t.Helper()
	cs := plan.Containers(service)
	if len(cs) == 0 {
		s.t.Fatalf("no container for service %s in the plan", service)
	}
	return cs[0]
}

func (s *suite) create(n *planner.Node) string {
	s.t.Helper()
	id, err := s.w.CreateContainer(s.ctx(), n, n.Name, nil)
	if err != nil {
		s.t.Fatalf("CreateContainer(%s): %v", n.Name, err)
	}
	if id == "" {
		s.t.Fatalf("CreateContainer(%s) returned no ID", n.Name)
	}
	return id
}

func (s *suite) start(id string) {
	s.t.Helper()
	if err := s.w.StartContainer(s.ctx(), id); err != nil {
		s.t.Fatalf("StartContainer: %v", err)
	}
}

func (s *suite) run(n *planner.Node) string {
	s.t.Helper()
	id := s.create(n)
	s.start(id)
	return id
}

func (s *suite) observe() *reconciler.Observed {
	s.t.Helper()
	obs, err := s.w.Observe(s.ctx(), s.project)
	if err != nil {
		s.t.Fatalf("Observe: %v", err)
	}
	if obs.Project != s.project {
		s.t.Errorf("Observe(%q).Project = %q", s.project, obs.Project)
	}
	return obs
}

func (s *suite) container(id string) (reconciler.ObservedContainer, bool) {
	s.t.Helper()
	for _, c := range s.observe().Containers {
		if c.ID == id {
			return c, true
		}
	}
	return reconciler.ObservedContainer{}, false
}

func (s *suite) mustContainer(id string) reconciler.ObservedContainer {
	s.t.Helper()
	c, ok := s.container(id)
	if !ok {
		s.t.Fatalf("Observe does not list container %s", id)
	}
	return c
}

func testEnsureImage(s *suite) {
	plan := s.plan(s.service("a", "sleep", "3600"))
	n := s.node(plan, "a")
	if !strings.HasPrefix(n.ImageID, "sha256:") {
		s.t.Errorf("EnsureImage(%s) = %q, want a sha256: ID", s.cfg.Image, n.ImageID)
	}
	missing := &planner.Node{ID: planner.NodeID{Kind: planner.KindImage, Name: "stack-suite-missing:none"}, Name: "stack-suite-missing:none",
		Image: "stack-suite-missing:none", Service: &spec.Service{Name: "ghost", Image: "stack-suite-missing:none"}}
	_, err := s.w.EnsureImage(s.ctx(), missing, reconciler.ImageOptions{Pull: "never"})
	if err == nil || !strings.Contains(err.Error(), "stack-suite-missing:none") || !strings.Contains(err.Error(), "ghost") {
		s.t.Errorf("EnsureImage(missing image) = %v, want an error naming the image and the service", err)
	}
}

func testCreateObserve(s *suite) {
	svc := s.service("a", "sleep", "3600")
	plan := s.plan(svc)
	n := s.node(plan, "a")
	if obs := s.observe(); len(obs.Containers)+len(obs.Networks)+len(obs.Volumes) != 0 {
		s.t.Fatalf("Observe of a new project = %+v, want nothing", obs)
	}
	id, err := s.w.CreateContainer(s.ctx(), n, n.Name, map[string]string{planner.LabelReplace: "0123456789ab"})
	if err != nil {
		s.t.Fatalf("CreateContainer: %v", err)
	}
	c := s.mustContainer(id)
	if c.Name != n.Name || c.Service != "a" || c.Number != 1 || c.OneOff || c.Hash != n.Hash || c.ImageID != n.ImageID ||
		c.DependsOn != n.Labels[planner.LabelDependencies] || c.State != reconciler.Created {
		s.t.Errorf("Observe = %+v, want name %s, service a, number 1, not one-off, hash %s, image %s, state created",
			c, n.Name, n.Hash, n.ImageID)
	}
	for k, v := range n.Labels {
		if c.Labels[k] != v {
			s.t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	if c.Labels[planner.LabelReplace] != "0123456789ab" {
		s.t.Errorf("extra label %s = %q, want 0123456789ab", planner.LabelReplace, c.Labels[planner.LabelReplace])
	}
	if c.Created.IsZero() {
		s.t.Errorf("Created is zero")
	}
}

func testStartStopRemove(s *suite) {
	n := s.node(s.plan(s.service("a", "sleep", "3600")), "a")
	id := s.run(n)
	if c := s.mustContainer(id); c.State != reconciler.Running {
		s.t.Errorf("after StartContainer, state = %s, want running", c.State)
	}
	if err := s.w.StartContainer(s.ctx(), id); err != nil {
		s.t.Errorf("StartContainer of a running container = %v, want nil", err)
	}
	timeout := 5 * time.Second
	if err := s.w.StopContainer(s.ctx(), id, &timeout); err != nil {
		s.t.Fatalf("StopContainer: %v", err)
	}
	if c := s.mustContainer(id); c.State != reconciler.Exited {
		s.t.Errorf("after StopContainer, state = %s, want exited", c.State)
	}
	if err := s.w.StopContainer(s.ctx(), id, &timeout); err != nil {
		s.t.Errorf("StopContainer of a stopped container = %v, want nil", err)
	}
	s.start(id)
	if c := s.mustContainer(id); c.State != reconciler.Running {
		s.t.Errorf("after a second StartContainer, state = %s, want running", c.State)
	}
	if err := s.w.StopContainer(s.ctx(), id, &timeout); err != nil {
		s.t.Fatalf("StopContainer: %v", err)
	}
	if err := s.w.RemoveContainer(s.ctx(), id, true); err != nil {
		s.t.Fatalf("RemoveContainer: %v", err)
	}
	if _, ok := s.container(id); ok {
		s.t.Errorf("Observe still lists the removed container")
	}
	if err := s.w.RemoveContainer(s.ctx(), id, true); !errors.Is(err, reconciler.ErrNotFound) {
		s.t.Errorf("RemoveContainer of a removed container = %v, want ErrNotFound", err)
	}
	if err := s.w.StartContainer(s.ctx(), id); !errors.Is(err, reconciler.ErrNotFound) {
		s.t.Errorf("StartContainer of a removed container = %v, want ErrNotFound", err)
	}
}

func testRemoveRunning(s *suite) {
	id := s.run(s.node(s.plan(s.service("a", "sleep", "3600")), "a"))
	if err := s.w.RemoveContainer(s.ctx(), id, false); err == nil {
		s.t.Errorf("RemoveContainer of a running container = nil, want an error")
	}
	if c, ok := s.container(id); !ok || c.State != reconciler.Running {
		s.t.Errorf("after a refused RemoveContainer, the container is %+v (listed: %v), want running", c, ok)
	}
}

func testNameConflict(s *suite) {
	n := s.node(s.plan(s.service("a", "sleep", "3600")), "a")
	s.create(n)
	if _, err := s.w.CreateContainer(s.ctx(), n, n.Name, nil); !errors.Is(err, reconciler.ErrConflict) {
		s.t.Errorf("CreateContainer with a name in use = %v, want ErrConflict", err)
	}
	if got := len(s.observe().Containers); got != 1 {
		s.t.Errorf("len(Observe().Containers) = %d, want 1", got)
	}
}

func testRename(s *suite) {
	plan := s.plan(s.service("a", "sleep", "3600"), s.service("b", "sleep", "3600"))
	a, b := s.node(plan, "a"), s.node(plan, "b")
	tmp := "0123456789ab_" + a.Name
	id, err := s.w.CreateContainer(s.ctx(), a, tmp, nil)
	if err != nil {
		s.t.Fatalf("CreateContainer(%s): %v", tmp, err)
	}
	if c := s.mustContainer(id); c.Name != tmp || c.Number != 1 || c.Service != "a" {
		s.t.Errorf("Observe = %+v, want name %s, service a, number 1", c, tmp)
	}
	if err := s.w.RenameContainer(s.ctx(), id, a.Name); err != nil {
		s.t.Fatalf("RenameContainer: %v", err)
	}
	if c := s.mustContainer(id); c.Name != a.Name {
		s.t.Errorf("after RenameContainer, name = %q, want %q", c.Name, a.Name)
	}
	s.create(b)
	if err := s.w.RenameContainer(s.ctx(), id, b.Name); !errors.Is(err, reconciler.ErrConflict) {
		s.t.Errorf("RenameContainer to a name in use = %v, want ErrConflict", err)
	}
}

func testWaitStarted(s *suite) {
	n := s.node(s.plan(s.service("a", "sleep", "3600")), "a")
	id := s.run(n)
	if err := s.w.WaitContainer(s.ctx(), id, planner.Started); err != nil {
		s.t.Errorf("WaitContainer(started) of a running container = %v", err)
	}
	// a one-shot that has run counts as started
	job := s.node(s.plan(s.service("job", "true")), "job")
	jid := s.run(job)
	if err := s.w.WaitContainer(s.ctx(), jid, planner.CompletedSuccessfully); err != nil {
		s.t.Fatalf("WaitContainer(completed) of `true` = %v", err)
	}
	if err := s.w.WaitContainer(s.ctx(), jid, planner.Started); err != nil {
		s.t.Errorf("WaitContainer(started) of a container that ran and exited = %v, want nil", err)
	}
}

func healthcheck(test ...string) *spec.Healthcheck {
	return &spec.Healthcheck{Test: test, Interval: time.Second, Timeout: time.Second, StartInterval: 100 * time.Millisecond, Retries: 1}
}

func testWaitHealthy(s *suite) {
	svc := s.service("a", "sleep", "3600")
	svc.Healthcheck = healthcheck("CMD", "true")
	id := s.run(s.node(s.plan(svc), "a"))
	if err := s.w.WaitContainer(s.ctx(), id, planner.Healthy); err != nil {
		s.t.Errorf("WaitContainer(healthy) with a passing healthcheck = %v", err)
	}
	if c := s.mustContainer(id); c.Health != "healthy" {
		s.t.Errorf("Observe: health = %q, want healthy", c.Health)
	}
}

func testWaitNoHealthcheck(s *suite) {
	n := s.node(s.plan(s.service("a", "sleep", "3600")), "a")
	id := s.run(n)
	err := s.w.WaitContainer(s.ctx(), id, planner.Healthy)
	if err == nil || !strings.Contains(err.Error(), "no healthcheck") || !strings.Contains(err.Error(), n.Name) {
		s.t.Errorf("WaitContainer(healthy) without a healthcheck = %v, want \"container %s has no healthcheck configured\"", err, n.Name)
	}
}

func testWaitUnhealthy(s *suite) {
	svc := s.service("a", "sleep", "3600")
	svc.Healthcheck = healthcheck("CMD", "false")
	n := s.node(s.plan(svc), "a")
	id := s.run(n)
	err := s.w.WaitContainer(s.ctx(), id, planner.Healthy)
	if err == nil || !strings.Contains(err.Error(), n.Name) || errors.Is(err, context.DeadlineExceeded) {
		s.t.Errorf("WaitContainer(healthy) with a failing healthcheck = %v, want an error naming %s as soon as it is unhealthy", err, n.Name)
	}
}

func testWaitCompleted(s *suite) {
	n := s.node(s.plan(s.service("job", "sh", "-c", "exit 0")), "job")
	id := s.run(n)
	if err := s.w.WaitContainer(s.ctx(), id, planner.CompletedSuccessfully); err != nil {
		s.t.Errorf("WaitContainer(completed) of exit 0 = %v", err)
	}
	if c := s.mustContainer(id); c.State != reconciler.Exited || c.ExitCode != 0 {
		s.t.Errorf("Observe: state %s, exit code %d; want exited, 0", c.State, c.ExitCode)
	}
}

func testWaitFailed(s *suite) {
	n := s.node(s.plan(s.service("job", "sh", "-c", "exit 3")), "job")
	id := s.run(n)
	err := s.w.WaitContainer(s.ctx(), id, planner.CompletedSuccessfully)
	if err == nil || !strings.Contains(err.Error(), "3") || !strings.Contains(err.Error(), n.Name) {
		s.t.Errorf("WaitContainer(completed) of exit 3 = %v, want an error naming %s and code 3", err, n.Name)
	}
	if c := s.mustContainer(id); c.State != reconciler.Exited || c.ExitCode != 3 {
		s.t.Errorf("Observe: state %s, exit code %d; want exited, 3", c.State, c.ExitCode)
	}
	err = s.w.WaitContainer(s.ctx(), id, planner.Healthy)
	if err == nil {
		s.t.Errorf("WaitContainer(healthy) of an exited container = nil, want an error")
	}
}

func testWaitCanceled(s *suite) {
	id := s.run(s.node(s.plan(s.service("a", "sleep", "3600")), "a"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.w.WaitContainer(ctx, id, planner.CompletedSuccessfully); !errors.Is(err, context.Canceled) {
		s.t.Errorf("WaitContainer with a canceled context = %v, want context.Canceled", err)
	}
}

// networked returns a plan of one service on the default network and
// mounting volume data.
func (s *suite) networked(command ...string) *planner.Plan {
	svc := s.service("a", command...)
	svc.NetworkMode = ""
	svc.Networks = []spec.ServiceNetwork{{Key: "default", Name: planner.NetworkName(s.project, "default")}}
	svc.Volumes = []spec.Mount{{Type: spec.MountVolume, Source: "data", Name: planner.VolumeName(s.project, "data"), Target: "/data"}}
	return s.plan(svc)
}

func (s *suite) resource(plan *planner.Plan, kind planner.Kind, key string) *planner.Node {
	s.t.Helper()
	n, ok := plan.Node(planner.NodeID{Kind: kind, Name: key})
	if !ok {
		s.t.Fatalf("no %s %s in the plan", kind, key)
	}
	return n
}

func testNetworks(s *suite) {
	n := s.resource(s.networked("sleep", "3600"), planner.KindNetwork, "default")
	for i := range 2 {
		if err := s.w.CreateNetwork(s.ctx(), n); err != nil {
			s.t.Fatalf("CreateNetwork #%d: %v (want it idempotent)", i+1, err)
		}
	}
	obs := s.observe()
	want := reconciler.ObservedNetwork{Name: n.Name, Key: "default", Hash: n.Hash}
	if len(obs.Networks) != 1 || obs.Networks[0] != want {
		s.t.Errorf("Observe().Networks = %+v, want [%+v]", obs.Networks, want)
	}
	if err := s.w.RemoveNetwork(s.ctx(), n.Name); err != nil {
		s.t.Fatalf("RemoveNetwork: %v", err)
	}
	if obs := s.observe(); len(obs.Networks) != 0 {
		s.t.Errorf("after RemoveNetwork, Observe().Networks = %+v", obs.Networks)
	}
	if err := s.w.RemoveNetwork(s.ctx(), n.Name); !errors.Is(err, reconciler.ErrNotFound) {
		s.t.Errorf("RemoveNetwork of a removed network = %v, want ErrNotFound", err)
	}
}

func testNetworkInUse(s *suite) {
	plan := s.networked("sleep", "3600")
	nw, vol := s.resource(plan, planner.KindNetwork, "default"), s.resource(plan, planner.KindVolume, "data")
	if err := s.w.CreateNetwork(s.ctx(), nw); err != nil {
		s.t.Fatalf("CreateNetwork: %v", err)
	}
	if err := s.w.CreateVolume(s.ctx(), vol); err != nil {
		s.t.Fatalf("CreateVolume: %v", err)
	}
	id := s.run(s.node(plan, "a"))
	if err := s.w.RemoveNetwork(s.ctx(), nw.Name); !errors.Is(err, reconciler.ErrInUse) {
		s.t.Errorf("RemoveNetwork of a network a running container uses = %v, want ErrInUse", err)
	}
	if err := s.w.RemoveVolume(s.ctx(), vol.Name); !errors.Is(err, reconciler.ErrInUse) {
		s.t.Errorf("RemoveVolume of a volume a running container mounts = %v, want ErrInUse", err)
	}
	zero := time.Duration(0)
	if err := s.w.StopContainer(s.ctx(), id, &zero); err != nil {
		s.t.Fatalf("StopContainer: %v", err)
	}
	if err := s.w.RemoveContainer(s.ctx(), id, true); err != nil {
		s.t.Fatalf("RemoveContainer: %v", err)
	}
	if err := s.w.RemoveNetwork(s.ctx(), nw.Name); err != nil {
		s.t.Errorf("RemoveNetwork once its container is gone = %v", err)
	}
	if err := s.w.RemoveVolume(s.ctx(), vol.Name); err != nil {
		s.t.Errorf("RemoveVolume once its container is gone = %v", err)
	}
}

func testVolumes(s *suite) {
	n := s.resource(s.networked("sleep", "3600"), planner.KindVolume, "data")
	for i := range 2 {
		if err := s.w.CreateVolume(s.ctx(), n); err != nil {
			s.t.Fatalf("CreateVolume #%d: %v (want it idempotent)", i+1, err)
		}
	}
	obs := s.observe()
	want := reconciler.ObservedVolume{Name: n.Name, Key: "data", Hash: n.Hash}
	if len(obs.Volumes) != 1 || obs.Volumes[0] != want {
		s.t.Errorf("Observe().Volumes = %+v, want [%+v]", obs.Volumes, want)
	}
	if err := s.w.RemoveVolume(s.ctx(), n.Name); err != nil {
		s.t.Fatalf("RemoveVolume: %v", err)
	}
	if obs := s.observe(); len(obs.Volumes) != 0 {
		s.t.Errorf("after RemoveVolume, Observe().Volumes = %+v", obs.Volumes)
	}
	if err := s.w.RemoveVolume(s.ctx(), n.Name); !errors.Is(err, reconciler.ErrNotFound) {
		s.t.Errorf("RemoveVolume of a removed volume = %v, want ErrNotFound", err)
	}
}

func testForeign(s *suite) {
	n := s.node(s.plan(s.service("a", "sleep", "3600")), "a")
	id := s.create(n)
	other := s.project + "x"
	obs, err := s.w.Observe(s.ctx(), other)
	if err != nil {
		s.t.Fatalf("Observe(%s): %v", other, err)
	}
	if len(obs.Containers) != 0 {
		s.t.Errorf("Observe(%s) lists another project's containers: %+v", other, obs.Containers)
	}
	found := false
	for _, name := range obs.Foreign {
		found = found || name == n.Name
	}
	if !found {
		s.t.Errorf("Observe(%s).Foreign = %v, want it to name %s (a container without the project's label)", other, obs.Foreign, n.Name)
	}
	if c := s.mustContainer(id); c.Labels[planner.LabelProject] != s.project {
		s.t.Errorf("project label = %q, want %q", c.Labels[planner.LabelProject], s.project)
	}
}
