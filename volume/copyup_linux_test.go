package volume_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"stack/engine/enginetest"
	"stack/volume"
)

// TestCopyUpUndo: a copy that fails (here the volume's tmpfs is full)
// deletes what it made, so a later try starts from an empty volume again.
func TestCopyUpUndo(t *testing.T) {
	enginetest.RequireRoot(t)
	enginetest.LeakCheck(t)
	root := t.TempDir()
	for p, size := range map[string]int{"app/a/small": 5, "app/z": 1, "app/b/big": 2 << 20} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := openStore(t)
	v := create(t, s, volume.CreateOptions{Name: "small", Options: map[string]string{"type": "tmpfs", "o": "size=1m"}})
	mount(t, v)
	src, err := os.Open(filepath.Join(root, "app"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	copied, err := volume.CopyUp(src, v.Mountpoint)
	if copied || !errors.Is(err, unix.ENOSPC) || !strings.Contains(err.Error(), "/b/big") {
		t.Fatalf("CopyUp of 2 MiB into a 1 MiB tmpfs = %v, %v; want ENOSPC naming /b/big", copied, err)
	}
	if ents, _ := os.ReadDir(v.Mountpoint); len(ents) != 0 {
		t.Errorf("a failed CopyUp left %d entries in the volume", len(ents))
	}
	// With room, the next try copies.
	if err := os.Remove(filepath.Join(root, "app/b/big")); err != nil {
		t.Fatal(err)
	}
	if copied, err := volume.CopyUp(src, v.Mountpoint); !copied || err != nil {
		t.Errorf("the retry = %v, %v; want a copy", copied, err)
	}
}
