package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// MountError describes a failed mount(2) with everything needed to see why:
// source, target, type, flags (spelled out) and data.
type MountError struct {
	Op     string
	Source string
	Target string
	FSType string
	Flags  uintptr
	Data   string
	Err    error
}

func (e *MountError) Error() string {
	s := e.Op + " " + e.Target
	if e.Source != "" {
		s += " from " + e.Source
	}
	if e.FSType != "" {
		s += " (" + e.FSType + ")"
	}
	if e.Flags != 0 {
		s += " flags " + flagString(e.Flags)
	}
	if e.Data != "" {
		d := e.Data
		if len(d) > 120 {
			d = d[:120] + "…"
		}
		s += " data " + strconvQuote(d)
	}
	return s + ": " + e.Err.Error()
}

func (e *MountError) Unwrap() error { return e.Err }

func strconvQuote(s string) string { return "\"" + strings.ReplaceAll(s, "\"", "\\\"") + "\"" }

var flagNames = []struct {
	f uintptr
	n string
}{
	{unix.MS_RDONLY, "MS_RDONLY"}, {unix.MS_NOSUID, "MS_NOSUID"}, {unix.MS_NODEV, "MS_NODEV"},
	{unix.MS_NOEXEC, "MS_NOEXEC"}, {unix.MS_REMOUNT, "MS_REMOUNT"}, {unix.MS_BIND, "MS_BIND"},
	{unix.MS_MOVE, "MS_MOVE"}, {unix.MS_REC, "MS_REC"}, {unix.MS_PRIVATE, "MS_PRIVATE"},
	{unix.MS_SLAVE, "MS_SLAVE"}, {unix.MS_SHARED, "MS_SHARED"}, {unix.MS_STRICTATIME, "MS_STRICTATIME"},
	{unix.MS_NOATIME, "MS_NOATIME"}, {unix.MS_RELATIME, "MS_RELATIME"}, {unix.MS_NODIRATIME, "MS_NODIRATIME"},
	{unix.MS_UNBINDABLE, "MS_UNBINDABLE"},
}

func flagString(f uintptr) string {
	var parts []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			parts = append(parts, n.n)
			f &^= n.f
		}
	}
	if f != 0 {
		parts = append(parts, fmt.Sprintf("%#x", f))
	}
	return strings.Join(parts, "|")
}

// Mount is mount(2) with a MountError on failure.
func Mount(source, target, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return &MountError{Op: "mount", Source: source, Target: target, FSType: fstype, Flags: flags, Data: data, Err: err}
	}
	return nil
}

// OverlayOptions are the fixed options stack mounts overlays with. index,
// redirect_dir and metacopy off keep an upper dir a self-contained diff that
// can be turned into a layer by walking it alone (research/runtime.md §5.4).
var overlayFixed = []string{"index=off", "redirect_dir=off", "metacopy=off"}

// MountOverlay mounts an overlay of lower (bottom layer first) with the given
// upper and work dirs on target. It uses the new mount API with one
// "lowerdir+" per layer, which has no page-size limit on the number of
// layers (Linux 6.7+), and falls back to the legacy option string.
func MountOverlay(target string, lower []string, upper, work string) error {
	if len(lower) == 0 {
		return fmt.Errorf("mount overlay %s: no lower layers", target)
	}
	err := mountOverlayFsconfig(target, lower, upper, work)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
		return err
	}
	// Legacy: top layer first in lowerdir.
	var b strings.Builder
	b.WriteString("lowerdir=")
	for i := len(lower) - 1; i >= 0; i-- {
		b.WriteString(lower[i])
		if i > 0 {
			b.WriteByte(':')
		}
	}
	if upper != "" {
		b.WriteString(",upperdir=" + upper + ",workdir=" + work)
	}
	for _, o := range overlayFixed {
		b.WriteString("," + o)
	}
	return Mount("overlay", target, "overlay", 0, b.String())
}

