package reconciler_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"stack/planner"
	"stack/reconciler"
	"stack/reconciler/reconcilertest"
)

// newEnvYAML is an env whose compose.yaml is text.
func newEnvYAML(t *testing.T, text string) *env {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, f: reconcilertest.NewFake(), dir: dir}
}

// mutating are the calls that change the world.
var mutating = []string{"CreateNetwork", "CreateVolume", "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer", "RenameContainer", "RemoveNetwork", "RemoveVolume"}

func TestApplyFirstUpOrder(t *testing.T) {
	e := newEnv(t, "basic")
	p := e.load("")
	plan := e.plan(p, nil)
	var rec recorder
	actions := reconciler.Diff(plan, e.observe(), reconciler.Options{Project: p})
	if err := reconciler.Apply(t.Context(), plan, actions, e.f, reconciler.ApplyOptions{Events: rec.add}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	calls := e.f.CallsOf()
	before := func(a, b string) {
		t.Helper()
		i, j := index(calls, a), index(calls, b)
		if i < 0 || j < 0 || i > j {
			t.Errorf("%q (at %d) should come before %q (at %d) in\n%s", a, i, b, j, strings.Join(calls, "\n"))
		}
	}
	before("CreateNetwork demo_default", "CreateContainer demo-db-1")
	before("CreateVolume demo_data", "CreateContainer demo-db-1")
	before("StartContainer demo-db-1", "WaitContainer demo-db-1")
	before("WaitContainer demo-db-1", "StartContainer demo-web-1")
	before("StartContainer demo-cache-1", "StartContainer demo-web-1")
	for _, name := range []string{"demo-db-1", "demo-cache-1", "demo-web-1"} {
		if got := e.state(name); got != "running" {
			t.Errorf("%s is %s, want running", name, got)
		}
	}
	for _, want := range []string{
		"Network demo_default Creating", "Network demo_default Created", "Volume demo_data Created",
		"Container demo-db-1 Creating", "Container demo-db-1 Created", "Container demo-db-1 Starting", "Container demo-db-1 Started",
		"Container demo-db-1 Waiting", "Container demo-db-1 Healthy", "Container demo-web-1 Started",
	} {
		if !rec.has(want) {
			t.Errorf("no event %q in\n%s", want, strings.Join(rec.lines(), "\n"))
		}
	}
}

func TestApplySecondUpDoesNothing(t *testing.T) {
	e := newEnv(t, "basic")
	p := e.load("")
	plan := e.plan(p, nil)
	e.mustUp(p, plan, reconciler.Options{})
	e.f.ResetCalls()
	var rec recorder
	actions, err := e.up(p, plan, reconciler.Options{}, reconciler.ApplyOptions{Events: rec.add})
	if err != nil {
		t.Fatal(err)
	}
	if !actions.IsEmpty() {
		t.Errorf("second Diff:\n%s\nwant no change", actions)
	}
	if got := e.f.CallsOf(mutating...); len(got) != 0 {
		t.Errorf("second up made calls %v, want none", got)
	}
	if !rec.has("Container demo-web-1 Running") {
		t.Errorf("events %v lack \"Container demo-web-1 Running\"", rec.lines())
	}
}

func TestApplyRecreateSequence(t *testing.T) {
	for _, renew := range []bool{false, true} {
		t.Run(map[bool]string{false: "keep anonymous volumes", true: "renew anonymous volumes"}[renew], func(t *testing.T) {
			e := newEnv(t, "basic")
			p := e.load("")
			e.mustUp(p, e.plan(p, nil), reconciler.Options{})
			old, _ := e.f.Container("demo-web-1")
			e.f.ResetCalls()

			p = e.load("compose.edit.yaml")
			plan := e.plan(p, nil)
			if _, err := e.up(p, plan, reconciler.Options{}, reconciler.ApplyOptions{RenewAnonVolumes: renew}); err != nil {
				t.Fatal(err)
			}
			tmp := old.ID[:12] + "_demo-web-1"
			want := []string{
				"CreateContainer " + tmp, "StopContainer demo-web-1", "RemoveContainer demo-web-1",
				"RenameContainer " + tmp, "StartContainer demo-web-1",
			}
			if got := e.f.CallsOf(mutating...); !slices.Equal(got, want) {
				t.Errorf("calls = %q, want %q", got, want)
			}
			now, ok := e.f.Container("demo-web-1")
			if !ok || now.ID == old.ID || now.State != reconciler.Running {
				t.Fatalf("demo-web-1 after recreate: %+v, want a new running container", now)
			}
			wantLabel := old.ID
			if renew {
				wantLabel = ""
			}
			if got := now.Labels[planner.LabelReplace]; got != wantLabel {
				t.Errorf("%s = %q, want %q", planner.LabelReplace, got, wantLabel)
			}
		})
	}
}

func TestApplyRestartDependents(t *testing.T) {
	e := newEnv(t, "restart")
	p := e.load("")
	e.mustUp(p, e.plan(p, nil), reconciler.Options{})
	e.f.ResetCalls()
	p = e.load("compose.edit.yaml")
	e.mustUp(p, e.plan(p, nil), reconciler.Options{})
	calls := e.f.CallsOf(mutating...)
	order := []string{
		"StopContainer demo-front-1", "StopContainer demo-web-1", "StopContainer demo-cache-1",
		"StartContainer demo-cache-1", "StartContainer demo-web-1", "StartContainer demo-front-1",
	}
	last := -1
	for _, c := range order {
		i := index(calls, c)
		if i <= last {
			t.Fatalf("calls\n%s\nwant in this order: %q", strings.Join(calls, "\n"), order)
		}
		last = i
	}
	for _, c := range calls {
		if strings.HasSuffix(c, "demo-worker-1") {
			t.Errorf("worker (no restart: true) was touched: %s", c)
		}
	}
}

// TestApplyHealthyWaitsForEvent: the dependent starts the moment its
// dependency is healthy, woken by the world, with one WaitContainer.
func TestApplyHealthyWaitsForEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "basic")
		e.f.SetBehavior("db", reconcilertest.Behavior{Health: "healthy", HealthAfter: 5300 * time.Millisecond})
		p := e.load("")
		plan := e.plan(p, nil)
		start := time.Now()
		e.mustUp(p, plan, reconciler.Options{})
		db, _ := e.f.Container("demo-db-1")
		web, _ := e.f.Container("demo-web-1")
		cache, _ := e.f.Container("demo-cache-1")
		if got := db.StartedAt.Sub(start); got != 0 {
			t.Errorf("db started at +%v, want at once", got)
		}
		if got := cache.StartedAt.Sub(start); got != 0 {
			t.Errorf("cache (independent) started at +%v, want at once", got)
		}
		if got := web.StartedAt.Sub(db.StartedAt); got != 5300*time.Millisecond {
			t.Errorf("web started %v after db, want 5.3s: the moment db is healthy", got)
		}
		got := e.f.CallsOf("WaitContainer")
		slices.Sort(got)
		if want := []string{"WaitContainer demo-cache-1", "WaitContainer demo-db-1"}; !slices.Equal(got, want) {
			t.Errorf("WaitContainer calls = %v, want %v: one per dependency, no polling", got, want)
		}
	})
}

