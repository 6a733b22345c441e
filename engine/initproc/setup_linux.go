package initproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"stack/engine/initproc/prog"
	"stack/engine/rootfs"
	"stack/volume/copyup"
)

// stepError ties a set-up failure to its named step, so the shim can say
// `container "x": start: pivot_root: invalid argument`.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// Step returns the step a Prepare or Exec error names, and its cause.
func Step(err error) (string, error, bool) {
	var se *stepError
	if errors.As(err, &se) {
		return se.step, se.err, true
	}
	return "", err, false
}

// Trace, when set (STACK_DEBUG), is told each step of Prepare as it ends.
var Trace func(step string)

func step(name string, err error) error {
	if err == nil {
		if Trace != nil {
			Trace(name)
		}
		return nil
	}
	return &stepError{step: name, err: err}
}

// mountFlags splits runtime-spec mount options into flags, propagation
// flags and the data string.
func mountFlags(options []string) (flags, prop uintptr, data string) {
	var d []string
	for _, o := range options {
		switch o {
		case "ro":
			flags |= unix.MS_RDONLY
		case "rw":
			flags &^= unix.MS_RDONLY
		case "nosuid":
			flags |= unix.MS_NOSUID
		case "suid":
			flags &^= unix.MS_NOSUID
		case "nodev":
			flags |= unix.MS_NODEV
		case "dev":
			flags &^= unix.MS_NODEV
		case "noexec":
			flags |= unix.MS_NOEXEC
		case "exec":
			flags &^= unix.MS_NOEXEC
		case "strictatime":
			flags |= unix.MS_STRICTATIME
		case "relatime":
			flags |= unix.MS_RELATIME
		case "noatime":
			flags |= unix.MS_NOATIME
		case "nodiratime":
			flags |= unix.MS_NODIRATIME
		case "bind":
			flags |= unix.MS_BIND
		case "rbind":
			flags |= unix.MS_BIND | unix.MS_REC
		case "private":
			prop = unix.MS_PRIVATE
		case "rprivate":
			prop = unix.MS_PRIVATE | unix.MS_REC
		case "slave":
			prop = unix.MS_SLAVE
		case "rslave":
			prop = unix.MS_SLAVE | unix.MS_REC
		case "shared":
			prop = unix.MS_SHARED
		case "rshared":
			prop = unix.MS_SHARED | unix.MS_REC
		case "z", "Z", "nocopy", "create_host_path":
			// SELinux relabel and volume hints: accepted, nothing to do here.
		default:
			d = append(d, o)
		}
	}
	return flags, prop, strings.Join(d, ",")
}

func (pr *preparer) mountAll(mounts []specs.Mount) error {
	root := pr.root
	for _, m := range mounts {
		if pr.byInit(m) {
			if err := pr.initMount(m); err != nil {
				return fmt.Errorf("%s: %w", m.Destination, err)
			}
			continue
		}
		if err := pr.mountOne(root, m); err != nil {
			return fmt.Errorf("%s: %w", m.Destination, err)
		}
	}
	return nil
}

// OptCopyUp is the mount option (of a volume's bind mount) asking the init
// to fill the volume, if it is empty, with what the image has at the mount
// point, as docker does the first time a named volume is mounted.
const OptCopyUp = "stack.copyup"

// OptBeneath, followed by a directory, asks that a bind's source resolve
// inside that directory without following any symlink: a volume's subpath,
// which a container sharing the volume may have replaced by a symlink to
// the host's /.
const OptBeneath = "stack.beneath="

func (pr *preparer) mountOne(root *os.File, m specs.Mount) error {
	copyUp := slices.Contains(m.Options, OptCopyUp)
	var beneath string
	opts := slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool {
		if d, ok := strings.CutPrefix(o, OptBeneath); ok {
			beneath = d
			return true
		}
		return o == OptCopyUp
	})
	flags, prop, data := mountFlags(opts)
	isBind := flags&unix.MS_BIND != 0 || m.Type == "bind"
	var target *os.File
	var err error
	if beneath != "" {
		src, err := openBeneath(beneath, m.Source)
		if err != nil {
			return err
		}
		defer src.Close()
		m.Source = rootfs.ProcPath(src)
	}
	if copyUp && isBind {
		// Before the mount hides it: the image's directory, if any.
		if src, err := rootfs.OpenInRoot(root, m.Destination, unix.O_PATH|unix.O_DIRECTORY); err == nil {
			_, err = copyup.CopyUp(src, m.Source)
			src.Close()
			if err != nil {
				return fmt.Errorf("copy the image's content into the volume: %w", err)
			}
		}
	}
	if isBind {
		st, serr := os.Stat(m.Source)
		if serr != nil {
			return serr
		}
		if st.IsDir() {
			target, err = rootfs.MkdirAllInRoot(root, m.Destination, 0o755)
		} else {
			target, err = rootfs.EnsureFileInRoot(root, m.Destination)
		}
	} else {
		target, err = rootfs.MkdirAllInRoot(root, m.Destination, 0o755)
	}
	if err != nil {
		return err
	}
	defer func() { target.Close() }()
	dst := rootfs.ProcPath(target)

	switch {
	case isBind:
		flags |= unix.MS_BIND
		if err := rootfs.Mount(m.Source, dst, "", unix.MS_BIND|(flags&unix.MS_REC), ""); err != nil {
			return err
		}
		if dst, err = remount(root, m.Destination, &target); err != nil {
			return err
		}
		// Bind mounts ignore all flags but MS_REC on the first call: apply
		// ro, nosuid and friends with a remount.
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC); rest != 0 {
			if err := remountBind(dst, rest); err != nil {
				return err
			}
		}
	default:
		if err := rootfs.Mount(m.Type, dst, m.Type, flags, data); err != nil {
			return err
		}
		if filepath.Clean(m.Destination) == "/dev" {
			if err := populateDev(root, pr.cfg.Spec.Annotations["stack.privileged"] == "true"); err != nil {
				return err
			}
		}
	}
	if prop != 0 {
		if !isBind {
			if dst, err = remount(root, m.Destination, &target); err != nil {
				return err
			}
		}
		if err := rootfs.Mount("", dst, "", prop, ""); err != nil {
			return err
		}
	}
	return nil
}

