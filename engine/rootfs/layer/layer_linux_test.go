package layer

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func isWhiteout(t *testing.T, p string) bool {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func opaque(t *testing.T, p string) bool {
	t.Helper()
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(p, OverlayOpaqueXattr, buf)
	return err == nil && string(buf[:n]) == "y"
}

func TestApplyLayerWhiteouts(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	data := tarball(t,
		file("a/.wh.x", ""),                // plain whiteout, parent implicit
		file("b/new", "n"),                 // child before its dir's opaque marker
		file("b/.wh..wh..opq", ""),         // marker after a child
		file("c/.wh..wh..opq", ""),         // marker before the dir entry
		dirEnt("c/"),                       // must not lose the marker
		file("c/kept", "k"),                // child after
		file(".wh..wh.plnk", ""),           // AUFS bookkeeping: skipped
		file("d/.wh.same", ""),             // whiteout and
		file("d/same", "same-layer entry"), // same-layer entry: the entry wins
		file("e/keep", "first"),            // an entry first,
		file("e/.wh.keep", ""),             // then a whiteout of it: still the entry
		file(".wh.top", ""),                // at the root
		ent{Header: tar.Header{Name: "f/", Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatPAX,
			PAXRecords: map[string]string{"SCHILY.xattr.trusted.overlay.opaque": "y"}}}, // smuggled: dropped
	)
	if _, err := ApplyLayer(root, bytes.NewReader(data)); err != nil {
		t.Fatalf("ApplyLayer: %v", err)
	}
	for _, p := range []string{"a/x", "top"} {
		if !isWhiteout(t, filepath.Join(root, p)) {
			t.Errorf("%s is not an overlay whiteout (char 0/0)", p)
		}
	}
	for _, p := range []string{"b", "c"} {
		if !opaque(t, filepath.Join(root, p)) {
			t.Errorf("%s is not marked opaque", p)
		}
	}
	if opaque(t, filepath.Join(root, "f")) {
		t.Errorf("f took trusted.overlay.opaque from the tar's PAX records")
	}
	for p, want := range map[string]string{"b/new": "n", "c/kept": "k", "d/same": "same-layer entry", "e/keep": "first"} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v, want %q", p, b, err, want)
		}
	}
	for _, p := range []string{".wh..wh.plnk", "a/.wh.x", "b/.wh..wh..opq", ".wh.top"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s exists; whiteout entries must not be extracted as files", p)
		}
	}
}

func TestApplyLayerMetadata(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	suid := file("usr/bin/su", "elf")
	suid.Mode, suid.Uid, suid.Gid = 0o4755, 0, 0
	owned := file("home/u/f", "x")
	owned.Uid, owned.Gid = 1234, 5678
	sticky := dirEnt("tmp/")
	sticky.Mode = 0o1777
	sgid := dirEnt("srv/")
	sgid.Mode, sgid.Gid = 0o2775, 50
	withX := file("x", "x")
	withX.PAXRecords = map[string]string{"SCHILY.xattr.user.comment": "hello"}
	linkOwned := symlinkEnt("home/u/link", "f")
	linkOwned.Uid, linkOwned.Gid = 1234, 5678
	null := ent{Header: tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666}}
	loop := ent{Header: tar.Header{Name: "dev/loop9", Typeflag: tar.TypeBlock, Devmajor: 7, Devminor: 9, Mode: 0o660, Gid: 6}}
	fifo := ent{Header: tar.Header{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o620}}
	data := tarball(t, suid, owned, sticky, sgid, withX, linkOwned, null, loop, fifo)
	if _, err := ApplyLayer(root, bytes.NewReader(data)); err != nil {
		t.Fatalf("ApplyLayer: %v", err)
	}
	tests := []struct {
		path           string
		typ            uint32
		perm           uint32
		uid, gid       uint32
		major, minor   uint32
		checkOwnership bool
	}{
		{path: "usr/bin/su", typ: unix.S_IFREG, perm: 0o4755, checkOwnership: true},
		{path: "home/u/f", typ: unix.S_IFREG, perm: 0o644, uid: 1234, gid: 5678, checkOwnership: true},
		{path: "home/u/link", typ: unix.S_IFLNK, perm: 0o777, uid: 1234, gid: 5678, checkOwnership: true},
		{path: "tmp", typ: unix.S_IFDIR, perm: 0o1777},
		{path: "srv", typ: unix.S_IFDIR, perm: 0o2775, gid: 50, checkOwnership: true},
		{path: "dev/null", typ: unix.S_IFCHR, perm: 0o666, major: 1, minor: 3},
		{path: "dev/loop9", typ: unix.S_IFBLK, perm: 0o660, gid: 6, major: 7, minor: 9, checkOwnership: true},
		{path: "run/fifo", typ: unix.S_IFIFO, perm: 0o620},
	}
	for _, tt := range tests {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, tt.path), &st); err != nil {
			t.Errorf("%s: %v", tt.path, err)
			continue
		}
		if st.Mode&unix.S_IFMT != tt.typ || st.Mode&0o7777 != tt.perm {
			t.Errorf("%s mode = %o, want type %o perm %o", tt.path, st.Mode, tt.typ, tt.perm)
		}
		if tt.checkOwnership && (st.Uid != tt.uid || st.Gid != tt.gid) {
			t.Errorf("%s owner = %d:%d, want %d:%d", tt.path, st.Uid, st.Gid, tt.uid, tt.gid)
		}
		if tt.major != 0 && (unix.Major(st.Rdev) != tt.major || unix.Minor(st.Rdev) != tt.minor) {
			t.Errorf("%s device = %d:%d, want %d:%d", tt.path, unix.Major(st.Rdev), unix.Minor(st.Rdev), tt.major, tt.minor)
		}
	}
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(filepath.Join(root, "x"), "user.comment", buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Errorf("xattr user.comment on x = %q, %v, want hello", buf[:n], err)
	}
}

