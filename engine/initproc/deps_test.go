package initproc

import (
	"testing"

	"stack/deptest"
)

// TestDeps keeps the init's imports small: every package linked in runs its
// init work at each container start (STYLE.md §3.6).
func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{Allowed: []string{
		"stack/engine/rootfs", "stack/engine/errdefs", "stack/engine/wire",
		"golang.org/x/sys/", "github.com/opencontainers/runtime-spec/",
		"stack/volume/copyup", // a dependency-free copier, run before a volume is mounted
	}, BadDeps: map[string]string{
		"encoding/json": "the init's messages use the wire form (wire.go): decoding JSON cold costs milliseconds of page faults",
		"net":           "the init's socket is a pollable *os.File (Conn); net's package init runs at every start",
	}})
}
