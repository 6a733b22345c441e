package planner

import (
	"encoding/json"
	"maps"
	"testing"

	"stack/spec"
)

func TestLabels(t *testing.T) {
	p := project(
		svc("db"),
		svc("web",
			dependsOn("db", spec.ConditionHealthy, true, true),
			dependsOn("cache", spec.ConditionStarted, true, false),
			func(s *spec.Service) {
				s.Replicas = 2
				s.Labels = map[string]string{"traefik.enable": "true", "com.example.team": "web"}
				s.Networks = append(s.Networks, spec.ServiceNetwork{Key: "ext"})
				s.Volumes = []spec.Mount{{Type: spec.MountVolume, Source: "data", Target: "/data"}}
			}),
		svc("cache"),
	)
	p.ConfigFiles = []string{"/src/demo/compose.yaml", "/src/demo/compose.override.yaml"}
	p.EnvFiles = []string{"/src/demo/.env", "/src/demo/prod.env"}
	p.Networks = append(p.Networks, &spec.Network{Key: "ext", Name: "shared", External: true})
	p.Networks[0].Labels = map[string]string{"tier": "front"}
	p.Volumes = []*spec.Volume{{Key: "data", Name: "demo_data", Labels: map[string]string{"backup": "daily"}}}
	plan, err := Build(p, allImages(p))
	if err != nil {
		t.Fatal(err)
	}
	web2, _ := plan.Node(NodeID{Kind: KindContainer, Name: "web", Number: 2})
	id := fakeImageID("busybox")
	hash := ServiceHash(p.Services[2], id)
	want := map[string]string{
		"com.docker.compose.project":                  "demo",
		"com.docker.compose.service":                  "web",
		"com.docker.compose.container-number":         "2",
		"com.docker.compose.oneoff":                   "False",
		"com.docker.compose.config-hash":              hash,
		"com.docker.compose.image":                    id,
		"com.docker.compose.depends_on":               "cache:service_started:false,db:service_healthy:true",
		"com.docker.compose.project.working_dir":      "/src/demo",
		"com.docker.compose.project.config_files":     "/src/demo/compose.yaml,/src/demo/compose.override.yaml",
		"com.docker.compose.project.environment_file": "/src/demo/.env,/src/demo/prod.env",
		"com.docker.compose.version":                  "stack-dev",
		"traefik.enable":                              "true",
		"com.example.team":                            "web",
	}
	if !maps.Equal(web2.Labels, want) {
		t.Errorf("labels of %s =\n%s\nwant\n%s", web2.ID, js(web2.Labels), js(want))
	}
	web1, _ := plan.Node(NodeID{Kind: KindContainer, Name: "web", Number: 1})
	if web1.Labels[LabelContainerNumber] != "1" {
		t.Errorf("web:1 %s = %q, want 1 (replicas must not share the label map)", LabelContainerNumber, web1.Labels[LabelContainerNumber])
	}
	db, _ := plan.Node(NodeID{Kind: KindContainer, Name: "db", Number: 1})
	if v, ok := db.Labels[LabelDependencies]; !ok || v != "" {
		t.Errorf("db %s = %q (present %v), want present and empty, as docker compose writes it", LabelDependencies, v, ok)
	}

	network, _ := plan.Node(NodeID{Kind: KindNetwork, Name: "default"})
	wantNetwork := map[string]string{
		"com.docker.compose.project":     "demo",
		"com.docker.compose.network":     "default",
		"com.docker.compose.version":     "stack-dev",
		"com.docker.compose.config-hash": network.Hash,
		"tier":                           "front",
	}
	if network.Hash == "" || network.Name != "demo_default" || !maps.Equal(network.Labels, wantNetwork) {
		t.Errorf("network:default name %q, labels\n%s\nwant demo_default with\n%s", network.Name, js(network.Labels), js(wantNetwork))
	}
	volume, _ := plan.Node(NodeID{Kind: KindVolume, Name: "data"})
	wantVolume := map[string]string{
		"com.docker.compose.project":     "demo",
		"com.docker.compose.volume":      "data",
		"com.docker.compose.version":     "stack-dev",
		"com.docker.compose.config-hash": volume.Hash,
		"backup":                         "daily",
	}
	if volume.Hash == "" || !maps.Equal(volume.Labels, wantVolume) {
		t.Errorf("volume:data labels\n%s\nwant\n%s", js(volume.Labels), js(wantVolume))
	}
	ext, _ := plan.Node(NodeID{Kind: KindNetwork, Name: "ext"})
	if ext.Labels != nil || ext.Hash != "" || ext.Name != "shared" {
		t.Errorf("external network: name %q, hash %q, labels %v; want shared, no hash, no labels", ext.Name, ext.Hash, ext.Labels)
	}
	image, _ := plan.Node(NodeID{Kind: KindImage, Name: "busybox"})
	if image.Labels != nil || image.ImageID != id {
		t.Errorf("image: labels %v, ID %q; want none, %s", image.Labels, image.ImageID, id)
	}
}

