package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireRoot skips a test that needs euid 0 and the real kernel, saying
// why, and fails instead when STACK_TEST_ROOT=1 promises root tests will run.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Getenv("STACK_TEST_ROOT") == "1" && os.Geteuid() != 0 {
		t.Fatalf("STACK_TEST_ROOT=1 but euid is %d: root tests cannot run", os.Geteuid())
	}
	if testing.Short() {
		t.Skip("needs root (mknod, trusted.* xattrs, chown): skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (mknod, trusted.* xattrs, chown): run as root, STACK_TEST_ROOT=1 makes this a failure")
	}
}

// ent is one tar entry for tests; body is the content of regular files.
type ent struct {
	tar.Header
	body string
}

var testTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

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

func tarball(t *testing.T, ents ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, e := range ents {
		h := e.Header
		if h.Format == tar.FormatUnknown && len(h.PAXRecords) > 0 {
			h.Format = tar.FormatPAX
		}
		if err := w.WriteHeader(&h); err != nil {
			t.Fatalf("WriteHeader(%q): %v", h.Name, err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatalf("Write(%q): %v", h.Name, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "a/b", want: "a/b"},
		{in: "./a/b/", want: "a/b"},
		{in: "/abs/x", want: "abs/x"},
		{in: "//abs", want: "abs"},
		{in: "./", want: "."},
		{in: "", want: "."},
		{in: "a/../b", want: "b"},
		{in: "a/./b//c", want: "a/b/c"},
		{in: "..", wantErr: true},
		{in: "../escape", wantErr: true},
		{in: "a/../../escape", wantErr: true},
		{in: "/../x", wantErr: true},
		{in: "a\x00b", wantErr: true},
	}
	for _, tt := range tests {
		got, err := cleanName(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("cleanName(%q) = %q, %v, want %q, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestXattrsDropOverlay(t *testing.T) {
	h := &tar.Header{PAXRecords: map[string]string{
		"SCHILY.xattr.user.keep":                "1",
		"SCHILY.xattr.security.capability":      "caps",
		"SCHILY.xattr.trusted.overlay.opaque":   "y",
		"SCHILY.xattr.trusted.overlay.redirect": "/x",
		"mtime":                                 "123",
	}}
	got := xattrs(h)
	if len(got) != 2 || got["user.keep"] != "1" || got["security.capability"] != "caps" {
		t.Errorf("xattrs() = %v, want user.keep and security.capability only", got)
	}
}

// TestApplyLayerBasic covers what works without privileges: files, dirs,
// implicit parents, symlinks, hard links, modes, times and the byte count.
func TestApplyLayerBasic(t *testing.T) {
	root := t.TempDir()
	dirTime := time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)
	d := dirEnt("etc/")
	d.ModTime = dirTime
	exe := file("bin/tool", "#!/bin/sh\n")
	exe.Mode = 0o755
	secret := file("etc/shadow", "x")
	secret.Mode = 0o640
	data := tarball(t,
		d,
		file("etc/hostname", "box\n"),
		secret,
		exe, // bin/ has no entry of its own
		symlinkEnt("etc/localtime", "/usr/share/zoneinfo/UTC"),
		hardlinkEnt("bin/tool2", "bin/tool"),
		file("./dup", "first"),
		file("dup", "second"),
		dirEnt("./"),
	)
	n, err := ApplyLayer(root, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("ApplyLayer: %v", err)
	}
	if want := int64(len("box\n") + 1 + len("#!/bin/sh\n") + len("first") + len("second")); n != want {
		t.Errorf("ApplyLayer size = %d, want %d", n, want)
	}
	readFile := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := readFile("etc/hostname"); got != "box\n" {
		t.Errorf("etc/hostname = %q", got)
	}
	if got := readFile("dup"); got != "second" {
		t.Errorf("dup = %q, want the later entry", got)
	}
	mode := func(p string) os.FileMode {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode()
	}
	if got := mode("etc/shadow").Perm(); got != 0o640 {
		t.Errorf("etc/shadow mode = %v, want 0640", got)
	}
	if got := mode("bin/tool").Perm(); got != 0o755 {
		t.Errorf("bin/tool mode = %v, want 0755", got)
	}
	if got := mode("bin"); !got.IsDir() || got.Perm() != 0o755 {
		t.Errorf("implicit bin/ mode = %v, want dir 0755", got)
	}
	if target, err := os.Readlink(filepath.Join(root, "etc/localtime")); err != nil || target != "/usr/share/zoneinfo/UTC" {
		t.Errorf("etc/localtime -> %q, %v", target, err)
	}
	var a, b unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "bin/tool"), &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(filepath.Join(root, "bin/tool2"), &b); err != nil {
		t.Fatal(err)
	}
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("bin/tool2 is not a hard link of bin/tool (ino %d vs %d, nlink %d)", a.Ino, b.Ino, a.Nlink)
	}
	fi, err := os.Stat(filepath.Join(root, "etc"))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(dirTime) {
		t.Errorf("etc mtime = %v, want %v (set after its children)", fi.ModTime(), dirTime)
	}
	fi, err = os.Stat(filepath.Join(root, "etc/hostname"))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(testTime) {
		t.Errorf("etc/hostname mtime = %v, want %v", fi.ModTime(), testTime)
	}
}

func TestApplyLayerReplaces(t *testing.T) {
	root := t.TempDir()
	data := tarball(t,
		file("a/x", "1"),
		file("a", "now a file"), // a directory replaced by a file
		dirEnt("b/"),
		file("b/keep", "k"),
		dirEnt("b/"), // merges, keeps b/keep
		symlinkEnt("c", "/nowhere"),
		dirEnt("c/"), // a symlink replaced by a directory
	)
	if _, err := ApplyLayer(root, bytes.NewReader(data)); err != nil {
		t.Fatalf("ApplyLayer: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "a")); err != nil || string(b) != "now a file" {
		t.Errorf("a = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(root, "b/keep")); err != nil {
		t.Errorf("b/keep lost when b/ was repeated: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "c")); err != nil || !fi.IsDir() {
		t.Errorf("c = %v, %v, want a directory", fi, err)
	}
}

func TestApplyLayerSkipsUnsupported(t *testing.T) {
	root := t.TempDir()
	data := tarball(t,
		ent{Header: tar.Header{Name: "contiguous", Typeflag: tar.TypeCont}},
		ent{Header: tar.Header{Name: "strange", Typeflag: 'Z'}},
		file("ok", "fine"),
	)
	if _, err := ApplyLayer(root, bytes.NewReader(data)); err != nil {
		t.Fatalf("ApplyLayer: %v", err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 || entries[0].Name() != "ok" {
		t.Errorf("root holds %v, want only ok", entries)
	}
}

func TestApplyLayerCorrupt(t *testing.T) {
	good := tarball(t, file("first", "1"), file("big", strings.Repeat("x", 4096)))
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated content", good[:512+512+512+1000], `entry "big"`},
		{"garbage header", append(append([]byte{}, good[:1024]...), bytes.Repeat([]byte{0xff}, 512)...), `after entry "first"`},
		{"not a tar", bytes.Repeat([]byte("nope"), 200), "read tar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ApplyLayer(t.TempDir(), bytes.NewReader(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ApplyLayer() error = %v, want it to mention %s", err, tt.want)
			}
		})
	}
}

// sandbox is a directory holding the layer root next to a canary file, so
// any write that escapes the root shows up as a change in the sandbox.
type sandbox struct {
	dir, root, canary string
}

func newSandbox(t *testing.T) sandbox {
	dir := t.TempDir()
	s := sandbox{dir: dir, root: filepath.Join(dir, "root"), canary: filepath.Join(dir, "canary")}
	if err := os.Mkdir(s.root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.canary, []byte("canary"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s sandbox) check(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "canary,root" {
		t.Errorf("sandbox holds %v, want only canary and root: something escaped the layer root", names)
	}
	var st unix.Stat_t
	if err := unix.Lstat(s.canary, &st); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(s.canary); string(b) != "canary" || st.Nlink != 1 || st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Errorf("canary changed: %q nlink %d mode %o", b, st.Nlink, st.Mode)
	}
}

// hostState fingerprints host files a hostile layer aims at.
func hostState(t *testing.T, paths ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range paths {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			out[p] = err.Error()
			continue
		}
		out[p] = fmt.Sprintf("ino %d mtime %d.%d nlink %d mode %o uid %d size %d",
			st.Ino, st.Mtim.Sec, st.Mtim.Nsec, st.Nlink, st.Mode, st.Uid, st.Size)
	}
	return out
}

// TestApplyLayerHostile feeds layers built to escape the root. None may
// write outside it; each either fails or lands inside the root. It needs
// no privileges; as root it also proves the host's /etc is untouched.
func TestApplyLayerHostile(t *testing.T) {
	hostPaths := []string{"/etc", "/etc/passwd", "/etc/passwd-pwned", "/etc/shadow-pwned", "/abs-stack-test", "/pwned", "/chain-pwned", "/dev/null"}
	before := hostState(t, hostPaths...)
	type tc struct {
		name    string
		ents    func(s sandbox) []ent
		wantErr string            // "" = must succeed
		inside  map[string]string // path in root -> "file", "dir", "symlink"
	}
	tests := []tc{
		{
			name:    "dotdot",
			ents:    func(sandbox) []ent { return []ent{file("../escape", "x")} },
			wantErr: "escapes the layer root",
		},
		{
			name:    "nested dotdot",
			ents:    func(sandbox) []ent { return []ent{file("a/../../escape", "x")} },
			wantErr: "escapes the layer root",
		},
		{
			name:   "absolute name",
			ents:   func(sandbox) []ent { return []ent{file("/abs-stack-test", "x")} },
			inside: map[string]string{"abs-stack-test": "file"},
		},
		{
			name: "symlink to / then write through it",
			ents: func(sandbox) []ent {
				return []ent{symlinkEnt("evil", "/"), file("evil/etc/passwd-pwned", "pwned")}
			},
			inside: map[string]string{"evil": "symlink", "etc/passwd-pwned": "file"},
		},
		{
			name: "symlink to the sandbox then write through it",
			ents: func(s sandbox) []ent {
				return []ent{symlinkEnt("evil", s.dir), file("evil/pwned", "pwned")}
			},
			// <root>/<sandbox path> does not exist: the parent cannot be found.
			wantErr: "no such file or directory",
		},
		{
			name: "relative symlink climbing out",
			ents: func(sandbox) []ent {
				return []ent{symlinkEnt("up", "../../../../../.."), file("up/pwned", "pwned")}
			},
			inside: map[string]string{"up": "symlink", "pwned": "file"},
		},
		{
			name: "symlink chain",
			ents: func(sandbox) []ent {
				return []ent{
					symlinkEnt("a", "b"), symlinkEnt("b", "c"), symlinkEnt("c", ".."),
					file("a/chain-pwned", "pwned"),
				}
			},
			inside: map[string]string{"chain-pwned": "file"},
		},
		{
			name: "symlink loop",
			ents: func(sandbox) []ent {
				return []ent{symlinkEnt("loop", "loop"), file("loop/x", "x")}
			},
			wantErr: "too many levels of symbolic links",
		},
		{
			name: "file replaces a symlink of the same name",
			ents: func(s sandbox) []ent {
				return []ent{symlinkEnt("f", s.canary), file("f", "overwrite")}
			},
			inside: map[string]string{"f": "file"},
		},
		{
			name: "directory through a symlink",
			ents: func(s sandbox) []ent {
				return []ent{symlinkEnt("d", s.dir), dirEnt("d/sub/")}
			},
			wantErr: "no such file or directory",
		},
		{
			// d/ is resolved (and cached) for d/x, then replaced by a
			// symlink: d/pwned must follow the new symlink, in the root.
			name: "directory replaced by a symlink after use",
			ents: func(sandbox) []ent {
				return []ent{dirEnt("d/"), file("d/x", "x"), symlinkEnt("d", "/"), file("d/pwned", "p")}
			},
			inside: map[string]string{"d": "symlink", "pwned": "file"},
		},
		{
			name: "hard link to host /etc/passwd",
			ents: func(sandbox) []ent {
				return []ent{hardlinkEnt("passwd", "/etc/passwd")}
			},
			wantErr: `hard link target "/etc/passwd"`,
		},
		{
			name: "hard link climbing out",
			ents: func(sandbox) []ent {
				return []ent{hardlinkEnt("passwd", "../../../../etc/passwd")}
			},
			wantErr: "escapes the layer root",
		},
		{
			name: "hard link through a symlink",
			ents: func(sandbox) []ent {
				return []ent{symlinkEnt("l", "/etc"), hardlinkEnt("x", "l/passwd")}
			},
			wantErr: "goes through a symlink",
		},
		{
			name: "hard link to the canary through a symlink",
			ents: func(s sandbox) []ent {
				return []ent{symlinkEnt("s", s.dir), hardlinkEnt("x", "s/canary")}
			},
			wantErr: "goes through a symlink",
		},
		{
			name: "hard link to a symlink links the symlink",
			ents: func(sandbox) []ent {
				return []ent{symlinkEnt("ln", "/etc/passwd"), hardlinkEnt("h", "ln")}
			},
			inside: map[string]string{"h": "symlink"},
		},
		{
			name: "hard link name through a symlink",
			ents: func(sandbox) []ent {
				return []ent{file("target", "t"), symlinkEnt("s", "/"), hardlinkEnt("s/etc/passwd-pwned", "target")}
			},
			inside: map[string]string{"etc/passwd-pwned": "file"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSandbox(t)
			_, err := ApplyLayer(s.root, bytes.NewReader(tarball(t, tt.ents(s)...)))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("ApplyLayer: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("ApplyLayer() error = %v, want one containing %q", err, tt.wantErr)
			}
			for p, kind := range tt.inside {
				fi, err := os.Lstat(filepath.Join(s.root, p))
				if err != nil {
					t.Errorf("%s missing inside the root: %v", p, err)
					continue
				}
				got := "file"
				if fi.IsDir() {
					got = "dir"
				} else if fi.Mode()&os.ModeSymlink != 0 {
					got = "symlink"
				}
				if got != kind {
					t.Errorf("%s is a %s, want a %s", p, got, kind)
				}
			}
			s.check(t)
		})
	}
	after := hostState(t, hostPaths...)
	for _, p := range hostPaths {
		if before[p] != after[p] {
			t.Errorf("host %s changed: %q -> %q", p, before[p], after[p])
		}
	}
}

func TestApplyLayerMissingDir(t *testing.T) {
	_, err := ApplyLayer(filepath.Join(t.TempDir(), "missing"), bytes.NewReader(nil))
	if !errors.Is(err, unix.ENOENT) {
		t.Errorf("ApplyLayer(missing dir) error = %v, want ENOENT", err)
	}
}

func TestApplyLayerErrorNamesEntry(t *testing.T) {
	root := t.TempDir()
	data := tarball(t, symlinkEnt("loop", "loop"), file("loop/x", "x"))
	_, err := ApplyLayer(root, bytes.NewReader(data))
	if err == nil || !strings.Contains(err.Error(), `entry "loop/x"`) {
		t.Errorf("ApplyLayer() error = %v, want it to name entry loop/x", err)
	}
}

// benchLayer is a layer of 20 directories of 25 files of 8 KiB each, the
// shape of a typical package-manager layer.
func benchLayer(b *testing.B) []byte {
	var ents []ent
	body := strings.Repeat("x", 8<<10)
	for d := range 20 {
		ents = append(ents, dirEnt(fmt.Sprintf("usr/lib/pkg%d/", d)))
		for f := range 25 {
			ents = append(ents, file(fmt.Sprintf("usr/lib/pkg%d/file%d", d, f), body))
		}
	}
	var t testing.T
	data := tarball(&t, ents...)
	if t.Failed() {
		b.Fatal("building the benchmark layer failed")
	}
	return data
}

func BenchmarkApplyLayer(b *testing.B) {
	data := benchLayer(b)
	b.SetBytes(int64(len(data)))
	parent := b.TempDir()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(parent, fmt.Sprint(i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if _, err := ApplyLayer(dir, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*520)/b.Elapsed().Seconds(), "entries/s")
}