func TestApplyCompletedSuccessfully(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "conditions")
		e.f.SetBehavior("migrate", reconcilertest.Behavior{Exits: true, ExitAfter: 3 * time.Second})
		p := e.load("")
		e.mustUp(p, e.plan(p, nil), reconciler.Options{})
		migrate, _ := e.f.Container("demo-migrate-1")
		web, _ := e.f.Container("demo-web-1")
		if got := web.StartedAt.Sub(migrate.StartedAt); got != 3*time.Second {
			t.Errorf("web started %v after migrate, want 3s: when migrate exited 0", got)
		}
		if migrate.State != reconciler.Exited || migrate.ExitCode != 0 {
			t.Errorf("migrate: %s (%d), want exited (0)", migrate.State, migrate.ExitCode)
		}
	})
}

func TestApplyCompletedWithError(t *testing.T) {
	e := newEnv(t, "conditions")
	e.f.SetBehavior("migrate", reconcilertest.Behavior{Exits: true, ExitCode: 2})
	p := e.load("")
	_, err := e.up(p, e.plan(p, nil), reconciler.Options{}, reconciler.ApplyOptions{})
	want := `service "web" depends on "migrate" which failed to complete successfully: container "demo-migrate-1" exited with code 2`
	if err == nil || err.Error() != want {
		t.Fatalf("Apply = %v,\nwant %s", err, want)
	}
	if got := e.state("demo-web-1"); got != "created" {
		t.Errorf("web is %s, want created (not started)", got)
	}
	if got := e.state("demo-db-1"); got != "running" {
		t.Errorf("db is %s, want running: what runs is left running", got)
	}
	if got := e.state("demo-worker-1"); got == "running" {
		t.Errorf("worker is running; scheduling should have stopped")
	}
}

