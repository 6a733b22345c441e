package spec

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// converted lists the compose attributes convert turns into stack's types,
// as compose-go tree paths ("*" any key, "[]" any list item). A path ending
// in ".**" accepts everything below it. Anything in the model that is
// neither here nor in the unsupported table is reported as unsupported, so
// an attribute a newer compose-spec adds is never dropped silently.
var converted = []string{
	"name",
	"version",    // obsolete: Load warns, compose-go drops it
	"include.**", // applied by the loader
	"services", "services.*",
	"services.*.annotations.**",
	"services.*.attach",
	"services.*.build",
	"services.*.build.additional_contexts.**",
	"services.*.build.args.**",
	"services.*.build.context",
	"services.*.build.dockerfile",
	"services.*.build.dockerfile_inline",
	"services.*.build.labels.**",
	"services.*.build.no_cache",
	"services.*.build.pull",
	"services.*.build.secrets.**",
	"services.*.build.tags.**",
	"services.*.build.target",
	"services.*.cap_add.**",
	"services.*.cap_drop.**",
	"services.*.command.**",
	"services.*.configs.**",
	"services.*.container_name",
	"services.*.cpu_shares",
	"services.*.cpus",
	"services.*.cpuset",
	"services.*.depends_on.**",
	"services.*.deploy",
	"services.*.deploy.mode",
	"services.*.deploy.replicas",
	"services.*.deploy.resources",
	"services.*.deploy.resources.limits",
	"services.*.deploy.resources.limits.cpus",
	"services.*.deploy.resources.limits.memory",
	"services.*.deploy.resources.limits.pids",
	"services.*.deploy.resources.reservations",
	"services.*.deploy.resources.reservations.memory",
	"services.*.deploy.restart_policy",
	"services.*.deploy.restart_policy.condition",
	"services.*.deploy.restart_policy.max_attempts",
	"services.*.dns.**",
	"services.*.dns_opt.**",
	"services.*.dns_search.**",
	"services.*.domainname",
	"services.*.entrypoint.**",
	"services.*.env_file.**",
	"services.*.environment.**",
	"services.*.expose.**",
	"services.*.extends.**", // applied by the loader
	"services.*.external_links.**",
	"services.*.extra_hosts.**",
	"services.*.group_add.**",
	"services.*.healthcheck.**",
	"services.*.hostname",
	"services.*.image",
	"services.*.init",
	"services.*.ipc",
	"services.*.label_file.**", // read into labels
	"services.*.labels.**",
	"services.*.links.**",
	"services.*.logging",
	"services.*.logging.driver",
	"services.*.logging.options.**",
	"services.*.mem_limit",
	"services.*.mem_reservation",
	"services.*.memswap_limit",
	"services.*.network_mode",
	"services.*.networks",
	"services.*.networks.*",
	"services.*.networks.*.aliases.**",
	"services.*.networks.*.ipv4_address",
	"services.*.networks.*.ipv6_address",
	"services.*.networks.*.priority",
	"services.*.pid",
	"services.*.pids_limit",
	"services.*.platform",
	"services.*.ports",
	"services.*.ports.[].host_ip",
	"services.*.ports.[].mode",
	"services.*.ports.[].name",
	"services.*.ports.[].protocol",
	"services.*.ports.[].published",
	"services.*.ports.[].target",
	"services.*.privileged",
	"services.*.profiles.**",
	"services.*.pull_policy",
	"services.*.read_only",
	"services.*.restart",
	"services.*.scale",
	"services.*.secrets.**",
	"services.*.security_opt.**",
	"services.*.shm_size",
	"services.*.stdin_open",
	"services.*.stop_grace_period",
	"services.*.stop_signal",
	"services.*.sysctls.**",
	"services.*.tmpfs.**",
	"services.*.tty",
	"services.*.ulimits.**",
	"services.*.user",
	"services.*.volumes",
	"services.*.volumes.[].bind",
	"services.*.volumes.[].bind.create_host_path",
	"services.*.volumes.[].bind.propagation",
	"services.*.volumes.[].bind.selinux",
	"services.*.volumes.[].consistency",
	"services.*.volumes.[].read_only",
	"services.*.volumes.[].source",
	"services.*.volumes.[].target",
	"services.*.volumes.[].tmpfs",
	"services.*.volumes.[].tmpfs.mode",
	"services.*.volumes.[].tmpfs.size",
	"services.*.volumes.[].type",
	"services.*.volumes.[].volume",
	"services.*.volumes.[].volume.nocopy",
	"services.*.volumes.[].volume.subpath",
	"services.*.volumes_from.**",
	"services.*.working_dir",

	"networks", "networks.*",
	"networks.*.attachable",
	"networks.*.driver",
	"networks.*.driver_opts.**",
	"networks.*.enable_ipv6",
	"networks.*.external.**",
	"networks.*.internal",
	"networks.*.ipam",
	"networks.*.ipam.config",
	"networks.*.ipam.config.[].gateway",
	"networks.*.ipam.config.[].ip_range",
	"networks.*.ipam.config.[].subnet",
	"networks.*.ipam.driver",
	"networks.*.labels.**",
	"networks.*.name",

	"volumes", "volumes.*",
	"volumes.*.driver",
	"volumes.*.driver_opts.**",
	"volumes.*.external.**",
	"volumes.*.labels.**",
	"volumes.*.name",

	"configs", "configs.*",
	"configs.*.content",
	"configs.*.environment",
	"configs.*.external.**",
	"configs.*.file",
	"configs.*.labels.**",
	"configs.*.name",

	"secrets", "secrets.*",
	"secrets.*.environment",
	"secrets.*.external.**",
	"secrets.*.file",
	"secrets.*.labels.**",
	"secrets.*.name",
}

