package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"stack/engine/errdefs"
)

// Untar extracts the tar stream r to dst inside root (an open directory of
// a container's root filesystem), with docker cp's rules for the
// destination (moby pkg/archive PrepareArchiveCopy and the daemon's
// extractToDir):
//
//   - dst is an existing directory (symlinks followed inside root): the
//     archive's entries go inside it;
//   - dst does not exist but its parent does: the archive's single top
//     entry (a file, or a directory with its content) is created as dst,
//     whatever it was called; a dst ending in "/" must then be a directory;
//   - dst is an existing file: the archive's single top entry must be a
//     file, and replaces it; a directory cannot (docker: "cannot copy
//     directory").
//
// A missing parent matches errdefs.ErrNotFound and fs.ErrNotExist.
//
// The stream is untrusted. No entry escapes root: parents are resolved
// with RESOLVE_IN_ROOT from root, so ".." and absolute symlinks stop at it;
// names that climb above the extraction directory are refused, as docker
// refuses them; a symlink the archive itself made is never gone through
// (a -> /etc, then a/passwd is refused), and final components are created
// with O_EXCL|O_NOFOLLOW, never written through. As docker cp (without
// AllowOverwriteDirWithFile), an entry never replaces a directory with a
// non-directory or the other way round; a non-directory replaces a
// non-directory, and a directory merges into an existing one and takes
// its attributes. Entries keep their modes (setuid, setgid, sticky
// included), mtimes, xattrs (except trusted.overlay.*), and, when the
// caller is root, their uid and gid numbers; device nodes are made when
// the caller may. Unknown entry types are skipped. A failure leaves what
// was extracted before it.
func Untar(r io.Reader, root *os.File, dst string) error {
	c := parsePath(dst)
	tr := tar.NewReader(r)
	first, err := next(tr, "")
	if err != nil {
		return fmt.Errorf("untar to %s: %w", c.clean, err)
	}
	x := &extractor{
		root:       int(root.Fd()),
		privileged: os.Geteuid() == 0,
		dirs:       map[string]int{},
		buf:        make([]byte, 256<<10),
	}
	defer x.dropDirs()
	if err := x.target(c, first); err != nil {
		return fmt.Errorf("untar to %s: %w", c.clean, err)
	}
	for hdr := first; hdr != nil; {
		if err := x.apply(hdr, tr); err != nil {
			return fmt.Errorf("untar to %s: entry %q: %w", c.clean, hdr.Name, err)
		}
		if hdr, err = next(tr, hdr.Name); err != nil {
			return fmt.Errorf("untar to %s: %w", c.clean, err)
		}
	}
	if err := x.finish(); err != nil {
		return fmt.Errorf("untar to %s: %w", c.clean, err)
	}
	return nil
}

// next returns the next header, nil at the end of the stream.
func next(tr *tar.Reader, last string) (*tar.Header, error) {
	hdr, err := tr.Next()
	for err == nil && hdr.Typeflag == tar.TypeXGlobalHeader {
		hdr, err = tr.Next() // no file; and never the archive's top entry
	}
	if err == io.EOF {
		return nil, nil
	}
	// With GODEBUG=tarinsecurepath=0 the reader flags names that we check
	// ourselves; the header is still valid.
	if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
		if last == "" {
			return nil, fmt.Errorf("read tar: %w", err)
		}
		return nil, fmt.Errorf("read tar after entry %q: %w", last, err)
	}
	return hdr, nil
}

// extractor holds the state of one Untar.
type extractor struct {
	root       int    // the container's root; every lookup starts here
	base       string // the extraction directory, relative to root, "" for root
	privileged bool   // euid 0: ownership and device nodes are kept
	// rebase: the archive's top entry from is extracted under the name to.
	rebase   bool
	from, to string
	// dirs caches descriptors of resolved directories, by path relative
	// to base. Entries never remove a directory (they fail instead), but
	// one may replace a symlink the cached path went through: that makes
	// the cache stale, and the next lookup empties it.
	dirs  map[string]int
	stale bool
	// symlinks are the symlinks this archive made (relative to base):
	// later entries may not go through them.
	symlinks map[string]bool
	// dirAttrs are the directory entries, whose attributes and times are
	// set at the end, after their children.
	dirAttrs []dirAttr
	buf      []byte
}

type dirAttr struct {
	rel string
	hdr *tar.Header
}

const maxCachedDirs = 128

