package reconcilertest_test

import (
	"testing"

	"stack/reconciler"
	"stack/reconciler/reconcilertest"
)

func TestFakeWorldSuite(t *testing.T) {
	reconcilertest.WorldSuite(t, func(t *testing.T) reconciler.World {
		f := reconcilertest.NewFake()
		f.AddImage("busybox:latest", "")
		return f
	}, reconcilertest.SuiteConfig{})
}
