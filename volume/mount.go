package volume

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"stack/engine/errdefs"
	"stack/engine/rootfs"
)

// MountSpec is what must be mounted on a volume's _data before the volume
// is used, as docker's local driver mounts it (moby volume/local): the
// driver options `type` (mount(2)'s filesystem type), `device` (its
// source) and `o` (comma-separated options: the words mount(8) knows
// become flags, the rest is the filesystem's data).
//
//	type=tmpfs o=size=64m               a tmpfs (device may be omitted)
//	type=none o=bind device=/host/path  a bind mount of /host/path
//	type=ext4 device=/dev/sdb1          that filesystem
//	type=nfs o=addr=10.0.0.1,rw device=:/export
//
// A tmpfs volume loses its content when it is unmounted, as in docker.
type MountSpec struct {
	Source string // device, bind source, or "tmpfs"
	Target string // the volume's _data
	FSType string // "tmpfs", "ext4", "nfs"…; "none" for a bind
	Flags  uintptr
	// Propagation (MS_SHARED, MS_SLAVE… from o) is set by a second
	// mount(2) once the first has succeeded, as mount(8) does.
	Propagation uintptr
	Data        string
}

// Bind reports whether the spec is a bind mount.
func (m *MountSpec) Bind() bool { return m.Flags&unix.MS_BIND != 0 }

// MountSpec returns what must be mounted on v's _data before use, or nil for
// a plain directory volume (no driver options).
func (v *Volume) MountSpec() (*MountSpec, error) {
	m, err := parseOptions(v.Options)
	if err != nil {
		return nil, fmt.Errorf("volume %q: %w", v.Name, err)
	}
	if m != nil {
		m.Target = v.Mountpoint
	}
	return m, nil
}

// optionWords are the words of `o` that are mount flags, not filesystem
// data: mount(8)'s list as moby/sys/mount has it. clear means the word
// removes the flag ("rw" clears MS_RDONLY).
var optionWords = map[string]struct {
	clear bool
	flag  uintptr
}{
	"defaults":      {false, 0},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"suid":          {true, unix.MS_NOSUID},
	"nosuid":        {false, unix.MS_NOSUID},
	"dev":           {true, unix.MS_NODEV},
	"nodev":         {false, unix.MS_NODEV},
	"exec":          {true, unix.MS_NOEXEC},
	"noexec":        {false, unix.MS_NOEXEC},
	"sync":          {false, unix.MS_SYNCHRONOUS},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"mand":          {false, unix.MS_MANDLOCK},
	"nomand":        {true, unix.MS_MANDLOCK},
	"atime":         {true, unix.MS_NOATIME},
	"noatime":       {false, unix.MS_NOATIME},
	"diratime":      {true, unix.MS_NODIRATIME},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"relatime":      {false, unix.MS_RELATIME},
	"norelatime":    {true, unix.MS_RELATIME},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"bind":          {false, unix.MS_BIND},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
}

var propagationWords = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// parseOptions validates the local driver's options, with docker's rules
// (moby volume/local/local_unix.go validateOpts): only type, o and device
// are known; device and type need each other, o needs both. Unlike docker,
// a tmpfs may omit device (it is only a label), a bind must name an
// absolute directory, and type=none must be a bind. Errors wrap ErrInvalid.
func parseOptions(opts map[string]string) (*MountSpec, error) {
	if len(opts) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k {
		case "type", "o", "device":
		case "size":
			return nil, fmt.Errorf("option \"size\": quota size is not supported by the local driver here: %w", errdefs.ErrInvalid)
		default:
			return nil, fmt.Errorf("invalid option %q (the local driver takes type, o and device): %w", k, errdefs.ErrInvalid)
		}
	}
	typ, hasType := opts["type"]
	dev, hasDev := opts["device"]
	o, hasO := opts["o"]
	if !hasType {
		return nil, fmt.Errorf("missing required option \"type\" (with device or o): %w", errdefs.ErrInvalid)
	}
	if typ == "" {
		return nil, fmt.Errorf("option \"type\" is empty: %w", errdefs.ErrInvalid)
	}
	if typ == "tmpfs" && dev == "" {
		dev, hasDev = "tmpfs", true
	}
	if !hasDev || dev == "" {
		return nil, fmt.Errorf("missing required option \"device\" (with type %q): %w", typ, errdefs.ErrInvalid)
	}
	m := &MountSpec{Source: dev, FSType: typ}
	var data []string
	if hasO {
		for _, w := range strings.Split(o, ",") {
			if w == "" {
				continue
			}
			if f, ok := optionWords[w]; ok {
				if f.clear {
					m.Flags &^= f.flag
				} else {
					m.Flags |= f.flag
				}
				continue
			}
			if p, ok := propagationWords[w]; ok {
				m.Propagation = p
				continue
			}
			if w == "remount" {
				return nil, fmt.Errorf("option o=%q: \"remount\" makes no sense for a volume: %w", o, errdefs.ErrInvalid)
			}
			data = append(data, w)
		}
	}
	m.Data = strings.Join(data, ",")
	if m.Bind() {
		if !filepath.IsAbs(dev) {
			return nil, fmt.Errorf("option device=%q: a bind needs an absolute path: %w", dev, errdefs.ErrInvalid)
		}
		m.Source = filepath.Clean(dev)
	} else if typ == "none" {
		return nil, fmt.Errorf("type=none needs o=bind or o=rbind: %w", errdefs.ErrInvalid)
	}
	return m, nil
}

