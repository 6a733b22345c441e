package planner

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"stack/deptest"
)

// badImports are packages the planner must not import itself, each with
// the reason: it is pure, and what it needs from the world comes in
// Inputs. (Its dependencies may: compose-go, through spec, reaches os and
// x/sys/unix.)
var badImports = map[string]string{
	"os":                    "no file I/O or environment reads: the project arrives loaded",
	"os/exec":               "no processes",
	"syscall":               "no syscalls",
	"golang.org/x/sys/unix": "no syscalls",
	"net":                   "no sockets; addresses are data",
	"math/rand":             "no randomness: a plan is the same on every run",
	"math/rand/v2":          "no randomness: a plan is the same on every run",
	"crypto/rand":           "no randomness: a plan is the same on every run",
}

// badDepPrefixes are layers the planner must not reach even indirectly.
var badDepPrefixes = map[string]string{
	"stack/engine":                   "the planner describes containers; the engine runs them",
	"stack/network":                  "networks are planned as data, created by package network",
	"stack/volume":                   "volumes are planned as data, created by package volume",
	"stack/reconciler":               "the reconciler consumes plans, not the other way round",
	"github.com/vishvananda/netlink": "no netlink",
}

func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{BadImports: badImports, BadDeps: badDepPrefixes})
}

// badCalls are package-qualified identifiers the planner's code must not
// use. "time" itself is allowed (durations are data); its clock is not.
var badCalls = map[string]string{
	"time.Now":       "no clock: a plan is the same on every run",
	"time.Since":     "no clock",
	"time.Until":     "no clock",
	"time.Sleep":     "no waiting: the reconciler waits",
	"time.After":     "no waiting",
	"time.AfterFunc": "no waiting",
	"time.Tick":      "no waiting",
	"time.NewTimer":  "no waiting",
	"time.NewTicker": "no waiting",
	"rand.*":         "no randomness",
	"os.*":           "no I/O",
}

// TestPure scans the package's non-test sources for uses of the clock,
// randomness or package os (as `go vet` sees code, so comments do not
// count), which TestDeps's import check alone would miss for "time".
func TestPure(t *testing.T) {
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
		// the local names of the packages, in case one is renamed
		local := map[string]string{}
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			name := filepath.Base(path)
			if path == "math/rand/v2" {
				name = "rand"
			}
			if imp.Name != nil {
				name = imp.Name.Name
			}
			local[name] = filepath.Base(strings.TrimSuffix(path, "/v2"))
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
				if why, bad := badCalls[key]; bad {
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
