package volume_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"stack/engine/enginetest"
	"stack/engine/errdefs"
	"stack/volume"
)

// mountCount is how many mounts are stacked on p.
func mountCount(t testing.TB, p string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == p {
			n++
		}
	}
	return n
}

// mount mounts v and registers its unmount, which runs even if the test
// fails.
func mount(t *testing.T, v *volume.Volume) {
	t.Helper()
	err := volume.Mount(v)
	t.Cleanup(func() {
		if err := volume.Unmount(v); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
}

func TestMountTmpfs(t *testing.T) {
	enginetest.RequireRoot(t)
	enginetest.LeakCheck(t)
	s := openStore(t)
	v := create(t, s, volume.CreateOptions{Name: "scratch", Options: map[string]string{"type": "tmpfs", "o": "size=1m,mode=0750,nodev"}})
	mount(t, v)
	var fs unix.Statfs_t
	if err := unix.Statfs(v.Mountpoint, &fs); err != nil || fs.Type != unix.TMPFS_MAGIC {
		t.Fatalf("_data is not a tmpfs after Mount: type %#x, %v", fs.Type, err)
	}
	if fi, err := os.Stat(v.Mountpoint); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("tmpfs root mode = %v, %v; want 0750 from o=mode=0750", fi.Mode(), err)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "big"), make([]byte, 2<<20), 0o644); !errors.Is(err, unix.ENOSPC) {
		t.Errorf("writing 2 MiB to a size=1m tmpfs = %v, want ENOSPC", err)
	}
	// Idempotent: a second Mount neither stacks nor hides the content.
	if err := volume.Mount(v); err != nil {
		t.Fatalf("second Mount: %v", err)
	}
	if n := mountCount(t, v.Mountpoint); n != 1 {
		t.Errorf("%d mounts on _data after two Mounts, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "f")); err != nil {
		t.Errorf("content after the second Mount: %v", err)
	}
	if err := volume.Unmount(v); err != nil {
		t.Fatalf("Unmount: %v", err)
	}
	if n := mountCount(t, v.Mountpoint); n != 0 {
		t.Errorf("%d mounts on _data after Unmount", n)
	}
	// As in docker, a tmpfs volume's content goes with its mount.
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("tmpfs content after Unmount: %v", err)
	}
	if err := volume.Unmount(v); err != nil {
		t.Errorf("second Unmount: %v", err)
	}
}

func TestMountBind(t *testing.T) {
	enginetest.RequireRoot(t)
	enginetest.LeakCheck(t)
	s := openStore(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "precious"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	v := create(t, s, volume.CreateOptions{Name: "hostdata", Options: map[string]string{"type": "none", "o": "bind", "device": host}})
	mount(t, v)
	if b, err := os.ReadFile(filepath.Join(v.Mountpoint, "precious")); err != nil || string(b) != "keep" {
		t.Fatalf("host file through the volume = %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "new"), []byte("n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(host, "new")); err != nil {
		t.Errorf("a file written to the volume is not in the host directory: %v", err)
	}
	// Removing the volume while mounted unmounts it and leaves the host's
	// files alone.
	if err := s.Remove("hostdata"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	for _, f := range []string{"precious", "new"} {
		if _, err := os.Stat(filepath.Join(host, f)); err != nil {
			t.Errorf("Remove of a bind volume deleted the host's %s: %v", f, err)
		}
	}
	if n := mountCount(t, v.Mountpoint); n != 0 {
		t.Errorf("%d mounts left on the removed volume's _data", n)
	}
}

func TestMountBindReadOnly(t *testing.T) {
	enginetest.RequireRoot(t)
	enginetest.LeakCheck(t)
	s := openStore(t)
	host := t.TempDir()
	v := create(t, s, volume.CreateOptions{Name: "ro", Options: map[string]string{"type": "none", "o": "bind,ro", "device": host}})
	mount(t, v)
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write into a bind,ro volume = %v, want EROFS", err)
	}
	if err := os.WriteFile(filepath.Join(host, "x"), nil, 0o644); err != nil {
		t.Errorf("the host directory became read-only: %v", err)
	}
}

func TestMountFailureLeavesNothing(t *testing.T) {
	enginetest.RequireRoot(t)
	enginetest.LeakCheck(t)
	s := openStore(t)
	v := create(t, s, volume.CreateOptions{Name: "nodev", Options: map[string]string{"type": "none", "o": "bind", "device": "/nonexistent/stack-test"}})
	err := volume.Mount(v)
	if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), `"nodev"`) || !strings.Contains(err.Error(), "/nonexistent/stack-test") {
		t.Errorf("Mount of a missing bind source = %v, want ENOENT naming the volume and source", err)
	}
	if n := mountCount(t, v.Mountpoint); n != 0 {
		volume.Unmount(v)
		t.Errorf("%d mounts after a failed Mount", n)
	}
}

// TestRemoveRefusesNestedMount: something mounted inside a volume (not by
// its driver) makes Remove refuse rather than delete into it.
func TestRemoveRefusesNestedMount(t *testing.T) {
	enginetest.RequireRoot(t)
	enginetest.LeakCheck(t)
	s := openStore(t)
	v := create(t, s, volume.CreateOptions{Name: "nested"})
	sub := filepath.Join(v.Mountpoint, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(sub, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			t.Errorf("cleanup: unmount %s: %v", sub, err)
		}
	})
	if err := os.WriteFile(filepath.Join(sub, "inner"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := s.Remove("nested")
	if !errors.Is(err, errdefs.ErrInUse) || !strings.Contains(err.Error(), sub) {
		t.Fatalf("Remove with a mount inside = %v, want ErrInUse naming %s", err, sub)
	}
	if _, err := s.Get("nested"); err != nil {
		t.Errorf("the volume is gone after a refused Remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(sub, "inner")); err != nil {
		t.Errorf("content of the inner mount after a refused Remove: %v", err)
	}
}
