package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stack/planner"
	"stack/spec"
)

const specTestdata = "../../testdata/spec"

// runConfigCmd runs `stack config ARGS` and returns its stdout and stderr.
func runConfigCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	// the process environment reaches the loader: keep compose's variables
	// out of it (empty is unset for them)
	for _, k := range []string{"COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES", "COMPOSE_ENV_FILES", "COMPOSE_PATH_SEPARATOR"} {
		t.Setenv(k, "")
	}
	// Global flags (-f, -p, …) go before the verb, as with docker compose.
	var global, local []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-f", "--file", "-p", "--project-name", "--project-directory", "--env-file", "--profile":
			if i+1 < len(args) {
				global = append(global, args[i], args[i+1])
				i++
				continue
			}
		}
		local = append(local, args[i])
	}
	args = append(append(global, "config"), local...)
	cmd := newRootCmd()
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.Execute()
	return stdout.String(), stderr.String(), err
}

func caseFile(t *testing.T, name string) (dir, file string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join(specTestdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return dir, filepath.Join(dir, "compose.yaml")
}

// TestConfigPrintsCanonical checks that `stack config` prints what the spec
// golden files hold (they are written by spec's tests).
func TestConfigPrintsCanonical(t *testing.T) {
	for _, name := range []string{"minimal", "volumes", "unsupported"} {
		t.Run(name, func(t *testing.T) {
			dir, file := caseFile(t, name)
			stdout, stderr, err := runConfigCmd(t, "-f", file)
			if err != nil {
				t.Fatal(err)
			}
			golden, err := os.ReadFile(filepath.Join(dir, "want.golden"))
			if err != nil {
				t.Fatal(err)
			}
			var want, warnings strings.Builder
			for _, line := range strings.SplitAfter(string(golden), "\n") {
				if w, ok := strings.CutPrefix(line, "# warning: "); ok {
					warnings.WriteString("stack: warning: " + w)
				} else {
					want.WriteString(line)
				}
			}
			if got := strings.ReplaceAll(stdout, dir, "<dir>"); got != want.String() {
				t.Errorf("stack config stdout:\n%s\nwant\n%s", got, want.String())
			}
			if got := strings.ReplaceAll(stderr, dir, "<dir>"); got != warnings.String() {
				t.Errorf("stack config stderr:\n%s\nwant\n%s", got, warnings.String())
			}
		})
	}
}

func TestConfigLists(t *testing.T) {
	_, include := caseFile(t, "include")
	_, build := caseFile(t, "build")
	_, profiles := caseFile(t, "profiles-none")
	_, networks := caseFile(t, "networks")
	hashOf := func(file, service string) string {
		t.Helper()
		p, err := spec.Load(t.Context(), spec.Options{ConfigFiles: []string{file}, Interpolate: true, Environ: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := p.Service(service)
		if err != nil {
			t.Fatal(err)
		}
		// No such image in a test: the hash without an image ID, which is
		// what a container of that service would carry were it "".
		return planner.ServiceHash(s, "")
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"services in dependency order", []string{"-f", include, "--services"}, "db\nweb\n"},
		{"volumes", []string{"-f", include, "--volumes"}, "dbdata\n"},
		{"networks", []string{"-f", networks, "--networks"}, "back\ndefault\nfront\n"},
		{"profiles of all services", []string{"-f", profiles, "--profiles"}, "debug\ndocs\ntools\n"},
		{"images", []string{"-f", build, "--images"}, "build-app\ninline:latest\n"},
		{"selected service and its dependencies", []string{"-f", include, "--services", "web"}, "db\nweb\n"},
		{"selected service", []string{"-f", include, "--services", "db"}, "db\n"},
		{"hash of all", []string{"-f", include, "--hash", "*"}, "db " + hashOf(include, "db") + "\nweb " + hashOf(include, "web") + "\n"},
		{"hash of some", []string{"-f", include, "--hash", "web,db"}, "db " + hashOf(include, "db") + "\nweb " + hashOf(include, "web") + "\n"},
		{"quiet", []string{"-f", include, "-q"}, ""},
		{"profile flag", []string{"-f", profiles, "--profile", "docs", "--services"}, "docs\nweb\n"},
		{"naming a disabled service enables it", []string{"-f", profiles, "--services", "docs"}, "docs\n"},
		{"project name flag", []string{"-f", profiles, "-p", "other", "--format", "json", "--networks"}, "default\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runConfigCmd(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if stdout != tt.want {
				t.Errorf("stack config %s = %q, want %q", strings.Join(tt.args, " "), stdout, tt.want)
			}
		})
	}
}

