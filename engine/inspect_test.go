package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"stack/engine/container"
	"stack/engine/enginetest"
	"stack/engine/oci"
	"stack/engine/state"
)

// testContainer builds a container as Create would, without an image or
// a state root.
func testContainer(t *testing.T, st *container.State, opts ...oci.SpecOpt) (*Container, container.Paths) {
	t.Helper()
	root := state.Root{Dir: "/var/lib/stack", RunDir: "/run/stack"}
	id := strings.Repeat("0123456789abcdef", 4)
	p := container.PathsFor(root, id)
	base := []oci.SpecOpt{
		oci.WithProcessArgs(nil, []string{"-g", "daemon off;"}, []string{"/docker-entrypoint.sh", "nginx"}, nil),
		oci.WithEnv([]string{"PATH=/usr/bin:/bin", "NGINX_VERSION=1.25"}, []string{"A=1"}),
		oci.WithHostname("web1"),
		oci.WithUser("nginx"),
		oci.WithWorkdir("/srv"),
		oci.WithMounts([]specs.Mount{
			{Destination: "/etc/hosts", Type: "bind", Source: p.Hosts(), Options: []string{"rbind", "rprivate"}},
			{Destination: "/etc/hostname", Type: "bind", Source: p.Hostname(), Options: []string{"rbind", "rprivate"}},
			{Destination: "/etc/resolv.conf", Type: "bind", Source: p.ResolvConf(), Options: []string{"rbind", "rprivate"}},
		}),
	}
	spec, err := oci.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	timeout := 5
	cfg := &container.Config{
		ID:          id,
		Name:        "demo-web-1",
		Created:     time.Date(2024, 5, 6, 12, 0, 0, 123456789, time.UTC),
		Image:       "sha256:" + strings.Repeat("ab", 32),
		ImageName:   "nginx:1.25",
		Labels:      map[string]string{"com.docker.compose.service": "web"},
		Spec:        spec,
		Entrypoint:  []string{"/docker-entrypoint.sh", "nginx"},
		Cmd:         []string{"-g", "daemon off;"},
		Restart:     container.RestartPolicy{Name: "on-failure", MaxRetries: 3},
		StopSignal:  "SIGQUIT",
		StopTimeout: &timeout,
		NetworkMode: "none",
	}
	return &Container{Config: cfg, State: st}, p
}

