package oci

import (
	"maps"
	"reflect"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestWithReadonlyRootfs(t *testing.T) {
	for _, ro := range []bool{true, false} {
		s := mustNew(t, WithReadonlyRootfs(!ro), WithReadonlyRootfs(ro))
		if s.Root.Readonly != ro || s.Root.Path != "rootfs" {
			t.Errorf("WithReadonlyRootfs(%v): Root = %+v", ro, s.Root)
		}
	}
	s := &specs.Spec{}
	if err := WithReadonlyRootfs(true)(s); err != nil || !reflect.DeepEqual(s.Root, &specs.Root{Path: "rootfs", Readonly: true}) {
		t.Errorf("on an empty spec: Root = %+v, err %v", s.Root, err)
	}
}

func TestWithNoNewPrivileges(t *testing.T) {
	for _, on := range []bool{true, false} {
		s := mustNew(t, WithNoNewPrivileges(!on), WithNoNewPrivileges(on))
		if s.Process.NoNewPrivileges != on {
			t.Errorf("WithNoNewPrivileges(%v): NoNewPrivileges = %v", on, s.Process.NoNewPrivileges)
		}
	}
}

func TestWithSecurityOpts(t *testing.T) {
	tests := []struct {
		name        string
		in          []string
		wantNNP     bool
		wantNoPaths bool
		wantErr     string
	}{
		{name: "none"},
		{name: "no-new-privileges", in: []string{"no-new-privileges"}, wantNNP: true},
		{name: "colon true", in: []string{"no-new-privileges:true"}, wantNNP: true},
		{name: "equals true", in: []string{"no-new-privileges=true"}, wantNNP: true},
		{name: "later false wins", in: []string{"no-new-privileges", "no-new-privileges:false"}},
		{name: "bad bool", in: []string{"no-new-privileges:yes"},
			wantErr: `invalid security option "no-new-privileges:yes": want no-new-privileges:true or :false`},
		{name: "no-ops", in: []string{"label=disable", "label:disable", "apparmor=unconfined", "seccomp=unconfined", "seccomp:unconfined"}},
		{name: "systempaths", in: []string{"systempaths=unconfined"}, wantNoPaths: true},
		{name: "seccomp profile", in: []string{"seccomp=/etc/profile.json"}, wantErr: `unsupported security option "seccomp=/etc/profile.json"`},
		{name: "apparmor profile", in: []string{"apparmor=docker-default"}, wantErr: `unsupported security option "apparmor=docker-default"`},
		{name: "label user", in: []string{"label=user:USER"}, wantErr: `unsupported security option "label=user:USER"`},
		{name: "bare word", in: []string{"unconfined"}, wantErr: `unsupported security option "unconfined"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Default()
			err := WithSecurityOpts(tt.in)(s)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if s.Process.NoNewPrivileges != tt.wantNNP {
				t.Errorf("NoNewPrivileges = %v, want %v", s.Process.NoNewPrivileges, tt.wantNNP)
			}
			d := Default()
			if tt.wantNoPaths {
				d.Linux.MaskedPaths, d.Linux.ReadonlyPaths = nil, nil
			}
			d.Process.NoNewPrivileges = tt.wantNNP
			if !reflect.DeepEqual(s, d) {
				t.Errorf("spec changed beyond what %q asks", tt.in)
			}
		})
	}
}

func TestWithSysctls(t *testing.T) {
	def := defaultSysctls()
	plus := func(kv ...string) map[string]string {
		m := maps.Clone(def)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		opts    []SpecOpt
		in      map[string]string
		want    map[string]string
		wantErr string
	}{
		{name: "allowed", in: map[string]string{
			"kernel.msgmax": "65536", "kernel.sem": "250 32000 100 128", "kernel.shmmax": "1",
			"kernel.shm_rmid_forced": "1", "fs.mqueue.msg_max": "100", "net.core.somaxconn": "1024",
			"net.ipv4.ip_unprivileged_port_start": "1024",
		}, want: map[string]string{
			"kernel.msgmax": "65536", "kernel.sem": "250 32000 100 128", "kernel.shmmax": "1",
			"kernel.shm_rmid_forced": "1", "fs.mqueue.msg_max": "100", "net.core.somaxconn": "1024",
			"net.ipv4.ip_unprivileged_port_start": "1024", "net.ipv4.ping_group_range": "0 2147483647",
		}},
		{name: "none", want: def},
		{name: "vm", in: map[string]string{"vm.overcommit_memory": "1"}, wantErr: `sysctl "vm.overcommit_memory" is not allowed in a container`},
		{name: "kernel other", in: map[string]string{"kernel.pid_max": "1"}, wantErr: `sysctl "kernel.pid_max" is not allowed in a container`},
		{name: "fs other", in: map[string]string{"fs.file-max": "1"}, wantErr: `sysctl "fs.file-max" is not allowed in a container`},
		{name: "first bad in order", in: map[string]string{"vm.b": "1", "vm.a": "1"}, wantErr: `sysctl "vm.a" is not allowed in a container`},
		{name: "net in host netns", opts: []SpecOpt{WithoutNamespace(specs.NetworkNamespace)},
			in: map[string]string{"net.core.somaxconn": "1"}, wantErr: `sysctl "net.core.somaxconn" is not allowed in the host network namespace`},
		{name: "net in joined netns", opts: []SpecOpt{WithNamespace(specs.NetworkNamespace, "/proc/42/ns/net")},
			in:      map[string]string{"net.core.somaxconn": "1"},
			wantErr: `sysctl "net.core.somaxconn" is not allowed in a joined network namespace "/proc/42/ns/net"`},
		{name: "ipc in host netns", opts: []SpecOpt{WithoutNamespace(specs.NetworkNamespace)},
			in: map[string]string{"kernel.sem": "1"}, want: map[string]string{"kernel.sem": "1"}},
		{name: "replace", opts: []SpecOpt{WithSysctls(map[string]string{"kernel.sem": "1"})},
			in: map[string]string{"kernel.sem": "2"}, want: plus("kernel.sem", "2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.opts...)
			err := WithSysctls(tt.in)(s)
			checkErr(t, err, tt.wantErr)
			if err == nil && !reflect.DeepEqual(s.Linux.Sysctl, tt.want) {
				t.Errorf("Sysctl = %q, want %q", s.Linux.Sysctl, tt.want)
			}
		})
	}
	// A spec with no sysctl map gets one.
	s := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace}}}}
	if err := WithSysctls(map[string]string{"net.x": "1"})(s); err != nil || s.Linux.Sysctl["net.x"] != "1" {
		t.Errorf("on a spec without sysctls: %v, %q", err, s.Linux.Sysctl)
	}
}

func nsList(s *specs.Spec) []string {
	var out []string
	for _, n := range s.Linux.Namespaces {
		out = append(out, string(n.Type)+"="+n.Path)
	}
	return out
}

func TestWithNamespace(t *testing.T) {
	tests := []struct {
		name        string
		opts        []SpecOpt
		typ         specs.LinuxNamespaceType
		path        string
		wantNS      []string
		wantSysctls map[string]string
		wantErr     string
	}{
		{name: "join netns", typ: specs.NetworkNamespace, path: "/proc/7/ns/net",
			wantNS:      []string{"pid=", "network=/proc/7/ns/net", "ipc=", "uts=", "mount=", "cgroup="},
			wantSysctls: map[string]string{}},
		{name: "join netns keeps changed default", opts: []SpecOpt{WithSysctls(map[string]string{"net.ipv4.ip_unprivileged_port_start": "80"})},
			typ: specs.NetworkNamespace, path: "/proc/7/ns/net",
			wantErr: `sysctl "net.ipv4.ip_unprivileged_port_start" is not allowed in a joined network namespace "/proc/7/ns/net"`},
		{name: "join netns keeps other sysctls", opts: []SpecOpt{WithSysctls(map[string]string{"kernel.sem": "1"})},
			typ: specs.NetworkNamespace, path: "/proc/7/ns/net",
			wantNS:      []string{"pid=", "network=/proc/7/ns/net", "ipc=", "uts=", "mount=", "cgroup="},
			wantSysctls: map[string]string{"kernel.sem": "1"}},
		{name: "new time ns", typ: specs.TimeNamespace,
			wantNS:      []string{"pid=", "network=", "ipc=", "uts=", "mount=", "cgroup=", "time="},
			wantSysctls: defaultSysctls()},
		{name: "new netns keeps sysctls", typ: specs.NetworkNamespace,
			wantNS:      []string{"pid=", "network=", "ipc=", "uts=", "mount=", "cgroup="},
			wantSysctls: defaultSysctls()},
		{name: "join ipc", typ: specs.IPCNamespace, path: "/proc/7/ns/ipc",
			wantNS:      []string{"pid=", "network=", "ipc=/proc/7/ns/ipc", "uts=", "mount=", "cgroup="},
			wantSysctls: defaultSysctls()},
		{name: "relative path", typ: specs.NetworkNamespace, path: "ns/net", wantErr: `namespace path "ns/net" is not absolute`},
		{name: "unknown type", typ: "bogus", wantErr: `unknown namespace type "bogus"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.opts...)
			err := WithNamespace(tt.typ, tt.path)(s)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if got := nsList(s); !slices.Equal(got, tt.wantNS) {
				t.Errorf("Namespaces = %q, want %q", got, tt.wantNS)
			}
			if !reflect.DeepEqual(s.Linux.Sysctl, tt.wantSysctls) {
				t.Errorf("Sysctl = %q, want %q", s.Linux.Sysctl, tt.wantSysctls)
			}
		})
	}
}

