package live_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"stack/engine"
	"stack/engine/enginetest"
	"stack/reconciler"
	"stack/reconciler/live"
	"stack/reconciler/reconcilertest"
)

func TestMain(m *testing.M) { enginetest.Main(m) }

// TestWorldSuite runs the reconciler's conformance suite against the real
// World on the real runtime: the fake the reconciler is tested with and
// this World keep the same contract.
func TestWorldSuite(t *testing.T) {
	enginetest.RequireRoot(t)
	reconcilertest.WorldSuite(t, func(t *testing.T) reconciler.World {
		enginetest.LeakCheck(t)
		root := enginetest.NewRoot(t)
		e, err := engine.Open(root, engine.Options{ReapShims: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Images.Import(context.Background(), bytes.NewReader(enginetest.BusyboxTar(t)), "busybox:latest", nil); err != nil {
			t.Fatal(err)
		}
		w := live.New(e)
		t.Cleanup(func() {
			// Remove what a subtest left, so the leak check sees nothing.
			cs, _ := e.List(true)
			for _, c := range cs {
				e.Remove(context.Background(), c.ID(), true)
			}
		})
		return w
	}, reconcilertest.SuiteConfig{Image: "busybox:latest", WaitTimeout: 30 * time.Second})
}
