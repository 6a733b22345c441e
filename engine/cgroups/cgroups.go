package cgroups

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"stack/engine/errdefs"
)

// Mode is the cgroup layout of the host.
type Mode int

const (
	// Unified is pure cgroup v2: /sys/fs/cgroup is a cgroup2 mount.
	Unified Mode = iota + 1
	// Legacy is pure cgroup v1: one mount per controller, no cgroup2 mount.
	Legacy
	// Hybrid is cgroup v1 controllers plus a cgroup2 mount (usually
	// /sys/fs/cgroup/unified). Managed as Legacy for every limit; see the
	// package doc for the trap.
	Hybrid
)

func (m Mode) String() string {
	switch m {
	case Unified:
		return "unified"
	case Legacy:
		return "legacy"
	case Hybrid:
		return "hybrid"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Resources are the limits of one cgroup. The zero value means "no limit":
// Set with a zero field resets that limit to the kernel's default, so Set is
// declarative (it makes the cgroup match r, it does not merge).
type Resources struct {
	// MemoryLimit in bytes; 0 or -1 = unlimited.
	MemoryLimit int64
	// MemorySwap is memory+swap in bytes, as docker's --memory-swap:
	// -1 = unlimited swap; 0 = same as MemoryLimit, i.e. no swap; otherwise
	// it must be >= MemoryLimit. Ignored without MemoryLimit (0 and -1 only).
	// Best effort: skipped when the kernel has no swap accounting
	// (no memory.memsw.* on v1, no memory.swap.max on v2).
	MemorySwap int64
	// MemoryReservation in bytes (v1 memory.soft_limit_in_bytes,
	// v2 memory.low); 0 = none.
	MemoryReservation int64
	// CPUQuota in microseconds per CPUPeriod; 0 or negative = unlimited.
	CPUQuota int64
	// CPUPeriod in microseconds; 0 = 100000.
	CPUPeriod uint64
	// CPUShares as docker's cpu_shares (v1 cpu.shares; on v2 converted to
	// cpu.weight with SharesToWeight); 0 = kernel default.
	CPUShares uint64
	// CpusetCpus and CpusetMems as the kernel's list format ("0-2,4");
	// "" = all of the parent's.
	CpusetCpus, CpusetMems string
	// PidsLimit is the maximum number of tasks; 0 or negative = unlimited.
	PidsLimit int64
}

// Stats is a snapshot of a cgroup's usage. A counter whose controller is not
// available reads as zero.
type Stats struct {
	MemoryUsage uint64 // bytes charged, page cache included (v1 memory.usage_in_bytes, v2 memory.current)
	// MemoryInactiveFile is reclaimable page cache; docker stats shows
	// MemoryUsage - MemoryInactiveFile.
	MemoryInactiveFile uint64
	MemoryLimit        uint64 // bytes; 0 = unlimited
	CPUUsage           uint64 // total CPU time in nanoseconds
	PidsCurrent        uint64
	PidsLimit          uint64 // 0 = unlimited
}

// Manager is one cgroup, named by a path relative to every hierarchy's root,
// in whichever hierarchies the host layout needs.
//
// Methods are safe to call from several goroutines (a Manager holds no
// mutable state; everything lives in the cgroup filesystem), but Freeze,
// Thaw and Kill act on the same freezer, so callers serialise those per
// cgroup. Errors from file operations are *Error and keep the errno:
// errors.Is(err, fs.ErrNotExist) holds when the cgroup does not exist.
type Manager interface {
	// Path is the relative cgroup path given to New, e.g. "stack/<id>".
	Path() string
	// Create makes the cgroup in every needed hierarchy, creating missing
	// parents, and applies r as Set does. On v2 it enables the controllers
	// in the parents' cgroup.subtree_control; on v1 it copies cpuset.cpus and
	// cpuset.mems down from the root. Idempotent: creating an existing
	// cgroup only applies r.
	Create(r Resources) error
	// Set makes the cgroup's limits match r. The cgroup must exist.
	Set(r Resources) error
	// Add moves the process (all its threads) into the cgroup in every
	// hierarchy. On v1 a failure can leave it in some hierarchies only: kill
	// the process.
	Add(pid int) error
	// FD opens the v2 leaf directory (O_PATH|O_DIRECTORY|O_CLOEXEC) for
	// clone3's CLONE_INTO_CGROUP (syscall.SysProcAttr{UseCgroupFD: true,
	// CgroupFD: fd}), which places the child before it runs a single
	// instruction. Each call opens a new fd that the caller owns and closes
	// (after exec.Cmd.Start). It reports false on v1 and hybrid hosts and
	// when the leaf cannot be opened (not created yet); callers then fall
	// back to Add.
	FD() (int, bool)
	// Procs lists the pids (thread group ids) in the cgroup and its
	// descendants, sorted.
	Procs() ([]int, error)
	// Freeze stops every process and returns once the kernel reports the
	// cgroup frozen. Freezing an empty cgroup is fine.
	Freeze() error
	// Thaw resumes a frozen cgroup and returns once it is thawed.
	Thaw() error
	// Paused reports whether the kernel reports the cgroup frozen.
	Paused() (bool, error)
	// Kill sends sig to every process in the cgroup, such that a process
	// forking concurrently cannot escape: v2 with SIGKILL writes
	// cgroup.kill; otherwise the cgroup is frozen, every pid signalled, and
	// thawed again. A cgroup paused before the call stays paused unless sig
	// is SIGKILL (a frozen process would never die). Kill does not wait for
	// the processes to exit.
	Kill(sig syscall.Signal) error
	// OOMKilled reports whether the kernel's OOM killer has killed a process
	// of this cgroup because of its memory limit (v1 memory.oom_control
	// oom_kill, kernel >= 4.13; v2 memory.events oom_kill). Check it after
	// the container exited and before Destroy.
	OOMKilled() (bool, error)
	// Stats reads the current usage.
	Stats() (Stats, error)
	// Destroy removes the cgroup and its descendants (deepest first) from
	// every hierarchy. The processes must be gone or exiting: rmdir is
	// retried briefly while the kernel still counts exiting tasks. A cgroup
	// that does not exist is not an error. Parents such as "stack" are left
	// in place: they are shared, and removing one would race with a
	// concurrent Create of a sibling. Destroy a Manager for the parent path
	// to remove it (and everything under it).
	Destroy() error
	// DevicesDenyAllExcept makes the v1 devices controller deny every device
	// but the ones rules allow (see DefaultDeviceRules). It must be called
	// while the cgroup has no child cgroups (the kernel refuses "deny all"
	// otherwise). On v2 it does nothing and returns nil: device filtering
	// there needs an eBPF program (BPF_CGROUP_DEVICE) that this package does
	// not load, so callers mount the container's rootfs and volumes nodev and
	// create only the default nodes in its /dev.
	DevicesDenyAllExcept(rules []DeviceRule) error
}

// Error is a failed operation on a cgroup file or directory.
type Error struct {
	Cgroup string // the Manager's Path
	Op     string // "read", "write", "mkdir", "rmdir", "open"
	// File is relative to the cgroup directory ("memory.max"), or to the
	// hierarchy root when it starts with "/" ("/stack/cgroup.subtree_control").
	// On v1, files not named after their controller carry the hierarchy:
	// "freezer:cgroup.procs".
	File  string
	Value string // what was written, for Op "write"
	Err   error  // usually a syscall.Errno
}

func (e *Error) Error() string {
	s := "cgroup " + e.Cgroup + ": " + e.Op
	if e.File != "" {
		s += " " + e.File
	}
	if e.Op == "write" {
		s += " " + strconv.Quote(e.Value)
	}
	return s + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Wildcard stands for any major or minor number in a DeviceRule.
const Wildcard int64 = -1

// DeviceRule allows access to a class of devices (cgroup v1 devices.allow).
type DeviceRule struct {
	Type   byte   // 'c' (char), 'b' (block) or 'a' (all)
	Major  int64  // Wildcard for any
	Minor  int64  // Wildcard for any
	Access string // a non-empty subset of "rwm" (read, write, mknod)
}

// String is the rule as the kernel reads it: "c 1:3 rwm", "c 136:* rwm".
func (d DeviceRule) String() string {
	num := func(n int64) string {
		if n == Wildcard {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return string(d.Type) + " " + num(d.Major) + ":" + num(d.Minor) + " " + d.Access
}

func (d DeviceRule) validate() error {
	if d.Type != 'a' && d.Type != 'b' && d.Type != 'c' {
		return fmt.Errorf("device rule %q: %w: type must be a, b or c", d.String(), errdefs.ErrInvalid)
	}
	if d.Access == "" || strings.Trim(d.Access, "rwm") != "" {
		return fmt.Errorf("device rule %q: %w: access must be a subset of rwm", d.String(), errdefs.ErrInvalid)
	}
	if d.Major < Wildcard || d.Minor < Wildcard {
		return fmt.Errorf("device rule %q: %w: negative device number", d.String(), errdefs.ErrInvalid)
	}
	return nil
}

// DefaultDeviceRules are the devices a docker container may use: moby's
// default spec (oci/defaults.go: null, zero, random, urandom, tty, console)
// plus the rules runc appends to every container
// (libcontainer/specconv AllowedDevices: mknod of any device, full, ptmx,
// the pts range and tun). Moby's explicit deny of /dev/fuse (10:229) is
// implied by the default deny.
func DefaultDeviceRules() []DeviceRule {
	return []DeviceRule{
		{Type: 'c', Major: Wildcard, Minor: Wildcard, Access: "m"}, // mknod any char device
		{Type: 'b', Major: Wildcard, Minor: Wildcard, Access: "m"}, // mknod any block device
		{Type: 'c', Major: 1, Minor: 3, Access: "rwm"},             // /dev/null
		{Type: 'c', Major: 1, Minor: 5, Access: "rwm"},             // /dev/zero
		{Type: 'c', Major: 1, Minor: 7, Access: "rwm"},             // /dev/full
		{Type: 'c', Major: 1, Minor: 8, Access: "rwm"},             // /dev/random
		{Type: 'c', Major: 1, Minor: 9, Access: "rwm"},             // /dev/urandom
		{Type: 'c', Major: 5, Minor: 0, Access: "rwm"},             // /dev/tty
		{Type: 'c', Major: 5, Minor: 1, Access: "rwm"},             // /dev/console
		{Type: 'c', Major: 5, Minor: 2, Access: "rwm"},             // /dev/ptmx
		{Type: 'c', Major: 136, Minor: Wildcard, Access: "rwm"},    // /dev/pts/*
		{Type: 'c', Major: 10, Minor: 200, Access: "rwm"},          // /dev/net/tun
	}
}

// SharesToWeight converts docker's cpu shares (v1 cpu.shares, 2..262144) to
// a v2 cpu.weight (1..10000) with runc's formula
// (libcontainer/cgroups/utils.go ConvertCPUSharesToCgroupV2Value), so the
// same compose file gives the same weight under runc and under stack. 0
// stays 0 (unset). Note that it maps docker's default 1024 to 39, not to the
// kernel's default 100; runc does the same.
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

// layout is what detection found: the mode, the v1 mount point of every
// controller (key "name=systemd" for the named hierarchy) and the cgroup2
// mount point.
type layout struct {
	mode    Mode
	v1      map[string]string
	unified string
}

var hostLayout = sync.OnceValues(detectLayout)

// New returns the Manager for path on this host. path is relative to the
// root of every hierarchy, e.g. "stack/<id>". New creates nothing.
func New(path string) (Manager, error) {
	l, err := hostLayout()
	if err != nil {
		return nil, err
	}
	return NewAt(l.mode, l.v1, l.unified, path)
}

// NewAt returns a Manager for an explicit layout, so tests can run it
// against a fake tree in a temporary directory. mounts maps each v1
// controller ("memory", "cpu", "name=systemd", ...) to its mount point; co-
// mounted controllers map to the same directory. unifiedRoot is the cgroup2
// mount point (for Hybrid it may be empty: membership in the unified tree is
// then skipped).
func NewAt(mode Mode, mounts map[string]string, unifiedRoot string, path string) (Manager, error) {
	if err := validPath(path); err != nil {
		return nil, err
	}
	switch mode {
	case Unified:
		if unifiedRoot == "" {
			return nil, fmt.Errorf("cgroup %s: %w: unified mode without a cgroup2 root", path, errdefs.ErrInvalid)
		}
		return &v2Manager{path: path, root: unifiedRoot}, nil
	case Legacy, Hybrid:
		if len(mounts) == 0 {
			return nil, fmt.Errorf("cgroup %s: %w: %s mode without v1 mounts", path, errdefs.ErrInvalid, mode)
		}
		if mode == Legacy {
			unifiedRoot = ""
		}
		return newV1(path, mounts, unifiedRoot), nil
	}
	return nil, fmt.Errorf("cgroup %s: %w: unknown mode %s", path, errdefs.ErrInvalid, mode)
}

func validPath(p string) error {
	bad := p == "" || p == "." || path.IsAbs(p) || path.Clean(p) != p ||
		p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..")
	if bad {
		return fmt.Errorf("cgroup path %q: %w: want a clean relative path such as \"stack/<id>\"", p, errdefs.ErrInvalid)
	}
	return nil
}

// limits is Resources resolved into what both versions write.
type limits struct {
	mem     int64 // -1 = unlimited
	memsw   int64 // -1 = unlimited
	reserve int64 // 0 = none
	quota   int64 // -1 = unlimited
	period  uint64
	shares  uint64 // 0 = default
	pids    int64  // -1 = unlimited
	cpus    string
	mems    string
}

func resolve(cg string, r Resources) (limits, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("cgroup %s: %w: %s", cg, errdefs.ErrInvalid, fmt.Sprintf(format, args...))
	}
	l := limits{mem: -1, memsw: -1, quota: -1, pids: -1, shares: r.CPUShares, cpus: r.CpusetCpus, mems: r.CpusetMems}
	switch {
	case r.MemoryLimit < -1:
		return l, invalid("MemoryLimit %d is negative", r.MemoryLimit)
	case r.MemorySwap < -1:
		return l, invalid("MemorySwap %d is negative", r.MemorySwap)
	case r.MemoryReservation < 0:
		return l, invalid("MemoryReservation %d is negative", r.MemoryReservation)
	case r.MemoryLimit > 0:
		l.mem = r.MemoryLimit
		switch {
		case r.MemorySwap == 0:
			l.memsw = r.MemoryLimit
		case r.MemorySwap > 0 && r.MemorySwap < r.MemoryLimit:
			return l, invalid("MemorySwap %d is less than MemoryLimit %d", r.MemorySwap, r.MemoryLimit)
		default:
			l.memsw = r.MemorySwap // -1 or >= mem
		}
	case r.MemorySwap > 0:
		return l, invalid("MemorySwap %d needs a MemoryLimit", r.MemorySwap)
	}
	l.reserve = r.MemoryReservation
	if r.CPUQuota > 0 {
		l.quota = r.CPUQuota
	}
	l.period = r.CPUPeriod
	if l.period == 0 {
		l.period = 100000
	}
	if r.PidsLimit > 0 {
		l.pids = r.PidsLimit
	}
	return l, nil
}

// needsCpuset reports whether r asks for a cpuset (on v2 the controller is
// enabled only then: enabling it is not free, and it is absent on some hosts).
func (l limits) needsCpuset() bool { return l.cpus != "" || l.mems != "" }

// ErrUnsupported is wrapped by errors for operations the host's cgroup layout
// cannot do (for example freezing without a freezer hierarchy).
var ErrUnsupported = errors.ErrUnsupported
