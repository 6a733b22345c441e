package live_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stack/engine"
	"stack/engine/enginetest"
	"stack/planner"
	"stack/reconciler"
	"stack/reconciler/live"
	"stack/spec"
)

// BenchmarkUpDown measures `up -d` and `down` of N trivial services (a
// sleep each) from an image already present: the same path as the CLI
// (spec.Load, plan, ensure images, observe, diff, apply; observe, down),
// minus the CLI process's own start. Shims and inits come from the
// stack-runtime binary, as `make build` installs it.
func BenchmarkUpDown(b *testing.B) {
	enginetest.RequireRoot(b)
	exe := enginetest.RuntimeOrTestBinary(b)
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			root := enginetest.NewRoot(b)
			e, err := engine.Open(root, engine.Options{ReapShims: true, Exe: exe})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.Images.Import(context.Background(), bytes.NewReader(enginetest.BusyboxTar(b)), "busybox:latest", nil); err != nil {
				b.Fatal(err)
			}
			var y strings.Builder
			y.WriteString("name: bench\nservices:\n")
			for i := 0; i < n; i++ {
				fmt.Fprintf(&y, "  s%d:\n    image: busybox:latest\n    command: [\"sleep\", \"1000\"]\n    stop_grace_period: 2s\n", i)
			}
			dir := b.TempDir()
			file := filepath.Join(dir, "compose.yaml")
			os.WriteFile(file, []byte(y.String()), 0o644)
			w := live.New(e)
			ctx := context.Background()
			var up, down time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				p, err := spec.Load(ctx, spec.Options{ConfigFiles: []string{file}, Interpolate: true, Environ: []string{}})
				if err != nil {
					b.Fatal(err)
				}
				plan, err := planner.Build(p, planner.Inputs{})
				if err != nil {
					b.Fatal(err)
				}
				ids, err := reconciler.EnsureImages(ctx, plan, w, reconciler.EnsureOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if plan, err = planner.Build(p, planner.Inputs{ImageIDs: ids}); err != nil {
					b.Fatal(err)
				}
				obs, err := w.Observe(ctx, p.Name)
				if err != nil {
					b.Fatal(err)
				}
				opts := reconciler.Options{Project: p}
				if err := reconciler.Apply(ctx, plan, reconciler.Diff(plan, obs, opts), w, reconciler.ApplyOptions{}); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if obs, err = w.Observe(ctx, p.Name); err != nil {
					b.Fatal(err)
				}
				if err := reconciler.Down(ctx, obs, w, reconciler.DownOptions{Project: p}); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				up += t1.Sub(t0)
				down += t2.Sub(t1)
			}
			b.ReportMetric(float64(up.Milliseconds())/float64(b.N), "up-ms")
			b.ReportMetric(float64(down.Milliseconds())/float64(b.N), "down-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}
