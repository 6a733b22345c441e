package spec

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Project is a loaded compose project: every file merged, every variable
// interpolated, extends and include applied, profiles selected. Values are
// resolved: relative paths are absolute, env files are read, defaults
// compose-go applies are applied. A Project is not modified after Load
// returns it; callers that need a variant copy what they change.
type Project struct {
	// Name is the project name, valid as ValidProjectName says.
	Name string
	// WorkingDir is the absolute project directory: --project-directory,
	// else the directory of the first compose file.
	WorkingDir string
	// ConfigFiles are the compose files loaded, absolute, in merge order
	// ("-" for standard input).
	ConfigFiles []string
	// EnvFiles are the files read for interpolation (the project's .env or
	// the --env-file list), absolute. They are not the services' env_file.
	EnvFiles []string
	// Environment is what interpolation used: the process environment
	// completed by EnvFiles (a variable the process sets wins, as in docker
	// compose), plus COMPOSE_PROJECT_NAME.
	Environment map[string]string
	// Profiles are the active profiles ("*" means all).
	Profiles []string
	// AllProfiles are the profiles any service declares, enabled or not,
	// sorted (`stack config --profiles`).
	AllProfiles []string

	// Services are the enabled services, sorted by name.
	Services []*Service
	// DisabledServices are the names of the services that exist in the
	// files but are not enabled by the active profiles, sorted. Their
	// containers are not orphans.
	DisabledServices []string

	// Networks, Volumes, Configs and Secrets are the top-level resources
	// the enabled services use, sorted by key. The default network is
	// there when a service is attached to it, declared or not.
	Networks []*Network
	Volumes  []*Volume
	Configs  []*FileObject
	Secrets  []*FileObject

	// Warnings are the problems that did not stop the load: attributes
	// stack does not implement yet (each named with its file and path),
	// variables that are not set, optional dependencies that are missing.
	Warnings []string

	// uninterpolated is set when the files were loaded without
	// interpolation: Canonical then leaves '$' alone.
	uninterpolated bool
}

// Service returns the enabled service called name.
func (p *Project) Service(name string) (*Service, error) {
	i, ok := slices.BinarySearchFunc(p.Services, name, func(s *Service, n string) int { return strings.Compare(s.Name, n) })
	if !ok {
		return nil, fmt.Errorf("no such service: %s", name)
	}
	return p.Services[i], nil
}

// ServiceNames returns the names of the enabled services, sorted.
func (p *Project) ServiceNames() []string {
	names := make([]string, len(p.Services))
	for i, s := range p.Services {
		names[i] = s.Name
	}
	return names
}

// Network returns the network declared under key.
func (p *Project) Network(key string) (*Network, bool) {
	for _, n := range p.Networks {
		if n.Key == key {
			return n, true
		}
	}
	return nil, false
}

// Volume returns the volume declared under key.
func (p *Project) Volume(key string) (*Volume, bool) {
	for _, v := range p.Volumes {
		if v.Key == key {
			return v, true
		}
	}
	return nil, false
}

// Service is one compose service, resolved. A nil slice, map or pointer
// means "not set" (the image's value or the runtime's default applies);
// where the difference matters an empty non-nil value means "set to
// nothing" (Entrypoint, Command).
type Service struct {
	Name string

	// Image is the image as written; empty for a build-only service, whose
	// image is ImageName's default.
	Image      string
	Build      *Build
	PullPolicy string // always, never, missing, build, daily, weekly, every_<d>; "" = missing
	Platform   string

	Entrypoint []string // nil: the image's; empty: none
	Command    []string // nil: the image's; empty: none
	WorkingDir string
	User       string
	GroupAdd   []string
	// Environment is the container environment as sorted "KEY=VALUE", with
	// the env_file contents merged in (environment wins) and value-less
	// entries taken from the project environment; a value-less entry that
	// the project environment lacks is dropped, as docker does.
	Environment []string
	// EnvFiles are the service's env_file entries, kept so that a change of
	// their content can be detected (their content is in Environment).
	EnvFiles    []EnvFile
	Labels      map[string]string // including label_file contents
	Annotations map[string]string

	ContainerName string
	Hostname      string
	Domainname    string
	// Replicas is the number of containers: scale, else deploy.replicas,
	// else 1. It may be 0.
	Replicas int
	// Restart is the restart policy: "no", "always", "unless-stopped",
	// "on-failure" or "on-failure:N"; from restart, else
	// deploy.restart_policy; "" means "no".
	Restart string
	// Attach is false when the service's logs are not attached by `up`.
	Attach bool

	Ports       []Port
	Expose      []string // "80", "8000-8010", "53/udp"
	Networks    []ServiceNetwork
	NetworkMode string // "", "host", "none", "bridge", "service:NAME", "container:NAME"
	DNS         []string
	DNSSearch   []string
	DNSOpt      []string
	ExtraHosts  []string // "HOST:IP" as docker's --add-host, sorted
	Links       []string // "SERVICE" or "SERVICE:ALIAS"
	// ExternalLinks are "CONTAINER" or "CONTAINER:ALIAS".
	ExternalLinks []string

	Volumes     []Mount
	Tmpfs       []string // "PATH" or "PATH:OPTIONS"
	VolumesFrom []string // "SERVICE", "container:NAME", optionally ":ro" or ":rw"
	ReadOnly    bool
	ShmSize     int64 // bytes; 0 = the runtime's default (64 MiB)

	// DependsOn lists the services this one depends on, sorted by name,
	// including the implicit ones compose adds for links, volumes_from and
	// service: namespaces. An optional dependency on a service that is not
	// enabled is dropped (with a warning).
	DependsOn   []Dependency
	Healthcheck *Healthcheck

	Privileged  bool
	CapAdd      []string
	CapDrop     []string
	SecurityOpt []string
	Sysctls     map[string]string
	Ulimits     map[string]Ulimit
	Init        *bool
	IPC         string // "", "host", "private", "shareable", "service:NAME", "container:NAME"
	PID         string // "", "host", "service:NAME", "container:NAME"
	StopSignal  string
	// StopGracePeriod is nil when not set (10s applies).
	StopGracePeriod *time.Duration
	Tty             bool
	StdinOpen       bool

	// Limits, from the service keys or deploy.resources (compose refuses
	// two different values). 0 means no limit.
	MemLimit       int64 // bytes
	MemReservation int64 // bytes
	MemSwapLimit   int64 // bytes; -1 = unlimited
	CPUs           float64
	CPUShares      int64
	CPUSet         string
	PidsLimit      int64 // -1 = unlimited

	Configs []FileRef
	Secrets []FileRef

	Profiles []string
	Logging  *Logging
}

