package oci

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Ulimit is one compose ulimit. -1 means unlimited (RLIM_INFINITY).
// Compose's single-number form is Soft == Hard.
type Ulimit struct {
	Soft int64
	Hard int64
}

// ulimitTypes maps Docker's ulimit names (go-units ulimitNameMapping) to
// rlimit types.
var ulimitTypes = map[string]string{
	"core":       "RLIMIT_CORE",
	"cpu":        "RLIMIT_CPU",
	"data":       "RLIMIT_DATA",
	"fsize":      "RLIMIT_FSIZE",
	"locks":      "RLIMIT_LOCKS",
	"memlock":    "RLIMIT_MEMLOCK",
	"msgqueue":   "RLIMIT_MSGQUEUE",
	"nice":       "RLIMIT_NICE",
	"nofile":     "RLIMIT_NOFILE",
	"nproc":      "RLIMIT_NPROC",
	"rss":        "RLIMIT_RSS",
	"rtprio":     "RLIMIT_RTPRIO",
	"rttime":     "RLIMIT_RTTIME",
	"sigpending": "RLIMIT_SIGPENDING",
	"stack":      "RLIMIT_STACK",
}

// rlimitValue converts a Ulimit number, with -1 as RLIM_INFINITY.
func rlimitValue(name string, v int64) (uint64, error) {
	switch {
	case v == -1:
		return math.MaxUint64, nil
	case v < 0:
		return 0, invalidf("ulimit %q: value %d is negative (use -1 for unlimited)", name, v)
	}
	return uint64(v), nil
}

// WithUlimits sets compose ulimits, keyed by Docker's names (core, cpu,
// data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio,
// rttime, sigpending, stack; case-insensitive). Each replaces an rlimit of
// the same type, such as the default RLIMIT_NOFILE, in place; new ones are
// appended in name order. A soft limit above the hard one, a negative value
// other than -1 and an unknown name are errors.
func WithUlimits(ulimits map[string]Ulimit) SpecOpt {
	return func(s *specs.Spec) error {
		p := ensureProcess(s)
		for _, name := range slices.Sorted(maps.Keys(ulimits)) {
			u := ulimits[name]
			typ, ok := ulimitTypes[strings.ToLower(name)]
			if !ok {
				return invalidf("unknown ulimit %q", name)
			}
			soft, err := rlimitValue(name, u.Soft)
			if err != nil {
				return err
			}
			hard, err := rlimitValue(name, u.Hard)
			if err != nil {
				return err
			}
			if soft > hard {
				return invalidf("ulimit %q: soft limit %d is above hard limit %d", name, u.Soft, u.Hard)
			}
			rl := specs.POSIXRlimit{Type: typ, Soft: soft, Hard: hard}
			if i := slices.IndexFunc(p.Rlimits, func(r specs.POSIXRlimit) bool { return r.Type == typ }); i >= 0 {
				p.Rlimits[i] = rl
			} else {
				p.Rlimits = append(p.Rlimits, rl)
			}
		}
		return nil
	}
}

// minMemory is Docker's smallest memory limit and reservation, 6 MiB.
const minMemory = 6 << 20

// WithMemory sets the memory cgroup limits in bytes, Docker's way (0 means
// not set for each):
//
//   - limit (mem_limit) is the hard limit, at least 6 MiB;
//   - reservation (mem_reservation) is the soft limit, at least 6 MiB and at
//     most the limit;
//   - swap (memswap_limit) is memory plus swap, as in the OCI spec and
//     Docker: at least the limit, -1 for unlimited swap, and it needs a
//     limit. With a limit and swap 0, swap is twice the limit, as Docker
//     sets it.
//
// The runtime translates Swap for cgroup v2 (memory.swap.max = swap - limit).
func WithMemory(limit, reservation, swap int64) SpecOpt {
	return func(s *specs.Spec) error {
		switch {
		case limit < 0:
			return invalidf("memory limit %d is negative", limit)
		case limit > 0 && limit < minMemory:
			return invalidf("memory limit %d is below the minimum of %d (6MiB)", limit, minMemory)
		case reservation < 0:
			return invalidf("memory reservation %d is negative", reservation)
		case reservation > 0 && reservation < minMemory:
			return invalidf("memory reservation %d is below the minimum of %d (6MiB)", reservation, minMemory)
		case limit > 0 && reservation > limit:
			return invalidf("memory reservation %d is above the memory limit %d", reservation, limit)
		case swap < -1:
			return invalidf("memory swap limit %d is negative (use -1 for unlimited)", swap)
		case swap != 0 && limit == 0:
			return invalidf("memory swap limit %d needs a memory limit", swap)
		case swap > 0 && swap < limit:
			return invalidf("memory swap limit %d is below the memory limit %d", swap, limit)
		}
		if limit > 0 && swap == 0 {
			swap = 2 * limit
			if swap < 0 { // overflow
				swap = -1
			}
		}
		r := ensureResources(s)
		if limit == 0 && reservation == 0 {
			r.Memory = nil
			return nil
		}
		m := &specs.LinuxMemory{}
		if limit > 0 {
			m.Limit = &limit
			m.Swap = &swap
		}
		if reservation > 0 {
			m.Reservation = &reservation
		}
		r.Memory = m
		return nil
	}
}

