package volume_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"stack/engine/errdefs"
	"stack/volume"
)

func openStore(t testing.TB) *volume.Store {
	t.Helper()
	s, err := volume.Open(filepath.Join(t.TempDir(), "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func create(t testing.TB, s *volume.Store, o volume.CreateOptions) *volume.Volume {
	t.Helper()
	v, created, err := s.Create(o)
	if err != nil {
		t.Fatalf("Create(%+v): %v", o, err)
	}
	if !created {
		t.Fatalf("Create(%+v): created = false for a new volume", o)
	}
	return v
}

func listNames(t testing.TB, s *volume.Store) []string {
	t.Helper()
	vs, err := s.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"db", true},
		{"demo_db-data.1", true},
		{"0", false}, // docker's rule needs two characters
		{"", false},
		{".hidden", false},
		{"-x", false},
		{"_x", false},
		{"a/b", false},
		{"../etc", false},
		{"/abs/path", false},
		{"a b", false},
		{"a\x00b", false},
		{strings.Repeat("a", 251), true},
		{strings.Repeat("a", 252), false},
	}
	for _, tt := range tests {
		err := volume.ValidateName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && (!errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.name))) {
			t.Errorf("ValidateName(%q) = %v: want ErrInvalid quoting the name", tt.name, err)
		}
	}
}

func TestCreateGetListRemove(t *testing.T) {
	s := openStore(t)
	labels := map[string]string{"com.docker.compose.project": "demo"}
	v := create(t, s, volume.CreateOptions{Name: "demo_db", Labels: labels})
	if v.Driver != "local" || v.Anonymous || v.Created.IsZero() || v.Labels["com.docker.compose.project"] != "demo" {
		t.Errorf("Create = %+v", v)
	}
	if want := filepath.Join(s.Dir(), "demo_db", "_data"); v.Mountpoint != want {
		t.Errorf("Mountpoint = %q, want %q", v.Mountpoint, want)
	}
	if fi, err := os.Stat(v.Mountpoint); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Errorf("_data = %v, %v: want a 0755 directory", fi, err)
	}
	create(t, s, volume.CreateOptions{Name: "alpha"})
	got, err := s.Get("demo_db")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Name != v.Name || !got.Created.Equal(v.Created) || got.Labels["com.docker.compose.project"] != "demo" || got.Mountpoint != v.Mountpoint {
		t.Errorf("Get = %+v, want %+v", got, v)
	}
	if names := listNames(t, s); !slices.Equal(names, []string{"alpha", "demo_db"}) {
		t.Errorf("List = %q, want [alpha demo_db]", names)
	}

	// The record keeps the keys reconciler/live reads.
	b, err := os.ReadFile(filepath.Join(s.Dir(), "demo_db", "volume.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.Name != "demo_db" || rec.Labels["com.docker.compose.project"] != "demo" {
		t.Errorf("volume.json = %s (%v)", b, err)
	}

	if err := os.WriteFile(filepath.Join(v.Mountpoint, "data"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("demo_db"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(s.Dir(), "demo_db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("volume directory still there after Remove: %v", err)
	}
	if _, err := s.Get("demo_db"); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), `"demo_db"`) {
		t.Errorf("Get after Remove = %v, want ErrNotFound quoting the name", err)
	}
	if err := s.Remove("demo_db"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second Remove = %v, want ErrNotFound", err)
	}
	if names := listNames(t, s); !slices.Equal(names, []string{"alpha"}) {
		t.Errorf("List = %q, want [alpha]", names)
	}
	ents, _ := os.ReadDir(s.Dir())
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".rm-") || strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("leftover %s", e.Name())
		}
	}
}

// TestCreateIdempotent: docker's create returns the existing volume, with
// its labels as they were.
func TestCreateIdempotent(t *testing.T) {
	s := openStore(t)
	first := create(t, s, volume.CreateOptions{Name: "data", Labels: map[string]string{"a": "1"}})
	os.WriteFile(filepath.Join(first.Mountpoint, "keep"), []byte("x"), 0o644)
	v, created, err := s.Create(volume.CreateOptions{Name: "data", Driver: "local", Labels: map[string]string{"a": "2", "b": "3"}})
	if err != nil || created {
		t.Fatalf("second Create = %v, created=%v; want the existing volume", err, created)
	}
	if v.Labels["a"] != "1" || v.Labels["b"] != "" || !v.Created.Equal(first.Created) {
		t.Errorf("second Create = %+v, want the first's labels and time", v)
	}
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "keep")); err != nil {
		t.Errorf("data of the existing volume: %v", err)
	}
}

func TestCreateAnonymous(t *testing.T) {
	s := openStore(t)
	v := create(t, s, volume.CreateOptions{})
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(v.Name) || !v.Anonymous {
		t.Errorf("anonymous volume = %+v, want a 64-hex name and Anonymous", v)
	}
	w := create(t, s, volume.CreateOptions{})
	if w.Name == v.Name {
		t.Errorf("two anonymous volumes share the name %s", v.Name)
	}
	got, err := s.Get(v.Name)
	if err != nil || !got.Anonymous {
		t.Errorf("Get(anonymous) = %+v, %v", got, err)
	}
}

