package initproc

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the init's imports small: every package linked in runs its
// init work at each container start (STYLE.md §3.6).
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	var pkg struct{ Deps []string }
	if err := json.Unmarshal(out, &pkg); err != nil {
		t.Fatal(err)
	}
	allowed := []string{"stack/engine/ipc", "stack/engine/rootfs", "golang.org/x/sys/", "github.com/opencontainers/runtime-spec/"}
	for _, d := range pkg.Deps {
		if strings.HasPrefix(d, "vendor/") || (!strings.Contains(d, ".") && !strings.HasPrefix(d, "stack/")) {
			continue // standard library
		}
		ok := false
		for _, a := range allowed {
			if strings.HasPrefix(d, a) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("engine/initproc depends on %s; the init imports only std, x/sys, runtime-spec, engine/ipc and engine/rootfs", d)
		}
	}
}
