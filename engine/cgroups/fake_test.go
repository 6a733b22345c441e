package cgroups

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"stack/engine/errdefs"
)

// fakeTree writes files as the kernel would present them, so the managers
// can run against a t.TempDir() without root. Writes to a fake file replace
// its content, so a test sees the last value written.
type fakeTree struct {
	t    *testing.T
	root string
}

func (f fakeTree) put(rel string, files map[string]string) {
	f.t.Helper()
	d := filepath.Join(f.root, rel)
	if err := os.MkdirAll(d, 0o755); err != nil {
		f.t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f fakeTree) get(rel string) string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.root, rel))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// v2Leaf is a non-root cgroup2 directory with memory, pids and cpu enabled
// by its parent.
func v2Leaf() map[string]string {
	return map[string]string{
		"cgroup.controllers":     "cpu memory pids",
		"cgroup.subtree_control": "",
		"cgroup.procs":           "",
		"cgroup.events":          "populated 0\nfrozen 0\n",
		"cgroup.freeze":          "0",
		"cgroup.kill":            "",
		"memory.max":             "max",
		"memory.swap.max":        "max",
		"memory.low":             "0",
		"memory.current":         "0",
		"memory.events":          "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
		"memory.stat":            "anon 0\nfile 0\ninactive_file 0\n",
		"cpu.max":                "max 100000",
		"cpu.weight":             "100",
		"cpu.stat":               "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
		"pids.max":               "max",
		"pids.current":           "0",
	}
}

// newFakeV2 returns a tree with the root and "stack/c1" (as "stack"
// existed before and the kernel populated "c1" on mkdir) and a Manager for
// "stack/c1".
func newFakeV2(t *testing.T) (fakeTree, Manager) {
	f := fakeTree{t: t, root: t.TempDir()}
	f.put(".", map[string]string{
		"cgroup.controllers":     "cpuset cpu io memory hugetlb pids rdma misc",
		"cgroup.subtree_control": "",
		"cgroup.procs":           "1\n",
	})
	stack := v2Leaf()
	stack["cgroup.controllers"] = "cpuset cpu io memory hugetlb pids rdma misc"
	f.put("stack", stack)
	f.put("stack/c1", v2Leaf())
	m, err := NewAt(Unified, nil, f.root, "stack/c1")
	if err != nil {
		t.Fatal(err)
	}
	return f, m
}

const mib = 1 << 20

func TestV2CreateWritesLimits(t *testing.T) {
	tests := []struct {
		name string
		r    Resources
		want map[string]string // file under the leaf -> content
	}{
		{
			name: "all limits",
			r: Resources{
				MemoryLimit: 32 * mib, MemoryReservation: 16 * mib,
				CPUQuota: 150000, CPUPeriod: 100000, CPUShares: 512, PidsLimit: 10,
			},
			want: map[string]string{
				"memory.max":      "33554432",
				"memory.swap.max": "0", // MemorySwap 0: same as memory, no swap
				"memory.low":      "16777216",
				"cpu.max":         "150000 100000",
				"cpu.weight":      "20", // runc: 1 + ((512-2)*9999)/262142
				"pids.max":        "10",
			},
		},
		{
			name: "zero value is unlimited",
			r:    Resources{},
			want: map[string]string{
				"memory.max": "max", "memory.swap.max": "max", "memory.low": "0",
				"cpu.max": "max 100000", "cpu.weight": "100", "pids.max": "max",
			},
		},
		{
			name: "unlimited swap and negative means unlimited",
			r:    Resources{MemoryLimit: 32 * mib, MemorySwap: -1, CPUQuota: -1, PidsLimit: -1},
			want: map[string]string{"memory.max": "33554432", "memory.swap.max": "max", "cpu.max": "max 100000", "pids.max": "max"},
		},
		{
			name: "swap is the difference",
			r:    Resources{MemoryLimit: 32 * mib, MemorySwap: 96 * mib, CPUQuota: 50000, CPUPeriod: 20000},
			want: map[string]string{"memory.max": "33554432", "memory.swap.max": "67108864", "cpu.max": "50000 20000"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, m := newFakeV2(t)
			if err := m.Create(tt.r); err != nil {
				t.Fatalf("Create(%+v) = %v", tt.r, err)
			}
			for file, want := range tt.want {
				if got := f.get("stack/c1/" + file); got != want {
					t.Errorf("after Create(%+v): %s = %q, want %q", tt.r, file, got, want)
				}
			}
			for _, rel := range []string{"cgroup.subtree_control", "stack/cgroup.subtree_control"} {
				if got, want := f.get(rel), "+memory +pids +cpu"; got != want {
					t.Errorf("after Create: %s = %q, want %q", rel, got, want)
				}
			}
			// The leaf holds the processes: never enable controllers in it.
			if got := f.get("stack/c1/cgroup.subtree_control"); got != "" {
				t.Errorf("after Create: leaf cgroup.subtree_control = %q, want it untouched", got)
			}
		})
	}
}

