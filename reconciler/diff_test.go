package reconciler_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"stack/planner"
	"stack/reconciler"
)

// TestDiffCases starts from the settled basic project and changes the
// observed state by hand, for what the scenarios do not reach.
func TestDiffCases(t *testing.T) {
	e := newEnv(t, "basic")
	p := e.load("")
	plan := e.plan(p, nil)
	e.mustUp(p, plan, reconciler.Options{})
	settled := e.observe()
	find := func(obs *reconciler.Observed, service string) *reconciler.ObservedContainer {
		for i := range obs.Containers {
			if obs.Containers[i].Service == service && !obs.Containers[i].OneOff {
				return &obs.Containers[i]
			}
		}
		t.Fatalf("no %s container", service)
		return nil
	}
	web := find(settled, "web")

	for _, tc := range []struct {
		name   string
		change func(obs *reconciler.Observed)
		opts   reconciler.Options
		want   string // Diff(...).Changes().String()
	}{
		{
			name: "nothing changed",
		},
		{
			name:   "dead container",
			change: func(obs *reconciler.Observed) { find(obs, "cache").State = reconciler.Dead },
			want:   "container:cache:1 recreate (container is dead)\n",
		},
		{
			name:   "created, never started",
			change: func(obs *reconciler.Observed) { find(obs, "cache").State = reconciler.Created },
			want:   "container:cache:1 start (up to date, created)\n",
		},
		{
			name:   "paused is left alone",
			change: func(obs *reconciler.Observed) { find(obs, "cache").State = reconciler.Paused },
		},
		{
			name: "interrupted recreate: only the new container, under its temporary name",
			change: func(obs *reconciler.Observed) {
				find(obs, "web").Name = "0123456789ab_demo-web-1"
			},
			want: `container:web:1 recreate (name is "0123456789ab_demo-web-1", want "demo-web-1")` + "\n",
		},
		{
			name: "interrupted recreate: old and new containers",
			change: func(obs *reconciler.Observed) {
				dup := *web
				dup.ID, dup.Name, dup.State = "f00d", web.ID[:12]+"_demo-web-1", reconciler.Created
				dup.Created = web.Created.Add(time.Second)
				obs.Containers = append(obs.Containers, dup)
				reconciler.SortObserved(obs)
			},
			want: `container:web:1 remove (duplicate of container:web:1 "demo-web-1", left by an interrupted recreate)` + "\n",
		},
		{
			name:   "no config hash label",
			change: func(obs *reconciler.Observed) { find(obs, "web").Hash = "" },
			want:   "container:web:1 recreate (config hash changed: none -> a4a9dd69)\n",
		},
		{
			name:   "no config hash label, --no-recreate",
			change: func(obs *reconciler.Observed) { find(obs, "web").Hash = "" },
			opts:   reconciler.Options{NoRecreate: true},
		},
		{
			name:   "up web --force-recreate --always-recreate-deps",
			opts:   reconciler.Options{Services: []string{"web"}, ForceRecreate: true, AlwaysRecreateDeps: true},
			want:   "container:cache:1 recreate (--always-recreate-deps)\ncontainer:db:1 recreate (--always-recreate-deps)\ncontainer:web:1 recreate (--force-recreate)\n",
			change: nil,
		},
		{
			name: "up web --force-recreate recreates web only",
			opts: reconciler.Options{Services: []string{"web"}, ForceRecreate: true},
			want: "container:web:1 recreate (--force-recreate)\n",
		},
		{
			name:   "a running one-off is never touched, even with --remove-orphans",
			change: func(obs *reconciler.Observed) { addOneOff(obs, reconciler.Running) },
			opts:   reconciler.Options{RemoveOrphans: true},
		},
		{
			name:   "a finished one-off is removed with --remove-orphans",
			change: func(obs *reconciler.Observed) { addOneOff(obs, reconciler.Exited) },
			opts:   reconciler.Options{RemoveOrphans: true},
			want:   "container:demo-web-run-0123456789ab remove (finished one-off, exited (0))\n",
		},
		{
			name: "a container numbered beyond the replica count",
			change: func(obs *reconciler.Observed) {
				c := *web
				c.ID, c.Name, c.Number = "beef", "demo-web-2", 2
				obs.Containers = append(obs.Containers, c)
				reconciler.SortObserved(obs)
			},
			want: "container:web:2 remove (scaled down to 1)\n",
		},
		{
			name:   "network config changed",
			change: func(obs *reconciler.Observed) { obs.Networks[0].Hash = "0123456789" },
		},
		{
			name:   "network removed by hand",
			change: func(obs *reconciler.Observed) { obs.Networks = nil },
			want:   "network:default create (not found)\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := clone(settled)
			if tc.change != nil {
				tc.change(obs)
			}
			opts := tc.opts
			opts.Project = p
			got := reconciler.Diff(plan, obs, opts)
			if s := got.Changes().String(); s != tc.want {
				t.Errorf("Diff(...).Changes() =\n%s\nwant\n%s\nfull diff:\n%s", s, tc.want, got)
			}
			if again := reconciler.Diff(plan, obs, opts); !slices.Equal(again, got) {
				t.Errorf("Diff differs from one call to the next")
			}
		})
	}
}