// convert turns compose-go's project (validated, env files read) into
// ours, field by field. Every field of types.ServiceConfig is either read
// here or listed in the unsupported table (convert_test.go checks).
func convert(cp *types.Project, l *locator) *Project {
	p := &Project{
		Name:        cp.Name,
		WorkingDir:  cp.WorkingDir,
		ConfigFiles: slices.Clone(cp.ComposeFiles),
		Environment: maps.Clone(map[string]string(cp.Environment)),
		Profiles:    slices.DeleteFunc(slices.Clone(cp.Profiles), func(s string) bool { return s == "" }),
	}
	profiles := map[string]bool{}
	for _, s := range cp.AllServices() {
		for _, pr := range s.Profiles {
			profiles[pr] = true
		}
	}
	p.AllProfiles = slices.Sorted(maps.Keys(profiles))
	p.DisabledServices = slices.Sorted(maps.Keys(cp.DisabledServices))

	for _, name := range slices.Sorted(maps.Keys(cp.Services)) {
		p.Services = append(p.Services, convertService(cp.Services[name]))
	}
	for _, key := range slices.Sorted(maps.Keys(cp.Networks)) {
		p.Networks = append(p.Networks, convertNetwork(key, cp.Networks[key]))
	}
	for _, key := range slices.Sorted(maps.Keys(cp.Volumes)) {
		v := cp.Volumes[key]
		driver := v.Driver
		if driver != "local" {
			driver = "" // warned about: the local driver is used
		}
		p.Volumes = append(p.Volumes, &Volume{
			Key:        key,
			Name:       v.Name,
			Driver:     driver,
			DriverOpts: cloneMap(v.DriverOpts),
			External:   bool(v.External),
			Labels:     cloneMap(v.Labels),
		})
	}
	var warnings []string
	for _, key := range slices.Sorted(maps.Keys(cp.Configs)) {
		o, w := convertFileObject(key, types.FileObjectConfig(cp.Configs[key]), "configs", l)
		p.Configs = append(p.Configs, o)
		warnings = append(warnings, w...)
	}
	for _, key := range slices.Sorted(maps.Keys(cp.Secrets)) {
		o, w := convertFileObject(key, types.FileObjectConfig(cp.Secrets[key]), "secrets", l)
		p.Secrets = append(p.Secrets, o)
		warnings = append(warnings, w...)
	}
	// each reference carries its object's digest, each network its name
	for _, s := range p.Services {
		for i, sn := range s.Networks {
			if n, ok := p.Network(sn.Key); ok {
				s.Networks[i].Name = n.Name
			}
		}
		for i, m := range s.Volumes {
			if m.Type == MountVolume && m.Source != "" {
				if v, ok := p.Volume(m.Source); ok {
					s.Volumes[i].Name = v.Name
				}
			}
		}
		setDigests(s.Configs, p.Configs)
		setDigests(s.Secrets, p.Secrets)
		if s.Build != nil {
			setDigests(s.Build.Secrets, p.Secrets)
		}
	}
	p.Warnings = warnings
	return p
}

