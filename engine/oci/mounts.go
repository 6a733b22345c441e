package oci

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// WithMounts adds mounts (volumes, binds, tmpfs, /etc/hosts and the like)
// after the defaults. Each is copied; its destination must be absolute and
// is cleaned; a bind mount (type "bind", or option "bind" or "rbind") needs
// an absolute source.
//
// A mount on a destination already mounted, such as /dev/shm or one of a
// previous call, replaces that mount in place. Any other is put before the
// first mount below its destination, else at the end, so a parent is always
// mounted before its children whatever order the caller gives. A mount on
// /dev also removes the default mounts below /dev (/dev/pts, /dev/mqueue,
// /dev/shm), as Docker does.
func WithMounts(mounts []specs.Mount) SpecOpt {
	return func(s *specs.Spec) error {
		for _, m := range mounts {
			if !path.IsAbs(m.Destination) {
				return invalidf("mount destination %q is not an absolute path", m.Destination)
			}
			isBind := m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
			if isBind && !path.IsAbs(m.Source) {
				return invalidf("bind mount source %q for %q is not an absolute path", m.Source, m.Destination)
			}
			m.Destination = path.Clean(m.Destination)
			m.Options = slices.Clone(m.Options)
			m.UIDMappings = slices.Clone(m.UIDMappings)
			m.GIDMappings = slices.Clone(m.GIDMappings)
			addMount(s, m)
		}
		return nil
	}
}

// addMount places m as WithMounts documents.
func addMount(s *specs.Spec, m specs.Mount) {
	if m.Destination == "/dev" {
		defaults := defaultMounts()
		s.Mounts = slices.DeleteFunc(s.Mounts, func(x specs.Mount) bool {
			return strings.HasPrefix(x.Destination, "/dev/") && slices.ContainsFunc(defaults, func(d specs.Mount) bool {
				return d.Destination == x.Destination && d.Type == x.Type && d.Source == x.Source
			})
		})
	}
	if i := slices.IndexFunc(s.Mounts, func(x specs.Mount) bool { return path.Clean(x.Destination) == m.Destination }); i >= 0 {
		s.Mounts[i] = m
		return
	}
	if i := slices.IndexFunc(s.Mounts, func(x specs.Mount) bool { return below(path.Clean(x.Destination), m.Destination) }); i >= 0 {
		s.Mounts = slices.Insert(s.Mounts, i, m)
		return
	}
	s.Mounts = append(s.Mounts, m)
}

// below reports whether p is strictly below dir; both are clean.
func below(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	return strings.HasPrefix(p, dir+"/")
}

// WithShmSize sets the size of the /dev/shm tmpfs in bytes (compose
// shm_size), rewriting its size= option. 0 means [DefaultShmSize]. It fails
// if /dev/shm is not a tmpfs mount, for example after a bind mount replaced
// it.
func WithShmSize(bytes int64) SpecOpt {
	return func(s *specs.Spec) error {
		if bytes < 0 {
			return invalidf("shm size %d is negative", bytes)
		}
		if bytes == 0 {
			bytes = DefaultShmSize
		}
		i := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return path.Clean(m.Destination) == "/dev/shm" })
		if i < 0 || s.Mounts[i].Type != "tmpfs" {
			return invalidf("shm size %d: /dev/shm is not a tmpfs mount", bytes)
		}
		m := &s.Mounts[i]
		size := fmt.Sprintf("size=%d", bytes)
		opts := slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return strings.HasPrefix(o, "size=") })
		m.Options = append(opts, size)
		return nil
	}
}

// tmpfsFlags maps each flag a tmpfs mount accepts to its group: a later flag
// replaces an earlier one of the same group ("exec" replaces "noexec").
var tmpfsFlags = map[string]string{
	"ro":            "ro",
	"rw":            "ro",
	"exec":          "exec",
	"noexec":        "exec",
	"suid":          "suid",
	"nosuid":        "suid",
	"dev":           "dev",
	"nodev":         "dev",
	"sync":          "sync",
	"async":         "sync",
	"mand":          "mand",
	"nomand":        "mand",
	"atime":         "atime",
	"noatime":       "atime",
	"diratime":      "diratime",
	"nodiratime":    "diratime",
	"relatime":      "relatime",
	"norelatime":    "relatime",
	"strictatime":   "strictatime",
	"nostrictatime": "strictatime",
	"dirsync":       "dirsync",
}

// tmpfsKeys are the key=value options Docker accepts for tmpfs.
var tmpfsKeys = []string{"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"}

// defaultTmpfsOptions are Docker's options for a --tmpfs mount, before the
// user's.
var defaultTmpfsOptions = []string{"noexec", "nosuid", "nodev"}

// WithTmpfs mounts a tmpfs at dest (compose tmpfs, or a volume of type
// tmpfs) with Docker's options: noexec, nosuid and nodev, then options, a
// later option replacing an earlier one of the same kind ("exec" replaces
// "noexec", a second "size=" the first). Options are mount flags (ro, rw,
// exec, suid, dev, sync, atime and their negations, ...) or size=, mode=,
// uid=, gid=, nr_inodes=, nr_blocks=, mpol=; "defaults" is ignored; anything
// else is an error. The mount is placed as [WithMounts] places mounts.
func WithTmpfs(dest string, options []string) SpecOpt {
	return func(s *specs.Spec) error {
		if !path.IsAbs(dest) {
			return invalidf("tmpfs destination %q is not an absolute path", dest)
		}
		opts, err := mergeTmpfsOptions(append(slices.Clone(defaultTmpfsOptions), options...))
		if err != nil {
			return err
		}
		addMount(s, specs.Mount{Destination: path.Clean(dest), Type: "tmpfs", Source: "tmpfs", Options: opts})
		return nil
	}
}

func mergeTmpfsOptions(options []string) ([]string, error) {
	var out, groups []string
	for _, o := range options {
		if o == "defaults" {
			continue
		}
		g, ok := tmpfsFlags[o]
		if !ok {
			k, v, isKV := strings.Cut(o, "=")
			if !isKV || v == "" || !slices.Contains(tmpfsKeys, k) {
				return nil, invalidf("invalid tmpfs option %q", o)
			}
			g = k + "="
		}
		if i := slices.Index(groups, g); i >= 0 {
			out = slices.Delete(out, i, i+1)
			groups = slices.Delete(groups, i, i+1)
		}
		out = append(out, o)
		groups = append(groups, g)
	}
	return out, nil
}

// reservedAnnotations are the keys only this package sets.
var reservedAnnotations = []string{AnnotationPrivileged, AnnotationGroupAdd}

// WithAnnotations adds OCI annotations, replacing same keys. The keys the
// runtime trusts ([AnnotationPrivileged], [AnnotationGroupAdd]) are
// rejected: only their own options set them. An empty key is an error.
func WithAnnotations(annotations map[string]string) SpecOpt {
	return func(s *specs.Spec) error {
		for _, k := range slices.Sorted(maps.Keys(annotations)) {
			if k == "" {
				return invalidf("annotation key %q is empty", k)
			}
			if slices.Contains(reservedAnnotations, k) {
				return invalidf("annotation %q is reserved", k)
			}
		}
		for k, v := range annotations {
			setAnnotation(s, k, v)
		}
		return nil
	}
}

// WithLabels records container labels (compose labels and stack's own) as
// annotations, so a bundle carries them; it is [WithAnnotations], with the
// same reserved keys.
func WithLabels(labels map[string]string) SpecOpt { return WithAnnotations(labels) }
