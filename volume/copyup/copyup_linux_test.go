package copyup_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"stack/engine/enginetest"
)

// capNetRaw is a security.capability value (VFS_CAP_REVISION_2, effective)
// granting CAP_NET_RAW, as ping carries it.
var capNetRaw = []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

// TestCopyUpOwnership: as root, CopyUp keeps uid and gid numbers (the
// volume's root included), setuid bits of files given away, device nodes,
// file capabilities and trusted.* xattrs, but not overlayfs's own.
func TestCopyUpOwnership(t *testing.T) {
	enginetest.RequireRoot(t)
	root := t.TempDir()
	src := filepath.Join(root, "var/lib/postgresql")
	build(t, root, "var/lib/postgresql/")
	build(t, src, "data/", "data/PG_VERSION", "suid-pg", "suid-root", "ping", "link -> data/PG_VERSION", "data/hard => suid-pg")
	for _, n := range []struct {
		name         string
		mode         uint32
		major, minor uint32
	}{{"null", unix.S_IFCHR | 0o666, 1, 3}, {"loop0", unix.S_IFBLK | 0o660, 7, 0}} {
		if err := unix.Mknod(filepath.Join(src, n.name), n.mode, int(unix.Mkdev(n.major, n.minor))); err != nil {
			t.Fatal(err)
		}
	}
	for p, o := range map[string][2]int{".": {999, 999}, "data": {999, 999}, "data/PG_VERSION": {999, 50}, "suid-pg": {999, 999}, "loop0": {0, 6}, "link": {999, 999}} {
		if err := os.Lchown(filepath.Join(src, p), o[0], o[1]); err != nil {
			t.Fatal(err)
		}
	}
	for p, m := range map[string]os.FileMode{".": 0o700 | os.ModeDir, "data": 0o700 | os.ModeDir, "suid-pg": 0o750 | os.ModeSetuid, "suid-root": 0o755 | os.ModeSetuid | os.ModeSetgid} {
		if err := os.Chmod(filepath.Join(src, p), m); err != nil {
			t.Fatal(err)
		}
	}
	for p, x := range map[string]struct {
		k string
		v []byte
	}{"ping": {"security.capability", capNetRaw}, "data/PG_VERSION": {"trusted.note", []byte("kept")}, "data": {"trusted.overlay.opaque", []byte("y")}} {
		if err := unix.Lsetxattr(filepath.Join(src, p), x.k, x.v, 0); err != nil {
			t.Fatal(err)
		}
	}
	setTimes(t, src)
	want := treeOf(t, src, true)
	if !strings.Contains(want["data"], "trusted.overlay.opaque") {
		t.Fatalf("source data dir lacks the opaque xattr: %s", want["data"])
	}
	want["data"] = strings.Replace(want["data"], ` trusted.overlay.opaque="y"`, "", 1)

	dst := filepath.Join(t.TempDir(), "_data")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if !copyUp(t, openIn(t, root, "/var/lib/postgresql"), dst) {
		t.Fatal("copied nothing")
	}
	diffTrees(t, treeOf(t, dst, true), want)
}

// TestCopyUpSetgidVolume: in a setgid volume (a tmpfs with o=mode=2775,
// say) new files take the directory's group; the copy still gets the
// image's.
func TestCopyUpSetgidVolume(t *testing.T) {
	enginetest.RequireRoot(t)
	root := t.TempDir()
	build(t, root, "app/", "app/sub/", "app/sub/f", "app/g")
	dst := t.TempDir()
	if err := os.Chown(dst, 0, 50); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, 0o775|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	want := treeOf(t, filepath.Join(root, "app"), true)
	if !copyUp(t, openIn(t, root, "/app"), dst) {
		t.Fatal("copied nothing")
	}
	diffTrees(t, treeOf(t, dst, true), want)
}