// cpuPeriod is the CFS period Docker uses for --cpus, in microseconds.
const cpuPeriod = 100000

// WithCPUs limits CPU time to cpus CPUs (compose cpus), as CFS quota over a
// period of 100000µs: quota = cpus*100000. 0 removes the limit. Below 0.01
// (a 1ms quota, the kernel's minimum) is an error. Whether the host has that
// many CPUs is not checked here.
func WithCPUs(cpus float64) SpecOpt {
	return func(s *specs.Spec) error {
		if math.IsNaN(cpus) || math.IsInf(cpus, 0) || cpus < 0 || (cpus > 0 && cpus < 0.01) {
			return invalidf("cpus %v is out of range: want 0 (no limit) or at least 0.01", cpus)
		}
		r := ensureResources(s)
		if cpus == 0 {
			if r.CPU != nil {
				r.CPU.Quota, r.CPU.Period = nil, nil
			}
			return nil
		}
		quota := int64(math.Round(cpus * cpuPeriod))
		period := uint64(cpuPeriod)
		c := ensureCPU(r)
		c.Quota, c.Period = &quota, &period
		return nil
	}
}

func ensureCPU(r *specs.LinuxResources) *specs.LinuxCPU {
	if r.CPU == nil {
		r.CPU = &specs.LinuxCPU{}
	}
	return r.CPU
}

// WithCPUShares sets the relative CPU weight (compose cpu_shares; 1024 is
// the kernel's default). 0 removes it. Values outside 2..262144 are clamped
// to that range, as Docker does on Linux; negative ones are an error. The
// runtime converts shares to cpu.weight on cgroup v2.
func WithCPUShares(shares int64) SpecOpt {
	return func(s *specs.Spec) error {
		if shares < 0 {
			return invalidf("cpu shares %d is negative", shares)
		}
		r := ensureResources(s)
		if shares == 0 {
			if r.CPU != nil {
				r.CPU.Shares = nil
			}
			return nil
		}
		v := uint64(min(max(shares, 2), 262144))
		ensureCPU(r).Shares = &v
		return nil
	}
}

// WithCpuset pins the container to CPUs and memory nodes (compose cpuset;
// mems has no compose key). Both are kernel list syntax, "0-3,5"; empty
// leaves that one unset.
func WithCpuset(cpus, mems string) SpecOpt {
	return func(s *specs.Spec) error {
		if !validCPUList(cpus) {
			return invalidf("invalid cpuset cpus %q: want a list such as \"0-3,5\"", cpus)
		}
		if !validCPUList(mems) {
			return invalidf("invalid cpuset mems %q: want a list such as \"0-1\"", mems)
		}
		c := ensureCPU(ensureResources(s))
		c.Cpus, c.Mems = cpus, mems
		return nil
	}
}

// validCPUList reports whether l is "" or a kernel list: comma-separated
// numbers or ranges lo-hi with lo <= hi.
func validCPUList(l string) bool {
	if l == "" {
		return true
	}
	for part := range strings.SplitSeq(l, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isDigits(lo) || (isRange && !isDigits(hi)) {
			return false
		}
		a, errA := strconv.ParseUint(lo, 10, 32)
		b, errB := a, error(nil)
		if isRange {
			b, errB = strconv.ParseUint(hi, 10, 32)
		}
		if errA != nil || errB != nil || a > b {
			return false
		}
	}
	return true
}

// WithPidsLimit caps the number of tasks (compose pids_limit). 0 or a
// negative value (Docker's -1) removes the limit.
func WithPidsLimit(n int64) SpecOpt {
	return func(s *specs.Spec) error {
		r := ensureResources(s)
		if n <= 0 {
			r.Pids = nil
			return nil
		}
		r.Pids = &specs.LinuxPids{Limit: &n}
		return nil
	}
}
