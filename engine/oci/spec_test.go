package oci

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"stack/engine/errdefs"
)

// mustNew builds a spec from Default and opts, failing the test on error.
func mustNew(t *testing.T, opts ...SpecOpt) *specs.Spec {
	t.Helper()
	s, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// checkErr fails unless err has exactly the text want (no error if want is
// "") and, when it is an error, matches errdefs.ErrInvalid.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("err = %v, want nil", err)
	case want == "":
	case err == nil:
		t.Fatalf("err = nil, want %q", want)
	case err.Error() != want:
		t.Fatalf("err = %q, want %q", err, want)
	case !errors.Is(err, errdefs.ErrInvalid):
		t.Fatalf("errors.Is(%v, errdefs.ErrInvalid) = false", err)
	}
}

func TestDefault(t *testing.T) {
	s := Default()
	if s.Version != specs.Version {
		t.Errorf("Version = %q, want %q", s.Version, specs.Version)
	}
	p := s.Process
	if p.Cwd != "/" || p.Terminal || p.NoNewPrivileges || len(p.Args) != 0 {
		t.Errorf("Process = %+v, want cwd /, no terminal, no no_new_privs, no args", p)
	}
	if want := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}; !slices.Equal(p.Env, want) {
		t.Errorf("Env = %q, want %q", p.Env, want)
	}
	if !reflect.DeepEqual(p.User, specs.User{}) {
		t.Errorf("User = %+v, want zero (root, unresolved)", p.User)
	}
	wantCaps := []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
		"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	}
	c := p.Capabilities
	for name, got := range map[string][]string{"Bounding": c.Bounding, "Permitted": c.Permitted, "Effective": c.Effective} {
		if !slices.Equal(got, wantCaps) {
			t.Errorf("%s = %q, want %q", name, got, wantCaps)
		}
	}
	if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
		t.Errorf("Inheritable = %q, Ambient = %q, want both empty", c.Inheritable, c.Ambient)
	}
	if want := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 524288}}; !reflect.DeepEqual(p.Rlimits, want) {
		t.Errorf("Rlimits = %+v, want %+v", p.Rlimits, want)
	}
	if !reflect.DeepEqual(s.Root, &specs.Root{Path: "rootfs"}) || s.Hostname != "" {
		t.Errorf("Root = %+v, Hostname = %q, want rootfs rw and no hostname", s.Root, s.Hostname)
	}
	wantMounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"}},
	}
	if !reflect.DeepEqual(s.Mounts, wantMounts) {
		t.Errorf("Mounts =\n%+v\nwant\n%+v", s.Mounts, wantMounts)
	}
	l := s.Linux
	var ns []specs.LinuxNamespaceType
	for _, n := range l.Namespaces {
		if n.Path != "" {
			t.Errorf("namespace %s has path %q, want a new one", n.Type, n.Path)
		}
		ns = append(ns, n.Type)
	}
	if want := []specs.LinuxNamespaceType{"pid", "network", "ipc", "uts", "mount", "cgroup"}; !slices.Equal(ns, want) {
		t.Errorf("Namespaces = %q, want %q", ns, want)
	}
	wantMasked := []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	if !slices.Equal(l.MaskedPaths, wantMasked) {
		t.Errorf("MaskedPaths = %q, want %q", l.MaskedPaths, wantMasked)
	}
	if want := []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}; !slices.Equal(l.ReadonlyPaths, want) {
		t.Errorf("ReadonlyPaths = %q, want %q", l.ReadonlyPaths, want)
	}
	if len(l.Devices) != 0 {
		t.Errorf("Devices = %+v, want none (the runtime creates the defaults)", l.Devices)
	}
	wantSysctl := map[string]string{"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"}
	if !reflect.DeepEqual(l.Sysctl, wantSysctl) {
		t.Errorf("Sysctl = %q, want %q", l.Sysctl, wantSysctl)
	}
	if len(s.Annotations) != 0 {
		t.Errorf("Annotations = %q, want none", s.Annotations)
	}
}

