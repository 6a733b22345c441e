// Package deptest fences what a package may link, for its tests: each
// layer of stack keeps out what it must not reach (a pure package no
// syscalls, the init no heavy dependencies), and a deps_test.go in the
// package says so with a reason per ban, as tailscale's tstest/deptest
// does. It is imported only by _test.go files.
package deptest

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
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

// CheckCalls scans the non-test Go files of the package under test for
// uses of package-qualified identifiers in bad ("time.Now", or "rand.*"
// for a whole package), keyed by the imported package's name whatever
// local name a file gives it, and fails the test for each, with the
// reason. It sees code as the compiler does, so comments do not count.
func CheckCalls(t testing.TB, bad map[string]string) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	scanned := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		scanned++
		// The local names of the imported packages, in case one is renamed.
		local := map[string]string{}
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			pkg := filepath.Base(strings.TrimSuffix(path, "/v2"))
			name := pkg
			if imp.Name != nil {
				name = imp.Name.Name
			}
			local[name] = pkg
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			pkg, ok := local[x.Name]
			if !ok {
				return true
			}
			for _, key := range []string{pkg + "." + sel.Sel.Name, pkg + ".*"} {
				if why, found := bad[key]; found {
					t.Errorf("%s: %s.%s: %s", fset.Position(sel.Pos()), x.Name, sel.Sel.Name, why)
				}
			}
			return true
		})
	}
	if scanned == 0 {
		t.Fatal("no source files scanned")
	}
}
