package enginetest

import (
	"encoding/json"
	"os/exec"
	"testing"
)

// Deps returns the transitive dependencies of the package in the current
// directory (go list -json .), for tests that fence what a package may
// link. It skips the test when the go tool is unavailable.
func Deps(t testing.TB) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	var pkg struct{ Deps []string }
	if err := json.Unmarshal(out, &pkg); err != nil {
		t.Fatal(err)
	}
	return pkg.Deps
}