// target decides where the entries go and whether the top one is renamed,
// by docker cp's rules for dst.
func (x *extractor) target(c cpPath, first *tar.Header) error {
	flags := unix.O_PATH
	if c.slash || c.dot {
		flags |= unix.O_DIRECTORY
	}
	fd, err := openInRoot(x.root, c.clean, flags, 0)
	if err == nil {
		defer unix.Close(fd)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return pathError("fstat", c.clean, err)
		}
		where, err := pathInRoot(x.root, fd)
		if err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			x.base = where
			return nil
		}
		if first == nil {
			return nil
		}
		top, isDir := topEntry(first)
		if isDir {
			return fmt.Errorf("cannot copy directory %q onto the existing file %s: %w", top, c.clean, errdefs.ErrInvalid)
		}
		x.base, x.rebase, x.from, x.to = path.Dir(where), true, top, path.Base(where)
		if x.base == "." {
			x.base = ""
		}
		return nil
	}
	if !errors.Is(err, unix.ENOENT) || c.base == "" {
		return err
	}
	pfd, err := openInRoot(x.root, c.dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if first == nil {
		return nil
	}
	top, isDir := topEntry(first)
	if !isDir && (c.slash || c.dot) {
		return fmt.Errorf("destination directory %s does not exist (the archive holds the file %q): %w", c.clean, top, notFound{&os.PathError{Op: "stat", Path: c.clean, Err: unix.ENOENT}})
	}
	where, err := pathInRoot(x.root, pfd)
	if err != nil {
		return err
	}
	x.base, x.rebase, x.from, x.to = where, true, top, c.base
	return nil
}

// topEntry returns the first path element of an archive's first entry
// (clean, "." when it is the archive's root) and whether it is a
// directory. A name that climbs out is left for apply to refuse.
func topEntry(hdr *tar.Header) (string, bool) {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return "..", false
	}
	top, rest, _ := strings.Cut(name, "/")
	return top, rest != "" || hdr.Typeflag == tar.TypeDir || top == "."
}

// rename turns a clean entry name or hard link target into its name
// under the extraction directory, renaming the top entry when the
// destination asks for it.
func (x *extractor) rename(name string) (string, error) {
	if !x.rebase {
		return name, nil
	}
	if x.from == "." {
		return path.Join(x.to, name), nil // "." holds every name
	}
	top, rest, _ := strings.Cut(name, "/")
	if top != x.from {
		return "", fmt.Errorf("the archive has more than one top-level entry (%q and %q), so the destination must be an existing directory: %w", x.from, top, errdefs.ErrInvalid)
	}
	return path.Join(x.to, rest), nil
}

// errEscape is the cause for names that climb out of the destination.
var errEscape = fmt.Errorf("path escapes the destination directory: %w", errdefs.ErrInvalid)

// cleanName turns an entry name into a clean path relative to the
// extraction directory, "." for itself. Names whose ".." would climb above
// it are refused, as docker refuses them (breakoutError).
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("NUL byte in name: %w", errdefs.ErrInvalid)
	}
	r := path.Clean(strings.TrimLeft(name, "/"))
	if r == ".." || strings.HasPrefix(r, "../") {
		return "", errEscape
	}
	return r, nil
}

// abs is the container path of rel, for errors.
func (x *extractor) abs(rel string) string { return "/" + path.Join(x.base, rel) }