// ImageName is the image the service runs: Image, or for a build-only
// service the name stack gives the built image, PROJECT-SERVICE, as
// docker compose does.
func (s *Service) ImageName(project string) string {
	if s.Image != "" {
		return s.Image
	}
	return project + "-" + s.Name
}

// Build is a service's build section.
type Build struct {
	Context          string            // absolute directory (or a URL)
	Dockerfile       string            // relative to Context, or absolute; "" with DockerfileInline
	DockerfileInline string            // the Dockerfile's text
	Args             map[string]string // build arguments with a value
	Target           string
	Labels           map[string]string
	Tags             []string
	NoCache          bool
	Pull             bool
	// AdditionalContexts are named contexts (COPY --from=NAME): a
	// directory, an image ("docker-image://…") or "service:NAME".
	AdditionalContexts map[string]string
	Secrets            []FileRef
}

// EnvFile is one env_file entry.
type EnvFile struct {
	Path     string // absolute
	Required bool   // false: a missing file is skipped
	Format   string // "" (dotenv, with interpolation) or "raw"
}

// Port is one published or exposed port, in the long syntax.
type Port struct {
	Name      string
	Mode      string // "ingress" (default) or "host"; both publish on this host
	HostIP    string // "" = all addresses
	Target    uint16
	Published string // "8080", a range "8080-8090", or "" for an ephemeral port
	Protocol  string // "tcp" or "udp"
}

// Mount types.
const (
	MountVolume = "volume"
	MountBind   = "bind"
	MountTmpfs  = "tmpfs"
	MountNpipe  = "npipe"
	MountImage  = "image"
)

// Mount is one entry of a service's volumes, in the long syntax.
type Mount struct {
	Type string // MountVolume, MountBind, MountTmpfs (npipe and image are warned about)
	// Source is the volume key for a named volume, "" for an anonymous
	// one, the absolute host path for a bind mount, the image for an image
	// mount.
	Source string
	// Name is a named volume's real name (Project.Volumes' Name).
	Name        string
	Target      string // absolute, cleaned
	ReadOnly    bool
	Consistency string // accepted and meaningless on Linux
	Bind        *BindOptions
	Volume      *VolumeOptions
	Tmpfs       *TmpfsOptions
}

// BindOptions are a bind mount's options.
type BindOptions struct {
	Propagation    string // "", "private", "rprivate", "shared", "rshared", "slave", "rslave"
	CreateHostPath bool   // create a missing source directory (the default)
	SELinux        string // "", "z" or "Z": accepted, stack applies no labels
}

// VolumeOptions are a volume mount's options.
type VolumeOptions struct {
	NoCopy  bool   // do not copy the image's content into a new volume
	Subpath string // mount this sub-directory of the volume
}

// TmpfsOptions are a tmpfs mount's options.
type TmpfsOptions struct {
	Size int64  // bytes; 0 = the kernel's default
	Mode uint32 // permission bits; 0 = the kernel's default (1777)
}

// ServiceNetwork is a service's attachment to one network.
type ServiceNetwork struct {
	Key         string // the network's key in Project.Networks
	Name        string // the network's real name (Project.Networks' Name)
	Aliases     []string
	IPv4Address string
	IPv6Address string
	Priority    int
}

// Dependency conditions.
const (
	ConditionStarted               = "service_started"
	ConditionHealthy               = "service_healthy"
	ConditionCompletedSuccessfully = "service_completed_successfully"
)

