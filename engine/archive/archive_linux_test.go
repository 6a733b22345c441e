package archive_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"stack/engine/enginetest"
)

// capNetRaw is a security.capability value (VFS_CAP_REVISION_2, effective)
// granting CAP_NET_RAW, as ping carries it.
var capNetRaw = []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

// TestRoundTripOwnership: as root, uid and gid numbers, setuid bits on
// files given away (chown clears them), device nodes and file capabilities
// survive Tar then Untar.
func TestRoundTripOwnership(t *testing.T) {
	enginetest.RequireRoot(t)
	src, dir := newRoot(t)
	build(t, dir, "tree/", "tree/alice/", "tree/alice/notes", "tree/suid-alice", "tree/suid-root", "tree/ping",
		"tree/link -> alice/notes", "tree/alice/hard => tree/suid-alice")
	for _, n := range []struct {
		name  string
		mode  uint32
		major uint32
		minor uint32
	}{{"tree/null", unix.S_IFCHR | 0o666, 1, 3}, {"tree/loop0", unix.S_IFBLK | 0o660, 7, 0}} {
		if err := unix.Mknod(filepath.Join(dir, n.name), n.mode, int(unix.Mkdev(n.major, n.minor))); err != nil {
			t.Fatal(err)
		}
	}
	for p, o := range map[string][2]int{"tree/alice": {1000, 1000}, "tree/alice/notes": {1000, 50}, "tree/suid-alice": {1000, 1000},
		"tree/loop0": {0, 6}} {
		if err := os.Lchown(filepath.Join(dir, p), o[0], o[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Lchown(filepath.Join(dir, "tree/link"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	for p, m := range map[string]os.FileMode{"tree/alice": 0o700, "tree/suid-alice": 0o4750 | os.ModeSetuid, "tree/suid-root": 0o755 | os.ModeSetuid | os.ModeSetgid} {
		if err := os.Chmod(filepath.Join(dir, p), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Setxattr(filepath.Join(dir, "tree/ping"), "security.capability", capNetRaw, 0); err != nil {
		t.Fatal(err)
	}
	setTimes(t, filepath.Join(dir, "tree"))
	want := treeOf(t, filepath.Join(dir, "tree"), true)
	out := roundTrip(t, src)
	diffTrees(t, treeOf(t, filepath.Join(out, "tree"), true), want)

	buf := make([]byte, 64)
	n, err := unix.Getxattr(filepath.Join(out, "tree/ping"), "security.capability", buf)
	if err != nil || !bytes.Equal(buf[:n], capNetRaw) {
		t.Errorf("security.capability of ping = %x, %v, want %x", buf[:max(n, 0)], err, capNetRaw)
	}
}
