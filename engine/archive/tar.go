package archive

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Tar writes a tar stream of the file or directory at p inside root (an
// open directory of a container's root filesystem), as `docker cp
// CONTAINER:p -` does:
//
//   - the archive's top entry is p's base name: a file, or a directory
//     followed by its content under that name ("/etc" gives "etc/",
//     "etc/passwd"...);
//   - p ending in "/." archives a directory's content under "." ("./",
//     "./passwd"...), which extracts into the destination itself;
//   - a symlink as p's last element is archived as the link, unless
//     followLink (docker cp -L) or p ends in "/": then what it points to
//     is archived under the link's name.
//
// Symlinks on the way to p are followed inside root only. Below p nothing
// is followed: links are archived as links, and hard links within the
// archive as hard links. Entries keep uid and gid numbers, permission bits
// with setuid, setgid and sticky, mtimes (whole seconds, as docker's) and
// the security.capability attribute (the only one docker's archives
// carry). Sockets are left out, as docker leaves them out.
//
// A missing p matches errdefs.ErrNotFound and fs.ErrNotExist. Nothing is
// written for it; an error during the walk leaves w with a truncated
// stream.
func Tar(w io.Writer, root *os.File, p string, followLink bool) error {
	c := parsePath(p)
	rfd := int(root.Fd())
	var (
		fd   int
		name string
		err  error
	)
	switch {
	case c.base == "":
		fd, err = openInRoot(rfd, "/", unix.O_PATH|unix.O_DIRECTORY, 0)
		name = "."
	case c.dot, c.slash:
		fd, err = openInRoot(rfd, c.clean, unix.O_PATH|unix.O_DIRECTORY, 0)
		name = c.base
		if c.dot {
			name = "."
		}
	case followLink:
		fd, err = openInRoot(rfd, c.clean, unix.O_PATH, 0)
		name = c.base
	default:
		var pfd int
		pfd, err = openInRoot(rfd, c.dir, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			break
		}
		fd, err = unix.Openat(pfd, c.base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(pfd)
		if err != nil {
			err = pathError("open", c.clean, err)
		}
		name = c.base
	}
	if err != nil {
		return fmt.Errorf("tar %s: %w", c.clean, err)
	}
	defer unix.Close(fd)

	t := &tarWriter{
		tw:    tar.NewWriter(w),
		buf:   make([]byte, 256<<10),
		links: map[fileID]string{},
	}
	if err := t.top(fd, name, c.clean); err != nil {
		return fmt.Errorf("tar %s: %w", c.clean, err)
	}
	if err := t.tw.Close(); err != nil {
		return fmt.Errorf("tar %s: %w", c.clean, err)
	}
	return nil
}

type fileID struct{ dev, ino uint64 }

type tarWriter struct {
	tw  *tar.Writer
	buf []byte
	// links maps each multiply-linked inode to its first entry's name.
	links map[fileID]string
}

// top archives the object open (O_PATH) as fd under name; where is its
// container path, for errors.
func (t *tarWriter) top(fd int, name, where string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return pathError("fstat", where, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return pathError("open", where, err)
		}
		defer unix.Close(dfd)
		if err := t.header(name+"/", tar.TypeDir, &st, "", nil); err != nil {
			return err
		}
		return t.walk(dfd, name, where)
	case unix.S_IFREG:
		// Reopen the exact inode for reading through its magic link: the
		// descriptor was resolved safely, the path is not walked again.
		rfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return pathError("open", where, err)
		}
		defer unix.Close(rfd)
		return t.file(rfd, name, where, &st)
	case unix.S_IFLNK:
		n, err := unix.Readlinkat(fd, "", t.buf)
		if err != nil {
			return pathError("readlink", where, err)
		}
		return t.header(name, tar.TypeSymlink, &st, string(t.buf[:n]), nil)
	case unix.S_IFSOCK:
		return fmt.Errorf("%s is a socket, which cannot be archived", where)
	default:
		return t.node(name, &st)
	}
}

