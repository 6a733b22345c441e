package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ApplyLayer extracts r, an uncompressed OCI/docker layer tar, into dir, the
// root of that layer's own directory (normally empty), so that dir can serve
// as an overlayfs lower directory. It returns the number of bytes of regular
// file content written.
//
// The tar is untrusted. Every name is resolved inside dir as if dir were
// "/": parents are looked up with openat2(RESOLVE_IN_ROOT) from a
// descriptor of dir, so ".." and symlinks, including ones the same tar
// created earlier (a -> /etc, then a/passwd), can never reach outside it;
// the final component is created with *at calls that do not follow it. A
// name whose ".." climbs above the root is refused rather than clamped, as
// docker refuses it; a leading "/" is simply relative to the root. A hard
// link may only name a target inside the layer reached without symlinks.
//
// Whiteouts become overlayfs ones: ".wh.<name>" a 0/0 character device
// <name>, ".wh..wh..opq" the trusted.overlay.opaque=y attribute on its
// directory (whatever the entry order). Ownership, permission bits
// (setuid, setgid and sticky included), modification times (directories'
// after their children) and SCHILY.xattr PAX records are kept, except
// trusted.overlay.* ones from the tar. Device nodes and fifos are created
// with mknod, as rootful docker does. Entry types it does not know are
// skipped without error, like docker; a malformed tar is an error naming
// the entry. As a non-root user, ownership changes and device nodes are
// silently skipped (they cannot be represented), but whiteouts are errors.
//
// ApplyLayer does not delete anything below dir on behalf of whiteouts:
// merging is overlayfs's job. It is not safe to run two ApplyLayer calls
// on one dir at once.
func ApplyLayer(dir string, r io.Reader) (size int64, err error) {
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("apply layer: %w", &os.PathError{Op: "open", Path: dir, Err: err})
	}
	defer unix.Close(root)
	a := &applier{
		root:       root,
		privileged: os.Geteuid() == 0,
		dirTimes:   map[string][2]unix.Timespec{},
		buf:        make([]byte, 256<<10),
		dirs:       map[string]int{},
	}
	defer a.dropDirs()
	tr := tar.NewReader(r)
	last := ""
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		// With GODEBUG=tarinsecurepath=0 the reader flags names we check
		// ourselves; the header is still valid.
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			if last == "" {
				return size, fmt.Errorf("apply layer: read tar: %w", err)
			}
			return size, fmt.Errorf("apply layer: read tar after entry %q: %w", last, err)
		}
		last = hdr.Name
		n, err := a.apply(hdr, tr)
		size += n
		if err != nil {
			return size, fmt.Errorf("apply layer: entry %q: %w", hdr.Name, err)
		}
	}
	if err := a.finish(); err != nil {
		return size, fmt.Errorf("apply layer: %w", err)
	}
	return size, nil
}

// applier holds the state of one ApplyLayer call.
type applier struct {
	root       int  // O_PATH descriptor of the layer root; every lookup starts here
	privileged bool // euid 0: ownership and device nodes must be kept
	// dirTimes holds the times of each directory entry, applied at the end
	// because creating children changes a directory's mtime.
	dirTimes map[string][2]unix.Timespec
	buf      []byte
	// dirs caches descriptors of directories already resolved, by clean
	// path, saving an openat2 walk from the root per entry. A resolved
	// path can only come to mean something else if an entry on it is
	// removed (we never rename), so a removal marks the cache stale and
	// the next lookup empties it.
	dirs  map[string]int
	stale bool
}

// maxCachedDirs bounds the descriptors the cache holds open.
const maxCachedDirs = 128

// errEscape is the cause for names that climb out of the layer root.
var errEscape = errors.New("path escapes the layer root")

// cleanName turns a tar name into a clean path relative to the layer root,
// "." for the root itself. Names whose ".." would climb above the root are
// refused.
func cleanName(name string) (string, error) {
	rel := path.Clean(strings.TrimLeft(name, "/"))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", errEscape
	}
	if strings.IndexByte(rel, 0) >= 0 {
		return "", errors.New("NUL byte in name")
	}
	return rel, nil
}