// Mount mounts what v's driver options ask for on its _data; it does
// nothing for a plain directory volume or one already mounted (it is
// idempotent, as each container start calls it). A failed mount leaves
// nothing mounted.
func Mount(v *Volume) error {
	m, err := v.MountSpec()
	if err != nil || m == nil {
		return err
	}
	mounted, err := isMountPoint(m.Target)
	if err != nil {
		return fmt.Errorf("mount volume %q: %w", v.Name, err)
	}
	if mounted {
		return nil
	}
	if err := m.mount(); err != nil {
		return fmt.Errorf("mount volume %q: %w", v.Name, err)
	}
	return nil
}

func (m *MountSpec) mount() (err error) {
	first := m.Flags
	data := m.Data
	if m.Bind() {
		// A bind ignores every flag but MS_REC; the others take a remount
		// (mount(8) and moby/sys/mount do the same).
		first = m.Flags & (unix.MS_BIND | unix.MS_REC)
		data = ""
	}
	if err := mountErr(m.Source, m.Target, m.FSType, first, data); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			unix.Unmount(m.Target, unix.MNT_DETACH)
		}
	}()
	if rest := m.Flags &^ (unix.MS_BIND | unix.MS_REC); m.Bind() && rest != 0 {
		if err := mountErr("", m.Target, "", unix.MS_BIND|unix.MS_REMOUNT|rest, ""); err != nil {
			return err
		}
	}
	if m.Propagation != 0 {
		if err := mountErr("", m.Target, "", m.Propagation, ""); err != nil {
			return err
		}
	}
	return nil
}

// mountErr is mount(2) with rootfs's MountError, a password in the data
// masked (cifs takes one in o, as docker masks it).
func mountErr(source, target, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return &rootfs.MountError{Op: "mount", Source: source, Target: target, FSType: fstype, Flags: flags, Data: maskPassword(data), Err: err}
	}
	return nil
}

func maskPassword(data string) string {
	words := strings.Split(data, ",")
	for i, w := range words {
		if strings.HasPrefix(w, "password=") {
			words[i] = "password=********"
		}
	}
	return strings.Join(words, ",")
}

// Unmount unmounts whatever is mounted on v's _data (it is idempotent). The
// caller unmounts when the last container using the volume is gone (see
// Store.InUse); a tmpfs volume's content is lost, as in docker.
func Unmount(v *Volume) error {
	if err := unmountAll(v.Mountpoint); err != nil {
		return fmt.Errorf("unmount volume %q: %w", v.Name, err)
	}
	return nil
}

// unmountAll detaches every mount stacked on p (docker's local driver
// detaches too, moby/sys/mount.Unmount). A missing p has none.
func unmountAll(p string) error {
	for range 64 {
		mounted, err := isMountPoint(p)
		if err != nil || !mounted {
			return err
		}
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && err != unix.EINVAL {
			return &rootfs.MountError{Op: "umount", Target: p, Err: err}
		}
	}
	return fmt.Errorf("umount %s: still mounted after 64 unmounts", p)
}

// isMountPoint reports whether p is the root of a mount. statx's
// STATX_ATTR_MOUNT_ROOT (Linux 5.8) sees a bind of a directory of the same
// filesystem, which comparing st_dev with the parent's would miss. A
// missing p is not one.
func isMountPoint(p string) (bool, error) {
	var stx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_TYPE, &stx)
	if err == unix.ENOENT {
		return false, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "statx", Path: p, Err: err}
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
	}
	mnts, err := mountsUnder(p)
	if err != nil {
		return false, err
	}
	for _, m := range mnts {
		if m == p {
			return true, nil
		}
	}
	return false, nil
}
