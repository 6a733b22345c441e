package copyup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"stack/engine/errdefs"
)

// CopyUp copies the directory tree at srcDir (a directory inside a
// container's root filesystem, given as an open descriptor, O_PATH is
// enough) into dst (a volume's _data), as docker does when an empty named
// volume is first mounted where the image has content. If dst is not
// empty, CopyUp copies nothing and returns false; otherwise it returns
// true once everything is copied.
//
// Every entry is reached with *at calls from the descriptor of its
// directory, and nothing is followed: a symlink is copied as a link (its
// target is never read, so /etc/passwd in one names the container's file,
// not the host's), and the walk never leaves srcDir. Kept: ownership (uid
// and gid numbers), permission bits with setuid, setgid and sticky,
// access and modification times, hard links (as hard links within the
// copy), device nodes and fifos, and the extended attributes of files and
// directories (except overlayfs's own trusted.overlay.*). dst itself takes
// srcDir's owner, mode, xattrs and times, as docker's does. Sockets are
// skipped (they mean nothing without their process), as are the xattrs of
// symlinks and device nodes. As a non-root caller, ownership changes and
// device nodes are skipped.
//
// CopyUp holds an exclusive flock on dst while it works, so two callers
// racing to fill one new volume copy once. If it fails, it deletes what it
// created (dst was empty and locked, so that is only its own partial copy)
// and a later call can try again.
func CopyUp(srcDir *os.File, dst string) (bool, error) {
	dfd, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("copy up: %w", &os.PathError{Op: "open", Path: dst, Err: err})
	}
	defer unix.Close(dfd)
	if err := flockFd(dfd, unix.LOCK_EX); err != nil {
		return false, fmt.Errorf("copy up: %w", &os.PathError{Op: "flock", Path: dst, Err: err})
	}
	j := &job{
		dstRoot:    dfd,
		privileged: os.Geteuid() == 0,
		euid:       uint32(os.Geteuid()),
		egid:       uint32(os.Getegid()),
		umask:      readUmask(),
		links:      map[fileID]*link{},
		workers:    make(chan struct{}, copyWorkers()),
	}
	var dst0 unix.Stat_t
	if err := unix.Fstat(dfd, &dst0); err != nil {
		return false, fmt.Errorf("copy up: %w", &os.PathError{Op: "fstat", Path: dst, Err: err})
	}
	_, aclErr := unix.Fgetxattr(dfd, "system.posix_acl_default", nil)
	j.forceAttrs = dst0.Mode&unix.S_ISGID != 0 || aclErr == nil
	c := j.copier()
	defer j.pool.Put(c)
	var names []dirent
	names, err = c.readdir(dfd, names)
	if err != nil {
		return false, fmt.Errorf("copy up: %w", &os.PathError{Op: "getdents", Path: dst, Err: err})
	}
	if len(names) > 0 {
		return false, nil
	}

	sfd, err := unix.Openat(int(srcDir.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ENOTDIR {
			return false, fmt.Errorf("copy up from %s: not a directory: %w", srcDir.Name(), errdefs.ErrInvalid)
		}
		return false, fmt.Errorf("copy up: %w", &os.PathError{Op: "open", Path: srcDir.Name(), Err: err})
	}
	defer unix.Close(sfd)
	var st unix.Stat_t
	if err := unix.Fstat(sfd, &st); err != nil {
		return false, fmt.Errorf("copy up: %w", &os.PathError{Op: "fstat", Path: srcDir.Name(), Err: err})
	}
	c.dir(sfd, dfd, "")
	err = j.failure()
	if err == nil {
		err = c.attrs(dfd, sfd, "", &st)
	}
	if err != nil {
		err = fmt.Errorf("copy up from %s to %s: %w", srcDir.Name(), dst, err)
		for _, n := range j.created {
			if rerr := RemoveAt(dfd, n, dst+"/"+n); rerr != nil {
				err = errors.Join(err, fmt.Errorf("undo partial copy: %w", rerr))
			}
		}
		return false, err
	}
	return true, nil
}

// fileID names an inode, to find the other names of a hard-linked file.
type fileID struct{ dev, ino uint64 }

