package copyup_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"stack/engine/errdefs"
	"stack/engine/rootfs"
	"stack/volume/copyup"
)

var testTime = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

// build makes the entries of spec under dir: "name/" is a directory,
// "name -> target" a symlink, "name => target" a hard link (target relative
// to dir), "name|" a fifo, anything else a file holding its own name.
func build(t testing.TB, dir string, spec ...string) {
	t.Helper()
	for _, s := range spec {
		var err error
		switch {
		case strings.HasSuffix(s, "/"):
			err = os.MkdirAll(filepath.Join(dir, s), 0o755)
		case strings.Contains(s, " -> "):
			name, target, _ := strings.Cut(s, " -> ")
			err = os.Symlink(target, filepath.Join(dir, name))
		case strings.Contains(s, " => "):
			name, target, _ := strings.Cut(s, " => ")
			err = os.Link(filepath.Join(dir, target), filepath.Join(dir, name))
		case strings.HasSuffix(s, "|"):
			err = unix.Mkfifo(filepath.Join(dir, strings.TrimSuffix(s, "|")), 0o640)
		default:
			err = os.WriteFile(filepath.Join(dir, s), []byte(s), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// setTimes gives every entry under dir (dir included) a fixed, distinct
// past atime and mtime, directories last.
func setTimes(t testing.TB, dir string) {
	t.Helper()
	var dirs []string
	i := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		i++
		ts := unix.NsecToTimespec(testTime.Add(time.Duration(i) * time.Hour).UnixNano())
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		t.Fatal(err)
	}
	for j := len(dirs) - 1; j >= 0; j-- {
		ts := unix.NsecToTimespec(testTime.Add(time.Duration(j)*time.Minute + 123456789).UnixNano())
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dirs[j], []unix.Timespec{ts, ts}, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// treeOf describes every entry under dir (dir itself as "."): type and
// permission bits, mtime and atime (nanoseconds), size, content or link
// target, device numbers, user.* and trusted.* xattrs, and which entries
// share an inode; ownership too when owners is set.
func treeOf(t testing.TB, dir string, owners bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		s := fi.Mode().String()
		if fi.Mode()&fs.ModeSymlink == 0 {
			// (atime is copied too, but reading the source moves it.)
			s += " mtime=" + time.Unix(st.Mtim.Unix()).UTC().Format(time.RFC3339Nano)
		}
		if owners {
			s += " owner=" + strconv.Itoa(int(st.Uid)) + ":" + strconv.Itoa(int(st.Gid))
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, _ := os.ReadFile(p)
			if len(b) > 64 {
				s += fmt.Sprintf(" size=%d sha256=%x", len(b), sha256.Sum256(b))
			} else {
				s += " body=" + string(b)
			}
		case unix.S_IFLNK:
			l, _ := os.Readlink(p)
			s += " link=" + l
		case unix.S_IFCHR, unix.S_IFBLK:
			s += " dev=" + strconv.Itoa(int(unix.Major(st.Rdev))) + "," + strconv.Itoa(int(unix.Minor(st.Rdev)))
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			for _, k := range []string{"user.origin", "trusted.note", "security.capability", "trusted.overlay.opaque"} {
				buf := make([]byte, 128)
				if n, err := unix.Lgetxattr(p, k, buf); err == nil {
					s += " " + k + "=" + strconv.Quote(string(buf[:n]))
				}
			}
		}
		if !fi.IsDir() && st.Nlink > 1 {
			if first, ok := inodes[st.Ino]; ok {
				s += " same-inode-as=" + first
			} else {
				inodes[st.Ino] = r
			}
		}
		out[r] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffTrees(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s missing, want %s", k, w)
		} else if g != w {
			t.Errorf("%s = %s\n\twant %s", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s unexpected: %s", k, g)
		}
	}
}

// openIn opens p inside root as the engine does for a container path: an
// O_PATH descriptor, resolved without leaving root.
func openIn(t testing.TB, root, p string) *os.File {
	t.Helper()
	r, err := os.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := rootfs.OpenInRoot(r, p, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func copyUp(t testing.TB, src *os.File, dst string) bool {
	t.Helper()
	copied, err := copyup.CopyUp(src, dst)
	if err != nil {
		t.Fatalf("CopyUp: %v", err)
	}
	return copied
}

// TestCopyUp copies every kind of entry an unprivileged caller can make:
// files with their modes (setgid and sticky included), directories (one
// read-only, one empty), symlinks as links, hard links as hard links
// (across directories too), a fifo, xattrs, and mtimes to the nanosecond;
// a socket is skipped. TestCopyUpOwnership adds what needs root.
func TestCopyUp(t *testing.T) {
	root := t.TempDir() // stands for a container's root filesystem
	src := filepath.Join(root, "var/lib/app")
	build(t, root, "var/lib/app/", "etc/", "etc/passwd")
	build(t, src, "conf/", "conf/app.ini", "data/", "data/sub/", "data/sub/deep", "empty/", "sticky/", "ro/", "ro/inside",
		"exe", "rel -> conf/app.ini", "dangling -> ../nowhere", "hard => exe", "data/hard2 => exe", "fifo|", "zero")
	if err := os.WriteFile(filepath.Join(src, "big"), []byte(strings.Repeat("0123456789", 300000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "zero"), nil, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "zero"), 0o400); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(src, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for p, m := range map[string]os.FileMode{"exe": 0o751 | os.ModeSetgid, "sticky": 0o777 | os.ModeSticky | os.ModeDir, "data": 0o2750 | os.ModeSetgid | os.ModeDir, "conf/app.ini": 0o640} {
		if err := os.Chmod(filepath.Join(src, p), m); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"conf/app.ini", "data"} {
		if err := unix.Lsetxattr(filepath.Join(src, p), "user.origin", []byte("image"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(src, 0o711); err != nil {
		t.Fatal(err)
	}
	setTimes(t, src)
	if err := os.Chmod(filepath.Join(src, "ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(src, "ro"), 0o755) })
	want := treeOf(t, src, false)
	delete(want, "sock")
	if len(want) != 18 {
		t.Fatalf("source tree has %d entries, want 18: %v", len(want), want)
	}

	dst := filepath.Join(t.TempDir(), "_data")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if !copyUp(t, openIn(t, root, "/var/lib/app"), dst) {
		t.Fatal("CopyUp into an empty directory copied nothing")
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dst, "ro"), 0o755) })
	diffTrees(t, treeOf(t, dst, false), want)
}

// TestCopyUpSymlinkToEtc: a container symlink to /etc/passwd is copied as
// a link; nothing the link names, on the host or in the container, is
// read or copied.
func TestCopyUpSymlinkToEtc(t *testing.T) {
	root := t.TempDir()
	build(t, root, "etc/", "etc/passwd", "app/", "app/passwd -> /etc/passwd", "app/etc -> /etc",
		"app/up -> ../../../../../../etc/passwd", "app/self -> /proc/self/root/etc")
	dst := t.TempDir()
	if !copyUp(t, openIn(t, root, "/app"), dst) {
		t.Fatal("copied nothing")
	}
	for name, target := range map[string]string{"passwd": "/etc/passwd", "etc": "/etc", "up": "../../../../../../etc/passwd", "self": "/proc/self/root/etc"} {
		fi, err := os.Lstat(filepath.Join(dst, name))
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("%s = %v, %v: want a symlink", name, fi, err)
			continue
		}
		if got, _ := os.Readlink(filepath.Join(dst, name)); got != target {
			t.Errorf("%s -> %s, want -> %s", name, got, target)
		}
	}
	ents, _ := os.ReadDir(dst)
	if len(ents) != 4 {
		t.Errorf("dst holds %d entries, want the 4 links", len(ents))
	}
}

func TestCopyUpNotEmpty(t *testing.T) {
	root := t.TempDir()
	build(t, root, "app/", "app/a", "app/b/")
	dst := t.TempDir()
	build(t, dst, "mine")
	if copyUp(t, openIn(t, root, "/app"), dst) {
		t.Error("CopyUp into a non-empty directory reported a copy")
	}
	ents, _ := os.ReadDir(dst)
	if len(ents) != 1 || ents[0].Name() != "mine" {
		t.Errorf("dst = %v, want only its own file", ents)
	}
	// An empty subdirectory is content too.
	dst2 := t.TempDir()
	build(t, dst2, "lost+found/")
	if copyUp(t, openIn(t, root, "/app"), dst2) {
		t.Error("CopyUp into a directory holding an empty directory reported a copy")
	}
}

func TestCopyUpErrors(t *testing.T) {
	root := t.TempDir()
	build(t, root, "file", "app/")
	r, _ := os.Open(root)
	defer r.Close()
	f, err := rootfs.OpenInRoot(r, "/file", unix.O_PATH)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if copied, err := copyup.CopyUp(f, t.TempDir()); copied || !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("CopyUp from a file = %v, %v; want ErrInvalid", copied, err)
	}
	if copied, err := copyup.CopyUp(openIn(t, root, "/app"), filepath.Join(root, "missing")); copied || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CopyUp to a missing dst = %v, %v; want not exist", copied, err)
	}
	// dst must be a directory itself, not a symlink to one.
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(t.TempDir(), link)
	if copied, err := copyup.CopyUp(openIn(t, root, "/app"), link); copied || err == nil {
		t.Errorf("CopyUp to a symlink = %v, %v; want an error", copied, err)
	}
}

// TestCopyUpRace: of two callers filling one new volume, one copies.
func TestCopyUpRace(t *testing.T) {
	root := t.TempDir()
	build(t, root, "app/")
	for i := range 200 {
		build(t, root, "app/f"+strconv.Itoa(i))
	}
	src := openIn(t, root, "/app")
	dst := t.TempDir()
	var (
		wg     sync.WaitGroup
		copies [4]bool
		errs   [4]error
	)
	for i := range copies {
		wg.Go(func() { copies[i], errs[i] = copyup.CopyUp(src, dst) })
	}
	wg.Wait()
	n := 0
	for i := range copies {
		if errs[i] != nil {
			t.Errorf("CopyUp #%d: %v", i, errs[i])
		}
		if copies[i] {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d of 4 racing CopyUps copied, want 1", n)
	}
	if ents, _ := os.ReadDir(dst); len(ents) != 200 {
		t.Errorf("dst holds %d entries, want 200", len(ents))
	}
}

// TestCopyUpAcrossFilesystems: from tmpfs to the temp directory's
// filesystem copy_file_range fails with EXDEV (as from an overlayfs root
// to an ext4 volume); the copy falls back to read and write.
func TestCopyUpAcrossFilesystems(t *testing.T) {
	var shm, tmp unix.Statfs_t
	if unix.Statfs("/dev/shm", &shm) != nil || shm.Type != unix.TMPFS_MAGIC || unix.Statfs(os.TempDir(), &tmp) != nil || tmp.Type == unix.TMPFS_MAGIC {
		t.Skip("needs /dev/shm on tmpfs and a temp directory on another filesystem")
	}
	root, err := os.MkdirTemp("/dev/shm", "copyup-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	build(t, root, "app/", "app/small")
	big := make([]byte, 5<<20+123)
	for i := range big {
		big[i] = byte(i % 251)
	}
	if err := os.WriteFile(filepath.Join(root, "app/big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	want := treeOf(t, filepath.Join(root, "app"), false)
	dst := t.TempDir()
	if !copyUp(t, openIn(t, root, "/app"), dst) {
		t.Fatal("copied nothing")
	}
	diffTrees(t, treeOf(t, dst, false), want)
}
