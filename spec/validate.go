package spec

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// validate checks what compose-go's consistency check does (which Load
// turns off), with errors that name the file, the service and the field,
// plus what docker compose checks later (unique container names, the
// targets of ipc/pid/volumes_from, port numbers). It does not look for
// dependency cycles: the planner does.
//
// A dependency marked required: false on a service that is not enabled or
// does not exist is dropped with a warning, where compose drops it silently
// (disabled) or fails (undefined).
func validate(p *types.Project, l *locator) (*types.Project, []string, error) {
	var warnings []string
	containerNames := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		fail := func(field, format string, args ...any) error { return l.errorf(name, field, format, args...) }

		if s.Build == nil && s.Image == "" {
			return nil, nil, fail("", "neither image nor build is set")
		}
		if b := s.Build; b != nil {
			if b.Dockerfile != "" && b.DockerfileInline != "" {
				return nil, nil, fail("build", "dockerfile and dockerfile_inline cannot both be set")
			}
			for _, k := range slices.Sorted(maps.Keys(b.AdditionalContexts)) {
				target, ok := strings.CutPrefix(b.AdditionalContexts[k], types.ServicePrefix)
				if !ok {
					continue
				}
				t, found := p.Services[target]
				if !found {
					t, found = p.DisabledServices[target]
				}
				switch {
				case !found:
					return nil, nil, fail("build.additional_contexts."+k, "undefined service %q", target)
				case t.Build == nil:
					return nil, nil, fail("build.additional_contexts."+k, "service %q has no build section", target)
				}
			}
			for i, sec := range b.Secrets {
				if _, ok := p.Secrets[sec.Source]; !ok {
					return nil, nil, fail(fmt.Sprintf("build.secrets[%d]", i), "secret %q is not declared under the top-level secrets", sec.Source)
				}
			}
		}
		if s.NetworkMode != "" && len(s.Networks) > 0 {
			return nil, nil, fail("network_mode", "network_mode and networks cannot both be set")
		}
		for _, n := range slices.Sorted(maps.Keys(s.Networks)) {
			if _, ok := p.Networks[n]; !ok {
				return nil, nil, fail("networks."+n, "network %q is not declared under the top-level networks", n)
			}
		}
		if hc := s.HealthCheck; hc != nil && len(hc.Test) > 0 {
			switch hc.Test[0] {
			case "CMD", "CMD-SHELL", "NONE":
			default:
				return nil, nil, fail("healthcheck.test", "must start with CMD, CMD-SHELL or NONE, not %q", hc.Test[0])
			}
		}

		for _, ns := range []struct{ field, value string }{{"network_mode", s.NetworkMode}, {"ipc", s.Ipc}, {"pid", s.Pid}} {
			if target, ok := strings.CutPrefix(ns.value, types.ServicePrefix); ok {
				if _, ok := p.Services[target]; !ok {
					return nil, nil, fail(ns.field, "service %q is not defined or not enabled", target)
				}
			}
		}
		for i, vf := range s.VolumesFrom {
			if strings.HasPrefix(vf, types.ContainerPrefix) {
				continue
			}
			target, _, _ := strings.Cut(vf, ":")
			if _, ok := p.Services[target]; !ok {
				return nil, nil, fail(fmt.Sprintf("volumes_from[%d]", i), "service %q is not defined or not enabled", target)
			}
		}

		for _, dep := range slices.Sorted(maps.Keys(s.DependsOn)) {
			cfg := s.DependsOn[dep]
			if _, ok := p.Services[dep]; ok {
				continue
			}
			_, disabled := p.DisabledServices[dep]
			what := fmt.Sprintf("service %q is not defined", dep)
			if disabled {
				what = fmt.Sprintf("service %q is not enabled by the active profiles (%s)", dep, strings.Join(p.DisabledServices[dep].Profiles, ", "))
			}
			if cfg.Required {
				return nil, nil, fail("depends_on."+dep, "%s", what)
			}
			warnings = append(warnings, fmt.Sprintf("%s: services.%s.depends_on.%s: %s; optional (required: false), ignored", l.fileOf("services", name, "depends_on", dep), name, dep, what))
			delete(s.DependsOn, dep)
		}
		for i, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				if _, ok := p.Volumes[v.Source]; !ok {
					return nil, nil, fail(fmt.Sprintf("volumes[%d]", i), "volume %q is not declared under the top-level volumes", v.Source)
				}
			}
		}
		for i, c := range s.Configs {
			if _, ok := p.Configs[c.Source]; !ok {
				return nil, nil, fail(fmt.Sprintf("configs[%d]", i), "config %q is not declared under the top-level configs", c.Source)
			}
		}
		for i, c := range s.Secrets {
			if _, ok := p.Secrets[c.Source]; !ok {
				return nil, nil, fail(fmt.Sprintf("secrets[%d]", i), "secret %q is not declared under the top-level secrets", c.Source)
			}
		}

		if s.Scale != nil && *s.Scale < 0 {
			return nil, nil, fail("scale", "must be 0 or more, not %d", *s.Scale)
		}
		if d := s.Deploy; d != nil {
			if d.Replicas != nil && *d.Replicas < 0 {
				return nil, nil, fail("deploy.replicas", "must be 0 or more, not %d", *d.Replicas)
			}
			if s.Scale != nil && d.Replicas != nil && *s.Scale != *d.Replicas {
				return nil, nil, fail("scale", "scale (%d) and deploy.replicas (%d) differ", *s.Scale, *d.Replicas)
			}
			if lim := d.Resources.Limits; lim != nil {
				if s.CPUS != 0 && lim.NanoCPUs != 0 && lim.NanoCPUs.Value() != s.CPUS {
					return nil, nil, fail("cpus", "cpus and deploy.resources.limits.cpus differ")
				}
				if s.MemLimit != 0 && lim.MemoryBytes != 0 && lim.MemoryBytes != s.MemLimit {
					return nil, nil, fail("mem_limit", "mem_limit and deploy.resources.limits.memory differ")
				}
				if s.PidsLimit != 0 && lim.Pids != 0 && lim.Pids != s.PidsLimit {
					return nil, nil, fail("pids_limit", "pids_limit and deploy.resources.limits.pids differ")
				}
			}
			if res := d.Resources.Reservations; res != nil && s.MemReservation != 0 && res.MemoryBytes != 0 && res.MemoryBytes != s.MemReservation {
				return nil, nil, fail("mem_reservation", "mem_reservation and deploy.resources.reservations.memory differ")
			}
		}
		if s.ContainerName != "" {
			if n := s.GetScale(); n > 1 {
				attr := "scale"
				if s.Scale == nil {
					attr = "deploy.replicas"
				}
				return nil, nil, fail("container_name", "container_name %q needs a single container, but %s is %d", s.ContainerName, attr, n)
			}
			if other, ok := containerNames[s.ContainerName]; ok {
				return nil, nil, fail("container_name", "container name %q is already used by service %q", s.ContainerName, other)
			}
			containerNames[s.ContainerName] = name
		}

		for i, port := range s.Ports {
			field := fmt.Sprintf("ports[%d]", i)
			if port.Target == 0 || port.Target > 65535 {
				return nil, nil, fail(field, "invalid target port %d: out of range (1-65535)", port.Target)
			}
			if err := checkPublished(port.Published); err != nil {
				return nil, nil, fail(field, "invalid published port %q: %v", port.Published, err)
			}
		}

		mounts := map[string]string{}
		for i, t := range s.Tmpfs {
			field := fmt.Sprintf("tmpfs[%d]", i)
			target, _, _ := strings.Cut(t, ":")
			if !path.IsAbs(target) {
				return nil, nil, fail(field, "target %q is not an absolute path", target)
			}
			if other, ok := mounts[target]; ok {
				return nil, nil, fail(field, "%s is already mounted by %s", target, other)
			}
			mounts[target] = field
		}
		for i, v := range s.Volumes {
			field := fmt.Sprintf("volumes[%d]", i)
			if !path.IsAbs(v.Target) && v.Type != types.VolumeTypeNamedPipe {
				return nil, nil, fail(field, "target %q is not an absolute path", v.Target)
			}
			if other, ok := mounts[v.Target]; ok {
				return nil, nil, fail(field, "%s is already mounted by %s", v.Target, other)
			}
			mounts[v.Target] = field
		}
		p.Services[name] = s
	}

	for _, name := range slices.Sorted(maps.Keys(p.Secrets)) {
		if sec := p.Secrets[name]; !sec.External && sec.File == "" && sec.Environment == "" {
			return nil, nil, l.wrap("", "secrets."+name, errors.New("either file or environment must be set"))
		}
	}
	return p, warnings, nil
}

// checkPublished checks a published port: empty (ephemeral), a number or
// a range.
func checkPublished(s string) error {
	if s == "" {
		return nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	for _, v := range []string{lo, hi} {
		if !isRange && v == hi {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return errors.New("not a number")
		}
		if n < 1 || n > 65535 {
			return errors.New("out of range (1-65535)")
		}
	}
	if isRange {
		a, _ := strconv.Atoi(lo)
		b, _ := strconv.Atoi(hi)
		if a > b {
			return errors.New("the range ends before it starts")
		}
	}
	return nil
}