func TestInspect(t *testing.T) {
	started := time.Date(2024, 5, 6, 12, 0, 1, 0, time.UTC)
	st := &container.State{
		Status:       container.Running,
		Pid:          4242,
		StartedAt:    started,
		RestartCount: 2,
		Health: &container.Health{Status: "healthy", FailingStreak: 0, Log: []container.HealthProbe{
			{Start: started, End: started.Add(time.Millisecond), ExitCode: 0, Output: "ok\n"},
		}},
	}
	c, p := testContainer(t, st,
		oci.WithMemory(512<<20, 0, 0),
		oci.WithCPUs(1.5),
		oci.WithCPUShares(512),
		oci.WithPidsLimit(100),
		oci.WithCapabilities([]string{"NET_ADMIN"}, []string{"MKNOD"}),
		oci.WithReadonlyRootfs(true),
		oci.WithSecurityOpts([]string{"no-new-privileges"}),
		oci.WithSysctls(map[string]string{"net.core.somaxconn": "1024"}),
		oci.WithUlimits(map[string]oci.Ulimit{"nofile": {Soft: 100, Hard: 200}, "core": {Soft: -1, Hard: -1}}),
		oci.WithShmSize(128<<20),
		oci.WithTmpfs("/run", []string{"size=1m"}),
		oci.WithMounts([]specs.Mount{
			{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "ro"}},
			{Destination: "/cache", Type: "bind", Source: "/srv/cache", Options: []string{"rbind", "rslave"}},
		}),
	)
	c.Config.AutoRemove = false
	c.Config.OpenStdin = true
	got := inspect(c, p)

	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	check("Id", got.ID, c.Config.ID)
	check("Created", got.Created, "2024-05-06T12:00:00.123456789Z")
	check("Path", got.Path, "/docker-entrypoint.sh")
	check("Args", got.Args, []string{"nginx", "-g", "daemon off;"})
	check("Name", got.Name, "/demo-web-1")
	check("Image", got.Image, c.Config.Image)
	check("RestartCount", got.RestartCount, 2)
	check("LogPath", got.LogPath, p.Log())
	check("HostsPath", got.HostsPath, p.Hosts())
	check("HostnamePath", got.HostnamePath, p.Hostname())
	check("ResolvConfPath", got.ResolvConfPath, p.ResolvConf())

	check("State", got.State, InspectState{
		Status: "running", Running: true, Pid: 4242,
		StartedAt: "2024-05-06T12:00:01Z", FinishedAt: "0001-01-01T00:00:00Z",
		Health: &InspectHealth{Status: "healthy", Log: []InspectHealthProbe{
			{Start: "2024-05-06T12:00:01Z", End: "2024-05-06T12:00:01.001Z", Output: "ok\n"},
		}},
	})

	h := got.HostConfig
	check("Memory", h.Memory, int64(512<<20))
	check("MemorySwap", h.MemorySwap, int64(1024<<20))
	check("NanoCpus", h.NanoCpus, int64(1_500_000_000))
	check("CpuQuota", h.CpuQuota, int64(150000))
	check("CpuPeriod", h.CpuPeriod, int64(100000))
	check("CpuShares", h.CpuShares, int64(512))
	check("PidsLimit", *h.PidsLimit, int64(100))
	check("CapAdd", h.CapAdd, []string{"CAP_NET_ADMIN"})
	check("CapDrop", h.CapDrop, []string{"CAP_MKNOD"})
	check("Privileged", h.Privileged, false)
	check("ReadonlyRootfs", h.ReadonlyRootfs, true)
	check("RestartPolicy", h.RestartPolicy, InspectRestartPolicy{Name: "on-failure", MaximumRetryCount: 3})
	check("NetworkMode", h.NetworkMode, "none")
	check("Sysctls", h.Sysctls, map[string]string{"net.core.somaxconn": "1024"})
	check("Ulimits", h.Ulimits, []InspectUlimit{{Name: "nofile", Soft: 100, Hard: 200}, {Name: "core", Soft: -1, Hard: -1}})
	check("ShmSize", h.ShmSize, int64(128<<20))
	check("SecurityOpt", h.SecurityOpt, []string{"no-new-privileges:true"})
	check("Tmpfs", h.Tmpfs, map[string]string{"/run": "noexec,nosuid,nodev,size=1m"})
	check("LogConfig", h.LogConfig, InspectLogConfig{Type: "json-file", Config: map[string]string{}})

	check("Mounts", got.Mounts, []InspectMount{
		{Type: "bind", Source: "/srv/data", Destination: "/data", Mode: "ro", RW: false, Propagation: "rprivate"},
		{Type: "bind", Source: "/srv/cache", Destination: "/cache", RW: true, Propagation: "rslave"},
	})

	cfg := got.Config
	check("Config.Hostname", cfg.Hostname, "web1")
	check("Config.User", cfg.User, "nginx")
	check("Config.Image", cfg.Image, "nginx:1.25")
	check("Config.WorkingDir", cfg.WorkingDir, "/srv")
	check("Config.Entrypoint", cfg.Entrypoint, []string{"/docker-entrypoint.sh", "nginx"})
	check("Config.Cmd", cfg.Cmd, []string{"-g", "daemon off;"})
	check("Config.Labels", cfg.Labels, map[string]string{"com.docker.compose.service": "web"})
	check("Config.StopSignal", cfg.StopSignal, "SIGQUIT")
	check("Config.StopTimeout", *cfg.StopTimeout, 5)
	check("Config.OpenStdin", cfg.OpenStdin, true)
	check("Config.Tty", cfg.Tty, false)
	if !slices.Contains(cfg.Env, "A=1") || !slices.Contains(cfg.Env, "NGINX_VERSION=1.25") {
		t.Errorf("Config.Env = %q, want the image's and the user's variables", cfg.Env)
	}
}

// TestInspectDefaults checks docker's shapes for a container created with
// nothing set and never started.
func TestInspectDefaults(t *testing.T) {
	c, p := testContainer(t, &container.State{Status: container.Created})
	c.Config.Labels = nil
	c.Config.Restart = container.RestartPolicy{}
	got := inspect(c, p)
	h := got.HostConfig
	if h.Memory != 0 || h.NanoCpus != 0 || h.PidsLimit != nil || h.CapAdd != nil || h.CapDrop != nil ||
		h.Sysctls != nil || h.Ulimits != nil || h.SecurityOpt != nil || h.Tmpfs != nil {
		t.Errorf("HostConfig of a default container = %+v, want no limits or options", h)
	}
	if h.ShmSize != oci.DefaultShmSize {
		t.Errorf("ShmSize = %d, want %d", h.ShmSize, oci.DefaultShmSize)
	}
	if h.RestartPolicy.Name != "no" {
		t.Errorf("RestartPolicy.Name = %q, want \"no\"", h.RestartPolicy.Name)
	}
	if got.State.Status != "created" || got.State.Running || got.State.StartedAt != "0001-01-01T00:00:00Z" {
		t.Errorf("State = %+v, want created, not running, zero times", got.State)
	}

	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"Id", "Created", "Path", "Args", "State", "Image", "Name", "RestartCount", "HostConfig", "Mounts", "Config", "LogPath", "HostsPath", "HostnamePath", "ResolvConfPath"} {
		if _, ok := m[key]; !ok {
			t.Errorf("JSON has no %q key", key)
		}
	}
	if _, ok := m["State"].(map[string]any)["Health"]; ok {
		t.Error("JSON State has Health without a healthcheck")
	}
	if v, _ := json.Marshal(m["Mounts"]); string(v) != "[]" {
		t.Errorf("JSON Mounts = %s, want []", v)
	}
	if v, _ := json.Marshal(m["Config"].(map[string]any)["Labels"]); string(v) != "{}" {
		t.Errorf("JSON Config.Labels = %s, want {}", v)
	}
	if v, _ := json.Marshal(m["HostConfig"].(map[string]any)["PidsLimit"]); string(v) != "null" {
		t.Errorf("JSON HostConfig.PidsLimit = %s, want null", v)
	}
}

