// Package initproc starts a container's processes, from its shim: the
// main process, under stack-init as PID 1, and the processes exec'd into
// the running container.
//
// stack-init (cmd/stack-init) is written in Go but never starts the Go
// runtime, which would cost a quarter of a container start; it only
// executes a program of system calls (package prog). Everything that
// needs deciding is decided here, in ordinary Go, in the shim:
//
//   - Prepare builds the container's root filesystem in the mount
//     namespace of a stack-init that is started and waiting for its
//     program (mounts, /dev, hostname, sysctls, loopback), resolves the
//     main process (user and groups from the image's files, the
//     executable from its PATH, the working directory), and returns the
//     program: what must be done from inside the new PID and cgroup
//     namespaces (/proc, the cgroup mounts, masked /proc paths),
//     pivot_root, and the process's identity down to its execve.
//   - Exec resolves an exec'd process the same way against the running
//     container's root, and returns the program a stack-init run in exec
//     mode follows to join the container's namespaces and become that
//     process.
//
// Prepare enters the init's namespaces on the calling thread (setns
// needs a thread with a filesystem context of its own): the caller runs
// it on a goroutine locked to a thread it then lets die (see Prepare).
package initproc

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Config is everything Prepare needs to build the container.
type Config struct {
	ID   string
	Spec *specs.Spec
	// Rootfs is the directory the overlay is mounted on (inside the
	// init's mount namespace only, so nothing leaks to the host).
	Rootfs string
	Lower  []string // bottom layer first
	Upper  string
	Work   string
	// CgroupV1 lists the v1 hierarchies to mount under /sys/fs/cgroup;
	// empty on a pure cgroup v2 host, where cgroup2 is mounted instead.
	CgroupV1 []CgroupMount
}

// CgroupMount is one v1 hierarchy: its directory name under /sys/fs/cgroup
// and its mount options ("memory", "cpu,cpuacct", "name=systemd").
type CgroupMount struct {
	Dir     string
	Options string
}
