package spec

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func loadCase(t *testing.T, name string) *Project {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(context.Background(), caseOptions(t, dir))
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	return p
}

func TestProjectNames(t *testing.T) {
	tests := []struct {
		in, normal string
		valid      bool
	}{
		{"web", "web", true},
		{"My_Project.Dir", "my_projectdir", false},
		{"--_x", "x", false},
		{"a-b_c9", "a-b_c9", true},
		{"Été 2024", "t2024", false},
		{"", "", false},
		{"___", "", false},
	}
	for _, tt := range tests {
		if got := NormalizeProjectName(tt.in); got != tt.normal {
			t.Errorf("NormalizeProjectName(%q) = %q, want %q", tt.in, got, tt.normal)
		}
		if got := ValidProjectName(tt.in); got != tt.valid {
			t.Errorf("ValidProjectName(%q) = %v, want %v", tt.in, got, tt.valid)
		}
	}
}

func TestServiceLookup(t *testing.T) {
	p := loadCase(t, "override")
	if got := p.ServiceNames(); !reflect.DeepEqual(got, []string{"db", "debug", "web"}) {
		t.Errorf("ServiceNames() = %v, want [db debug web]", got)
	}
	s, err := p.Service("web")
	if err != nil || s.Name != "web" {
		t.Fatalf("Service(web) = %v, %v", s, err)
	}
	if _, err := p.Service("nope"); err == nil || err.Error() != "no such service: nope" {
		t.Errorf("Service(nope) error = %v, want no such service: nope", err)
	}
	if n, ok := p.Network("default"); !ok || n.Name != "override_default" {
		t.Errorf("Network(default) = %+v, %v", n, ok)
	}
	if got := s.ImageName(p.Name); got != "busybox:1.36" {
		t.Errorf("ImageName() = %q", got)
	}
	if got := (&Service{Name: "app"}).ImageName("proj"); got != "proj-app" {
		t.Errorf("ImageName() of a build-only service = %q, want proj-app", got)
	}
	wantFiles := []string{filepath.Join(p.WorkingDir, "compose.yaml"), filepath.Join(p.WorkingDir, "compose.override.yaml")}
	if !reflect.DeepEqual(p.ConfigFiles, wantFiles) {
		t.Errorf("ConfigFiles = %v, want %v", p.ConfigFiles, wantFiles)
	}
}

func TestEnvFilesKept(t *testing.T) {
	p := loadCase(t, "env-file")
	s, _ := p.Service("app")
	want := []EnvFile{
		{Path: filepath.Join(p.WorkingDir, "common.env"), Required: true},
		{Path: filepath.Join(p.WorkingDir, "raw.env"), Required: true, Format: "raw"},
		{Path: filepath.Join(p.WorkingDir, "missing.env")},
	}
	if !reflect.DeepEqual(s.EnvFiles, want) {
		t.Errorf("EnvFiles = %+v, want %+v", s.EnvFiles, want)
	}
}

func TestInterpolationEnvironment(t *testing.T) {
	p := loadCase(t, "interpolation")
	if got := p.EnvFiles; len(got) != 1 || got[0] != filepath.Join(p.WorkingDir, ".env") {
		t.Errorf("EnvFiles = %v, want the project's .env", got)
	}
	for k, want := range map[string]string{"SHARED": "from-process", "DOTENV_VAR": "from-dotenv", "COMPOSE_PROJECT_NAME": "interpolation", "PWD": p.WorkingDir} {
		if got := p.Environment[k]; got != want {
			t.Errorf("Environment[%s] = %q, want %q", k, got, want)
		}
	}
}

