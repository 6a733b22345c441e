package planner

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"stack/spec"
)

// svc returns a service as spec.Load gives it for `NAME: {image: busybox}`.
func svc(name string, opts ...func(*spec.Service)) *spec.Service {
	s := &spec.Service{Name: name, Image: "busybox", Replicas: 1, Attach: true, Networks: []spec.ServiceNetwork{{Key: "default"}}}
	for _, o := range opts {
		o(s)
	}
	return s
}

func dependsOn(name, condition string, required, restart bool) func(*spec.Service) {
	return func(s *spec.Service) {
		s.DependsOn = append(s.DependsOn, spec.Dependency{Service: name, Condition: condition, Required: required, Restart: restart})
	}
}

// project returns project "demo" with the services (sorted, as spec.Load
// sorts them) on the default network.
func project(services ...*spec.Service) *spec.Project {
	slices.SortFunc(services, func(a, b *spec.Service) int { return strings.Compare(a.Name, b.Name) })
	return &spec.Project{
		Name:        "demo",
		WorkingDir:  "/src/demo",
		ConfigFiles: []string{"/src/demo/compose.yaml"},
		Services:    services,
		Networks:    []*spec.Network{{Key: "default", Name: "demo_default"}},
	}
}

// allImages resolves every image of p to fakeImageID.
func allImages(p *spec.Project) Inputs {
	ids := map[string]string{}
	for _, s := range p.Services {
		ids[s.ImageName(p.Name)] = fakeImageID(s.ImageName(p.Name))
	}
	return Inputs{ImageIDs: ids}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		project *spec.Project
		scale   map[string]int
		wantErr string
	}{
		{
			name:    "depends_on undefined",
			project: project(svc("web", dependsOn("db", spec.ConditionStarted, true, false))),
			wantErr: `service "web": depends_on "db": service "db" is not defined`,
		},
		{
			name: "depends_on disabled",
			project: func() *spec.Project {
				p := project(svc("web", dependsOn("db", spec.ConditionHealthy, true, false)))
				p.DisabledServices = []string{"db"}
				return p
			}(),
			wantErr: `service "web": depends_on "db": service "db" is disabled by the active profiles`,
		},
		{
			name:    "depends_on 0 replicas",
			project: project(svc("web", dependsOn("db", spec.ConditionStarted, true, false)), svc("db", func(s *spec.Service) { s.Replicas = 0 })),
			wantErr: `service "web": depends_on "db": service "db" has 0 replicas`,
		},
		{
			name:    "depends_on scaled to 0",
			project: project(svc("web", dependsOn("db", spec.ConditionStarted, true, false)), svc("db")),
			scale:   map[string]int{"db": 0},
			wantErr: `service "web": depends_on "db": service "db" has 0 replicas`,
		},
		{
			name:    "depends_on unknown condition",
			project: project(svc("web", dependsOn("db", "service_ready", true, false)), svc("db")),
			wantErr: `service "web": depends_on "db": unknown condition "service_ready": want service_started, service_healthy or service_completed_successfully`,
		},
		{
			name:    "network_mode undefined",
			project: project(svc("web", func(s *spec.Service) { s.NetworkMode, s.Networks = "service:vpn", nil })),
			wantErr: `service "web": network_mode "service:vpn": service "vpn" is not defined`,
		},
		{
			name:    "ipc 0 replicas",
			project: project(svc("web", func(s *spec.Service) { s.IPC = "service:shm" }), svc("shm", func(s *spec.Service) { s.Replicas = 0 })),
			wantErr: `service "web": ipc "service:shm": service "shm" has 0 replicas`,
		},
		{
			name: "volumes_from disabled",
			project: func() *spec.Project {
				p := project(svc("web", func(s *spec.Service) { s.VolumesFrom = []string{"data:ro"} }))
				p.DisabledServices = []string{"data"}
				return p
			}(),
			wantErr: `service "web": volumes_from "data:ro": service "data" is disabled by the active profiles`,
		},
		{
			name:    "links undefined",
			project: project(svc("web", func(s *spec.Service) { s.Links = []string{"db:database"} })),
			wantErr: `service "web": links "db:database": service "db" is not defined`,
		},
		{
			name:    "cycle",
			project: project(svc("a", dependsOn("b", spec.ConditionStarted, true, false)), svc("b", dependsOn("a", spec.ConditionStarted, true, false))),
			wantErr: `dependency cycle detected: a -> b -> a`,
		},
		{
			name:    "cycle with itself",
			project: project(svc("a", func(s *spec.Service) { s.NetworkMode = "service:a" })),
			wantErr: `dependency cycle detected: a -> a`,
		},
		{
			name: "cycle through volumes_from and links",
			project: project(
				svc("a", func(s *spec.Service) { s.VolumesFrom = []string{"b"} }),
				svc("b", func(s *spec.Service) { s.Links = []string{"c"} }),
				svc("c", dependsOn("b", spec.ConditionHealthy, true, false)),
			),
			wantErr: `dependency cycle detected: b -> c -> b`,
		},
		{
			name:    "scale unknown service",
			project: project(svc("web")),
			scale:   map[string]int{"wbe": 2},
			wantErr: `scale wbe=2: no such service: wbe`,
		},
		{
			name:    "scale negative",
			project: project(svc("web")),
			scale:   map[string]int{"web": -1},
			wantErr: `scale web=-1: the number of replicas must not be negative`,
		},
		{
			name:    "container_name with replicas",
			project: project(svc("web", func(s *spec.Service) { s.ContainerName, s.Replicas = "web", 3 })),
			wantErr: `service "web": container_name "web" cannot be used with 3 replicas: container names must be unique`,
		},
		{
			name:    "container_name with --scale",
			project: project(svc("web", func(s *spec.Service) { s.ContainerName = "web" })),
			scale:   map[string]int{"web": 2},
			wantErr: `service "web": container_name "web" cannot be used with 2 replicas: container names must be unique`,
		},
		{
			name:    "container name used twice",
			project: project(svc("db", func(s *spec.Service) { s.ContainerName = "demo-web-1" }), svc("web")),
			wantErr: `service "web": container name "demo-web-1" is already used by container:db:1`,
		},
		{
			name:    "undeclared network",
			project: project(svc("web", func(s *spec.Service) { s.Networks = []spec.ServiceNetwork{{Key: "front"}} })),
			wantErr: `service "web": networks: network "front" is not declared`,
		},
		{
			name: "undeclared volume",
			project: project(svc("web", func(s *spec.Service) {
				s.Volumes = []spec.Mount{{Type: spec.MountVolume, Source: "data", Target: "/data"}}
			})),
			wantErr: `service "web": volumes: volume "data" is not declared`,
		},
		{
			name:    "reserved service label",
			project: project(svc("web", func(s *spec.Service) { s.Labels = map[string]string{"a": "b", LabelService: "db"} })),
			wantErr: `service "web": label "com.docker.compose.service": the com.docker.compose.* labels are reserved for stack`,
		},
		{
			name: "reserved network label",
			project: func() *spec.Project {
				p := project(svc("web"))
				p.Networks[0].Labels = map[string]string{"com.docker.compose.network": "x"}
				return p
			}(),
			wantErr: `network "default": label "com.docker.compose.network": the com.docker.compose.* labels are reserved for stack`,
		},
		{
			name: "reserved volume label",
			project: func() *spec.Project {
				p := project(svc("web"))
				p.Volumes = []*spec.Volume{{Key: "data", Name: "demo_data", Labels: map[string]string{"com.docker.compose.anything": "x"}}}
				return p
			}(),
			wantErr: `volume "data": label "com.docker.compose.anything": the com.docker.compose.* labels are reserved for stack`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := allImages(tt.project)
			in.Scale = tt.scale
			plan, err := Build(tt.project, in)
			if err == nil {
				t.Fatalf("Build() = plan\n%s, want error %q", plan, tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("Build() error = %q, want %q", err, tt.wantErr)
			}
		})
	}
	if _, err := Build(nil, Inputs{}); err == nil {
		t.Errorf("Build(nil) = nil error, want one")
	}
}

