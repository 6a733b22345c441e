package main

import (
	"testing"

	"stack/deptest"
)

// TestDeps keeps the init binary to the init: every package it links runs
// its initialiser at every container start.
func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{Allowed: []string{
		"stack/engine/initproc", "stack/engine/ipc", "stack/engine/rootfs", "stack/engine/errdefs", "stack/engine/wire",
		"stack/volume/copyup", "golang.org/x/sys/", "github.com/opencontainers/runtime-spec/",
	}})
}
