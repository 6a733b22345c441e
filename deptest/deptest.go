// Package deptest fences what a package may link, for its tests: each
// layer of stack keeps out what it must not reach (a pure package no
// syscalls, the init no heavy dependencies), and a deps_test.go in the
// package says so with a reason per ban, as tailscale's tstest/deptest
// does. It is imported only by _test.go files.
package deptest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// Rules are one package's fences. Every ban carries its reason.
type Rules struct {
	// BadImports are packages the package must not import directly.
	BadImports map[string]string
	// BadDeps are packages (and everything below them, by path prefix)
	// it must not reach even indirectly.
	BadDeps map[string]string
	// Allowed, when not nil, is an allow-list of prefixes for every
	// non-standard-library dependency.
	Allowed []string
}

// Package is what go list says of a package.
type Package struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// List runs `go list -json .` in the test's directory (the package under
// test). It skips the test when the go tool is not there.
func List(t testing.TB) Package {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", ".").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Skipf("go list: %v", err)
	}
	var p Package
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("decoding go list output: %v", err)
	}
	if p.ImportPath == "" || len(p.Deps) == 0 {
		t.Fatalf("go list gave %q with %d deps", p.ImportPath, len(p.Deps))
	}
	return p
}

// Check fails the test for every rule the package under test breaks.
func Check(t testing.TB, r Rules) {
	t.Helper()
	p := List(t)
	for _, imp := range p.Imports {
		if why, bad := r.BadImports[imp]; bad {
			t.Errorf("%s imports %s: %s", p.ImportPath, imp, why)
		}
	}
	for _, dep := range p.Deps {
		for prefix, why := range r.BadDeps {
			if dep == prefix || strings.HasPrefix(dep, prefix+"/") {
				t.Errorf("%s depends on %s: %s", p.ImportPath, dep, why)
			}
		}
		if r.Allowed != nil && !isStd(dep) && !hasAnyPrefix(dep, r.Allowed) {
			t.Errorf("%s depends on %s, which is not on its allow-list %v", p.ImportPath, dep, r.Allowed)
		}
	}
}

func isStd(path string) bool {
	return strings.HasPrefix(path, "vendor/") || !strings.Contains(strings.Split(path, "/")[0], ".") && !strings.HasPrefix(path, "stack/") && path != "stack"
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