func (a *applier) apply(hdr *tar.Header, r io.Reader) (int64, error) {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return 0, err
	}
	dir, base := path.Dir(name), path.Base(name)
	if strings.HasPrefix(base, WhiteoutPrefix) {
		return 0, a.whiteout(dir, base)
	}
	if name == "." {
		// The layer root belongs to the store, not to the tar (docker and
		// containerd skip it too).
		return 0, nil
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink, tar.TypeLink,
		tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return 0, nil // unsupported (pax globals, contiguous files...): skip, like docker
	}
	parent, err := a.dir(dir)
	if err != nil {
		return 0, err
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		return 0, a.directory(parent, name, base, hdr)
	case tar.TypeReg, tar.TypeGNUSparse:
		return a.regular(parent, base, hdr, r)
	case tar.TypeSymlink:
		return 0, a.symlink(parent, base, hdr)
	case tar.TypeLink:
		return 0, a.hardlink(parent, name, base, hdr)
	default:
		return 0, a.node(parent, base, hdr)
	}
}

// openDir resolves dir (relative, clean) inside the root and opens it.
// RESOLVE_IN_ROOT makes ".." and absolute symlinks stop at the root, so the
// result is always inside the layer; magic links (/proc/self/...) are
// refused outright.
func (a *applier) openDir(dir string, resolve uint64) (int, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | resolve,
	}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(a.root, dir, how)
		// EAGAIN: a concurrent rename somewhere on the filesystem made the
		// kernel unsure the walk stayed in the root; just retry.
		if (err == unix.EAGAIN || err == unix.EINTR) && i < 16 {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "openat2", Path: dir, Err: err}
		}
		return fd, nil
	}
}

// dir returns a cached descriptor of dir, creating dir if it is missing.
// The caller must not close it, and must not use it after another call.
func (a *applier) dir(dir string) (int, error) {
	if a.stale {
		a.dropDirs()
		a.stale = false
	}
	if fd, ok := a.dirs[dir]; ok {
		return fd, nil
	}
	fd, err := a.mkdirAll(dir)
	if err != nil {
		return -1, err
	}
	if len(a.dirs) >= maxCachedDirs {
		a.dropDirs()
	}
	a.dirs[dir] = fd
	return fd, nil
}

// dropDirs closes and forgets every cached directory descriptor.
func (a *applier) dropDirs() {
	for d, fd := range a.dirs {
		unix.Close(fd)
		delete(a.dirs, d)
	}
}

// mkdirAll returns a descriptor of dir, creating missing directories (mode
// 0755, owned by the caller) the way docker does for tars that omit parent
// entries. Each directory is created with mkdirat in its already-resolved
// parent, so a symlink in the path is followed only inside the root.
func (a *applier) mkdirAll(dir string) (int, error) {
	fd, err := a.openDir(dir, 0)
	if err == nil || !errors.Is(err, unix.ENOENT) || dir == "." {
		return fd, err
	}
	parent, err := a.mkdirAll(path.Dir(dir))
	if err != nil {
		return -1, err
	}
	err = unix.Mkdirat(parent, path.Base(dir), 0o755)
	unix.Close(parent)
	created := err == nil
	if err != nil && err != unix.EEXIST {
		return -1, &os.PathError{Op: "mkdirat", Path: dir, Err: err}
	}
	// EEXIST is a dangling symlink or a racing creation; openDir decides.
	fd, err = a.openDir(dir, 0)
	if err == nil && created {
		// The umask must not decide the mode of a directory in an image.
		if err := unix.Fchmod(fd, 0o755); err != nil {
			unix.Close(fd)
			return -1, &os.PathError{Op: "fchmod", Path: dir, Err: err}
		}
	}
	return fd, err
}

