package spec

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/spec")

const testdata = "../testdata/spec"

// caseOptions reads a case's options from its directory:
//
//	args     flags as for stack: -f FILE, -p NAME, --project-directory DIR,
//	         --env-file FILE, --profile NAME, --no-interpolate (relative
//	         paths are relative to the case directory)
//	environ  the process environment, one KEY=VALUE a line
//	stdin    what "-f -" reads
//	cwd      the working directory, relative to the case directory
func caseOptions(t *testing.T, dir string) Options {
	t.Helper()
	opts := Options{WorkingDir: dir, Interpolate: true, Environ: []string{}}
	if b, err := os.ReadFile(filepath.Join(dir, "cwd")); err == nil {
		opts.WorkingDir = filepath.Join(dir, strings.TrimSpace(string(b)))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "environ")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				opts.Environ = append(opts.Environ, line)
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "stdin")); err == nil {
		opts.Stdin = bytes.NewReader(b)
	}
	b, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		return opts
	}
	args := strings.Fields(string(b))
	for i := 0; i < len(args); i++ {
		next := func() string {
			i++
			if i == len(args) {
				t.Fatalf("%s: %s needs a value", filepath.Join(dir, "args"), args[i-1])
			}
			return args[i]
		}
		switch a := args[i]; a {
		case "-f":
			opts.ConfigFiles = append(opts.ConfigFiles, next())
		case "-p":
			opts.ProjectName = next()
		case "--project-directory":
			opts.ProjectDir = next()
		case "--env-file":
			opts.EnvFiles = append(opts.EnvFiles, next())
		case "--profile":
			opts.Profiles = append(opts.Profiles, next())
		case "--no-interpolate":
			opts.Interpolate = false
		default:
			t.Fatalf("%s: unknown flag %q", filepath.Join(dir, "args"), a)
		}
	}
	return opts
}

// render is what a golden file holds: the warnings as comments, then the
// canonical project; or the error. The case directory reads "<dir>".
func render(dir string, p *Project, err error) (name string, got []byte) {
	if err != nil {
		return "err.golden", []byte(strings.ReplaceAll(err.Error(), dir, "<dir>") + "\n")
	}
	var b bytes.Buffer
	for _, w := range p.Warnings {
		b.WriteString("# warning: " + w + "\n")
	}
	out, cerr := p.Canonical("yaml")
	if cerr != nil {
		return "err.golden", []byte("canonical: " + cerr.Error() + "\n")
	}
	b.Write(out)
	return "want.golden", bytes.ReplaceAll(b.Bytes(), []byte(dir), []byte("<dir>"))
}

// TestLoadGolden loads every case of testdata/spec and compares the
// canonical project (want.golden) or the error (err.golden). Run with
// -update to rewrite them.
func TestLoadGolden(t *testing.T) {
	cases, err := os.ReadDir(testdata)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if !c.IsDir() {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			dir, err := filepath.Abs(filepath.Join(testdata, c.Name()))
			if err != nil {
				t.Fatal(err)
			}
			opts := caseOptions(t, dir)
			p, err := Load(context.Background(), opts)
			name, got := render(dir, p, err)
			golden := filepath.Join(dir, name)
			if *update {
				for _, n := range []string{"want.golden", "err.golden"} {
					if n != name {
						os.Remove(filepath.Join(dir, n))
					}
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("Load() gave %s:\n%s\nbut %v", name, got, rerr)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Load() %s differs:\n--- got\n%s--- want\n%s", name, got, want)
			}
			if err == nil && opts.Interpolate {
				roundTrip(t, p, opts)
			}
		})
	}
}

// roundTrip checks that the canonical output, loaded again, gives the same
// canonical output: `stack config` prints a file stack (and compose) can
// use as it is.
func roundTrip(t *testing.T, p *Project, opts Options) {
	t.Helper()
	out, err := p.Canonical("yaml")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Load(context.Background(), Options{
		WorkingDir:  p.WorkingDir,
		ProjectDir:  p.WorkingDir,
		ConfigFiles: []string{"-"},
		ProjectName: p.Name,
		Stdin:       bytes.NewReader(out),
		Profiles:    p.Profiles,
		Environ:     opts.Environ,
		Interpolate: true,
	})
	if err != nil {
		t.Fatalf("loading the canonical output again: %v\n%s", err, out)
	}
	out2, err := again.Canonical("yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, out2) {
		t.Errorf("canonical output loaded again differs:\n--- first\n%s--- again\n%s", out, out2)
	}
}

func TestErrorFormat(t *testing.T) {
	base := errors.New("invalid published port \"80a\": not a number")
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"service field", &Error{File: "compose.yaml", Service: "web", Field: "ports[0]", Err: base},
			`compose.yaml: services.web.ports[0]: invalid published port "80a": not a number`},
		{"service", &Error{File: "compose.yaml", Service: "web", Err: base},
			`compose.yaml: services.web: invalid published port "80a": not a number`},
		{"top level", &Error{File: "compose.yaml", Field: "networks.front", Err: base},
			`compose.yaml: networks.front: invalid published port "80a": not a number`},
		{"file only", &Error{File: "compose.yaml", Err: base},
			`compose.yaml: invalid published port "80a": not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if !errors.Is(tt.err, base) {
				t.Errorf("errors.Is(%v, base) = false, want true", tt.err)
			}
		})
	}
}