// walk archives the content of the open directory dfd under prefix, in
// name order.
func (t *tarWriter) walk(dfd int, prefix, where string) error {
	names, err := readdirnames(dfd)
	if err != nil {
		return pathError("readdir", where, err)
	}
	sort.Strings(names)
	for _, n := range names {
		name := prefix + "/" + n
		cwhere := path.Join(where, n)
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if err == unix.ENOENT {
				continue // deleted since the readdir
			}
			return pathError("lstat", cwhere, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			cfd, err := unix.Openat(dfd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return pathError("open", cwhere, err)
			}
			err = t.header(name+"/", tar.TypeDir, &st, "", nil)
			if err == nil {
				err = t.walk(cfd, name, cwhere)
			}
			unix.Close(cfd)
			if err != nil {
				return err
			}
		case unix.S_IFREG:
			if t.linked(name, &st) {
				if err := t.header(name, tar.TypeLink, &st, t.links[fileID{st.Dev, st.Ino}], nil); err != nil {
					return err
				}
				continue
			}
			ffd, err := unix.Openat(dfd, n, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err != nil {
				return pathError("open", cwhere, err)
			}
			err = t.file(ffd, name, cwhere, &st)
			unix.Close(ffd)
			if err != nil {
				return err
			}
		case unix.S_IFLNK:
			if t.linked(name, &st) {
				if err := t.header(name, tar.TypeLink, &st, t.links[fileID{st.Dev, st.Ino}], nil); err != nil {
					return err
				}
				continue
			}
			m, err := unix.Readlinkat(dfd, n, t.buf)
			if err != nil {
				return pathError("readlink", cwhere, err)
			}
			if err := t.header(name, tar.TypeSymlink, &st, string(t.buf[:m]), nil); err != nil {
				return err
			}
		case unix.S_IFSOCK:
			// left out, as docker does
		default:
			if t.linked(name, &st) {
				if err := t.header(name, tar.TypeLink, &st, t.links[fileID{st.Dev, st.Ino}], nil); err != nil {
					return err
				}
				continue
			}
			if err := t.node(name, &st); err != nil {
				return err
			}
		}
	}
	return nil
}

// linked reports whether st is an inode already archived under another
// name; if not, and it has other names, it records name as its first.
func (t *tarWriter) linked(name string, st *unix.Stat_t) bool {
	if st.Nlink < 2 {
		return false
	}
	id := fileID{st.Dev, st.Ino}
	if _, ok := t.links[id]; ok {
		return true
	}
	t.links[id] = name
	return false
}

// file writes a regular file's header and content from the open fd.
func (t *tarWriter) file(fd int, name, where string, st *unix.Stat_t) error {
	var pax map[string]string
	// security.capability is the one xattr docker's archives keep (file
	// capabilities, e.g. ping's cap_net_raw).
	if n, err := unix.Fgetxattr(fd, "security.capability", t.buf); err == nil && n > 0 {
		pax = map[string]string{"SCHILY.xattr.security.capability": string(t.buf[:n])}
	}
	if err := t.header(name, tar.TypeReg, st, "", pax); err != nil {
		return err
	}
	var done int64
	for done < st.Size {
		n, err := unix.Read(fd, t.buf[:min(int64(len(t.buf)), st.Size-done)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return pathError("read", where, err)
		}
		if n == 0 {
			return fmt.Errorf("%s shrank from %d to %d bytes while being archived", where, st.Size, done)
		}
		if _, err := t.tw.Write(t.buf[:n]); err != nil {
			return err
		}
		done += int64(n)
	}
	return nil
}

func (t *tarWriter) node(name string, st *unix.Stat_t) error {
	typ := byte(tar.TypeFifo)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = tar.TypeChar
	case unix.S_IFBLK:
		typ = tar.TypeBlock
	}
	return t.header(name, typ, st, "", nil)
}

func (t *tarWriter) header(name string, typ byte, st *unix.Stat_t, link string, pax map[string]string) error {
	h := &tar.Header{
		Typeflag:   typ,
		Name:       name,
		Linkname:   link,
		Mode:       int64(st.Mode & 0o7777),
		Uid:        int(st.Uid),
		Gid:        int(st.Gid),
		ModTime:    time.Unix(st.Mtim.Sec, 0),
		PAXRecords: pax,
	}
	switch typ {
	case tar.TypeReg:
		h.Size = st.Size
	case tar.TypeChar, tar.TypeBlock:
		h.Devmajor = int64(unix.Major(st.Rdev))
		h.Devminor = int64(unix.Minor(st.Rdev))
	}
	if err := t.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("write header of %q: %w", name, err)
	}
	return nil
}

// readdirnames lists the open directory fd, without . and ..; fd stays
// open (a duplicate is read, which shares and so ends its offset).
func readdirnames(fd int) ([]string, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "")
	defer f.Close()
	return f.Readdirnames(-1)
}
