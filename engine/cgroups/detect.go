package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	cgroupMount = "/sys/fs/cgroup"
	mountinfo   = "/proc/self/mountinfo"
)

// IsUnified reports whether the host is a pure cgroup v2 one, from one
// statfs: what the shim needs to know before its first fork, without
// Detect's read of the mount table.
func IsUnified() (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupMount, &st); err != nil {
		return false, fmt.Errorf("detect cgroups: statfs %s: %w", cgroupMount, err)
	}
	return st.Type == unix.CGROUP2_SUPER_MAGIC, nil
}

// V1Mount is one cgroup v1 hierarchy of the host: the base name of its
// mount point ("memory", "cpu,cpuacct", "systemd") and the options that
// mount it again ("memory", "cpu,cpuacct", "name=systemd").
type V1Mount struct {
	Dir     string
	Options string
}

// V1Mounts lists the host's cgroup v1 hierarchies, by mount point; none
// on a pure cgroup v2 host. It reads the layout Detect and New use, so the
// mount table is parsed once per process.
func V1Mounts() ([]V1Mount, error) {
	l, err := hostLayout()
	if err != nil {
		return nil, err
	}
	return l.v1Mounts(), nil
}

func (l layout) v1Mounts() []V1Mount {
	byMount := map[string][]string{}
	for opt, mnt := range l.v1 {
		byMount[mnt] = append(byMount[mnt], opt)
	}
	out := make([]V1Mount, 0, len(byMount))
	for mnt, opts := range byMount {
		slices.Sort(opts)
		out = append(out, V1Mount{Dir: filepath.Base(mnt), Options: strings.Join(opts, ",")})
	}
	slices.SortFunc(out, func(a, b V1Mount) int { return strings.Compare(a.Dir, b.Dir) })
	return out
}

// Detect reports the host's cgroup layout: Unified when /sys/fs/cgroup is a
// cgroup2 mount, otherwise Legacy or Hybrid from the cgroup mounts in
// /proc/self/mountinfo.
func Detect() (Mode, error) {
	l, err := hostLayout()
	if err != nil {
		return 0, err
	}
	return l.mode, nil
}

func detectLayout() (layout, error) {
	v2, err := IsUnified()
	if err != nil {
		return layout{}, err
	}
	if v2 {
		return layout{mode: Unified, unified: cgroupMount}, nil
	}
	f, err := os.Open(mountinfo)
	if err != nil {
		return layout{}, fmt.Errorf("detect cgroups: %w", err)
	}
	defer f.Close()
	return parseMountinfo(f)
}

// v1Controllers are the cgroup v1 controller names that can appear in a
// cgroup mount's super options. Other options (rw, clone_children, xattr,
// release_agent=..., noprefix, ...) are not controllers.
var v1Controllers = map[string]bool{
	"cpu": true, "cpuacct": true, "cpuset": true, "memory": true, "devices": true,
	"freezer": true, "net_cls": true, "blkio": true, "perf_event": true,
	"net_prio": true, "hugetlb": true, "pids": true, "rdma": true, "misc": true,
}

// parseMountinfo reads proc_pid_mountinfo(5) text and returns the cgroup
// layout it describes. The first mount of each controller wins (later ones
// are bind mounts of the same hierarchy, or mounts inside it).
func parseMountinfo(r io.Reader) (layout, error) {
	l := layout{v1: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1024*1024) // grows for long lines; a fresh page costs a fault
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf := strings.Fields(pre)
		sf := strings.Fields(post)
		if len(pf) < 5 || len(sf) < 3 {
			continue
		}
		mnt := unescapeMount(pf[4])
		switch sf[0] {
		case "cgroup2":
			if l.unified == "" {
				l.unified = mnt
			}
		case "cgroup":
			for _, opt := range strings.Split(sf[2], ",") {
				if v1Controllers[opt] || strings.HasPrefix(opt, "name=") {
					if _, dup := l.v1[opt]; !dup {
						l.v1[opt] = mnt
					}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return layout{}, fmt.Errorf("detect cgroups: read mountinfo: %w", err)
	}
	switch {
	case len(l.v1) > 0 && l.unified != "":
		l.mode = Hybrid
	case len(l.v1) > 0:
		l.mode = Legacy
	case l.unified != "":
		// cgroup2 mounted somewhere other than /sys/fs/cgroup, and no v1.
		l.mode = Unified
		l.v1 = nil
	default:
		return layout{}, errors.New("detect cgroups: no cgroup or cgroup2 mount in mountinfo")
	}
	return l, nil
}

// unescapeMount undoes the octal escapes (\040 for a space, \011, \012,
// \134) that the kernel applies to paths in mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
