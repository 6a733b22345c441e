package oci

import (
	"maps"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// mountList renders mounts as "dest type source opt,opt" lines.
func mountList(ms []specs.Mount) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Destination+" "+m.Type+" "+m.Source+" "+strings.Join(m.Options, ","))
	}
	return out
}

var defaultMountList = mountList(defaultMounts())

func TestWithMounts(t *testing.T) {
	bind := func(src, dst string, opts ...string) specs.Mount {
		return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: opts}
	}
	tests := []struct {
		name    string
		opts    []SpecOpt
		in      []specs.Mount
		want    []string
		wantErr string
	}{
		{name: "appended after defaults",
			in:   []specs.Mount{bind("/v/data", "/data", "rbind", "rw"), bind("/s/hosts", "/etc/hosts", "rbind", "ro")},
			want: append(slices.Clone(defaultMountList), "/data bind /v/data rbind,rw", "/etc/hosts bind /s/hosts rbind,ro")},
		{name: "replaces /dev/shm in place",
			in:   []specs.Mount{bind("/s/shm", "/dev/shm/", "rbind")},
			want: append(slices.Clone(defaultMountList[:6]), "/dev/shm bind /s/shm rbind")},
		{name: "parent before child",
			in:   []specs.Mount{bind("/a", "/data/cache", "rbind"), bind("/b", "/data", "rbind"), bind("/c", "/data/cache/x", "rbind")},
			want: append(slices.Clone(defaultMountList), "/data bind /b rbind", "/data/cache bind /a rbind", "/data/cache/x bind /c rbind")},
		{name: "parent across calls", opts: []SpecOpt{WithTmpfs("/app/tmp", nil)},
			in:   []specs.Mount{bind("/src", "/app", "rbind")},
			want: append(slices.Clone(defaultMountList), "/app bind /src rbind", "/app/tmp tmpfs tmpfs noexec,nosuid,nodev")},
		{name: "prefix is not parent",
			in:   []specs.Mount{bind("/a", "/datastore", "rbind"), bind("/b", "/data", "rbind")},
			want: append(slices.Clone(defaultMountList), "/datastore bind /a rbind", "/data bind /b rbind")},
		{name: "root mount goes first",
			in:   []specs.Mount{{Destination: "/", Type: "tmpfs", Source: "tmpfs"}},
			want: append([]string{"/ tmpfs tmpfs "}, defaultMountList...)},
		{name: "/dev drops default /dev submounts",
			in:   []specs.Mount{bind("/dev", "/dev", "rbind")},
			want: []string{defaultMountList[0], "/dev bind /dev rbind", defaultMountList[3], defaultMountList[4]}},
		{name: "/dev keeps user /dev submounts", opts: []SpecOpt{WithTmpfs("/dev/foo", nil)},
			in:   []specs.Mount{bind("/dev", "/dev", "rbind")},
			want: []string{defaultMountList[0], "/dev bind /dev rbind", defaultMountList[3], defaultMountList[4], "/dev/foo tmpfs tmpfs noexec,nosuid,nodev"}},
		{name: "bind by option", in: []specs.Mount{{Destination: "/x", Source: "/y", Options: []string{"bind"}}},
			want: append(slices.Clone(defaultMountList), "/x  /y bind")},
		{name: "volume type needs no absolute source", in: []specs.Mount{{Destination: "/x", Type: "overlay", Source: "overlay"}},
			want: append(slices.Clone(defaultMountList), "/x overlay overlay ")},
		{name: "relative destination", in: []specs.Mount{bind("/a", "data")}, wantErr: `mount destination "data" is not an absolute path`},
		{name: "relative bind source", in: []specs.Mount{bind("vol", "/data")}, wantErr: `bind mount source "vol" for "/data" is not an absolute path`},
		{name: "rbind relative source", in: []specs.Mount{{Destination: "/d", Source: "", Options: []string{"rbind"}}},
			wantErr: `bind mount source "" for "/d" is not an absolute path`},
		{name: "none", want: defaultMountList},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.opts...)
			err := WithMounts(tt.in)(s)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if got := mountList(s.Mounts); !slices.Equal(got, tt.want) {
				t.Errorf("Mounts =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestWithMountsCopies checks the spec does not alias the caller's mounts.
func TestWithMountsCopies(t *testing.T) {
	in := []specs.Mount{{Destination: "/d", Type: "bind", Source: "/s", Options: []string{"rbind"},
		UIDMappings: []specs.LinuxIDMapping{{Size: 1}}}}
	s := mustNew(t, WithMounts(in))
	in[0].Options[0] = "X"
	in[0].UIDMappings[0].Size = 9
	m := s.Mounts[len(s.Mounts)-1]
	if m.Options[0] != "rbind" || m.UIDMappings[0].Size != 1 {
		t.Fatalf("mount aliases the caller's: %+v", m)
	}
}

func TestWithShmSize(t *testing.T) {
	tests := []struct {
		name    string
		opts    []SpecOpt
		size    int64
		want    string
		wantErr string
	}{
		{name: "set", size: 256 << 20, want: "/dev/shm tmpfs shm nosuid,noexec,nodev,mode=1777,size=268435456"},
		{name: "zero is default", opts: []SpecOpt{WithShmSize(1 << 20)}, size: 0, want: defaultMountList[6]},
		{name: "user tmpfs without size", opts: []SpecOpt{WithTmpfs("/dev/shm", nil)}, size: 1 << 20,
			want: "/dev/shm tmpfs tmpfs noexec,nosuid,nodev,size=1048576"},
		{name: "negative", size: -1, wantErr: `shm size -1 is negative`},
		{name: "bind replaced it", opts: []SpecOpt{WithMounts([]specs.Mount{{Destination: "/dev/shm", Type: "bind", Source: "/s"}})},
			size: 1 << 20, wantErr: `shm size 1048576: /dev/shm is not a tmpfs mount`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.opts...)
			err := WithShmSize(tt.size)(s)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			got := mountList(s.Mounts)
			if i := slices.IndexFunc(got, func(m string) bool { return strings.HasPrefix(m, "/dev/shm ") }); i < 0 || got[i] != tt.want {
				t.Errorf("Mounts =\n%s\nwant /dev/shm as %q", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}

// TestWithShmSizeDoesNotAlias checks Default's shared option slice is not
// edited through an alias.
func TestWithShmSizeDoesNotAlias(t *testing.T) {
	s := Default()
	shared := s.Mounts[6].Options
	if err := WithShmSize(1 << 20)(s); err != nil {
		t.Fatal(err)
	}
	if shared[4] != "size=67108864" {
		t.Fatalf("option slice edited in place: %q", shared)
	}
}

func TestWithTmpfs(t *testing.T) {
	tests := []struct {
		name    string
		dest    string
		opts    []string
		want    string
		wantErr string
	}{
		{name: "defaults", dest: "/run", want: "/run tmpfs tmpfs noexec,nosuid,nodev"},
		{name: "size and mode", dest: "/tmp/", opts: []string{"size=64m", "mode=1777"},
			want: "/tmp tmpfs tmpfs noexec,nosuid,nodev,size=64m,mode=1777"},
		{name: "exec overrides noexec", dest: "/run", opts: []string{"exec", "rw", "defaults"},
			want: "/run tmpfs tmpfs nosuid,nodev,exec,rw"},
		{name: "later size wins", dest: "/run", opts: []string{"size=1m", "uid=1000", "size=2m", "ro"},
			want: "/run tmpfs tmpfs noexec,nosuid,nodev,uid=1000,size=2m,ro"},
		{name: "all flags", dest: "/t", opts: []string{"suid", "dev", "sync", "dirsync", "mand", "noatime", "nodiratime", "relatime", "strictatime", "gid=1", "nr_inodes=10", "nr_blocks=10", "mpol=default"},
			want: "/t tmpfs tmpfs noexec,suid,dev,sync,dirsync,mand,noatime,nodiratime,relatime,strictatime,gid=1,nr_inodes=10,nr_blocks=10,mpol=default"},
		{name: "unknown flag", dest: "/run", opts: []string{"bind"}, wantErr: `invalid tmpfs option "bind"`},
		{name: "unknown key", dest: "/run", opts: []string{"foo=1"}, wantErr: `invalid tmpfs option "foo=1"`},
		{name: "empty value", dest: "/run", opts: []string{"size="}, wantErr: `invalid tmpfs option "size="`},
		{name: "relative", dest: "run", wantErr: `tmpfs destination "run" is not an absolute path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Default()
			err := WithTmpfs(tt.dest, tt.opts)(s)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			got := mountList(s.Mounts)
			if want := append(slices.Clone(defaultMountList), tt.want); !slices.Equal(got, want) {
				t.Errorf("Mounts =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestWithAnnotations(t *testing.T) {
	tests := []struct {
		name    string
		opt     func(map[string]string) SpecOpt
		in      map[string]string
		want    map[string]string
		wantErr string
	}{
		{name: "annotations", opt: WithAnnotations, in: map[string]string{"a": "1", "com.docker.compose.service": "web"},
			want: map[string]string{"old": "x", "a": "1", "com.docker.compose.service": "web"}},
		{name: "labels", opt: WithLabels, in: map[string]string{"stack.project": "demo", "old": "y"},
			want: map[string]string{"old": "y", "stack.project": "demo"}},
		{name: "reserved privileged", opt: WithLabels, in: map[string]string{"stack.privileged": "true"},
			wantErr: `annotation "stack.privileged" is reserved`},
		{name: "reserved group_add", opt: WithAnnotations, in: map[string]string{"stack.group_add": "0"},
			wantErr: `annotation "stack.group_add" is reserved`},
		{name: "empty key", opt: WithAnnotations, in: map[string]string{"": "x"}, wantErr: `annotation key "" is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, WithAnnotations(map[string]string{"old": "x"}))
			err := tt.opt(tt.in)(s)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if !maps.Equal(s.Annotations, tt.want) {
				t.Errorf("Annotations = %q, want %q", s.Annotations, tt.want)
			}
		})
	}
}