func TestV2SetResetsLimits(t *testing.T) {
	f, m := newFakeV2(t)
	f.put("stack/c1", map[string]string{"cpuset.cpus": "", "cpuset.mems": ""}) // as +cpuset adds them
	if err := m.Create(Resources{MemoryLimit: 32 * mib, CPUQuota: 150000, PidsLimit: 10, CpusetCpus: "0-1"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(Resources{}); err != nil {
		t.Fatalf("Set(zero) = %v", err)
	}
	for file, want := range map[string]string{"memory.max": "max", "cpu.max": "max 100000", "pids.max": "max", "cpuset.cpus": "\n"} {
		if got := f.get("stack/c1/" + file); got != want {
			t.Errorf("after Set(zero): %s = %q, want %q", file, got, want)
		}
	}
}

func TestV2EnableControllers(t *testing.T) {
	t.Run("cpuset only when asked", func(t *testing.T) {
		f, m := newFakeV2(t)
		f.put("stack/c1", map[string]string{"cpuset.cpus": "", "cpuset.mems": ""})
		if err := m.Create(Resources{CpusetCpus: "0", CpusetMems: "0"}); err != nil {
			t.Fatal(err)
		}
		if got, want := f.get("cgroup.subtree_control"), "+memory +pids +cpu +cpuset"; got != want {
			t.Errorf("cgroup.subtree_control = %q, want %q", got, want)
		}
		if got := f.get("stack/c1/cpuset.cpus"); got != "0" {
			t.Errorf("cpuset.cpus = %q, want %q", got, "0")
		}
	})
	t.Run("already enabled is not rewritten", func(t *testing.T) {
		f, m := newFakeV2(t)
		// As the kernel prints it: bare names.
		f.put(".", map[string]string{"cgroup.subtree_control": "cpu memory pids"})
		f.put("stack", map[string]string{"cgroup.subtree_control": "cpu io memory pids"})
		f.put("stack/c1", map[string]string{"cpuset.cpus": "", "cpuset.mems": ""})
		if err := m.Create(Resources{CpusetCpus: "1"}); err != nil {
			t.Fatal(err)
		}
		if got, want := f.get("cgroup.subtree_control"), "+cpuset"; got != want {
			t.Errorf("cgroup.subtree_control = %q, want %q", got, want)
		}
		if got, want := f.get("stack/cgroup.subtree_control"), "+cpuset"; got != want {
			t.Errorf("stack/cgroup.subtree_control = %q, want %q", got, want)
		}
	})
	t.Run("controllers the parent lacks are skipped", func(t *testing.T) {
		f, m := newFakeV2(t)
		f.put(".", map[string]string{"cgroup.controllers": "memory pids"})
		f.put("stack/c1", map[string]string{"cpu.max": "", "cpu.weight": ""})
		os.Remove(filepath.Join(f.root, "stack/c1/cpu.max"))
		os.Remove(filepath.Join(f.root, "stack/c1/cpu.weight"))
		if err := m.Create(Resources{MemoryLimit: mib}); err != nil {
			t.Fatalf("Create without cpu limits on a host without cpu = %v", err)
		}
		if got, want := f.get("cgroup.subtree_control"), "+memory +pids"; got != want {
			t.Errorf("cgroup.subtree_control = %q, want %q", got, want)
		}
		// A limit that needs the missing controller is an error that names
		// the file and the value.
		err := m.Set(Resources{CPUQuota: 150000})
		want := `cgroup stack/c1: write cpu.max "150000 100000": no such file or directory`
		if err == nil || err.Error() != want {
			t.Fatalf("Set(CPUQuota) = %v, want %q", err, want)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
		}
	})
	t.Run("creates missing levels", func(t *testing.T) {
		f := fakeTree{t: t, root: t.TempDir()}
		f.put(".", map[string]string{"cgroup.controllers": "cpu memory pids", "cgroup.subtree_control": ""})
		m, err := NewAt(Unified, nil, f.root, "a/b")
		if err != nil {
			t.Fatal(err)
		}
		// "a" is a plain directory in the fake, without cgroup.controllers:
		// the kernel would have populated it.
		err = m.Create(Resources{})
		want := "cgroup a/b: read /a/cgroup.controllers: no such file or directory"
		if err == nil || err.Error() != want {
			t.Fatalf("Create() = %v, want %q", err, want)
		}
		if _, err := os.Stat(filepath.Join(f.root, "a")); err != nil {
			t.Errorf("parent a not created: %v", err)
		}
	})
}

func TestV2Processes(t *testing.T) {
	f, m := newFakeV2(t)
	if err := m.Add(1234); err != nil {
		t.Fatalf("Add(1234) = %v", err)
	}
	if got := f.get("stack/c1/cgroup.procs"); got != "1234" {
		t.Errorf("cgroup.procs = %q, want %q", got, "1234")
	}
	f.put("stack/c1", map[string]string{"cgroup.procs": "5\n3\n"})
	f.put("stack/c1/sub", map[string]string{"cgroup.procs": "7\n3\n"})
	got, err := m.Procs()
	if err != nil || !slices.Equal(got, []int{3, 5, 7}) {
		t.Errorf("Procs() = %v, %v, want [3 5 7]", got, err)
	}
	// The root is never touched: processes only ever go into the leaf.
	if got := f.get("cgroup.procs"); got != "1\n" {
		t.Errorf("root cgroup.procs = %q, want it untouched", got)
	}

	fd, ok := m.FD()
	if !ok {
		t.Fatal("FD() = false on v2")
	}
	syscall.Close(fd)

	if err := m.Kill(syscall.SIGKILL); err != nil {
		t.Fatalf("Kill(SIGKILL) = %v", err)
	}
	if got := f.get("stack/c1/cgroup.kill"); got != "1" {
		t.Errorf("cgroup.kill = %q, want %q", got, "1")
	}
}

func TestV2FreezeState(t *testing.T) {
	f, m := newFakeV2(t)
	if p, err := m.Paused(); p || err != nil {
		t.Errorf("Paused() = %v, %v, want false", p, err)
	}
	// The fake kernel has already frozen: Freeze writes and sees it.
	f.put("stack/c1", map[string]string{"cgroup.events": "populated 1\nfrozen 1\n"})
	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze() = %v", err)
	}
	if got := f.get("stack/c1/cgroup.freeze"); got != "1" {
		t.Errorf("cgroup.freeze = %q, want %q", got, "1")
	}
	if p, err := m.Paused(); !p || err != nil {
		t.Errorf("Paused() = %v, %v, want true", p, err)
	}
}

func TestV2OOMAndStats(t *testing.T) {
	f, m := newFakeV2(t)
	if oom, err := m.OOMKilled(); oom || err != nil {
		t.Errorf("OOMKilled() = %v, %v, want false", oom, err)
	}
	f.put("stack/c1", map[string]string{
		"memory.events":  "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 0\n",
		"memory.current": "1048576\n",
		"memory.max":     "16777216\n",
		"memory.stat":    "anon 4096\nfile 8192\ninactive_file 4096\nactive_file 4096\n",
		"cpu.stat":       "usage_usec 7\nuser_usec 5\nsystem_usec 2\n",
		"pids.current":   "2\n",
		"pids.max":       "max\n",
	})
	if oom, err := m.OOMKilled(); !oom || err != nil {
		t.Errorf("OOMKilled() = %v, %v, want true", oom, err)
	}
	got, err := m.Stats()
	want := Stats{MemoryUsage: 1048576, MemoryInactiveFile: 4096, MemoryLimit: 16777216, CPUUsage: 7000, PidsCurrent: 2}
	if err != nil || got != want {
		t.Errorf("Stats() = %+v, %v, want %+v", got, err, want)
	}
	if err := m.DevicesDenyAllExcept(DefaultDeviceRules()); err != nil {
		t.Errorf("DevicesDenyAllExcept on v2 = %v, want nil (no-op)", err)
	}
}

func TestV2MissingCgroup(t *testing.T) {
	f := fakeTree{t: t, root: t.TempDir()}
	m, err := NewAt(Unified, nil, f.root, "stack/gone")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("Destroy() of a missing cgroup = %v, want nil", err)
	}
	for name, err := range map[string]error{
		"Set":  m.Set(Resources{}),
		"Add":  m.Add(1),
		"Kill": m.Kill(syscall.SIGTERM),
	} {
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s on a missing cgroup = %v, want fs.ErrNotExist", name, err)
		}
	}
	if _, ok := m.FD(); ok {
		t.Error("FD() of a missing cgroup = true")
	}
}

