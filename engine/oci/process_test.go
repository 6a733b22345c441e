package oci

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const pathEnv = "PATH=" + DefaultPath

func TestWithProcessArgs(t *testing.T) {
	tests := []struct {
		name                           string
		entrypoint, cmd, imgEp, imgCmd []string
		want                           []string
		wantErr                        string
	}{
		{name: "image only", imgEp: []string{"/docker-entrypoint.sh"}, imgCmd: []string{"nginx", "-g", "daemon off;"},
			want: []string{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"}},
		{name: "image cmd only", imgCmd: []string{"/bin/sh"}, want: []string{"/bin/sh"}},
		{name: "cmd replaces image cmd", cmd: []string{"redis-server", "--appendonly", "yes"},
			imgEp: []string{"docker-entrypoint.sh"}, imgCmd: []string{"redis-server"},
			want: []string{"docker-entrypoint.sh", "redis-server", "--appendonly", "yes"}},
		{name: "entrypoint drops image cmd", entrypoint: []string{"/bin/sh", "-c"},
			imgEp: []string{"/init"}, imgCmd: []string{"serve"}, want: []string{"/bin/sh", "-c"}},
		{name: "entrypoint and cmd", entrypoint: []string{"/bin/sh", "-c"}, cmd: []string{"echo hi"},
			imgEp: []string{"/init"}, imgCmd: []string{"serve"}, want: []string{"/bin/sh", "-c", "echo hi"}},
		{name: "empty entrypoint with cmd", entrypoint: []string{}, cmd: []string{"ls"},
			imgEp: []string{"/init"}, imgCmd: []string{"serve"}, want: []string{"ls"}},
		{name: "empty entrypoint alone", entrypoint: []string{}, imgEp: []string{"/init"}, imgCmd: []string{"serve"},
			wantErr: "no command specified"},
		{name: "empty cmd keeps image entrypoint", cmd: []string{}, imgEp: []string{"/init"}, imgCmd: []string{"serve"},
			want: []string{"/init"}},
		{name: "nothing", wantErr: "no command specified"},
		{name: "empty first arg", cmd: []string{"", "x"}, wantErr: "no command specified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Default()
			err := WithProcessArgs(tt.entrypoint, tt.cmd, tt.imgEp, tt.imgCmd)(s)
			checkErr(t, err, tt.wantErr)
			if err == nil && !slices.Equal(s.Process.Args, tt.want) {
				t.Errorf("Args = %q, want %q", s.Process.Args, tt.want)
			}
		})
	}
}

// TestWithProcessArgsCopies checks the spec does not alias the caller's
// slices.
func TestWithProcessArgsCopies(t *testing.T) {
	ep := []string{"/init"}
	s := mustNew(t, WithProcessArgs(ep, nil, nil, nil))
	ep[0] = "X"
	if s.Process.Args[0] != "/init" {
		t.Fatalf("Args aliases the caller's slice: %q", s.Process.Args)
	}
}

func TestWithEnv(t *testing.T) {
	tests := []struct {
		name        string
		opts        []SpecOpt
		image, user []string
		want        []string
		wantErr     string
	}{
		{name: "image then user",
			image: []string{"NGINX_VERSION=1.27", "PKG=x"}, user: []string{"A=1", "PKG=y"},
			want: []string{pathEnv, "NGINX_VERSION=1.27", "PKG=y", "A=1"}},
		{name: "image path keeps first position",
			image: []string{"LANG=C", "PATH=/opt/bin:/usr/bin"}, user: []string{"PATH=/u"},
			want: []string{"PATH=/u", "LANG=C"}},
		{name: "hostname first",
			opts:  []SpecOpt{WithHostname("abc123")},
			image: []string{"X=1"}, user: []string{"HOSTNAME=mine"},
			want: []string{pathEnv, "HOSTNAME=mine", "X=1"}},
		{name: "key without = skipped",
			image: []string{"IMG"}, user: []string{"FROM_HOST", "B=", "C=a=b"},
			want: []string{pathEnv, "B=", "C=a=b"}},
		{name: "empty key", user: []string{"=x"}, wantErr: `environment variable "=x" has an empty name`},
		{name: "empty image key", image: []string{"=y"}, wantErr: `environment variable "=y" has an empty name`},
		{name: "nothing", want: []string{pathEnv}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.opts...)
			err := WithEnv(tt.image, tt.user)(s)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if !slices.Equal(s.Process.Env, tt.want) {
				t.Errorf("Env = %q, want %q", s.Process.Env, tt.want)
			}
		})
	}
}