// TestCycleDeterministic checks that a graph with several cycles always
// reports the same one: the first found walking names in order, as
// compose-go's graph/cycle.go does.
func TestCycleDeterministic(t *testing.T) {
	mk := func() *spec.Project {
		return project(
			svc("e", dependsOn("d", spec.ConditionStarted, true, false)),
			svc("d", dependsOn("c", spec.ConditionStarted, true, false), dependsOn("e", spec.ConditionStarted, true, false)),
			svc("c", dependsOn("d", spec.ConditionStarted, true, false)),
			svc("b", dependsOn("c", spec.ConditionStarted, true, false)),
			svc("a", dependsOn("b", spec.ConditionStarted, true, false)),
		)
	}
	const want = "dependency cycle detected: c -> d -> c"
	for i := range 20 {
		_, err := Build(mk(), Inputs{})
		if err == nil || err.Error() != want {
			t.Fatalf("run %d: Build() error = %v, want %q", i, err, want)
		}
	}
}

func TestOptionalDependencyDropped(t *testing.T) {
	p := project(
		svc("web", dependsOn("cache", spec.ConditionStarted, false, false), dependsOn("db", spec.ConditionHealthy, false, true)),
		svc("cache", func(s *spec.Service) { s.Replicas = 0 }),
	)
	p.DisabledServices = []string{"db"}
	plan, err := Build(p, allImages(p))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`service "web": optional dependency "cache" ignored: service "cache" has 0 replicas`,
		`service "web": optional dependency "db" ignored: service "db" is disabled by the active profiles`,
	}
	if !slices.Equal(plan.Warnings, want) {
		t.Errorf("Warnings = %q, want %q", plan.Warnings, want)
	}
	web := NodeID{Kind: KindContainer, Name: "web", Number: 1}
	for _, e := range plan.Dependencies(web) {
		if e.To.Kind == KindContainer {
			t.Errorf("Dependencies(%s) has %s, want no container", web, e.To)
		}
	}
	n, _ := plan.Node(web)
	if got := n.Labels[LabelDependencies]; got != "" {
		t.Errorf("label %s = %q, want empty", LabelDependencies, got)
	}
}

