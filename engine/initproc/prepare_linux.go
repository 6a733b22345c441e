package initproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"stack/engine/initproc/prog"
	"stack/engine/rootfs"
)

// Prepared is a container start made ready by Prepare.
type Prepared struct {
	// Program is what stack-init runs: write it to its prog.FDProgram.
	Program *prog.Program
	// Path is the main process's executable, as resolved (for errors).
	Path string
	// Master is the terminal's master, when the process has one.
	Master *os.File
}

// preparer is one Prepare under way.
type preparer struct {
	cfg *Config
	// root is the mounted rootfs, and rootPath its path as the kernel
	// names it (symlinks in the state directory's path resolved): the
	// init's working directory, to which the program's paths are relative.
	root     *os.File
	rootPath string
	p        *prog.Program
	// byInitDirs are the destinations of the mounts the init makes
	// itself (proc, cgroup), and so of every mount under them.
	byInitDirs []string
	procDir    string // the proc mount's path relative to the rootfs
	procFlags  uintptr
}

// Prepare builds the container's root filesystem in the mount namespace
// of its init, pid: stack-init started by the shim in the container's new
// namespaces, still waiting for its program. It decides everything about
// the main process and returns the program, in which the init
//
//   - enters a cgroup namespace of its own (the shim has put it in its
//     cgroup), mounts the cgroup hierarchies and /proc, masks and
//     write-protects /proc paths: things only a process in the new PID
//     and cgroup namespaces can do;
//   - pivots into the rootfs, remounts it read-only if asked, and makes
//     itself non-dumpable (container processes must not reach its
//     /proc/1/exe, the sealed stack-init, or its memory);
//   - forks the main process, which takes its terminal, capabilities,
//     groups, user, umask and working directory, and execs.
//
// The rest is done here, in the init's mount, network, UTS and IPC
// namespaces: / made private, the overlay and the spec's mounts
// (volumes filled from the image the first time, /dev populated),
// masked /sys paths, hostname, sysctls, loopback up, and the main
// process resolved in the image (user, executable, working directory
// made if missing, terminal). stdio, the container's stdin, stdout and
// stderr, are handed to its user.
//
// Prepare moves the calling thread into the init's namespaces: call it on
// a goroutine locked to its thread (runtime.LockOSThread) that never
// unlocks, so the Go runtime discards the thread when the goroutine ends.
// Other threads are unaffected.
func Prepare(cfg *Config, pid int, stdio []*os.File) (*Prepared, error) {
	spec := cfg.Spec
	if spec == nil || spec.Process == nil {
		return nil, step("config", errors.New("no process in the spec"))
	}
	if err := step("join namespaces", enterInit(pid)); err != nil {
		return nil, err
	}
	unix.Umask(0) // this thread's: modes below are exact
	if err := step("make / private", rootfs.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")); err != nil {
		return nil, err
	}
	if err := step("mount rootfs", rootfs.MountOverlay(cfg.Rootfs, cfg.Lower, cfg.Upper, cfg.Work)); err != nil {
		return nil, err
	}
	root, err := os.OpenFile(cfg.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, step("mount rootfs", err)
	}
	defer root.Close()
	rootPath, err := os.Readlink(rootfs.ProcPath(root))
	if err != nil {
		return nil, step("mount rootfs", err)
	}
	pr := &preparer{cfg: cfg, root: root, rootPath: rootPath, p: &prog.Program{}}
	p := pr.p
	// Exec'd from a memfd as /proc/self/fd/N, the init would be named N.
	p.Setup("init", syscall.SYS_PRCTL, nil, prog.Int(unix.PR_SET_NAME), prog.Str("stack-init"))
	p.Setup("rootfs", syscall.SYS_CHDIR, nil, prog.Str(rootPath))
	p.Setup("cgroup namespace", syscall.SYS_UNSHARE, nil, prog.Int(unix.CLONE_NEWCGROUP))
	for _, m := range spec.Mounts {
		if m.Type == "proc" || m.Type == "cgroup" || m.Type == "cgroup2" {
			pr.byInitDirs = append(pr.byInitDirs, filepath.Clean(m.Destination))
		}
	}
	if err := step("mounts", pr.mountAll(spec.Mounts)); err != nil {
		return nil, err
	}
	if l := spec.Linux; l != nil {
		if err := step("readonly paths", pr.readonlyPaths(l.ReadonlyPaths)); err != nil {
			return nil, err
		}
		if err := step("masked paths", pr.maskPaths(l.MaskedPaths)); err != nil {
			return nil, err
		}
	}
	p.PivotRoot()
	if spec.Root != nil && spec.Root.Readonly {
		p.Setup("read-only root", syscall.SYS_MOUNT, nil, prog.Int(0), prog.Str("/"), prog.Int(0),
			prog.Int(unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY), prog.Int(0))
	}
	if spec.Hostname != "" {
		if err := step("hostname", os.NewSyscallError("sethostname", unix.Sethostname([]byte(spec.Hostname)))); err != nil {
			return nil, err
		}
	}
	if spec.Domainname != "" {
		if err := step("domainname", os.NewSyscallError("setdomainname", unix.Setdomainname([]byte(spec.Domainname)))); err != nil {
			return nil, err
		}
	}
	if err := step("sysctl", writeSysctls(spec.Linux)); err != nil {
		return nil, err
	}
	if err := step("loopback", loopbackUp()); err != nil {
		return nil, err
	}
	if err := rlimits(p, spec.Process.Rlimits); err != nil {
		return nil, err
	}
	p.Setup("dumpable", syscall.SYS_PRCTL, nil, prog.Int(unix.PR_SET_DUMPABLE), prog.Int(0))

	proc, master, _, err := resolveProcess(root, spec, spec.Process, stdio, true)
	if err != nil {
		return nil, err
	}
	step("process", nil)
	p.ChildProcess(proc)
	return &Prepared{Program: p, Path: proc.Path, Master: master}, nil
}