func convertService(s types.ServiceConfig) *Service {
	out := &Service{
		Name:          s.Name,
		Image:         s.Image,
		Build:         convertBuild(s.Build),
		PullPolicy:    s.PullPolicy,
		Platform:      s.Platform,
		Entrypoint:    cloneCommand(s.Entrypoint),
		Command:       cloneCommand(s.Command),
		WorkingDir:    s.WorkingDir,
		User:          s.User,
		GroupAdd:      cloneSlice(s.GroupAdd),
		Environment:   environment(s.Environment),
		Labels:        cloneMap(s.Labels),
		Annotations:   cloneMap(s.Annotations),
		ContainerName: s.ContainerName,
		Hostname:      s.Hostname,
		Domainname:    s.DomainName,
		Replicas:      s.GetScale(),
		Restart:       s.Restart,
		Attach:        s.Attach == nil || *s.Attach,
		NetworkMode:   s.NetworkMode,
		DNS:           cloneSlice(s.DNS),
		DNSSearch:     cloneSlice(s.DNSSearch),
		DNSOpt:        cloneSlice(s.DNSOpts),
		Links:         cloneSlice(s.Links),
		ExternalLinks: cloneSlice(s.ExternalLinks),
		Tmpfs:         cloneSlice(s.Tmpfs),
		VolumesFrom:   cloneSlice(s.VolumesFrom),
		ReadOnly:      s.ReadOnly,
		ShmSize:       int64(s.ShmSize),
		Privileged:    s.Privileged,
		CapAdd:        cloneSlice(s.CapAdd),
		CapDrop:       cloneSlice(s.CapDrop),
		SecurityOpt:   cloneSlice(s.SecurityOpt),
		Sysctls:       cloneMap(s.Sysctls),
		IPC:           s.Ipc,
		PID:           s.Pid,
		StopSignal:    s.StopSignal,
		Tty:           s.Tty,
		StdinOpen:     s.StdinOpen,
		// compose-go keeps cpus as a float32: go through its decimal form
		// so that 1.1 stays 1.1
		CPUs:           float32To64(s.CPUS),
		CPUShares:      s.CPUShares,
		CPUSet:         s.CPUSet,
		MemLimit:       int64(s.MemLimit),
		MemReservation: int64(s.MemReservation),
		MemSwapLimit:   int64(s.MemSwapLimit),
		PidsLimit:      s.PidsLimit,
		Profiles:       cloneSlice(s.Profiles),
	}
	if s.Init != nil {
		v := *s.Init
		out.Init = &v
	}
	if s.StopGracePeriod != nil {
		d := time.Duration(*s.StopGracePeriod)
		out.StopGracePeriod = &d
	}
	for _, f := range s.EnvFiles {
		out.EnvFiles = append(out.EnvFiles, EnvFile{Path: f.Path, Required: bool(f.Required), Format: f.Format})
	}
	if d := s.Deploy; d != nil {
		// docker compose (create.go): deploy.resources and
		// deploy.restart_policy win over the service keys
		if lim := d.Resources.Limits; lim != nil {
			if lim.MemoryBytes != 0 {
				out.MemLimit = int64(lim.MemoryBytes)
			}
			if lim.NanoCPUs != 0 {
				out.CPUs = float32To64(lim.NanoCPUs.Value())
			}
			if lim.Pids != 0 {
				out.PidsLimit = lim.Pids
			}
		}
		if res := d.Resources.Reservations; res != nil && res.MemoryBytes != 0 {
			out.MemReservation = int64(res.MemoryBytes)
		}
		if rp := d.RestartPolicy; rp != nil {
			out.Restart = restartFromDeploy(rp)
		}
	}
	if len(s.Ulimits) > 0 {
		out.Ulimits = map[string]Ulimit{}
		for k, u := range s.Ulimits {
			if u.Single != 0 {
				out.Ulimits[k] = Ulimit{Soft: int64(u.Single), Hard: int64(u.Single)}
			} else {
				out.Ulimits[k] = Ulimit{Soft: int64(u.Soft), Hard: int64(u.Hard)}
			}
		}
	}
	for _, p := range s.Ports {
		if !supportedProtocol(p.Protocol) {
			continue // warned about (unsupported table)
		}
		out.Ports = append(out.Ports, Port{
			Name:      p.Name,
			Mode:      p.Mode,
			HostIP:    p.HostIP,
			Target:    uint16(p.Target), // validate checked the range
			Published: p.Published,
			Protocol:  p.Protocol,
		})
	}
	out.Expose = cloneSlice(s.Expose)
	for _, v := range s.Volumes {
		if m, ok := convertMount(v); ok {
			out.Volumes = append(out.Volumes, m)
		}
	}
	for _, key := range s.NetworksByPriority() {
		n := ServiceNetwork{Key: key}
		if c := s.Networks[key]; c != nil {
			n.Aliases = cloneSlice(c.Aliases)
			n.IPv4Address = c.Ipv4Address
			n.IPv6Address = c.Ipv6Address
			n.Priority = c.Priority
		}
		out.Networks = append(out.Networks, n)
	}
	if len(s.ExtraHosts) > 0 {
		out.ExtraHosts = s.ExtraHosts.AsList(":")
		slices.Sort(out.ExtraHosts)
	}
	for _, name := range slices.Sorted(maps.Keys(s.DependsOn)) {
		d := s.DependsOn[name]
		out.DependsOn = append(out.DependsOn, Dependency{
			Service:   name,
			Condition: cmp.Or(d.Condition, ConditionStarted),
			Required:  d.Required,
			Restart:   d.Restart,
		})
	}
	if hc := s.HealthCheck; hc != nil {
		h := &Healthcheck{
			Test:    cloneSlice([]string(hc.Test)),
			Disable: hc.Disable || len(hc.Test) > 0 && hc.Test[0] == "NONE",
		}
		h.Interval = duration(hc.Interval)
		h.Timeout = duration(hc.Timeout)
		h.StartPeriod = duration(hc.StartPeriod)
		h.StartInterval = duration(hc.StartInterval)
		if hc.Retries != nil {
			h.Retries = int(*hc.Retries)
		}
		out.Healthcheck = h
	}
	for _, c := range s.Configs {
		out.Configs = append(out.Configs, fileRef(types.FileReferenceConfig(c), "/"))
	}
	for _, c := range s.Secrets {
		out.Secrets = append(out.Secrets, fileRef(types.FileReferenceConfig(c), "/run/secrets/"))
	}
	if lg := s.Logging; lg != nil {
		out.Logging = &Logging{Driver: lg.Driver, Options: cloneMap(lg.Options)}
		if out.Logging.Driver != "json-file" {
			out.Logging.Driver = "" // warned about: the engine keeps json-file logs
		}
	}
	return out
}