func TestCreateErrors(t *testing.T) {
	tests := []struct {
		name string
		o    volume.CreateOptions
		want string // substring of the error
		is   error
	}{
		{name: "bad name", o: volume.CreateOptions{Name: "a/b"}, want: `"a/b"`, is: errdefs.ErrInvalid},
		{name: "driver", o: volume.CreateOptions{Name: "v1", Driver: "nfs-plugin"}, want: `driver "nfs-plugin" is not supported`, is: errdefs.ErrInvalid},
		{name: "unknown option", o: volume.CreateOptions{Name: "v1", Options: map[string]string{"type": "tmpfs", "colour": "blue"}}, want: `invalid option "colour"`, is: errdefs.ErrInvalid},
		{name: "size", o: volume.CreateOptions{Name: "v1", Options: map[string]string{"size": "10g"}}, want: `"size"`, is: errdefs.ErrInvalid},
		{name: "device without type", o: volume.CreateOptions{Name: "v1", Options: map[string]string{"device": "/dev/sdb"}}, want: `missing required option "type"`, is: errdefs.ErrInvalid},
		{name: "type without device", o: volume.CreateOptions{Name: "v1", Options: map[string]string{"type": "ext4"}}, want: `missing required option "device"`, is: errdefs.ErrInvalid},
		{name: "o alone", o: volume.CreateOptions{Name: "v1", Options: map[string]string{"o": "bind"}}, want: `missing required option "type"`, is: errdefs.ErrInvalid},
		{name: "relative bind", o: volume.CreateOptions{Name: "v1", Options: map[string]string{"type": "none", "o": "bind", "device": "data"}}, want: `absolute path`, is: errdefs.ErrInvalid},
		{name: "none without bind", o: volume.CreateOptions{Name: "v1", Options: map[string]string{"type": "none", "device": "/data"}}, want: `type=none needs o=bind`, is: errdefs.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			_, _, err := s.Create(tt.o)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Create(%+v) = %v, want %v containing %q", tt.o, err, tt.is, tt.want)
			}
			if names := listNames(t, s); len(names) != 0 {
				t.Errorf("a failed Create left volumes %q", names)
			}
		})
	}
}

