package cgroups

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// requireRoot gates the tests that create real cgroups: they skip with a
// reason under -short or without root, and fail when STACK_TEST_ROOT=1 says
// root was meant to be there. It mirrors enginetest.RequireRoot; these tests
// touch no network, so the private-netns check does not apply.
func requireRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("creates real cgroups as root; skipped under -short")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("STACK_TEST_ROOT") == "1" {
			t.Fatalf("STACK_TEST_ROOT=1 but running as uid %d, not root", os.Geteuid())
		}
		t.Skip("creates real cgroups: needs root (set STACK_TEST_ROOT=1 to make this a failure)")
	}
}

// newRootManager creates "stacktest-<random>/c1" with r and registers its
// removal (and the parent's) before anything else can fail.
func newRootManager(t *testing.T, r Resources) (Manager, layout) {
	t.Helper()
	requireRoot(t)
	l, err := hostLayout()
	if err != nil {
		t.Fatalf("detect: %v", err)
	}
	b := make([]byte, 4)
	rand.Read(b)
	parent := "stacktest-" + hex.EncodeToString(b)
	m, err := New(parent + "/c1")
	if err != nil {
		t.Fatal(err)
	}
	pm, err := New(parent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Kill(syscall.SIGKILL); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cleanup: Kill = %v", err)
		}
		if err := pm.Destroy(); err != nil {
			t.Errorf("cleanup: Destroy(%s) = %v", parent, err)
		}
		for _, d := range leafDirs(t, l, parent) {
			if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("cleanup: %s still there (stat: %v)", d, err)
			}
		}
	})
	if err := m.Create(r); err != nil {
		t.Fatalf("Create(%+v) = %v", r, err)
	}
	return m, l
}

// leafDirs lists where rel must exist on this host: every joined v1
// hierarchy plus the unified one.
func leafDirs(t *testing.T, l layout, rel string) []string {
	t.Helper()
	m, err := NewAt(l.mode, l.v1, l.unified, rel)
	if err != nil {
		t.Fatal(err)
	}
	switch m := m.(type) {
	case *v1Manager:
		var ds []string
		for _, h := range m.hiers {
			ds = append(ds, m.leafOf(h).abs)
		}
		return ds
	case *v2Manager:
		return []string{m.leaf().abs}
	}
	t.Fatalf("unknown manager %T", m)
	return nil
}

