package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"stack/engine/container"
	"stack/engine/oci"
	"stack/volume"
)

// Mount describes one volume, bind or tmpfs mount of a new container.
type Mount struct {
	Type string // "volume", "bind" or "tmpfs"
	// Source is the volume's name ("" makes a new anonymous volume) or the
	// bind's host path (absolute).
	Source   string
	Target   string // absolute path in the container
	ReadOnly bool
	// NoCopy: do not fill an empty volume with the image's content at
	// Target (compose's volume.nocopy).
	NoCopy bool
	// Subpath mounts this directory of the volume (which must exist).
	Subpath string
	// Propagation of a bind: "" (rprivate), "private", "rshared", ...
	Propagation string
	// CreateHostPath makes a missing bind source as a directory (compose's
	// default); without it a missing source is an error.
	CreateHostPath bool
	TmpfsSize      int64  // bytes; 0: the kernel's default
	TmpfsMode      uint32 // 0: 1777
}

// Label docker puts on anonymous volumes.
const labelAnonymous = "com.docker.volume.anonymous"

// Init's mount option asking it to fill an empty volume with the image's
// content at the mount point before mounting it (see initproc).
const optCopyUp = "stack.copyup" // initproc.OptCopyUp

// Init's mount option naming the directory a bind's source must resolve
// beneath, without symlinks (a volume's subpath, which a container may
// have made a symlink): see initproc.OptBeneath.
const optBeneath = "stack.beneath="

// mounting is a new container's mounts, resolved at create.
type mounting struct {
	mounts   []container.Mount
	specOpts []oci.SpecOpt
	anon     []string // anonymous volumes made for it: removed if create fails
}

// resolveMounts resolves a new container's volumes, binds and tmpfs
// mounts, its volumes_from and the image's VOLUMEs (each one not covered
// by another mount gets an anonymous volume, or the one reuse names for
// its path). It makes the volumes that do not exist yet.
func (e *Engine) resolveMounts(opts *CreateOptions, imageVolumes map[string]struct{}) (*mounting, error) {
	mt := &mounting{}
	ok := false
	defer func() {
		if !ok {
			for _, name := range mt.anon {
				e.Vols.Remove(name)
			}
		}
	}()
	taken := map[string]bool{}
	var specMounts []specs.Mount
	add := func(m container.Mount, copyUp bool, beneath string) {
		taken[m.Target] = true
		mt.mounts = append(mt.mounts, m)
		o := []string{"rbind"}
		if m.ReadOnly {
			o = append(o, "ro")
		}
		o = append(o, cmp.Or(m.Propagation, "rprivate"))
		if copyUp {
			o = append(o, optCopyUp)
		}
		if beneath != "" {
			o = append(o, optBeneath+beneath)
		}
		specMounts = append(specMounts, specs.Mount{Destination: m.Target, Type: "bind", Source: m.Source, Options: o})
	}
	anonymous := func(target string) (*volume.Volume, error) {
		if name, ok := opts.ReuseVolumes[target]; ok {
			if v, err := e.Vols.Get(name); err == nil {
				return v, nil
			}
		}
		v, _, err := e.Vols.Create(volume.CreateOptions{Anonymous: true, Labels: map[string]string{labelAnonymous: ""}})
		if err != nil {
			return nil, err
		}
		mt.anon = append(mt.anon, v.Name)
		return v, nil
	}
	for _, m := range opts.Mounts {
		if !path.IsAbs(m.Target) {
			return nil, fmt.Errorf("invalid mount target %q: not an absolute path: %w", m.Target, ErrInvalid)
		}
		m.Target = path.Clean(m.Target)
		if taken[m.Target] {
			return nil, fmt.Errorf("duplicate mount point: %s: %w", m.Target, ErrInvalid)
		}
		switch m.Type {
		case "volume":
			var v *volume.Volume
			var err error
			if m.Source == "" {
				v, err = anonymous(m.Target)
			} else if v, err = e.Vols.Get(m.Source); errors.Is(err, ErrNotFound) {
				// docker run -v NAME:/path makes the volume
				v, _, err = e.Vols.Create(volume.CreateOptions{Name: m.Source})
			}
			if err != nil {
				return nil, fmt.Errorf("volume %s for %s: %w", cmp.Or(m.Source, "(anonymous)"), m.Target, err)
			}
			src := v.Mountpoint
			if m.Subpath != "" {
				if sp := filepath.Clean(m.Subpath); filepath.IsAbs(sp) || sp == ".." || strings.HasPrefix(sp, "../") {
					return nil, fmt.Errorf("volume %s: subpath %q must be relative and stay inside the volume: %w", v.Name, m.Subpath, ErrInvalid)
				}
				src = filepath.Join(v.Mountpoint, m.Subpath)
			}
			beneath := ""
			if m.Subpath != "" {
				beneath = v.Mountpoint // the init resolves the subpath inside it
			}
			add(container.Mount{Type: "volume", Name: v.Name, Source: src, Target: m.Target, ReadOnly: m.ReadOnly, Anonymous: v.Anonymous}, !m.NoCopy && m.Subpath == "", beneath)
		case "bind":
			if !filepath.IsAbs(m.Source) {
				return nil, fmt.Errorf("invalid bind source %q for %s: not an absolute path: %w", m.Source, m.Target, ErrInvalid)
			}
			if _, err := os.Stat(m.Source); errors.Is(err, os.ErrNotExist) {
				if !m.CreateHostPath {
					return nil, fmt.Errorf("invalid mount config for type \"bind\": bind source path does not exist: %s: %w", m.Source, ErrInvalid)
				}
				if err := os.MkdirAll(m.Source, 0o755); err != nil {
					return nil, fmt.Errorf("bind source %s: %w", m.Source, err)
				}
			} else if err != nil {
				return nil, fmt.Errorf("bind source %s: %w", m.Source, err)
			}
			switch m.Propagation {
			case "", "private", "rprivate", "shared", "rshared", "slave", "rslave":
			default:
				return nil, fmt.Errorf("invalid bind propagation %q for %s: %w", m.Propagation, m.Target, ErrInvalid)
			}
			add(container.Mount{Type: "bind", Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, Propagation: m.Propagation}, false, "")
		case "tmpfs":
			taken[m.Target] = true
			var o []string
			if m.TmpfsSize > 0 {
				o = append(o, "size="+strconv.FormatInt(m.TmpfsSize, 10))
			}
			if m.TmpfsMode != 0 {
				o = append(o, fmt.Sprintf("mode=%o", m.TmpfsMode))
			}
			if m.ReadOnly {
				o = append(o, "ro")
			}
			mt.specOpts = append(mt.specOpts, oci.WithTmpfs(m.Target, o))
		default:
			return nil, fmt.Errorf("invalid mount type %q for %s: %w", m.Type, m.Target, ErrInvalid)
		}
	}
	for _, ref := range opts.VolumesFrom {
		name, mode, _ := strings.Cut(ref, ":")
		if mode != "" && mode != "ro" && mode != "rw" {
			return nil, fmt.Errorf("volumes_from %q: mode must be ro or rw: %w", ref, ErrInvalid)
		}
		other, err := e.Get(name)
		if err != nil {
			return nil, fmt.Errorf("volumes_from %s: %w", name, err)
		}
		for _, m := range other.Config.Mounts {
			if taken[m.Target] {
				continue
			}
			switch mode {
			case "ro":
				m.ReadOnly = true
			case "rw":
				m.ReadOnly = false
			}
			m.Anonymous = false // the other container's, not removed with this one
			add(m, false, "")
		}
	}
	for _, target := range slices.Sorted(maps.Keys(imageVolumes)) {
		target = path.Clean(target)
		if taken[target] || !path.IsAbs(target) {
			continue
		}
		v, err := anonymous(target)
		if err != nil {
			return nil, fmt.Errorf("image volume %s: %w", target, err)
		}
		add(container.Mount{Type: "volume", Name: v.Name, Source: v.Mountpoint, Target: target, Anonymous: true}, true, "")
	}
	if len(specMounts) > 0 {
		mt.specOpts = append(mt.specOpts, oci.WithMounts(specMounts))
	}
	ok = true
	return mt, nil
}

