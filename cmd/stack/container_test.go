package main

import (
	"io"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/pflag"

	"stack/engine"
	"stack/engine/container"
	"stack/engine/oci"
)

func TestStatusText(t *testing.T) {
	now := time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	tests := []struct {
		name string
		st   container.State
		want string
	}{
		{name: "created", st: container.State{Status: container.Created}, want: "Created"},
		{name: "running", st: container.State{Status: container.Running, StartedAt: ago(5 * time.Second)}, want: "Up 5 seconds"},
		{name: "running long", st: container.State{Status: container.Running, StartedAt: ago(3 * time.Hour)}, want: "Up 3 hours"},
		{name: "paused", st: container.State{Status: container.Paused, StartedAt: ago(5 * time.Second)}, want: "Up 5 seconds (Paused)"},
		{name: "healthy", st: container.State{Status: container.Running, StartedAt: ago(time.Minute), Health: &container.Health{Status: "healthy"}}, want: "Up About a minute (healthy)"},
		{name: "health starting", st: container.State{Status: container.Running, StartedAt: ago(2 * time.Second), Health: &container.Health{Status: "starting"}}, want: "Up 2 seconds (health: starting)"},
		{name: "unhealthy", st: container.State{Status: container.Running, StartedAt: ago(10 * time.Minute), Health: &container.Health{Status: "unhealthy"}}, want: "Up 10 minutes (unhealthy)"},
		{name: "exited", st: container.State{Status: container.Exited, StartedAt: ago(time.Hour), FinishedAt: ago(3 * time.Second)}, want: "Exited (0) 3 seconds ago"},
		{name: "exited code", st: container.State{Status: container.Exited, ExitCode: 137, StartedAt: ago(time.Hour), FinishedAt: ago(48 * time.Hour)}, want: "Exited (137) 2 days ago"},
		{name: "restarting", st: container.State{Status: container.Restarting, ExitCode: 1, StartedAt: ago(time.Hour), FinishedAt: ago(2 * time.Second)}, want: "Restarting (1) 2 seconds ago"},
		{name: "failed start", st: container.State{Status: container.Exited, ExitCode: 127, FinishedAt: ago(time.Second)}, want: "Created"},
		{name: "dead", st: container.State{Status: container.Dead}, want: "Dead"},
		{name: "removing", st: container.State{Status: container.Removing}, want: "Removal In Progress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusText(&tt.st, now); got != tt.want {
				t.Errorf("statusText() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCommandColumn(t *testing.T) {
	tests := []struct {
		name    string
		command string
		trunc   bool
		want    string
	}{
		{name: "short", command: "sleep 100", trunc: true, want: `"sleep 100"`},
		{name: "exactly 20", command: "nginx -g daemon off;", trunc: true, want: `"nginx -g daemon off;"`},
		{name: "truncated", command: "/docker-entrypoint.sh nginx -g 'daemon off;'", trunc: true, want: `"/docker-entrypoint.…"`},
		{name: "no-trunc", command: "/docker-entrypoint.sh nginx -g 'daemon off;'", trunc: false, want: `"/docker-entrypoint.sh nginx -g 'daemon off;'"`},
		{name: "quotes escaped", command: `sh -c "echo hi"`, trunc: true, want: `"sh -c \"echo hi\""`},
		{name: "empty", command: "", trunc: true, want: `""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := commandColumn(tt.command, tt.trunc); got != tt.want {
				t.Errorf("commandColumn(%q, %v) = %s, want %s", tt.command, tt.trunc, got, tt.want)
			}
		})
	}
}

func TestPSRow(t *testing.T) {
	now := time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC)
	c := &engine.Container{
		Config: &container.Config{
			ID:          strings.Repeat("ab", 32),
			Name:        "web",
			Created:     now.Add(-time.Hour),
			Image:       "sha256:" + strings.Repeat("cd", 32),
			ImageName:   "nginx:latest",
			Labels:      map[string]string{"b": "2", "a": "1"},
			Spec:        &specs.Spec{Process: &specs.Process{Args: []string{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"}}},
			NetworkMode: "none",
		},
		State: &container.State{Status: container.Running, StartedAt: now.Add(-30 * time.Minute)},
	}
	got := newPSRow(c, true, now)
	want := map[string]string{
		"ID":         strings.Repeat("ab", 6),
		"Image":      "nginx:latest",
		"Command":    `"/docker-entrypoint.…"`,
		"RunningFor": "About an hour ago",
		"Status":     "Up 30 minutes",
		"State":      "running",
		"Names":      "web",
		"Labels":     "a=1,b=2",
		"Networks":   "none",
		"Size":       "0B",
	}
	v := reflect.ValueOf(got)
	for field, w := range want {
		if g := v.FieldByName(field).String(); g != w {
			t.Errorf("%s = %q, want %q", field, g, w)
		}
	}
	if got.Label("a") != "1" {
		t.Errorf(`Label("a") = %q, want "1"`, got.Label("a"))
	}
	full := newPSRow(c, false, now)
	if full.ID != c.Config.ID || full.Command != `"/docker-entrypoint.sh nginx -g daemon off;"` {
		t.Errorf("no-trunc row: ID %q, Command %s", full.ID, full.Command)
	}
}

func lookupFrom(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestParseEnvFile(t *testing.T) {
	host := lookupFrom(map[string]string{"HOSTVAR": "from host", "EMPTY": ""})
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{name: "empty", in: "", want: nil},
		{name: "pairs", in: "A=1\nB=two words\n", want: []string{"A=1", "B=two words"}},
		{name: "value verbatim", in: "A=\"quoted\"  \nB= lead\nC=x=y\n", want: []string{`A="quoted"  `, "B= lead", "C=x=y"}},
		{name: "comments and blanks", in: "# comment\n\n   \n  # indented comment\nA=1\n", want: []string{"A=1"}},
		{name: "leading space trimmed", in: "   A=1\n\tB=2\n", want: []string{"A=1", "B=2"}},
		{name: "empty value", in: "A=\n", want: []string{"A="}},
		{name: "from host", in: "HOSTVAR\nEMPTY\n", want: []string{"HOSTVAR=from host", "EMPTY="}},
		{name: "from host trailing space", in: "HOSTVAR  \n", want: []string{"HOSTVAR=from host"}},
		{name: "unset on host", in: "NOPE\nA=1\n", want: []string{"A=1"}},
		{name: "bom", in: "\ufeffA=1\n", want: []string{"A=1"}},
		{name: "crlf", in: "A=1\r\nB=2\r\n", want: []string{"A=1", "B=2"}},
		{name: "space in key", in: "A B=1\n", wantErr: `env file test.env: line 1: variable "A B" contains whitespaces`},
		{name: "no key", in: "A=1\n=2\n", wantErr: `env file test.env: line 2: no variable name in "=2"`},
		{name: "invalid utf8", in: "A=\xff\n", wantErr: "env file test.env: line 1: invalid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEnvFile("test.env", []byte(tt.in), host)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("parseEnvFile(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseEnvFile(%q): %v", tt.in, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("parseEnvFile(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseEnvFlags(t *testing.T) {
	host := lookupFrom(map[string]string{"HOSTVAR": "h"})
	got, err := parseEnvFlags([]string{"A=1", "HOSTVAR", "UNSET", "B="}, host)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"A=1", "HOSTVAR=h", "B="}; !slices.Equal(got, want) {
		t.Errorf("parseEnvFlags = %q, want %q", got, want)
	}
	if _, err := parseEnvFlags([]string{"=x"}, host); err == nil {
		t.Error(`parseEnvFlags("=x"): no error`)
	}
}

func TestParseRestart(t *testing.T) {
	tests := []struct {
		in      string
		want    container.RestartPolicy
		wantErr bool
	}{
		{in: "", want: container.RestartPolicy{Name: "no"}},
		{in: "no", want: container.RestartPolicy{Name: "no"}},
		{in: "always", want: container.RestartPolicy{Name: "always"}},
		{in: "unless-stopped", want: container.RestartPolicy{Name: "unless-stopped"}},
		{in: "on-failure", want: container.RestartPolicy{Name: "on-failure"}},
		{in: "on-failure:3", want: container.RestartPolicy{Name: "on-failure", MaxRetries: 3}},
		{in: "on-failure:0", want: container.RestartPolicy{Name: "on-failure"}},
		{in: "on-failure:-1", wantErr: true},
		{in: "on-failure:x", wantErr: true},
		{in: "always:3", wantErr: true},
		{in: "no:1", wantErr: true},
		{in: ":3", wantErr: true},
		{in: "sometimes", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseRestart(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseRestart(%q) = %+v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseRestart(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("parseRestart(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseUlimit(t *testing.T) {
	tests := []struct {
		in       string
		wantName string
		want     oci.Ulimit
		wantErr  bool
	}{
		{in: "nofile=1024:2048", wantName: "nofile", want: oci.Ulimit{Soft: 1024, Hard: 2048}},
		{in: "nofile=1024", wantName: "nofile", want: oci.Ulimit{Soft: 1024, Hard: 1024}},
		{in: "core=-1", wantName: "core", want: oci.Ulimit{Soft: -1, Hard: -1}},
		{in: "memlock=1024:-1", wantName: "memlock", want: oci.Ulimit{Soft: 1024, Hard: -1}},
		{in: "nproc=0:0", wantName: "nproc", want: oci.Ulimit{}},
		{in: "nofile=2048:1024", wantErr: true},
		{in: "nofile=-1:1024", wantErr: true},
		{in: "nofile=1:2:3", wantErr: true},
		{in: "nofile=a", wantErr: true},
		{in: "nofile=1:b", wantErr: true},
		{in: "nofile", wantErr: true},
		{in: "bogus=1", wantErr: true},
		{in: "NOFILE=1", wantErr: true},
	}
	for _, tt := range tests {
		name, got, err := parseUlimit(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseUlimit(%q) = %s %+v, want an error", tt.in, name, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseUlimit(%q): %v", tt.in, err)
			continue
		}
		if name != tt.wantName || got != tt.want {
			t.Errorf("parseUlimit(%q) = %s %+v, want %s %+v", tt.in, name, got, tt.wantName, tt.want)
		}
	}
}

func TestParseTail(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{in: "all", want: -1},
		{in: "", want: -1},
		{in: "0", want: 0},
		{in: "10", want: 10},
		{in: "-3", want: -1},
		{in: "ten", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseTail(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("parseTail(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestCreateOptions checks that run's flags land in CreateOptions and in
// the spec, without an engine.
func TestCreateOptions(t *testing.T) {
	args := []string{
		"--name", "web", "-e", "A=1", "-e", "HOSTVAR", "--env-file", "f.env",
		"-u", "1000:1000", "-w", "/srv", "-l", "k=v", "-l", "flag", "-t", "-i",
		"-m", "512m", "--cpus", "1.5", "--cpu-shares", "512", "--pids-limit", "100",
		"--restart", "on-failure:3", "-h", "myhost", "--entrypoint", "",
		"--read-only", "--cap-add", "NET_ADMIN", "--cap-drop", "MKNOD",
		"--security-opt", "no-new-privileges", "--sysctl", "net.core.somaxconn=1024",
		"--ulimit", "nofile=100:200", "--stop-signal", "SIGINT", "--stop-timeout", "3",
		"--tmpfs", "/run:size=1m", "--shm-size", "128m", "--log-opt", "max-size=1m", "--init",
		"busybox", "sh", "-c", "echo hi", "--not-a-flag",
	}
	flags := pflag.NewFlagSet("run", pflag.ContinueOnError)
	var f createFlags
	f.register(flags)
	if err := flags.Parse(args); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"f.env": "A=0\nB=2\n"}
	readFile := func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	o, err := f.options(flags, flags.Args(), lookupFrom(map[string]string{"HOSTVAR": "h"}), readFile)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	check("Name", o.Name, "web")
	check("Image", o.Image, "busybox")
	check("Cmd", o.Cmd, []string{"sh", "-c", "echo hi", "--not-a-flag"})
	check("Entrypoint", o.Entrypoint, []string{})
	check("Env", o.Env, []string{"A=0", "B=2", "A=1", "HOSTVAR=h"})
	check("User", o.User, "1000:1000")
	check("WorkingDir", o.WorkingDir, "/srv")
	check("Labels", o.Labels, map[string]string{"k": "v", "flag": ""})
	check("Hostname", o.Hostname, "myhost")
	check("Tty", o.Tty, true)
	check("OpenStdin", o.OpenStdin, true)
	check("AutoRemove", o.AutoRemove, false)
	check("Restart", o.Restart, container.RestartPolicy{Name: "on-failure", MaxRetries: 3})
	check("StopSignal", o.StopSignal, "SIGINT")
	check("StopTimeout", *o.StopTimeout, 3)
	check("LogOptions", o.LogOptions, map[string]string{"max-size": "1m"})

	s, err := oci.New(o.SpecOpts...)
	if err != nil {
		t.Fatalf("spec: %v", err)
	}
	r := s.Linux.Resources
	check("memory", *r.Memory.Limit, int64(512<<20))
	check("swap", *r.Memory.Swap, int64(1024<<20))
	check("quota", *r.CPU.Quota, int64(150000))
	check("shares", *r.CPU.Shares, uint64(512))
	check("pids", *r.Pids.Limit, int64(100))
	check("readonly", s.Root.Readonly, true)
	check("no-new-privileges", s.Process.NoNewPrivileges, true)
	check("sysctl", s.Linux.Sysctl["net.core.somaxconn"], "1024")
	if !slices.Contains(s.Process.Capabilities.Bounding, "CAP_NET_ADMIN") || slices.Contains(s.Process.Capabilities.Bounding, "CAP_MKNOD") {
		t.Errorf("capabilities = %v, want NET_ADMIN added and MKNOD dropped", s.Process.Capabilities.Bounding)
	}
	check("nofile", s.Process.Rlimits[0], specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 100, Hard: 200})
	var shm, run bool
	for _, m := range s.Mounts {
		switch m.Destination {
		case "/dev/shm":
			shm = slices.Contains(m.Options, "size=134217728")
		case "/run":
			run = m.Type == "tmpfs" && slices.Contains(m.Options, "size=1m")
		}
	}
	if !shm || !run {
		t.Errorf("mounts: /dev/shm sized %v, /run tmpfs %v; want both", shm, run)
	}
}

func TestCreateOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "memory", args: []string{"-m", "lots"}, want: "--memory"},
		{name: "cpus", args: []string{"--cpus", "x"}, want: "cpus"},
		{name: "restart", args: []string{"--restart", "sometimes"}, want: "restart policy"},
		{name: "ulimit", args: []string{"--ulimit", "nofile=2:1"}, want: "ulimit"},
		{name: "sysctl", args: []string{"--sysctl", "novalue"}, want: "--sysctl"},
		{name: "log-opt", args: []string{"--log-opt", "color=blue"}, want: "color"},
		{name: "env", args: []string{"-e", "=x"}, want: "environment variable"},
		{name: "env file", args: []string{"--env-file", "missing.env"}, want: "missing.env"},
		{name: "rm and restart", args: []string{"--rm", "--restart", "always"}, want: "--restart and --rm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags := pflag.NewFlagSet("run", pflag.ContinueOnError)
			var f createFlags
			f.register(flags)
			if err := flags.Parse(append(tt.args, "busybox")); err != nil {
				t.Fatal(err)
			}
			readFile := func(name string) ([]byte, error) {
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			}
			_, err := f.options(flags, flags.Args(), lookupFrom(nil), readFile)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("options(%q) error = %v, want one mentioning %q", tt.args, err, tt.want)
			}
		})
	}
}

// TestContainerCommands checks that every subcommand's flags fit together
// (a clash, such as -h, panics only when the command runs).
func TestContainerCommands(t *testing.T) {
	for _, sub := range newContainerCmd(&globals{}).Commands() {
		t.Run(sub.Name(), func(t *testing.T) {
			cmd := newContainerCmd(&globals{})
			var out strings.Builder
			cmd.SetOut(&out)
			cmd.SetErr(io.Discard)
			cmd.SetArgs([]string{sub.Name(), "--help"})
			if err := cmd.Execute(); err != nil {
				t.Fatalf("container %s --help: %v", sub.Name(), err)
			}
			if !strings.Contains(out.String(), "Usage:") {
				t.Errorf("container %s --help printed %q", sub.Name(), out.String())
			}
		})
	}
}

func TestContainerFilter(t *testing.T) {
	mk := func(id, name string, st container.Status, code int, labels map[string]string, health string) *engine.Container {
		c := &engine.Container{Config: &container.Config{ID: id, Name: name, Labels: labels}, State: &container.State{Status: st, ExitCode: code}}
		if health != "" {
			c.State.Health = &container.Health{Status: health}
		}
		return c
	}
	cs := []*engine.Container{
		mk("aaa111", "web-1", container.Running, 0, map[string]string{"app": "web", "tier": "front"}, container.HealthHealthy),
		mk("bbb222", "job", container.Exited, 3, map[string]string{"app": "job"}, ""),
		mk("ccc333", "db", container.Exited, 0, nil, ""),
	}
	for _, tc := range []struct {
		filters []string
		want    string
		all     bool
	}{
		{nil, "web-1 job db", false},
		{[]string{"name=web"}, "web-1", false},
		{[]string{"id=bbb"}, "job", false},
		{[]string{"label=app"}, "web-1 job", false},
		{[]string{"label=app=job"}, "job", false},
		{[]string{"label=app", "label=tier=front"}, "web-1", false},
		{[]string{"status=exited"}, "job db", true},
		{[]string{"status=exited", "status=running"}, "web-1 job db", true},
		{[]string{"exited=3"}, "job", true},
		{[]string{"status=exited", "name=d"}, "db", true},
		{[]string{"health=healthy"}, "web-1", false},
		{[]string{"health=none"}, "job db", false},
	} {
		f, err := parseContainerFilters(tc.filters)
		if err != nil {
			t.Fatalf("%v: %v", tc.filters, err)
		}
		var got []string
		for _, c := range cs {
			if f.keep(c) {
				got = append(got, c.Config.Name)
			}
		}
		if strings.Join(got, " ") != tc.want || f.all() != tc.all {
			t.Errorf("%v: %v (all %v), want %s (all %v)", tc.filters, got, f.all(), tc.want, tc.all)
		}
	}
	for _, bad := range []string{"status=sleeping", "exited=x", "nope=1", "name", "health=ok"} {
		if _, err := parseContainerFilters([]string{bad}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
