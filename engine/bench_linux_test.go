package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"stack/engine"
	"stack/engine/enginetest"
)

// reportLatencies reports p50 and p99 of ds in milliseconds.
func reportLatencies(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	pct := func(p float64) float64 {
		i := int(p * float64(len(ds)-1))
		return float64(ds[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op") // the percentiles are the result
}

func benchEngine(b *testing.B) *engine.Engine {
	b.Helper()
	enginetest.RequireRoot(b)
	root := enginetest.NewRoot(b)
	e, err := engine.Open(root, engine.Options{ReapShims: true, Exe: enginetest.RuntimeOrTestBinary(b)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.Images.Import(context.Background(), bytes.NewReader(enginetest.BusyboxTar(b)), busybox, nil); err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkRunTrue: create + start + exit of /bin/true, shim included,
// measured until the exit code is known. Removal is outside the timing.
//
// It also reports the CPU time a start costs, the engine's own and that
// of the shim, init and container processes (cpu-ms/op, removal
// included): on a virtual machine with two vCPUs whose speed drifts, it
// is a steadier measure than the wall-clock percentiles.
func BenchmarkRunTrue(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	var all, create, start, wait []time.Duration
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		c, err := e.Create(ctx, engine.CreateOptions{Image: busybox, Cmd: []string{"/bin/true"}})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := e.Start(ctx, c.ID()); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if code, err := e.Wait(ctx, c.ID()); err != nil || code != 0 {
			b.Fatalf("wait: %v code %d", err, code)
		}
		t3 := time.Now()
		all = append(all, t3.Sub(t0))
		create, start, wait = append(create, t1.Sub(t0)), append(start, t2.Sub(t1)), append(wait, t3.Sub(t2))
		b.StopTimer()
		if err := e.Remove(ctx, c.ID(), true); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	reportLatencies(b, all)
	// The last shims are reaped (and counted) once they have let go.
	time.Sleep(100 * time.Millisecond)
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(p50(create), "create-p50-ms")
	b.ReportMetric(p50(start), "start-p50-ms")
	b.ReportMetric(p50(wait), "wait-p50-ms")
}

// cpuTime is the user and system CPU time of this process and of its
// reaped descendants (the shims, and through them the inits and the
// containers' processes).
func cpuTime() time.Duration {
	var self, children unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &self)
	unix.Getrusage(unix.RUSAGE_CHILDREN, &children)
	var d time.Duration
	for _, tv := range []unix.Timeval{self.Utime, self.Stime, children.Utime, children.Stime} {
		d += time.Duration(tv.Nano())
	}
	return d
}

func p50(ds []time.Duration) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[len(s)/2].Microseconds()) / 1000
}

// BenchmarkStop: stop of a running `sleep` (which dies of the forwarded
// SIGTERM), until the exit is recorded.
func BenchmarkStop(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c, err := e.Create(ctx, engine.CreateOptions{Image: busybox, Cmd: []string{"sleep", "1000"}})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Start(ctx, c.ID()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if err := e.Stop(ctx, c.ID(), nil, 0); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
		b.StopTimer()
		e.Remove(ctx, c.ID(), true)
		b.StartTimer()
	}
	reportLatencies(b, ds)
}

// BenchmarkIdleMemory reports the resident memory of the shim and the init
// of an idle container (RSS and PSS, MiB). The value does not depend on N.
func BenchmarkIdleMemory(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	c, err := e.Create(ctx, engine.CreateOptions{Image: busybox, Cmd: []string{"sleep", "1000"}})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Remove(ctx, c.ID(), true)
	if err := e.Start(ctx, c.ID()); err != nil {
		b.Fatal(err)
	}
	got, _ := e.Get(c.ID())
	// Let both settle: they return their start-up garbage after a second.
	time.Sleep(1500 * time.Millisecond)
	for i := 0; i < b.N; i++ {
	}
	shimRSS, shimPSS := memOf(got.State.ShimPid)
	initRSS, initPSS := memOf(got.State.Pid)
	b.ReportMetric(shimRSS+initRSS, "rss-MiB")
	b.ReportMetric(shimPSS+initPSS, "pss-MiB")
	b.ReportMetric(shimRSS, "shim-rss-MiB")
	b.ReportMetric(initRSS, "init-rss-MiB")
	b.ReportMetric(0, "ns/op")
}

// memOf reads a process's Rss and Pss from smaps_rollup, in MiB.
func memOf(pid int) (rss, pss float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb float64
		if n, _ := fmt.Sscanf(line, "Rss: %f kB", &kb); n == 1 {
			rss = kb / 1024
		}
		if n, _ := fmt.Sscanf(line, "Pss: %f kB", &kb); n == 1 {
			pss = kb / 1024
		}
	}
	return rss, pss
}

// BenchmarkRuncRunTrue runs `runc run` of /bin/true on the same busybox
// rootfs, for comparison in the same run. Skipped without runc.
func BenchmarkRuncRunTrue(b *testing.B) { benchOCIRuntime(b, "runc") }

// BenchmarkCrunRunTrue is the same with crun, the fastest OCI runtime.
// Skipped without crun (apt-get install crun).
func BenchmarkCrunRunTrue(b *testing.B) { benchOCIRuntime(b, "crun") }

// benchOCIRuntime times `NAME run` of /bin/true on the busybox rootfs, a
// fresh container each time, until it has exited.
func benchOCIRuntime(b *testing.B, name string) {
	enginetest.RequireRoot(b)
	runc, err := exec.LookPath(name)
	if err != nil {
		b.Skipf("%s not installed (apt-get install %s)", name, name)
	}
	dir := b.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	os.MkdirAll(rootfs, 0o755)
	tarball := filepath.Join(dir, "rootfs.tar")
	if err := os.WriteFile(tarball, enginetest.BusyboxTar(b), 0o644); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command("tar", "-C", rootfs, "-xf", tarball).CombinedOutput(); err != nil {
		b.Fatalf("untar: %v %s", err, out)
	}
	if out, err := exec.Command(runc, "spec", "--bundle", dir).CombinedOutput(); err != nil {
		b.Fatalf("runc spec: %v %s", err, out)
	}
	cfgPath := filepath.Join(dir, "config.json")
	raw, _ := os.ReadFile(cfgPath)
	var cfg map[string]any
	json.Unmarshal(raw, &cfg)
	proc := cfg["process"].(map[string]any)
	proc["args"] = []string{"/bin/true"}
	proc["terminal"] = false
	raw, _ = json.Marshal(cfg)
	os.WriteFile(cfgPath, raw, 0o644)
	runcRoot := filepath.Join(dir, "state")
	// crun refuses a hybrid host whose cgroup2 hierarchy has a controller
	// (here hugetlb). It is run from a thread of its own mount namespace
	// where an empty tmpfs hides that hierarchy: it then uses the v1
	// controllers, as stack does.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread() // the thread is gone if it was changed: see below
	if name == "crun" {
		if err := hideUnifiedCgroup(); err != nil {
			b.Skipf("crun on this hybrid host: %v", err)
		}
	}
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		cmd := exec.Command(runc, "--root", runcRoot, "run", "--bundle", dir, fmt.Sprintf("bench-%d", i))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s run: %v %s", name, err, out)
		}
		ds = append(ds, time.Since(t0))
	}
	reportLatencies(b, ds)
}

// hideUnifiedCgroup gives the calling, locked thread a mount namespace of
// its own in which an empty tmpfs covers /sys/fs/cgroup/unified. It never
// unlocks the thread afterwards: Go then ends it with the goroutine.
func hideUnifiedCgroup() error {
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.controllers"); err != nil {
		return nil // not a hybrid host
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return err
	}
	runtime.LockOSThread() // one more lock than unlocks: the thread dies
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	return unix.Mount("none", "/sys/fs/cgroup/unified", "tmpfs", 0, "")
}
