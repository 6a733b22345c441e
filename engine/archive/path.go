package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"stack/engine/errdefs"
)

// cpPath is a container path as docker cp reads it: a trailing "/." means
// a directory's content rather than the directory, and a trailing "/"
// asserts a directory (and so follows a final symlink).
type cpPath struct {
	clean string // absolute and clean
	dir   string // clean's parent ("/" for "/")
	base  string // clean's last element, "" for "/"
	dot   bool   // ended in "/." (or was ".")
	slash bool   // ended in "/"
}

func parsePath(p string) cpPath {
	c := cpPath{clean: path.Clean("/" + p)}
	c.dot = p == "." || strings.HasSuffix(p, "/.")
	c.slash = !c.dot && c.clean != "/" && strings.HasSuffix(p, "/")
	if c.clean != "/" {
		c.dir, c.base = path.Split(c.clean)
		c.dir = path.Clean(c.dir)
	} else {
		c.dir = "/"
	}
	return c
}

// rel turns an absolute container path into one relative to the root
// descriptor, "." for the root.
func rel(p string) string {
	r := strings.TrimLeft(path.Clean("/"+p), "/")
	if r == "" {
		return "."
	}
	return r
}

// openInRoot opens p (a container path) inside root, following symlinks
// only inside it. Errors name the container path.
func openInRoot(root int, p string, flags int, resolve uint64) (int, error) {
	how := &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | resolve,
	}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(root, rel(p), how)
		// EAGAIN: a concurrent rename made the kernel unsure the walk
		// stayed inside the root; retry.
		if (err == unix.EAGAIN || err == unix.EINTR) && i < 16 {
			continue
		}
		if err != nil {
			return -1, pathError("open", p, err)
		}
		return fd, nil
	}
}

// pathInRoot returns where fd is, as a path relative to root ("" for the
// root itself), from the kernel's view in /proc/self/fd.
func pathInRoot(root, fd int) (string, error) {
	r, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(root))
	if err != nil {
		return "", err
	}
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", err
	}
	switch {
	case p == r:
		return "", nil
	case r == "/":
		return strings.TrimPrefix(p, "/"), nil
	case strings.HasPrefix(p, r+"/"):
		return p[len(r)+1:], nil
	}
	return "", fmt.Errorf("%s is not below the root %s (renamed meanwhile?)", p, r)
}

// notFound is a missing path: it matches both fs.ErrNotExist (through the
// errno) and errdefs.ErrNotFound.
type notFound struct{ err *os.PathError }

func (e notFound) Error() string   { return e.err.Error() }
func (e notFound) Unwrap() []error { return []error{e.err, errdefs.ErrNotFound} }

// pathError wraps errno err for container path p; ENOENT also becomes an
// errdefs.ErrNotFound, as docker answers 404 for it.
func pathError(op, p string, err error) error {
	pe := &os.PathError{Op: op, Path: p, Err: err}
	if errors.Is(err, unix.ENOENT) {
		return notFound{pe}
	}
	return pe
}

// FileInfo is what Stat returns: an fs.FileInfo, plus the symlink target
// docker's stat reports. Sys returns the *unix.Stat_t.
type FileInfo struct {
	name string
	st   unix.Stat_t
	// LinkTarget is, for a symlink, the absolute container path it
	// resolves to (all links followed inside the root), as docker's
	// container stat reports it; "" otherwise.
	LinkTarget string
}

func (fi *FileInfo) Name() string       { return fi.name }
func (fi *FileInfo) Size() int64        { return fi.st.Size }
func (fi *FileInfo) Mode() fs.FileMode  { return fileMode(fi.st.Mode) }
func (fi *FileInfo) ModTime() time.Time { return time.Unix(fi.st.Mtim.Unix()) }
func (fi *FileInfo) IsDir() bool        { return fi.st.Mode&unix.S_IFMT == unix.S_IFDIR }
func (fi *FileInfo) Sys() any           { return &fi.st }

// fileMode converts a stat mode to an fs.FileMode.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// Stat describes the file at p inside root, as docker's container stat
// does for cp's decisions (copy a file to a file, or into a directory): a
// final symlink is described itself, with its resolved LinkTarget, unless
// p ends in "/" or "/.". A missing path matches both fs.ErrNotExist and
// errdefs.ErrNotFound.
func Stat(root *os.File, p string) (fs.FileInfo, error) {
	c := parsePath(p)
	rfd := int(root.Fd())
	fi := &FileInfo{name: c.base}
	if c.base == "" {
		fi.name = "/"
	}
	if c.base == "" || c.dot || c.slash {
		flags := unix.O_PATH
		if c.dot || c.slash {
			flags |= unix.O_DIRECTORY
		}
		fd, err := openInRoot(rfd, c.clean, flags, 0)
		if err != nil {
			return nil, fmt.Errorf("stat: %w", err)
		}
		defer unix.Close(fd)
		if err := unix.Fstat(fd, &fi.st); err != nil {
			return nil, fmt.Errorf("stat: %w", pathError("fstat", c.clean, err))
		}
		return fi, nil
	}
	pfd, err := openInRoot(rfd, c.dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("stat: %w", err)
	}
	defer unix.Close(pfd)
	if err := unix.Fstatat(pfd, c.base, &fi.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, fmt.Errorf("stat: %w", pathError("lstat", c.clean, err))
	}
	if fi.st.Mode&unix.S_IFMT == unix.S_IFLNK {
		fi.LinkTarget = linkTarget(rfd, pfd, c)
	}
	return fi, nil
}

// linkTarget resolves the symlink c inside root, as docker's stat does; a
// dangling link gets its own target, made absolute.
func linkTarget(root, parent int, c cpPath) string {
	if fd, err := openInRoot(root, c.clean, unix.O_PATH, 0); err == nil {
		defer unix.Close(fd)
		if p, err := pathInRoot(root, fd); err == nil {
			return "/" + p
		}
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(parent, c.base, buf)
	if err != nil {
		return ""
	}
	t := string(buf[:n])
	if !path.IsAbs(t) {
		t = path.Join(c.dir, t)
	}
	return path.Clean(t)
}
