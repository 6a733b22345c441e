package oci

import (
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// allCaps is every Linux capability up to CAP_CHECKPOINT_RESTORE (40), in
// number order. "ALL" and privileged mode mean this list.
var allCaps = []string{
	"CAP_CHOWN",              // 0
	"CAP_DAC_OVERRIDE",       // 1
	"CAP_DAC_READ_SEARCH",    // 2
	"CAP_FOWNER",             // 3
	"CAP_FSETID",             // 4
	"CAP_KILL",               // 5
	"CAP_SETGID",             // 6
	"CAP_SETUID",             // 7
	"CAP_SETPCAP",            // 8
	"CAP_LINUX_IMMUTABLE",    // 9
	"CAP_NET_BIND_SERVICE",   // 10
	"CAP_NET_BROADCAST",      // 11
	"CAP_NET_ADMIN",          // 12
	"CAP_NET_RAW",            // 13
	"CAP_IPC_LOCK",           // 14
	"CAP_IPC_OWNER",          // 15
	"CAP_SYS_MODULE",         // 16
	"CAP_SYS_RAWIO",          // 17
	"CAP_SYS_CHROOT",         // 18
	"CAP_SYS_PTRACE",         // 19
	"CAP_SYS_PACCT",          // 20
	"CAP_SYS_ADMIN",          // 21
	"CAP_SYS_BOOT",           // 22
	"CAP_SYS_NICE",           // 23
	"CAP_SYS_RESOURCE",       // 24
	"CAP_SYS_TIME",           // 25
	"CAP_SYS_TTY_CONFIG",     // 26
	"CAP_MKNOD",              // 27
	"CAP_LEASE",              // 28
	"CAP_AUDIT_WRITE",        // 29
	"CAP_AUDIT_CONTROL",      // 30
	"CAP_SETFCAP",            // 31
	"CAP_MAC_OVERRIDE",       // 32
	"CAP_MAC_ADMIN",          // 33
	"CAP_SYSLOG",             // 34
	"CAP_WAKE_ALARM",         // 35
	"CAP_BLOCK_SUSPEND",      // 36
	"CAP_AUDIT_READ",         // 37
	"CAP_PERFMON",            // 38
	"CAP_BPF",                // 39
	"CAP_CHECKPOINT_RESTORE", // 40
}

// defaultCaps is Docker's default set, in Docker's order
// (moby daemon/pkg/oci/caps/defaults.go).
var defaultCaps = []string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FSETID",
	"CAP_FOWNER",
	"CAP_MKNOD",
	"CAP_NET_RAW",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETFCAP",
	"CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT",
	"CAP_KILL",
	"CAP_AUDIT_WRITE",
}

// AllCapabilities returns every capability stack knows, CAP_CHOWN through
// CAP_CHECKPOINT_RESTORE, in number order.
func AllCapabilities() []string { return slices.Clone(allCaps) }

// DefaultCapabilities returns Docker's 14 default capabilities in Docker's
// order.
func DefaultCapabilities() []string { return slices.Clone(defaultCaps) }

// normalizeCaps turns Docker's spelling ("net_admin", "CAP_NET_ADMIN",
// "all") into "CAP_NET_ADMIN" or "ALL", and rejects unknown names.
func normalizeCaps(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, c := range in {
		u := strings.ToUpper(strings.TrimSpace(c))
		if u != "ALL" {
			if !strings.HasPrefix(u, "CAP_") {
				u = "CAP_" + u
			}
			if !slices.Contains(allCaps, u) {
				return nil, invalidf("unknown capability %q", c)
			}
		}
		out = append(out, u)
	}
	return out, nil
}

// WithCapabilities applies compose cap_add and cap_drop together, by
// Docker's rules (moby TweakCapabilities), to the current capability set:
//
//   - names are case-insensitive, with or without "CAP_"; "ALL" means every
//     capability; an unknown name is an error naming it;
//   - add containing ALL: every capability except those dropped;
//   - else drop containing ALL: exactly the added ones;
//   - else: the current set minus the dropped ones, then the added ones
//     (drop is applied before add, so add wins when a name is in both).
//
// The result goes into the Bounding, Permitted and Effective sets;
// Inheritable and Ambient are left empty, so a non-root user ends with no
// effective capabilities after execve, as under Docker. On a spec built with
// [WithPrivileged] the names are still checked but the set stays "all", as
// Docker ignores cap_add and cap_drop for privileged containers.
func WithCapabilities(add, drop []string) SpecOpt {
	return func(s *specs.Spec) error {
		adds, err := normalizeCaps(add)
		if err != nil {
			return err
		}
		drops, err := normalizeCaps(drop)
		if err != nil {
			return err
		}
		if s.Annotations[AnnotationPrivileged] == "true" {
			return nil
		}
		c := ensureCaps(s)
		var caps []string
		switch {
		case slices.Contains(adds, "ALL"):
			for _, cp := range allCaps {
				if !slices.Contains(drops, cp) {
					caps = append(caps, cp)
				}
			}
		case slices.Contains(drops, "ALL"):
			caps = appendCaps(caps, adds)
		default:
			for _, cp := range c.Bounding {
				if !slices.Contains(drops, cp) {
					caps = append(caps, cp)
				}
			}
			caps = appendCaps(caps, adds)
		}
		setCaps(c, caps)
		return nil
	}
}

// appendCaps appends each of add not already in caps.
func appendCaps(caps, add []string) []string {
	for _, cp := range add {
		if !slices.Contains(caps, cp) {
			caps = append(caps, cp)
		}
	}
	return caps
}

func setCaps(c *specs.LinuxCapabilities, caps []string) {
	c.Bounding = slices.Clone(caps)
	c.Permitted = slices.Clone(caps)
	c.Effective = slices.Clone(caps)
}

// WithCapAdd is [WithCapabilities](caps, nil): compose cap_add alone. When
// both cap_add and cap_drop are set, use WithCapabilities, or apply
// WithCapDrop first: "ALL" in one list depends on the other.
func WithCapAdd(caps []string) SpecOpt { return WithCapabilities(caps, nil) }

// WithCapDrop is [WithCapabilities](nil, caps): compose cap_drop alone. See
// [WithCapAdd] for using both.
func WithCapDrop(caps []string) SpecOpt { return WithCapabilities(nil, caps) }

// WithPrivileged gives the container what Docker's --privileged gives:
// every capability, no masked or read-only paths, /sys and /sys/fs/cgroup
// mounted read-write, a device cgroup that allows every device, and the
// annotation [AnnotationPrivileged]="true", on which the runtime binds the
// host's devices into /dev. Later [WithCapabilities] calls do not reduce the
// capability set.
func WithPrivileged() SpecOpt {
	return func(s *specs.Spec) error {
		setCaps(ensureCaps(s), allCaps)
		l := ensureLinux(s)
		l.MaskedPaths = nil
		l.ReadonlyPaths = nil
		ensureResources(s).Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		for i := range s.Mounts {
			m := &s.Mounts[i]
			if m.Destination == "/sys" || m.Type == "cgroup" {
				m.Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
			}
		}
		setAnnotation(s, AnnotationPrivileged, "true")
		return nil
	}
}
