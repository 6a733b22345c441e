package oci

import (
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// WithReadonlyRootfs sets Root.Readonly (compose read_only). Mounts, including
// /dev, /dev/shm and volumes, stay as they are.
func WithReadonlyRootfs(ro bool) SpecOpt {
	return func(s *specs.Spec) error {
		ensureRoot(s).Readonly = ro
		return nil
	}
}

// WithNoNewPrivileges sets Process.NoNewPrivileges. Docker leaves it off by
// default, so setuid tools such as sudo and su work; turning it on stops
// them (and file capabilities) from raising privileges.
func WithNoNewPrivileges(on bool) SpecOpt {
	return func(s *specs.Spec) error {
		ensureProcess(s).NoNewPrivileges = on
		return nil
	}
}

// WithSecurityOpts applies compose security_opt, in Docker's syntax (key and
// value separated by "=" or ":"):
//
//   - "no-new-privileges" and "no-new-privileges:<bool>" set
//     Process.NoNewPrivileges (<bool> as strconv.ParseBool reads it);
//   - "systempaths=unconfined" removes the masked and read-only paths;
//   - "label=disable", "label:disable", "apparmor=unconfined" and
//     "seccomp=unconfined" are accepted and change nothing: stack applies no
//     SELinux label, AppArmor profile or seccomp filter, so the container is
//     already in the state they ask for.
//
// Anything else (a seccomp profile, an AppArmor profile, SELinux labels) is
// an error naming the option, rather than a container silently less confined
// than its compose file says.
func WithSecurityOpts(opts []string) SpecOpt {
	return func(s *specs.Spec) error {
		for _, o := range opts {
			key, val, ok := strings.Cut(o, "=")
			if !ok {
				key, val, ok = strings.Cut(o, ":")
			}
			switch {
			case key == "no-new-privileges" && !ok:
				ensureProcess(s).NoNewPrivileges = true
			case key == "no-new-privileges":
				b, err := strconv.ParseBool(val)
				if err != nil {
					return invalidf("invalid security option %q: want no-new-privileges:true or :false", o)
				}
				ensureProcess(s).NoNewPrivileges = b
			case key == "systempaths" && val == "unconfined":
				l := ensureLinux(s)
				l.MaskedPaths = nil
				l.ReadonlyPaths = nil
			case key == "label" && val == "disable",
				key == "apparmor" && val == "unconfined",
				key == "seccomp" && val == "unconfined":
			default:
				return invalidf("unsupported security option %q", o)
			}
		}
		return nil
	}
}

// sysctlNamespaced reports whether Docker lets a container set sysctl k:
// the IPC-namespaced kernel.msg*, kernel.sem, kernel.shm* and fs.mqueue.*,
// and net.*, which is namespaced by the network namespace.
func sysctlNamespaced(k string) bool {
	return k == "kernel.sem" ||
		strings.HasPrefix(k, "kernel.msg") ||
		strings.HasPrefix(k, "kernel.shm") ||
		strings.HasPrefix(k, "fs.mqueue.") ||
		strings.HasPrefix(k, "net.")
}

// WithSysctls adds compose sysctls to Linux.Sysctl, replacing same keys.
// Only namespaced sysctls are allowed, as Docker validates them: kernel.msg*,
// kernel.sem, kernel.shm*, fs.mqueue.* and net.*. Any other key fails with
// `sysctl "vm.x" is not allowed in a container`. net.* needs the container's
// own network namespace: with the host's (see [WithoutNamespace]) or one
// joined by path (see [WithNamespace]) it is an error, since the write would
// change another network namespace.
func WithSysctls(sysctls map[string]string) SpecOpt {
	return func(s *specs.Spec) error {
		for _, k := range slices.Sorted(maps.Keys(sysctls)) {
			if !sysctlNamespaced(k) {
				return invalidf("sysctl %q is not allowed in a container", k)
			}
			if strings.HasPrefix(k, "net.") {
				if err := checkNetSysctl(s, k); err != nil {
					return err
				}
			}
		}
		l := ensureLinux(s)
		if l.Sysctl == nil {
			l.Sysctl = map[string]string{}
		}
		maps.Copy(l.Sysctl, sysctls)
		return nil
	}
}

// checkNetSysctl fails if net sysctl k would not land in the container's
// own, new network namespace.
func checkNetSysctl(s *specs.Spec, k string) error {
	var ns *specs.LinuxNamespace
	if s.Linux != nil {
		if i := slices.IndexFunc(s.Linux.Namespaces, isNS(specs.NetworkNamespace)); i >= 0 {
			ns = &s.Linux.Namespaces[i]
		}
	}
	switch {
	case ns == nil:
		return invalidf("sysctl %q is not allowed in the host network namespace", k)
	case ns.Path != "":
		return invalidf("sysctl %q is not allowed in a joined network namespace %q", k, ns.Path)
	}
	return nil
}

func isNS(t specs.LinuxNamespaceType) func(specs.LinuxNamespace) bool {
	return func(n specs.LinuxNamespace) bool { return n.Type == t }
}

var namespaceTypes = []specs.LinuxNamespaceType{
	specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace,
	specs.IPCNamespace, specs.UTSNamespace, specs.UserNamespace,
	specs.CgroupNamespace, specs.TimeNamespace,
}

// WithNamespace makes the container use a namespace of type t: a new one if
// path is empty, else the one at path (an absolute path such as
// /proc/<pid>/ns/net, for network_mode "service:x"). An entry of that type is
// replaced in place, or appended.
//
// Joining another network namespace drops Docker's two default network
// sysctls (that namespace's owner set its own, as Docker does for
// "container:x"); any other net.* sysctl already set is an error.
func WithNamespace(t specs.LinuxNamespaceType, nsPath string) SpecOpt {
	return func(s *specs.Spec) error {
		if !slices.Contains(namespaceTypes, t) {
			return invalidf("unknown namespace type %q", t)
		}
		if nsPath != "" && !path.IsAbs(nsPath) {
			return invalidf("namespace path %q is not absolute", nsPath)
		}
		l := ensureLinux(s)
		ns := specs.LinuxNamespace{Type: t, Path: nsPath}
		if i := slices.IndexFunc(l.Namespaces, isNS(t)); i >= 0 {
			l.Namespaces[i] = ns
		} else {
			l.Namespaces = append(l.Namespaces, ns)
		}
		if t == specs.NetworkNamespace && nsPath != "" {
			return dropNetSysctls(s)
		}
		return nil
	}
}

// WithoutNamespace makes the container share the host's namespace of type t
// (network_mode: host, pid: host, ipc: host). Sharing the host's network
// namespace drops Docker's two default network sysctls, which would change
// the host; any other net.* sysctl already set is an error.
func WithoutNamespace(t specs.LinuxNamespaceType) SpecOpt {
	return func(s *specs.Spec) error {
		if !slices.Contains(namespaceTypes, t) {
			return invalidf("unknown namespace type %q", t)
		}
		l := ensureLinux(s)
		l.Namespaces = slices.DeleteFunc(l.Namespaces, isNS(t))
		if t == specs.NetworkNamespace {
			return dropNetSysctls(s)
		}
		return nil
	}
}

// dropNetSysctls removes the default network sysctls while they hold their
// default values, then fails on any net.* sysctl left.
func dropNetSysctls(s *specs.Spec) error {
	l := s.Linux
	for k, v := range defaultSysctls() {
		if l.Sysctl[k] == v {
			delete(l.Sysctl, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(l.Sysctl)) {
		if strings.HasPrefix(k, "net.") {
			return checkNetSysctl(s, k)
		}
	}
	return nil
}
