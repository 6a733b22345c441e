package dns

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestWriteRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net", "dns") // made by WriteRecord
	r1 := Record{ContainerID: "c1", Names: []string{"proj-web-1", "web"}, IPv4: a1}
	r2 := Record{ContainerID: "c2", Names: []string{"proj-db-1", "db"}, IPv4: b1, IPv6: v6}
	for _, r := range []Record{r2, r1, {ContainerID: "c1", Names: r1.Names, IPv4: a2}, r1} {
		if err := WriteRecord(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if fi, _ := e.Info(); fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", e.Name(), fi.Mode())
		}
	}
	if want := []string{"c1.json", "c2.json"}; !reflect.DeepEqual(names, want) {
		t.Errorf("files = %v, want %v (no temporary files left)", names, want)
	}
	got, errs := readRecords(dir)
	if want := []Record{r1, r2}; len(errs) != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("readRecords = %v, %v; want %v", got, errs, want)
	}

	if err := RemoveRecord(dir, "c1"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "missing")} {
		if err := RemoveRecord(d, "c1"); err != nil {
			t.Errorf("RemoveRecord of a missing record: %v", err)
		}
	}
	if got, _ := readRecords(dir); !reflect.DeepEqual(got, []Record{r2}) {
		t.Errorf("after remove: %v, want %v", got, []Record{r2})
	}
}

func TestWriteRecordInvalidID(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{"", ".hidden", "../escape", "a/b"} {
		if err := WriteRecord(dir, Record{ContainerID: id}); err == nil {
			t.Errorf("WriteRecord(ID %q) succeeded, want an error", id)
		}
		if err := RemoveRecord(dir, id); err == nil {
			t.Errorf("RemoveRecord(%q) succeeded, want an error", id)
		}
	}
}

func TestReadRecordsSkipsBadFiles(t *testing.T) {
	dir := t.TempDir()
	if err := WriteRecord(dir, Record{ContainerID: "good", Names: []string{"x"}, IPv4: a1}); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"bad.json":      "{",
		".tmp-x.json":   "{",
		"notes.txt":     "hello",
		"noid.json":     `{"names":["y"],"ipv4":"10.0.0.2"}`,
		"sub.json/x.js": "",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, errs := readRecords(dir)
	want := []Record{{ContainerID: "good", Names: []string{"x"}, IPv4: a1}, {ContainerID: "noid", Names: []string{"y"}, IPv4: a2}}
	if !reflect.DeepEqual(got, want) || len(errs) != 1 {
		t.Errorf("readRecords = %v, %v; want %v and one error (bad.json)", got, errs, want)
	}
}
