package container_test

import (
	"testing"
	"time"

	"stack/engine/container"
	"stack/engine/oci"
)

func writeConfig(tb testing.TB) container.Paths {
	tb.Helper()
	p := container.Paths{Dir: tb.TempDir(), RunDir: tb.TempDir(), ID: "c1"}
	spec := oci.Default()
	spec.Process.Args = []string{"nginx", "-g", "daemon off;"}
	spec.Process.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NGINX_VERSION=1.25.3", "HOME=/root"}
	cfg := &container.Config{ID: "c1", Name: "web-1", Created: time.Now(), Image: "sha256:abc", Spec: spec,
		Labels: map[string]string{"com.docker.compose.project": "demo", "com.docker.compose.service": "web"}}
	if err := container.SaveConfig(p, cfg); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestLoadName(t *testing.T) {
	p := writeConfig(t)
	if n, err := container.LoadName(p); err != nil || n != "web-1" {
		t.Fatalf("LoadName = %q, %v", n, err)
	}
	if _, err := container.LoadName(container.Paths{Dir: t.TempDir()}); err == nil {
		t.Fatal("LoadName of a missing config succeeded")
	}
}

// BenchmarkLoadName: what finding a container by name costs per
// container, against decoding its whole config.
func BenchmarkLoadName(b *testing.B) {
	p := writeConfig(b)
	b.Run("name", func(b *testing.B) {
		for b.Loop() {
			container.LoadName(p)
		}
	})
	b.Run("config", func(b *testing.B) {
		for b.Loop() {
			container.LoadConfig(p)
		}
	})
}