// enterInit moves this thread into the mount, network, UTS and IPC
// namespaces of process pid. Joining a mount namespace needs a
// filesystem context (root, working directory, umask) of the thread's
// own, which CLONE_FS shares between a Go program's threads.
func enterInit(pid int) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return os.NewSyscallError("unshare(CLONE_FS)", err)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return os.NewSyscallError("pidfd_open", err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNS|unix.CLONE_NEWNET|unix.CLONE_NEWUTS|unix.CLONE_NEWIPC); err != nil {
		return os.NewSyscallError("setns", err)
	}
	return nil
}

// byInit reports whether the init mounts m: a proc or cgroup file
// system, or anything mounted under one.
func (pr *preparer) byInit(m specs.Mount) bool {
	return pr.underInitMount(m.Destination) != ""
}

// underInitMount returns the destination of the init's mount that holds
// path, or "".
func (pr *preparer) underInitMount(path string) string {
	path = filepath.Clean("/" + path)
	for _, d := range pr.byInitDirs {
		if path == d || strings.HasPrefix(path, d+"/") || d == "/" {
			return d
		}
	}
	return ""
}

// relPath makes dest (and its parents) in the rootfs, resolved inside it,
// and returns its path relative to the rootfs with every symlink
// resolved: the init, whose working directory is the rootfs, finds the
// same directory by that path (nothing runs in the container yet that
// could change it).
func (pr *preparer) relPath(dest string) (string, error) {
	f, err := rootfs.MkdirAllInRoot(pr.root, dest, 0o755)
	if err != nil {
		return "", err
	}
	defer f.Close()
	abs, err := os.Readlink(rootfs.ProcPath(f))
	if err != nil {
		return "", err
	}
	if abs == pr.rootPath {
		return ".", nil
	}
	rel, ok := strings.CutPrefix(abs, pr.rootPath+"/")
	if !ok {
		return "", fmt.Errorf("%s resolved to %s, outside the rootfs", dest, abs)
	}
	return rel, nil
}

