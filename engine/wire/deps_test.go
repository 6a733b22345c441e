package wire

import (
	"testing"

	"stack/deptest"
)

// TestDeps keeps the form's decoder cheap to link: the init and the shim
// run it at every container start.
func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{Allowed: []string{"github.com/opencontainers/runtime-spec/"},
		BadDeps: map[string]string{"encoding/json": "the form exists to keep JSON off the start path"}})
}
