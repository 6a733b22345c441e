package archive_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"stack/engine/archive"
	"stack/engine/errdefs"
)

var testTime = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

// newRoot makes a directory standing for a container's root filesystem and
// returns it open, with its path.
func newRoot(t testing.TB) (*os.File, string) {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, dir
}

// build makes the entries of spec under dir: "name/" is a directory,
// "name -> target" a symlink, "name => target" a hard link, "name|" a fifo,
// anything else a file holding its own name.
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

type entry struct {
	name string
	typ  byte
	link string
	body string
}

func readTar(t testing.TB, b []byte) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		body, _ := io.ReadAll(tr)
		out = append(out, entry{name: h.Name, typ: h.Typeflag, link: h.Linkname, body: string(body)})
	}
}

func names(es []entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.name)
	}
	return out
}

func tarOf(t testing.TB, root *os.File, p string, follow bool) []entry {
	t.Helper()
	var b bytes.Buffer
	if err := archive.Tar(&b, root, p, follow); err != nil {
		t.Fatalf("Tar(%q, %v): %v", p, follow, err)
	}
	return readTar(t, b.Bytes())
}

// TestTarNames pins what docker cp puts at the top of the archive.
func TestTarNames(t *testing.T) {
	root, dir := newRoot(t)
	build(t, dir, "etc/", "etc/passwd", "dir/", "dir/sub/", "dir/empty/", "dir/a", "dir/sub/b",
		"dir/link -> a", "dir/hard => dir/a", "data -> /etc", "rel -> dir/sub")
	tests := []struct {
		path   string
		follow bool
		want   []string
	}{
		{path: "/dir", want: []string{"dir/", "dir/a", "dir/empty/", "dir/hard", "dir/link", "dir/sub/", "dir/sub/b"}},
		{path: "dir/", want: []string{"dir/", "dir/a", "dir/empty/", "dir/hard", "dir/link", "dir/sub/", "dir/sub/b"}},
		{path: "/dir/.", want: []string{"./", "./a", "./empty/", "./hard", "./link", "./sub/", "./sub/b"}},
		{path: "/dir/a", want: []string{"a"}},
		{path: "/dir/link", want: []string{"link"}},
		{path: "/dir/link", follow: true, want: []string{"link"}},
		{path: "/rel", want: []string{"rel"}},
		{path: "/rel", follow: true, want: []string{"rel/", "rel/b"}},
		{path: "/rel/", want: []string{"rel/", "rel/b"}},
		{path: "/data/passwd", want: []string{"passwd"}},
		{path: "/dir/sub/../../etc", want: []string{"etc/", "etc/passwd"}},
	}
	for _, tt := range tests {
		got := names(tarOf(t, root, tt.path, tt.follow))
		if !slices.Equal(got, tt.want) {
			t.Errorf("Tar(%q, follow=%v) names = %q, want %q", tt.path, tt.follow, got, tt.want)
		}
	}
}