// newFakeV1 lays out a hybrid host in a temporary directory: one directory
// per hierarchy, cpu and cpuacct co-mounted, name=systemd, and a unified
// mount, with "stack/c1" already populated as the kernel would on mkdir.
func newFakeV1(t *testing.T) (fakeTree, Manager) {
	f := fakeTree{t: t, root: t.TempDir()}
	mounts := map[string]string{}
	for _, h := range []string{"cpu,cpuacct", "cpuset", "memory", "pids", "freezer", "devices", "blkio", "systemd", "net_cls"} {
		for _, c := range strings.Split(h, ",") {
			if c == "systemd" {
				c = "name=systemd"
			}
			mounts[c] = filepath.Join(f.root, h)
		}
		for _, rel := range []string{h, h + "/stack", h + "/stack/c1"} {
			f.put(rel, map[string]string{"cgroup.procs": ""})
		}
	}
	f.put("cpuset", map[string]string{"cpuset.cpus": "0-3\n", "cpuset.mems": "0\n"})
	for _, rel := range []string{"cpuset/stack", "cpuset/stack/c1"} {
		f.put(rel, map[string]string{"cpuset.cpus": "\n", "cpuset.mems": "\n"})
	}
	f.put("memory/stack/c1", map[string]string{
		"memory.limit_in_bytes":       "9223372036854771712\n",
		"memory.memsw.limit_in_bytes": "9223372036854771712\n",
		"memory.soft_limit_in_bytes":  "9223372036854771712\n",
		"memory.oom_control":          "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
	})
	f.put("cpu,cpuacct/stack/c1", map[string]string{
		"cpu.cfs_period_us": "100000\n", "cpu.cfs_quota_us": "-1\n", "cpu.shares": "1024\n",
	})
	f.put("pids/stack/c1", map[string]string{"pids.max": "max\n"})
	f.put("devices/stack/c1", map[string]string{"devices.deny": "", "devices.allow": ""})
	f.put("unified/stack/c1", map[string]string{"cgroup.procs": ""})
	m, err := NewAt(Hybrid, mounts, filepath.Join(f.root, "unified"), "stack/c1")
	if err != nil {
		t.Fatal(err)
	}
	return f, m
}

