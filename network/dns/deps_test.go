package dns

import (
	"testing"

	"stack/deptest"
)

// dns is a leaf: the shim imports it, so it must not reach back into the
// layers above, and it runs in every container's shim, so it links little.
var badDeps = map[string]string{
	"stack/engine":     "the shim imports dns; dns must not import the engine",
	"stack/reconciler": "dns knows records, not plans",
	"stack/planner":    "dns knows records, not plans",
	"stack/spec":       "dns knows records, not compose files",
}

func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{
		BadDeps: badDeps,
		Allowed: []string{"github.com/miekg/dns", "golang.org/x/net", "golang.org/x/sys"},
	})
}
