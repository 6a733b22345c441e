// Package cgroups owns the container's control groups: it detects the host's
// cgroup layout, creates one cgroup per container in every hierarchy that
// needs it, writes the memory, cpu, cpuset and pids limits, places processes,
// freezes, thaws and kills everything inside, reads usage and OOM kills, and
// removes the cgroup again.
//
// It does not know containers beyond a relative path such as "stack/<id>": it
// does not start processes (the caller does, then calls Add or uses FD with
// clone3 CLONE_INTO_CGROUP), it does not decide limits from compose fields
// (others turn `--cpus 1.5` into CPUQuota/CPUPeriod), and it does not filter
// devices on cgroup v2 (that needs an eBPF program; see
// Manager.DevicesDenyAllExcept).
//
// # Layouts
//
// Three layouts exist in the wild, and Detect tells them apart:
//
//   - Unified: /sys/fs/cgroup is a cgroup2 mount (statfs magic
//     CGROUP2_SUPER_MAGIC). One tree, controllers enabled top-down through
//     cgroup.subtree_control, and the "no internal processes" rule: a cgroup
//     that delegates controllers to children may not hold processes itself,
//     so processes only ever go into the leaf, never into "stack".
//   - Legacy (v1): /sys/fs/cgroup is a tmpfs with one cgroup v1 mount per
//     controller (or per group of co-mounted controllers, "cpu,cpuacct").
//     The mount points are read from /proc/self/mountinfo, never assumed.
//   - Hybrid: Legacy plus a cgroup2 mount, usually /sys/fs/cgroup/unified.
//
// # The hybrid trap
//
// The machines this project runs on are hybrid, and their unified hierarchy is
// not empty: it holds the hugetlb controller. A manager that sees a cgroup2
// mount with controllers and concludes "v2" will find no memory, cpu or pids
// there; crun refuses such hosts outright ("cgroups in hybrid mode not
// supported, drop all controllers from cgroupv2"). Hybrid is therefore
// treated as v1 for memory, cpu, cpuset, pids, freezer and devices. The
// unified hierarchy is used only for membership (the leaf is created there
// and processes are added to it, as runc does), never for limits.
//
// # Cgroup v1 details that bite
//
//   - A new cpuset cgroup starts with empty cpuset.cpus and cpuset.mems, and
//     adding a task to it fails with ENOSPC. Create copies both from the
//     parent at every level, walking down from the root.
//   - memory.memsw.limit_in_bytes (memory+swap) may never be below
//     memory.limit_in_bytes, so when limits go up memsw is written first, and
//     when they go down memory is written first. The memsw files exist only
//     with swap accounting; without them swap limits are skipped (best
//     effort, as docker does with a warning).
//   - A task frozen by the v1 freezer does not act on SIGKILL until it is
//     thawed, so Kill thaws after signalling.
//
// Everything is done with plain file reads and writes plus mkdir and rmdir;
// there is no daemon and no state outside the cgroup filesystems.
package cgroups
