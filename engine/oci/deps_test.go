package oci

import (
	"testing"

	"stack/deptest"
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
	deptest.Check(t, deptest.Rules{BadImports: badImports, BadDeps: badDeps})
}
