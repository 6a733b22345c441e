package planner

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"stack/spec"
)

const imageA, imageB = "sha256:aaaa", "sha256:bbbb"

// hashed returns a service with a bit of everything the hash covers.
func hashed() *spec.Service {
	grace := 5 * time.Second
	return svc("web", func(s *spec.Service) {
		s.Command = []string{"httpd", "-f"}
		s.Environment = []string{"A=1", "B=2"}
		s.EnvFiles = []spec.EnvFile{{Path: "/src/demo/web.env", Required: true}}
		s.Labels = map[string]string{"a": "1", "b": "2", "c": "3"}
		s.Ports = []spec.Port{{Target: 80, Published: "8080", Protocol: "tcp"}}
		s.Configs = []spec.FileRef{{Source: "app", Target: "/app.conf", Digest: "sha256:c1"}}
		s.Secrets = []spec.FileRef{{Source: "token", Target: "/run/secrets/token", Digest: "sha256:s1"}}
		s.DependsOn = []spec.Dependency{{Service: "db", Condition: spec.ConditionStarted, Required: true}}
		s.StopGracePeriod = &grace
	})
}

func TestServiceHashStable(t *testing.T) {
	want := ServiceHash(hashed(), imageA)
	if len(want) != 64 {
		t.Fatalf("ServiceHash() = %q, want 64 hex digits", want)
	}
	for i := range 50 {
		s := hashed()
		// the same labels, inserted in another order
		s.Labels = map[string]string{}
		for _, k := range []string{"c", "a", "b"}[i%3:] {
			s.Labels[k] = map[string]string{"a": "1", "b": "2", "c": "3"}[k]
		}
		for _, k := range []string{"c", "a", "b"}[:i%3] {
			s.Labels[k] = map[string]string{"a": "1", "b": "2", "c": "3"}[k]
		}
		if got := ServiceHash(s, imageA); got != want {
			t.Fatalf("run %d: ServiceHash() = %s, want %s", i, got, want)
		}
	}
}

func TestServiceHash(t *testing.T) {
	base := ServiceHash(hashed(), imageA)
	tests := []struct {
		name    string
		edit    func(s *spec.Service) // applied to hashed()
		imageID string                // "" means imageA
		changes bool
	}{
		{name: "image ID", imageID: imageB, changes: true},
		{name: "unknown image ID", imageID: "-", changes: true},
		{name: "environment", edit: func(s *spec.Service) { s.Environment[1] = "B=3" }, changes: true},
		{name: "config digest", edit: func(s *spec.Service) { s.Configs[0].Digest = "sha256:c2" }, changes: true},
		{name: "secret digest", edit: func(s *spec.Service) { s.Secrets[0].Digest = "sha256:s2" }, changes: true},
		{name: "ports", edit: func(s *spec.Service) { s.Ports[0].Published = "8081" }, changes: true},
		{name: "command", edit: func(s *spec.Service) { s.Command = append(s.Command, "-v") }, changes: true},
		{name: "labels", edit: func(s *spec.Service) { s.Labels["d"] = "4" }, changes: true},
		{name: "stop_grace_period", edit: func(s *spec.Service) { d := 6 * time.Second; s.StopGracePeriod = &d }, changes: true},

		{name: "replicas", edit: func(s *spec.Service) { s.Replicas = 3 }},
		{name: "replicas 0", edit: func(s *spec.Service) { s.Replicas = 0 }},
		{name: "depends_on", edit: func(s *spec.Service) {
			s.DependsOn = []spec.Dependency{{Service: "db", Condition: spec.ConditionHealthy, Required: false, Restart: true}, {Service: "cache"}}
		}},
		{name: "no depends_on", edit: func(s *spec.Service) { s.DependsOn = nil }},
		{name: "profiles", edit: func(s *spec.Service) { s.Profiles = []string{"debug"} }},
		{name: "build", edit: func(s *spec.Service) {
			s.Build = &spec.Build{Context: "/src/demo/web", Args: map[string]string{"V": "2"}}
		}},
		{name: "pull_policy", edit: func(s *spec.Service) { s.PullPolicy = "always" }},
		// only the content reaches the container, and it is in Environment
		{name: "env_file path", edit: func(s *spec.Service) { s.EnvFiles[0].Path = "/elsewhere/web.env" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := hashed()
			if tt.edit != nil {
				tt.edit(s)
			}
			id := imageA
			switch tt.imageID {
			case "-":
				id = ""
			case "":
			default:
				id = tt.imageID
			}
			got := ServiceHash(s, id)
			if changed := got != base; changed != tt.changes {
				t.Errorf("ServiceHash() = %s, base %s: changed = %v, want %v", got, base, changed, tt.changes)
			}
		})
	}
}

// TestHashFromFiles edits the files a project reads and checks, through
// spec.Load and Build, which edits change the config hash.
func TestHashFromFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("compose.yaml", `
services:
  web:
    image: busybox
    env_file: [web.env]
    configs: [app]
    secrets: [token]
    scale: ${N:-1}
    profiles: ["${WEBPROFILE:-a}"]
    depends_on:
      db:
        condition: ${COND:-service_started}
  db:
    image: busybox
    profiles: [a]
configs:
  app:
    file: ./app.conf
secrets:
  token:
    file: ./token
`)
	write("web.env", "MODE=dev\n")
	write("app.conf", "listen 80\n")
	write("token", "s3cret\n")
	hash := func(environ ...string) string {
		t.Helper()
		environ = append([]string{"COMPOSE_PROFILES=a,b"}, environ...)
		p, err := spec.Load(context.Background(), spec.Options{WorkingDir: dir, ProjectName: "demo", Interpolate: true, Environ: environ})
		if err != nil {
			t.Fatalf("spec.Load: %v", err)
		}
		plan, err := Build(p, allImages(p))
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		web := plan.Containers("web")
		for _, n := range web[1:] {
			if n.Hash != web[0].Hash {
				t.Errorf("%s hash %s, %s hash %s: want the same", n.ID, n.Hash, web[0].ID, web[0].Hash)
			}
		}
		return web[0].Hash
	}
	base := hash()
	steps := []struct {
		name    string
		do      func()
		environ []string
		changes bool
	}{
		{name: "replicas", environ: []string{"N=3"}},
		{name: "depends_on condition", environ: []string{"COND=service_healthy"}},
		{name: "profiles", environ: []string{"WEBPROFILE=b"}},
		{name: "env_file content", do: func() { write("web.env", "MODE=prod\n") }, changes: true},
		{name: "config content", do: func() { write("app.conf", "listen 8080\n") }, changes: true},
		{name: "secret content", do: func() { write("token", "t0ken\n") }, changes: true},
	}
	for _, st := range steps {
		if st.do != nil {
			st.do()
		}
		got := hash(st.environ...)
		if changed := got != base; changed != st.changes {
			t.Errorf("%s: hash %s, before %s: changed = %v, want %v", st.name, got, base, changed, st.changes)
		}
		base = got
	}
}

func TestNodeHashIsServiceHash(t *testing.T) {
	p := project(hashed(), svc("db"))
	plan, err := Build(p, allImages(p))
	if err != nil {
		t.Fatal(err)
	}
	n := plan.Containers("web")[0]
	if want := ServiceHash(p.Services[1], fakeImageID("busybox")); n.Hash != want || n.Labels[LabelConfigHash] != want {
		t.Errorf("web hash %s, label %s, want ServiceHash %s", n.Hash, n.Labels[LabelConfigHash], want)
	}
}
