package spec

import (
	"testing"

	"stack/deptest"
)

// badImports are packages spec must not import itself, each with the
// reason: spec turns files into data and knows nothing of the kernel.
var badImports = map[string]string{
	"os/exec":                        "no processes: spec reads files, it runs nothing",
	"syscall":                        "no syscalls: the runtime makes them",
	"golang.org/x/sys/unix":          "no syscalls: the runtime makes them",
	"github.com/vishvananda/netlink": "no netlink: networking belongs to package network",
	"github.com/vishvananda/netns":   "no namespace switching",
	"github.com/google/nftables":     "no firewall: networking belongs to package network",
	"github.com/spf13/cobra":         "no CLI: cmd/stack calls spec",
	"stack/planner":                  "the planner imports spec, not the reverse",
	"stack/reconciler":               "the reconciler works on the plan, not on spec",
}

// badDepPrefixes must not be reached even indirectly. compose-go's own
// dependencies pull in x/sys/unix (through logrus), so the kernel packages
// are only checked as direct imports; our own layers are checked all the
// way down.
var badDepPrefixes = map[string]string{
	"stack/engine":                   "spec must not link the runtime",
	"stack/network":                  "spec must not link networking",
	"stack/volume":                   "spec must not link volumes",
	"stack/planner":                  "the planner imports spec, not the reverse",
	"stack/reconciler":               "the reconciler works on the plan",
	"stack/cmd":                      "spec is a library of the CLI",
	"github.com/vishvananda/netlink": "no netlink",
	"github.com/google/nftables":     "no firewall",
}

func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{BadImports: badImports, BadDeps: badDepPrefixes})
}