// TestDefaultDeviceRules pins the device cgroup as data: deny all, then
// allow mknod and the default devices, ptys, console and tun.
func TestDefaultDeviceRules(t *testing.T) {
	var got []string
	for _, d := range Default().Linux.Resources.Devices {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
	want := []string{
		`{"allow":false,"access":"rwm"}`,
		`{"allow":true,"type":"c","access":"m"}`,
		`{"allow":true,"type":"b","access":"m"}`,
		`{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}`,
		`{"allow":true,"type":"c","major":1,"minor":5,"access":"rwm"}`,
		`{"allow":true,"type":"c","major":1,"minor":7,"access":"rwm"}`,
		`{"allow":true,"type":"c","major":1,"minor":8,"access":"rwm"}`,
		`{"allow":true,"type":"c","major":1,"minor":9,"access":"rwm"}`,
		`{"allow":true,"type":"c","major":5,"minor":0,"access":"rwm"}`,
		`{"allow":true,"type":"c","major":5,"minor":1,"access":"rwm"}`,
		`{"allow":true,"type":"c","major":5,"minor":2,"access":"rwm"}`,
		`{"allow":true,"type":"c","major":136,"access":"rwm"}`,
		`{"allow":true,"type":"c","major":10,"minor":200,"access":"rwm"}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("device rules =\n%s\nwant\n%s", got, want)
	}
}

// TestDefaultIsFresh checks two Default specs share no memory.
func TestDefaultIsFresh(t *testing.T) {
	a, b := Default(), Default()
	a.Process.Env[0] = "X=1"
	a.Process.Capabilities.Bounding[0] = "X"
	a.Process.Capabilities.Permitted[0] = "X"
	a.Process.Rlimits[0].Soft = 1
	a.Mounts[0].Options[0] = "X"
	a.Linux.MaskedPaths[0] = "X"
	a.Linux.ReadonlyPaths[0] = "X"
	a.Linux.Sysctl["X"] = "1"
	*a.Linux.Resources.Devices[3].Major = 99
	a.Linux.Namespaces[0].Path = "/x"
	if !reflect.DeepEqual(b, Default()) {
		t.Fatal("editing one Default spec changed another")
	}
	caps := DefaultCapabilities()
	caps[0] = "X"
	all := AllCapabilities()
	all[0] = "X"
	if DefaultCapabilities()[0] != "CAP_CHOWN" || AllCapabilities()[0] != "CAP_CHOWN" {
		t.Fatal("capability lists are shared")
	}
	if len(AllCapabilities()) != 41 || AllCapabilities()[40] != "CAP_CHECKPOINT_RESTORE" {
		t.Fatalf("AllCapabilities = %q, want 41 ending in CAP_CHECKPOINT_RESTORE", AllCapabilities())
	}
}

func TestNewAndCompose(t *testing.T) {
	var order []string
	mark := func(n string, err error) SpecOpt {
		return func(*specs.Spec) error {
			order = append(order, n)
			return err
		}
	}
	s, err := New(mark("a", nil), nil, Compose(mark("b", nil), nil, mark("c", nil)), mark("d", nil))
	if err != nil || s == nil {
		t.Fatalf("New = %v, %v", s, err)
	}
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(order, want) {
		t.Fatalf("order = %q, want %q", order, want)
	}

	order = nil
	boom := invalidf("boom")
	s, err = New(mark("a", nil), Compose(mark("b", boom), mark("c", nil)), mark("d", nil))
	if s != nil || err != boom {
		t.Fatalf("New = %v, %v; want nil, boom", s, err)
	}
	if want := []string{"a", "b"}; !slices.Equal(order, want) {
		t.Fatalf("order = %q, want %q (stop at first error)", order, want)
	}
}

// TestOptionsOnEmptySpec runs every option on an empty spec: none may
// assume Default's structure.
func TestOptionsOnEmptySpec(t *testing.T) {
	opts := map[string]SpecOpt{
		"WithProcessArgs":      WithProcessArgs(nil, []string{"sh"}, nil, nil),
		"WithEnv":              WithEnv([]string{"A=1"}, nil),
		"WithHostname":         WithHostname("h"),
		"WithDomainname":       WithDomainname("d"),
		"WithUser":             WithUser("1000"),
		"WithAdditionalGroups": WithAdditionalGroups([]string{"audio"}),
		"WithWorkdir":          WithWorkdir("/app"),
		"WithTTY":              WithTTY(true),
		"WithCapAdd":           WithCapAdd([]string{"NET_ADMIN"}),
		"WithCapDrop":          WithCapDrop([]string{"ALL"}),
		"WithPrivileged":       WithPrivileged(),
		"WithReadonlyRootfs":   WithReadonlyRootfs(true),
		"WithNoNewPrivileges":  WithNoNewPrivileges(true),
		"WithSecurityOpts":     WithSecurityOpts([]string{"no-new-privileges", "systempaths=unconfined"}),
		"WithSysctls":          WithSysctls(map[string]string{"kernel.sem": "1"}),
		"WithUlimits":          WithUlimits(map[string]Ulimit{"nproc": {Soft: 1, Hard: 2}}),
		"WithMemory":           WithMemory(1<<30, 0, 0),
		"WithCPUs":             WithCPUs(1),
		"WithCPUs0":            WithCPUs(0),
		"WithCPUShares":        WithCPUShares(512),
		"WithCPUShares0":       WithCPUShares(0),
		"WithCpuset":           WithCpuset("0", "0"),
		"WithPidsLimit":        WithPidsLimit(10),
		"WithTmpfs":            WithTmpfs("/tmp", nil),
		"WithMounts":           WithMounts([]specs.Mount{{Destination: "/data", Type: "bind", Source: "/v"}}),
		"WithAnnotations":      WithAnnotations(map[string]string{"a": "b"}),
		"WithNamespace":        WithNamespace(specs.NetworkNamespace, "/proc/1/ns/net"),
		"WithoutNamespace":     WithoutNamespace(specs.NetworkNamespace),
	}
	for name, o := range opts {
		t.Run(name, func(t *testing.T) {
			if err := o(&specs.Spec{}); err != nil {
				t.Fatalf("on an empty spec: %v", err)
			}
		})
	}
	if err := WithShmSize(0)(&specs.Spec{}); err == nil {
		t.Fatal("WithShmSize on a spec without /dev/shm: err = nil")
	}
}

func TestInvalidErrorUnwraps(t *testing.T) {
	err := invalidf("bad %q", "x")
	if err.Error() != `bad "x"` || !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("invalidf = %q, Is(ErrInvalid) = %v", err, errors.Is(err, errdefs.ErrInvalid))
	}
}