func TestEdges(t *testing.T) {
	p := project(
		svc("db", func(s *spec.Service) { s.Replicas = 2 }),
		svc("web",
			dependsOn("db", spec.ConditionHealthy, true, true),
			func(s *spec.Service) {
				s.Replicas = 2
				s.Volumes = []spec.Mount{
					{Type: spec.MountVolume, Source: "data", Target: "/a"},
					{Type: spec.MountVolume, Source: "data", Target: "/b"},
					{Type: spec.MountVolume, Target: "/anon"},
					{Type: spec.MountBind, Source: "/etc/hosts", Target: "/h"},
				}
			}),
		svc("side", func(s *spec.Service) {
			s.NetworkMode, s.IPC, s.Networks = "service:web", "service:web", nil
			s.VolumesFrom = []string{"db:ro", "container:other"}
		}),
	)
	p.Volumes = []*spec.Volume{{Key: "data", Name: "demo_data"}}
	plan, err := Build(p, allImages(p))
	if err != nil {
		t.Fatal(err)
	}
	c := func(name string, n int) NodeID { return NodeID{Kind: KindContainer, Name: name, Number: n} }
	image := NodeID{Kind: KindImage, Name: "busybox"}
	network := NodeID{Kind: KindNetwork, Name: "default"}
	volume := NodeID{Kind: KindVolume, Name: "data"}
	healthy := func(from, to NodeID) Edge {
		return Edge{From: from, To: to, Why: DependsOn, Condition: Healthy, Required: true, Restart: true}
	}
	tests := []struct {
		id   NodeID
		want []Edge
	}{
		{c("web", 2), []Edge{
			{From: c("web", 2), To: image, Why: NeedsImage, Required: true},
			{From: c("web", 2), To: network, Why: NeedsNetwork, Required: true},
			{From: c("web", 2), To: volume, Why: NeedsVolume, Required: true}, // once for two mounts
			healthy(c("web", 2), c("db", 1)),
			healthy(c("web", 2), c("db", 2)),
		}},
		{c("side", 1), []Edge{ // no network: it joins web:1's
			{From: c("side", 1), To: image, Why: NeedsImage, Required: true},
			{From: c("side", 1), To: c("db", 1), Why: VolumesFrom, Required: true, Restart: true},
			{From: c("side", 1), To: c("web", 1), Why: SharesNamespace, Required: true, Restart: true}, // once for network_mode and ipc
		}},
	}
	for _, tt := range tests {
		if got := plan.Dependencies(tt.id); !slices.Equal(got, tt.want) {
			t.Errorf("Dependencies(%s) =\n%v, want\n%v", tt.id, got, tt.want)
		}
	}
	wantDependents := []NodeID{c("side", 1), c("web", 1), c("web", 2)}
	var got []NodeID
	for _, e := range plan.Dependents(c("db", 1)) {
		got = append(got, e.From)
	}
	if !slices.Equal(got, wantDependents) {
		t.Errorf("Dependents(db:1) = %v, want %v", got, wantDependents)
	}
	checkInvariants(t, plan)
}