func TestDigests(t *testing.T) {
	p := loadCase(t, "secrets-configs")
	s, _ := p.Service("app")
	if got, want := s.Secrets[0].Digest, digestBytes([]byte("s3cret")); got != want {
		t.Errorf("secret db_password digest = %s, want %s", got, want)
	}
	if got, want := s.Secrets[1].Digest, digestBytes([]byte("abc")); got != want {
		t.Errorf("secret api_key (from the environment) digest = %s, want %s", got, want)
	}
	if got, want := s.Configs[1].Digest, digestBytes([]byte("key = value\n")); got != want {
		t.Errorf("config inline digest = %s, want %s", got, want)
	}
	if got := s.Build.Secrets[0].Digest; got != s.Secrets[0].Digest {
		t.Errorf("build secret digest = %s, want the secret's %s", got, s.Secrets[0].Digest)
	}
	if m := s.Secrets[1].Mode; m == nil || *m != 0o440 {
		t.Errorf("secret mode = %v, want 0440", m)
	}
	out, err := p.Canonical("yaml")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("s3cret")) || bytes.Contains(out, []byte("abc\n")) {
		t.Errorf("Canonical() prints a secret's content:\n%s", out)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	d1, err := digestPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d2, _ := digestPath(dir); d1 == d2 {
		t.Errorf("digestPath of a directory did not change with a file's content")
	}
}

func TestConfigHash(t *testing.T) {
	p := loadCase(t, "depends-on-optional")
	web, _ := p.Service("web")
	h := ConfigHash(web)
	if len(h) != 64 {
		t.Fatalf("ConfigHash() = %q, want 64 hex digits", h)
	}
	same := []func(s *Service){
		func(s *Service) { s.Replicas = 5 },
		func(s *Service) { s.DependsOn = nil },
		func(s *Service) { s.Profiles = []string{"x"} },
		func(s *Service) { s.Build = &Build{Context: "/elsewhere"} },
		func(s *Service) { s.PullPolicy = "always" },
	}
	for i, change := range same {
		c := *web
		change(&c)
		if got := ConfigHash(&c); got != h {
			t.Errorf("change %d: ConfigHash() = %s, want it unchanged (%s)", i, got, h)
		}
	}
	differ := []func(s *Service){
		func(s *Service) { s.Image = "busybox:2" },
		func(s *Service) { s.Environment = []string{"A=1"} },
		func(s *Service) { s.Command = []string{} },
		func(s *Service) { s.Attach = false },
	}
	for i, change := range differ {
		c := *web
		change(&c)
		if got := ConfigHash(&c); got == h {
			t.Errorf("change %d: ConfigHash() unchanged, want a new hash", i)
		}
	}
	// the hash is part of the contract with running containers: it must
	// not move when stack changes, only when the service does
	pinned := &Service{Name: "web", Image: "busybox", Replicas: 3, Attach: true, Networks: []ServiceNetwork{{Key: "default"}}}
	sum := sha256.Sum256([]byte(`{"image":"busybox","networks":{"default":null}}`))
	if got, want := ConfigHash(pinned), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("ConfigHash(pinned) = %s, want %s", got, want)
	}
}

func TestCanonicalJSON(t *testing.T) {
	p := loadCase(t, "ports")
	out, err := p.Canonical("json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Name     string
		Services map[string]struct {
			Ports []struct {
				Target    int    `json:"target"`
				Published string `json:"published"`
			} `json:"ports"`
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("Canonical(json) does not decode: %v\n%s", err, out)
	}
	if doc.Name != "ports" || len(doc.Services["web"].Ports) != 10 || doc.Services["web"].Ports[1].Published != "8080" {
		t.Errorf("Canonical(json) = %s", out)
	}
	if _, err := p.Canonical("toml"); err == nil || !strings.Contains(err.Error(), `unsupported format "toml"`) {
		t.Errorf("Canonical(toml) error = %v", err)
	}
}

func TestNoConfigFile(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(context.Background(), Options{WorkingDir: dir, Interpolate: true})
	if err == nil || !strings.HasPrefix(err.Error(), "no configuration file provided: not found") {
		t.Errorf("Load() in an empty directory: error = %v, want no configuration file provided", err)
	}
	_, err = Load(context.Background(), Options{WorkingDir: dir, ConfigFiles: []string{"missing.yaml"}, Interpolate: true})
	if err == nil || err.Error() != "missing.yaml: no such file or directory" {
		t.Errorf("Load(-f missing.yaml) error = %v, want missing.yaml: no such file or directory", err)
	}
	_, err = Load(context.Background(), Options{WorkingDir: dir, ConfigFiles: []string{"-"}, Interpolate: true})
	if err == nil || !strings.Contains(err.Error(), "no standard input") {
		t.Errorf("Load(-f -) without Stdin: error = %v", err)
	}
}

// TestLoadConcurrently runs loads side by side (compose-go's warnings go
// through a global logger): each gets its own warnings.
func TestLoadConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			p := loadCase(t, "interpolation-unset")
			if len(p.Warnings) != 1 {
				t.Errorf("interpolation-unset warnings = %q, want one", p.Warnings)
			}
		}()
		go func() {
			defer wg.Done()
			p := loadCase(t, "minimal")
			if len(p.Warnings) != 0 {
				t.Errorf("minimal warnings = %q, want none", p.Warnings)
			}
		}()
	}
	wg.Wait()
}

