package reconciler_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stack/planner"
	"stack/reconciler"
	"stack/reconciler/reconcilertest"
)

// step is one `up` of a scenario.
type step struct {
	name   string
	file   string // the compose file; "" means compose.yaml
	opts   reconciler.Options
	scale  map[string]int
	images map[string]string // image IDs that change before planning (a new pull)
	before func(e *env)      // what happens to the world before the step
	dryRun bool              // diff only (up --dry-run)
}

// scenarios are sequences of up, each compared with
// testdata/reconciler/<dir>/<name>.golden: the actions of every step
// (Actions.String, what up --dry-run prints) and Explain's lines. After
// every step that is applied, the property must hold: a new Diff changes
// nothing (but start exited one-shot jobs again).
var scenarios = []struct {
	dir, name string
	steps     []step
}{
	{"basic", "actions", []step{
		{name: "up"},
		{name: "up again"},
		{name: "web's environment edited", file: "compose.edit.yaml"},
		{name: "up again", file: "compose.edit.yaml"},
		{name: "a new redis:7 was pulled", file: "compose.edit.yaml", images: map[string]string{"redis:7": reconcilertest.ImageID("redis:7 v2")}},
		{name: "up --force-recreate web", file: "compose.edit.yaml", opts: reconciler.Options{ForceRecreate: true, Services: []string{"web"}}},
		{name: "web's edit reverted, up --no-recreate (dry run)", opts: reconciler.Options{NoRecreate: true}, dryRun: true},
		{name: "web's edit reverted, up --no-deps web (dry run)", opts: reconciler.Options{Services: []string{"web"}, NoDeps: true}, dryRun: true},
		{name: "web's edit reverted, up --no-start (dry run)", opts: reconciler.Options{NoStart: true}, dryRun: true},
		{name: "cache stopped by hand", file: "compose.edit.yaml", before: func(e *env) { e.f.Exit("demo-cache-1", 0) }},
	}},
	{"basic", "foreign", []step{
		{name: "demo-web-1 exists, made by something else", before: func(e *env) {
			e.f.AddContainer("demo-web-1", map[string]string{"maintainer": "someone"}, reconciler.Running)
		}, dryRun: true},
	}},
	{"restart", "actions", []step{
		{name: "up"},
		{name: "cache edited", file: "compose.edit.yaml"},
		{name: "up again", file: "compose.edit.yaml"},
	}},
	{"conditions", "actions", []step{
		{name: "up"},
		{name: "up again: the finished job runs again, as in compose"},
	}},
	{"network-mode", "actions", []step{
		{name: "up"},
		{name: "app edited", file: "compose.edit.yaml"},
		{name: "up again", file: "compose.edit.yaml"},
	}},
	{"scale", "actions", []step{
		{name: "up"},
		{name: "up --scale web=3", scale: map[string]int{"web": 3}},
		{name: "up --scale web=3 again", scale: map[string]int{"web": 3}},
		{name: "demo-web-2 removed by hand, up --scale web=3", scale: map[string]int{"web": 3}, before: func(e *env) {
			c, _ := e.f.Container("demo-web-2")
			e.f.Exit("demo-web-2", 0)
			if err := e.f.RemoveContainer(e.t.Context(), c.ID, false); err != nil {
				e.t.Fatal(err)
			}
		}},
		{name: "up --scale web=1", scale: map[string]int{"web": 1}},
	}},
	{"orphans", "actions", []step{
		{name: "up"},
		{name: "b removed from the file; one-offs and a disabled service's container around", file: "compose.edit.yaml", before: func(e *env) {
			e.f.AddContainer("demo-a-run-0123456789ab", oneOff("a", "0123456789abcdef"), reconciler.Exited)
			e.f.AddContainer("demo-a-run-fedcba987654", oneOff("a", "fedcba9876543210"), reconciler.Running)
			e.f.AddContainer("demo-debug-1", map[string]string{
				planner.LabelProject: "demo", planner.LabelService: "debug", planner.LabelContainerNumber: "1",
				planner.LabelOneoff: planner.OneoffFalse, planner.LabelConfigHash: "0123",
			}, reconciler.Running)
		}},
		{name: "up --remove-orphans", file: "compose.edit.yaml", opts: reconciler.Options{RemoveOrphans: true}},
		{name: "up again", file: "compose.edit.yaml"},
	}},
	{"wide", "actions", []step{
		{name: "up"},
	}},
}

func oneOff(service, slug string) map[string]string {
	return map[string]string{
		planner.LabelProject: "demo", planner.LabelService: service, planner.LabelOneoff: planner.OneoffTrue,
		planner.LabelSlug: slug, planner.LabelConfigHash: "0123",
	}
}

func TestScenarios(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.dir+"/"+sc.name, func(t *testing.T) {
			e := newEnv(t, sc.dir)
			var out strings.Builder
			for _, st := range sc.steps {
				if st.before != nil {
					st.before(e)
				}
				for ref, id := range st.images {
					e.f.AddImage(ref, id)
				}
				p := e.load(st.file)
				plan := e.plan(p, st.scale)
				opts := st.opts
				opts.Project = p
				obs := e.observe()
				actions := reconciler.Diff(plan, obs, opts)
				fmt.Fprintf(&out, "== %s\n%s-- explain\n", st.name, actions)
				for _, l := range reconciler.Explain(plan, obs, opts) {
					out.WriteString(l + "\n")
				}
				if st.dryRun {
					continue
				}
				if err := reconciler.Apply(t.Context(), plan, actions, e.f, reconciler.ApplyOptions{}); err != nil {
					t.Fatalf("step %q: Apply: %v", st.name, err)
				}
				settled := opts
				settled.ForceRecreate, settled.AlwaysRecreateDeps = false, false
				checkSettled(t, e, p, plan, settled)
			}
			checkGolden(t, filepath.Join(e.dir, sc.name+".golden"), []byte(out.String()))
		})
	}
}

// TestSettled checks the property on every project of testdata/reconciler
// and every compose file there: from nothing, and from the state the
// previous file left, Apply brings the world to a state where Diff
// changes nothing.
func TestSettled(t *testing.T) {
	dirs, err := filepath.Glob("../testdata/reconciler/*/compose.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases in testdata/reconciler (err %v)", err)
	}
	for _, file := range dirs {
		dir := filepath.Base(filepath.Dir(file))
		t.Run(dir, func(t *testing.T) {
			e := newEnv(t, dir)
			files := []string{"compose.yaml"}
			if _, err := os.Stat(filepath.Join(e.dir, "compose.edit.yaml")); err == nil {
				files = append(files, "compose.edit.yaml", "compose.yaml")
			}
			for _, f := range files {
				p := e.load(f)
				plan := e.plan(p, nil)
				e.mustUp(p, plan, reconciler.Options{RemoveOrphans: true})
				checkSettled(t, e, p, plan, reconciler.Options{})
			}
		})
	}
}