func TestContainers(t *testing.T) {
	p := project(svc("web", func(s *spec.Service) { s.Replicas = 12 }), svc("one", func(s *spec.Service) { s.ContainerName = "the-one" }))
	plan, err := Build(p, allImages(p))
	if err != nil {
		t.Fatal(err)
	}
	web := plan.Containers("web")
	if len(web) != 12 {
		t.Fatalf("len(Containers(web)) = %d, want 12", len(web))
	}
	for i, n := range web {
		if n.Number != i+1 || n.ID.Number != i+1 || n.Name != fmt.Sprintf("demo-web-%d", i+1) || n.Service.Name != "web" {
			t.Errorf("Containers(web)[%d] = %+v, want number %d named demo-web-%d", i, n, i+1, i+1)
		}
		if n.Hash != web[0].Hash || n.Hash == "" {
			t.Errorf("replica %d hash %q, want %q (replicas share the hash)", n.Number, n.Hash, web[0].Hash)
		}
	}
	// Order sorts numbers as numbers
	var order []string
	for _, id := range plan.Order() {
		if id.Name == "web" {
			order = append(order, id.String())
		}
	}
	if order[1] != "container:web:2" || order[11] != "container:web:12" {
		t.Errorf("Order() = %v, want web:1, web:2 … web:12", order)
	}
	if one := plan.Containers("one"); len(one) != 1 || one[0].Name != "the-one" {
		t.Errorf("Containers(one) = %v, want one named the-one", one)
	}
	if got := plan.Containers("nope"); got != nil {
		t.Errorf("Containers(nope) = %v, want none", got)
	}
	if _, ok := plan.Node(NodeID{Kind: KindContainer, Name: "web", Number: 13}); ok {
		t.Errorf("Node(web:13) found, want none")
	}
}

func TestMissingImages(t *testing.T) {
	p := project(svc("web", func(s *spec.Service) { s.Image = "" }), svc("db", func(s *spec.Service) { s.Image = "postgres" }), svc("cache"))
	plan, err := Build(p, Inputs{ImageIDs: map[string]string{"busybox": "sha256:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan.MissingImages(), []string{"demo-web", "postgres"}; !slices.Equal(got, want) {
		t.Errorf("MissingImages() = %q, want %q", got, want)
	}
	for _, n := range plan.Nodes {
		if n.ID.Kind != KindContainer {
			continue
		}
		known := n.ID.Name == "cache"
		if (n.Hash != "") != known || (n.ImageID != "") != known || (n.Labels[LabelConfigHash] != "") != known || (n.Labels[LabelImage] != "") != known {
			t.Errorf("%s: hash %q, image ID %q, labels %v; want all set only for cache", n.ID, n.Hash, n.ImageID, n.Labels)
		}
	}
}

// checkInvariants checks what every plan must satisfy.
func checkInvariants(t *testing.T, plan *Plan) {
	t.Helper()
	pos := map[NodeID]int{}
	for i, id := range plan.Order() {
		if _, dup := pos[id]; dup {
			t.Errorf("Order() has %s twice", id)
		}
		pos[id] = i
		if n, ok := plan.Node(id); !ok || n.ID != id {
			t.Errorf("Node(%s) = %v, %v", id, n, ok)
		}
	}
	if len(pos) != len(plan.Nodes) {
		t.Errorf("Order() has %d nodes, Nodes %d", len(pos), len(plan.Nodes))
	}
	if !slices.IsSortedFunc(plan.Edges, Edge.compare) {
		t.Errorf("Edges are not sorted")
	}
	var deps, rdeps int
	for _, e := range plan.Edges {
		from, ok1 := pos[e.From]
		to, ok2 := pos[e.To]
		if !ok1 || !ok2 {
			t.Errorf("edge %v: a node is not in the plan", e)
		} else if from <= to {
			t.Errorf("edge %s -> %s: Order() has %s at %d, before %s at %d", e.From, e.To, e.From, from, e.To, to)
		}
		if e.From.Kind != KindContainer {
			t.Errorf("edge %v from a %s", e, e.From.Kind)
		}
		if !slices.Contains(plan.Dependencies(e.From), e) || !slices.Contains(plan.Dependents(e.To), e) {
			t.Errorf("edge %v missing from Dependencies or Dependents", e)
		}
	}
	for _, n := range plan.Nodes {
		deps += len(plan.Dependencies(n.ID))
		rdeps += len(plan.Dependents(n.ID))
	}
	if deps != len(plan.Edges) || rdeps != len(plan.Edges) {
		t.Errorf("Dependencies total %d, Dependents total %d, want %d each", deps, rdeps, len(plan.Edges))
	}
}