// Dependency is one depends_on entry.
type Dependency struct {
	Service   string
	Condition string // ConditionStarted, ConditionHealthy or ConditionCompletedSuccessfully
	// Required is false when the dependency is optional: a missing or
	// failing one gives a warning, not an error.
	Required bool
	// Restart: restart this service when the dependency is restarted or
	// recreated.
	Restart bool
}

// Healthcheck is a service's healthcheck. A zero duration or retry count
// means "not set": the image's HEALTHCHECK value, else Docker's default
// (interval 30s, timeout 30s, start_period 0, start_interval 5s, retries 3).
type Healthcheck struct {
	// Test is ["CMD", args...], ["CMD-SHELL", command] or ["NONE"]; nil
	// keeps the image's test.
	Test          []string
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
	// Disable turns off any healthcheck, including the image's
	// (disable: true, or test: ["NONE"]).
	Disable bool
}

// Ulimit is one resource limit. A single value in the file sets both.
type Ulimit struct {
	Soft int64
	Hard int64
}

// FileRef is a service's use of a top-level config or secret (or of a
// build secret).
type FileRef struct {
	Source string // key in Project.Configs or Project.Secrets
	// Target is the path in the container: for a secret /run/secrets/NAME
	// by default (a relative target is below /run/secrets), for a config
	// /SOURCE by default. For a build secret it is the secret's id.
	Target string
	UID    string
	GID    string
	Mode   *uint32 // nil: 0444
	// Digest is "sha256:…" of the content of the top-level object (file,
	// inline content or environment value); "" for an external one or a
	// file that cannot be read. It lets a content change recreate the
	// service.
	Digest string
}

// Logging is a service's logging section.
type Logging struct {
	Driver  string // "" or "json-file"; others are warned about
	Options map[string]string
}

// Network is a top-level network.
type Network struct {
	Key        string // the key in the compose file ("default")
	Name       string // the real name ("proj_default", or name:, or the external name)
	Driver     string // "" = bridge
	DriverOpts map[string]string
	Internal   bool
	Attachable bool
	EnableIPv6 bool
	External   bool
	IPAM       IPAM
	Labels     map[string]string
}

// IPAM is a network's address configuration.
type IPAM struct {
	Driver string // "" = default
	Config []IPAMPool
}

// IPAMPool is one subnet of a network.
type IPAMPool struct {
	Subnet  string
	IPRange string
	Gateway string
}

// Volume is a top-level volume.
type Volume struct {
	Key        string
	Name       string // "proj_data", or name:, or the external name
	Driver     string // "" = local
	DriverOpts map[string]string
	External   bool
	Labels     map[string]string
}

// FileObject is a top-level config or secret.
type FileObject struct {
	Key         string
	Name        string
	File        string // absolute path, for a file-based object
	Environment string // variable name, for an environment-based object
	// Content is the object's content when it is inline (configs' content:)
	// or comes from the environment. Canonical never prints a secret's.
	Content  string
	External bool
	Labels   map[string]string
	Digest   string // as FileRef.Digest
}

// WithServices returns the project restricted to the named services and,
// as docker compose does, the services they depend on (depends_on, which
// includes links, volumes_from and service: namespaces), transitively; the
// networks, volumes, configs and secrets no remaining service uses are
// dropped. No name keeps every service. An unknown name is an error
// ("no such service: NAME"). The project itself is not changed; the
// services are shared with it.
func (p *Project) WithServices(names ...string) (*Project, error) {
	if len(names) == 0 {
		return p, nil
	}
	keep := map[string]bool{}
	queue := slices.Clone(names)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if keep[name] {
			continue
		}
		s, err := p.Service(name)
		if err != nil {
			return nil, err
		}
		keep[name] = true
		for _, d := range s.DependsOn {
			queue = append(queue, d.Service)
		}
	}
	q := *p
	q.Services = nil
	networks, volumes, configs, secrets := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, s := range p.Services {
		if !keep[s.Name] {
			continue
		}
		q.Services = append(q.Services, s)
		for _, n := range s.Networks {
			networks[n.Key] = true
		}
		for _, m := range s.Volumes {
			if m.Type == MountVolume && m.Source != "" {
				volumes[m.Source] = true
			}
		}
		for _, c := range s.Configs {
			configs[c.Source] = true
		}
		for _, c := range s.Secrets {
			secrets[c.Source] = true
		}
		if s.Build != nil {
			for _, c := range s.Build.Secrets {
				secrets[c.Source] = true
			}
		}
	}
	q.Networks = slices.DeleteFunc(slices.Clone(p.Networks), func(n *Network) bool { return !networks[n.Key] })
	q.Volumes = slices.DeleteFunc(slices.Clone(p.Volumes), func(v *Volume) bool { return !volumes[v.Key] })
	q.Configs = slices.DeleteFunc(slices.Clone(p.Configs), func(o *FileObject) bool { return !configs[o.Key] })
	q.Secrets = slices.DeleteFunc(slices.Clone(p.Secrets), func(o *FileObject) bool { return !secrets[o.Key] })
	return &q, nil
}
