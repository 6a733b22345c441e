package reconciler_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"stack/planner"
	"stack/reconciler"
	"stack/reconciler/reconcilertest"
	"stack/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/reconciler")

// env is one test's world and project directory.
type env struct {
	t   *testing.T
	f   *reconcilertest.Fake
	dir string
}

func newEnv(t *testing.T, dir string) *env {
	return &env{t: t, f: reconcilertest.NewFake(), dir: filepath.Join("../testdata/reconciler", dir)}
}

// load loads a compose file of the case as project "demo".
func (e *env) load(file string) *spec.Project {
	e.t.Helper()
	if file == "" {
		file = "compose.yaml"
	}
	p, err := spec.Load(context.Background(), spec.Options{
		WorkingDir:  e.dir,
		ConfigFiles: []string{file},
		ProjectName: "demo",
		Interpolate: true,
	})
	if err != nil {
		e.t.Fatalf("spec.Load(%s/%s): %v", e.dir, file, err)
	}
	return p
}

// plan plans the project with the images ensured in the Fake (each added
// with its default fake ID unless already there).
func (e *env) plan(p *spec.Project, scale map[string]int) *planner.Plan {
	e.t.Helper()
	first, err := planner.Build(p, planner.Inputs{Scale: scale})
	if err != nil {
		e.t.Fatalf("planner.Build: %v", err)
	}
	for _, n := range first.Nodes {
		if n.ID.Kind == planner.KindImage {
			if _, ok := e.f.Image(n.Name); !ok {
				e.f.AddImage(n.Name, "")
			}
		}
	}
	ids, err := reconciler.EnsureImages(context.Background(), first, e.f, reconciler.EnsureOptions{})
	if err != nil {
		e.t.Fatalf("EnsureImages: %v", err)
	}
	plan, err := planner.Build(p, planner.Inputs{Scale: scale, ImageIDs: ids})
	if err != nil {
		e.t.Fatalf("planner.Build: %v", err)
	}
	if m := plan.MissingImages(); len(m) > 0 {
		e.t.Fatalf("plan still misses images %v", m)
	}
	return plan
}

func (e *env) observe() *reconciler.Observed {
	e.t.Helper()
	obs, err := e.f.Observe(context.Background(), "demo")
	if err != nil {
		e.t.Fatalf("Observe: %v", err)
	}
	return obs
}

// up is what `stack up` does: plan, observe, diff, apply. It returns the
// actions and Apply's error.
func (e *env) up(p *spec.Project, plan *planner.Plan, opts reconciler.Options, aopts reconciler.ApplyOptions) (reconciler.Actions, error) {
	e.t.Helper()
	opts.Project = p
	actions := reconciler.Diff(plan, e.observe(), opts)
	return actions, reconciler.Apply(context.Background(), plan, actions, e.f, aopts)
}

// mustUp is up that must succeed.
func (e *env) mustUp(p *spec.Project, plan *planner.Plan, opts reconciler.Options) reconciler.Actions {
	e.t.Helper()
	actions, err := e.up(p, plan, opts, reconciler.ApplyOptions{})
	if err != nil {
		e.t.Fatalf("Apply(%s):\n%s\nerror: %v", e.dir, actions, err)
	}
	return actions
}

// state returns name's state, "gone" when there is no such container.
func (e *env) state(name string) string {
	c, ok := e.f.Container(name)
	if !ok {
		return "gone"
	}
	return c.State.String()
}

// checkSettled checks the property: after Apply, a new Diff changes
// nothing, except that it starts again the containers that exited on
// their own (one-shot jobs), as compose's up does.
func checkSettled(t *testing.T, e *env, p *spec.Project, plan *planner.Plan, opts reconciler.Options) {
	t.Helper()
	opts.Project = p
	again := reconciler.Diff(plan, e.observe(), opts)
	for _, a := range again.Changes() {
		if a.Kind == reconciler.StartContainer && a.State == reconciler.Exited {
			if c, ok := e.f.Container(a.LiveName); ok && c.Starts > 0 {
				continue
			}
		}
		t.Errorf("after Apply, Diff still wants: %s\nfull diff:\n%s", a, again)
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reconciler -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// recorder collects events; it is what a CLI renderer would be.
type recorder struct {
	mu     sync.Mutex // guards events
	events []reconciler.Event
}

func (r *recorder) add(e reconciler.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// lines returns the events as "Resource Status" lines, with the detail
// for warnings and errors.
func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		s := e.Resource + " " + e.Status
		if e.Status == reconciler.StatusWarning || e.Status == reconciler.StatusError {
			s += ": " + e.Detail
		}
		out = append(out, s)
	}
	return out
}

func (r *recorder) has(line string) bool { return slices.Contains(r.lines(), line) }

// index returns the position of the first of ops that mentions each
// name, -1 when absent.
func index(calls []string, call string) int {
	return slices.Index(calls, call)
}

func contains(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