// TestWithEnvDoesNotAlias checks WithEnv writes a new slice rather than
// editing one a caller may share.
func TestWithEnvDoesNotAlias(t *testing.T) {
	shared := []string{"A=1"}
	s := &specs.Spec{Process: &specs.Process{Env: shared}}
	if err := WithEnv(nil, []string{"A=2"})(s); err != nil {
		t.Fatal(err)
	}
	if shared[0] != "A=1" || s.Process.Env[0] != "A=2" {
		t.Fatalf("shared = %q, Env = %q", shared, s.Process.Env)
	}
}

func TestWithHostname(t *testing.T) {
	long := strings.Repeat("h", 65)
	tests := []struct {
		name     string
		opts     []SpecOpt
		hostname string
		wantEnv  []string
		wantErr  string
	}{
		{name: "inserted after PATH", opts: []SpecOpt{WithEnv([]string{"A=1"}, nil)}, hostname: "web-1",
			wantEnv: []string{pathEnv, "HOSTNAME=web-1", "A=1"}},
		{name: "no PATH", opts: []SpecOpt{func(s *specs.Spec) error { s.Process.Env = []string{"A=1"}; return nil }},
			hostname: "h", wantEnv: []string{"HOSTNAME=h", "A=1"}},
		{name: "user value kept", opts: []SpecOpt{WithEnv(nil, []string{"HOSTNAME=mine"})}, hostname: "web-1",
			wantEnv: []string{pathEnv, "HOSTNAME=mine"}},
		{name: "previous hostname updated", opts: []SpecOpt{WithHostname("old"), WithEnv(nil, []string{"A=1"})},
			hostname: "new", wantEnv: []string{pathEnv, "HOSTNAME=new", "A=1"}},
		{name: "64 bytes", hostname: long[:64], wantEnv: []string{pathEnv, "HOSTNAME=" + long[:64]}},
		{name: "too long", hostname: long, wantErr: `invalid hostname "` + long + `": want 1 to 64 printable characters without spaces`},
		{name: "empty", hostname: "", wantErr: `invalid hostname "": want 1 to 64 printable characters without spaces`},
		{name: "space", hostname: "a b", wantErr: `invalid hostname "a b": want 1 to 64 printable characters without spaces`},
		{name: "control", hostname: "a\x7f", wantErr: `invalid hostname "a\x7f": want 1 to 64 printable characters without spaces`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.opts...)
			err := WithHostname(tt.hostname)(s)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if s.Hostname != tt.hostname {
				t.Errorf("Hostname = %q, want %q", s.Hostname, tt.hostname)
			}
			if !slices.Equal(s.Process.Env, tt.wantEnv) {
				t.Errorf("Env = %q, want %q", s.Process.Env, tt.wantEnv)
			}
		})
	}
}

func TestWithDomainname(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{in: "example.org"},
		{in: ""},
		{in: "a b", wantErr: `invalid domainname "a b": want up to 64 printable characters without spaces`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s := mustNew(t, WithDomainname("old"))
			err := WithDomainname(tt.in)(s)
			checkErr(t, err, tt.wantErr)
			if err == nil && s.Domainname != tt.in {
				t.Errorf("Domainname = %q, want %q", s.Domainname, tt.in)
			}
		})
	}
}

