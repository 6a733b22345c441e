package copyup_test

import (
	"testing"

	"stack/deptest"
)

// The container init runs CopyUp, and the init imports only what its own
// deps test allows (engine/initproc): keep this package a leaf.
func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{Allowed: []string{
		"stack/engine/errdefs", // sentinel errors only
		"golang.org/x/sys/",
	}})
}
