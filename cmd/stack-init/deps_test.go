package main

import (
	"testing"

	"stack/deptest"
)

// TestDeps keeps the init to the program's format: it cannot run any
// package's code that needs the Go runtime (TestNoRuntime), and needs no
// package but prog's constants.
func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{Allowed: []string{"stack/engine/initproc/prog"}})
}
