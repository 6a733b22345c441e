package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// Canonical renders the project as `stack config` prints it: the
// normalised compose file, in "yaml" or "json", like `docker compose
// config`. Every value is resolved (env files merged into environment,
// paths absolute, defaults applied), attributes stack ignores are left out,
// and literal '$' are written "$$" so that the output loads again to the
// same project. Secret contents are never printed.
func (p *Project) Canonical(format string) ([]byte, error) {
	var out []byte
	switch format {
	case "yaml", "":
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(p.view()); err != nil {
			return nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
		out = buf.Bytes()
	case "json":
		b, err := json.MarshalIndent(p.view(), "", "  ")
		if err != nil {
			return nil, err
		}
		out = append(b, '\n')
	default:
		return nil, fmt.Errorf("unsupported format %q: want yaml or json", format)
	}
	if !p.uninterpolated {
		out = bytes.ReplaceAll(out, []byte("$"), []byte("$$"))
	}
	return out, nil
}

// MarshalYAML renders the project as Canonical does, without escaping '$'.
func (p *Project) MarshalYAML() (any, error) { return p.view(), nil }

// MarshalJSON renders the project as Canonical does, without escaping '$'.
func (p *Project) MarshalJSON() ([]byte, error) { return json.Marshal(p.view()) }

// ConfigHash is the hex sha256 of the service's canonical JSON with the
// attributes that must not recreate a container blanked: build,
// pull_policy, the replica count, depends_on and profiles. It is docker
// compose's ServiceHash (the com.docker.compose.config-hash label) over
// stack's canonical form: the same service gives the same hash from one
// version of stack to the next. env_file contents are in it (through
// environment); the planner adds the image ID and config/secret contents.
func ConfigHash(s *Service) string {
	v := serviceView(s)
	v.Build, v.PullPolicy, v.Scale, v.DependsOn, v.Profiles = nil, "", nil, nil, nil
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the view holds only strings, numbers, maps and slices
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// The views are compose-shaped mirrors of the types, used for output and
// hashing only. Keys are compose's; empty values are left out.

type projectView struct {
	Name     string                  `yaml:"name" json:"name"`
	Services map[string]*svcView     `yaml:"services" json:"services"`
	Networks map[string]*networkView `yaml:"networks,omitempty" json:"networks,omitempty"`
	Volumes  map[string]*volumeView  `yaml:"volumes,omitempty" json:"volumes,omitempty"`
	Secrets  map[string]*fileObjView `yaml:"secrets,omitempty" json:"secrets,omitempty"`
	Configs  map[string]*fileObjView `yaml:"configs,omitempty" json:"configs,omitempty"`
}

// command keeps an empty, explicitly set command apart from an unset one.
type command []string

func (c command) IsZero() bool { return c == nil }

type svcView struct {
	Annotations     map[string]string          `yaml:"annotations,omitempty" json:"annotations,omitempty"`
	Attach          *bool                      `yaml:"attach,omitempty" json:"attach,omitempty"`
	Build           *buildView                 `yaml:"build,omitempty" json:"build,omitempty"`
	CapAdd          []string                   `yaml:"cap_add,omitempty" json:"cap_add,omitempty"`
	CapDrop         []string                   `yaml:"cap_drop,omitempty" json:"cap_drop,omitempty"`
	Command         command                    `yaml:"command,omitempty" json:"command,omitzero"`
	Configs         []fileRefView              `yaml:"configs,omitempty" json:"configs,omitempty"`
	ContainerName   string                     `yaml:"container_name,omitempty" json:"container_name,omitempty"`
	CPUShares       int64                      `yaml:"cpu_shares,omitempty" json:"cpu_shares,omitempty"`
	CPUs            float64                    `yaml:"cpus,omitempty" json:"cpus,omitempty"`
	CPUSet          string                     `yaml:"cpuset,omitempty" json:"cpuset,omitempty"`
	DependsOn       map[string]dependencyView  `yaml:"depends_on,omitempty" json:"depends_on,omitempty"`
	DNS             []string                   `yaml:"dns,omitempty" json:"dns,omitempty"`
	DNSOpt          []string                   `yaml:"dns_opt,omitempty" json:"dns_opt,omitempty"`
	DNSSearch       []string                   `yaml:"dns_search,omitempty" json:"dns_search,omitempty"`
	Domainname      string                     `yaml:"domainname,omitempty" json:"domainname,omitempty"`
	Entrypoint      command                    `yaml:"entrypoint,omitempty" json:"entrypoint,omitzero"`
	Environment     map[string]string          `yaml:"environment,omitempty" json:"environment,omitempty"`
	Expose          []string                   `yaml:"expose,omitempty" json:"expose,omitempty"`
	ExternalLinks   []string                   `yaml:"external_links,omitempty" json:"external_links,omitempty"`
	ExtraHosts      []string                   `yaml:"extra_hosts,omitempty" json:"extra_hosts,omitempty"`
	GroupAdd        []string                   `yaml:"group_add,omitempty" json:"group_add,omitempty"`
	Healthcheck     *healthView                `yaml:"healthcheck,omitempty" json:"healthcheck,omitempty"`
	Hostname        string                     `yaml:"hostname,omitempty" json:"hostname,omitempty"`
	Image           string                     `yaml:"image,omitempty" json:"image,omitempty"`
	Init            *bool                      `yaml:"init,omitempty" json:"init,omitempty"`
	IPC             string                     `yaml:"ipc,omitempty" json:"ipc,omitempty"`
	Labels          map[string]string          `yaml:"labels,omitempty" json:"labels,omitempty"`
	Links           []string                   `yaml:"links,omitempty" json:"links,omitempty"`
	Logging         *loggingView               `yaml:"logging,omitempty" json:"logging,omitempty"`
	MemLimit        int64                      `yaml:"mem_limit,omitempty" json:"mem_limit,omitempty"`
	MemReservation  int64                      `yaml:"mem_reservation,omitempty" json:"mem_reservation,omitempty"`
	MemSwapLimit    int64                      `yaml:"memswap_limit,omitempty" json:"memswap_limit,omitempty"`
	NetworkMode     string                     `yaml:"network_mode,omitempty" json:"network_mode,omitempty"`
	Networks        map[string]*svcNetworkView `yaml:"networks,omitempty" json:"networks,omitempty"`
	PID             string                     `yaml:"pid,omitempty" json:"pid,omitempty"`
	PidsLimit       int64                      `yaml:"pids_limit,omitempty" json:"pids_limit,omitempty"`
	Platform        string                     `yaml:"platform,omitempty" json:"platform,omitempty"`
	Ports           []portView                 `yaml:"ports,omitempty" json:"ports,omitempty"`
	Privileged      bool                       `yaml:"privileged,omitempty" json:"privileged,omitempty"`
	Profiles        []string                   `yaml:"profiles,omitempty" json:"profiles,omitempty"`
	PullPolicy      string                     `yaml:"pull_policy,omitempty" json:"pull_policy,omitempty"`
	ReadOnly        bool                       `yaml:"read_only,omitempty" json:"read_only,omitempty"`
	Restart         string                     `yaml:"restart,omitempty" json:"restart,omitempty"`
	Scale           *int                       `yaml:"scale,omitempty" json:"scale,omitempty"`
	Secrets         []fileRefView              `yaml:"secrets,omitempty" json:"secrets,omitempty"`
	SecurityOpt     []string                   `yaml:"security_opt,omitempty" json:"security_opt,omitempty"`
	ShmSize         int64                      `yaml:"shm_size,omitempty" json:"shm_size,omitempty"`
	StdinOpen       bool                       `yaml:"stdin_open,omitempty" json:"stdin_open,omitempty"`
	StopGracePeriod string                     `yaml:"stop_grace_period,omitempty" json:"stop_grace_period,omitempty"`
	StopSignal      string                     `yaml:"stop_signal,omitempty" json:"stop_signal,omitempty"`
	Sysctls         map[string]string          `yaml:"sysctls,omitempty" json:"sysctls,omitempty"`
	Tmpfs           []string                   `yaml:"tmpfs,omitempty" json:"tmpfs,omitempty"`
	Tty             bool                       `yaml:"tty,omitempty" json:"tty,omitempty"`
	Ulimits         map[string]ulimitView      `yaml:"ulimits,omitempty" json:"ulimits,omitempty"`
	User            string                     `yaml:"user,omitempty" json:"user,omitempty"`
	Volumes         []mountView                `yaml:"volumes,omitempty" json:"volumes,omitempty"`
	VolumesFrom     []string                   `yaml:"volumes_from,omitempty" json:"volumes_from,omitempty"`
	WorkingDir      string                     `yaml:"working_dir,omitempty" json:"working_dir,omitempty"`
}

type buildView struct {
	Context            string            `yaml:"context,omitempty" json:"context,omitempty"`
	Dockerfile         string            `yaml:"dockerfile,omitempty" json:"dockerfile,omitempty"`
	DockerfileInline   string            `yaml:"dockerfile_inline,omitempty" json:"dockerfile_inline,omitempty"`
	Args               map[string]string `yaml:"args,omitempty" json:"args,omitempty"`
	Target             string            `yaml:"target,omitempty" json:"target,omitempty"`
	Labels             map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	Tags               []string          `yaml:"tags,omitempty" json:"tags,omitempty"`
	NoCache            bool              `yaml:"no_cache,omitempty" json:"no_cache,omitempty"`
	Pull               bool              `yaml:"pull,omitempty" json:"pull,omitempty"`
	AdditionalContexts map[string]string `yaml:"additional_contexts,omitempty" json:"additional_contexts,omitempty"`
	Secrets            []fileRefView     `yaml:"secrets,omitempty" json:"secrets,omitempty"`
}

type dependencyView struct {
	Condition string `yaml:"condition" json:"condition"`
	Required  bool   `yaml:"required" json:"required"`
	Restart   bool   `yaml:"restart,omitempty" json:"restart,omitempty"`
}

type healthView struct {
	Test          command `yaml:"test,omitempty" json:"test,omitzero"`
	Interval      string  `yaml:"interval,omitempty" json:"interval,omitempty"`
	Timeout       string  `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	StartPeriod   string  `yaml:"start_period,omitempty" json:"start_period,omitempty"`
	StartInterval string  `yaml:"start_interval,omitempty" json:"start_interval,omitempty"`
	Retries       int     `yaml:"retries,omitempty" json:"retries,omitempty"`
	Disable       bool    `yaml:"disable,omitempty" json:"disable,omitempty"`
}

type loggingView struct {
	Driver  string            `yaml:"driver,omitempty" json:"driver,omitempty"`
	Options map[string]string `yaml:"options,omitempty" json:"options,omitempty"`
}

type svcNetworkView struct {
	Aliases     []string `yaml:"aliases,omitempty" json:"aliases,omitempty"`
	IPv4Address string   `yaml:"ipv4_address,omitempty" json:"ipv4_address,omitempty"`
	IPv6Address string   `yaml:"ipv6_address,omitempty" json:"ipv6_address,omitempty"`
	Priority    int      `yaml:"priority,omitempty" json:"priority,omitempty"`
}

type portView struct {
	Name      string `yaml:"name,omitempty" json:"name,omitempty"`
	Mode      string `yaml:"mode,omitempty" json:"mode,omitempty"`
	HostIP    string `yaml:"host_ip,omitempty" json:"host_ip,omitempty"`
	Target    uint16 `yaml:"target" json:"target"`
	Published string `yaml:"published,omitempty" json:"published,omitempty"`
	Protocol  string `yaml:"protocol,omitempty" json:"protocol,omitempty"`
}

type mountView struct {
	Type        string          `yaml:"type" json:"type"`
	Source      string          `yaml:"source,omitempty" json:"source,omitempty"`
	Target      string          `yaml:"target" json:"target"`
	ReadOnly    bool            `yaml:"read_only,omitempty" json:"read_only,omitempty"`
	Consistency string          `yaml:"consistency,omitempty" json:"consistency,omitempty"`
	Bind        *bindView       `yaml:"bind,omitempty" json:"bind,omitempty"`
	Volume      *volumeOptsView `yaml:"volume,omitempty" json:"volume,omitempty"`
	Tmpfs       *tmpfsView      `yaml:"tmpfs,omitempty" json:"tmpfs,omitempty"`
}

type ulimitView struct {
	Soft int64 `yaml:"soft" json:"soft"`
	Hard int64 `yaml:"hard" json:"hard"`
}

type volumeOptsView struct {
	NoCopy  bool   `yaml:"nocopy,omitempty" json:"nocopy,omitempty"`
	Subpath string `yaml:"subpath,omitempty" json:"subpath,omitempty"`
}

type bindView struct {
	Propagation    string `yaml:"propagation,omitempty" json:"propagation,omitempty"`
	CreateHostPath bool   `yaml:"create_host_path" json:"create_host_path"`
	SELinux        string `yaml:"selinux,omitempty" json:"selinux,omitempty"`
}

type tmpfsView struct {
	Size int64  `yaml:"size,omitempty" json:"size,omitempty"`
	Mode uint32 `yaml:"mode,omitempty" json:"mode,omitempty"` // compose-go reads a number only
}

type fileRefView struct {
	Source string `yaml:"source" json:"source"`
	Target string `yaml:"target,omitempty" json:"target,omitempty"`
	UID    string `yaml:"uid,omitempty" json:"uid,omitempty"`
	GID    string `yaml:"gid,omitempty" json:"gid,omitempty"`
	Mode   string `yaml:"mode,omitempty" json:"mode,omitempty"`
}

type networkView struct {
	Name       string            `yaml:"name" json:"name"`
	Driver     string            `yaml:"driver,omitempty" json:"driver,omitempty"`
	DriverOpts map[string]string `yaml:"driver_opts,omitempty" json:"driver_opts,omitempty"`
	Ipam       *ipamView         `yaml:"ipam,omitempty" json:"ipam,omitempty"`
	External   bool              `yaml:"external,omitempty" json:"external,omitempty"`
	Internal   bool              `yaml:"internal,omitempty" json:"internal,omitempty"`
	Attachable bool              `yaml:"attachable,omitempty" json:"attachable,omitempty"`
	EnableIPv6 bool              `yaml:"enable_ipv6,omitempty" json:"enable_ipv6,omitempty"`
	Labels     map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

type ipamView struct {
	Driver string         `yaml:"driver,omitempty" json:"driver,omitempty"`
	Config []ipamPoolView `yaml:"config,omitempty" json:"config,omitempty"`
}

type ipamPoolView struct {
	Subnet  string `yaml:"subnet,omitempty" json:"subnet,omitempty"`
	IPRange string `yaml:"ip_range,omitempty" json:"ip_range,omitempty"`
	Gateway string `yaml:"gateway,omitempty" json:"gateway,omitempty"`
}

type volumeView struct {
	Name       string            `yaml:"name" json:"name"`
	Driver     string            `yaml:"driver,omitempty" json:"driver,omitempty"`
	DriverOpts map[string]string `yaml:"driver_opts,omitempty" json:"driver_opts,omitempty"`
	External   bool              `yaml:"external,omitempty" json:"external,omitempty"`
	Labels     map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

type fileObjView struct {
	Name        string            `yaml:"name" json:"name"`
	File        string            `yaml:"file,omitempty" json:"file,omitempty"`
	Environment string            `yaml:"environment,omitempty" json:"environment,omitempty"`
	Content     string            `yaml:"content,omitempty" json:"content,omitempty"`
	External    bool              `yaml:"external,omitempty" json:"external,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

func (p *Project) view() *projectView {
	v := &projectView{Name: p.Name, Services: map[string]*svcView{}}
	for _, s := range p.Services {
		v.Services[s.Name] = serviceView(s)
	}
	if len(p.Networks) > 0 {
		v.Networks = map[string]*networkView{}
		for _, n := range p.Networks {
			nv := &networkView{
				Name: n.Name, Driver: n.Driver, DriverOpts: n.DriverOpts, External: n.External,
				Internal: n.Internal, Attachable: n.Attachable, EnableIPv6: n.EnableIPv6, Labels: n.Labels,
			}
			if n.IPAM.Driver != "" || len(n.IPAM.Config) > 0 {
				nv.Ipam = &ipamView{Driver: n.IPAM.Driver}
				for _, c := range n.IPAM.Config {
					nv.Ipam.Config = append(nv.Ipam.Config, ipamPoolView(c))
				}
			}
			v.Networks[n.Key] = nv
		}
	}
	if len(p.Volumes) > 0 {
		v.Volumes = map[string]*volumeView{}
		for _, vol := range p.Volumes {
			v.Volumes[vol.Key] = &volumeView{Name: vol.Name, Driver: vol.Driver, DriverOpts: vol.DriverOpts, External: vol.External, Labels: vol.Labels}
		}
	}
	v.Configs = fileObjViews(p.Configs, true)
	v.Secrets = fileObjViews(p.Secrets, false)
	return v
}

func fileObjViews(objs []*FileObject, showContent bool) map[string]*fileObjView {
	if len(objs) == 0 {
		return nil
	}
	m := map[string]*fileObjView{}
	for _, o := range objs {
		fv := &fileObjView{Name: o.Name, File: o.File, Environment: o.Environment, External: o.External, Labels: o.Labels}
		if showContent && o.Environment == "" {
			fv.Content = o.Content
		}
		m[o.Key] = fv
	}
	return m
}

func serviceView(s *Service) *svcView {
	v := &svcView{
		Annotations:    s.Annotations,
		CapAdd:         s.CapAdd,
		CapDrop:        s.CapDrop,
		Command:        command(s.Command),
		ContainerName:  s.ContainerName,
		CPUShares:      s.CPUShares,
		CPUs:           s.CPUs,
		CPUSet:         s.CPUSet,
		DNS:            s.DNS,
		DNSOpt:         s.DNSOpt,
		DNSSearch:      s.DNSSearch,
		Domainname:     s.Domainname,
		Entrypoint:     command(s.Entrypoint),
		Expose:         s.Expose,
		ExternalLinks:  s.ExternalLinks,
		GroupAdd:       s.GroupAdd,
		Hostname:       s.Hostname,
		Image:          s.Image,
		Init:           s.Init,
		IPC:            s.IPC,
		Labels:         s.Labels,
		Links:          s.Links,
		MemLimit:       s.MemLimit,
		MemReservation: s.MemReservation,
		MemSwapLimit:   s.MemSwapLimit,
		NetworkMode:    s.NetworkMode,
		PID:            s.PID,
		PidsLimit:      s.PidsLimit,
		Platform:       s.Platform,
		Privileged:     s.Privileged,
		Profiles:       s.Profiles,
		PullPolicy:     s.PullPolicy,
		ReadOnly:       s.ReadOnly,
		Restart:        s.Restart,
		SecurityOpt:    s.SecurityOpt,
		ShmSize:        s.ShmSize,
		StdinOpen:      s.StdinOpen,
		StopSignal:     s.StopSignal,
		Sysctls:        s.Sysctls,
		Tmpfs:          s.Tmpfs,
		Tty:            s.Tty,
		User:           s.User,
		VolumesFrom:    s.VolumesFrom,
		WorkingDir:     s.WorkingDir,
	}
	if len(s.Ulimits) > 0 {
		v.Ulimits = map[string]ulimitView{}
		for k, u := range s.Ulimits {
			v.Ulimits[k] = ulimitView(u)
		}
	}
	if !s.Attach {
		v.Attach = new(bool)
	}
	if s.Replicas != 1 {
		n := s.Replicas
		v.Scale = &n
	}
	if s.StopGracePeriod != nil {
		v.StopGracePeriod = s.StopGracePeriod.String()
	}
	if len(s.Environment) > 0 {
		v.Environment = map[string]string{}
		for _, kv := range s.Environment {
			k, val, _ := strings.Cut(kv, "=")
			v.Environment[k] = val
		}
	}
	for _, h := range s.ExtraHosts {
		host, ip, _ := strings.Cut(h, ":")
		v.ExtraHosts = append(v.ExtraHosts, host+"="+ip)
	}
	if b := s.Build; b != nil {
		v.Build = &buildView{
			Context: b.Context, Dockerfile: b.Dockerfile, DockerfileInline: b.DockerfileInline, Args: b.Args,
			Target: b.Target, Labels: b.Labels, Tags: b.Tags, NoCache: b.NoCache, Pull: b.Pull,
			AdditionalContexts: b.AdditionalContexts, Secrets: fileRefViews(b.Secrets),
		}
	}
	if len(s.DependsOn) > 0 {
		v.DependsOn = map[string]dependencyView{}
		for _, d := range s.DependsOn {
			v.DependsOn[d.Service] = dependencyView{Condition: d.Condition, Required: d.Required, Restart: d.Restart}
		}
	}
	if h := s.Healthcheck; h != nil {
		v.Healthcheck = &healthView{
			Test: command(h.Test), Interval: durationString(h.Interval), Timeout: durationString(h.Timeout),
			StartPeriod: durationString(h.StartPeriod), StartInterval: durationString(h.StartInterval),
			Retries: h.Retries, Disable: h.Disable,
		}
	}
	if l := s.Logging; l != nil {
		v.Logging = &loggingView{Driver: l.Driver, Options: l.Options}
	}
	if len(s.Networks) > 0 {
		v.Networks = map[string]*svcNetworkView{}
		for _, n := range s.Networks {
			var nv *svcNetworkView
			if len(n.Aliases) > 0 || n.IPv4Address != "" || n.IPv6Address != "" || n.Priority != 0 {
				nv = &svcNetworkView{Aliases: n.Aliases, IPv4Address: n.IPv4Address, IPv6Address: n.IPv6Address, Priority: n.Priority}
			}
			v.Networks[n.Key] = nv
		}
	}
	for _, p := range s.Ports {
		v.Ports = append(v.Ports, portView(p))
	}
	for _, m := range s.Volumes {
		mv := mountView{Type: m.Type, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, Consistency: m.Consistency}
		if o := m.Volume; o != nil {
			mv.Volume = &volumeOptsView{NoCopy: o.NoCopy, Subpath: o.Subpath}
		}
		if b := m.Bind; b != nil {
			mv.Bind = &bindView{Propagation: b.Propagation, CreateHostPath: b.CreateHostPath, SELinux: b.SELinux}
		}
		if t := m.Tmpfs; t != nil {
			mv.Tmpfs = &tmpfsView{Size: t.Size, Mode: t.Mode}
		}
		v.Volumes = append(v.Volumes, mv)
	}
	v.Configs = fileRefViews(s.Configs)
	v.Secrets = fileRefViews(s.Secrets)
	return v
}

func fileRefViews(refs []FileRef) []fileRefView {
	var out []fileRefView
	for _, r := range refs {
		rv := fileRefView{Source: r.Source, Target: r.Target, UID: r.UID, GID: r.GID}
		if r.Mode != nil {
			rv.Mode = fmt.Sprintf("%#o", *r.Mode)
		}
		out = append(out, rv)
	}
	return out
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