// clear removes whatever is at base in parent so a new entry can take the
// name, except a directory when keepDir is set (a directory entry merges
// into an existing directory). It reports whether a directory was kept.
func (a *applier) clear(parent int, base string, keepDir bool) (kept bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			return false, nil
		}
		return false, &os.PathError{Op: "fstatat", Path: base, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR && keepDir {
		return true, nil
	}
	// A cached directory may be under what goes; parent is not (it
	// holds base) and stays usable for the rest of this entry.
	a.stale = true
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return false, removeAll(parent, base)
	}
	if err := unix.Unlinkat(parent, base, 0); err != nil {
		return false, &os.PathError{Op: "unlinkat", Path: base, Err: err}
	}
	return false, nil
}

// removeAll deletes base and everything under it without following
// symlinks: every step is relative to a descriptor opened with O_NOFOLLOW.
func removeAll(parent int, base string) error {
	err := unix.Unlinkat(parent, base, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return &os.PathError{Op: "unlinkat", Path: base, Err: err}
	}
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "openat", Path: base, Err: err}
	}
	d := os.NewFile(uintptr(fd), base)
	names, err := d.Readdirnames(-1)
	if err == nil {
		for _, n := range names {
			if err = removeAll(fd, n); err != nil {
				break
			}
		}
	}
	d.Close()
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(parent, base, unix.AT_REMOVEDIR); err != nil {
		return &os.PathError{Op: "rmdir", Path: base, Err: err}
	}
	return nil
}

// replace runs create, which makes base in parent and never follows or
// overwrites an existing name. If the name is taken, whatever holds it
// is removed and create runs once more: like tar, this tries the common
// case (a new name) first and pays for a stat only on a clash.
func (a *applier) replace(parent int, base string, create func() error) error {
	err := create()
	if err == unix.EEXIST {
		if _, err := a.clear(parent, base, false); err != nil {
			return err
		}
		err = create()
	}
	return err
}

func (a *applier) directory(parent int, name, base string, hdr *tar.Header) error {
	err := unix.Mkdirat(parent, base, 0o700)
	if err == unix.EEXIST {
		// A directory entry merges into an existing directory; anything
		// else under the name is replaced.
		kept, cerr := a.clear(parent, base, true)
		if cerr != nil {
			return cerr
		}
		err = nil
		if !kept {
			err = unix.Mkdirat(parent, base, 0o700)
		}
	}
	if err != nil {
		return &os.PathError{Op: "mkdirat", Path: base, Err: err}
	}
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "openat", Path: base, Err: err}
	}
	defer unix.Close(fd)
	if err := a.setAttrs(fd, hdr); err != nil {
		return err
	}
	a.dirTimes[name] = times(hdr)
	return nil
}

func (a *applier) regular(parent int, base string, hdr *tar.Header, r io.Reader) (int64, error) {
	// O_EXCL|O_NOFOLLOW: this always creates a new file (an existing name
	// is removed first) and can never write through a symlink planted
	// under the name.
	fd := -1
	err := a.replace(parent, base, func() (err error) {
		fd, err = unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return 0, &os.PathError{Op: "create", Path: base, Err: err}
	}
	n, err := a.copyTo(fd, r)
	if err == nil {
		err = a.setAttrs(fd, hdr)
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = &os.PathError{Op: "close", Path: hdr.Name, Err: cerr}
	}
	if err != nil {
		return n, err
	}
	return n, setTimes(parent, base, hdr)
}

// copyTo writes the rest of r to fd. Writing to the raw descriptor skips
// the os.File wrapper and its per-file set-up syscalls.
func (a *applier) copyTo(fd int, r io.Reader) (int64, error) {
	var n int64
	for {
		m, rerr := r.Read(a.buf)
		for p := a.buf[:m]; len(p) > 0; {
			w, err := unix.Write(fd, p)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return n, fmt.Errorf("write content: %w", err)
			}
			p = p[w:]
			n += int64(w)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, fmt.Errorf("write content: %w", rerr)
		}
	}
}