// initMount adds to the program a mount the init makes: proc, the cgroup
// hierarchies, or a bind mount on a file of either (lxcfs's on
// /proc/cpuinfo).
func (pr *preparer) initMount(m specs.Mount) error {
	p := pr.p
	flags, prop, data := mountFlags(m.Options)
	dataArg := prog.Int(0)
	if data != "" {
		dataArg = prog.Str(data)
	}
	name := "mount " + m.Destination
	switch m.Type {
	case "proc":
		rel, err := pr.relPath(m.Destination)
		if err != nil {
			return err
		}
		if pr.procDir == "" {
			pr.procDir, pr.procFlags = rel, flags
		}
		p.Setup(name, syscall.SYS_MOUNT, nil, prog.Str("proc"), prog.Str(rel), prog.Str("proc"), prog.Int(flags), dataArg)
	case "cgroup", "cgroup2":
		rel, err := pr.relPath(m.Destination)
		if err != nil {
			return err
		}
		pr.cgroupMounts(name, rel, flags)
	default:
		if flags&unix.MS_BIND == 0 && m.Type != "bind" {
			return fmt.Errorf("a %s mount inside a proc or cgroup mount is not supported", m.Type)
		}
		// The target is in a file system the init has just mounted,
		// which the image cannot have changed: its path is safe.
		under := pr.underInitMount(m.Destination)
		base, err := pr.relPath(under)
		if err != nil {
			return err
		}
		rest, _ := filepath.Rel(under, filepath.Clean(m.Destination))
		rel := filepath.Join(base, rest)
		p.Setup(name, syscall.SYS_MOUNT, nil, prog.Str(m.Source), prog.Str(rel), prog.Int(0), prog.Int(unix.MS_BIND|(flags&unix.MS_REC)), prog.Int(0))
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC); rest != 0 {
			p.Setup(name, syscall.SYS_MOUNT, nil, prog.Int(0), prog.Str(rel), prog.Int(0), prog.Int(unix.MS_BIND|unix.MS_REMOUNT|rest), prog.Int(0))
		}
	}
	if prop != 0 {
		rel, err := pr.relPath(m.Destination)
		if err != nil {
			return err
		}
		p.Setup(name, syscall.SYS_MOUNT, nil, prog.Int(0), prog.Str(rel), prog.Int(0), prog.Int(prop), prog.Int(0))
	}
	return nil
}

// cgroupMounts adds the mounts of the container's view of the cgroup
// hierarchies at rel. On a pure v2 host it is one cgroup2 mount; on a v1
// or hybrid host, a tmpfs with one directory per v1 hierarchy. The init's
// cgroup namespace makes each show the container's own cgroup as its
// root.
func (pr *preparer) cgroupMounts(name, rel string, flags uintptr) {
	p := pr.p
	if len(pr.cfg.CgroupV1) == 0 {
		p.Setup(name, syscall.SYS_MOUNT, nil, prog.Str("cgroup2"), prog.Str(rel), prog.Str("cgroup2"), prog.Int(flags), prog.Int(0))
		return
	}
	tmpfsFlags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	p.Setup(name, syscall.SYS_MOUNT, nil, prog.Str("tmpfs"), prog.Str(rel), prog.Str("tmpfs"), prog.Int(tmpfsFlags), prog.Str("mode=755"))
	for _, cm := range pr.cfg.CgroupV1 {
		sub := filepath.Join(rel, cm.Dir)
		p.Setup(name, syscall.SYS_MKDIR, nil, prog.Str(sub), prog.Int(0o755))
		p.Setup(name, syscall.SYS_MOUNT, nil, prog.Str("cgroup"), prog.Str(sub), prog.Str("cgroup"), prog.Int(flags), prog.Str(cm.Options))
	}
	if flags&unix.MS_RDONLY != 0 {
		p.Setup(name, syscall.SYS_MOUNT, nil, prog.Int(0), prog.Str(rel), prog.Int(0),
			prog.Int(unix.MS_REMOUNT|unix.MS_RDONLY|tmpfsFlags), prog.Str("mode=755"))
	}
}