// restartFromDeploy maps deploy.restart_policy as docker compose does
// (mapRestartPolicyCondition): none → no, any → always.
func restartFromDeploy(rp *types.RestartPolicy) string {
	switch rp.Condition {
	case "none", "no":
		return "no"
	case "any", "always":
		return "always"
	case "on-failure":
		if rp.MaxAttempts != nil && *rp.MaxAttempts > 0 {
			return "on-failure:" + strconv.FormatUint(*rp.MaxAttempts, 10)
		}
		return "on-failure"
	}
	return rp.Condition
}

func supportedProtocol(p string) bool { return p == "" || p == "tcp" || p == "udp" }

func convertBuild(b *types.BuildConfig) *Build {
	if b == nil {
		return nil
	}
	out := &Build{
		Context:            b.Context,
		Dockerfile:         b.Dockerfile,
		DockerfileInline:   b.DockerfileInline,
		Args:               resolvedMap(b.Args),
		Target:             b.Target,
		Labels:             cloneMap(b.Labels),
		Tags:               cloneSlice(b.Tags),
		NoCache:            b.NoCache,
		Pull:               b.Pull,
		AdditionalContexts: cloneMap(b.AdditionalContexts),
	}
	if out.DockerfileInline != "" {
		out.Dockerfile = ""
	}
	for _, s := range b.Secrets {
		out.Secrets = append(out.Secrets, fileRef(types.FileReferenceConfig(s), ""))
	}
	return out
}

// convertMount converts one volumes entry; npipe, image and cluster mounts
// are dropped (the unsupported table warns about them).
func convertMount(v types.ServiceVolumeConfig) (Mount, bool) {
	m := Mount{Type: v.Type, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly, Consistency: v.Consistency}
	switch v.Type {
	case MountBind:
		m.Bind = &BindOptions{CreateHostPath: true}
		if b := v.Bind; b != nil {
			m.Bind = &BindOptions{Propagation: b.Propagation, CreateHostPath: bool(b.CreateHostPath), SELinux: b.SELinux}
		}
	case MountVolume:
		if o := v.Volume; o != nil && (o.NoCopy || o.Subpath != "") {
			m.Volume = &VolumeOptions{NoCopy: o.NoCopy, Subpath: o.Subpath}
		}
	case MountTmpfs:
		if o := v.Tmpfs; o != nil && (o.Size != 0 || o.Mode != 0) {
			m.Tmpfs = &TmpfsOptions{Size: int64(o.Size), Mode: o.Mode}
		}
	default:
		return Mount{}, false
	}
	return m, true
}