func TestParseRawEnv(t *testing.T) {
	in := "\xef\xbb\xbfA=1\n  # comment\n\nB= spaced \"quoted\" $X\nFROM_LOOKUP\nMISSING\nC=a=b\n"
	vars := map[string]string{}
	lookup := func(k string) (string, bool) {
		if k == "FROM_LOOKUP" {
			return "looked-up", true
		}
		return "", false
	}
	if err := parseRawEnv(strings.NewReader(in), "f.env", vars, lookup); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": ` spaced "quoted" $X`, "FROM_LOOKUP": "looked-up", "C": "a=b"}
	if !reflect.DeepEqual(vars, want) {
		t.Errorf("parseRawEnv() = %q, want %q", vars, want)
	}
	for _, bad := range []string{"=x\n", "A B=1\n", "A=\xff\n"} {
		if err := parseRawEnv(strings.NewReader(bad), "f.env", map[string]string{}, lookup); err == nil {
			t.Errorf("parseRawEnv(%q) = nil, want an error", bad)
		}
	}
}

func TestWithServices(t *testing.T) {
	p := loadCase(t, "include")
	q, err := p.WithServices("db")
	if err != nil {
		t.Fatal(err)
	}
	if got := q.ServiceNames(); !reflect.DeepEqual(got, []string{"db"}) {
		t.Errorf("WithServices(db).ServiceNames() = %v, want [db]", got)
	}
	if len(q.Volumes) != 1 || len(p.Services) != 2 {
		t.Errorf("WithServices(db): %d volumes, original %d services; want 1 and 2", len(q.Volumes), len(p.Services))
	}
	q, err = p.WithServices("web")
	if err != nil {
		t.Fatal(err)
	}
	if got := q.ServiceNames(); !reflect.DeepEqual(got, []string{"db", "web"}) {
		t.Errorf("WithServices(web).ServiceNames() = %v, want [db web] (web depends on db)", got)
	}
	v := loadCase(t, "volumes")
	q, _ = v.WithServices("other")
	if len(q.Volumes) != 0 || len(q.Networks) != 1 {
		t.Errorf("WithServices(other): volumes %v, networks %v; want none and the default", q.Volumes, q.Networks)
	}
	if _, err := p.WithServices("nope"); err == nil || err.Error() != "no such service: nope" {
		t.Errorf("WithServices(nope) error = %v", err)
	}
}

func TestNoProjectName(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "___")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services:\n  a:\n    image: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(context.Background(), Options{WorkingDir: dir, Interpolate: true})
	if err == nil || !strings.HasPrefix(err.Error(), `no project name: the directory name "___"`) {
		t.Errorf("Load() in %s: error %v, want no project name", dir, err)
	}
	p, err := Load(context.Background(), Options{WorkingDir: dir, ProjectName: "named", Interpolate: true})
	if err != nil || p.Name != "named" {
		t.Errorf("Load(-p named) = %v, %v", p, err)
	}
}

func TestServicesEnabledByName(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join(testdata, "profiles-none"))
	if err != nil {
		t.Fatal(err)
	}
	opts := caseOptions(t, dir)
	opts.Services = []string{"debug"}
	p, err := Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	// debug's profile is activated, and with it tools (profiles tools, debug)
	if got := p.ServiceNames(); !reflect.DeepEqual(got, []string{"debug", "tools", "web"}) {
		t.Errorf("Load(services: debug).ServiceNames() = %v, want [debug tools web]", got)
	}
	if !reflect.DeepEqual(p.DisabledServices, []string{"docs"}) || !reflect.DeepEqual(p.Profiles, []string{"debug"}) {
		t.Errorf("DisabledServices = %v, Profiles = %v; want [docs], [debug]", p.DisabledServices, p.Profiles)
	}
}
