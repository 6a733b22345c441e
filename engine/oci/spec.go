package oci

import (
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"stack/engine/errdefs"
)

// SpecOpt edits a spec in place. It may be applied to any non-nil spec,
// including an empty one, and returns an error matching errdefs.ErrInvalid
// when its input is malformed. On error the spec may be partly edited and
// should be discarded.
type SpecOpt func(*specs.Spec) error

// Annotation keys stack sets on a spec and the runtime trusts. They cannot be
// set through [WithAnnotations] or [WithLabels], so a user label can never
// grant privileges.
const (
	// AnnotationPrivileged is "true" on a spec built with [WithPrivileged].
	// The runtime then binds the host's devices into the container's /dev,
	// as Docker does for --privileged.
	AnnotationPrivileged = "stack.privileged"
	// AnnotationGroupAdd holds compose group_add, comma-joined, as given
	// (names or numeric gids). See [WithAdditionalGroups].
	AnnotationGroupAdd = "stack.group_add"
)

// DefaultPath is the PATH Docker gives a container whose image sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultShmSize is the size of /dev/shm in bytes, 64 MiB, Docker's
// DefaultShmSize.
const DefaultShmSize int64 = 64 << 20

// Default RLIMIT_NOFILE: soft 1024, hard 524288.
//
// Docker (since 25) and containerd (since 2.0) no longer raise the limit to
// infinity in their systemd units, so containers inherit systemd's default
// of 1024:524288; older Docker gave 1048576:1048576. We write the limit into
// the spec because stack has no daemon: without it a container would inherit
// the limit of whatever shell ran `stack up` and behave differently from one
// run to the next. Soft 1024 keeps select(2) users safe (FD_SETSIZE) and
// avoids the slow start-ups of programs that loop over every possible fd up
// to a huge soft limit. Programs that need more raise their soft limit to
// the hard one themselves (Go does so automatically since Go 1.19).
const (
	DefaultNofileSoft uint64 = 1024
	DefaultNofileHard uint64 = 524288
)

// Compose returns one option that applies opts in order and stops at the
// first error. Nil options are skipped.
func Compose(opts ...SpecOpt) SpecOpt {
	return func(s *specs.Spec) error {
		for _, o := range opts {
			if o == nil {
				continue
			}
			if err := o(s); err != nil {
				return err
			}
		}
		return nil
	}
}

// New returns [Default] with opts applied in order. On error it returns nil
// and the first option's error.
func New(opts ...SpecOpt) (*specs.Spec, error) {
	s := Default()
	if err := Compose(opts...)(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Default returns a new spec holding Docker's default container environment
// (moby daemon/pkg/oci/defaults.go and caps/defaults.go, plus the defaults
// the daemon adds for a container with its own network namespace):
//
//   - Process: Cwd "/", Env [PATH=DefaultPath], user 0:0 (Username ""), the
//     14 default capabilities in Bounding, Permitted and Effective (Inheritable
//     and Ambient empty), NoNewPrivileges false, RLIMIT_NOFILE
//     DefaultNofileSoft:DefaultNofileHard, no terminal, no args.
//   - Root "rootfs", read-write; Hostname "".
//   - Mounts, in Docker's order: /proc, /dev, /dev/pts, /sys (ro),
//     /sys/fs/cgroup (ro), /dev/mqueue, /dev/shm (64 MiB).
//   - Linux: new pid, network, ipc, uts, mount and cgroup namespaces; Docker's
//     masked and read-only paths; no extra devices (the runtime creates the
//     OCI default devices /dev/null, zero, full, random, urandom, tty and the
//     /dev/ptmx link); a device cgroup that denies everything except those
//     devices, ptys, /dev/console, /dev/net/tun and mknod; sysctls
//     net.ipv4.ip_unprivileged_port_start=0 and
//     net.ipv4.ping_group_range="0 2147483647".
//
// Docker also masks /sys/devices/system/cpu/cpuN/thermal_throttle for each
// one present on the host. Default cannot look, so the runtime may add them.
// Each call returns a fresh spec that shares nothing with another.
func Default() *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Cwd: "/",
			Env: []string{"PATH=" + DefaultPath},
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  slices.Clone(defaultCaps),
				Permitted: slices.Clone(defaultCaps),
				Effective: slices.Clone(defaultCaps),
			},
			Rlimits: []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Soft: DefaultNofileSoft, Hard: DefaultNofileHard},
			},
		},
		Root:   &specs.Root{Path: "rootfs"},
		Mounts: defaultMounts(),
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
				{Type: specs.CgroupNamespace},
			},
			MaskedPaths: []string{
				"/proc/asound",
				"/proc/acpi",
				"/proc/interrupts",
				"/proc/kcore",
				"/proc/keys",
				"/proc/latency_stats",
				"/proc/timer_list",
				"/proc/timer_stats",
				"/proc/sched_debug",
				"/proc/scsi",
				"/sys/firmware",
				"/sys/devices/virtual/powercap",
			},
			ReadonlyPaths: []string{
				"/proc/bus",
				"/proc/fs",
				"/proc/irq",
				"/proc/sys",
				"/proc/sysrq-trigger",
			},
			Sysctl: defaultSysctls(),
			Resources: &specs.LinuxResources{
				Devices: defaultDeviceRules(),
			},
		},
	}
}

func defaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", fmt.Sprintf("size=%d", DefaultShmSize)}},
	}
}

// The sysctls Docker sets for a container with its own network namespace
// (moby daemon/oci_linux.go): any uid may bind ports below 1024 (nginx as
// non-root on :80) and send ICMP echo without NET_RAW.
func defaultSysctls() map[string]string {
	return map[string]string{
		"net.ipv4.ip_unprivileged_port_start": "0",
		"net.ipv4.ping_group_range":           "0 2147483647",
	}
}

// defaultDeviceRules is Docker's device cgroup (deny everything) followed by
// the devices runc allows by default (libcontainer/specconv AllowedDevices),
// so the rules are complete as written and a runtime applies them in order
// without a hidden list of its own.
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	i := func(v int64) *int64 { return &v }
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Access: "m"},                                // mknod of any char device
		{Allow: true, Type: "b", Access: "m"},                                // mknod of any block device
		{Allow: true, Type: "c", Major: i(1), Minor: i(3), Access: "rwm"},    // /dev/null
		{Allow: true, Type: "c", Major: i(1), Minor: i(5), Access: "rwm"},    // /dev/zero
		{Allow: true, Type: "c", Major: i(1), Minor: i(7), Access: "rwm"},    // /dev/full
		{Allow: true, Type: "c", Major: i(1), Minor: i(8), Access: "rwm"},    // /dev/random
		{Allow: true, Type: "c", Major: i(1), Minor: i(9), Access: "rwm"},    // /dev/urandom
		{Allow: true, Type: "c", Major: i(5), Minor: i(0), Access: "rwm"},    // /dev/tty
		{Allow: true, Type: "c", Major: i(5), Minor: i(1), Access: "rwm"},    // /dev/console
		{Allow: true, Type: "c", Major: i(5), Minor: i(2), Access: "rwm"},    // /dev/ptmx
		{Allow: true, Type: "c", Major: i(136), Access: "rwm"},               // /dev/pts/*
		{Allow: true, Type: "c", Major: i(10), Minor: i(200), Access: "rwm"}, // /dev/net/tun
	}
}

// invalidError is an error that reads as its message and matches
// errdefs.ErrInvalid, so messages stay exactly as written here.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return errdefs.ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

func ensureProcess(s *specs.Spec) *specs.Process {
	if s.Process == nil {
		s.Process = &specs.Process{}
	}
	return s.Process
}

func ensureCaps(s *specs.Spec) *specs.LinuxCapabilities {
	p := ensureProcess(s)
	if p.Capabilities == nil {
		p.Capabilities = &specs.LinuxCapabilities{}
	}
	return p.Capabilities
}

func ensureLinux(s *specs.Spec) *specs.Linux {
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	return s.Linux
}

func ensureResources(s *specs.Spec) *specs.LinuxResources {
	l := ensureLinux(s)
	if l.Resources == nil {
		l.Resources = &specs.LinuxResources{}
	}
	return l.Resources
}

func ensureRoot(s *specs.Spec) *specs.Root {
	if s.Root == nil {
		s.Root = &specs.Root{Path: "rootfs"}
	}
	return s.Root
}

func setAnnotation(s *specs.Spec, k, v string) {
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[k] = v
}
