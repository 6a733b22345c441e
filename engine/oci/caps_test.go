package oci

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func without(list []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(c string) bool { return slices.Contains(drop, c) })
}

func TestWithCapabilities(t *testing.T) {
	tests := []struct {
		name      string
		opts      []SpecOpt // applied before
		add, drop []string
		want      []string
		wantErr   string
	}{
		{name: "nothing", want: defaultCaps},
		{name: "add lower case without prefix", add: []string{"net_admin", "Sys_Ptrace"},
			want: append(slices.Clone(defaultCaps), "CAP_NET_ADMIN", "CAP_SYS_PTRACE")},
		{name: "add already present", add: []string{"CAP_CHOWN"}, want: defaultCaps},
		{name: "add twice", add: []string{"NET_ADMIN", "cap_net_admin"}, want: append(slices.Clone(defaultCaps), "CAP_NET_ADMIN")},
		{name: "drop", drop: []string{"NET_RAW", "cap_mknod"}, want: without(defaultCaps, "CAP_NET_RAW", "CAP_MKNOD")},
		{name: "drop ALL add one", add: []string{"NET_BIND_SERVICE"}, drop: []string{"ALL"},
			want: []string{"CAP_NET_BIND_SERVICE"}},
		{name: "drop all lower case", drop: []string{"all"}, want: nil},
		{name: "add ALL drop one", add: []string{"ALL"}, drop: []string{"SYS_ADMIN"},
			want: without(allCaps, "CAP_SYS_ADMIN")},
		{name: "add ALL drop ALL", add: []string{"ALL"}, drop: []string{"ALL"}, want: allCaps},
		{name: "add wins over drop", add: []string{"CHOWN"}, drop: []string{"CHOWN"},
			want: append(without(defaultCaps, "CAP_CHOWN"), "CAP_CHOWN")},
		{name: "newest cap", add: []string{"checkpoint_restore", "BPF", "perfmon"},
			want: append(slices.Clone(defaultCaps), "CAP_CHECKPOINT_RESTORE", "CAP_BPF", "CAP_PERFMON")},
		{name: "unknown add", add: []string{"NET_ADMIN", "cap_foo"}, wantErr: `unknown capability "cap_foo"`},
		{name: "unknown drop", drop: []string{"BOGUS"}, wantErr: `unknown capability "BOGUS"`},
		{name: "empty name", add: []string{""}, wantErr: `unknown capability ""`},
		{name: "privileged ignores", opts: []SpecOpt{WithPrivileged()}, drop: []string{"ALL"}, want: allCaps},
		{name: "privileged still checks", opts: []SpecOpt{WithPrivileged()}, drop: []string{"nope"},
			wantErr: `unknown capability "nope"`},
		{name: "from current set", opts: []SpecOpt{WithCapDrop([]string{"ALL"})}, add: []string{"KILL"},
			want: []string{"CAP_KILL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.opts...)
			err := WithCapabilities(tt.add, tt.drop)(s)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			c := s.Process.Capabilities
			for name, got := range map[string][]string{"Bounding": c.Bounding, "Permitted": c.Permitted, "Effective": c.Effective} {
				if !slices.Equal(got, tt.want) {
					t.Errorf("%s = %q, want %q", name, got, tt.want)
				}
			}
			if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
				t.Errorf("Inheritable = %q, Ambient = %q, want empty", c.Inheritable, c.Ambient)
			}
		})
	}
}

// TestCapAddDrop checks the single-list forms, and that drop-then-add gives
// Docker's `--cap-drop ALL --cap-add NET_BIND_SERVICE`.
func TestCapAddDrop(t *testing.T) {
	s := mustNew(t, WithCapDrop([]string{"ALL"}), WithCapAdd([]string{"NET_BIND_SERVICE"}))
	if want := []string{"CAP_NET_BIND_SERVICE"}; !slices.Equal(s.Process.Capabilities.Effective, want) {
		t.Fatalf("Effective = %q, want %q", s.Process.Capabilities.Effective, want)
	}
	_, err := New(WithCapAdd([]string{"x"}))
	checkErr(t, err, `unknown capability "x"`)
	_, err = New(WithCapDrop([]string{"y"}))
	checkErr(t, err, `unknown capability "y"`)
}

// TestCapsDoNotAlias checks the three sets are separate slices.
func TestCapsDoNotAlias(t *testing.T) {
	s := mustNew(t, WithCapAdd([]string{"NET_ADMIN"}))
	c := s.Process.Capabilities
	c.Bounding[0] = "X"
	if c.Permitted[0] == "X" || c.Effective[0] == "X" {
		t.Fatal("capability sets share memory")
	}
}

func TestWithPrivileged(t *testing.T) {
	s := mustNew(t, WithPrivileged())
	c := s.Process.Capabilities
	if !slices.Equal(c.Bounding, allCaps) || !slices.Equal(c.Permitted, allCaps) || !slices.Equal(c.Effective, allCaps) {
		t.Errorf("caps = %+v, want all", c)
	}
	if s.Linux.MaskedPaths != nil || s.Linux.ReadonlyPaths != nil {
		t.Errorf("MaskedPaths = %q, ReadonlyPaths = %q, want none", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if want := []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}; !slices.EqualFunc(s.Linux.Resources.Devices, want,
		func(a, b specs.LinuxDeviceCgroup) bool {
			return a.Allow == b.Allow && a.Access == b.Access && a.Type == b.Type && a.Major == nil && a.Minor == nil
		}) {
		t.Errorf("device rules = %+v, want allow all", s.Linux.Resources.Devices)
	}
	for _, m := range s.Mounts {
		switch m.Destination {
		case "/sys":
			if want := []string{"nosuid", "noexec", "nodev"}; !slices.Equal(m.Options, want) {
				t.Errorf("/sys options = %q, want %q", m.Options, want)
			}
		case "/sys/fs/cgroup":
			if want := []string{"nosuid", "noexec", "nodev"}; !slices.Equal(m.Options, want) {
				t.Errorf("/sys/fs/cgroup options = %q, want %q", m.Options, want)
			}
		case "/proc":
			if want := []string{"nosuid", "noexec", "nodev"}; !slices.Equal(m.Options, want) {
				t.Errorf("/proc options = %q, want unchanged %q", m.Options, want)
			}
		}
	}
	if s.Annotations[AnnotationPrivileged] != "true" {
		t.Errorf("annotations = %q, want %s=true", s.Annotations, AnnotationPrivileged)
	}
	// A later cap_drop does not reduce a privileged set.
	if err := WithCapDrop([]string{"ALL"})(s); err != nil || !slices.Equal(s.Process.Capabilities.Effective, allCaps) {
		t.Errorf("after cap_drop ALL: err %v, Effective %q", err, s.Process.Capabilities.Effective)
	}
}