func TestWithoutNamespace(t *testing.T) {
	tests := []struct {
		name        string
		opts        []SpecOpt
		typ         specs.LinuxNamespaceType
		wantNS      []string
		wantSysctls map[string]string
		wantErr     string
	}{
		{name: "host network", typ: specs.NetworkNamespace,
			wantNS: []string{"pid=", "ipc=", "uts=", "mount=", "cgroup="}, wantSysctls: map[string]string{}},
		{name: "host network with net sysctl", opts: []SpecOpt{WithSysctls(map[string]string{"net.core.somaxconn": "1"})},
			typ: specs.NetworkNamespace, wantErr: `sysctl "net.core.somaxconn" is not allowed in the host network namespace`},
		{name: "host pid", typ: specs.PIDNamespace,
			wantNS: []string{"network=", "ipc=", "uts=", "mount=", "cgroup="}, wantSysctls: defaultSysctls()},
		{name: "absent", typ: specs.UserNamespace,
			wantNS: []string{"pid=", "network=", "ipc=", "uts=", "mount=", "cgroup="}, wantSysctls: defaultSysctls()},
		{name: "unknown", typ: "x", wantErr: `unknown namespace type "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.opts...)
			err := WithoutNamespace(tt.typ)(s)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if got := nsList(s); !slices.Equal(got, tt.wantNS) {
				t.Errorf("Namespaces = %q, want %q", got, tt.wantNS)
			}
			if !reflect.DeepEqual(s.Linux.Sysctl, tt.wantSysctls) {
				t.Errorf("Sysctl = %q, want %q", s.Linux.Sysctl, tt.wantSysctls)
			}
		})
	}
}
