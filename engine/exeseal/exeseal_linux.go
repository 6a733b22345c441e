// Package exeseal gives the shim an unmodifiable handle on the stack binary
// to start container inits from.
//
// The init runs inside the container as PID 1, so /proc/1/exe there is our
// binary. If that were the host's file, a root process in the container
// could open it for writing through /proc/1/exe and replace the host's
// stack binary (CVE-2019-5736, the runc breakout). The binary is therefore
// exec'd from a private, read-only overlay mount of its own directory that
// is never attached to any mount namespace: writes through it fail with
// EROFS, and nothing in the container can reach the real file. This costs a
// mount, not a copy (runc's current approach; copying a large Go binary to a
// sealed memfd adds milliseconds to every start, runc PR #4448). A sealed
// memfd is the fallback when the new mount API is unavailable.
package exeseal

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// MinFD keeps the returned descriptor clear of the low numbers a child's
// stdio and inherited files are dup2'd onto between fork and exec, so that
// exec'ing /proc/self/fd/N still finds the binary.
const MinFD = 100

// Open returns a read-only descriptor of the running binary, sealed as the
// package doc describes. emptyDir must be an empty directory: overlayfs
// without an upper layer needs two lower layers. The caller execs
// Path(f) and closes f.
func Open(emptyDir string) (*os.File, error) {
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	return OpenFile(self, emptyDir)
}

// OpenFile is Open for the binary at path (another than the running one).
func OpenFile(path, emptyDir string) (*os.File, error) {
	self := path
	f, err := openOverlay(self, emptyDir)
	if err != nil {
		f, err = openMemfd(self)
		if err != nil {
			return nil, err
		}
	}
	return highFD(f)
}

// Path is the name to exec the sealed binary by.
func Path(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

func openOverlay(self, emptyDir string) (*os.File, error) {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fsfd)
	for _, dir := range []string{filepath.Dir(self), emptyDir} {
		if err := unix.FsconfigSetString(fsfd, "lowerdir+", dir); err != nil {
			return nil, fmt.Errorf("fsconfig lowerdir+ %s: %w", dir, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, err
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return nil, err
	}
	defer unix.Close(mfd)
	fd, err := unix.Openat(mfd, filepath.Base(self), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "stack (sealed)"), nil
}

func openMemfd(self string) (*os.File, error) {
	src, err := os.Open(self)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("stack", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "stack (memfd)")
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, err
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, os.NewSyscallError("fcntl F_ADD_SEALS", err)
	}
	return f, nil
}

func highFD(f *os.File) (*os.File, error) {
	defer f.Close()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, MinFD)
	if err != nil {
		return nil, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}