func TestV1CreateWritesLimits(t *testing.T) {
	f, m := newFakeV1(t)
	r := Resources{MemoryLimit: 32 * mib, MemoryReservation: 8 * mib, CPUQuota: 50000, CPUShares: 512, PidsLimit: 10}
	if err := m.Create(r); err != nil {
		t.Fatalf("Create(%+v) = %v", r, err)
	}
	for file, want := range map[string]string{
		// cpuset copied down level by level: Add would fail with ENOSPC.
		"cpuset/stack/cpuset.cpus":    "0-3",
		"cpuset/stack/cpuset.mems":    "0",
		"cpuset/stack/c1/cpuset.cpus": "0-3",
		"cpuset/stack/c1/cpuset.mems": "0",

		"memory/stack/c1/memory.limit_in_bytes":       "33554432",
		"memory/stack/c1/memory.memsw.limit_in_bytes": "33554432",
		"memory/stack/c1/memory.soft_limit_in_bytes":  "8388608",
		"cpu,cpuacct/stack/c1/cpu.cfs_period_us":      "100000",
		"cpu,cpuacct/stack/c1/cpu.cfs_quota_us":       "50000",
		"cpu,cpuacct/stack/c1/cpu.shares":             "512",
		"pids/stack/c1/pids.max":                      "10",
	} {
		if got := f.get(file); got != want {
			t.Errorf("after Create: %s = %q, want %q", file, got, want)
		}
	}

	if err := m.Add(42); err != nil {
		t.Fatalf("Add(42) = %v", err)
	}
	for _, h := range []string{"cpu,cpuacct", "cpuset", "memory", "pids", "freezer", "devices", "blkio", "systemd", "unified"} {
		if got := f.get(h + "/stack/c1/cgroup.procs"); got != "42" {
			t.Errorf("after Add(42): %s cgroup.procs = %q, want %q", h, got, "42")
		}
	}
	// Hierarchies we do not join are left alone.
	if got := f.get("net_cls/stack/c1/cgroup.procs"); got != "" {
		t.Errorf("net_cls cgroup.procs = %q, want it untouched", got)
	}
	if _, ok := m.FD(); ok {
		t.Error("FD() = true on a hybrid host, want false")
	}

	if err := m.DevicesDenyAllExcept(DefaultDeviceRules()); err != nil {
		t.Fatalf("DevicesDenyAllExcept = %v", err)
	}
	if got := f.get("devices/stack/c1/devices.deny"); got != "a" {
		t.Errorf("devices.deny = %q, want %q", got, "a")
	}
}

