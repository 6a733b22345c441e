package engine

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"stack/engine/container"
	"stack/engine/oci"
)

// InspectInfo is a container as `docker container inspect` shows one element
// of its array: the same field names and shapes, so that scripts and
// templates written for docker (`{{.State.Pid}}`, `.HostConfig.Memory`) work
// unchanged. Fields docker has and stack does not (NetworkSettings,
// GraphDriver, ExecIDs, ...) are left out rather than faked.
type InspectInfo struct {
	ID             string         `json:"Id"`
	Created        string         `json:"Created"`
	Path           string         `json:"Path"`
	Args           []string       `json:"Args"`
	State          InspectState   `json:"State"`
	Image          string         `json:"Image"`
	ResolvConfPath string         `json:"ResolvConfPath"`
	HostnamePath   string         `json:"HostnamePath"`
	HostsPath      string         `json:"HostsPath"`
	LogPath        string         `json:"LogPath"`
	Name           string         `json:"Name"`
	RestartCount   int            `json:"RestartCount"`
	Driver         string         `json:"Driver"`
	Platform       string         `json:"Platform"`
	HostConfig     InspectHost    `json:"HostConfig"`
	Mounts         []InspectMount `json:"Mounts"`
	Config         InspectConfig  `json:"Config"`
	// NetworkSettings: its endpoints and, while it runs, its published
	// ports.
	NetworkSettings InspectNetworkSettings `json:"NetworkSettings"`
}

// InspectNetworkSettings is docker's NetworkSettings.
type InspectNetworkSettings struct {
	Ports    map[string][]InspectPortBinding `json:"Ports"`
	Networks map[string]InspectEndpoint      `json:"Networks"`
}

// InspectPortBinding is docker's PortBinding.
type InspectPortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// InspectEndpoint is docker's EndpointSettings.
type InspectEndpoint struct {
	Aliases     []string `json:"Aliases"`
	NetworkID   string   `json:"NetworkID"`
	EndpointID  string   `json:"EndpointID"`
	Gateway     string   `json:"Gateway"`
	IPAddress   string   `json:"IPAddress"`
	IPPrefixLen int      `json:"IPPrefixLen"`
	MacAddress  string   `json:"MacAddress"`
	DNSNames    []string `json:"DNSNames"`
}

// InspectState is docker's ContainerState.
type InspectState struct {
	Status     string         `json:"Status"`
	Running    bool           `json:"Running"`
	Paused     bool           `json:"Paused"`
	Restarting bool           `json:"Restarting"`
	OOMKilled  bool           `json:"OOMKilled"`
	Dead       bool           `json:"Dead"`
	Pid        int            `json:"Pid"`
	ExitCode   int            `json:"ExitCode"`
	Error      string         `json:"Error"`
	StartedAt  string         `json:"StartedAt"`
	FinishedAt string         `json:"FinishedAt"`
	Health     *InspectHealth `json:"Health,omitempty"`
}

// InspectHealth is docker's Health: the healthcheck's status and its last
// probes.
type InspectHealth struct {
	Status        string               `json:"Status"`
	FailingStreak int                  `json:"FailingStreak"`
	Log           []InspectHealthProbe `json:"Log"`
}

// InspectHealthProbe is docker's HealthcheckResult.
type InspectHealthProbe struct {
	Start    string `json:"Start"`
	End      string `json:"End"`
	ExitCode int    `json:"ExitCode"`
	Output   string `json:"Output"`
}

// InspectHost is the part of docker's HostConfig that stack has. Limits are
// read back from the OCI spec the container runs with, so they show what is
// applied, in docker's units (bytes, nano-CPUs, microseconds).
type InspectHost struct {
	NetworkMode       string               `json:"NetworkMode"`
	RestartPolicy     InspectRestartPolicy `json:"RestartPolicy"`
	AutoRemove        bool                 `json:"AutoRemove"`
	CapAdd            []string             `json:"CapAdd"`
	CapDrop           []string             `json:"CapDrop"`
	Privileged        bool                 `json:"Privileged"`
	ReadonlyRootfs    bool                 `json:"ReadonlyRootfs"`
	SecurityOpt       []string             `json:"SecurityOpt"`
	Tmpfs             map[string]string    `json:"Tmpfs,omitempty"`
	ShmSize           int64                `json:"ShmSize"`
	Sysctls           map[string]string    `json:"Sysctls,omitempty"`
	CpuShares         int64                `json:"CpuShares"`
	Memory            int64                `json:"Memory"`
	NanoCpus          int64                `json:"NanoCpus"`
	CpuPeriod         int64                `json:"CpuPeriod"`
	CpuQuota          int64                `json:"CpuQuota"`
	CpusetCpus        string               `json:"CpusetCpus"`
	CpusetMems        string               `json:"CpusetMems"`
	MemoryReservation int64                `json:"MemoryReservation"`
	MemorySwap        int64                `json:"MemorySwap"`
	PidsLimit         *int64               `json:"PidsLimit"`
	Ulimits           []InspectUlimit      `json:"Ulimits"`
	LogConfig         InspectLogConfig     `json:"LogConfig"`
}