func TestTarEntries(t *testing.T) {
	root, dir := newRoot(t)
	build(t, dir, "dir/", "dir/a", "dir/link -> a", "dir/hard => dir/a", "dir/fifo|")
	got := tarOf(t, root, "/dir", false)
	want := []entry{
		{name: "dir/", typ: tar.TypeDir},
		{name: "dir/a", typ: tar.TypeReg, body: "dir/a"},
		{name: "dir/fifo", typ: tar.TypeFifo},
		{name: "dir/hard", typ: tar.TypeLink, link: "dir/a"},
		{name: "dir/link", typ: tar.TypeSymlink, link: "a"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Tar(/dir) = %+v, want %+v", got, want)
	}
	// Followed, the link is archived as what it points to.
	got = tarOf(t, root, "/dir/link", true)
	if want := []entry{{name: "link", typ: tar.TypeReg, body: "dir/a"}}; !slices.Equal(got, want) {
		t.Errorf("Tar(/dir/link, follow) = %+v, want %+v", got, want)
	}
}

// TestTarSymlinkToEtc: a container's symlink to /etc leads to the
// container's /etc. The host's /etc/passwd is never read.
func TestTarSymlinkToEtc(t *testing.T) {
	root, dir := newRoot(t)
	build(t, dir, "data -> /etc", "up -> ../../../../../../../etc", "magic -> /proc/self/root/etc")
	for _, p := range []string{"/data/passwd", "/up/passwd", "/magic/passwd", "/../../../etc/passwd"} {
		var b bytes.Buffer
		err := archive.Tar(&b, root, p, false)
		if !errors.Is(err, errdefs.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Tar(%q) with no /etc in the container = %v, want not found", p, err)
		}
		if b.Len() != 0 {
			t.Errorf("Tar(%q) wrote %d bytes for a missing file", p, b.Len())
		}
	}
	build(t, dir, "etc/", "etc/passwd")
	host, _ := os.ReadFile("/etc/passwd")
	for _, p := range []string{"/data/passwd", "/up/passwd", "/../../../etc/passwd"} {
		got := tarOf(t, root, p, false)
		if len(got) != 1 || got[0].body != "etc/passwd" {
			t.Errorf("Tar(%q) = %+v, want the container's etc/passwd", p, got)
		}
		for _, e := range got {
			if len(host) > 0 && e.body == string(host) {
				t.Errorf("Tar(%q) archived the host's /etc/passwd", p)
			}
		}
	}
	got := tarOf(t, root, "/data", true)
	if want := []string{"data/", "data/passwd"}; !slices.Equal(names(got), want) {
		t.Errorf("Tar(/data, follow) = %q, want %q", names(got), want)
	}
}

func TestTarMissing(t *testing.T) {
	root, dir := newRoot(t)
	build(t, dir, "file", "dangling -> nowhere")
	for _, tt := range []struct {
		path   string
		follow bool
	}{{path: "/nope"}, {path: "/nope/x"}, {path: "/dangling", follow: true}, {path: "/dangling/"}} {
		err := archive.Tar(io.Discard, root, tt.path, tt.follow)
		if !errors.Is(err, errdefs.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Tar(%q, %v) = %v, want not found", tt.path, tt.follow, err)
		}
	}
	if err := archive.Tar(io.Discard, root, "/file/", false); !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("Tar(/file/) = %v, want ENOTDIR", err)
	}
	// A dangling link itself is archived fine.
	if got := tarOf(t, root, "/dangling", false); len(got) != 1 || got[0].link != "nowhere" {
		t.Errorf("Tar(/dangling) = %+v", got)
	}
}

func TestStat(t *testing.T) {
	root, dir := newRoot(t)
	build(t, dir, "etc/", "etc/passwd", "data -> /etc", "rel -> etc/passwd", "dangling -> ../nowhere")
	tests := []struct {
		path       string
		name       string
		typ        fs.FileMode
		linkTarget string
	}{
		{path: "/", name: "/", typ: fs.ModeDir},
		{path: "/etc", name: "etc", typ: fs.ModeDir},
		{path: "/etc/passwd", name: "passwd"},
		{path: "/data", name: "data", typ: fs.ModeSymlink, linkTarget: "/etc"},
		{path: "/data/", name: "data", typ: fs.ModeDir},
		{path: "/data/.", name: "data", typ: fs.ModeDir},
		{path: "/data/passwd", name: "passwd"},
		{path: "/rel", name: "rel", typ: fs.ModeSymlink, linkTarget: "/etc/passwd"},
		{path: "/dangling", name: "dangling", typ: fs.ModeSymlink, linkTarget: "/nowhere"},
	}
	for _, tt := range tests {
		fi, err := archive.Stat(root, tt.path)
		if err != nil {
			t.Errorf("Stat(%q): %v", tt.path, err)
			continue
		}
		if fi.Name() != tt.name || fi.Mode().Type() != tt.typ {
			t.Errorf("Stat(%q) = name %q type %v, want %q %v", tt.path, fi.Name(), fi.Mode().Type(), tt.name, tt.typ)
		}
		if lt := fi.(*archive.FileInfo).LinkTarget; lt != tt.linkTarget {
			t.Errorf("Stat(%q).LinkTarget = %q, want %q", tt.path, lt, tt.linkTarget)
		}
	}
	if _, err := archive.Stat(root, "/missing"); !errors.Is(err, errdefs.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(/missing) = %v, want not found", err)
	}
	if _, err := archive.Stat(root, "/missing"); err == nil || strings.Contains(err.Error(), dir) {
		t.Errorf("Stat(/missing) = %v: the error must name the container path, not the host's", err)
	}
}

// tarball writes a tar of the given headers; a regular file's body is its
// Linkname field when set (as a shorthand), else its name.
type ent struct {
	tar.Header
	body string
}

func file(name, body string) ent {
	return ent{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: testTime}, body}
}

func dirEnt(name string) ent {
	return ent{Header: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: testTime}}
}

func symlinkEnt(name, target string) ent {
	return ent{Header: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777, ModTime: testTime}}
}

func hardlinkEnt(name, target string) ent {
	return ent{Header: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target, ModTime: testTime}}
}