// job is the state one CopyUp's goroutines share.
type job struct {
	dstRoot    int
	privileged bool
	euid, egid uint32
	umask      int // -1 when unknown
	// forceAttrs: chown and chmod every entry, even one a new file would
	// get right by itself (owner and mode from our euid, egid and umask):
	// under a setgid dst new files take the directory's group, under a
	// default ACL the umask does not apply.
	forceAttrs bool
	// workers holds a token per goroutine copying a subtree besides the
	// caller's. A directory is handed to one only when a token is free at
	// once, and otherwise copied inline, so no goroutine ever waits for a
	// token while holding one.
	workers chan struct{}
	pool    sync.Pool // of *copier, for their buffers
	failed  atomic.Bool

	mu sync.Mutex // guards links, created and err
	// links maps each multiply-linked source inode to its first copy.
	links map[fileID]*link
	// created lists the top-level names this copy made in dst (and only
	// those: a name someone else made meanwhile is not ours to undo).
	created []string
	err     error // the first failure; the others stop at their next entry
}

// link is the first copy of a multiply-linked inode. Its other names wait
// for done (the copy may be under way in another goroutine), then link to
// path if ok.
type link struct {
	path    string
	done    chan struct{}
	ok      bool // the first copy was made
	skipped bool // it was skipped (a device node, unprivileged): so are the others
}

// finish publishes the outcome of the first copy to the other names. It
// is a no-op on nil (an inode with one name, or a later name).
func (l *link) finish(ok bool) {
	if l != nil {
		l.ok = ok
		close(l.done)
	}
}

// copier is one goroutine's part of a CopyUp.
type copier struct {
	*job
	dents []byte // getdents buffer
	buf   []byte // read/write, readlink and xattr buffer
	// noCFR: copy_file_range failed between these filesystems (overlayfs
	// to ext4 is EXDEV); read and write from then on.
	noCFR bool
}

// copyWorkers is how many subtrees are copied in parallel besides the
// caller's walk: one per CPU. A copy is nine or so syscalls per file, and
// creating files is CPU work in the kernel (inode allocation), so it
// scales with CPUs: BenchmarkCopyUp10k on tmpfs with 2 CPUs went from
// 230-280ms with one walk to 145-170ms.
func copyWorkers() int { return runtime.GOMAXPROCS(0) }

func (j *job) copier() *copier {
	if c, ok := j.pool.Get().(*copier); ok {
		return c
	}
	return &copier{job: j, dents: make([]byte, 32<<10), buf: make([]byte, 128<<10)}
}

// fail records err, the first failure wins, and makes every goroutine
// stop at its next entry.
func (j *job) fail(err error) {
	j.mu.Lock()
	if j.err == nil {
		j.err = err
	}
	j.mu.Unlock()
	j.failed.Store(true)
}

func (j *job) failure() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

type dirent struct {
	name string
	typ  uint8
}

// readdir appends the entries of the open directory fd (without . and
// ..) to out. A single pass of getdents64 with a reused buffer: no stat
// per entry, the type comes from d_type.
func (c *copier) readdir(fd int, out []dirent) ([]dirent, error) {
	for {
		n, err := unix.Getdents(fd, c.dents)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return out, err
		}
		if n <= 0 {
			return out, nil
		}
		b := c.dents[:n]
		for len(b) > 0 {
			// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
			reclen := int(*(*uint16)(unsafe.Pointer(&b[16])))
			typ := b[18]
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			if string(name) == "." || string(name) == ".." {
				continue
			}
			out = append(out, dirent{name: string(name), typ: typ})
		}
	}
}

// made records that rel was just created, for the undo.
func (c *copier) made(rel string) {
	if !strings.Contains(rel, "/") {
		c.mu.Lock()
		c.created = append(c.created, rel)
		c.mu.Unlock()
	}
}