// TestLabelsWithoutEnvFiles: environment_file is written only when there
// were files, as docker compose does.
func TestLabelsWithoutEnvFiles(t *testing.T) {
	p := project(svc("web"))
	plan, err := Build(p, allImages(p))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := plan.Containers("web")[0].Labels[LabelEnvironmentFile]; ok {
		t.Errorf("label %s = %q, want none", LabelEnvironmentFile, v)
	}
}

func TestNetworkVolumeHash(t *testing.T) {
	n := &spec.Network{Key: "front", Name: "demo_front", Labels: map[string]string{"a": "b"}}
	v := &spec.Volume{Key: "data", Name: "demo_data"}
	nh, vh := networkHash(n), volumeHash(v)
	for _, edit := range []func(){
		func() { n.Internal = true },
		func() { n.IPAM.Config = []spec.IPAMPool{{Subnet: "10.5.0.0/16"}} },
		func() { n.Labels["a"] = "c" },
		func() { n.DriverOpts = map[string]string{"mtu": "1400"} },
	} {
		edit()
		if h := networkHash(n); h == nh {
			t.Errorf("networkHash(%+v) did not change", n)
		} else {
			nh = h
		}
	}
	v.Driver = "local"
	if volumeHash(v) == vh {
		t.Errorf("volumeHash(%+v) did not change", v)
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ got, want string }{
		{ContainerName("demo", "web", 1), "demo-web-1"},
		{ContainerName("my_app", "db-primary", 12), "my_app-db-primary-12"},
		{OneOffName("demo", "web", "0123456789abcdef0123"), "demo-web-run-0123456789ab"},
		{OneOffName("demo", "web", "abc"), "demo-web-run-abc"},
		{NetworkName("demo", "default"), "demo_default"},
		{VolumeName("demo", "data"), "demo_data"},
		{DefaultImageName("demo", "api"), "demo-api"},
		{DefaultImageName("demo", "api"), svc("api", func(s *spec.Service) { s.Image = "" }).ImageName("demo")},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("case %d: got %q, want %q", i, tt.got, tt.want)
		}
	}
}

func TestConditionText(t *testing.T) {
	for _, c := range []Condition{Started, Healthy, CompletedSuccessfully} {
		b, err := c.MarshalText()
		if err != nil {
			t.Fatalf("%v.MarshalText(): %v", c, err)
		}
		var back Condition
		if err := back.UnmarshalText(b); err != nil || back != c {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, back, err, c)
		}
	}
	b, err := json.Marshal(map[string]Condition{"db": Healthy})
	if err != nil || string(b) != `{"db":"service_healthy"}` {
		t.Errorf("json.Marshal = %s, %v; want {\"db\":\"service_healthy\"}", b, err)
	}
	if _, err := Condition(7).MarshalText(); err == nil {
		t.Errorf("Condition(7).MarshalText() = nil error, want one")
	}
	var c Condition
	if err := c.UnmarshalText([]byte("healthy")); err == nil {
		t.Errorf(`UnmarshalText("healthy") = nil error, want one`)
	}
}

func TestIDString(t *testing.T) {
	tests := []struct {
		id   NodeID
		want string
	}{
		{NodeID{Kind: KindContainer, Name: "web", Number: 1}, "container:web:1"},
		{NodeID{Kind: KindNetwork, Name: "default"}, "network:default"},
		{NodeID{Kind: KindVolume, Name: "data"}, "volume:data"},
		{NodeID{Kind: KindImage, Name: "busybox:latest"}, "image:busybox:latest"},
		{NodeID{}, "Kind(0):"},
	}
	for _, tt := range tests {
		if got := tt.id.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.id, got, tt.want)
		}
	}
	if got := SharesNamespace.String(); got != "shares_namespace" {
		t.Errorf("SharesNamespace.String() = %q", got)
	}
}

func js(m map[string]string) string {
	b, _ := json.MarshalIndent(m, "", "  ")
	return string(b)
}
