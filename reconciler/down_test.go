package reconciler_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"stack/planner"
	"stack/reconciler"
	"stack/reconciler/reconcilertest"
)

// upChain brings testdata/reconciler/chain up: front -> api -> db.
func upChain(t *testing.T, b reconcilertest.Behavior) *env {
	e := newEnv(t, "chain")
	for _, s := range []string{"db", "api", "front"} {
		e.f.SetBehavior(s, b)
	}
	p := e.load("")
	e.mustUp(p, e.plan(p, nil), reconciler.Options{})
	e.f.ResetCalls()
	return e
}

// termTimes returns when each container was sent SIGTERM (its
// StopContainer call), relative to start.
func termTimes(e *env, start time.Time) map[string]time.Duration {
	term := map[string]time.Duration{}
	for _, c := range e.f.Calls() {
		if c.Op == "StopContainer" {
			term[c.Name] = c.At.Sub(start)
		}
	}
	return term
}

func TestDownStopsInReverseOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := upChain(t, reconcilertest.Behavior{StopDelay: time.Second})
		start := time.Now()
		var rec recorder
		if err := reconciler.Down(context.Background(), e.observe(), e.f, reconciler.DownOptions{Events: rec.add}); err != nil {
			t.Fatalf("Down: %v", err)
		}
		if got := time.Since(start); got != 3*time.Second {
			t.Errorf("down took %v, want 3s: three levels of 1s each, in order", got)
		}
		term := termTimes(e, start)
		want := map[string]time.Duration{"demo-front-1": 0, "demo-api-1": time.Second, "demo-db-1": 2 * time.Second}
		for name, at := range want {
			if term[name] != at {
				t.Errorf("%s sent SIGTERM at +%v, want +%v (once what depends on it has exited)", name, term[name], at)
			}
		}
		if got := e.f.ContainerNames(); len(got) != 0 {
			t.Errorf("containers left: %v", got)
		}
		obs := e.observe()
		if len(obs.Networks) != 0 {
			t.Errorf("networks left: %+v", obs.Networks)
		}
		if len(obs.Volumes) != 1 {
			t.Errorf("volumes = %+v, want data kept without -v", obs.Volumes)
		}
		for _, want := range []string{"Container demo-db-1 Stopping", "Container demo-db-1 Removed", "Network demo_default Removed"} {
			if !rec.has(want) {
				t.Errorf("no event %q in\n%s", want, strings.Join(rec.lines(), "\n"))
			}
		}
		if err := reconciler.Down(context.Background(), e.observe(), e.f, reconciler.DownOptions{Volumes: true}); err != nil {
			t.Fatalf("down -v: %v", err)
		}
		if obs := e.observe(); len(obs.Volumes) != 0 {
			t.Errorf("after down -v, volumes = %+v", obs.Volumes)
		}
	})
}

// TestDownOneGracePeriod: a three-level chain whose programs ignore
// SIGTERM goes down in one grace period, not three, and SIGTERM still
// goes from the top of the chain down.
func TestDownOneGracePeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := upChain(t, reconcilertest.Behavior{IgnoreSIGTERM: true})
		grace := 9 * time.Second
		start := time.Now()
		if err := reconciler.Down(context.Background(), e.observe(), e.f, reconciler.DownOptions{Timeout: &grace}); err != nil {
			t.Fatalf("Down: %v", err)
		}
		if got := time.Since(start); got != grace {
			t.Errorf("down took %v, want %v (one grace period; level by level would take %v)", got, grace, 3*grace)
		}
		term := termTimes(e, start)
		want := map[string]time.Duration{"demo-front-1": 0, "demo-api-1": 3 * time.Second, "demo-db-1": 6 * time.Second}
		for name, at := range want {
			if term[name] != at {
				t.Errorf("%s sent SIGTERM at +%v, want +%v", name, term[name], at)
			}
		}
		if got := e.f.ContainerNames(); len(got) != 0 {
			t.Errorf("containers left: %v", got)
		}
	})
}

// TestDownGraceFromProject: without -t, the grace period is the
// service's stop_grace_period.
func TestDownGraceFromProject(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnvYAML(t, `
services:
  slow:
    image: busybox:latest
    stop_grace_period: 4s
`)
		e.f.SetBehavior("slow", reconcilertest.Behavior{IgnoreSIGTERM: true})
		p := e.load("")
		e.mustUp(p, e.plan(p, nil), reconciler.Options{})
		start := time.Now()
		if err := reconciler.Down(context.Background(), e.observe(), e.f, reconciler.DownOptions{Project: p}); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 4*time.Second {
			t.Errorf("down took %v, want stop_grace_period 4s", got)
		}
	})
}