func (a *applier) symlink(parent int, base string, hdr *tar.Header) error {
	// The target is stored verbatim: absolute and ".." targets are normal in
	// images and are resolved inside the container's root at run time.
	if err := a.replace(parent, base, func() error { return unix.Symlinkat(hdr.Linkname, parent, base) }); err != nil {
		return &os.PathError{Op: "symlinkat", Path: base, Err: err}
	}
	return a.setAttrsAt(parent, base, hdr)
}

func (a *applier) hardlink(parent int, name, base string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	if target == name {
		return nil // a link to itself: the file is already there
	}
	if target == "." {
		return fmt.Errorf("hard link target %q: is the layer root", hdr.Linkname)
	}
	// A hard link names an earlier entry of the same layer by its archive
	// path, which never goes through a symlink; refusing symlinks here
	// (not just confining them) keeps the target an entry of this tar.
	tparent, err := a.openDir(path.Dir(target), unix.RESOLVE_NO_SYMLINKS)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return fmt.Errorf("hard link target %q goes through a symlink", hdr.Linkname)
		}
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	defer unix.Close(tparent)
	// flags 0: linkat does not follow a symlink as the final component, so
	// a link to a symlink links the symlink itself.
	err = a.replace(parent, base, func() error { return unix.Linkat(tparent, path.Base(target), parent, base, 0) })
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
	}
	return nil
}

// node creates a device node or fifo.
func (a *applier) node(parent int, base string, hdr *tar.Header) error {
	mode := uint32(unix.S_IFIFO)
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	}
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	if err := a.replace(parent, base, func() error { return unix.Mknodat(parent, base, mode|0o600, dev) }); err != nil {
		if err == unix.EPERM && !a.privileged && mode != unix.S_IFIFO {
			return nil // docker in a user namespace skips devices the same way
		}
		return &os.PathError{Op: "mknodat", Path: base, Err: err}
	}
	// base is the node just made in a directory only we write to, so the
	// mode change below cannot land on a symlink.
	if err := a.chownAt(parent, base, hdr); err != nil {
		return err
	}
	if err := unix.Fchmodat(parent, base, fileMode(hdr), 0); err != nil {
		return &os.PathError{Op: "fchmodat", Path: base, Err: err}
	}
	if err := a.setXattrsAt(parent, base, hdr); err != nil {
		return err
	}
	return setTimes(parent, base, hdr)
}

// whiteout translates an OCI whiteout entry into its overlayfs form.
func (a *applier) whiteout(dir, base string) error {
	if base == WhiteoutOpaque {
		fd, err := a.mkdirAll(dir)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Fsetxattr(fd, OverlayOpaqueXattr, []byte("y"), 0); err != nil {
			return fmt.Errorf("mark %q opaque: %w", dir, &os.PathError{Op: "setxattr", Path: dir, Err: err})
		}
		return nil
	}
	if strings.HasPrefix(base, WhiteoutMetaPrefix) {
		return nil
	}
	hidden := strings.TrimPrefix(base, WhiteoutPrefix)
	if hidden == "" || hidden == "." || hidden == ".." {
		return fmt.Errorf("whiteout of %q: invalid name", hidden)
	}
	parent, err := a.mkdirAll(dir)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	var st unix.Stat_t
	if err := unix.Fstatat(parent, hidden, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		// A whiteout only hides lower layers; an entry of this same layer
		// under that name wins (image-spec layer.md).
		return nil
	}
	if err := unix.Mknodat(parent, hidden, unix.S_IFCHR, int(unix.Mkdev(whiteoutMajor, whiteoutMinor))); err != nil {
		return fmt.Errorf("whiteout: %w", &os.PathError{Op: "mknodat", Path: path.Join(dir, hidden), Err: err})
	}
	return nil
}

// finish sets directory times, now that no more children will be added.
func (a *applier) finish() error {
	for name, ts := range a.dirTimes {
		parent, err := a.openDir(path.Dir(name), 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // removed by a later entry
			}
			return err
		}
		var st unix.Stat_t
		err = unix.Fstatat(parent, path.Base(name), &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = unix.UtimesNanoAt(parent, path.Base(name), ts[:], unix.AT_SYMLINK_NOFOLLOW)
			if err != nil {
				err = &os.PathError{Op: "utimensat", Path: name, Err: err}
			}
		} else if err == unix.ENOENT {
			err = nil
		}
		unix.Close(parent)
		if err != nil {
			return err
		}
	}
	return nil
}

