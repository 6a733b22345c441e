package cgroups

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// v2Manager manages a cgroup in a pure cgroup v2 (unified) hierarchy.
type v2Manager struct {
	path string // relative, e.g. "stack/abc"
	root string // cgroup2 mount point
}

var _ Manager = (*v2Manager)(nil)

func (m *v2Manager) Path() string { return m.path }

func (m *v2Manager) leaf() dir { return dir{cg: m.path, abs: filepath.Join(m.root, m.path)} }

// controllers are the ones a container's cgroup gets. memory, pids and cpu
// always, so Stats and OOMKilled work and a later Set can add limits; cpuset
// only when asked for, since it is not free and some hosts do not delegate it.
func (l limits) controllers() []string {
	c := []string{"memory", "pids", "cpu"}
	if l.needsCpuset() {
		c = append(c, "cpuset")
	}
	return c
}

// enable turns ctrls on in parent's cgroup.subtree_control so that its
// children get their interface files. Controllers already on are left alone;
// controllers the parent does not have (cgroup.controllers) are skipped, and
// Set reports them only if a limit needs their files. The no-internal-
// processes rule makes this fail with EBUSY if parent holds processes: that
// is why nothing is ever added to a parent such as "stack".
func enable(parent dir, ctrls []string) error {
	avail, err := parent.read("cgroup.controllers")
	if err != nil {
		return err
	}
	on, err := parent.read("cgroup.subtree_control")
	if err != nil {
		return err
	}
	availF, onF := strings.Fields(avail), strings.Fields(on)
	for i, c := range onF {
		onF[i] = strings.TrimPrefix(c, "+") // the kernel prints bare names; a fake tree keeps what was written
	}
	var add []string
	for _, c := range ctrls {
		if slices.Contains(availF, c) && !slices.Contains(onF, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	return parent.write("cgroup.subtree_control", strings.Join(add, " "))
}

func (m *v2Manager) Create(r Resources) error {
	l, err := resolve(m.path, r)
	if err != nil {
		return err
	}
	if err := m.ensure(l); err != nil {
		return err
	}
	return m.set(l)
}

// ensure creates the missing levels and enables l's controllers in every
// ancestor of the leaf (never in the leaf: it holds the processes).
func (m *v2Manager) ensure(l limits) error {
	ctrls := l.controllers()
	_, err := mkdirAll(m.path, nil, m.root, m.path, func(parent, _ dir) error {
		return enable(parent, ctrls)
	})
	return err
}

func (m *v2Manager) Set(r Resources) error {
	l, err := resolve(m.path, r)
	if err != nil {
		return err
	}
	if err := m.leaf().exists(); err != nil {
		return err
	}
	if err := m.ensure(l); err != nil { // cpuset may be new
		return err
	}
	return m.set(l)
}

func maxOr(n int64) string {
	if n < 0 {
		return "max"
	}
	return strconv.FormatInt(n, 10)
}

func (m *v2Manager) set(l limits) error {
	d := m.leaf()
	if err := d.writeUnlessMissing("memory.max", maxOr(l.mem), "max"); err != nil {
		return err
	}
	// memory.swap.max is swap alone, not memory+swap as docker's flag. It
	// is missing without swap accounting; swap limits are best effort.
	if d.has("memory.swap.max") {
		swap := "max"
		if l.mem >= 0 && l.memsw >= 0 {
			swap = strconv.FormatInt(l.memsw-l.mem, 10)
		}
		if err := d.write("memory.swap.max", swap); err != nil {
			return err
		}
	}
	if err := d.writeUnlessMissing("memory.low", strconv.FormatInt(l.reserve, 10), "0"); err != nil {
		return err
	}
	cpuMax := maxOr(l.quota) + " " + strconv.FormatUint(l.period, 10)
	if err := d.writeUnlessMissing("cpu.max", cpuMax, "max 100000"); err != nil {
		return err
	}
	weight := "100" // the kernel's default
	if l.shares != 0 {
		weight = strconv.FormatUint(SharesToWeight(l.shares), 10)
	}
	if err := d.writeUnlessMissing("cpu.weight", weight, "100"); err != nil {
		return err
	}
	for _, f := range []struct{ name, want string }{{"cpuset.cpus", l.cpus}, {"cpuset.mems", l.mems}} {
		if f.want != "" {
			if err := d.write(f.name, f.want); err != nil {
				return err
			}
			continue
		}
		// Unset: empty means "the parent's". Reset only a value set earlier.
		if !d.has(f.name) {
			continue
		}
		if cur, err := d.read(f.name); err != nil {
			return err
		} else if cur != "" {
			if err := d.write(f.name, "\n"); err != nil {
				return err
			}
		}
	}
	return d.writeUnlessMissing("pids.max", maxOr(l.pids), "max")
}

func (m *v2Manager) Add(pid int) error {
	return m.leaf().write("cgroup.procs", strconv.Itoa(pid))
}

func (m *v2Manager) FD() (int, bool) {
	fd, err := unix.Open(m.leaf().abs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, false
	}
	return fd, true
}

func (m *v2Manager) Procs() ([]int, error) { return procs(m.leaf()) }

func (m *v2Manager) Freeze() error { return m.freeze(1) }
func (m *v2Manager) Thaw() error   { return m.freeze(0) }

// freeze writes cgroup.freeze and waits for cgroup.events to report the
// state: the write only asks, tasks stop at their next return to user space.
func (m *v2Manager) freeze(v uint64) error {
	d := m.leaf()
	if err := d.exists(); err != nil {
		return err
	}
	if !d.has("cgroup.freeze") {
		return fmt.Errorf("cgroup %s: freeze: no cgroup.freeze (kernel < 5.2): %w", m.path, ErrUnsupported)
	}
	if err := d.write("cgroup.freeze", strconv.FormatUint(v, 10)); err != nil {
		return err
	}
	err := poll(settleTimeout, func() (bool, error) {
		got, _, err := d.readKey("cgroup.events", "frozen")
		return err == nil && got == v, err
	})
	if err != nil {
		return d.fail("wait for frozen "+strconv.FormatUint(v, 10)+" in", "cgroup.events", "", err)
	}
	return nil
}

func (m *v2Manager) Paused() (bool, error) {
	frozen, _, err := m.leaf().readKey("cgroup.events", "frozen")
	return frozen == 1, err
}

func (m *v2Manager) Kill(sig syscall.Signal) error {
	d := m.leaf()
	if err := d.exists(); err != nil {
		return err
	}
	// cgroup.kill (Linux 5.14) kills the whole subtree atomically, forks in
	// flight included.
	if sig == unix.SIGKILL && d.has("cgroup.kill") {
		if err := d.write("cgroup.kill", "1"); err != nil {
			return err
		}
		// Frozen tasks die of SIGKILL on v2, but the cgroup would read as
		// paused again once they are gone; thaw it as the v1 path does.
		// Look at the request (cgroup.freeze), not at cgroup.events: a
		// dying task leaves the frozen state, so "frozen" flips to 0 and
		// back to 1 when the cgroup is empty.
		if req, err := d.read("cgroup.freeze"); err != nil || req != "1" {
			return err
		}
		return m.Thaw()
	}
	if !d.has("cgroup.freeze") {
		pids, err := m.Procs()
		if err != nil {
			return err
		}
		return signalAll(d, pids, sig)
	}
	return killFrozen(m, d, sig)
}

func (m *v2Manager) OOMKilled() (bool, error) {
	d := m.leaf()
	if err := d.exists(); err != nil {
		return false, err
	}
	if !d.has("memory.events") {
		return false, nil // no memory controller: no memory limit to hit
	}
	n, _, err := d.readKey("memory.events", "oom_kill")
	return n > 0, err
}

func (m *v2Manager) Stats() (Stats, error) {
	d := m.leaf()
	if err := d.exists(); err != nil {
		return Stats{}, err
	}
	var s Stats
	var err error
	read := func(file string, into *uint64) {
		if err == nil && d.has(file) {
			*into, err = d.readUint(file)
		}
	}
	readKey := func(file, key string, into *uint64) {
		if err == nil && d.has(file) {
			*into, _, err = d.readKey(file, key)
		}
	}
	read("memory.current", &s.MemoryUsage)
	read("memory.max", &s.MemoryLimit)
	readKey("memory.stat", "inactive_file", &s.MemoryInactiveFile)
	readKey("cpu.stat", "usage_usec", &s.CPUUsage)
	s.CPUUsage *= 1000
	read("pids.current", &s.PidsCurrent)
	read("pids.max", &s.PidsLimit)
	return s, err
}

func (m *v2Manager) Destroy() error { return removeTree(m.leaf()) }

func (m *v2Manager) DevicesDenyAllExcept(rules []DeviceRule) error {
	for _, r := range rules {
		if err := r.validate(); err != nil {
			return fmt.Errorf("cgroup %s: %w", m.path, err)
		}
	}
	// Device filtering on v2 is a BPF_PROG_TYPE_CGROUP_DEVICE program
	// attached to the cgroup; this package does not load one. See the
	// Manager doc.
	return nil
}
