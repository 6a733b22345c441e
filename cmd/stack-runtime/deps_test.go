package main

import (
	"strings"
	"testing"

	"stack/engine/enginetest"
)

// TestDeps keeps the runtime binary free of the CLI's heavy dependencies:
// their package initialisers would run at every container start.
func TestDeps(t *testing.T) {
	bad := map[string]string{
		"github.com/spf13/cobra":                "the CLI framework belongs to cmd/stack",
		"github.com/compose-spec/compose-go/v2": "compose loading belongs to the CLI",
		"github.com/opencontainers/go-digest":   "its init compiles regexps at every start",
		"stack/engine/image":                    "the image store is not needed to run a container",
		"stack/spec":                            "compose belongs to the CLI",
	}
	for _, d := range enginetest.Deps(t) {
		for b, why := range bad {
			if d == b || strings.HasPrefix(d, b+"/") {
				t.Errorf("stack-runtime depends on %s: %s", d, why)
			}
		}
	}
}