func mountOverlayFsconfig(target string, lower []string, upper, work string) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return &MountError{Op: "fsopen", Target: target, FSType: "overlay", Err: err}
	}
	defer unix.Close(fsfd)
	set := func(k, v string) error {
		if err := unix.FsconfigSetString(fsfd, k, v); err != nil {
			return &MountError{Op: "fsconfig " + k, Source: v, Target: target, FSType: "overlay", Err: err}
		}
		return nil
	}
	// "lowerdir+" appends below the layers given so far: top layer first.
	for i := len(lower) - 1; i >= 0; i-- {
		if err := set("lowerdir+", lower[i]); err != nil {
			return err
		}
	}
	if upper != "" {
		if err := set("upperdir", upper); err != nil {
			return err
		}
		if err := set("workdir", work); err != nil {
			return err
		}
	}
	for _, o := range overlayFixed {
		k, v, _ := strings.Cut(o, "=")
		if err := set(k, v); err != nil {
			return err
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return &MountError{Op: "fsconfig create", Target: target, FSType: "overlay", Err: err}
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return &MountError{Op: "fsmount", Target: target, FSType: "overlay", Err: err}
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return &MountError{Op: "move_mount", Target: target, FSType: "overlay", Err: err}
	}
	return nil
}

// OpenInRoot opens path inside root without letting any component (symlinks
// included) resolve outside it, as if root were "/". flags are open(2) flags.
func OpenInRoot(root *os.File, path string, flags int) (*os.File, error) {
	rel := strings.TrimLeft(filepath.Clean("/"+path), "/")
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(int(root.Fd()), rel, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: filepath.Join(root.Name(), rel), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(root.Name(), rel)), nil
}

// MkdirAllInRoot creates path (and its parents) inside root, resolving every
// component inside root, and returns an O_PATH descriptor of the result.
func MkdirAllInRoot(root *os.File, path string, mode os.FileMode) (*os.File, error) {
	rel := strings.TrimLeft(filepath.Clean("/"+path), "/")
	if rel == "" {
		rel = "."
	}
	f, err := OpenInRoot(root, rel, unix.O_PATH|unix.O_DIRECTORY)
	if err == nil || rel == "." || !errors.Is(err, unix.ENOENT) {
		return f, err
	}
	parent, err := MkdirAllInRoot(root, filepath.Dir(rel), mode)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	if err := unix.Mkdirat(int(parent.Fd()), filepath.Base(rel), uint32(mode.Perm())); err != nil && err != unix.EEXIST {
		return nil, &os.PathError{Op: "mkdirat", Path: filepath.Join(root.Name(), rel), Err: err}
	}
	return OpenInRoot(root, rel, unix.O_PATH|unix.O_DIRECTORY)
}

// EnsureFileInRoot makes sure path exists inside root as a regular file (for
// bind-mounting a file on it), creating parents, and returns an O_PATH
// descriptor of it.
func EnsureFileInRoot(root *os.File, path string) (*os.File, error) {
	dir, err := MkdirAllInRoot(root, filepath.Dir(filepath.Clean("/"+path)), 0o755)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	base := filepath.Base(path)
	fd, err := unix.Openat(int(dir.Fd()), base, unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_WRONLY, 0o644)
	if err == nil {
		unix.Close(fd)
	} else if err != unix.EEXIST && err != unix.ELOOP && err != unix.EISDIR && err != unix.EACCES && err != unix.EROFS {
		return nil, &os.PathError{Op: "create", Path: filepath.Join(dir.Name(), base), Err: err}
	}
	return OpenInRoot(root, path, unix.O_PATH)
}

// ProcPath is the magic-link path of an open descriptor, used as a mount
// target so that mount(2) acts on the exact inode resolved safely above.
func ProcPath(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

// PivotRoot makes dir the root of the current mount namespace and detaches
// the old root, without needing a put_old directory inside the image (the
// pivot_root(".", ".") idiom from LXC and runc).
func PivotRoot(dir string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("open /", err)
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return os.NewSyscallError("fchdir", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return &os.PathError{Op: "pivot_root", Path: dir, Err: err}
	}
	// The old root is now stacked under the new one at "/". Make it a slave
	// so unmounting it does not propagate anywhere, then detach it.
	if err := unix.Fchdir(oldroot); err != nil {
		return os.NewSyscallError("fchdir", err)
	}
	if err := Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "umount old root", Path: "/", Err: err}
	}
	return unix.Chdir("/")
}