// TestApplyLayerHostileRoot covers escapes that only root can attempt:
// whiteouts, opaque markers and device nodes aimed through symlinks at the
// host.
func TestApplyLayerHostileRoot(t *testing.T) {
	requireRoot(t)
	before := hostState(t, "/", "/etc", "/etc/passwd", "/etc/hostname", "/dev/stack-test-null")
	tests := []struct {
		name   string
		ents   func(s sandbox) []ent
		inside func(t *testing.T, root string)
	}{
		{
			name: "whiteout through a symlink to /etc",
			ents: func(sandbox) []ent {
				return []ent{symlinkEnt("s", "/etc"), dirEnt("etc/"), file("s/.wh.passwd", "")}
			},
			inside: func(t *testing.T, root string) {
				if !isWhiteout(t, filepath.Join(root, "etc/passwd")) {
					t.Errorf("whiteout did not land at <root>/etc/passwd")
				}
			},
		},
		{
			name: "opaque marker through a symlink to /",
			ents: func(sandbox) []ent {
				return []ent{symlinkEnt("s", "/"), file("s/.wh..wh..opq", "")}
			},
			inside: func(t *testing.T, root string) {
				if !opaque(t, root) {
					t.Errorf("opaque marker did not land on the layer root")
				}
			},
		},
		{
			name: "opaque marker through a symlink to the sandbox",
			ents: func(s sandbox) []ent {
				return []ent{symlinkEnt("s", ".."), file("s/.wh..wh..opq", "")}
			},
			inside: func(t *testing.T, root string) {
				if !opaque(t, root) {
					t.Errorf("opaque marker did not land on the layer root")
				}
			},
		},
		{
			name: "device through a symlink to /dev",
			ents: func(sandbox) []ent {
				return []ent{symlinkEnt("d", "/dev"), dirEnt("dev/"),
					{Header: tar.Header{Name: "d/stack-test-null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666}}}
			},
			inside: func(t *testing.T, root string) {
				var st unix.Stat_t
				if err := unix.Lstat(filepath.Join(root, "dev/stack-test-null"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
					t.Errorf("device did not land at <root>/dev/stack-test-null: %v", err)
				}
			},
		},
		{
			name: "xattr on a file through a symlink",
			ents: func(s sandbox) []ent {
				f := file("s/etc/hostname", "pwned")
				f.PAXRecords = map[string]string{"SCHILY.xattr.user.pwned": "1"}
				return []ent{symlinkEnt("s", "/"), f}
			},
			inside: func(t *testing.T, root string) {
				if b, _ := os.ReadFile(filepath.Join(root, "etc/hostname")); string(b) != "pwned" {
					t.Errorf("<root>/etc/hostname = %q", b)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSandbox(t)
			if _, err := ApplyLayer(s.root, bytes.NewReader(tarball(t, tt.ents(s)...))); err != nil {
				t.Fatalf("ApplyLayer: %v", err)
			}
			tt.inside(t, s.root)
			s.check(t)
			if opaque(t, s.dir) {
				t.Errorf("the sandbox got the opaque marker")
			}
		})
	}
	after := hostState(t, "/", "/etc", "/etc/passwd", "/etc/hostname", "/dev/stack-test-null")
	for p, b := range before {
		if after[p] != b {
			t.Errorf("host %s changed: %q -> %q", p, b, after[p])
		}
	}
	for _, p := range []string{"/", "/etc"} {
		if opaque(t, p) {
			t.Errorf("host %s is marked opaque", p)
		}
	}
	buf := make([]byte, 8)
	if _, err := unix.Lgetxattr("/etc/hostname", "user.pwned", buf); err == nil {
		t.Errorf("host /etc/hostname got user.pwned")
	}
}