func join(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

// dir copies the children of sfd into dfd; rel is their directory's path
// relative to the copy's root, for errors and hard links. It returns when
// every subtree it handed to other goroutines is done too. Failures go to
// the job.
func (c *copier) dir(sfd, dfd int, rel string) {
	ents, err := c.readdir(sfd, nil)
	if err != nil {
		c.fail(&os.PathError{Op: "getdents", Path: "/" + rel, Err: err})
		return
	}
	var wg sync.WaitGroup
	for _, e := range ents {
		if c.failed.Load() {
			break
		}
		if err := c.entry(sfd, dfd, e, join(rel, e.name), &wg); err != nil {
			c.fail(err)
			break
		}
	}
	wg.Wait()
}

func (c *copier) entry(sfd, dfd int, e dirent, rel string, wg *sync.WaitGroup) error {
	switch e.typ {
	case unix.DT_DIR:
		return c.subdir(sfd, dfd, e.name, rel, wg)
	case unix.DT_REG:
		return c.file(sfd, dfd, e.name, rel)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(sfd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "fstatat", Path: "/" + rel, Err: err}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return c.subdir(sfd, dfd, e.name, rel, wg)
	case unix.S_IFREG:
		return c.file(sfd, dfd, e.name, rel)
	case unix.S_IFLNK:
		return c.symlink(sfd, dfd, e.name, rel, &st)
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		return c.node(dfd, e.name, rel, &st)
	default:
		return nil // a socket: meaningless without its process
	}
}

// subdir copies a directory and its subtree, in another goroutine (tracked
// by wg) when a worker token is free.
func (c *copier) subdir(sfd, dfd int, name, rel string, wg *sync.WaitGroup) error {
	csfd, err := unix.Openat(sfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/" + rel, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(csfd, &st); err != nil {
		unix.Close(csfd)
		return &os.PathError{Op: "fstat", Path: "/" + rel, Err: err}
	}
	// 0700 until its children are in: the final mode may forbid writing.
	if err := unix.Mkdirat(dfd, name, 0o700); err != nil {
		unix.Close(csfd)
		return &os.PathError{Op: "mkdirat", Path: "/" + rel, Err: err}
	}
	c.made(rel)
	cdfd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(csfd)
		return &os.PathError{Op: "open", Path: "/" + rel, Err: err}
	}
	tree := func(c *copier) {
		defer unix.Close(csfd)
		defer unix.Close(cdfd)
		c.dir(csfd, cdfd, rel)
		if !c.failed.Load() {
			// Times last: creating the children changed the mtime.
			if err := c.attrs(cdfd, csfd, rel, &st); err != nil {
				c.fail(err)
			}
		}
	}
	select {
	case c.workers <- struct{}{}:
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-c.workers }()
			w := c.job.copier()
			defer c.pool.Put(w)
			tree(w)
		}()
	default:
		tree(c)
	}
	return nil
}

func (c *copier) file(sfd, dfd int, name, rel string) error {
	// O_NONBLOCK: should the entry have become a fifo, do not hang on it.
	src, err := unix.Openat(sfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/" + rel, Err: err}
	}
	defer unix.Close(src)
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: "/" + rel, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("/%s changed type during the copy", rel)
	}
	linked, first, err := c.hardlink(dfd, name, rel, &st)
	if linked || err != nil {
		return err
	}
	ok := false
	defer func() { first.finish(ok) }()
	dst, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, st.Mode&0o777)
	if err != nil {
		return &os.PathError{Op: "create", Path: "/" + rel, Err: err}
	}
	c.made(rel)
	err = c.data(dst, src, st.Size)
	if err != nil {
		err = &os.PathError{Op: "copy", Path: "/" + rel, Err: err}
	} else {
		err = c.attrs(dst, src, rel, &st)
	}
	if cerr := unix.Close(dst); err == nil && cerr != nil {
		err = &os.PathError{Op: "close", Path: "/" + rel, Err: cerr}
	}
	ok = err == nil
	return err
}

// hardlink links name to the first copy of st's inode if there is one
// (waiting for it if another goroutine is making it), and reports linked.
// Otherwise name may be that first copy: the caller makes it, then calls
// first.finish with whether it succeeded.
func (c *copier) hardlink(dfd int, name, rel string, st *unix.Stat_t) (linked bool, first *link, err error) {
	if st.Nlink < 2 {
		return false, nil, nil
	}
	id := fileID{dev: st.Dev, ino: st.Ino}
	c.mu.Lock()
	l, ok := c.links[id]
	if !ok {
		l = &link{path: rel, done: make(chan struct{})}
		c.links[id] = l
	}
	c.mu.Unlock()
	if !ok {
		return false, l, nil
	}
	<-l.done
	if l.skipped {
		return true, nil, nil
	}
	if !l.ok {
		return true, nil, fmt.Errorf("/%s: its first name /%s could not be copied", rel, l.path)
	}
	// l.path was created below dstRoot by this copy; flags 0: a symlink
	// is linked itself, never followed.
	if err := unix.Linkat(c.dstRoot, l.path, dfd, name, 0); err != nil {
		return true, nil, &os.LinkError{Op: "link", Old: "/" + l.path, New: "/" + rel, Err: err}
	}
	c.made(rel)
	return true, nil, nil
}