func (x *extractor) apply(hdr *tar.Header, r io.Reader) error {
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink, tar.TypeLink,
		tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return nil // pax globals, contiguous files...: skipped, as docker does
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	rel, err := x.rename(name)
	if err != nil {
		return err
	}
	if rel == "." {
		// The destination itself: docker leaves an existing directory's
		// attributes alone.
		return nil
	}
	dir, base := path.Dir(rel), path.Base(rel)
	if err := x.throughSymlink(dir); err != nil {
		return err
	}
	parent, err := x.dir(dir)
	if err != nil {
		return err
	}

	if hdr.Typeflag == tar.TypeLink {
		// A link to itself: the file is already there.
		if target, err := x.linkTarget(hdr); err == nil && target == rel {
			return nil
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.directory(parent, base, rel, hdr)
	case tar.TypeReg, tar.TypeGNUSparse:
		return x.regular(parent, base, rel, hdr, r)
	case tar.TypeSymlink:
		return x.symlink(parent, base, rel, hdr)
	case tar.TypeLink:
		return x.hardlink(parent, base, rel, hdr)
	default:
		return x.node(parent, base, rel, hdr)
	}
}

// throughSymlink refuses a directory path that goes through a symlink this
// archive made: a link to /etc followed by an entry under it is the
// classic way for a hostile archive to write where it was not sent.
func (x *extractor) throughSymlink(dir string) error {
	if len(x.symlinks) == 0 {
		return nil
	}
	for p := dir; p != "." && p != "/"; p = path.Dir(p) {
		if x.symlinks[p] {
			return fmt.Errorf("goes through the symlink %s the archive made: %w", x.abs(p), errdefs.ErrInvalid)
		}
	}
	return nil
}

// dir returns a cached descriptor of dir (relative to base), creating
// missing directories. The caller must not close it.
func (x *extractor) dir(dir string) (int, error) {
	if x.stale {
		x.dropDirs()
		x.stale = false
	}
	if fd, ok := x.dirs[dir]; ok {
		return fd, nil
	}
	fd, err := x.mkdirAll(dir)
	if err != nil {
		return -1, err
	}
	if len(x.dirs) >= maxCachedDirs {
		x.dropDirs()
	}
	x.dirs[dir] = fd
	return fd, nil
}

func (x *extractor) dropDirs() {
	for d, fd := range x.dirs {
		unix.Close(fd)
		delete(x.dirs, d)
	}
}

// mkdirAll returns a descriptor of dir, creating missing directories (mode
// 0755, as docker does for archives that omit parent entries). Each is
// made with mkdirat in its resolved parent.
func (x *extractor) mkdirAll(dir string) (int, error) {
	fd, err := openInRoot(x.root, x.abs(dir), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err == nil || !errors.Is(err, unix.ENOENT) || dir == "." {
		return fd, err
	}
	parent, err := x.mkdirAll(path.Dir(dir))
	if err != nil {
		return -1, err
	}
	err = unix.Mkdirat(parent, path.Base(dir), 0o755)
	unix.Close(parent)
	created := err == nil
	if err != nil && err != unix.EEXIST {
		return -1, pathError("mkdir", x.abs(dir), err)
	}
	fd, err = openInRoot(x.root, x.abs(dir), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err == nil && created {
		// The umask must not decide the mode.
		if err := unix.Fchmod(fd, 0o755); err != nil {
			unix.Close(fd)
			return -1, pathError("chmod", x.abs(dir), err)
		}
	}
	return fd, err
}

// replace runs create, which makes base in parent and neither follows nor
// overwrites an existing name (op names it in errors). If the name is
// taken by a non-directory, that is removed and create runs once more; a
// directory is not replaced (docker cp's NoOverwriteDirNonDir). Like tar,
// this tries the common case (a new name) first and pays for a stat only
// on a clash.
func (x *extractor) replace(parent int, base, rel, op string, create func() error) error {
	err := create()
	if err == unix.EEXIST {
		var st unix.Stat_t
		if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return pathError("lstat", x.abs(rel), err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return fmt.Errorf("cannot overwrite directory %s with non-directory: %w", x.abs(rel), errdefs.ErrInvalid)
		}
		if err := unix.Unlinkat(parent, base, 0); err != nil {
			return pathError("unlink", x.abs(rel), err)
		}
		delete(x.symlinks, rel)
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			// parent stays valid for this entry (it holds base).
			x.stale = true
		}
		err = create()
	}
	if err != nil {
		return pathError(op, x.abs(rel), err)
	}
	return nil
}

func (x *extractor) directory(parent int, base, rel string, hdr *tar.Header) error {
	// 0700 until the end: the final mode may forbid adding the children.
	err := unix.Mkdirat(parent, base, 0o700)
	if err == unix.EEXIST {
		// A directory merges into an existing one.
		var st unix.Stat_t
		if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return pathError("lstat", x.abs(rel), err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return fmt.Errorf("cannot overwrite non-directory %s with directory: %w", x.abs(rel), errdefs.ErrInvalid)
		}
		err = nil
	}
	if err != nil {
		return pathError("mkdir", x.abs(rel), err)
	}
	x.dirAttrs = append(x.dirAttrs, dirAttr{rel: rel, hdr: hdr})
	return nil
}

func (x *extractor) regular(parent int, base, rel string, hdr *tar.Header, r io.Reader) error {
	// O_EXCL|O_NOFOLLOW: always a new file, never through a symlink.
	fd := -1
	err := x.replace(parent, base, rel, "create", func() (err error) {
		fd, err = unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return err
	}
	err = x.copyTo(fd, r, rel)
	if err == nil {
		err = x.setAttrs(fd, rel, hdr)
	}
	if err == nil {
		err = futimens(fd, hdr)
		if err != nil {
			err = pathError("futimens", x.abs(rel), err)
		}
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = pathError("close", x.abs(rel), cerr)
	}
	return err
}

// copyTo writes the rest of r to fd.
func (x *extractor) copyTo(fd int, r io.Reader, rel string) error {
	for {
		n, rerr := r.Read(x.buf)
		for p := x.buf[:n]; len(p) > 0; {
			w, err := unix.Write(fd, p)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return pathError("write", x.abs(rel), err)
			}
			p = p[w:]
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read content: %w", rerr)
		}
	}
}

func (x *extractor) symlink(parent int, base, rel string, hdr *tar.Header) error {
	// The target is stored verbatim: it means something only inside the
	// container, where it resolves in the container's root.
	if err := x.replace(parent, base, rel, "symlink", func() error { return unix.Symlinkat(hdr.Linkname, parent, base) }); err != nil {
		return err
	}
	if x.symlinks == nil {
		x.symlinks = map[string]bool{}
	}
	x.symlinks[rel] = true
	if err := x.chownAt(parent, base, rel, hdr); err != nil {
		return err
	}
	return setTimesAt(parent, base, x.abs(rel), hdr)
}

// linkTarget is the hard link target of hdr, renamed and relative to base.
func (x *extractor) linkTarget(hdr *tar.Header) (string, error) {
	name, err := cleanName(hdr.Linkname)
	if err != nil {
		return "", err
	}
	return x.rename(name)
}

func (x *extractor) hardlink(parent int, base, rel string, hdr *tar.Header) error {
	target, err := x.linkTarget(hdr)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	if target == "." {
		return fmt.Errorf("hard link target %q is the destination directory: %w", hdr.Linkname, errdefs.ErrInvalid)
	}
	// A hard link names an earlier entry of the archive by its path, which
	// never goes through a symlink: refusing them keeps the target inside
	// what was extracted, not wherever a link points.
	tparent, err := openInRoot(x.root, x.abs(path.Dir(target)), unix.O_PATH|unix.O_DIRECTORY, unix.RESOLVE_NO_SYMLINKS)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return fmt.Errorf("hard link target %q goes through a symlink: %w", hdr.Linkname, errdefs.ErrInvalid)
		}
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	defer unix.Close(tparent)
	if err := x.replace(parent, base, rel, "link", func() error { return unix.Linkat(tparent, path.Base(target), parent, base, 0) }); err != nil {
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
	}
	return nil
}

// node makes a device node or fifo.
func (x *extractor) node(parent int, base, rel string, hdr *tar.Header) error {
	mode := uint32(unix.S_IFIFO)
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	}
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	if err := x.replace(parent, base, rel, "mknod", func() error { return unix.Mknodat(parent, base, mode|0o600, dev) }); err != nil {
		if errors.Is(err, unix.EPERM) && !x.privileged && mode != unix.S_IFIFO {
			return nil // an unprivileged caller cannot make devices
		}
		return err
	}
	if err := x.chownAt(parent, base, rel, hdr); err != nil {
		return err
	}
	// The node was just made under this name, so fchmodat (which
	// follows) cannot land on a symlink.
	if err := unix.Fchmodat(parent, base, uint32(hdr.Mode)&0o7777, 0); err != nil {
		return pathError("chmod", x.abs(rel), err)
	}
	return setTimesAt(parent, base, x.abs(rel), hdr)
}

