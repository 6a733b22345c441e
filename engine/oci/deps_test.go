package oci

import (
	"encoding/json"
	"os/exec"
	"testing"
)

// badImports are packages engine/oci must not import itself, each with the
// reason. The package describes containers; it never acts on the system.
var badImports = map[string]string{
	"os":                             "no file I/O or environment reads; options that read files take an fs.FS",
	"os/exec":                        "no processes",
	"net":                            "no sockets; networking belongs to package network",
	"golang.org/x/sys/unix":          "no syscalls; the runtime (engine/initproc, engine/rootfs) makes them",
	"github.com/vishvananda/netlink": "no netlink; networking belongs to package network",
	"github.com/vishvananda/netns":   "no namespace switching",
	"github.com/spf13/cobra":         "no CLI",
	"github.com/compose-spec/compose-go/v2/types": "no compose types; callers translate compose into options",
}

// badDeps are packages that must not be reached even indirectly (os is
// allowed indirectly: runtime-spec's specs-go imports it for a FileMode).
var badDeps = map[string]string{
	"os/exec":                        "no processes",
	"net":                            "no sockets",
	"golang.org/x/sys/unix":          "no syscalls",
	"github.com/vishvananda/netlink": "no netlink",
	"github.com/vishvananda/netns":   "no namespace switching",
}

// TestDeps fails if the package imports something that would let it make
// syscalls or do I/O ("syscall" itself is allowed for the Signal type).
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", ".").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkg struct {
		ImportPath string
		Imports    []string
		Deps       []string
	}
	if err := json.Unmarshal(out, &pkg); err != nil {
		t.Fatalf("decoding go list output: %v", err)
	}
	if pkg.ImportPath != "stack/engine/oci" || len(pkg.Imports) == 0 || len(pkg.Deps) == 0 {
		t.Fatalf("go list gave %q with %d imports and %d deps; want stack/engine/oci with some", pkg.ImportPath, len(pkg.Imports), len(pkg.Deps))
	}
	for _, imp := range pkg.Imports {
		if why, bad := badImports[imp]; bad {
			t.Errorf("engine/oci imports %s: %s", imp, why)
		}
	}
	for _, dep := range pkg.Deps {
		if why, bad := badDeps[dep]; bad {
			t.Errorf("engine/oci depends on %s: %s", dep, why)
		}
	}
}
