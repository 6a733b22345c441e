package cgroups

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// v1Manager manages a cgroup in cgroup v1 hierarchies (Legacy), plus
// membership in the unified hierarchy on Hybrid hosts.
type v1Manager struct {
	path  string
	hiers []*hier          // every hierarchy the cgroup lives in; unified (hybrid) last
	by    map[string]*hier // controller (or "name=systemd") -> its hierarchy
}

var _ Manager = (*v1Manager)(nil)

// joined are the v1 hierarchies a container's cgroup is created in. The
// others (net_cls, net_prio, perf_event, hugetlb, rdma, misc) are left
// alone: the container's processes stay in the caller's cgroup there.
// name=systemd is joined for the same reason runc joins it: tools that read
// /proc/<pid>/cgroup to find a process's unit or container look there.
var joined = []string{"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "name=systemd", "pids"}

func newV1(path string, mounts map[string]string, unified string) *v1Manager {
	byMount := map[string][]string{}
	for ctrl, mnt := range mounts {
		byMount[mnt] = append(byMount[mnt], ctrl)
	}
	m := &v1Manager{path: path, by: map[string]*hier{}}
	for mnt, ctrls := range byMount {
		if !slices.ContainsFunc(ctrls, func(c string) bool { return slices.Contains(joined, c) }) {
			continue
		}
		slices.Sort(ctrls)
		h := &hier{name: strings.Join(ctrls, ","), ctrls: ctrls, root: mnt}
		m.hiers = append(m.hiers, h)
		for _, c := range ctrls {
			m.by[c] = h
		}
	}
	slices.SortFunc(m.hiers, func(a, b *hier) int { return strings.Compare(a.name, b.name) })
	if unified != "" {
		// Membership only: on a hybrid host no limit is set here (the
		// hugetlb controller it may hold is not ours to manage).
		m.hiers = append(m.hiers, &hier{name: "unified", root: unified})
	}
	return m
}

func (m *v1Manager) Path() string { return m.path }

func (m *v1Manager) leafOf(h *hier) dir {
	return dir{cg: m.path, abs: filepath.Join(h.root, m.path), h: h}
}

// leaf returns the cgroup's directory in ctrl's hierarchy; ok is false when
// that controller is not mounted.
func (m *v1Manager) leaf(ctrl string) (d dir, ok bool) {
	h := m.by[ctrl]
	if h == nil {
		return dir{}, false
	}
	return m.leafOf(h), true
}

func (m *v1Manager) unsupported(op, ctrl string) error {
	return fmt.Errorf("cgroup %s: %s: no %s hierarchy mounted: %w", m.path, op, ctrl, ErrUnsupported)
}

// parentOf is the parent of the leaf in h, for copying cpuset values.
func (m *v1Manager) parentOf(h *hier) dir {
	rel := filepath.Dir(m.path)
	if rel == "." {
		return dir{cg: m.path, abs: h.root, show: "/", h: h}
	}
	return dir{cg: m.path, abs: filepath.Join(h.root, rel), show: "/" + rel + "/", h: h}
}

func (m *v1Manager) Create(r Resources) error {
	l, err := resolve(m.path, r)
	if err != nil {
		return err
	}
	fresh := true
	for _, h := range m.hiers {
		var visit func(parent, child dir) error
		if m.by["cpuset"] == h {
			visit = inheritCpuset
		}
		created, err := mkdirAll(m.path, h, h.root, m.path, visit)
		if err != nil {
			return err
		}
		fresh = fresh && created
	}
	return m.set(l, fresh)
}

// inheritCpuset fills an empty cpuset.cpus and cpuset.mems from the parent.
// A new v1 cpuset cgroup starts empty and the kernel refuses tasks in it
// (ENOSPC) until both are set; cgroup.clone_children would do the copy but
// is a property of the parent that we do not own.
func inheritCpuset(parent, child dir) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := child.read(f)
		if err != nil {
			return err
		}
		if cur != "" {
			continue
		}
		v, err := parent.read(f)
		if err != nil {
			return err
		}
		if err := child.write(f, v); err != nil {
			return err
		}
	}
	return nil
}

func (m *v1Manager) Set(r Resources) error {
	l, err := resolve(m.path, r)
	if err != nil {
		return err
	}
	for _, h := range m.hiers {
		if err := m.leafOf(h).exists(); err != nil {
			return err
		}
	}
	return m.set(l, false)
}

// set writes l's limits. In a fresh cgroup (every leaf made by this
// Create) the files hold the kernel's defaults, and the cpuset its
// parent's (inheritCpuset): a limit that asks for those is not written.
// That is most of a container's: a dozen kernfs writes, stats and reads
// fewer at every start.
func (m *v1Manager) set(l limits, fresh bool) error {
	if err := m.setCpuset(l, fresh); err != nil {
		return err
	}
	if err := m.setMemory(l, fresh); err != nil {
		return err
	}
	if err := m.setCPU(l, fresh); err != nil {
		return err
	}
	d, ok := m.leaf("pids")
	if !ok {
		if l.pids >= 0 {
			return m.unsupported("set pids limit", "pids")
		}
		return nil
	}
	if fresh && l.pids < 0 {
		return nil
	}
	return d.writeUnlessMissing("pids.max", maxOr(l.pids), "max")
}