func TestDownOrphansAndOneOffs(t *testing.T) {
	e := newEnv(t, "orphans")
	p := e.load("")
	e.mustUp(p, e.plan(p, nil), reconciler.Options{})
	e.f.AddContainer("demo-a-run-0123456789ab", oneOff("a", "0123456789abcdef"), reconciler.Exited)
	e.f.AddContainer("demo-a-run-fedcba987654", oneOff("a", "fedcba9876543210"), reconciler.Running)
	e.f.AddContainer("demo-debug-1", map[string]string{
		planner.LabelProject: "demo", planner.LabelService: "debug",
		planner.LabelContainerNumber: "1", planner.LabelOneoff: planner.OneoffFalse,
	}, reconciler.Running)

	edited := e.load("compose.edit.yaml") // without b
	var rec recorder
	if err := reconciler.Down(context.Background(), e.observe(), e.f, reconciler.DownOptions{Project: edited, Events: rec.add}); err != nil {
		t.Fatalf("Down: %v", err)
	}
	want := []string{"demo-a-run-fedcba987654", "demo-b-1", "demo-debug-1"}
	if got := e.f.ContainerNames(); !slices.Equal(got, want) {
		t.Errorf("after down, containers = %v, want %v (running one-off, orphan, disabled service)", got, want)
	}
	for _, w := range []string{
		`Container demo-b-1 Warning: orphan: service "b" is not in the project; down --remove-orphans removes it`,
		"Network demo_default Warning: network is still in use: not removed",
	} {
		if !rec.has(w) {
			t.Errorf("no event %q in\n%s", w, strings.Join(rec.lines(), "\n"))
		}
	}

	if err := reconciler.Down(context.Background(), e.observe(), e.f, reconciler.DownOptions{Project: edited, RemoveOrphans: true}); err != nil {
		t.Fatalf("down --remove-orphans: %v", err)
	}
	if got, want := e.f.ContainerNames(), []string{"demo-debug-1"}; !slices.Equal(got, want) {
		t.Errorf("after down --remove-orphans, containers = %v, want %v", got, want)
	}

	// down -p demo, no file: everything labelled with the project goes
	if err := reconciler.Down(context.Background(), e.observe(), e.f, reconciler.DownOptions{}); err != nil {
		t.Fatalf("down -p: %v", err)
	}
	if got := e.f.ContainerNames(); len(got) != 0 {
		t.Errorf("after down -p, containers = %v", got)
	}
	if obs := e.observe(); len(obs.Networks) != 0 {
		t.Errorf("after down -p, networks = %+v", obs.Networks)
	}
}

// TestDownFailure: down does what it can and reports what it could not.
func TestDownFailure(t *testing.T) {
	e := upChain(t, reconcilertest.Behavior{})
	e.f.FailOn("StopContainer", "demo-api-1", reconcilertest.ErrScripted)
	err := reconciler.Down(context.Background(), e.observe(), e.f, reconciler.DownOptions{})
	if err == nil || err.Error() != `service "api": stop container "demo-api-1": scripted failure` {
		t.Fatalf("Down = %v, want api's failure", err)
	}
	if got, want := e.f.ContainerNames(), []string{"demo-api-1"}; !slices.Equal(got, want) {
		t.Errorf("containers = %v, want only %v left", got, want)
	}
}

func TestStopServices(t *testing.T) {
	e := upChain(t, reconcilertest.Behavior{})
	if err := reconciler.Stop(context.Background(), e.observe(), e.f, reconciler.StopOptions{Services: []string{"front"}}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"demo-front-1": "exited", "demo-api-1": "running", "demo-db-1": "running"} {
		if got := e.state(name); got != want {
			t.Errorf("%s is %s, want %s", name, got, want)
		}
	}
	if err := reconciler.Stop(context.Background(), e.observe(), e.f, reconciler.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := e.f.CallsOf("StopContainer", "RemoveContainer"); !slices.Equal(got, []string{
		"StopContainer demo-front-1", "StopContainer demo-api-1", "StopContainer demo-db-1"}) {
		t.Errorf("calls = %v, want front, api, db stopped in this order and nothing removed", got)
	}
}

func TestRemove(t *testing.T) {
	e := upChain(t, reconcilertest.Behavior{})
	e.f.Exit("demo-front-1", 0)
	if err := reconciler.Remove(context.Background(), e.observe(), e.f, reconciler.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, want := e.f.ContainerNames(), []string{"demo-api-1", "demo-db-1"}; !slices.Equal(got, want) {
		t.Errorf("after rm, containers = %v, want the running ones %v", got, want)
	}
	if err := reconciler.Remove(context.Background(), e.observe(), e.f, reconciler.RemoveOptions{Stop: true, Services: []string{"api"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := e.f.ContainerNames(), []string{"demo-db-1"}; !slices.Equal(got, want) {
		t.Errorf("after rm -s api, containers = %v, want %v", got, want)
	}
}