func TestApplyUnhealthyDependency(t *testing.T) {
	e := newEnv(t, "basic")
	e.f.SetBehavior("db", reconcilertest.Behavior{Health: "unhealthy", Probe: "pg_isready: /var/run/postgresql:5432 - no response"})
	p := e.load("")
	var rec recorder
	_, err := e.up(p, e.plan(p, nil), reconciler.Options{}, reconciler.ApplyOptions{Events: rec.add})
	want := `service "web" depends on "db" which failed to become healthy: container "demo-db-1" is unhealthy: last probe: "pg_isready: /var/run/postgresql:5432 - no response"`
	if err == nil || err.Error() != want {
		t.Fatalf("Apply = %v,\nwant %s", err, want)
	}
	if !rec.has(`Container demo-web-1 Error: ` + want) {
		t.Errorf("events lack the error on demo-web-1:\n%s", strings.Join(rec.lines(), "\n"))
	}
	if got := e.state("demo-web-1"); got != "created" {
		t.Errorf("web is %s, want created", got)
	}
	for _, name := range []string{"demo-db-1", "demo-cache-1"} {
		if got := e.state(name); got != "running" {
			t.Errorf("%s is %s, want running", name, got)
		}
	}
}

func TestApplyOptionalDependency(t *testing.T) {
	e := newEnvYAML(t, `
services:
  db:
    image: postgres:16
    healthcheck:
      test: ["CMD", "false"]
  app:
    image: app:1
    depends_on:
      db:
        condition: service_healthy
        required: false
`)
	p := e.load("")
	var rec recorder
	if _, err := e.up(p, e.plan(p, nil), reconciler.Options{}, reconciler.ApplyOptions{Events: rec.add}); err != nil {
		t.Fatalf("Apply = %v, want nil: the dependency is optional", err)
	}
	if got := e.state("demo-app-1"); got != "running" {
		t.Errorf("app is %s, want running", got)
	}
	found := false
	for _, l := range rec.lines() {
		found = found || contains(l, "Container demo-app-1 Warning", `service "app" depends on "db" which failed to become healthy`, "required: false")
	}
	if !found {
		t.Errorf("no warning naming app and db in\n%s", strings.Join(rec.lines(), "\n"))
	}
}

// TestApplyFailureMidway: two recreates fail while both are in flight;
// both errors are returned in plan order, what runs is left running, and
// the next up finishes the job.
func TestApplyFailureMidway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "basic")
		// the old containers take a second to stop, so that both
		// recreates are in flight when the first fails
		for _, s := range []string{"cache", "db"} {
			e.f.SetBehavior(s, reconcilertest.Behavior{StopDelay: time.Second})
		}
		p := e.load("")
		e.mustUp(p, e.plan(p, nil), reconciler.Options{})

		e.f.AddImage("redis:7", reconcilertest.ImageID("redis:7 v2"))
		e.f.AddImage("postgres:16", reconcilertest.ImageID("postgres:16 v2"))
		e.f.FailOn("RemoveContainer", "demo-db-1", reconcilertest.ErrScripted)
		e.f.FailOn("RemoveContainer", "demo-cache-1", reconcilertest.ErrScripted)
		plan := e.plan(p, nil)
		_, err := e.up(p, plan, reconciler.Options{}, reconciler.ApplyOptions{})
		if err == nil {
			t.Fatal("Apply = nil, want the two failures")
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != 2 || !contains(lines[0], `service "cache"`, `"demo-cache-1"`, "remove the old container", "scripted failure") ||
			!contains(lines[1], `service "db"`, `"demo-db-1"`, "scripted failure") {
			t.Errorf("Apply error:\n%v\nwant cache's failure, then db's (plan order)", err)
		}
		if !errors.Is(err, reconcilertest.ErrScripted) {
			t.Errorf("errors.Is(err, ErrScripted) = false")
		}
		if got := e.state("demo-web-1"); got != "running" {
			t.Errorf("web is %s, want running: a failure leaves what runs running", got)
		}

		// the next up continues from there
		e.f.ResetCalls()
		actions := e.mustUp(p, plan, reconciler.Options{})
		if got := actions.Changes().String(); !strings.Contains(got, "duplicate of container:db:1") {
			t.Errorf("second up's changes:\n%swant the leftover new containers removed", got)
		}
		checkSettled(t, e, p, plan, reconciler.Options{})
		if names, want := e.f.ContainerNames(), []string{"demo-cache-1", "demo-db-1", "demo-web-1"}; !slices.Equal(names, want) {
			t.Errorf("containers = %v, want %v", names, want)
		}
	})
}