func TestWithUser(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{in: ""},
		{in: "postgres"},
		{in: "1000"},
		{in: "1000:1000"},
		{in: "www-data:adm"},
		{in: "app:1001"},
		{in: "2147483647:2147483647"},
		{in: "2147483648", wantErr: `invalid user "2147483648": id 2147483648 is above 2147483647`},
		{in: "1:99999999999999999999", wantErr: `invalid user "1:99999999999999999999": id 99999999999999999999 is above 2147483647`},
		{in: ":1", wantErr: `invalid user ":1": want name, uid, name:group or uid:gid`},
		{in: "1:", wantErr: `invalid user "1:": want name, uid, name:group or uid:gid`},
		{in: "a:b:c", wantErr: `invalid user "a:b:c": want name, uid, name:group or uid:gid`},
		{in: "a b", wantErr: `invalid user "a b": want name, uid, name:group or uid:gid`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s := mustNew(t, WithUser("someone"))
			err := WithUser(tt.in)(s)
			checkErr(t, err, tt.wantErr)
			if err == nil && !reflect.DeepEqual(s.Process.User, specs.User{Username: tt.in}) {
				t.Errorf("User = %+v, want Username %q only", s.Process.User, tt.in)
			}
		})
	}
}

func TestWithAdditionalGroups(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    string // "" = no annotation
		wantErr string
	}{
		{name: "names and gids", in: []string{"audio", "1001"}, want: "audio,1001"},
		{name: "empty list", in: nil},
		{name: "empty name", in: []string{""}, wantErr: `invalid group ""`},
		{name: "comma", in: []string{"a,b"}, wantErr: `invalid group "a,b"`},
		{name: "colon", in: []string{"a:b"}, wantErr: `invalid group "a:b"`},
		{name: "space", in: []string{"a b"}, wantErr: `invalid group "a b"`},
		{name: "gid range", in: []string{"4294967296"}, wantErr: `invalid group "4294967296": gid is above 2147483647`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, WithAdditionalGroups([]string{"old"}))
			err := WithAdditionalGroups(tt.in)(s)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			got, ok := s.Annotations[AnnotationGroupAdd]
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("annotation = %q (present %v), want %q", got, ok, tt.want)
			}
		})
	}
}

func TestWithWorkdir(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{in: "", want: "/"},
		{in: "/app", want: "/app"},
		{in: "/app/../srv/", want: "/srv"},
		{in: "app", wantErr: `working directory "app" is not an absolute path`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s := Default()
			err := WithWorkdir(tt.in)(s)
			checkErr(t, err, tt.wantErr)
			if err == nil && s.Process.Cwd != tt.want {
				t.Errorf("Cwd = %q, want %q", s.Process.Cwd, tt.want)
			}
		})
	}
}

func TestWithTTY(t *testing.T) {
	tests := []struct {
		name    string
		opts    []SpecOpt
		want    []string
		wantTTY bool
	}{
		{name: "adds TERM after HOSTNAME", opts: []SpecOpt{WithHostname("h"), WithEnv([]string{"A=1"}, nil), WithTTY(true)},
			want: []string{pathEnv, "HOSTNAME=h", "TERM=xterm", "A=1"}, wantTTY: true},
		{name: "adds TERM after PATH", opts: []SpecOpt{WithEnv([]string{"A=1"}, nil), WithTTY(true)},
			want: []string{pathEnv, "TERM=xterm", "A=1"}, wantTTY: true},
		{name: "user TERM kept", opts: []SpecOpt{WithEnv(nil, []string{"TERM=vt100"}), WithTTY(true)},
			want: []string{pathEnv, "TERM=vt100"}, wantTTY: true},
		{name: "user TERM wins when applied later", opts: []SpecOpt{WithTTY(true), WithEnv(nil, []string{"TERM=vt100"})},
			want: []string{pathEnv, "TERM=vt100"}, wantTTY: true},
		{name: "off", opts: []SpecOpt{WithTTY(true), WithTTY(false)},
			want: []string{pathEnv, "TERM=xterm"}, wantTTY: false},
		{name: "off alone", opts: []SpecOpt{WithTTY(false)}, want: []string{pathEnv}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.opts...)
			if s.Process.Terminal != tt.wantTTY {
				t.Errorf("Terminal = %v, want %v", s.Process.Terminal, tt.wantTTY)
			}
			if !slices.Equal(s.Process.Env, tt.want) {
				t.Errorf("Env = %q, want %q", s.Process.Env, tt.want)
			}
		})
	}
}