func TestConfigFormats(t *testing.T) {
	_, file := caseFile(t, "ports")
	stdout, _, err := runConfigCmd(t, "-f", file, "--format", "json", "-p", "renamed")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Name     string                     `json:"name"`
		Services map[string]json.RawMessage `json:"services"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("--format json output does not decode: %v\n%s", err, stdout)
	}
	if doc.Name != "renamed" || doc.Services["web"] == nil {
		t.Errorf("--format json = %s", stdout)
	}

	out := filepath.Join(t.TempDir(), "out.yaml")
	stdout, _, err = runConfigCmd(t, "-f", file, "-o", out)
	if err != nil || stdout != "" {
		t.Fatalf("-o: stdout %q, err %v; want nothing on stdout", stdout, err)
	}
	if b, err := os.ReadFile(out); err != nil || !strings.HasPrefix(string(b), "name: ports\n") {
		t.Errorf("-o wrote %q, %v", b, err)
	}

	dir, noInterp := caseFile(t, "no-interpolate")
	stdout, _, err = runConfigCmd(t, "-f", noInterp, "--no-interpolate")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(dir, "want.golden"))
	if stdout != string(want) {
		t.Errorf("--no-interpolate:\n%s\nwant\n%s", stdout, want)
	}
}

func TestConfigErrors(t *testing.T) {
	_, include := caseFile(t, "include")
	_, unknown := caseFile(t, "depends-on-unknown")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-f", include, "--format", "toml"}, `invalid --format "toml": want yaml or json`},
		{[]string{"-f", include, "--hash", "nope"}, "no such service: nope"},
		{[]string{"-f", include, "nope"}, "no such service: nope"},
		{[]string{"-f", unknown}, `compose.yaml: services.web.depends_on.db: service "db" is not defined`},
		{[]string{"-f", include, "-p", "Bad"}, `invalid project name "Bad"`},
	}
	for _, tt := range tests {
		_, _, err := runConfigCmd(t, tt.args...)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("stack config %s: error %v, want %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}

func TestConfigHelp(t *testing.T) {
	stdout, _, err := runConfigCmd(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--format", "--services", "--volumes", "--networks", "--profiles", "--images", "--hash", "--quiet", "--output", "--no-interpolate"} {
		if !strings.Contains(stdout, flag) {
			t.Errorf("stack config --help does not mention %s", flag)
		}
	}
}

// A group command run bare prints its help; with an unknown subcommand it
// fails (cobra alone would print the help and exit 0).
func TestUnknownSubcommand(t *testing.T) {
	c := stackCLI{t: t, root: t.TempDir()}
	for _, args := range [][]string{{"frobnicate"}, {"container", "frobnicate"}, {"image", "frob", "x"}, {"network", "nope"}, {"volume", "nope"}} {
		if _, err := c.run(nil, args...); err == nil || !strings.Contains(err.Error(), "unknown command") {
			t.Errorf("stack %s: %v, want unknown command", strings.Join(args, " "), err)
		}
	}
	for _, args := range [][]string{{}, {"container"}, {"image"}} {
		if out, err := c.run(nil, args...); err != nil || !strings.Contains(out, "Available Commands") {
			t.Errorf("stack %s: %v, want the help", strings.Join(args, " "), err)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	c := stackCLI{t: t, root: t.TempDir()}
	for _, flag := range []string{"--version", "-v"} {
		if out, err := c.run(nil, flag); err != nil || !strings.HasPrefix(out, "Stack version ") {
			t.Errorf("stack %s = %q, %v", flag, out, err)
		}
	}
}
