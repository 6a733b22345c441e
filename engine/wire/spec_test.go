package wire

import (
	"reflect"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func ptr[T any](v T) *T { return &v }

func fullSpec() *specs.Spec {
	return &specs.Spec{
		Hostname:    "web",
		Domainname:  "example.org",
		Annotations: map[string]string{"stack.privileged": "true"},
		Root:        &specs.Root{Readonly: true},
		Mounts:      []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid"}}},
		Linux: &specs.Linux{
			Sysctl:        map[string]string{"net.core.somaxconn": "1024"},
			MaskedPaths:   []string{"/proc/kcore"},
			ReadonlyPaths: []string{"/proc/sys"},
			Namespaces:    []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"}},
			Resources: &specs.LinuxResources{
				Memory: &specs.LinuxMemory{Limit: ptr(int64(1 << 30)), Swap: ptr(int64(2 << 30)), Reservation: ptr(int64(1 << 20))},
				CPU:    &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(150000)), Period: ptr(uint64(100000)), Cpus: "1", Mems: "0"},
				Pids:   &specs.LinuxPids{Limit: ptr(int64(-1))},
			},
		},
		Process: &specs.Process{
			Terminal: true, ConsoleSize: &specs.Box{Height: 24, Width: 80},
			User: specs.User{UID: 1, GID: 2, Umask: ptr(uint32(0o22)), AdditionalGids: []uint32{3}, Username: "daemon"},
			Args: []string{"sh"}, Env: []string{"A=b"}, Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}},
			Rlimits:      []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 10, Soft: 5}},
		},
	}
}

func TestSpecRoundTrip(t *testing.T) {
	for name, s := range map[string]*specs.Spec{
		"full":  fullSpec(),
		"empty": {},
		"empty resources": {Linux: &specs.Linux{Resources: &specs.LinuxResources{
			Memory: &specs.LinuxMemory{}, CPU: &specs.LinuxCPU{}, Pids: &specs.LinuxPids{}}}},
	} {
		e := NewEncoder(9, 0)
		e.Spec(s)
		b := e.Bytes()
		if b[0] != 9 {
			t.Fatalf("%s: version byte %d", name, b[0])
		}
		d := NewDecoder(b[1:])
		got := d.Spec()
		if err := d.Finish(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("%s: round trip:\n got %+v\nwant %+v", name, got, s)
		}
	}
}

// Every prefix of a valid form fails with an error, never a panic or a
// silently shortened spec.
func TestSpecCorrupt(t *testing.T) {
	e := NewEncoder(1, 0)
	e.Spec(fullSpec())
	b := e.Bytes()[1:]
	for i := range len(b) {
		d := NewDecoder(b[:i])
		d.Spec()
		if d.Finish() == nil {
			t.Fatalf("prefix of %d/%d bytes accepted", i, len(b))
		}
	}
	d := NewDecoder(append(slices.Clone(b), 0))
	d.Spec()
	if d.Finish() == nil {
		t.Error("trailing byte accepted")
	}
	// A huge length must not allocate: it is checked against what is left.
	d = NewDecoder([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	if d.Strs(); d.Finish() == nil {
		t.Error("huge length accepted")
	}
}

// The form carries only the spec fields the shim and the init read. When
// the runtime-spec gains a field, this fails until someone decides
// whether they need it (add it to spec.go and to carried) or not
// (ignored).
func TestSpecFieldLists(t *testing.T) {
	for _, c := range []struct {
		typ              any
		carried, ignored []string
	}{
		{specs.Spec{}, []string{"Process", "Root", "Hostname", "Domainname", "Mounts", "Annotations", "Linux"},
			[]string{"Version", "Hooks", "Solaris", "Windows", "VM", "ZOS", "FreeBSD"}},
		{specs.Process{}, []string{"Terminal", "ConsoleSize", "User", "Args", "Env", "Cwd", "Capabilities", "Rlimits", "NoNewPrivileges"},
			// OOM score, scheduling and I/O priority are unsupported;
			// so are AppArmor and SELinux.
			[]string{"CommandLine", "ApparmorProfile", "OOMScoreAdj", "Scheduler", "SelinuxLabel", "IOPriority", "ExecCPUAffinity"}},
		{specs.User{}, []string{"UID", "GID", "Umask", "AdditionalGids", "Username"}, nil},
		{specs.Root{}, []string{"Readonly"}, []string{"Path"}}, // the init mounts its Config.Rootfs
		{specs.Mount{}, []string{"Destination", "Type", "Source", "Options"}, []string{"UIDMappings", "GIDMappings"}},
		{specs.Linux{}, []string{"Sysctl", "MaskedPaths", "ReadonlyPaths", "Namespaces", "Resources"},
			// Devices: the shim applies Docker's default device rules
			// (cgroups.DefaultDeviceRules) or none when privileged; the
			// rest is not supported.
			[]string{"UIDMappings", "GIDMappings", "CgroupsPath", "Devices", "Seccomp",
				"RootfsPropagation", "MountLabel", "IntelRdt", "MemoryPolicy", "Personality", "TimeOffsets", "NetDevices"}},
		{specs.LinuxNamespace{}, []string{"Type", "Path"}, nil},
		{specs.LinuxResources{}, []string{"Memory", "CPU", "Pids"},
			[]string{"Devices", "BlockIO", "HugepageLimits", "Network", "Rdma", "Unified"}},
		{specs.LinuxMemory{}, []string{"Limit", "Reservation", "Swap"},
			[]string{"Kernel", "KernelTCP", "Swappiness", "DisableOOMKiller", "UseHierarchy", "CheckBeforeUpdate"}},
		{specs.LinuxCPU{}, []string{"Shares", "Quota", "Period", "Cpus", "Mems"},
			[]string{"Burst", "RealtimeRuntime", "RealtimePeriod", "Idle"}},
		{specs.LinuxPids{}, []string{"Limit"}, nil},
	} {
		typ := reflect.TypeOf(c.typ)
		known := append(slices.Clone(c.carried), c.ignored...)
		for i := range typ.NumField() {
			if f := typ.Field(i).Name; !slices.Contains(known, f) {
				t.Errorf("specs.%s.%s is new: decide whether the shim or the init needs it (spec.go)", typ.Name(), f)
			}
		}
	}
}