// kernelFile reads a file of the cgroup: on v1 from ctrl's hierarchy.
func kernelFile(t *testing.T, l layout, m Manager, ctrl, file string) string {
	t.Helper()
	root := l.unified
	if l.mode != Unified {
		root = l.v1[ctrl]
	}
	b, err := os.ReadFile(filepath.Join(root, m.Path(), file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// proc is a process started in the cgroup before it runs script: the shell
// waits on stdin until Add is done, so nothing it does escapes the limits.
type proc struct {
	cmd  *exec.Cmd
	once sync.Once
	err  error
}

func startIn(t *testing.T, m Manager, script string) *proc {
	t.Helper()
	cmd := exec.Command("sh", "-c", "read go || exit 99\n"+script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	// A file, not a pipe: Wait must not wait for grandchildren that keep
	// the output open.
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Kill()
		p.wait()
		b, _ := os.ReadFile(out.Name())
		if len(b) > 0 {
			t.Logf("output of %q:\n%s", script, b)
		}
	})
	if err := m.Add(cmd.Process.Pid); err != nil {
		t.Fatalf("Add(%d) = %v", cmd.Process.Pid, err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	return p
}

func (p *proc) wait() error {
	p.once.Do(func() { p.err = p.cmd.Wait() })
	return p.err
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// signalled reports the signal that ended the process, if one did.
func (p *proc) signalled() (syscall.Signal, bool) {
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return ws.Signal(), true
}

func TestRootLimits(t *testing.T) {
	r := Resources{MemoryLimit: 32 * mib, PidsLimit: 10, CPUQuota: 50000, CPUPeriod: 100000, CPUShares: 512}
	m, l := newRootManager(t, r)
	for _, d := range leafDirs(t, l, m.Path()) {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("after Create: %v", err)
		}
	}

	type file struct{ ctrl, name string }
	check := func(when string, want map[file]string) {
		t.Helper()
		for f, w := range want {
			if got := kernelFile(t, l, m, f.ctrl, f.name); got != w {
				t.Errorf("%s: %s = %q, want %q", when, f.name, got, w)
			}
		}
	}
	hasMemsw := l.mode != Unified && fileExists(filepath.Join(l.v1["memory"], m.Path(), "memory.memsw.limit_in_bytes"))
	hasSwapMax := l.mode == Unified && fileExists(filepath.Join(l.unified, m.Path(), "memory.swap.max"))
	memory := func(when string, mem, memsw string) {
		t.Helper()
		if l.mode == Unified {
			check(when, map[file]string{{"", "memory.max"}: mem})
			if hasSwapMax {
				check(when, map[file]string{{"", "memory.swap.max"}: memsw})
			}
			return
		}
		check(when, map[file]string{{"memory", "memory.limit_in_bytes"}: mem})
		if hasMemsw {
			check(when, map[file]string{{"memory", "memory.memsw.limit_in_bytes"}: memsw})
		}
	}

	if l.mode == Unified {
		memory("Create", "33554432", "0")
		check("Create", map[file]string{{"", "pids.max"}: "10", {"", "cpu.max"}: "50000 100000", {"", "cpu.weight"}: "20"})
	} else {
		memory("Create", "33554432", "33554432")
		check("Create", map[file]string{
			{"pids", "pids.max"}:                     "10",
			{"cpu", "cpu.cfs_quota_us"}:              "50000",
			{"cpu", "cpu.cfs_period_us"}:             "100000",
			{"cpu", "cpu.shares"}:                    "512",
			{"cpuset", "cpuset.cpus"}:                strings.TrimSpace(readFile(t, filepath.Join(l.v1["cpuset"], "cpuset.cpus"))),
			{"cpuset", "cpuset.mems"}:                strings.TrimSpace(readFile(t, filepath.Join(l.v1["cpuset"], "cpuset.mems"))),
			{"memory", "memory.soft_limit_in_bytes"}: "9223372036854771712",
		})
	}

	// Raising and lowering memory with swap accounting: the kernel refuses
	// memsw < memory at every step, so this fails if the order is wrong.
	if err := m.Set(Resources{MemoryLimit: 64 * mib, MemorySwap: 128 * mib}); err != nil {
		t.Fatalf("Set(raise memory) = %v", err)
	}
	if l.mode == Unified {
		memory("raise", "67108864", "67108864")
	} else {
		memory("raise", "67108864", "134217728")
	}
	if err := m.Set(Resources{MemoryLimit: 16 * mib}); err != nil {
		t.Fatalf("Set(lower memory) = %v", err)
	}
	if l.mode == Unified {
		memory("lower", "16777216", "0")
	} else {
		memory("lower", "16777216", "16777216")
	}

	// Create again: idempotent, and the zero value lifts every limit.
	if err := m.Create(Resources{}); err != nil {
		t.Fatalf("Create again = %v", err)
	}
	if l.mode == Unified {
		memory("unlimited", "max", "max")
		check("unlimited", map[file]string{{"", "pids.max"}: "max", {"", "cpu.max"}: "max 100000"})
	} else {
		memory("unlimited", "9223372036854771712", "9223372036854771712")
		check("unlimited", map[file]string{{"pids", "pids.max"}: "max", {"cpu", "cpu.cfs_quota_us"}: "-1", {"cpu", "cpu.shares"}: "1024"})
	}
	s, err := m.Stats()
	if err != nil || s.MemoryLimit != 0 || s.PidsLimit != 0 {
		t.Errorf("Stats() = %+v, %v; want no memory or pids limit", s, err)
	}
}

// A new cgroup without limits is left with the kernel's defaults (v1
// writes none of them): unlimited, with its parent's cpuset.
func TestRootFreshDefaults(t *testing.T) {
	m, l := newRootManager(t, Resources{})
	if l.mode == Unified {
		for f, want := range map[string]string{"pids.max": "max", "cpu.max": "max 100000", "memory.max": "max"} {
			if got := kernelFile(t, l, m, "", f); got != want {
				t.Errorf("%s = %q, want %q", f, got, want)
			}
		}
		return
	}
	parentCpus := strings.TrimSpace(readFile(t, filepath.Join(l.v1["cpuset"], "cpuset.cpus")))
	for f, want := range map[[2]string]string{
		{"pids", "pids.max"}:                "max",
		{"cpu", "cpu.cfs_quota_us"}:         "-1",
		{"cpu", "cpu.cfs_period_us"}:        "100000",
		{"cpu", "cpu.shares"}:               "1024",
		{"memory", "memory.limit_in_bytes"}: "9223372036854771712",
		{"cpuset", "cpuset.cpus"}:           parentCpus,
	} {
		if got := kernelFile(t, l, m, f[0], f[1]); got != want {
			t.Errorf("%s = %q, want %q", f[1], got, want)
		}
	}
}

func TestRootProcesses(t *testing.T) {
	m, l := newRootManager(t, Resources{MemoryLimit: 64 * mib})
	if fd, ok := m.FD(); ok != (l.mode == Unified) {
		t.Errorf("FD() ok = %v on a %v host", ok, l.mode)
	} else if ok {
		syscall.Close(fd)
	}

	p := startIn(t, m, "exec sleep 60")
	pids, err := m.Procs()
	if err != nil || !slices.Contains(pids, p.pid()) {
		t.Fatalf("Procs() = %v, %v; want it to contain %d", pids, err, p.pid())
	}
	// /proc/<pid>/cgroup names our cgroup in every hierarchy.
	own := readFile(t, "/proc/"+strconv.Itoa(p.pid())+"/cgroup")
	for line := range strings.SplitSeq(strings.TrimSpace(own), "\n") {
		parts := strings.SplitN(line, ":", 3)
		joinedHere := slices.ContainsFunc(strings.Split(parts[1], ","), func(c string) bool { return slices.Contains(joined, c) })
		if (joinedHere || parts[1] == "") && parts[2] != "/"+m.Path() {
			t.Errorf("/proc/%d/cgroup: %q, want path /%s", p.pid(), line, m.Path())
		}
	}

	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze() = %v", err)
	}
	if paused, err := m.Paused(); !paused || err != nil {
		t.Errorf("Paused() after Freeze = %v, %v; want true", paused, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatalf("Thaw() = %v", err)
	}
	if paused, err := m.Paused(); paused || err != nil {
		t.Errorf("Paused() after Thaw = %v, %v; want false", paused, err)
	}

	// Kill while frozen: the process must still die (Kill thaws for SIGKILL).
	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze() = %v", err)
	}
	if err := m.Kill(syscall.SIGKILL); err != nil {
		t.Fatalf("Kill(SIGKILL) = %v", err)
	}
	p.wait()
	if sig, ok := p.signalled(); !ok || sig != syscall.SIGKILL {
		t.Errorf("after Kill(SIGKILL): process ended with %v, want killed by SIGKILL", p.cmd.ProcessState)
	}
	if paused, err := m.Paused(); paused || err != nil {
		t.Errorf("Paused() after Kill(SIGKILL) = %v, %v; want false", paused, err)
	}
	if pids, err := m.Procs(); err != nil || len(pids) != 0 {
		t.Errorf("Procs() after the kill = %v, %v; want none", pids, err)
	}

	if err := m.Destroy(); err != nil {
		t.Fatalf("Destroy() = %v", err)
	}
	for _, d := range leafDirs(t, l, m.Path()) {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after Destroy: %s: %v, want it gone", d, err)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("Destroy() twice = %v, want nil", err)
	}
}

func TestRootKillKeepsPause(t *testing.T) {
	m, _ := newRootManager(t, Resources{})
	p := startIn(t, m, "exec sleep 60")
	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze() = %v", err)
	}
	if err := m.Kill(syscall.SIGTERM); err != nil {
		t.Fatalf("Kill(SIGTERM) = %v", err)
	}
	if paused, err := m.Paused(); !paused || err != nil {
		t.Errorf("Paused() after Kill(SIGTERM) of a paused cgroup = %v, %v; want still paused", paused, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatalf("Thaw() = %v", err)
	}
	p.wait()
	if sig, ok := p.signalled(); !ok || sig != syscall.SIGTERM {
		t.Errorf("process ended with %v, want terminated by SIGTERM", p.cmd.ProcessState)
	}
}

func TestRootOOM(t *testing.T) {
	m, _ := newRootManager(t, Resources{MemoryLimit: 16 * mib})
	if oom, err := m.OOMKilled(); oom || err != nil {
		t.Fatalf("OOMKilled() before = %v, %v; want false", oom, err)
	}
	// dd fills a 64 MiB buffer from /dev/zero: every page is touched and
	// charged. Bounded, so a missing limit fails the test instead of the host.
	p := startIn(t, m, "exec dd if=/dev/zero of=/dev/null bs=64M count=1")
	p.wait()
	if sig, ok := p.signalled(); !ok || sig != syscall.SIGKILL {
		t.Fatalf("memory hog ended with %v, want killed by the OOM killer", p.cmd.ProcessState)
	}
	if oom, err := m.OOMKilled(); !oom || err != nil {
		t.Errorf("OOMKilled() after = %v, %v; want true", oom, err)
	}
}

func TestRootPidsLimit(t *testing.T) {
	m, l := newRootManager(t, Resources{PidsLimit: 5})
	// Fork more than the limit allows. Whether the shell survives a failed
	// fork or not, it ends promptly; the kernel's pids.events counts the
	// refusals.
	p := startIn(t, m, `i=0; while [ $i -lt 20 ]; do sleep 60 & i=$((i+1)); done; echo forked all`)
	p.wait()
	t.Logf("fork bomb shell: %v", p.cmd.ProcessState)
	pids, err := m.Procs()
	if err != nil || len(pids) == 0 || len(pids) > 5 {
		t.Errorf("Procs() = %v, %v; want 1 to 5 processes", pids, err)
	}
	ctrl := "pids"
	if l.mode == Unified {
		ctrl = ""
	}
	if events := kernelFile(t, l, m, ctrl, "pids.events"); events == "max 0" || !strings.HasPrefix(events, "max ") {
		t.Errorf("pids.events = %q, want refused forks counted", events)
	}
	if s, err := m.Stats(); err != nil || s.PidsCurrent > 5 || s.PidsLimit != 5 {
		t.Errorf("Stats() = %+v, %v; want at most 5 pids of limit 5", s, err)
	}
	// The cleanup kills the orphaned sleeps and destroys the cgroup: rmdir
	// then has to wait for them to exit.
}

func TestRootDevices(t *testing.T) {
	m, l := newRootManager(t, Resources{})
	if err := m.DevicesDenyAllExcept(DefaultDeviceRules()); err != nil {
		t.Fatalf("DevicesDenyAllExcept = %v", err)
	}
	if l.mode == Unified {
		t.Skip("device filtering on v2 is a no-op")
	}
	var want []string
	for _, r := range DefaultDeviceRules() {
		want = append(want, r.String())
	}
	got := strings.Split(kernelFile(t, l, m, "devices", "devices.list"), "\n")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("devices.list = %q, want %q", got, want)
	}
	// /dev/null is allowed, /dev/kmsg (c 1:11) is not.
	p := startIn(t, m, `echo x >/dev/null || exit 1; (exec 3</dev/kmsg) 2>/dev/null && exit 2; exit 0`)
	if err := p.wait(); err != nil {
		t.Errorf("device check in the cgroup: %v (exit 1: /dev/null denied; exit 2: /dev/kmsg allowed)", err)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRootUnifiedCore runs the v2 manager against the real cgroup2 mount.
// On a hybrid host that hierarchy has no memory, cpu or pids controller, but
// everything v2 does without controllers is real: mkdir, CLONE_INTO_CGROUP
// through FD, cgroup.procs, cgroup.freeze and cgroup.events, cgroup.kill,
// rmdir.
func TestRootUnifiedCore(t *testing.T) {
	requireRoot(t)
	l, err := hostLayout()
	if err != nil {
		t.Fatal(err)
	}
	if l.unified == "" {
		t.Skip("no cgroup2 mount on this host")
	}
	b := make([]byte, 4)
	rand.Read(b)
	parent := "stacktest-" + hex.EncodeToString(b)
	m, err := NewAt(Unified, nil, l.unified, parent+"/c1")
	if err != nil {
		t.Fatal(err)
	}
	pm, err := NewAt(Unified, nil, l.unified, parent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Kill(syscall.SIGKILL); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cleanup: Kill = %v", err)
		}
		if err := pm.Destroy(); err != nil {
			t.Errorf("cleanup: Destroy(%s) = %v", parent, err)
		}
	})
	if err := m.Create(Resources{}); err != nil {
		t.Fatalf("Create() = %v", err)
	}

	fd, ok := m.FD()
	if !ok {
		t.Fatal("FD() = false on a cgroup2 hierarchy")
	}
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	err = cmd.Start()
	syscall.Close(fd) // the caller owns it; the child has been placed
	if err != nil {
		t.Fatalf("start with CLONE_INTO_CGROUP: %v", err)
	}
	p := &proc{cmd: cmd}
	t.Cleanup(func() { cmd.Process.Kill(); p.wait() })

	if got := readFile(t, "/proc/"+strconv.Itoa(p.pid())+"/cgroup"); !strings.Contains(got, "0::/"+m.Path()+"\n") {
		t.Errorf("/proc/%d/cgroup = %q, want 0::/%s", p.pid(), got, m.Path())
	}
	if pids, err := m.Procs(); err != nil || !slices.Equal(pids, []int{p.pid()}) {
		t.Errorf("Procs() = %v, %v; want [%d]", pids, err, p.pid())
	}
	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze() = %v", err)
	}
	if paused, err := m.Paused(); !paused || err != nil {
		t.Errorf("Paused() after Freeze = %v, %v; want true", paused, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatalf("Thaw() = %v", err)
	}
	if paused, err := m.Paused(); paused || err != nil {
		t.Errorf("Paused() after Thaw = %v, %v; want false", paused, err)
	}
	// SIGTERM goes through freeze, signal, thaw; SIGKILL through cgroup.kill
	// (when the kernel has it), here on a paused cgroup.
	if err := m.Kill(syscall.SIGCONT); err != nil {
		t.Fatalf("Kill(SIGCONT) = %v", err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze() = %v", err)
	}
	if err := m.Kill(syscall.SIGKILL); err != nil {
		t.Fatalf("Kill(SIGKILL) = %v", err)
	}
	p.wait()
	if sig, ok := p.signalled(); !ok || sig != syscall.SIGKILL {
		t.Errorf("after Kill(SIGKILL): %v, want killed by SIGKILL", cmd.ProcessState)
	}
	if paused, err := m.Paused(); paused || err != nil {
		t.Errorf("Paused() after Kill(SIGKILL) = %v, %v; want false", paused, err)
	}
	if err := m.Destroy(); err != nil {
		t.Fatalf("Destroy() = %v", err)
	}
	if _, err := os.Stat(filepath.Join(l.unified, m.Path())); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Destroy: stat = %v, want it gone", err)
	}
}

// BenchmarkCreateAddDestroy measures what a container start and removal
// costs in cgroup work on this host: create with limits, place a process,
// remove.
func BenchmarkCreateAddDestroy(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	r := Resources{MemoryLimit: 64 * mib, PidsLimit: 100, CPUQuota: 50000}
	buf := make([]byte, 4)
	rand.Read(buf)
	parent := "stacktest-" + hex.EncodeToString(buf)
	pm, err := New(parent)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := pm.Destroy(); err != nil {
			b.Error(err)
		}
	})
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	home, err := New(parent + "/home")
	if err != nil {
		b.Fatal(err)
	}
	if err := home.Create(Resources{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m, err := New(parent + "/c" + strconv.Itoa(i))
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Create(r); err != nil {
			b.Fatal(err)
		}
		if err := m.Add(cmd.Process.Pid); err != nil {
			b.Fatal(err)
		}
		// Move it back out so the cgroup can go.
		if err := home.Add(cmd.Process.Pid); err != nil {
			b.Fatal(err)
		}
		if err := m.Destroy(); err != nil {
			b.Fatal(err)
		}
	}
}