// mountVolumes mounts what the driver options of c's volumes ask for
// (a tmpfs, a bind of a device...) before c starts. Idempotent.
func (e *Engine) mountVolumes(c *Container) error {
	for _, m := range c.Config.Mounts {
		if m.Type != "volume" {
			continue
		}
		v, err := e.Vols.Get(m.Name)
		if err != nil {
			return fmt.Errorf("container %q: volume %s: %w", c.Config.Name, m.Name, err)
		}
		if len(v.Options) == 0 {
			continue
		}
		if err := volume.Mount(v); err != nil {
			return fmt.Errorf("container %q: mount volume %s: %w", c.Config.Name, m.Name, err)
		}
	}
	return nil
}

// CreateVolume creates a named volume; one that exists is returned as it
// is (docker's create is idempotent).
func (e *Engine) CreateVolume(ctx context.Context, o volume.CreateOptions) (*volume.Volume, error) {
	v, _, err := e.Vols.Create(o)
	return v, err
}

// Volume finds a volume by name.
func (e *Engine) Volume(name string) (*volume.Volume, error) { return e.Vols.Get(name) }

// Volumes lists the volumes.
func (e *Engine) Volumes() ([]*volume.Volume, error) { return e.Vols.List() }

// VolumeUsers returns the containers, running or not, that mount volume
// name.
func (e *Engine) VolumeUsers(name string) ([]*Container, error) {
	cs, err := e.List(true)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(cs, func(c *Container) bool {
		return !slices.ContainsFunc(c.Config.Mounts, func(m container.Mount) bool { return m.Type == "volume" && m.Name == name })
	}), nil
}

// RemoveVolume removes a volume and its data, unless a container (running
// or not) uses it: only the user's explicit request (volume rm, down -v,
// rm -v, prune) ever gets here.
func (e *Engine) RemoveVolume(ctx context.Context, name string) error {
	lock, err := e.lock()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	return e.removeVolumeLocked(name)
}

func (e *Engine) removeVolumeLocked(name string) error {
	v, err := e.Vols.Get(name)
	if err != nil {
		return err
	}
	users, err := e.VolumeUsers(name)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		var ids []string
		for _, c := range users {
			ids = append(ids, c.Config.ID)
		}
		return fmt.Errorf("remove %s: volume is in use - [%s]: %w", name, strings.Join(ids, ", "), ErrInUse)
	}
	if len(v.Options) > 0 {
		if err := volume.Unmount(v); err != nil {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	return e.Vols.Remove(name)
}
