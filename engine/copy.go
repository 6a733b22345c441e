package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"stack/engine/archive"
	"stack/engine/container"
	"stack/engine/rootfs"
	"stack/engine/state"
)

// The container side of `stack cp`: a tar stream of a path in a
// container, or one extracted into it, running or not. Paths resolve
// inside the container's root and never leave it (engine/archive): a
// symlink to /etc in the container names the container's /etc.

// CopyFrom writes a tar stream of path in container ref (docker cp's
// rules: the archive's top entry is path's base name).
func (e *Engine) CopyFrom(ctx context.Context, ref, path string, w io.Writer, followLink bool) error {
	return e.withRoot(ref, func(root *os.File) error {
		return archive.Tar(w, root, path, followLink)
	})
}

// CopyTo extracts the tar stream r into dst in container ref.
func (e *Engine) CopyTo(ctx context.Context, ref, dst string, r io.Reader) error {
	return e.withRoot(ref, func(root *os.File) error {
		return archive.Untar(r, root, dst)
	})
}

// StatPath describes path in container ref.
func (e *Engine) StatPath(ctx context.Context, ref, path string) (fs.FileInfo, error) {
	var fi fs.FileInfo
	err := e.withRoot(ref, func(root *os.File) (err error) {
		fi, err = archive.Stat(root, path)
		return err
	})
	return fi, err
}

// withRoot runs fn with the root directory of container ref, as its
// processes see it, volumes included: a running container's through
// /proc/PID/root; a stopped one's is mounted for the call, privately, under
// the runtime directory, and unmounted after.
func (e *Engine) withRoot(ref string, fn func(root *os.File) error) error {
	c, err := e.Get(ref)
	if err != nil {
		return err
	}
	// The recorded pid is the init's only while its shim lives (a pid can
	// be reused once the container is gone).
	if pid := c.State.Pid; pid > 0 && isRunning(c.State.Status) && container.ShimAlive(e.paths(c.Config.ID)) {
		root, err := os.OpenFile(fmt.Sprintf("/proc/%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == nil {
			defer root.Close()
			return fn(root)
		}
		// it stopped meanwhile: mount it
	}
	p := e.paths(c.Config.ID)
	// Hold the shim's lock while the root is mounted here: a start waits
	// (its overlay would share the upper and work directories).
	if err := os.MkdirAll(p.RunDir, 0o700); err != nil {
		return err
	}
	lock, err := state.TryLock(p.ShimLock())
	if err != nil {
		return fmt.Errorf("container %q is starting or running: %w", c.Config.Name, err)
	}
	defer lock.Unlock()
	// The directory names this process, so that a command that finds it
	// after a crash knows nobody uses it (sweepCopyMounts).
	dir, err := os.MkdirTemp(e.root.RunDir, fmt.Sprintf("cp-%d-", os.Getpid()))
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := rootfs.MountOverlay(dir, c.Config.Lower, p.Upper(), p.Work()); err != nil {
		return fmt.Errorf("container %q: mount its root filesystem: %w", c.Config.Name, err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	if err := rootfs.Mount("", dir, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		return err
	}
	root, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := mountInto(root, c.Config.Mounts); err != nil {
		return fmt.Errorf("container %q: %w", c.Config.Name, err)
	}
	return fn(root)
}

// sweepCopyMounts unmounts and removes what a cp killed while it had a
// stopped container's root mounted left: cp-PID-* directories whose
// process is gone.
func (e *Engine) sweepCopyMounts() {
	dirs, _ := filepath.Glob(filepath.Join(e.root.RunDir, "cp-*-*"))
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(d), "cp-%d-", &pid); err != nil || pid <= 0 {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // still copying (or the pid was reused: next time)
		}
		unix.Unmount(d, unix.MNT_DETACH)
		os.Remove(d)
	}
}

// mountInto binds a stopped container's volumes and binds into root, the
// shallowest first, each target resolved inside root.
func mountInto(root *os.File, mounts []container.Mount) error {
	ms := slices.Clone(mounts)
	slices.SortStableFunc(ms, func(a, b container.Mount) int {
		return strings.Count(filepath.Clean(a.Target), "/") - strings.Count(filepath.Clean(b.Target), "/")
	})
	for _, m := range ms {
		st, err := os.Stat(m.Source)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return err
		}
		var target *os.File
		if st.IsDir() {
			target, err = rootfs.MkdirAllInRoot(root, m.Target, 0o755)
		} else {
			target, err = rootfs.EnsureFileInRoot(root, m.Target)
		}
		if err != nil {
			return fmt.Errorf("mount point %s: %w", m.Target, err)
		}
		flags := uintptr(unix.MS_BIND | unix.MS_REC)
		err = rootfs.Mount(m.Source, rootfs.ProcPath(target), "", flags, "")
		target.Close()
		if err != nil {
			return fmt.Errorf("mount %s: %w", m.Target, err)
		}
		if m.ReadOnly {
			t, err := rootfs.OpenInRoot(root, m.Target, unix.O_PATH)
			if err == nil {
				err = rootfs.Mount("", rootfs.ProcPath(t), "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
				t.Close()
			}
			if err != nil {
				return fmt.Errorf("mount %s read-only: %w", m.Target, err)
			}
		}
	}
	return nil
}
