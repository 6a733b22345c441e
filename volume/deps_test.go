package volume_test

import (
	"testing"

	"stack/deptest"
)

// badDeps are layers package volume must not reach, each with the reason:
// it owns volumes and knows nothing of containers, compose or plans.
var badDeps = map[string]string{
	"stack/reconciler":       "the reconciler uses volumes, not the other way round",
	"stack/planner":          "volumes are planned as data by the planner, made here",
	"stack/spec":             "compose files are spec's; volume takes plain options",
	"stack/network":          "networks are another layer",
	"stack/engine/container": "volume does not know containers; in-use checks live in reconciler/live and the CLI",
	"stack/engine/shim":      "volume does not know containers",
	"stack/engine/image":     "copy-up reads a directory, not the image store",
}

func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{BadDeps: badDeps})
}