// finish sets the directories' attributes and times, deepest first, now
// that their children are in.
func (x *extractor) finish() error {
	x.dropDirs()
	for i := len(x.dirAttrs) - 1; i >= 0; i-- {
		d := x.dirAttrs[i]
		fd, err := openInRoot(x.root, x.abs(d.rel), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		err = x.setAttrs(fd, d.rel, d.hdr)
		if err == nil {
			if err = futimens(fd, d.hdr); err != nil {
				err = pathError("futimens", x.abs(d.rel), err)
			}
		}
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}

// setAttrs sets owner, mode and xattrs of an open file, in that order:
// chown clears setuid, setgid and security.capability.
func (x *extractor) setAttrs(fd int, rel string, hdr *tar.Header) error {
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil && !x.ignorable(err) {
		return pathError("chown", x.abs(rel), err)
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode)&0o7777); err != nil {
		return pathError("chmod", x.abs(rel), err)
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || name == "" || strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		if err := unix.Fsetxattr(fd, name, []byte(v), 0); err != nil && err != unix.ENOTSUP && !(err == unix.EPERM && !x.privileged) {
			return fmt.Errorf("set xattr %s: %w", name, pathError("setxattr", x.abs(rel), err))
		}
	}
	return nil
}

func (x *extractor) chownAt(parent int, base, rel string, hdr *tar.Header) error {
	if err := unix.Fchownat(parent, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil && !x.ignorable(err) {
		return pathError("chown", x.abs(rel), err)
	}
	return nil
}

// ignorable: an unprivileged caller cannot give files away.
func (x *extractor) ignorable(err error) bool {
	return !x.privileged && (err == unix.EPERM || err == unix.EINVAL)
}

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

func setTimesAt(parent int, base, where string, hdr *tar.Header) error {
	ts := times(hdr)
	if err := unix.UtimesNanoAt(parent, base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return pathError("utimensat", where, err)
	}
	return nil
}

// futimens is utimensat(fd, NULL, times, 0), which x/sys lacks.
func futimens(fd int, hdr *tar.Header) error {
	ts := times(hdr)
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
