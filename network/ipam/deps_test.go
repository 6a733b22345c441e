package ipam

import (
	"testing"

	"stack/deptest"
)

// ipam is pure: the caller brings the host's routes and the allocations.
var badImports = map[string]string{
	"os":                    "no file I/O: the store in package network keeps allocations",
	"os/exec":               "no processes",
	"syscall":               "no syscalls",
	"golang.org/x/sys/unix": "no syscalls",
	"math/rand":             "no randomness: the same inputs give the same subnet and address",
	"math/rand/v2":          "no randomness: the same inputs give the same subnet and address",
	"crypto/rand":           "no randomness: the same inputs give the same subnet and address",
	"time":                  "no clock",
}

var badDeps = map[string]string{
	"stack/engine":                   "ipam knows addresses, not containers",
	"github.com/vishvananda/netlink": "the caller reads the host's routes and passes them in",
}

func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{BadImports: badImports, BadDeps: badDeps})
}