// TestApplyStopsScheduling: with one slot, nothing is started after the
// first failure.
func TestApplyStopsScheduling(t *testing.T) {
	e := newEnv(t, "wide")
	e.f.FailOn("CreateContainer", "demo-s05-1", reconcilertest.ErrScripted)
	p := e.load("")
	_, err := e.up(p, e.plan(p, nil), reconciler.Options{}, reconciler.ApplyOptions{Parallel: 1})
	if err == nil || !contains(err.Error(), `service "s05": create container "demo-s05-1"`, "scripted failure") {
		t.Fatalf("Apply = %v, want s05's failure", err)
	}
	calls := e.f.CallsOf(mutating...)
	if i := index(calls, "CreateContainer demo-s05-1"); i != len(calls)-1 {
		t.Errorf("calls after the failure:\n%s", strings.Join(calls[i+1:], "\n"))
	}
}

// TestApplyParallelOneWideGraph: a graph wider than Parallel finishes
// (no slot is held while waiting for base to be healthy), and synctest
// would report a deadlock.
func TestApplyParallelOneWideGraph(t *testing.T) {
	for _, parallel := range []int{1, 2, -1} {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, "wide")
			e.f.SetBehavior("base", reconcilertest.Behavior{Health: "healthy", HealthAfter: 2 * time.Second})
			p := e.load("")
			if _, err := e.up(p, e.plan(p, nil), reconciler.Options{}, reconciler.ApplyOptions{Parallel: parallel}); err != nil {
				t.Fatalf("Parallel=%d: Apply: %v", parallel, err)
			}
			for _, n := range e.f.ContainerNames() {
				if got := e.state(n); got != "running" {
					t.Errorf("Parallel=%d: %s is %s", parallel, n, got)
				}
			}
			if got := len(e.f.ContainerNames()); got != 21 {
				t.Errorf("Parallel=%d: %d containers, want 21", parallel, got)
			}
		})
	}
}

func TestApplyForeignConflict(t *testing.T) {
	e := newEnv(t, "basic")
	foreign := e.f.AddContainer("demo-web-1", map[string]string{"maintainer": "someone"}, reconciler.Running)
	p := e.load("")
	_, err := e.up(p, e.plan(p, nil), reconciler.Options{}, reconciler.ApplyOptions{})
	want := `service "web": container name "demo-web-1" is already in use by a container that is not of project "demo"; remove or rename it`
	if err == nil || err.Error() != want {
		t.Fatalf("Apply = %v, want %s", err, want)
	}
	if got := e.f.CallsOf(mutating...); len(got) != 0 {
		t.Errorf("Apply made calls %v, want none: it fails before acting", got)
	}
	if c, ok := e.f.Container("demo-web-1"); !ok || c.ID != foreign || c.State != reconciler.Running {
		t.Errorf("the foreign container was touched: %+v", c)
	}
}

