package copyup_test

import (
	"testing"

	"stack/deptest"
)

// The shim runs CopyUp at every start of a container with a new volume:
// keep this package a leaf.
func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{Allowed: []string{
		"stack/engine/errdefs", // sentinel errors only
		"golang.org/x/sys/",
	}})
}
