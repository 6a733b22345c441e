package initproc

import (
	"testing"

	"stack/deptest"
)

// TestDeps keeps the init's imports small: every package linked in runs its
// init work at each container start (STYLE.md §3.6).
func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{Allowed: []string{
		"stack/engine/ipc", "stack/engine/rootfs", "stack/engine/errdefs",
		"golang.org/x/sys/", "github.com/opencontainers/runtime-spec/",
		"stack/volume/copyup", // a dependency-free copier, run before a volume is mounted
	}})
}