func TestMountSpec(t *testing.T) {
	tests := []struct {
		name string
		opts map[string]string
		want *volume.MountSpec // Target is filled in by the test
	}{
		{name: "plain", opts: nil, want: nil},
		{name: "tmpfs", opts: map[string]string{"type": "tmpfs", "o": "size=64m,uid=1000"},
			want: &volume.MountSpec{Source: "tmpfs", FSType: "tmpfs", Data: "size=64m,uid=1000"}},
		{name: "tmpfs docker style", opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=100m,noexec"},
			want: &volume.MountSpec{Source: "tmpfs", FSType: "tmpfs", Flags: unix.MS_NOEXEC, Data: "size=100m"}},
		{name: "bind", opts: map[string]string{"type": "none", "o": "bind", "device": "/srv/data/"},
			want: &volume.MountSpec{Source: "/srv/data", FSType: "none", Flags: unix.MS_BIND}},
		{name: "rbind ro shared", opts: map[string]string{"type": "none", "o": "rbind,ro,rshared", "device": "/srv"},
			want: &volume.MountSpec{Source: "/srv", FSType: "none", Flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, Propagation: unix.MS_SHARED | unix.MS_REC}},
		{name: "ext4", opts: map[string]string{"type": "ext4", "device": "/dev/vdb1", "o": "noatime,ro,rw,data=ordered"},
			want: &volume.MountSpec{Source: "/dev/vdb1", FSType: "ext4", Flags: unix.MS_NOATIME, Data: "data=ordered"}},
		{name: "nfs", opts: map[string]string{"type": "nfs", "device": ":/export", "o": "addr=10.0.0.1,rw,nfsvers=4"},
			want: &volume.MountSpec{Source: ":/export", FSType: "nfs", Data: "addr=10.0.0.1,nfsvers=4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &volume.Volume{Name: "v1", Options: tt.opts, Mountpoint: "/var/lib/stack/volumes/v1/_data"}
			got, err := v.MountSpec()
			if err != nil {
				t.Fatalf("MountSpec: %v", err)
			}
			if tt.want != nil {
				tt.want.Target = v.Mountpoint
			}
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Errorf("MountSpec() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestCrashLeftovers: what killed commands leave never breaks List, and
// the next Open or List finishes it.
func TestCrashLeftovers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "volumes")
	s, err := volume.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	create(t, s, volume.CreateOptions{Name: "kept", Labels: map[string]string{"a": "b"}})
	// A Create killed while laying out: a temporary directory with a torn
	// record.
	mk := func(p, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mk(filepath.Join(dir, ".tmp-0123456789abcdef", "volume.json"), `{"name":"half`)
	os.Mkdir(filepath.Join(dir, ".tmp-0123456789abcdef", "_data"), 0o755)
	// A Remove killed while deleting: a tombstone, part of its data gone.
	mk(filepath.Join(dir, ".rm-gone", "_data", "deep", "file"), "x")
	// A volume directory with no record (made by hand or an older stack):
	// still a volume, its data not hidden.
	mk(filepath.Join(dir, "legacy", "_data", "file"), "x")
	// Not volumes: a stray file, and an invalid name.
	mk(filepath.Join(dir, "stray"), "x")
	os.Mkdir(filepath.Join(dir, "-bad"), 0o755)

	if names := listNames(t, s); !slices.Equal(names, []string{"kept", "legacy"}) {
		t.Errorf("List = %q, want [kept legacy]", names)
	}
	for _, n := range []string{".tmp-0123456789abcdef", ".rm-gone"} {
		if _, err := os.Lstat(filepath.Join(dir, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("List did not sweep %s: %v", n, err)
		}
	}
	v, err := s.Get("legacy")
	if err != nil || v.Driver != "local" || v.Created.IsZero() {
		t.Errorf("Get(legacy) = %+v, %v", v, err)
	}
	if err := s.Remove("legacy"); err != nil {
		t.Errorf("Remove(legacy): %v", err)
	}

	// And at Open.
	mk(filepath.Join(dir, ".rm-other", "_data", "file"), "x")
	if _, err := volume.Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, ".rm-other")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open did not sweep .rm-other: %v", err)
	}
	if v, err := s.Get("kept"); err != nil || v.Labels["a"] != "b" {
		t.Errorf("Get(kept) = %+v, %v", v, err)
	}
}

// TestRemoveKeepsOutside: Remove deletes the volume's own files, never what
// its symlinks point to.
func TestRemoveKeepsOutside(t *testing.T) {
	s := openStore(t)
	v := create(t, s, volume.CreateOptions{Name: "links"})
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "precious"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink(outside, filepath.Join(v.Mountpoint, "dirlink"))
	os.Symlink(filepath.Join(outside, "precious"), filepath.Join(v.Mountpoint, "filelink"))
	os.MkdirAll(filepath.Join(v.Mountpoint, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(v.Mountpoint, "a", "b", "c"), []byte("x"), 0o644)
	if err := s.Remove("links"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "precious")); err != nil || string(b) != "keep" {
		t.Errorf("a file outside the volume was touched: %q, %v", b, err)
	}
}

// TestUseBlocksRemove: a lease, or a copy of its file in another process,
// keeps the volume from being removed.
func TestUseBlocksRemove(t *testing.T) {
	s := openStore(t)
	create(t, s, volume.CreateOptions{Name: "busy"})
	l1, err := s.Use("busy")
	if err != nil {
		t.Fatalf("Use: %v", err)
	}
	l2, err := s.Use("busy") // leases are shared
	if err != nil {
		t.Fatalf("second Use: %v", err)
	}
	if err := s.Remove("busy"); !errors.Is(err, errdefs.ErrInUse) || !strings.Contains(err.Error(), `"busy"`) {
		t.Fatalf("Remove while in use = %v, want ErrInUse quoting the name", err)
	}
	l1.Release()
	// As a supervisor holds it: a duplicate of the file outlives Release.
	fd, err := unix.Dup(int(l2.File().Fd()))
	if err != nil {
		t.Fatal(err)
	}
	l2.Release()
	l2.Release() // idempotent
	if inUse, err := s.InUse("busy"); err != nil || !inUse {
		t.Errorf("InUse with a copy of the lease = %v, %v, want true", inUse, err)
	}
	if err := s.Remove("busy"); !errors.Is(err, errdefs.ErrInUse) {
		t.Errorf("Remove with a copy of the lease = %v, want ErrInUse", err)
	}
	unix.Close(fd)
	if inUse, err := s.InUse("busy"); err != nil || inUse {
		t.Errorf("InUse after every lease = %v, %v, want false", inUse, err)
	}
	if err := s.Remove("busy"); err != nil {
		t.Errorf("Remove after every lease: %v", err)
	}
	if _, err := s.Use("busy"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Use of a removed volume = %v, want ErrNotFound", err)
	}
}

// TestConcurrentCreate: of many racing creates of one name, one creates
// and the others get it.
func TestConcurrentCreate(t *testing.T) {
	s := openStore(t)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex // guards created, errs
		created int
		errs    []error
	)
	for range 16 {
		wg.Go(func() {
			_, c, err := s.Create(volume.CreateOptions{Name: "shared"})
			mu.Lock()
			defer mu.Unlock()
			if c {
				created++
			}
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if created != 1 || len(errs) != 0 {
		t.Errorf("16 racing creates: %d created, errors %v; want exactly 1 and none", created, errs)
	}
}
