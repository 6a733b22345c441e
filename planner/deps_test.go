package planner

import (
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
func TestPure(t *testing.T) { deptest.CheckCalls(t, badCalls) }