// openBeneath opens path, which must be inside dir, resolving it from dir
// with no symlink and no ".." out of it.
func openBeneath(dir, path string) (*os.File, error) {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("%s is not inside %s", path, dir)
	}
	d, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	fd, err := unix.Openat2(int(d.Fd()), rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, fmt.Errorf("volume subpath %s: %w", rel, os.NewSyscallError("openat2", err))
	}
	return os.NewFile(uintptr(fd), path), nil
}

// remount resolves dest again after something was mounted on it: a
// descriptor taken before the mount, and its /proc/self/fd path, still
// point at the covered inode, so later changes would miss the new mount.
// The new descriptor replaces *f (and is closed by the caller's defer).
func remount(root *os.File, dest string, f **os.File) (string, error) {
	nf, err := rootfs.OpenInRoot(root, dest, unix.O_PATH)
	if err != nil {
		return "", err
	}
	(*f).Close()
	*f = nf
	return rootfs.ProcPath(nf), nil
}

// remountBind applies flags to an existing bind mount, keeping the locked
// flags the kernel insists on (a remount that would clear nosuid/nodev/noexec
// inherited from the source fails with EPERM).
func remountBind(dst string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dst, &st); err == nil {
		for _, f := range []uintptr{unix.MS_NOSUID, unix.MS_NODEV, unix.MS_NOEXEC} {
			if uintptr(st.Flags)&f != 0 {
				flags |= f
			}
		}
	}
	return rootfs.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|flags, "")
}

// The default devices of the runtime-spec, plus the links every image
// expects (runc's setupDevSymlinks).
var defaultDevices = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

var devLinks = [][2]string{
	{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
	{"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"},
}

func populateDev(root *os.File, privileged bool) error {
	// Resolve /dev again: the descriptor used as the mount target still
	// points at the directory the tmpfs now covers.
	d, err := rootfs.OpenInRoot(root, "/dev", unix.O_DIRECTORY|unix.O_RDONLY)
	if err != nil {
		return err
	}
	defer d.Close()
	fd := int(d.Fd())
	for _, n := range defaultDevices {
		if err := unix.Mknodat(fd, n.name, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return &os.PathError{Op: "mknod", Path: "/dev/" + n.name, Err: err}
		}
	}
	for _, l := range devLinks {
		if err := unix.Symlinkat(l[0], fd, l[1]); err != nil {
			return &os.PathError{Op: "symlink", Path: "/dev/" + l[1], Err: err}
		}
	}
	if privileged {
		return copyHostDevices(fd)
	}
	return nil
}

// copyHostDevices gives a privileged container the host's device nodes, as
// Docker does (--privileged); the device cgroup is left open for it. Only
// the top level of the host's /dev: its pts, shm and mqueue are the
// container's own.
func copyHostDevices(dirfd int) error {
	ents, err := os.ReadDir("/dev")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Type()&(os.ModeDevice) == 0 {
			continue
		}
		var st unix.Stat_t
		if unix.Lstat("/dev/"+e.Name(), &st) != nil {
			continue
		}
		err := unix.Mknodat(dirfd, e.Name(), st.Mode, int(st.Rdev))
		if err != nil && err != unix.EEXIST {
			return &os.PathError{Op: "mknod", Path: "/dev/" + e.Name(), Err: err}
		}
		unix.Fchownat(dirfd, e.Name(), int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("SIOCGIFFLAGS", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("SIOCSIFFLAGS", err)
	}
	return nil
}

var rlimitTypes = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// rlimits adds the calls that set the spec's limits in the process that
// runs p (PID 1, whose children inherit them, or an exec). A hard limit
// is never raised above the shim's own: that needs CAP_SYS_RESOURCE,
// which the machines stack runs on may not grant even to root, and
// Docker's own behaviour is to inherit. The soft limit is clamped to the
// resulting hard limit.
func rlimits(p *prog.Program, limits []specs.POSIXRlimit) error {
	for _, l := range limits {
		res, ok := rlimitTypes[l.Type]
		if !ok {
			return step("rlimits", fmt.Errorf("unknown rlimit %q", l.Type))
		}
		var cur unix.Rlimit
		if err := unix.Prlimit(0, res, nil, &cur); err != nil {
			return step("rlimits", os.NewSyscallError("prlimit", err))
		}
		hard, soft := l.Hard, l.Soft
		if hard > cur.Max {
			hard = cur.Max
		}
		if soft > hard {
			soft = hard
		}
		p.Rlimit(res, soft, hard)
	}
	return nil
}