// cfrMin is the size from which copy_file_range pays: below it, its set-up
// (about 5µs a call on tmpfs) costs more than a read and a write through
// the buffer.
const cfrMin = 64 << 10

// data copies size bytes from src to dst, in the kernel when it can (and
// when the filesystem can, as a reflink).
func (c *copier) data(dst, src int, size int64) error {
	var done int64
	for !c.noCFR && size >= cfrMin && done < size {
		n, err := unix.CopyFileRange(src, nil, dst, nil, int(min(size-done, 1<<30)), 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if done == 0 && (err == unix.EXDEV || err == unix.EINVAL || err == unix.EOPNOTSUPP || err == unix.ENOSYS) {
				c.noCFR = true
				break
			}
			return err
		}
		if n == 0 {
			return nil // the file shrank
		}
		done += int64(n)
	}
	for done < size {
		n, err := unix.Read(src, c.buf[:min(int64(len(c.buf)), size-done)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		for p := c.buf[:n]; len(p) > 0; {
			w, err := unix.Write(dst, p)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			p = p[w:]
		}
		done += int64(n)
	}
	return nil
}

func (c *copier) symlink(sfd, dfd int, name, rel string, st *unix.Stat_t) (err error) {
	linked, first, err := c.hardlink(dfd, name, rel, st)
	if linked || err != nil {
		return err
	}
	defer func() { first.finish(err == nil) }()
	n, err := unix.Readlinkat(sfd, name, c.buf)
	if err != nil {
		return &os.PathError{Op: "readlinkat", Path: "/" + rel, Err: err}
	}
	if n == len(c.buf) {
		return &os.PathError{Op: "readlinkat", Path: "/" + rel, Err: unix.ENAMETOOLONG}
	}
	if err := unix.Symlinkat(string(c.buf[:n]), dfd, name); err != nil {
		return &os.PathError{Op: "symlinkat", Path: "/" + rel, Err: err}
	}
	c.made(rel)
	if err := c.chownAt(dfd, name, rel, st); err != nil {
		return err
	}
	return setTimesAt(dfd, name, rel, st)
}

func (c *copier) node(dfd int, name, rel string, st *unix.Stat_t) (err error) {
	linked, first, err := c.hardlink(dfd, name, rel, st)
	if linked || err != nil {
		return err
	}
	defer func() { first.finish(err == nil) }()
	err = unix.Mknodat(dfd, name, st.Mode&unix.S_IFMT|0o600, int(st.Rdev))
	if err == unix.EPERM && !c.privileged && st.Mode&unix.S_IFMT != unix.S_IFIFO {
		if first != nil {
			first.skipped = true // its other names are skipped too
		}
		return nil // as in a user namespace: devices cannot be made
	}
	if err != nil {
		return &os.PathError{Op: "mknodat", Path: "/" + rel, Err: err}
	}
	c.made(rel)
	if err := c.chownAt(dfd, name, rel, st); err != nil {
		return err
	}
	// name is the node just made in a directory only we write to, so
	// fchmodat (which follows) cannot land on a symlink.
	if err := unix.Fchmodat(dfd, name, st.Mode&0o7777, 0); err != nil {
		return &os.PathError{Op: "fchmodat", Path: "/" + rel, Err: err}
	}
	return setTimesAt(dfd, name, rel, st)
}

// attrs gives the open dst what st and the open src have: owner, then
// mode (chown clears setuid and setgid), then xattrs (chown clears
// security.capability), then times.
func (c *copier) attrs(dst, src int, rel string, st *unix.Stat_t) error {
	chowned := false
	if c.forceAttrs || st.Uid != c.euid || st.Gid != c.egid {
		if err := unix.Fchown(dst, int(st.Uid), int(st.Gid)); err != nil && !c.ignorable(err) {
			return &os.PathError{Op: "fchown", Path: "/" + rel, Err: err}
		}
		chowned = true
	}
	perm := st.Mode & 0o7777
	isFile := st.Mode&unix.S_IFMT == unix.S_IFREG
	if !isFile || chowned || c.forceAttrs || c.umask < 0 || perm&^0o777 != 0 || perm&uint32(c.umask) != 0 {
		if err := unix.Fchmod(dst, perm); err != nil {
			return &os.PathError{Op: "fchmod", Path: "/" + rel, Err: err}
		}
	}
	if err := c.xattrs(dst, src, rel); err != nil {
		return err
	}
	if err := futimens(dst, st.Atim, st.Mtim); err != nil {
		return &os.PathError{Op: "futimens", Path: "/" + rel, Err: err}
	}
	return nil
}

// futimens is utimensat(fd, NULL, times, 0): x/sys has no fd-only form
// that avoids a /proc path lookup.
func futimens(fd int, atime, mtime unix.Timespec) error {
	ts := [2]unix.Timespec{atime, mtime}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// xattrs copies src's extended attributes to dst: one flistxattr per
// entry, which is all most images ever cost.
func (c *copier) xattrs(dst, src int, rel string) error {
	n, err := unix.Flistxattr(src, c.buf)
	if err == unix.ERANGE {
		return &os.PathError{Op: "flistxattr", Path: "/" + rel, Err: err}
	}
	if err != nil || n == 0 {
		return nil // ENOTSUP: nothing to copy
	}
	names := strings.Split(strings.TrimRight(string(c.buf[:n]), "\x00"), "\x00")
	for _, k := range names {
		if k == "" || strings.HasPrefix(k, "trusted.overlay.") {
			continue
		}
		m, err := unix.Fgetxattr(src, k, c.buf)
		if err == unix.ENODATA {
			continue
		}
		if err != nil {
			return fmt.Errorf("get xattr %s: %w", k, &os.PathError{Op: "fgetxattr", Path: "/" + rel, Err: err})
		}
		if err := unix.Fsetxattr(dst, k, c.buf[:m], 0); err != nil && err != unix.ENOTSUP && !(err == unix.EPERM && !c.privileged) {
			return fmt.Errorf("set xattr %s: %w", k, &os.PathError{Op: "fsetxattr", Path: "/" + rel, Err: err})
		}
	}
	return nil
}

func (c *copier) chownAt(dfd int, name, rel string, st *unix.Stat_t) error {
	if !c.forceAttrs && st.Uid == c.euid && st.Gid == c.egid {
		return nil
	}
	if err := unix.Fchownat(dfd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil && !c.ignorable(err) {
		return &os.PathError{Op: "fchownat", Path: "/" + rel, Err: err}
	}
	return nil
}

// ignorable: an unprivileged caller cannot give files away; the copy keeps
// its own ownership instead.
func (c *copier) ignorable(err error) bool {
	return !c.privileged && (err == unix.EPERM || err == unix.EINVAL)
}

func setTimesAt(dfd int, name, rel string, st *unix.Stat_t) error {
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(dfd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: "/" + rel, Err: err}
	}
	return nil
}

// readUmask reads the process umask from /proc/self/status (Linux 4.7),
// without the umask(2) set-and-restore that would race with other
// goroutines creating files. -1 when unknown: every file then gets an
// explicit fchmod.
func readUmask() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return int(m)
			}
		}
	}
	return -1
}