// InspectRestartPolicy is docker's RestartPolicy.
type InspectRestartPolicy struct {
	Name              string `json:"Name"`
	MaximumRetryCount int    `json:"MaximumRetryCount"`
}

// InspectUlimit is docker's Ulimit (go-units), -1 meaning unlimited.
type InspectUlimit struct {
	Name string `json:"Name"`
	Hard int64  `json:"Hard"`
	Soft int64  `json:"Soft"`
}

// InspectLogConfig is docker's LogConfig; the driver is always json-file.
type InspectLogConfig struct {
	Type   string            `json:"Type"`
	Config map[string]string `json:"Config"`
}

// InspectMount is docker's MountPoint.
type InspectMount struct {
	Type        string `json:"Type"`
	Name        string `json:"Name,omitempty"`
	Driver      string `json:"Driver,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	Mode        string `json:"Mode"`
	RW          bool   `json:"RW"`
	Propagation string `json:"Propagation"`
}

// InspectConfig is the part of docker's container Config that stack has.
type InspectConfig struct {
	Hostname    string            `json:"Hostname"`
	Domainname  string            `json:"Domainname"`
	User        string            `json:"User"`
	Tty         bool              `json:"Tty"`
	OpenStdin   bool              `json:"OpenStdin"`
	Env         []string          `json:"Env"`
	Cmd         []string          `json:"Cmd"`
	Image       string            `json:"Image"`
	WorkingDir  string            `json:"WorkingDir"`
	Entrypoint  []string          `json:"Entrypoint"`
	Labels      map[string]string `json:"Labels"`
	StopSignal  string            `json:"StopSignal,omitempty"`
	StopTimeout *int              `json:"StopTimeout,omitempty"`
}

// Inspect describes a container (by name, full ID or unique ID prefix) as
// docker container inspect does. It reads the records only; it does not talk
// to the shim, so it works on any container, running or not.
func (e *Engine) Inspect(ref string) (*InspectInfo, error) {
	c, err := e.Get(ref)
	if err != nil {
		return nil, err
	}
	return inspect(c, e.paths(c.Config.ID)), nil
}

// dockerTime formats t as docker does in inspect: RFC 3339 with
// nanoseconds, in UTC; the zero time is "0001-01-01T00:00:00Z".
func dockerTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// etcFiles are the per-container files bound over the image's; docker lists
// them as ResolvConfPath, HostnamePath and HostsPath, not as Mounts.
var etcFiles = []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}

// inspect builds the InspectInfo of c, whose files are at p. It is pure, so
// tests build a Container by hand.
func inspect(c *Container, p container.Paths) *InspectInfo {
	cfg, st := c.Config, c.State
	spec := cfg.Spec
	if spec == nil {
		spec = &specs.Spec{}
	}
	proc := spec.Process
	if proc == nil {
		proc = &specs.Process{}
	}
	info := &InspectInfo{
		ID:             cfg.ID,
		Created:        dockerTime(cfg.Created),
		Args:           []string{},
		State:          inspectState(st),
		Image:          cfg.Image,
		ResolvConfPath: p.ResolvConf(),
		HostnamePath:   p.Hostname(),
		HostsPath:      p.Hosts(),
		LogPath:        p.Log(),
		Name:           "/" + cfg.Name,
		RestartCount:   st.RestartCount,
		Driver:         "overlay",
		Platform:       "linux",
		HostConfig:     inspectHost(cfg, spec),
		Mounts:         inspectMounts(spec.Mounts, cfg.Mounts),
		Config: InspectConfig{
			Hostname:    spec.Hostname,
			Domainname:  spec.Domainname,
			User:        proc.User.Username,
			Tty:         proc.Terminal,
			OpenStdin:   cfg.OpenStdin,
			Env:         slices.Clone(proc.Env),
			Cmd:         slices.Clone(cfg.Cmd),
			Image:       cfg.ImageName,
			WorkingDir:  proc.Cwd,
			Entrypoint:  slices.Clone(cfg.Entrypoint),
			Labels:      maps.Clone(cfg.Labels),
			StopSignal:  cfg.StopSignal,
			StopTimeout: cfg.StopTimeout,
		},
	}
	if info.Config.Labels == nil {
		info.Config.Labels = map[string]string{}
	}
	info.NetworkSettings = inspectNetwork(cfg, st)
	if len(proc.Args) > 0 {
		info.Path = proc.Args[0]
		info.Args = slices.Clone(proc.Args[1:])
	}
	if info.Config.Env == nil {
		info.Config.Env = []string{}
	}
	return info
}

func inspectState(st *container.State) InspectState {
	s := InspectState{
		Status:     string(st.Status),
		Paused:     st.Status == container.Paused,
		Restarting: st.Status == container.Restarting,
		OOMKilled:  st.OOMKilled,
		Dead:       st.Status == container.Dead,
		Pid:        st.Pid,
		ExitCode:   st.ExitCode,
		Error:      st.Error,
		StartedAt:  dockerTime(st.StartedAt),
		FinishedAt: dockerTime(st.FinishedAt),
	}
	if s.Status == "" {
		s.Status = string(container.Created)
	}
	// Docker counts a paused or restarting container as running (moby
	// container/state.go: SetRestarting keeps Running true), and so do
	// scripts that test .State.Running.
	switch st.Status {
	case container.Running, container.Paused, container.Restarting:
		s.Running = true
	}
	if h := st.Health; h != nil {
		ih := &InspectHealth{Status: h.Status, FailingStreak: h.FailingStreak, Log: []InspectHealthProbe{}}
		for _, pr := range h.Log {
			ih.Log = append(ih.Log, InspectHealthProbe{
				Start:    dockerTime(pr.Start),
				End:      dockerTime(pr.End),
				ExitCode: pr.ExitCode,
				Output:   pr.Output,
			})
		}
		s.Health = ih
	}
	return s
}

func inspectHost(cfg *container.Config, spec *specs.Spec) InspectHost {
	h := InspectHost{
		NetworkMode:   cfg.NetworkMode,
		RestartPolicy: InspectRestartPolicy{Name: cfg.Restart.Name, MaximumRetryCount: cfg.Restart.MaxRetries},
		AutoRemove:    cfg.AutoRemove,
		Privileged:    spec.Annotations[oci.AnnotationPrivileged] == "true",
		ShmSize:       oci.DefaultShmSize,
		LogConfig:     InspectLogConfig{Type: "json-file", Config: maps.Clone(cfg.LogOptions)},
	}
	if h.RestartPolicy.Name == "" {
		h.RestartPolicy.Name = "no"
	}
	if h.LogConfig.Config == nil {
		h.LogConfig.Config = map[string]string{}
	}
	if spec.Root != nil {
		h.ReadonlyRootfs = spec.Root.Readonly
	}
	if spec.Process != nil {
		if !h.Privileged && spec.Process.Capabilities != nil {
			h.CapAdd, h.CapDrop = capDiff(spec.Process.Capabilities.Bounding)
		}
		h.Ulimits = inspectUlimits(spec.Process.Rlimits)
		if spec.Process.NoNewPrivileges {
			h.SecurityOpt = append(h.SecurityOpt, "no-new-privileges:true")
		}
	}
	if l := spec.Linux; l != nil {
		if !h.Privileged && len(l.MaskedPaths) == 0 && len(l.ReadonlyPaths) == 0 {
			h.SecurityOpt = append(h.SecurityOpt, "systempaths=unconfined")
		}
		h.Sysctls = userSysctls(l.Sysctl)
		if r := l.Resources; r != nil {
			if m := r.Memory; m != nil {
				h.Memory = deref(m.Limit)
				h.MemorySwap = deref(m.Swap)
				h.MemoryReservation = deref(m.Reservation)
			}
			if cpu := r.CPU; cpu != nil {
				h.CpuQuota = deref(cpu.Quota)
				if cpu.Period != nil {
					h.CpuPeriod = int64(*cpu.Period)
				}
				if h.CpuQuota > 0 && h.CpuPeriod > 0 {
					h.NanoCpus = int64(math.Round(float64(h.CpuQuota) * 1e9 / float64(h.CpuPeriod)))
				}
				if cpu.Shares != nil {
					h.CpuShares = int64(*cpu.Shares)
				}
				h.CpusetCpus, h.CpusetMems = cpu.Cpus, cpu.Mems
			}
			if r.Pids != nil && r.Pids.Limit != nil {
				n := *r.Pids.Limit
				h.PidsLimit = &n
			}
		}
	}
	for _, m := range spec.Mounts {
		if m.Type != "tmpfs" {
			continue
		}
		switch path.Clean(m.Destination) {
		case "/dev/shm":
			if size, ok := sizeOption(m.Options); ok {
				h.ShmSize = size
			}
		case "/dev":
			// The default /dev is not the user's.
		default:
			if h.Tmpfs == nil {
				h.Tmpfs = map[string]string{}
			}
			h.Tmpfs[m.Destination] = strings.Join(m.Options, ",")
		}
	}
	return h
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// capDiff names the capabilities added to and dropped from Docker's default
// set, as the user would have written them in cap_add and cap_drop.
func capDiff(caps []string) (add, drop []string) {
	defaults := oci.DefaultCapabilities()
	for _, c := range caps {
		if !slices.Contains(defaults, c) {
			add = append(add, c)
		}
	}
	for _, c := range defaults {
		if !slices.Contains(caps, c) {
			drop = append(drop, c)
		}
	}
	return add, drop
}

// userSysctls are the spec's sysctls without the two that every container
// with its own network namespace gets (oci.Default), which docker does not
// list in HostConfig either.
func userSysctls(all map[string]string) map[string]string {
	defaults := oci.Default().Linux.Sysctl
	var out map[string]string
	for k, v := range all {
		if dv, ok := defaults[k]; ok && dv == v {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// inspectUlimits lists the rlimits that differ from the default ones,
// under docker's names.
func inspectUlimits(rls []specs.POSIXRlimit) []InspectUlimit {
	defaults := oci.Default().Process.Rlimits
	var out []InspectUlimit
	for _, rl := range rls {
		if slices.Contains(defaults, rl) {
			continue
		}
		out = append(out, InspectUlimit{
			Name: strings.ToLower(strings.TrimPrefix(rl.Type, "RLIMIT_")),
			Hard: rlimitNumber(rl.Hard),
			Soft: rlimitNumber(rl.Soft),
		})
	}
	return out
}

func rlimitNumber(v uint64) int64 {
	if v > math.MaxInt64 {
		return -1 // RLIM_INFINITY
	}
	return int64(v)
}

// sizeOption reads a tmpfs "size=" option in bytes (plain bytes or with a
// k, m or g suffix, as mount(8) accepts).
func sizeOption(opts []string) (int64, bool) {
	for _, o := range slices.Backward(opts) {
		v, ok := strings.CutPrefix(o, "size=")
		if !ok {
			continue
		}
		mult := int64(1)
		switch {
		case strings.HasSuffix(v, "k"):
			mult, v = 1<<10, strings.TrimSuffix(v, "k")
		case strings.HasSuffix(v, "m"):
			mult, v = 1<<20, strings.TrimSuffix(v, "m")
		case strings.HasSuffix(v, "g"):
			mult, v = 1<<30, strings.TrimSuffix(v, "g")
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		return n * mult, true
	}
	return 0, false
}

// inspectMounts lists the spec's bind mounts as docker's Mounts, leaving out
// the /etc files every container gets. Never nil: docker prints [].
func inspectMounts(mounts []specs.Mount, cms []container.Mount) []InspectMount {
	volumes := map[string]container.Mount{}
	for _, m := range cms {
		if m.Type == "volume" {
			volumes[m.Target] = m
		}
	}
	out := []InspectMount{}
	for _, m := range mounts {
		bind := m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
		if !bind || slices.Contains(etcFiles, path.Clean(m.Destination)) {
			continue
		}
		im := InspectMount{Type: "bind", Source: m.Source, Destination: m.Destination, RW: true, Propagation: "rprivate"}
		if v, ok := volumes[path.Clean(m.Destination)]; ok {
			im.Type, im.Name, im.Driver, im.Propagation = "volume", v.Name, "local", ""
		}
		for _, o := range m.Options {
			switch o {
			case "ro":
				im.RW, im.Mode = false, "ro"
			case "rw":
				im.RW = true
			case "private", "rprivate", "shared", "rshared", "slave", "rslave":
				im.Propagation = o
			}
		}
		out = append(out, im)
	}
	return out
}

func inspectNetwork(cfg *container.Config, st *container.State) InspectNetworkSettings {
	ns := InspectNetworkSettings{Ports: map[string][]InspectPortBinding{}, Networks: map[string]InspectEndpoint{}}
	for _, p := range cfg.ExposedPorts {
		ns.Ports[p] = nil
	}
	for _, b := range st.Ports {
		k := fmt.Sprintf("%d/%s", b.ContainerPort, b.Proto)
		ns.Ports[k] = append(ns.Ports[k], InspectPortBinding{HostIP: cmp.Or(b.HostIP, "0.0.0.0"), HostPort: strconv.Itoa(int(b.HostPort))})
	}
	for _, ep := range cfg.Endpoints {
		ie := InspectEndpoint{
			Aliases: slices.Clone(ep.Aliases), NetworkID: ep.NetworkID, MacAddress: ep.MAC,
			DNSNames: append([]string{cfg.Name}, ep.Aliases...),
		}
		if ie.Aliases == nil {
			ie.Aliases = []string{}
		}
		if st.Status == container.Running || st.Status == container.Paused || st.Status == container.Restarting {
			ie.EndpointID = ep.NetworkID[:12] + cfg.ID[:12]
			ie.Gateway = ep.Gateway.String()
			ie.IPAddress = ep.Address.Addr().String()
			ie.IPPrefixLen = ep.Address.Bits()
		}
		ns.Networks[ep.NetworkName] = ie
	}
	return ns
}