func convertNetwork(key string, n types.NetworkConfig) *Network {
	out := &Network{
		Key:        key,
		Name:       n.Name,
		Driver:     n.Driver,
		DriverOpts: cloneMap(n.DriverOpts),
		Internal:   n.Internal,
		Attachable: n.Attachable,
		EnableIPv6: n.EnableIPv6 != nil && *n.EnableIPv6,
		External:   bool(n.External),
		Labels:     cloneMap(n.Labels),
		IPAM:       IPAM{Driver: n.Ipam.Driver},
	}
	// values the unsupported table warns about are ignored, not passed on
	if out.Driver != "bridge" {
		out.Driver = ""
	}
	if out.IPAM.Driver != "default" {
		out.IPAM.Driver = ""
	}
	for _, c := range n.Ipam.Config {
		if c != nil {
			out.IPAM.Config = append(out.IPAM.Config, IPAMPool{Subnet: c.Subnet, IPRange: c.IPRange, Gateway: c.Gateway})
		}
	}
	return out
}

// convertFileObject converts a top-level config or secret and computes the
// digest of its content.
func convertFileObject(key string, o types.FileObjectConfig, kind string, l *locator) (*FileObject, []string) {
	out := &FileObject{
		Key:         key,
		Name:        o.Name,
		File:        o.File,
		Environment: o.Environment,
		Content:     o.Content,
		External:    bool(o.External),
		Labels:      cloneMap(o.Labels),
	}
	var warnings []string
	switch {
	case out.External:
	case out.File != "":
		d, err := digestPath(out.File)
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			err = fmt.Errorf("%s: %w", l.rel(pe.Path), pe.Err)
		}
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("%s: %s.%s.file: %v", l.fileOf(kind, key, "file"), kind, key, err))
		}
		out.Digest = d
	case out.Content != "" || out.Environment == "":
		out.Digest = digestBytes([]byte(out.Content))
	default:
		if _, ok := l.env[out.Environment]; !ok {
			warnings = append(warnings, fmt.Sprintf("%s: %s.%s.environment: variable %s is not set", l.fileOf(kind, key), kind, key, out.Environment))
		} else {
			out.Digest = digestBytes([]byte(out.Content))
		}
	}
	return out, warnings
}

func setDigests(refs []FileRef, objs []*FileObject) {
	for i := range refs {
		for _, o := range objs {
			if o.Key == refs[i].Source {
				refs[i].Digest = o.Digest
			}
		}
	}
}

func digestBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// digestPath is the digest of a file's content, or of a directory tree
// (each entry's relative path, mode and content, in lexical order).
func digestPath(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		return digestBytes(b), nil
	}
	h := sha256.New()
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%o\x00", rel, info.Mode())
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%d\x00", len(b))
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// fileRef converts a service's config or secret reference. dir is where a
// relative or missing target goes ("" for a build secret, whose target is
// its id).
func fileRef(c types.FileReferenceConfig, dir string) FileRef {
	r := FileRef{Source: c.Source, Target: c.Target, UID: c.UID, GID: c.GID}
	if c.Mode != nil {
		m := uint32(*c.Mode)
		r.Mode = &m
	}
	if dir != "" {
		switch {
		case r.Target == "":
			r.Target = dir + r.Source
		case !strings.HasPrefix(r.Target, "/"):
			r.Target = dir + r.Target
		}
	}
	return r
}

// environment turns a resolved environment into sorted "KEY=VALUE"
// entries; an entry without a value is dropped, as docker drops a variable
// the client does not have.
func environment(m types.MappingWithEquals) []string {
	if len(m) == 0 {
		return nil
	}
	var out []string
	for k, v := range m {
		if v != nil {
			out = append(out, k+"="+*v)
		}
	}
	slices.Sort(out)
	return out
}

func resolvedMap(m types.MappingWithEquals) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func duration(d *types.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return time.Duration(*d)
}

func float32To64(f float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	return v
}

func cloneCommand(c types.ShellCommand) []string {
	if c == nil {
		return nil
	}
	return append([]string{}, c...)
}

func cloneSlice[S ~[]E, E any](s S) []E {
	if len(s) == 0 {
		return nil
	}
	return append([]E(nil), s...)
}

func cloneMap[M ~map[string]string](m M) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(map[string]string(m))
}
