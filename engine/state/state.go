// Package state owns the on-disk layout of a stack root, atomic writes and
// file locks.
//
// A root has two halves: the persistent directory (/var/lib/stack, or
// STACK_ROOT, or --root) that holds images, container records, logs and
// volumes, and the runtime directory (/run/stack by default) that holds
// sockets and lock files that mean nothing after a reboot. When the root is
// moved, the runtime directory moves with it (<root>/run), so that two roots
// on one machine (tests) never share runtime files.
//
// Every write that another command may read is atomic: the data goes to a
// temporary file in the same directory, is fsynced, and is renamed over the
// target. A command killed halfway therefore leaves either the old or the new
// file, never a torn one. What it does not prevent: a crash between two
// related writes leaves both files individually valid but mutually stale;
// readers repair that (see engine).
package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultDir is the persistent root used when nothing else is configured.
const DefaultDir = "/var/lib/stack"

// DefaultRunDir is the runtime directory that goes with DefaultDir.
const DefaultRunDir = "/run/stack"

// Root is a stack root: a persistent directory and a runtime directory.
type Root struct {
	Dir    string // persistent state: images, containers, volumes
	RunDir string // runtime state: sockets, pid and lock files
}

// Resolve picks the root from an explicit flag value, then STACK_ROOT, then
// the default. The runtime directory is STACK_RUN_ROOT when set, /run/stack
// for the default root, and <root>/run for any other root.
func Resolve(flag string) (Root, error) {
	dir := flag
	if dir == "" {
		dir = os.Getenv("STACK_ROOT")
	}
	run := os.Getenv("STACK_RUN_ROOT")
	if dir == "" {
		dir = DefaultDir
		if run == "" {
			run = DefaultRunDir
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Root{}, fmt.Errorf("state root %q: %w", dir, err)
	}
	if run == "" {
		run = filepath.Join(abs, "run")
	}
	runAbs, err := filepath.Abs(run)
	if err != nil {
		return Root{}, fmt.Errorf("runtime root %q: %w", run, err)
	}
	return Root{Dir: abs, RunDir: runAbs}, nil
}

// Init creates the directories of the root if they are missing.
func (r Root) Init() error {
	for _, d := range []string{r.Dir, r.ImageDir(), r.ContainersDir(), r.VolumesDir(), r.RunDir, r.ContainersRunDir()} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return fmt.Errorf("init state root: %w", err)
		}
	}
	return nil
}

// ImageDir holds the image store (blobs, refs, unpacked layers).
func (r Root) ImageDir() string { return filepath.Join(r.Dir, "image") }

// ContainersDir holds one directory per container record.
func (r Root) ContainersDir() string { return filepath.Join(r.Dir, "containers") }

// ContainerDir holds a container's record, state, logs and rootfs upper dir.
func (r Root) ContainerDir(id string) string { return filepath.Join(r.ContainersDir(), id) }

// VolumesDir holds named volumes.
func (r Root) VolumesDir() string { return filepath.Join(r.Dir, "volumes") }

// ContainersRunDir holds one runtime directory per live container.
func (r Root) ContainersRunDir() string { return filepath.Join(r.RunDir, "c") }

// ContainerRunDir holds a container's shim socket, lock and rootfs mount point.
// The id is shortened to keep unix socket paths under the 108-byte limit.
func (r Root) ContainerRunDir(id string) string {
	if len(id) > 16 {
		id = id[:16]
	}
	return filepath.Join(r.ContainersRunDir(), id)
}

// LockPath is the file locked by commands that change the root.
func (r Root) LockPath() string { return filepath.Join(r.RunDir, "lock") }

// WriteFile writes data to path atomically: temp file, fsync, rename, and an
// fsync of the directory so the rename itself is durable.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return writeFile(path, data, perm, true)
}

// WriteFileNoSync is WriteFile without the fsyncs: still atomic against a
// crashed process (rename is atomic), not durable against a power loss. Used
// for runtime state on the container start path, where a lost write after a
// power cut is repaired by the next command anyway.
func WriteFileNoSync(path string, data []byte, perm os.FileMode) error {
	return writeFile(path, data, perm, false)
}

func writeFile(path string, data []byte, perm os.FileMode, durable bool) (err error) {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if durable {
		if err = f.Sync(); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if durable {
		return syncDir(dir)
	}
	return nil
}

func syncDir(dir string) error {
	if dir == "" {
		dir = "."
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Lock is a held flock on a file.
type Lock struct{ f *os.File }

// ErrLocked is returned by TryLock when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// LockFile takes an exclusive flock on path, creating it, and waits for it.
func LockFile(path string) (*Lock, error) { return lockFile(path, unix.LOCK_EX) }

// TryLock takes an exclusive flock on path without waiting; ErrLocked if held.
func TryLock(path string) (*Lock, error) { return lockFile(path, unix.LOCK_EX|unix.LOCK_NB) }

func lockFile(path string, how int) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, ErrLocked
		}
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	return &Lock{f: f}, nil
}

// File returns the locked file, so a holder can hand the lock to a child
// process by passing the descriptor.
func (l *Lock) File() *os.File { return l.f }

// Unlock releases the lock. It is safe to call on a nil Lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// IsLocked reports whether some process holds a lock on path. A missing file
// is not locked.
func IsLocked(path string) bool {
	l, err := TryLock(path)
	if err != nil {
		return errors.Is(err, ErrLocked)
	}
	l.Unlock()
	return false
}

// ShortID returns the first 12 characters of an ID, as docker prints it.
func ShortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