func (m *v1Manager) setCpuset(l limits, fresh bool) error {
	d, ok := m.leaf("cpuset")
	if !ok {
		if l.needsCpuset() {
			return m.unsupported("set cpuset", "cpuset")
		}
		return nil
	}
	if fresh && l.cpus == "" && l.mems == "" {
		return nil
	}
	parent := m.parentOf(m.by["cpuset"])
	for _, f := range []struct{ name, want string }{{"cpuset.cpus", l.cpus}, {"cpuset.mems", l.mems}} {
		want := f.want
		if want == "" { // unset: all of the parent's, as after Create
			v, err := parent.read(f.name)
			if err != nil {
				return err
			}
			want = v
		}
		cur, err := d.read(f.name)
		if err != nil {
			return err
		}
		if cur == want {
			continue
		}
		if err := d.write(f.name, want); err != nil {
			return err
		}
	}
	return nil
}

// unlimited64 is what v1 files such as memory.limit_in_bytes read when
// unlimited: PAGE_COUNTER_MAX pages, rounded down to a page
// (9223372036854771712 with 4 KiB pages). Anything this large is "no limit".
const unlimited64 = 1 << 62

func (m *v1Manager) setMemory(l limits, fresh bool) error {
	d, ok := m.leaf("memory")
	if !ok {
		if l.mem >= 0 || l.reserve > 0 {
			return m.unsupported("set memory limit", "memory")
		}
		return nil
	}
	if fresh && l.mem < 0 && l.memsw < 0 && l.reserve <= 0 {
		return nil
	}
	mem := strconv.FormatInt(l.mem, 10) // -1 is the kernel's "unlimited"
	if !d.has("memory.memsw.limit_in_bytes") {
		// No swap accounting (CONFIG_MEMCG_SWAP off or swapaccount=0):
		// swap limits cannot be set, as with docker's "Your kernel does not
		// support swap limit capabilities" warning. Best effort.
		if err := d.write("memory.limit_in_bytes", mem); err != nil {
			return err
		}
	} else {
		// The kernel keeps memory.limit <= memsw.limit at every step and
		// rejects a write that would break it (EINVAL). Raising: memsw
		// first. Lowering (or equal): memory first. runc's
		// setMemoryAndSwap does the same.
		cur, err := d.readUint("memory.limit_in_bytes")
		if err != nil {
			return err
		}
		next := uint64(math.MaxUint64)
		if l.mem >= 0 {
			next = uint64(l.mem)
		}
		if cur >= unlimited64 {
			cur = math.MaxUint64
		}
		memsw := strconv.FormatInt(l.memsw, 10)
		first, second := [2]string{"memory.limit_in_bytes", mem}, [2]string{"memory.memsw.limit_in_bytes", memsw}
		if next > cur {
			first, second = second, first
		}
		if err := d.write(first[0], first[1]); err != nil {
			return err
		}
		if err := d.write(second[0], second[1]); err != nil {
			return err
		}
	}
	soft := int64(-1)
	if l.reserve > 0 {
		soft = l.reserve
	}
	return d.writeUnlessMissing("memory.soft_limit_in_bytes", strconv.FormatInt(soft, 10), "-1")
}

func (m *v1Manager) setCPU(l limits, fresh bool) error {
	d, ok := m.leaf("cpu")
	if !ok {
		if l.quota >= 0 || l.shares != 0 {
			return m.unsupported("set cpu limit", "cpu")
		}
		return nil
	}
	if fresh && l.quota < 0 && (l.shares == 0 || l.shares == 1024) && (l.period == 0 || l.period == 100000) {
		return nil
	}
	period := strconv.FormatUint(l.period, 10)
	quota := strconv.FormatInt(l.quota, 10) // -1 is the kernel's "unlimited"
	if err := d.writeUnlessMissing("cpu.cfs_period_us", period, "100000"); err != nil {
		// The kernel checks quota/period against the hierarchy on every
		// write, so a new period can be refused under the old quota: write
		// the quota first and retry, as runc does.
		if !errors.Is(err, unix.EINVAL) {
			return err
		}
		if err := d.write("cpu.cfs_quota_us", quota); err != nil {
			return err
		}
		if err := d.write("cpu.cfs_period_us", period); err != nil {
			return err
		}
	}
	if err := d.writeUnlessMissing("cpu.cfs_quota_us", quota, "-1"); err != nil {
		return err
	}
	shares := l.shares
	if shares == 0 {
		shares = 1024 // the kernel's default
	}
	return d.writeUnlessMissing("cpu.shares", strconv.FormatUint(shares, 10), "1024")
}