func TestApplyRefusesUnresolvedImages(t *testing.T) {
	e := newEnv(t, "basic")
	p := e.load("")
	plan, err := planner.Build(p, planner.Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	actions := reconciler.Diff(plan, e.observe(), reconciler.Options{Project: p})
	err = reconciler.Apply(t.Context(), plan, actions, e.f, reconciler.ApplyOptions{})
	if err == nil || !contains(err.Error(), `service "web": image "nginx:1" is not resolved`) {
		t.Fatalf("Apply = %v, want it to refuse a plan whose images are not resolved", err)
	}
	if got := e.f.CallsOf(mutating...); len(got) != 0 {
		t.Errorf("calls %v, want none", got)
	}
}

func TestApplyNoDepsDoesNotWait(t *testing.T) {
	e := newEnv(t, "basic")
	p := e.load("")
	plan := e.plan(p, nil)
	e.mustUp(p, plan, reconciler.Options{Services: []string{"web"}, NoDeps: true})
	if got := e.f.ContainerNames(); !slices.Equal(got, []string{"demo-web-1"}) {
		t.Errorf("containers = %v, want only demo-web-1", got)
	}
	if got := e.f.CallsOf("WaitContainer"); len(got) != 0 {
		t.Errorf("waits %v: web's dependencies are not part of up --no-deps web", got)
	}
}

func TestApplyWaitTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "basic")
		e.f.SetBehavior("db", reconcilertest.Behavior{Health: "healthy", HealthAfter: time.Hour})
		p := e.load("")
		_, err := e.up(p, e.plan(p, nil), reconciler.Options{}, reconciler.ApplyOptions{WaitTimeout: time.Minute})
		if err == nil || !contains(err.Error(), `service "web": gave up after 1m0s waiting for "db" to become healthy`) {
			t.Fatalf("Apply = %v, want a timeout naming web, db and the duration", err)
		}
	})
}

func TestApplyRemovesScaledDownAndOrphans(t *testing.T) {
	e := newEnv(t, "orphans")
	p := e.load("")
	e.mustUp(p, e.plan(p, nil), reconciler.Options{})
	p = e.load("compose.edit.yaml")
	var rec recorder
	if _, err := e.up(p, e.plan(p, nil), reconciler.Options{RemoveOrphans: true}, reconciler.ApplyOptions{Events: rec.add}); err != nil {
		t.Fatal(err)
	}
	if got := e.state("demo-b-1"); got != "gone" {
		t.Errorf("orphan demo-b-1 is %s, want removed", got)
	}
	want := []string{"Container demo-b-1 Stopping", "Container demo-b-1 Stopped", "Container demo-b-1 Removing", "Container demo-b-1 Removed"}
	var got []string
	for _, l := range rec.lines() {
		if strings.HasPrefix(l, "Container demo-b-1 ") {
			got = append(got, strings.SplitN(l, ":", 2)[0])
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("events for demo-b-1 = %q, want %q", got, want)
	}
}

func TestEnsureImagesErrors(t *testing.T) {
	e := newEnv(t, "basic")
	p := e.load("")
	plan, err := planner.Build(p, planner.Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	e.f.AddImage("nginx:1", "")
	e.f.AddImage("redis:7", "")
	ids, err := reconciler.EnsureImages(context.Background(), plan, e.f, reconciler.EnsureOptions{Parallel: 1})
	if err == nil || !contains(err.Error(), `service "db"`, `image "postgres:16"`) {
		t.Errorf("EnsureImages = %v, want an error naming db and postgres:16", err)
	}
	if len(ids) != 2 || ids["nginx:1"] != reconcilertest.ImageID("nginx:1") {
		t.Errorf("ids = %v, want the two images found", ids)
	}
	ids, err = reconciler.EnsureImages(context.Background(), plan, e.f, reconciler.EnsureOptions{Services: []string{"cache"}})
	if err != nil || len(ids) != 1 {
		t.Errorf("EnsureImages(cache) = %v, %v; want redis:7 only", ids, err)
	}
}

// TestApplyCanceled: Ctrl-C while waiting for a dependency ends Apply
// with the context's error, once, and leaves what runs running.
func TestApplyCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "basic")
		e.f.SetBehavior("db", reconcilertest.Behavior{Health: "healthy", HealthAfter: time.Hour})
		p := e.load("")
		plan := e.plan(p, nil)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		actions := reconciler.Diff(plan, e.observe(), reconciler.Options{Project: p})
		err := reconciler.Apply(ctx, plan, actions, e.f, reconciler.ApplyOptions{})
		if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("Apply = %v, want context.Canceled alone", err)
		}
		if got := e.state("demo-db-1"); got != "running" {
			t.Errorf("db is %s, want running", got)
		}
	})
}
