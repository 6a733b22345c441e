package cgroups

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// hybridMountinfo is /proc/self/mountinfo of the machines this project runs
// on: v1 controllers one per directory, name=systemd, and cgroup2 at
// /sys/fs/cgroup/unified (which holds hugetlb).
const hybridMountinfo = `22 1 0:20 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
37 30 0:34 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

// unifiedMountinfo is a systemd host booted with the unified hierarchy.
const unifiedMountinfo = `24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
36 24 0:31 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw
`

// legacyMountinfo is an older systemd host: co-mounted controllers, options
// that are not controllers, no cgroup2, a bind mount of memory elsewhere,
// and a mount point with a space.
const legacyMountinfo = `25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,net_cls,net_prio
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
31 25 0:28 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,clone_children,cpuset
32 25 0:29 / /mnt/my\040pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
33 18 0:27 / /var/lib/other/memory rw,relatime shared:14 - cgroup cgroup rw,memory
`

func TestParseMountinfo(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantMode    Mode
		wantV1      map[string]string
		wantUnified string
		wantErr     string
	}{
		{
			name:     "hybrid",
			in:       hybridMountinfo,
			wantMode: Hybrid,
			wantV1: map[string]string{
				"cpu":          "/sys/fs/cgroup/cpu",
				"cpuacct":      "/sys/fs/cgroup/cpuacct",
				"cpuset":       "/sys/fs/cgroup/cpuset",
				"memory":       "/sys/fs/cgroup/memory",
				"devices":      "/sys/fs/cgroup/devices",
				"freezer":      "/sys/fs/cgroup/freezer",
				"blkio":        "/sys/fs/cgroup/blkio",
				"pids":         "/sys/fs/cgroup/pids",
				"name=systemd": "/sys/fs/cgroup/systemd",
			},
			wantUnified: "/sys/fs/cgroup/unified",
		},
		{
			name:        "unified",
			in:          unifiedMountinfo,
			wantMode:    Unified,
			wantUnified: "/sys/fs/cgroup",
		},
		{
			name:     "legacy",
			in:       legacyMountinfo,
			wantMode: Legacy,
			wantV1: map[string]string{
				"name=systemd": "/sys/fs/cgroup/systemd",
				"cpu":          "/sys/fs/cgroup/cpu,cpuacct",
				"cpuacct":      "/sys/fs/cgroup/cpu,cpuacct",
				"net_cls":      "/sys/fs/cgroup/net_cls,net_prio",
				"net_prio":     "/sys/fs/cgroup/net_cls,net_prio",
				"memory":       "/sys/fs/cgroup/memory", // the first mount wins
				"cpuset":       "/sys/fs/cgroup/cpuset",
				"pids":         "/mnt/my pids",
			},
		},
		{
			name:    "none",
			in:      "22 1 0:20 / /sys rw - sysfs sysfs rw\n",
			wantErr: "detect cgroups: no cgroup or cgroup2 mount in mountinfo",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMountinfo(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("parseMountinfo() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseMountinfo() error = %v", err)
			}
			if got.mode != tt.wantMode {
				t.Errorf("parseMountinfo().mode = %v, want %v", got.mode, tt.wantMode)
			}
			if got.unified != tt.wantUnified {
				t.Errorf("parseMountinfo().unified = %q, want %q", got.unified, tt.wantUnified)
			}
			if !maps.Equal(got.v1, tt.wantV1) {
				t.Errorf("parseMountinfo().v1 = %v, want %v", got.v1, tt.wantV1)
			}
		})
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{Unified: "unified", Legacy: "legacy", Hybrid: "hybrid", 0: "Mode(0)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
}

// TestDetectHost only checks that detection on this host agrees with its
// own mountinfo; it needs no root.
func TestDetectHost(t *testing.T) {
	mode, err := Detect()
	if err != nil {
		t.Skipf("no cgroup filesystem here: %v", err)
	}
	t.Logf("host cgroup mode: %v", mode)
	if mode != Unified && mode != Legacy && mode != Hybrid {
		t.Errorf("Detect() = %v", mode)
	}
}

// V1Mounts gives each hierarchy once, by mount point, with the options
// that mount it again: co-mounted controllers together, name= kept,
// rw, xattr, release_agent and clone_children dropped.
func TestV1Mounts(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     []V1Mount
	}{
		{"hybrid", hybridMountinfo, []V1Mount{
			{"blkio", "blkio"}, {"cpu", "cpu"}, {"cpuacct", "cpuacct"}, {"cpuset", "cpuset"}, {"devices", "devices"},
			{"freezer", "freezer"}, {"memory", "memory"}, {"pids", "pids"}, {"systemd", "name=systemd"},
		}},
		{"legacy", legacyMountinfo, []V1Mount{
			{"cpu,cpuacct", "cpu,cpuacct"}, {"cpuset", "cpuset"}, {"memory", "memory"},
			{"my pids", "pids"}, {"net_cls,net_prio", "net_cls,net_prio"}, {"systemd", "name=systemd"},
		}},
		{"unified", unifiedMountinfo, []V1Mount{}},
	} {
		l, err := parseMountinfo(strings.NewReader(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := l.v1Mounts(); !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n got %v\nwant %v", tt.name, got, tt.want)
		}
	}
}
