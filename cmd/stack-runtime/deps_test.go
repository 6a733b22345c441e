package main

import (
	"testing"

	"stack/deptest"
)

// TestDeps keeps the runtime binary free of the CLI's heavy dependencies:
// their package initialisers would run at every container start.
func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{BadDeps: map[string]string{
		"github.com/spf13/cobra":                "the CLI framework belongs to cmd/stack",
		"github.com/compose-spec/compose-go/v2": "compose loading belongs to the CLI",
		"github.com/opencontainers/go-digest":   "its init compiles regexps at every start",
		"stack/engine/image":                    "the image store is not needed to run a container",
		"stack/spec":                            "compose belongs to the CLI",
	}})
}
