// Package container defines a container's records on disk — its
// configuration (written once at create) and its state (written by the shim
// while it lives, and repaired by commands after it died) — and where they
// live. The engine and the shim both read and write them; neither keeps a
// copy across commands.
package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"stack/engine/state"
)

// Config is what a container was created with. It never changes after
// create (a new config means a new container, as in Docker).
type Config struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Created   time.Time         `json:"created"`
	Image     string            `json:"image"`     // image ID
	ImageName string            `json:"imageName"` // as the user gave it
	Labels    map[string]string `json:"labels,omitempty"`
	Spec      *specs.Spec       `json:"spec"`
	Lower     []string          `json:"lower"` // image layer dirs, bottom first

	// Entrypoint and Cmd as resolved (for inspect's Config and `ps`).
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`

	Restart     RestartPolicy     `json:"restart"`
	StopSignal  string            `json:"stopSignal,omitempty"`
	StopTimeout *int              `json:"stopTimeout,omitempty"` // seconds
	AutoRemove  bool              `json:"autoRemove,omitempty"`
	OpenStdin   bool              `json:"openStdin,omitempty"`
	LogOptions  map[string]string `json:"logOptions,omitempty"`
	// NetworkMode is how the container is networked: NetworkBridge (its
	// own network namespace, set up by the shim, with Endpoints), NetworkNone
	// (loopback only), NetworkHost (the host's), or "container:ID" (another
	// container's).
	NetworkMode string `json:"networkMode,omitempty"`
	// Endpoints are its attachments to bridge networks, in order: the first
	// non-internal one carries the default route and the published ports.
	// Connect and disconnect rewrite them (the one part of a config that
	// changes after create).
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Ports are the ports to publish, as asked; State.Ports has the
	// bindings made.
	Ports []PortBinding `json:"ports,omitempty"`
	// ExposedPorts are "80/tcp" entries: the image's EXPOSE and compose's
	// expose (documentation, shown by ps).
	ExposedPorts []string `json:"exposedPorts,omitempty"`
	// DNS is the embedded DNS server's configuration.
	DNS DNSConfig `json:"dns,omitzero"`
	// Healthcheck is the probe the shim runs, resolved from the image's
	// HEALTHCHECK and the caller's settings; nil means none.
	Healthcheck *Healthcheck `json:"healthcheck,omitempty"`
	// Mounts are its volumes and bind mounts (tmpfs mounts are in the
	// spec only), for inspect, volumes_from, and the volumes' in-use
	// checks.
	Mounts []Mount `json:"mounts,omitempty"`
}

// Mount is a volume or bind mount of a container.
type Mount struct {
	Type string `json:"type"` // "volume" or "bind"
	// Name is the volume's name (volumes only).
	Name string `json:"name,omitempty"`
	// Source is the host path mounted: the volume's data (or a subpath
	// of it), or the bind's source.
	Source      string `json:"source"`
	Target      string `json:"target"`
	ReadOnly    bool   `json:"readOnly,omitempty"`
	Propagation string `json:"propagation,omitempty"`
	// Anonymous marks a volume made for this container (an image
	// VOLUME, or a bare container path), removed with it by rm -v.
	Anonymous bool `json:"anonymous,omitempty"`
}

// Network modes (Config.NetworkMode); "container:ID" joins another's.
const (
	NetworkBridge = "bridge"
	NetworkNone   = "none"
	NetworkHost   = "host"
)

// NetworkContainer returns the ID of the container whose network namespace
// mode joins, if it is "container:ID".
func NetworkContainer(mode string) (string, bool) {
	return strings.CutPrefix(mode, "container:")
}

// Endpoint is a container's attachment to one bridge network: everything
// the shim needs to set it up without reading the network's records.
type Endpoint struct {
	NetworkID   string       `json:"networkID"`
	NetworkName string       `json:"networkName"`
	Bridge      string       `json:"bridge"`
	Internal    bool         `json:"internal,omitempty"`
	MTU         int          `json:"mtu"`
	Address     netip.Prefix `json:"address"` // the container's, with the subnet's length
	Gateway     netip.Addr   `json:"gateway"`
	MAC         string       `json:"mac"`
	// Aliases are the names the container answers to on this network
	// besides its own name: compose's service name and aliases.
	Aliases []string `json:"aliases,omitempty"`
	// DNSDir is the network's record directory, read by the DNS servers
	// of every container on the network.
	DNSDir string `json:"dnsDir"`
}

// PrimaryEndpoint is the first endpoint with outbound access: it carries
// the default route, and the published ports lead to it.
func PrimaryEndpoint(eps []Endpoint) (Endpoint, bool) {
	for _, ep := range eps {
		if !ep.Internal {
			return ep, true
		}
	}
	return Endpoint{}, false
}

// PortBinding is one published port.
type PortBinding struct {
	Proto  string `json:"proto"`            // "tcp" or "udp"
	HostIP string `json:"hostIP,omitempty"` // "" = every address
	// HostPort is the host port; 0 asks for an ephemeral one. With
	// HostPortEnd, the first free port of HostPort..HostPortEnd is taken.
	HostPort      uint16 `json:"hostPort"`
	HostPortEnd   uint16 `json:"hostPortEnd,omitempty"`
	ContainerPort uint16 `json:"containerPort"`
}

// String is docker's notation: "0.0.0.0:8080->80/tcp".
func (b PortBinding) String() string {
	ip := b.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	return fmt.Sprintf("%s:%d->%d/%s", ip, b.HostPort, b.ContainerPort, b.Proto)
}

// DNSConfig configures the container's resolver.
type DNSConfig struct {
	Servers []string `json:"servers,omitempty"` // upstreams; nil: the host's
	Search  []string `json:"search,omitempty"`
	Options []string `json:"options,omitempty"`
	// Links are names only this container resolves: alias → container
	// name (compose links).
	Links map[string]string `json:"links,omitempty"`
}

// Healthcheck is a resolved healthcheck: every duration set.
type Healthcheck struct {
	// Test is the command: ["CMD", args...] or ["CMD-SHELL", command].
	Test          []string      `json:"test"`
	Interval      time.Duration `json:"interval"`
	Timeout       time.Duration `json:"timeout"`
	StartPeriod   time.Duration `json:"startPeriod"`
	StartInterval time.Duration `json:"startInterval"`
	Retries       int           `json:"retries"`
}

// Health statuses, as Docker names them.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// RestartPolicy is Docker's restart policy.
type RestartPolicy struct {
	Name       string `json:"name"` // "no", "always", "on-failure", "unless-stopped"
	MaxRetries int    `json:"maxRetries,omitempty"`
}

// Status is the lifecycle state of a container, as Docker names them.
type Status string

const (
	Created    Status = "created"
	Running    Status = "running"
	Paused     Status = "paused"
	Restarting Status = "restarting"
	Exited     Status = "exited"
	Dead       Status = "dead"
	Removing   Status = "removing"
)

// State is a container's runtime state.
type State struct {
	Status       Status    `json:"status"`
	Pid          int       `json:"pid,omitempty"`     // host pid of the init
	ShimPid      int       `json:"shimPid,omitempty"` // host pid of the shim
	StartedAt    time.Time `json:"startedAt,omitzero"`
	FinishedAt   time.Time `json:"finishedAt,omitzero"`
	ExitCode     int       `json:"exitCode"`
	OOMKilled    bool      `json:"oomKilled,omitempty"`
	Error        string    `json:"error,omitempty"`
	RestartCount int       `json:"restartCount,omitempty"`
	// ManualStop is set by stop and kill: the restart policy must not undo
	// a stop the user asked for (and unless-stopped remembers it).
	ManualStop bool    `json:"manualStop,omitempty"`
	Health     *Health `json:"health,omitempty"`
	// Ports are the bindings the shim made for Config.Ports (ephemeral
	// ports resolved), while it runs.
	Ports []PortBinding `json:"ports,omitempty"`
}

// Health is the healthcheck state (filled by the shim's prober).
type Health struct {
	Status        string        `json:"status"` // starting, healthy, unhealthy
	FailingStreak int           `json:"failingStreak"`
	Log           []HealthProbe `json:"log,omitempty"`
}

// HealthProbe is one healthcheck result.
type HealthProbe struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ExitCode int       `json:"exitCode"`
	Output   string    `json:"output"`
}

// Paths of one container's files.
type Paths struct {
	Dir    string // persistent: records, logs, rootfs upper
	RunDir string // runtime: socket, lock, mount point
	ID     string
}

// PathsFor returns the paths of container id in root r.
func PathsFor(r state.Root, id string) Paths {
	return Paths{Dir: r.ContainerDir(id), RunDir: r.ContainerRunDir(id), ID: id}
}

func (p Paths) Config() string     { return filepath.Join(p.Dir, "config.json") }
func (p Paths) State() string      { return filepath.Join(p.Dir, "state.json") }
func (p Paths) Log() string        { return filepath.Join(p.Dir, p.ID+"-json.log") }
func (p Paths) ShimLog() string    { return filepath.Join(p.Dir, "shim.log") }
func (p Paths) Upper() string      { return filepath.Join(p.Dir, "fs", "upper") }
func (p Paths) Work() string       { return filepath.Join(p.Dir, "fs", "work") }
func (p Paths) Hosts() string      { return filepath.Join(p.Dir, "hosts") }
func (p Paths) Hostname() string   { return filepath.Join(p.Dir, "hostname") }
func (p Paths) ResolvConf() string { return filepath.Join(p.Dir, "resolv.conf") }
func (p Paths) ShimLock() string   { return filepath.Join(p.RunDir, "shim.lock") }
func (p Paths) Rootfs() string     { return filepath.Join(p.RunDir, "rootfs") }

// LoadConfig reads a container's config.
func LoadConfig(p Paths) (*Config, error) {
	var c Config
	if err := readJSON(p.Config(), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// SaveConfig writes a container's config durably.
func SaveConfig(p Paths, c *Config) error { return writeJSON(p.Config(), c, true) }

// LoadName reads only a container's name from its config: finding a
// container by name reads every container's, and skipping over the spec
// rather than building it takes a third off each (BenchmarkLoadName:
// 69 against 106 us here).
func LoadName(p Paths) (string, error) {
	var c struct {
		Name string `json:"name"`
	}
	if err := readJSON(p.Config(), &c); err != nil {
		return "", err
	}
	return c.Name, nil
}

// LoadState reads a container's state; a missing file reads as Created.
func LoadState(p Paths) (*State, error) {
	var s State
	if err := readJSON(p.State(), &s); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &State{Status: Created}, nil
		}
		return nil, err
	}
	return &s, nil
}

// SaveState writes a container's state atomically. It is not fsynced: state
// is rebuilt from the world (is the shim alive?) by the next command.
func SaveState(p Paths, s *State) error {
	return state.WriteFileNoSync(p.State(), appendStateJSON(make([]byte, 0, 512), s), 0o600)
}

// ShimAlive reports whether a shim holds the container's lock, which it
// does for its whole life; this survives pid reuse, unlike a pid check.
func ShimAlive(p Paths) bool { return state.IsLocked(p.ShimLock()) }

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any, durable bool) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if durable {
		return state.WriteFile(path, b, 0o600)
	}
	return state.WriteFileNoSync(path, b, 0o600)
}
