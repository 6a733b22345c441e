package planner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"stack/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/planner")

// TestGolden plans every testdata/planner/<case>/compose.yaml (loaded by
// spec.Load as project "demo") and compares Plan.String() with
// plan.golden, or Build's error with err.golden. An optional inputs.json
// holds Inputs; every image whose ID it does not give resolves to
// fakeImageID (an ID given as "" stays unknown).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("../testdata/planner/*/compose.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases in testdata/planner (err %v)", err)
	}
	for _, file := range files {
		dir := filepath.Dir(file)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			p := load(t, dir)
			in := inputs(t, dir, p)
			var got []byte
			want, other := "plan.golden", "err.golden"
			plan, err := Build(p, in)
			if err != nil {
				want, other = other, want
				got = []byte(err.Error() + "\n")
			} else {
				got = []byte(plan.String())
				checkInvariants(t, plan)
				if plan.String() != string(got) {
					t.Errorf("String() differs from one call to the next")
				}
			}
			checkGolden(t, filepath.Join(dir, want), got)
			if _, err := os.Stat(filepath.Join(dir, other)); err == nil {
				if *update {
					if err := os.Remove(filepath.Join(dir, other)); err != nil {
						t.Fatal(err)
					}
				} else {
					t.Errorf("%s exists, but Build gave %s", other, map[bool]string{true: "an error", false: "a plan"}[want == "err.golden"])
				}
			}
		})
	}
}

// load loads dir/compose.yaml as project "demo", with no environment.
func load(t *testing.T, dir string) *spec.Project {
	t.Helper()
	p, err := spec.Load(context.Background(), spec.Options{
		WorkingDir:  dir,
		ConfigFiles: []string{"compose.yaml"},
		ProjectName: "demo",
		Interpolate: true,
	})
	if err != nil {
		t.Fatalf("spec.Load(%s): %v", dir, err)
	}
	return p
}

// fakeImageID is the ID tests give image ref: the same on every run.
func fakeImageID(ref string) string {
	sum := sha256.Sum256([]byte("image " + ref))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func inputs(t *testing.T, dir string, p *spec.Project) Inputs {
	t.Helper()
	var in Inputs
	b, err := os.ReadFile(filepath.Join(dir, "inputs.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		t.Fatal(err)
	default:
		if err := json.Unmarshal(b, &in); err != nil {
			t.Fatalf("%s/inputs.json: %v", dir, err)
		}
	}
	ids := map[string]string{}
	for _, s := range p.Services {
		ref := s.ImageName(p.Name)
		if id, ok := in.ImageIDs[ref]; ok {
			if id != "" {
				ids[ref] = id
			}
			continue
		}
		ids[ref] = fakeImageID(ref)
	}
	in.ImageIDs = ids
	return in
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./planner -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}
