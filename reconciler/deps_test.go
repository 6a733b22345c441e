package reconciler

import (
	"testing"

	"stack/deptest"
)

// badDeps are the layers the reconciler must not reach, even indirectly,
// each with the reason: it changes the world only through World.
var badDeps = map[string]string{
	"stack/engine":                    "the reconciler drives containers through World; reconciler/live adapts the engine",
	"stack/network":                   "networks are created through World.CreateNetwork",
	"stack/volume":                    "volumes are created through World.CreateVolume",
	"stack/reconciler/live":           "the real World is given to the reconciler, not imported by it",
	"stack/reconciler/reconcilertest": "test helpers are for tests",
	"github.com/vishvananda/netlink":  "no netlink",
	"github.com/spf13/cobra":          "the CLI renders; the reconciler emits events",
}

// badImports are packages the reconciler must not import itself.
var badImports = map[string]string{
	"golang.org/x/sys/unix": "no syscalls: the world does them",
	"syscall":               "no syscalls: the world does them",
	"os/exec":               "no processes",
	"log":                   "it never prints or logs: it emits events",
	"os":                    "no files, no environment, no printing: everything comes in Options",
}

func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{BadImports: badImports, BadDeps: badDeps})
}

// badCalls are identifiers the reconciler's code must not use: it waits
// on events from the world, never on a fixed interval, and never prints.
var badCalls = map[string]string{
	"time.Sleep":     "no polling: wait on the world's WaitContainer or a channel",
	"time.Tick":      "no polling",
	"time.NewTicker": "no polling",
	"fmt.Print":      "it never prints: it emits events",
	"fmt.Printf":     "it never prints: it emits events",
	"fmt.Println":    "it never prints: it emits events",
}

// TestNoPolling scans the package's non-test sources for badCalls.
func TestNoPolling(t *testing.T) { deptest.CheckCalls(t, badCalls) }