// setAttrs sets owner, mode and xattrs on an open file or directory, in
// that order: chown clears setuid/setgid bits and security.capability, so
// both must come after it.
func (a *applier) setAttrs(fd int, hdr *tar.Header) error {
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil && !a.ignorable(err) {
		return &os.PathError{Op: "fchown", Path: hdr.Name, Err: err}
	}
	if err := unix.Fchmod(fd, fileMode(hdr)); err != nil {
		return &os.PathError{Op: "fchmod", Path: hdr.Name, Err: err}
	}
	for k, v := range xattrs(hdr) {
		if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil && !a.ignorableXattr(err) {
			return fmt.Errorf("set xattr %s: %w", k, &os.PathError{Op: "fsetxattr", Path: hdr.Name, Err: err})
		}
	}
	return nil
}

// setAttrsAt sets owner, xattrs and times of a symlink, which cannot be
// opened for writing; symlinks have no mode of their own.
func (a *applier) setAttrsAt(parent int, base string, hdr *tar.Header) error {
	if err := a.chownAt(parent, base, hdr); err != nil {
		return err
	}
	if err := a.setXattrsAt(parent, base, hdr); err != nil {
		return err
	}
	return setTimes(parent, base, hdr)
}

func (a *applier) chownAt(parent int, base string, hdr *tar.Header) error {
	if err := unix.Fchownat(parent, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil && !a.ignorable(err) {
		return &os.PathError{Op: "fchownat", Path: hdr.Name, Err: err}
	}
	return nil
}

// setXattrsAt sets xattrs on a name without following it. There is no
// lsetxattrat, so the parent descriptor is reached through /proc/self/fd;
// the l-variant keeps the final component unfollowed.
func (a *applier) setXattrsAt(parent int, base string, hdr *tar.Header) error {
	attrs := xattrs(hdr)
	if len(attrs) == 0 {
		return nil
	}
	p := "/proc/self/fd/" + strconv.Itoa(parent) + "/" + base
	for k, v := range attrs {
		if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil && !a.ignorableXattr(err) {
			return fmt.Errorf("set xattr %s: %w", k, &os.PathError{Op: "lsetxattr", Path: hdr.Name, Err: err})
		}
	}
	return nil
}

// ignorable reports whether a failed ownership change can be dropped: only
// an unprivileged caller, which cannot give files away anyway.
func (a *applier) ignorable(err error) bool {
	return !a.privileged && (err == unix.EPERM || err == unix.EINVAL)
}

// ignorableXattr: a filesystem without xattrs (ENOTSUP) loses them as with
// docker; an unprivileged caller cannot set trusted.* or security.*.
func (a *applier) ignorableXattr(err error) bool {
	return err == unix.ENOTSUP || (!a.privileged && err == unix.EPERM)
}

// xattrs returns the extended attributes recorded in the entry's PAX
// records, minus overlayfs's own.
func xattrs(hdr *tar.Header) map[string]string {
	const prefix = "SCHILY.xattr."
	var out map[string]string
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, prefix)
		if !ok || name == "" || strings.HasPrefix(name, overlayXattrPrefix) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = v
	}
	return out
}

// fileMode is the permission part of a tar mode, with the setuid, setgid
// and sticky bits (tar uses the same octal values as the kernel).
func fileMode(hdr *tar.Header) uint32 { return uint32(hdr.Mode) & 0o7777 }

func times(hdr *tar.Header) [2]unix.Timespec {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	return [2]unix.Timespec{timespec(atime), timespec(hdr.ModTime)}
}

// timespec avoids UnixNano, which overflows outside 1678..2262.
func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

func setTimes(parent int, base string, hdr *tar.Header) error {
	ts := times(hdr)
	if err := unix.UtimesNanoAt(parent, base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: hdr.Name, Err: err}
	}
	return nil
}