func tarball(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, e := range ents {
		if err := w.WriteHeader(&e.Header); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

// TestUntarDestination pins docker cp's rules for where content goes.
func TestUntarDestination(t *testing.T) {
	fileTar := func(name string) []byte { return tarball(t, file(name, "content")) }
	dirTar := tarball(t, dirEnt("d/"), file("d/x", "x"), dirEnt("d/sub/"), file("d/sub/y", "y"))
	dotTar := tarball(t, dirEnt("./"), file("./x", "x"))
	tests := []struct {
		name    string
		dst     string
		tar     []byte
		want    map[string]string // path under root -> content ("/" suffix: a directory)
		wantErr error
	}{
		{name: "file into dir", dst: "/dir", tar: fileTar("a"), want: map[string]string{"dir/a": "content"}},
		{name: "file into dir via symlink", dst: "/dirlink", tar: fileTar("a"), want: map[string]string{"dir/a": "content", "dirlink": "<symlink>"}},
		{name: "file to new name", dst: "/dir/new", tar: fileTar("a"), want: map[string]string{"dir/new": "content"}},
		{name: "file over file", dst: "/dir/old", tar: fileTar("a"), want: map[string]string{"dir/old": "content"}},
		{name: "file over file via symlink", dst: "/oldlink", tar: fileTar("a"), want: map[string]string{"dir/old": "content", "oldlink": "<symlink>"}},
		{name: "dir into dir", dst: "/dir", tar: dirTar, want: map[string]string{"dir/d/x": "x", "dir/d/sub/y": "y"}},
		{name: "dir to new name", dst: "/dir/n", tar: dirTar, want: map[string]string{"dir/n/x": "x", "dir/n/sub/y": "y"}},
		{name: "dir to new name, slash", dst: "/dir/n/", tar: dirTar, want: map[string]string{"dir/n/x": "x"}},
		{name: "content into dir", dst: "/dir", tar: dotTar, want: map[string]string{"dir/x": "x"}},
		{name: "content to new dir", dst: "/dir/n", tar: dotTar, want: map[string]string{"dir/n/x": "x"}},
		{name: "dir over file", dst: "/dir/old", tar: dirTar, wantErr: errdefs.ErrInvalid},
		{name: "file to missing dir", dst: "/dir/n/", tar: fileTar("a"), wantErr: errdefs.ErrNotFound},
		{name: "missing parent", dst: "/nope/n", tar: fileTar("a"), wantErr: errdefs.ErrNotFound},
		{name: "file over dir", dst: "/", tar: fileTar("dir"), wantErr: errdefs.ErrInvalid},
		{name: "dir over file entry", dst: "/dir", tar: tarball(t, dirEnt("old/")), wantErr: errdefs.ErrInvalid},
		{name: "two tops to new name", dst: "/dir/n", tar: tarball(t, file("a", "a"), file("b", "b")), wantErr: errdefs.ErrInvalid},
		{name: "two tops into dir", dst: "/dir", tar: tarball(t, file("a", "a"), file("b", "b")), want: map[string]string{"dir/a": "a", "dir/b": "b"}},
		{name: "empty archive", dst: "/dir", tar: tarball(t), want: map[string]string{"dir/old": "old"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, dir := newRoot(t)
			build(t, dir, "dir/", "dirlink -> /dir")
			if err := os.WriteFile(filepath.Join(dir, "dir/old"), []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			build(t, dir, "oldlink -> dir/old")
			err := archive.Untar(bytes.NewReader(tt.tar), root, tt.dst)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Untar(%q) = %v, want %v", tt.dst, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), dir) {
					t.Errorf("Untar(%q) error %q names the host path", tt.dst, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Untar(%q): %v", tt.dst, err)
			}
			for p, want := range tt.want {
				fi, err := os.Lstat(filepath.Join(dir, p))
				switch {
				case want == "<symlink>":
					if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
						t.Errorf("%s is not a symlink any more: %v %v", p, fi, err)
					}
				default:
					if got := readFile(t, filepath.Join(dir, p)); got != want {
						t.Errorf("%s = %q, want %q", p, got, want)
					}
				}
			}
		})
	}
}

// TestUntarHostile: no entry of a hostile archive reaches outside the root,
// nor outside the destination.
func TestUntarHostile(t *testing.T) {
	// A name no test run would have made on the host.
	abs := "/tmp/stack-archive-hostile-" + strings.ReplaceAll(t.Name(), "/", "-")
	tests := []struct {
		name    string
		ents    []ent
		wantErr error
		// check runs after Untar with the root's path.
		check func(t *testing.T, dir string)
	}{
		{name: "dotdot", ents: []ent{file("../../../../../../../tmp/evil", "x")}, wantErr: errdefs.ErrInvalid},
		{name: "dotdot inside", ents: []ent{file("a/../../evil", "x")}, wantErr: errdefs.ErrInvalid},
		{name: "absolute", ents: []ent{file(abs, "x")}, check: func(t *testing.T, dir string) {
			if _, err := os.Lstat(abs); err == nil {
				t.Errorf("%s was written on the host", abs)
			}
			if got := readFile(t, filepath.Join(dir, "dst", abs)); got != "x" {
				t.Errorf("absolute entry not under the destination: %q", got)
			}
		}},
		{name: "symlink then file", ents: []ent{symlinkEnt("l", "/etc"), file("l/passwd", "pwned")}, wantErr: errdefs.ErrInvalid},
		{name: "relative symlink then file", ents: []ent{symlinkEnt("l", "../../../../.."), file("l/etc/passwd", "pwned")}, wantErr: errdefs.ErrInvalid},
		{name: "symlink then dir", ents: []ent{symlinkEnt("l", "/etc"), dirEnt("l/x/"), file("l/x/y", "pwned")}, wantErr: errdefs.ErrInvalid},
		{name: "hardlink out", ents: []ent{hardlinkEnt("h", "../etc/passwd")}, wantErr: errdefs.ErrInvalid},
		{name: "hardlink through symlink", ents: []ent{symlinkEnt("l", "/etc"), hardlinkEnt("h", "l/passwd")}, wantErr: errdefs.ErrInvalid},
		{name: "file over planted symlink", ents: []ent{file("planted", "mine")}, check: func(t *testing.T, dir string) {
			if got := readFile(t, filepath.Join(dir, "etc/passwd")); got != "etc/passwd" {
				t.Errorf("wrote through a symlink: etc/passwd = %q", got)
			}
			if got := readFile(t, filepath.Join(dir, "dst/planted")); got != "mine" {
				t.Errorf("dst/planted = %q", got)
			}
		}},
		{name: "symlink replaced by file", ents: []ent{symlinkEnt("s", "/etc/passwd"), file("s", "mine")}, check: func(t *testing.T, dir string) {
			if got := readFile(t, filepath.Join(dir, "etc/passwd")); got != "etc/passwd" {
				t.Errorf("wrote through a symlink: etc/passwd = %q", got)
			}
		}},
		{name: "container symlink replaced", ents: []ent{file("up/x", "x"), file("up", "now a file"), file("up/y", "y")}, wantErr: unix.ENOTDIR, check: func(t *testing.T, dir string) {
			// up/y must not go where the replaced symlink pointed.
			if _, err := os.Lstat(filepath.Join(dir, "y")); err == nil {
				t.Errorf("up/y was written through the replaced symlink")
			}
		}},
		{name: "container symlink stays in root", ents: []ent{file("up/x", "x")}, check: func(t *testing.T, dir string) {
			// dst/up -> ../../../.. in the container is the container's /.
			if got := readFile(t, filepath.Join(dir, "x")); got != "x" {
				t.Errorf("root/x = %q, want x", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, dir := newRoot(t)
			build(t, dir, "etc/", "etc/passwd", "dst/", "dst/planted -> /etc/passwd", "dst/up -> ../../../..")
			err := archive.Untar(bytes.NewReader(tarball(t, tt.ents...)), root, "/dst")
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Untar = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && err != nil {
				t.Fatalf("Untar: %v", err)
			}
			if got := readFile(t, filepath.Join(dir, "etc/passwd")); got != "etc/passwd" {
				t.Errorf("the container's etc/passwd became %q", got)
			}
			if _, err := os.Lstat(filepath.Join(filepath.Dir(dir), "evil")); err == nil {
				t.Errorf("an entry landed next to the root")
			}
			if tt.check != nil {
				tt.check(t, dir)
			}
		})
	}
}

// treeOf describes every entry under dir, for comparing two trees: type,
// permission bits, mtime, size, content or link target, and which entries
// share an inode. Ownership is added when owners is set.
func treeOf(t testing.TB, dir string, owners bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		s := fi.Mode().String()
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			s += " mtime=" + time.Unix(st.Mtim.Sec, 0).UTC().Format(time.RFC3339)
		}
		if owners {
			s += " owner=" + itoa(st.Uid) + ":" + itoa(st.Gid)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			s += " body=" + readFile(t, p)
		case unix.S_IFLNK:
			l, _ := os.Readlink(p)
			s += " link=" + l
		case unix.S_IFCHR, unix.S_IFBLK:
			s += " dev=" + itoa(unix.Major(st.Rdev)) + "," + itoa(unix.Minor(st.Rdev))
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR && st.Nlink > 1 {
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

func itoa[T uint32 | uint64](v T) string { return strconv.FormatUint(uint64(v), 10) }

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

// setTimes gives every entry under dir a fixed, distinct past mtime,
// directories last.
func setTimes(t testing.TB, dir string) {
	t.Helper()
	var dirs []string
	i := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		i++
		ts := []unix.Timespec{unix.NsecToTimespec(testTime.Add(time.Duration(i) * time.Hour).UnixNano()), unix.NsecToTimespec(testTime.Add(time.Duration(i) * time.Hour).UnixNano())}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
	for j := len(dirs) - 1; j >= 0; j-- {
		ts := []unix.Timespec{unix.NsecToTimespec(testTime.UnixNano()), unix.NsecToTimespec(testTime.Add(time.Duration(j) * time.Minute).UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dirs[j], ts, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// roundTrip archives /tree of one root and extracts it into / of another,
// returning the second root's path.
func roundTrip(t *testing.T, src *os.File) string {
	t.Helper()
	var b bytes.Buffer
	if err := archive.Tar(&b, src, "/tree", false); err != nil {
		t.Fatalf("Tar: %v", err)
	}
	dst, dstDir := newRoot(t)
	if err := archive.Untar(&b, dst, "/"); err != nil {
		t.Fatalf("Untar: %v", err)
	}
	return dstDir
}

// TestRoundTrip: what Tar archives, Untar restores: modes (setuid, setgid
// and sticky included), symlinks, hard links, fifos, empty directories and
// mtimes. TestRoundTripOwnership adds ownership and devices, as root.
func TestRoundTrip(t *testing.T) {
	src, dir := newRoot(t)
	build(t, dir, "tree/", "tree/empty/", "tree/sub/", "tree/sub/deep/", "tree/sub/deep/f", "tree/a",
		"tree/abs -> /etc/passwd", "tree/rel -> sub/deep/f", "tree/hard => tree/a", "tree/sub/hard2 => tree/a", "tree/fifo|",
		"tree/suid", "tree/sticky/", "tree/ro/", "tree/ro/inside")
	if err := os.WriteFile(filepath.Join(dir, "tree/big"), bytes.Repeat([]byte("0123456789abcdef"), 1<<16), 0o600); err != nil {
		t.Fatal(err)
	}
	for p, m := range map[string]os.FileMode{"tree/suid": 0o755 | os.ModeSetuid | os.ModeSetgid, "tree/sticky": 0o777 | os.ModeSticky | os.ModeDir, "tree/sub": 0o750 | os.ModeSetgid} {
		if err := os.Chmod(filepath.Join(dir, p), m); err != nil {
			t.Fatal(err)
		}
	}
	setTimes(t, filepath.Join(dir, "tree"))
	if err := os.Chmod(filepath.Join(dir, "tree/ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "tree/ro"), 0o755) })
	want := treeOf(t, filepath.Join(dir, "tree"), false)
	if len(want) != 16 {
		t.Fatalf("source tree has %d entries, want 16: %v", len(want), want)
	}
	out := roundTrip(t, src)
	t.Cleanup(func() { os.Chmod(filepath.Join(out, "tree/ro"), 0o755) })
	diffTrees(t, treeOf(t, filepath.Join(out, "tree"), false), want)
}

// TestUntarHostileRenamed: the same checks hold when the top entry is
// renamed (the destination does not exist yet).
func TestUntarHostileRenamed(t *testing.T) {
	tests := []struct {
		name string
		ents []ent
	}{
		{name: "dotdot top", ents: []ent{file("../../x", "x")}},
		{name: "dotdot below top", ents: []ent{dirEnt("a/"), file("a/../../x", "x")}},
		{name: "sibling via dotdot", ents: []ent{dirEnt("a/"), file("a/../b", "x")}},
		{name: "symlink then file", ents: []ent{dirEnt("a/"), symlinkEnt("a/l", "/etc"), file("a/l/passwd", "pwned")}},
		{name: "hardlink out", ents: []ent{dirEnt("a/"), hardlinkEnt("a/h", "b/passwd")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, dir := newRoot(t)
			build(t, dir, "etc/", "etc/passwd", "dst/", "dst/b/", "dst/b/passwd")
			err := archive.Untar(bytes.NewReader(tarball(t, tt.ents...)), root, "/dst/new")
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("Untar = %v, want ErrInvalid", err)
			}
			for _, p := range []string{"x", "dst/x", "dst/b/x"} {
				if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
					t.Errorf("%s was written", p)
				}
			}
			if got := readFile(t, filepath.Join(dir, "etc/passwd")); got != "etc/passwd" {
				t.Errorf("the container's etc/passwd became %q", got)
			}
		})
	}
}