func TestInspectStates(t *testing.T) {
	tests := []struct {
		status                            container.Status
		running, paused, restarting, dead bool
	}{
		{status: container.Created},
		{status: container.Running, running: true},
		{status: container.Paused, running: true, paused: true},
		{status: container.Restarting, running: true, restarting: true},
		{status: container.Exited},
		{status: container.Dead, dead: true},
	}
	for _, tt := range tests {
		s := inspectState(&container.State{Status: tt.status})
		if s.Status != string(tt.status) || s.Running != tt.running || s.Paused != tt.paused || s.Restarting != tt.restarting || s.Dead != tt.dead {
			t.Errorf("inspectState(%s) = %+v", tt.status, s)
		}
	}
}

func TestInspectPrivileged(t *testing.T) {
	c, p := testContainer(t, &container.State{Status: container.Created}, oci.WithPrivileged())
	h := inspect(c, p).HostConfig
	if !h.Privileged || h.CapAdd != nil || h.CapDrop != nil || h.SecurityOpt != nil {
		t.Errorf("privileged HostConfig: Privileged %v, CapAdd %v, CapDrop %v, SecurityOpt %v; want true and no lists",
			h.Privileged, h.CapAdd, h.CapDrop, h.SecurityOpt)
	}
}

func TestParseStat(t *testing.T) {
	// comm with a space and a parenthesis, as a process can name itself.
	line := "1234 (my (odd) proc) S 1 1234 1234 34816 1234 4194560 100 0 0 0 250 50 0 0 20 0 1 0 9000 1000000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
	got, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{comm: "my (odd) proc", ppid: 1, ttyNr: 34816, utime: 250, stime: 50, starttime: 9000}
	if got != want {
		t.Errorf("parseStat = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "1234 noparen S 1", "1 (x) S 1 2"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

func TestTopColumns(t *testing.T) {
	ttys := []struct {
		nr   int
		want string
	}{
		{0, "?"},
		{136<<8 | 0, "pts/0"},
		{136<<8 | 5, "pts/5"},
		{137<<8 | 2, "pts/258"},
		{(136 << 8) | (1 << 20) | 3, "pts/259"}, // minor 259: high bits above bit 20
		{4<<8 | 1, "tty1"},
		{4<<8 | 64, "ttyS0"},
		{5<<8 | 1, "console"},
		{200 << 8, "?"},
	}
	for _, tt := range ttys {
		if got := ttyName(tt.nr); got != tt.want {
			t.Errorf("ttyName(%#x) = %q, want %q", tt.nr, got, tt.want)
		}
	}

	times := []struct {
		d    time.Duration
		want string
	}{
		{0, "00:00:00"},
		{3 * time.Second, "00:00:03"},
		{90 * time.Minute, "01:30:00"},
		{49*time.Hour + 61*time.Second, "2-01:01:01"},
	}
	for _, tt := range times {
		if got := formatCPUTime(tt.d); got != tt.want {
			t.Errorf("formatCPUTime(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}

	now := time.Date(2024, 5, 6, 12, 0, 0, 0, time.Local)
	stimes := []struct {
		start time.Time
		want  string
	}{
		{now.Add(-time.Hour), "11:00"},
		{time.Date(2024, 5, 6, 0, 1, 0, 0, time.Local), "00:01"},
		{time.Date(2024, 5, 5, 23, 59, 0, 0, time.Local), "May05"},
		{time.Date(2024, 1, 2, 3, 4, 0, 0, time.Local), "Jan02"},
		{time.Date(2023, 12, 31, 23, 0, 0, 0, time.Local), "2023"},
	}
	for _, tt := range stimes {
		if got := formatSTime(tt.start, now); got != tt.want {
			t.Errorf("formatSTime(%v) = %q, want %q", tt.start, got, tt.want)
		}
	}

	cpus := []struct {
		cpu, life time.Duration
		want      int
	}{
		{0, time.Minute, 0},
		{30 * time.Second, time.Minute, 50},
		{2 * time.Minute, time.Minute, 99},
		{time.Second, 0, 0},
	}
	for _, tt := range cpus {
		if got := cpuPercent(tt.cpu, tt.life); got != tt.want {
			t.Errorf("cpuPercent(%v, %v) = %d, want %d", tt.cpu, tt.life, got, tt.want)
		}
	}

	if got := commandLine([]byte("sleep\x00100\x00"), "sleep"); got != "sleep 100" {
		t.Errorf("commandLine = %q, want %q", got, "sleep 100")
	}
	if got := commandLine(nil, "kworker/0:1"); got != "[kworker/0:1]" {
		t.Errorf("commandLine of a kernel thread = %q, want %q", got, "[kworker/0:1]")
	}
}

func TestReadPasswd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	data := "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\ntoor:x:0:0::/root:/bin/sh\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	got := readPasswd(path)
	want := map[int]string{0: "root", 33: "www-data"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readPasswd = %v, want %v", got, want)
	}
	if got := readPasswd(filepath.Join(t.TempDir(), "missing")); len(got) != 0 {
		t.Errorf("readPasswd of a missing file = %v, want empty", got)
	}
}

// TestProcReaderSelf reads this test's own process from the host's /proc,
// which needs no root.
func TestProcReaderSelf(t *testing.T) {
	passwd := filepath.Join(t.TempDir(), "passwd")
	uid := os.Geteuid()
	if err := os.WriteFile(passwd, []byte("tester:x:"+strconv.Itoa(uid)+":0::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := newProcReader("/proc", passwd, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rows := r.rows([]int{os.Getpid(), 1 << 30}) // the second pid does not exist
	if len(rows) != 1 {
		t.Fatalf("rows = %q, want one row", rows)
	}
	row := rows[0]
	if len(row) != len(topTitles) {
		t.Fatalf("row = %q, want %d columns", row, len(topTitles))
	}
	if row[0] != "tester" || row[1] != strconv.Itoa(os.Getpid()) || row[2] != strconv.Itoa(os.Getppid()) {
		t.Errorf("UID, PID, PPID = %q, want tester, %d, %d", row[:3], os.Getpid(), os.Getppid())
	}
	if !strings.Contains(row[7], filepath.Base(os.Args[0])) {
		t.Errorf("CMD = %q, want it to name %q", row[7], os.Args[0])
	}
}

// TestTopAndInspectRunning runs a real container (root) and checks Top and
// Inspect against it.
func TestTopAndInspectRunning(t *testing.T) {
	enginetest.RequireRoot(t)
	enginetest.LeakCheck(t)
	e, err := Open(enginetest.NewRoot(t), Options{ReapShims: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.Images.Import(ctx, bytes.NewReader(enginetest.BusyboxTar(t)), "busybox:test", nil); err != nil {
		t.Fatalf("import busybox: %v", err)
	}
	c, err := e.Create(ctx, CreateOptions{Image: "busybox:test", Cmd: []string{"sleep", "100"}, SpecOpts: []oci.SpecOpt{oci.WithPidsLimit(50)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Remove(ctx, c.ID(), true); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	if _, _, err := e.Top(c.ID()); !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), c.Name()) {
		t.Errorf("Top of a created container: %v, want ErrNotRunning naming %q", err, c.Name())
	}
	if err := e.Start(ctx, c.ID()); err != nil {
		t.Fatal(err)
	}
	titles, rows, err := e.Top(c.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(titles, topTitles) {
		t.Errorf("titles = %q, want %q", titles, topTitles)
	}
	info, err := e.Inspect(c.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !info.State.Running || info.State.Pid == 0 || info.State.StartedAt == "0001-01-01T00:00:00Z" {
		t.Errorf("State = %+v, want running with a pid and a start time", info.State)
	}
	if info.HostConfig.PidsLimit == nil || *info.HostConfig.PidsLimit != 50 {
		t.Errorf("PidsLimit = %v, want 50", info.HostConfig.PidsLimit)
	}
	var sleep bool
	for _, r := range rows {
		if r[7] == "sleep 100" {
			sleep = true
			if r[0] != "root" || r[5] != "?" {
				t.Errorf("sleep row = %q, want UID root and no tty", r)
			}
		}
	}
	if !sleep {
		t.Errorf("rows = %q, want one for \"sleep 100\"", rows)
	}
	if rows[0][1] != strconv.Itoa(info.State.Pid) {
		t.Errorf("first row = %q, want the init, pid %d", rows[0], info.State.Pid)
	}
	zero := 0
	if err := e.Stop(ctx, c.ID(), &zero, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Top(c.ID()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Top of a stopped container: %v, want ErrNotRunning", err)
	}
	if _, err := e.Inspect("no-such-container"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Inspect of an unknown container: %v, want ErrNotFound", err)
	}
}