func (m *v1Manager) Add(pid int) error {
	v := strconv.Itoa(pid)
	for _, h := range m.hiers {
		if err := m.leafOf(h).write("cgroup.procs", v); err != nil {
			return err
		}
	}
	return nil
}

// FD is v2 only: CLONE_INTO_CGROUP takes one cgroup2 directory, and on a
// hybrid host the limits live in the v1 hierarchies.
func (m *v1Manager) FD() (int, bool) { return -1, false }

// Procs reads one hierarchy: a process added with Add, and every child it
// forks, is in all of them.
func (m *v1Manager) Procs() ([]int, error) {
	for _, c := range []string{"freezer", "pids", "memory", "cpu", "name=systemd"} {
		if d, ok := m.leaf(c); ok {
			return procs(d)
		}
	}
	if len(m.hiers) == 0 {
		return nil, m.unsupported("list processes", "cgroup")
	}
	return procs(m.leafOf(m.hiers[0]))
}

func (m *v1Manager) Freeze() error { return m.freeze("freeze", "FROZEN") }
func (m *v1Manager) Thaw() error   { return m.freeze("thaw", "THAWED") }

// freeze writes freezer.state and waits until it reads back the same: a
// freeze first reads FREEZING until every task has stopped. The write is
// repeated on every round because a write of FROZEN retries the tasks that
// could not be frozen yet (runc's setFreezer does the same).
func (m *v1Manager) freeze(op, state string) error {
	d, ok := m.leaf("freezer")
	if !ok {
		return m.unsupported(op, "freezer")
	}
	if err := d.exists(); err != nil {
		return err
	}
	var werr error
	err := poll(settleTimeout, func() (bool, error) {
		if werr = d.write("freezer.state", state); werr != nil {
			return true, nil
		}
		got, err := d.read("freezer.state")
		return err == nil && got == state, err
	})
	if werr != nil {
		return werr
	}
	if err != nil {
		return d.fail("wait for "+state+" in", "freezer.state", "", err)
	}
	return nil
}

func (m *v1Manager) Paused() (bool, error) {
	d, ok := m.leaf("freezer")
	if !ok {
		return false, nil
	}
	s, err := d.read("freezer.state")
	return s == "FROZEN", err
}

func (m *v1Manager) Kill(sig syscall.Signal) error {
	d, ok := m.leaf("freezer")
	if !ok {
		// Without a freezer, a process forking right now can escape.
		pids, err := m.Procs()
		if err != nil {
			return err
		}
		return signalAll(dir{cg: m.path}, pids, sig)
	}
	if err := d.exists(); err != nil {
		return err
	}
	return killFrozen(m, d, sig)
}

func (m *v1Manager) OOMKilled() (bool, error) {
	d, ok := m.leaf("memory")
	if !ok {
		return false, nil // no memory controller: no memory limit to hit
	}
	// oom_kill appeared in Linux 4.13; older kernels report false.
	n, _, err := d.readKey("memory.oom_control", "oom_kill")
	return n > 0, err
}

func (m *v1Manager) Stats() (Stats, error) {
	var s Stats
	var err error
	read := func(ctrl, file string, into *uint64) {
		if d, ok := m.leaf(ctrl); ok && err == nil {
			if err = d.exists(); err == nil && d.has(file) {
				*into, err = d.readUint(file)
			}
		}
	}
	read("memory", "memory.usage_in_bytes", &s.MemoryUsage)
	read("memory", "memory.limit_in_bytes", &s.MemoryLimit)
	if s.MemoryLimit >= unlimited64 {
		s.MemoryLimit = 0
	}
	if d, ok := m.leaf("memory"); ok && err == nil {
		s.MemoryInactiveFile, _, err = d.readKey("memory.stat", "total_inactive_file")
	}
	read("cpuacct", "cpuacct.usage", &s.CPUUsage)
	read("pids", "pids.current", &s.PidsCurrent)
	read("pids", "pids.max", &s.PidsLimit)
	return s, err
}

func (m *v1Manager) Destroy() error {
	var errs []error
	for _, h := range m.hiers {
		errs = append(errs, removeTree(m.leafOf(h)))
	}
	return errors.Join(errs...)
}

func (m *v1Manager) DevicesDenyAllExcept(rules []DeviceRule) error {
	for _, r := range rules {
		if err := r.validate(); err != nil {
			return fmt.Errorf("cgroup %s: %w", m.path, err)
		}
	}
	d, ok := m.leaf("devices")
	if !ok {
		return m.unsupported("restrict devices", "devices")
	}
	// "a" on devices.deny drops every rule and switches the cgroup to
	// default-deny; the kernel refuses it (EINVAL) once the cgroup has
	// children.
	if err := d.write("devices.deny", "a"); err != nil {
		return err
	}
	for _, r := range rules {
		if err := d.write("devices.allow", r.String()); err != nil {
			return err
		}
	}
	return nil
}