func TestV1ErrorsNameHierarchy(t *testing.T) {
	f, m := newFakeV1(t)
	os.Remove(filepath.Join(f.root, "freezer/stack/c1/cgroup.procs"))
	err := m.Add(42)
	want := `cgroup stack/c1: write freezer:cgroup.procs "42": no such file or directory`
	if err == nil || err.Error() != want {
		t.Errorf("Add(42) = %v, want %q", err, want)
	}
	os.Remove(filepath.Join(f.root, "cpuset/stack/c1/cpuset.mems"))
	err = m.Create(Resources{})
	want = `cgroup stack/c1: read cpuset.mems: no such file or directory`
	if err == nil || err.Error() != want {
		t.Errorf("Create() = %v, want %q", err, want)
	}
}

func TestErrorFormat(t *testing.T) {
	err := &Error{Cgroup: "stack/abc", Op: "write", File: "memory.limit_in_bytes", Value: "1048576", Err: syscall.EBUSY}
	if got, want := err.Error(), `cgroup stack/abc: write memory.limit_in_bytes "1048576": device or resource busy`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, syscall.EBUSY) {
		t.Error("errors.Is(err, EBUSY) = false")
	}
}

func TestInvalid(t *testing.T) {
	for _, tt := range []struct {
		name string
		path string
		r    Resources
		want string
	}{
		{name: "absolute", path: "/stack/a", want: `cgroup path "/stack/a": invalid argument: want a clean relative path such as "stack/<id>"`},
		{name: "dotdot", path: "stack/../../etc", want: `cgroup path "stack/../../etc": invalid argument: want a clean relative path such as "stack/<id>"`},
		{name: "empty", path: "", want: `cgroup path "": invalid argument: want a clean relative path such as "stack/<id>"`},
		{name: "swap below memory", path: "stack/a", r: Resources{MemoryLimit: 2 * mib, MemorySwap: mib}, want: "cgroup stack/a: invalid argument: MemorySwap 1048576 is less than MemoryLimit 2097152"},
		{name: "swap without memory", path: "stack/a", r: Resources{MemorySwap: mib}, want: "cgroup stack/a: invalid argument: MemorySwap 1048576 needs a MemoryLimit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewAt(Unified, nil, t.TempDir(), tt.path)
			if err == nil {
				err = m.Create(tt.r)
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Errorf("errors.Is(%v, errdefs.ErrInvalid) = false", err)
			}
		})
	}
}

func TestSharesToWeight(t *testing.T) {
	for _, tt := range []struct{ shares, want uint64 }{
		{0, 0}, {2, 1}, {1024, 39}, {512, 20}, {262144, 10000}, {1, 1}, {1 << 30, 10000},
	} {
		if got := SharesToWeight(tt.shares); got != tt.want {
			t.Errorf("SharesToWeight(%d) = %d, want %d", tt.shares, got, tt.want)
		}
	}
}

func TestDeviceRuleString(t *testing.T) {
	got := make([]string, 0)
	for _, r := range DefaultDeviceRules() {
		if err := r.validate(); err != nil {
			t.Errorf("default rule %v: %v", r, err)
		}
		got = append(got, r.String())
	}
	want := []string{
		"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
		"c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
	}
	if !slices.Equal(got, want) {
		t.Errorf("DefaultDeviceRules() = %q, want %q", got, want)
	}
	bad := DeviceRule{Type: 'x', Major: 1, Minor: 1, Access: "rwm"}
	if err := bad.validate(); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("validate(%v) = %v, want ErrInvalid", bad, err)
	}
}