// initPath returns path's location relative to the rootfs when it lies
// in a file system the init mounts (/proc), or "".
func (pr *preparer) initPath(path string) string {
	d := pr.underInitMount(path)
	if d == "" || pr.procDir == "" {
		return ""
	}
	rest, _ := filepath.Rel(d, filepath.Clean("/"+path))
	return filepath.Join(pr.procDir, rest)
}

// readonlyPaths makes each path read-only with a read-only bind of
// itself. Paths under /proc are the init's to do; a path that does not
// exist on this kernel is skipped.
func (pr *preparer) readonlyPaths(paths []string) error {
	ok := []syscall.Errno{syscall.ENOENT}
	for _, path := range paths {
		if rel := pr.initPath(path); rel != "" {
			name := "readonly path " + path
			pr.p.Setup(name, syscall.SYS_MOUNT, ok, prog.Str(rel), prog.Str(rel), prog.Int(0), prog.Int(unix.MS_BIND|unix.MS_REC), prog.Int(0))
			pr.p.Setup(name, syscall.SYS_MOUNT, ok, prog.Int(0), prog.Str(rel), prog.Int(0),
				prog.Int(unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_REC|pr.procFlags&(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)), prog.Int(0))
			continue
		}
		f, err := rootfs.OpenInRoot(pr.root, path, unix.O_PATH)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return err
		}
		dst := rootfs.ProcPath(f)
		err = rootfs.Mount(dst, dst, "", unix.MS_BIND|unix.MS_REC, "")
		if err == nil {
			// Resolve again: the descriptor points at the covered inode.
			var dst string
			if dst, err = remount(pr.root, path, &f); err == nil {
				err = remountBind(dst, unix.MS_RDONLY|unix.MS_REC)
			}
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// maskPaths hides each path: a directory under an empty read-only tmpfs,
// a file under /dev/null. Paths under /proc are the init's to do (this
// kernel's /proc, seen here, tells a directory from a file); a path that
// does not exist on this kernel is skipped.
func (pr *preparer) maskPaths(paths []string) error {
	ok := []syscall.Errno{syscall.ENOENT}
	for _, path := range paths {
		if rel := pr.initPath(path); rel != "" {
			name := "masked path " + path
			st, err := os.Stat(filepath.Join("/proc", strings.TrimPrefix(rel, pr.procDir)))
			if err != nil {
				continue // absent on this kernel
			}
			if st.IsDir() {
				pr.p.Setup(name, syscall.SYS_MOUNT, ok, prog.Str("tmpfs"), prog.Str(rel), prog.Str("tmpfs"), prog.Int(unix.MS_RDONLY), prog.Str("size=0"))
			} else {
				pr.p.Setup(name, syscall.SYS_MOUNT, ok, prog.Str("/dev/null"), prog.Str(rel), prog.Int(0), prog.Int(unix.MS_BIND), prog.Int(0))
			}
			continue
		}
		f, err := rootfs.OpenInRoot(pr.root, path, unix.O_PATH)
		if err != nil {
			continue // absent: nothing to mask
		}
		var st unix.Stat_t
		err = unix.Fstat(int(f.Fd()), &st)
		if err == nil {
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				err = rootfs.Mount("tmpfs", rootfs.ProcPath(f), "tmpfs", unix.MS_RDONLY, "size=0")
			} else {
				err = rootfs.Mount("/dev/null", rootfs.ProcPath(f), "", unix.MS_BIND, "")
			}
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// writeSysctls sets the spec's sysctls. This thread is in the container's
// network, IPC and UTS namespaces, which is what /proc/sys shows for the
// namespaced ones.
func writeSysctls(l *specs.Linux) error {
	if l == nil {
		return nil
	}
	for k, v := range l.Sysctl {
		p := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("%s=%s: %w", k, v, err)
		}
	}
	return nil
}