func flockFd(fd, how int) error {
	for {
		if err := unix.Flock(fd, how); err != unix.EINTR {
			return err
		}
	}
}

// ErrMountInside is the cause when RemoveAt meets a mount point.
var ErrMountInside = errors.New("is a mount point: refusing to delete inside another filesystem")

// RemoveAt deletes name in the directory parent (a descriptor) and
// everything under it without following symlinks, and never descends
// into a mount point (it fails instead, with ErrMountInside): neither the
// undo of a partial copy nor a volume's removal may reach beyond it. full
// names it in errors.
func RemoveAt(parent int, name, full string) error {
	err := unix.Unlinkat(parent, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return &os.PathError{Op: "unlinkat", Path: full, Err: err}
	}
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "openat", Path: full, Err: err}
	}
	d := os.NewFile(uintptr(fd), full)
	defer d.Close()
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_TYPE, &stx); err != nil {
		return &os.PathError{Op: "statx", Path: full, Err: err}
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return &os.PathError{Op: "remove", Path: full, Err: ErrMountInside}
	}
	for {
		names, err := d.Readdirnames(1024)
		for _, n := range names {
			if err := RemoveAt(fd, n, full+"/"+n); err != nil {
				return err
			}
		}
		if err != nil || len(names) == 0 {
			break // io.EOF; any other error shows in the rmdir below
		}
	}
	if err := unix.Unlinkat(parent, name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return &os.PathError{Op: "rmdir", Path: full, Err: err}
	}
	return nil
}
