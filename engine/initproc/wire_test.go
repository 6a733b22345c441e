package initproc

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func fullMessage() *Message {
	umask := uint32(0o027)
	proc := &specs.Process{
		Terminal:    true,
		ConsoleSize: &specs.Box{Height: 40, Width: 120},
		User:        specs.User{UID: 1000, GID: 1000, Umask: &umask, AdditionalGids: []uint32{4, 27}, Username: "app"},
		Args:        []string{"/bin/sh", "-c", "echo 'ünïcode' \x00 and a NUL"},
		Env:         []string{"PATH=/usr/bin:/bin", "HOME=/home/app", "EMPTY="},
		Cwd:         "/srv",
		Capabilities: &specs.LinuxCapabilities{
			Bounding:    []string{"CAP_CHOWN", "CAP_KILL"},
			Effective:   []string{"CAP_CHOWN"},
			Inheritable: []string{"CAP_KILL"},
			Permitted:   []string{"CAP_CHOWN", "CAP_KILL"},
			Ambient:     []string{"CAP_NET_BIND_SERVICE"},
		},
		Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1 << 20, Soft: 1024}, {Type: "RLIMIT_CORE", Hard: ^uint64(0), Soft: 0}},
		NoNewPrivileges: true,
	}
	return &Message{
		Type: MsgConfig, Pid: 42, Step: "mounts", Error: "boom", ExecID: "e1", Status: 137, Signal: 15,
		Config: &Config{
			ID:       "0123abcd",
			Rootfs:   "/run/stack/c/x/rootfs",
			Lower:    []string{"/var/lib/stack/l/1", "/var/lib/stack/l/2"},
			Upper:    "/var/lib/stack/c/x/fs/upper",
			Work:     "/var/lib/stack/c/x/fs/work",
			CgroupV1: []CgroupMount{{Dir: "memory", Options: "memory"}, {Dir: "cpu,cpuacct", Options: "cpu,cpuacct"}},
			Spec: &specs.Spec{
				Hostname:    "web",
				Domainname:  "example.org",
				Annotations: map[string]string{"stack.group_add": "audio,video", "stack.privileged": "true"},
				Root:        &specs.Root{Readonly: true},
				Mounts: []specs.Mount{
					{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
					{Destination: "/data", Type: "bind", Source: "/var/lib/stack/volumes/d/_data", Options: []string{"rbind", "stack.copyup"}},
				},
				Linux: &specs.Linux{
					Sysctl:        map[string]string{"net.core.somaxconn": "1024", "kernel.msgmax": "65536"},
					MaskedPaths:   []string{"/proc/kcore", "/proc/keys"},
					ReadonlyPaths: []string{"/proc/sys", "/proc/bus"},
					Namespaces:    []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace, Path: "/proc/7/ns/net"}},
					Resources: &specs.LinuxResources{
						Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(-1))},
						CPU:    &specs.LinuxCPU{Quota: ptr(int64(50000)), Period: ptr(uint64(100000)), Cpus: "0-1"},
						Pids:   &specs.LinuxPids{Limit: ptr(int64(100))},
					},
				},
				Process: proc,
			},
		},
		Process: proc,
	}
}

func TestWireRoundTrip(t *testing.T) {
	for name, m := range map[string]*Message{
		"full":     fullMessage(),
		"empty":    {},
		"started":  {Type: MsgStarted, Pid: 7},
		"negative": {Type: MsgExecExited, Status: -1, Pid: -1},
		"exec":     {Type: MsgExec, ExecID: "3", Process: &specs.Process{Args: []string{"ls"}}},
	} {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("%s: marshal: %v", name, err)
		}
		var got Message
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("%s: unmarshal: %v", name, err)
		}
		if !reflect.DeepEqual(&got, m) {
			t.Errorf("%s: round trip:\n got %+v\nwant %+v", name, got, *m)
		}
	}
}

// Every prefix of a valid message is refused with an error, never a panic
// or a silently shortened config; so is a message from another version.
func TestWireCorrupt(t *testing.T) {
	b, _ := fullMessage().MarshalBinary()
	for i := range len(b) {
		var m Message
		if err := m.UnmarshalBinary(b[:i]); err == nil {
			t.Fatalf("prefix of %d/%d bytes accepted", i, len(b))
		}
	}
	var m Message
	if err := m.UnmarshalBinary(append(b, 0)); err == nil {
		t.Error("trailing byte accepted")
	}
	bad := slices.Clone(b)
	bad[0] = wireVersion + 1
	if err := m.UnmarshalBinary(bad); err == nil || !strings.Contains(err.Error(), "different builds") {
		t.Errorf("other version: %v", err)
	}
	// A huge length must not allocate: it is checked against what is left.
	if err := m.UnmarshalBinary([]byte{wireVersion, 0xff, 0xff, 0xff, 0xff, 0x0f}); err == nil {
		t.Error("huge length accepted")
	}
}

func FuzzWire(f *testing.F) {
	b, _ := fullMessage().MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if m.UnmarshalBinary(b) != nil {
			return
		}
		// Whatever decodes re-encodes to a message that decodes the same.
		again, _ := m.MarshalBinary()
		var m2 Message
		if err := m2.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encode: %v", err)
		}
	})
}

func ptr[T any](v T) *T { return &v }