// TestDiffScaleToZero: a service scaled to 0 has no container in the
// plan; with the project, Diff knows it and scales it down; without, its
// containers look like orphans.
func TestDiffScaleToZero(t *testing.T) {
	e := newEnv(t, "basic")
	p := e.load("")
	e.mustUp(p, e.plan(p, nil), reconciler.Options{})
	plan := e.plan(p, map[string]int{"web": 0})
	if got := reconciler.Diff(plan, e.observe(), reconciler.Options{Project: p}).Changes().String(); got != "container:web:1 remove (scaled down to 0)\n" {
		t.Errorf("with the project: %s", got)
	}
	got := reconciler.Diff(plan, e.observe(), reconciler.Options{})
	if want := `container:web:1 warn (orphan: service "web" is not in the project; up --remove-orphans removes it)`; got[len(got)-1].String() != want {
		t.Errorf("without the project:\n%swant last %s", got, want)
	}
}

func addOneOff(obs *reconciler.Observed, state reconciler.State) {
	c := reconciler.ObservedContainer{ID: "cafe", Name: "demo-web-run-0123456789ab", State: state}
	c.ParseLabels(oneOff("web", "0123456789abcdef"))
	obs.Containers = append(obs.Containers, c)
	reconciler.SortObserved(obs)
}

func clone(o *reconciler.Observed) *reconciler.Observed {
	c := *o
	c.Containers = slices.Clone(o.Containers)
	c.Networks = slices.Clone(o.Networks)
	c.Volumes = slices.Clone(o.Volumes)
	c.Foreign = slices.Clone(o.Foreign)
	return &c
}

func TestDiffDivergedNetworkWarns(t *testing.T) {
	e := newEnv(t, "basic")
	p := e.load("")
	plan := e.plan(p, nil)
	e.mustUp(p, plan, reconciler.Options{})
	obs := e.observe()
	obs.Networks[0].Hash = "0123456789"
	actions := reconciler.Diff(plan, obs, reconciler.Options{Project: p})
	if got := actions[0].String(); !strings.HasPrefix(got, "network:default diverged (config hash changed: 01234567 -> ") {
		t.Errorf("actions[0] = %s, want network:default diverged", got)
	}
	var rec recorder
	if err := reconciler.Apply(t.Context(), plan, actions, e.f, reconciler.ApplyOptions{Events: rec.add}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range rec.lines() {
		found = found || strings.HasPrefix(l, "Network demo_default Warning: config hash changed")
	}
	if !found {
		t.Errorf("no warning for the diverged network in %v", rec.lines())
	}
}

func TestActionString(t *testing.T) {
	for _, tc := range []struct {
		a    reconciler.Action
		want string
	}{
		{reconciler.Action{Kind: reconciler.RecreateContainer, Node: planner.NodeID{Kind: planner.KindContainer, Name: "web", Number: 1}, Cause: "config hash changed: 1a2b3c4d -> 5e6f7a8b"},
			"container:web:1 recreate (config hash changed: 1a2b3c4d -> 5e6f7a8b)"},
		{reconciler.Action{Kind: reconciler.Keep, Node: planner.NodeID{Kind: planner.KindContainer, Name: "db", Number: 1}, Cause: "up to date, running"},
			"container:db:1 keep (up to date, running)"},
		{reconciler.Action{Kind: reconciler.ScaleDown, Node: planner.NodeID{Kind: planner.KindContainer, Name: "worker", Number: 2}, Cause: "scaled down to 1"},
			"container:worker:2 remove (scaled down to 1)"},
		{reconciler.Action{Kind: reconciler.RemoveOrphan, Node: planner.NodeID{Kind: planner.KindContainer, Name: "web"}, LiveName: "demo-web-run-0123", Cause: "finished one-off, exited (0)"},
			"container:demo-web-run-0123 remove (finished one-off, exited (0))"},
		{reconciler.Action{Kind: reconciler.CreateNetwork, Node: planner.NodeID{Kind: planner.KindNetwork, Name: "default"}},
			"network:default create"},
	} {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	if got := reconciler.ActionKind(99).String(); got != "ActionKind(99)" {
		t.Errorf("ActionKind(99).String() = %q", got)
	}
}

func TestStateText(t *testing.T) {
	for s := reconciler.Created; s <= reconciler.Dead; s++ {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back reconciler.State
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, back, err, s)
		}
	}
	var s reconciler.State
	if err := s.UnmarshalText([]byte("sleeping")); err == nil {
		t.Errorf("UnmarshalText(sleeping) = nil, want an error")
	}
}
