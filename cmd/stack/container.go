package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"stack/engine"
	"stack/engine/container"
	"stack/engine/logs"
	"stack/engine/oci"
	"stack/engine/state"
	"stack/reconciler/live"
	"stack/spec"
)

// newContainerCmd is `stack container`: docker's container verbs, flags and
// output. The top-level short forms (`stack run`, `stack ps`, ...) are left
// to the compose verbs.
func newContainerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "container",
		Short: "Manage containers",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(
		newContainerRunCmd(g),
		newContainerCreateCmd(g),
		newContainerStartCmd(g),
		newContainerListCmd(g),
		newContainerInspectCmd(g),
		newContainerCpCmd(g),
		newContainerLogsCmd(g),
		newContainerExecCmd(g),
		newContainerAttachCmd(g),
		newContainerStopCmd(g),
		newContainerRestartCmd(g),
		newContainerKillCmd(g),
		newContainerRemoveCmd(g),
		newContainerTopCmd(g),
		newContainerRenameCmd(g),
		newContainerWaitCmd(g),
		newContainerPauseCmd(g, true),
		newContainerPauseCmd(g, false),
		newContainerPruneCmd(g),
	)
	return cmd
}

// ---- create and run ----

// createFlags are the flags `run` and `create` share, as docker spells them.
type createFlags struct {
	name        string
	rm          bool
	env         []string
	envFile     []string
	user        string
	workdir     string
	tty         bool
	interactive bool
	labels      []string
	hostname    string
	domainname  string
	entrypoint  string
	restart     string
	stopSignal  string
	stopTimeout int
	logOpts     []string
	init        bool

	memory            string
	memorySwap        string
	memoryReservation string
	cpus              string
	cpuShares         int64
	cpusetCpus        string
	cpusetMems        string
	pidsLimit         int64
	ulimits           []string
	shmSize           string
	tmpfs             []string

	readOnly    bool
	capAdd      []string
	capDrop     []string
	privileged  bool
	securityOpt []string
	sysctls     []string
	groupAdd    []string

	network      string
	networkAlias []string
	ip           string
	publish      []string
	expose       []string
	dns          []string
	dnsSearch    []string
	dnsOption    []string
	addHost      []string

	volumes     []string
	mounts      []string
	volumesFrom []string
}

func (f *createFlags) register(fs *pflag.FlagSet) {
	fs.SetInterspersed(false) // flags after IMAGE belong to the command
	// -h is --hostname, as in docker; help is --help only. Defining the
	// flag here stops cobra from adding its own with -h.
	fs.Bool("help", false, "Print usage")
	fs.StringVar(&f.name, "name", "", "Assign a name to the container")
	fs.BoolVar(&f.rm, "rm", false, "Automatically remove the container when it exits")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "Set environment variables (KEY=VALUE, or KEY to take it from this environment)")
	fs.StringArrayVar(&f.envFile, "env-file", nil, "Read in a file of environment variables")
	fs.StringVarP(&f.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.BoolVarP(&f.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVarP(&f.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.StringArrayVarP(&f.labels, "label", "l", nil, "Set meta data on a container")
	fs.StringVarP(&f.hostname, "hostname", "h", "", "Container host name")
	fs.StringVar(&f.domainname, "domainname", "", "Container NIS domain name")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image (\"\" clears it)")
	fs.StringVar(&f.restart, "restart", "no", "Restart policy to apply when a container exits (no, always, unless-stopped, on-failure[:max-retries])")
	fs.StringVar(&f.stopSignal, "stop-signal", "", "Signal to stop the container")
	fs.IntVar(&f.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	fs.StringArrayVar(&f.logOpts, "log-opt", nil, "Log driver options (max-size, max-file)")
	fs.BoolVar(&f.init, "init", false, "Run an init inside the container (always the case with stack)")

	fs.StringVarP(&f.memory, "memory", "m", "", "Memory limit")
	fs.StringVar(&f.memorySwap, "memory-swap", "", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	fs.StringVar(&f.memoryReservation, "memory-reservation", "", "Memory soft limit")
	fs.StringVar(&f.cpus, "cpus", "", "Number of CPUs")
	fs.Int64VarP(&f.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.StringVar(&f.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fs.StringVar(&f.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	fs.Int64Var(&f.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	fs.StringArrayVar(&f.ulimits, "ulimit", nil, "Ulimit options (name=soft[:hard])")
	fs.StringVar(&f.shmSize, "shm-size", "", "Size of /dev/shm")
	fs.StringArrayVar(&f.tmpfs, "tmpfs", nil, "Mount a tmpfs directory (PATH[:OPTIONS])")

	fs.BoolVar(&f.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	fs.StringArrayVar(&f.capAdd, "cap-add", nil, "Add Linux capabilities")
	fs.StringArrayVar(&f.capDrop, "cap-drop", nil, "Drop Linux capabilities")
	fs.BoolVar(&f.privileged, "privileged", false, "Give extended privileges to this container")
	fs.StringArrayVar(&f.securityOpt, "security-opt", nil, "Security Options")
	fs.StringArrayVar(&f.sysctls, "sysctl", nil, "Sysctl options (KEY=VALUE)")
	fs.StringArrayVar(&f.groupAdd, "group-add", nil, "Add additional groups to join")

	fs.StringVar(&f.network, "network", "none", "Connect a container to a network (a network's name or ID, none, host, or container:NAME)")
	fs.StringArrayVar(&f.networkAlias, "network-alias", nil, "Add network-scoped alias for the container")
	fs.StringVar(&f.ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	fs.StringArrayVarP(&f.publish, "publish", "p", nil, "Publish a container's port(s) to the host ([IP:][HOST_PORT:]CONTAINER_PORT[/PROTO])")
	fs.StringArrayVar(&f.expose, "expose", nil, "Expose a port or a range of ports")
	fs.StringArrayVar(&f.dns, "dns", nil, "Set custom DNS servers")
	fs.StringArrayVar(&f.dnsSearch, "dns-search", nil, "Set custom DNS search domains")
	fs.StringArrayVar(&f.dnsOption, "dns-option", nil, "Set DNS options")
	fs.StringArrayVar(&f.addHost, "add-host", nil, "Add a custom host-to-IP mapping (host:ip)")
	fs.StringArrayVarP(&f.volumes, "volume", "v", nil, "Bind mount a volume (NAME:PATH, /HOST:PATH, or PATH for an anonymous volume; :ro)")
	fs.StringArrayVar(&f.mounts, "mount", nil, "Attach a filesystem mount to the container (type=volume|bind|tmpfs,source=…,target=…,readonly)")
	fs.StringArrayVar(&f.volumesFrom, "volumes-from", nil, "Mount volumes from the specified container(s) (NAME[:ro|:rw])")
}

// options turns the flags and the positional IMAGE [COMMAND] [ARG...] into
// the engine's CreateOptions. lookupEnv and readFile are the host's.
func (f *createFlags) options(fs *pflag.FlagSet, args []string, lookupEnv func(string) (string, bool), readFile func(string) ([]byte, error)) (engine.CreateOptions, error) {
	o := engine.CreateOptions{
		Name:       f.name,
		Image:      args[0],
		User:       f.user,
		WorkingDir: f.workdir,
		Hostname:   f.hostname,
		Domainname: f.domainname,
		Tty:        f.tty,
		OpenStdin:  f.interactive,
		StopSignal: f.stopSignal,
		AutoRemove: f.rm,
	}
	if len(args) > 1 {
		o.Cmd = slices.Clone(args[1:])
	}
	if fs.Changed("entrypoint") {
		o.Entrypoint = []string{}
		if f.entrypoint != "" {
			o.Entrypoint = []string{f.entrypoint}
		}
	}
	if fs.Changed("stop-timeout") {
		t := f.stopTimeout
		o.StopTimeout = &t
	}
	// Docker reads the env files first; -e overrides them.
	for _, name := range f.envFile {
		b, err := readFile(name)
		if err != nil {
			return o, fmt.Errorf("env file: %w", err)
		}
		env, err := parseEnvFile(name, b, lookupEnv)
		if err != nil {
			return o, err
		}
		o.Env = append(o.Env, env...)
	}
	env, err := parseEnvFlags(f.env, lookupEnv)
	if err != nil {
		return o, err
	}
	o.Env = append(o.Env, env...)
	if o.Labels, err = parseKeyValues("--label", f.labels, false); err != nil {
		return o, err
	}
	if o.LogOptions, err = parseKeyValues("--log-opt", f.logOpts, true); err != nil {
		return o, err
	}
	if _, err := logs.ParseOptions(o.LogOptions); err != nil {
		return o, err
	}
	if o.Restart, err = parseRestart(f.restart); err != nil {
		return o, err
	}
	if f.rm && o.Restart.Name != "no" {
		// The engine refuses this too, but run --rm in the foreground
		// does not pass AutoRemove down (see runContainer).
		return o, errors.New("conflicting options: cannot specify both --restart and --rm")
	}
	if o.SpecOpts, err = f.specOpts(fs); err != nil {
		return o, err
	}
	if err := f.networkOptions(&o); err != nil {
		return o, err
	}
	if err := f.mountOptions(&o); err != nil {
		return o, err
	}
	return o, nil
}

// mountOptions maps -v, --mount and --volumes-from.
func (f *createFlags) mountOptions(o *engine.CreateOptions) error {
	cwd, _ := os.Getwd()
	for _, v := range f.volumes {
		m, err := spec.ParseVolume(v, cwd)
		if err != nil {
			return fmt.Errorf("--volume: %w", err)
		}
		em, _ := live.EngineMount(m)
		o.Mounts = append(o.Mounts, em)
	}
	for _, v := range f.mounts {
		m, err := parseMountFlag(v)
		if err != nil {
			return err
		}
		o.Mounts = append(o.Mounts, m)
	}
	o.VolumesFrom = f.volumesFrom
	return nil
}

// parseMountFlag parses docker's --mount: comma-separated key=value
// fields (type, source/src, target/destination/dst, readonly/ro,
// volume-nocopy, volume-subpath, bind-propagation, tmpfs-size,
// tmpfs-mode).
func parseMountFlag(s string) (engine.Mount, error) {
	m := engine.Mount{Type: "volume"}
	bad := func(why string) (engine.Mount, error) {
		return engine.Mount{}, fmt.Errorf("invalid argument %q for \"--mount\" flag: %s", s, why)
	}
	for _, field := range strings.Split(s, ",") {
		k, v, hasValue := strings.Cut(field, "=")
		boolean := func() (bool, error) {
			if !hasValue {
				return true, nil
			}
			return strconv.ParseBool(v)
		}
		var err error
		switch strings.ToLower(k) {
		case "type":
			m.Type = v
		case "source", "src":
			m.Source = v
		case "target", "destination", "dst":
			m.Target = v
		case "readonly", "ro":
			m.ReadOnly, err = boolean()
		case "volume-nocopy":
			m.NoCopy, err = boolean()
		case "volume-subpath":
			m.Subpath = v
		case "bind-propagation":
			m.Propagation = v
		case "bind-create-host-path":
			m.CreateHostPath, err = boolean()
		case "tmpfs-size":
			var n int64
			n, err = oci.ParseMemory(v)
			m.TmpfsSize = n
		case "tmpfs-mode":
			var n uint64
			n, err = strconv.ParseUint(v, 8, 32)
			m.TmpfsMode = uint32(n)
		case "consistency", "bind-recursive", "volume-driver", "volume-label", "volume-opt":
		default:
			return bad("unexpected key '" + k + "'")
		}
		if err != nil {
			return bad(k + ": " + err.Error())
		}
	}
	if m.Target == "" {
		return bad("target is required")
	}
	if m.Type == "bind" && m.Source == "" {
		return bad("source is required when specifying bind mounts")
	}
	return m, nil
}

// networkOptions maps --network and its companions.
func (f *createFlags) networkOptions(o *engine.CreateOptions) error {
	switch n := f.network; {
	case n == "none" || n == "host" || strings.HasPrefix(n, "container:"):
		o.NetworkMode = n
		if len(f.networkAlias) > 0 || f.ip != "" {
			return fmt.Errorf("--network-alias and --ip need a user-defined network, not --network %s", n)
		}
	case n == "" || n == "bridge" || n == "default":
		return fmt.Errorf("--network %q: the default bridge network is not supported: create a network (stack network create NAME) and use --network NAME", n)
	default:
		o.Networks = []engine.NetworkAttachment{{Network: n, Aliases: f.networkAlias, IPv4: f.ip}}
	}
	for _, p := range f.publish {
		ports, err := spec.ParsePorts(p)
		if err != nil {
			return fmt.Errorf("--publish: %w", err)
		}
		for _, port := range ports {
			b, err := live.PortBinding(port)
			if err != nil {
				return fmt.Errorf("--publish %s: %w", p, err)
			}
			o.Ports = append(o.Ports, b)
		}
	}
	if len(o.Ports) > 0 && len(o.Networks) == 0 {
		return fmt.Errorf("--publish needs a user-defined network (--network NAME): with --network %s nothing can be published", f.network)
	}
	o.ExposedPorts = f.expose
	o.DNS = container.DNSConfig{Servers: f.dns, Search: f.dnsSearch, Options: f.dnsOption}
	o.ExtraHosts = f.addHost
	return nil
}

// specOpts maps the limit and security flags to OCI spec options.
func (f *createFlags) specOpts(fs *pflag.FlagSet) ([]oci.SpecOpt, error) {
	var opts []oci.SpecOpt
	memory := func(flag, v string) (int64, error) {
		if v == "" {
			return 0, nil
		}
		if flag == "--memory-swap" && v == "-1" {
			return -1, nil
		}
		n, err := oci.ParseMemory(v)
		if err != nil {
			return 0, fmt.Errorf("invalid argument %q for %s: %w", v, flag, err)
		}
		return n, nil
	}
	limit, err := memory("--memory", f.memory)
	if err != nil {
		return nil, err
	}
	swap, err := memory("--memory-swap", f.memorySwap)
	if err != nil {
		return nil, err
	}
	reservation, err := memory("--memory-reservation", f.memoryReservation)
	if err != nil {
		return nil, err
	}
	if limit != 0 || swap != 0 || reservation != 0 {
		opts = append(opts, oci.WithMemory(limit, reservation, swap))
	}
	if f.cpus != "" {
		cpus, err := oci.ParseCPUs(f.cpus)
		if err != nil {
			return nil, err
		}
		opts = append(opts, oci.WithCPUs(cpus))
	}
	if f.cpuShares != 0 {
		opts = append(opts, oci.WithCPUShares(f.cpuShares))
	}
	if f.cpusetCpus != "" || f.cpusetMems != "" {
		opts = append(opts, oci.WithCpuset(f.cpusetCpus, f.cpusetMems))
	}
	if fs.Changed("pids-limit") {
		opts = append(opts, oci.WithPidsLimit(f.pidsLimit))
	}
	if len(f.ulimits) > 0 {
		ul := map[string]oci.Ulimit{}
		for _, v := range f.ulimits {
			name, u, err := parseUlimit(v)
			if err != nil {
				return nil, err
			}
			ul[name] = u
		}
		opts = append(opts, oci.WithUlimits(ul))
	}
	if f.privileged {
		opts = append(opts, oci.WithPrivileged())
	}
	if len(f.capAdd) > 0 || len(f.capDrop) > 0 {
		opts = append(opts, oci.WithCapabilities(f.capAdd, f.capDrop))
	}
	if f.readOnly {
		opts = append(opts, oci.WithReadonlyRootfs(true))
	}
	if len(f.securityOpt) > 0 {
		opts = append(opts, oci.WithSecurityOpts(f.securityOpt))
	}
	if len(f.sysctls) > 0 {
		sc, err := parseKeyValues("--sysctl", f.sysctls, true)
		if err != nil {
			return nil, err
		}
		opts = append(opts, oci.WithSysctls(sc))
	}
	if f.shmSize != "" {
		n, err := oci.ParseMemory(f.shmSize)
		if err != nil {
			return nil, fmt.Errorf("invalid argument %q for --shm-size: %w", f.shmSize, err)
		}
		opts = append(opts, oci.WithShmSize(n))
	}
	for _, t := range f.tmpfs {
		dest, o, _ := strings.Cut(t, ":")
		var tmpfsOpts []string
		if o != "" {
			tmpfsOpts = strings.Split(o, ",")
		}
		opts = append(opts, oci.WithTmpfs(dest, tmpfsOpts))
	}
	if len(f.groupAdd) > 0 {
		opts = append(opts, oci.WithAdditionalGroups(f.groupAdd))
	}
	return opts, nil
}

// parseEnvFlags applies docker's -e rules: KEY=VALUE as is; a bare KEY
// takes its value from this environment, and is left out when unset there.
func parseEnvFlags(values []string, lookupEnv func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, v := range values {
		k, _, hasValue := strings.Cut(v, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid environment variable: %q", v)
		}
		if hasValue {
			out = append(out, v)
		} else if val, ok := lookupEnv(k); ok {
			out = append(out, k+"="+val)
		}
	}
	return out, nil
}

// parseEnvFile reads a docker env file (docker's opts.ParseEnvFile):
// KEY=VALUE lines with the value kept verbatim (no quotes removed, no
// trimming); lines blank or starting with '#' after leading white space are
// skipped; a bare KEY takes its value from this environment and is left out
// when unset there. A key with white space in it is an error naming the
// file and line.
func parseEnvFile(name string, data []byte, lookupEnv func(string) (string, bool)) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		b := sc.Bytes()
		if n == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // UTF-8 BOM
		}
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("env file %s: line %d: invalid UTF-8", name, n)
		}
		line := strings.TrimLeftFunc(string(b), unicode.IsSpace)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, hasValue := strings.Cut(line, "=")
		if !hasValue {
			key = strings.TrimRightFunc(key, unicode.IsSpace)
		}
		switch {
		case key == "":
			return nil, fmt.Errorf("env file %s: line %d: no variable name in %q", name, n, line)
		case strings.ContainsAny(key, " \t"):
			return nil, fmt.Errorf("env file %s: line %d: variable %q contains whitespaces", name, n, key)
		}
		if hasValue {
			out = append(out, key+"="+value)
		} else if v, ok := lookupEnv(key); ok {
			out = append(out, key+"="+v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("env file %s: %w", name, err)
	}
	return out, nil
}

// parseKeyValues reads repeated KEY=VALUE flags into a map, later ones
// winning. Without needValue a bare KEY means an empty value (docker's
// labels).
func parseKeyValues(flag string, values []string, needValue bool) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if k == "" || (needValue && !ok) {
			return nil, fmt.Errorf("invalid argument %q for %s: want KEY=VALUE", v, flag)
		}
		m[k] = val
	}
	return m, nil
}

// parseRestart reads --restart as docker does: no, always,
// unless-stopped, or on-failure with an optional :max-retries.
func parseRestart(s string) (container.RestartPolicy, error) {
	if s == "" {
		return container.RestartPolicy{Name: "no"}, nil
	}
	name, count, hasCount := strings.Cut(s, ":")
	p := container.RestartPolicy{Name: name}
	switch name {
	case "no", "always", "unless-stopped", "on-failure":
	case "":
		return p, fmt.Errorf("invalid restart policy %q: no policy before the colon", s)
	default:
		return p, fmt.Errorf("invalid restart policy %q: unknown policy %q; use one of no, always, on-failure or unless-stopped", s, name)
	}
	if hasCount {
		if name != "on-failure" {
			return p, fmt.Errorf("invalid restart policy %q: maximum retry count can only be used with on-failure", s)
		}
		n, err := strconv.Atoi(count)
		if err != nil {
			return p, fmt.Errorf("invalid restart policy %q: maximum retry count must be an integer", s)
		}
		if n < 0 {
			return p, fmt.Errorf("invalid restart policy %q: maximum retry count cannot be negative", s)
		}
		p.MaxRetries = n
	}
	return p, nil
}

// ulimitNames are the names docker's --ulimit accepts (go-units).
var ulimitNames = []string{"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"}

// parseUlimit reads --ulimit as go-units ParseUlimit does: name=soft or
// name=soft:hard, -1 meaning unlimited; a soft limit alone sets both.
func parseUlimit(s string) (string, oci.Ulimit, error) {
	name, vals, ok := strings.Cut(s, "=")
	if !ok {
		return "", oci.Ulimit{}, fmt.Errorf("invalid ulimit %q: want name=soft[:hard]", s)
	}
	if !slices.Contains(ulimitNames, name) {
		return "", oci.Ulimit{}, fmt.Errorf("invalid ulimit %q: unknown type %q", s, name)
	}
	parts := strings.Split(vals, ":")
	if len(parts) > 2 {
		return "", oci.Ulimit{}, fmt.Errorf("invalid ulimit %q: too many values, want soft[:hard]", s)
	}
	soft, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return "", oci.Ulimit{}, fmt.Errorf("invalid ulimit %q: soft limit %q is not a number", s, parts[0])
	}
	hard := soft
	if len(parts) == 2 {
		if hard, err = strconv.ParseInt(parts[1], 10, 64); err != nil {
			return "", oci.Ulimit{}, fmt.Errorf("invalid ulimit %q: hard limit %q is not a number", s, parts[1])
		}
	}
	if hard != -1 && (soft == -1 || soft > hard) {
		return "", oci.Ulimit{}, fmt.Errorf("invalid ulimit %q: soft limit must be less than or equal to hard limit", s)
	}
	return name, oci.Ulimit{Soft: soft, Hard: hard}, nil
}

func newContainerCreateCmd(g *globals) *cobra.Command {
	var f createFlags
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := f.options(cmd.Flags(), args, os.LookupEnv, os.ReadFile)
			if err != nil {
				return err
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			c, err := e.Create(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), c.ID())
			return nil
		},
	}
	f.register(cmd.Flags())
	return cmd
}

func newContainerRunCmd(g *globals) *cobra.Command {
	var f createFlags
	var detach bool
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Long: `Create and run a new container from an image.

Without -d, the container's output is streamed here and stack exits with
the container's exit code; signals (Ctrl-C) are passed on to it. With --rm
in the foreground, stack removes the container once it has stopped.
Exit codes of stack itself follow docker run: 125 when the container could
not be created or started, 126 when its command cannot be run, 127 when it
is not found.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := runContainer(cmd, g, &f, detach, args)
			var ee *exitError
			if err != nil && !errors.As(err, &ee) {
				// docker run's own failures exit 125.
				err = &exitError{code: 125, err: err}
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "Run container in background and print container ID")
	f.register(cmd.Flags())
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: 125, err: err} })
	return cmd
}

func runContainer(cmd *cobra.Command, g *globals, f *createFlags, detach bool, args []string) error {
	opts, err := f.options(cmd.Flags(), args, os.LookupEnv, os.ReadFile)
	if err != nil {
		return err
	}
	// In the foreground, stack removes the container itself once it has
	// read the exit code: the shim's AutoRemove could delete the
	// container, and its exit code with it, before we are there to ask.
	removeAfter := !detach && opts.AutoRemove
	if removeAfter {
		opts.AutoRemove = false
	}
	e, err := g.engine()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	c, err := e.Create(ctx, opts)
	if err != nil {
		return err
	}
	id := c.ID()
	if err := e.Start(ctx, id); err != nil {
		if removeAfter {
			removeQuietly(e, id, cmd.ErrOrStderr())
		}
		return startExitError(err)
	}
	if detach {
		fmt.Fprintln(cmd.OutOrStdout(), id)
		return nil
	}
	code, err := runForeground(ctx, e, id, f.interactive, f.tty, time.Time{}, cmd.OutOrStdout(), cmd.ErrOrStderr())
	if removeAfter {
		removeQuietly(e, id, cmd.ErrOrStderr())
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// startExitError is a failed start as docker run reports it: exit code
// 126 or 127 when the command cannot be run, else 125.
func startExitError(err error) error {
	code := 125
	var se *engine.StartError
	if errors.As(err, &se) && (se.Code == 126 || se.Code == 127) {
		code = se.Code
	}
	return &exitError{code: code, err: err}
}

// removeQuietly removes a container that may already be gone.
func removeQuietly(e *engine.Engine, id string, stderr io.Writer) {
	// like docker run --rm, its anonymous volumes go with it
	err := e.RemoveWithVolumes(context.Background(), id, true, true)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		fmt.Fprintf(stderr, "stack: %v\n", err)
	}
}

// runForeground attaches to a started container — its output here, our
// stdin there with -i, our terminal in raw mode with -t — and returns its
// exit code once it has stopped for good. Without a terminal, signals that
// would stop us are sent to the container instead, as docker run's
// --sig-proxy does; with one, they arrive as keys on the terminal.
//
// The shim replays the start of a run's output to a client attaching right
// after start, so nothing printed before we attach is lost. If the
// container has already exited and its shim is gone, the log from since
// (this run's start; zero for a new container) and the recorded exit code
// say everything.
func runForeground(ctx context.Context, e *engine.Engine, id string, interactive, tty bool, since time.Time, stdout, stderr io.Writer) (int, error) {
	opts := engine.AttachOptions{Stdout: stdout, Stderr: stderr}
	if interactive {
		opts.Stdin = os.Stdin
	}
	stop := make(chan struct{})
	defer close(stop)
	if tty {
		if fd := int(os.Stdin.Fd()); interactive && isTerminal(fd) {
			restore, err := makeRaw(fd)
			if err != nil {
				return -1, err
			}
			defer restore()
		}
		sizes := make(chan [2]uint16, 1)
		opts.Resize = sizes
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for {
				if ws := termSize(); ws != nil {
					select {
					case sizes <- *ws:
					default:
					}
				}
				select {
				case <-winch:
				case <-stop:
					return
				}
			}
		}()
	} else {
		sigs := make(chan os.Signal, 16)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
		defer signal.Stop(sigs)
		go func() {
			for {
				select {
				case s := <-sigs:
					if sig, ok := s.(syscall.Signal); ok {
						e.Kill(ctx, id, sig) // not running: nothing to stop
					}
				case <-stop:
					return
				}
			}
		}()
	}
	_, err := e.Attach(ctx, id, opts)
	if errors.Is(err, engine.ErrNotRunning) {
		// Already over: print what it wrote and its recorded exit code.
		lerr := e.Logs(ctx, id, logs.ReadOptions{Tail: -1, Since: since}, func(en logs.Entry) error {
			w := stdout
			if en.Stream == "stderr" {
				w = stderr
			}
			_, err := w.Write(en.Line)
			return err
		})
		if lerr != nil && !errors.Is(lerr, fs.ErrNotExist) {
			return -1, lerr
		}
		return e.Wait(ctx, id)
	}
	if err != nil {
		return -1, err
	}
	// Attach ends with the run; a restart policy may start another.
	return e.Wait(ctx, id)
}

// termSize is our terminal's size (rows, cols), from stdin or stdout.
func termSize() *[2]uint16 {
	for _, fd := range []int{int(os.Stdin.Fd()), int(os.Stdout.Fd())} {
		if w, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
			return &[2]uint16{w.Row, w.Col}
		}
	}
	return nil
}

// ---- start, stop, restart, kill, pause, wait, rm ----

// forEach runs fn on every argument in order, prints the argument when it
// succeeds (as docker does), and joins the errors.
func forEach(cmd *cobra.Command, g *globals, args []string, print bool, fn func(context.Context, *engine.Engine, string) error) error {
	e, err := g.engine()
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range args {
		if err := fn(cmd.Context(), e, a); err != nil {
			if !errors.Is(err, errSkip) {
				errs = append(errs, err)
			}
			continue
		}
		if print {
			fmt.Fprintln(cmd.OutOrStdout(), a)
		}
	}
	return errors.Join(errs...)
}

func newContainerStartCmd(g *globals) *cobra.Command {
	var attach, interactive bool
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Long: `Start one or more stopped containers.

With -a, stack stays attached to the container's output (and with -i
passes its input on, for a container created with -i) and exits with the
container's exit code, as docker start -a does.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !attach && !interactive {
				return forEach(cmd, g, args, true, func(ctx context.Context, e *engine.Engine, ref string) error {
					return e.Start(ctx, ref)
				})
			}
			if len(args) > 1 {
				return errors.New("you cannot start and attach multiple containers at once")
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			c, err := e.Get(args[0])
			if err != nil {
				return err
			}
			since := time.Now()
			if err := e.Start(cmd.Context(), c.ID()); err != nil {
				return startExitError(err)
			}
			code, err := runForeground(cmd.Context(), e, c.ID(), interactive && c.Config.OpenStdin, c.Config.Spec.Process.Terminal, since, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "Attach container's STDIN")
	return cmd
}

// stopTimeout returns the -t value when the flag was given, else nil (the
// container's own stop timeout).
func stopTimeout(cmd *cobra.Command, t int) *int {
	if !cmd.Flags().Changed("time") {
		return nil
	}
	return &t
}

// stopContainer stops a container with its stop signal, or with sig when
// given; SIGKILL follows after the timeout.
func stopContainer(ctx context.Context, e *engine.Engine, ref string, timeout *int, sig string) error {
	var s syscall.Signal
	if sig != "" {
		var err error
		if s, err = oci.ParseSignal(sig); err != nil {
			return err
		}
	}
	return e.Stop(ctx, ref, timeout, s)
}

func newContainerStopCmd(g *globals) *cobra.Command {
	var t int
	var sig string
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			timeout := stopTimeout(cmd, t)
			return forEach(cmd, g, args, true, func(ctx context.Context, e *engine.Engine, ref string) error {
				return stopContainer(ctx, e, ref, timeout, sig)
			})
		},
	}
	cmd.Flags().IntVarP(&t, "time", "t", 0, "Seconds to wait before killing the container (default: the container's stop timeout, else 10)")
	cmd.Flags().StringVarP(&sig, "signal", "s", "", "Signal to send to the container (default: its stop signal)")
	return cmd
}

func newContainerRestartCmd(g *globals) *cobra.Command {
	var t int
	var sig string
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			timeout := stopTimeout(cmd, t)
			return forEach(cmd, g, args, true, func(ctx context.Context, e *engine.Engine, ref string) error {
				if err := stopContainer(ctx, e, ref, timeout, sig); err != nil {
					return err
				}
				return e.Start(ctx, ref)
			})
		},
	}
	cmd.Flags().IntVarP(&t, "time", "t", 0, "Seconds to wait before killing the container (default: the container's stop timeout, else 10)")
	cmd.Flags().StringVarP(&sig, "signal", "s", "", "Signal to send to the container (default: its stop signal)")
	return cmd
}

func newContainerKillCmd(g *globals) *cobra.Command {
	var sig string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := oci.ParseSignal(sig)
			if err != nil {
				return err
			}
			return forEach(cmd, g, args, true, func(ctx context.Context, e *engine.Engine, ref string) error {
				return e.Kill(ctx, ref, s)
			})
		},
	}
	cmd.Flags().StringVarP(&sig, "signal", "s", "KILL", "Signal to send to the container")
	return cmd
}

func newContainerPauseCmd(g *globals, freeze bool) *cobra.Command {
	use, short := "pause", "Pause all processes within one or more containers"
	if !freeze {
		use, short = "unpause", "Unpause all processes within one or more containers"
	}
	return &cobra.Command{
		Use:   use + " CONTAINER [CONTAINER...]",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return forEach(cmd, g, args, true, func(ctx context.Context, e *engine.Engine, ref string) error {
				return e.Pause(ctx, ref, freeze)
			})
		},
	}
}

func newContainerWaitCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return forEach(cmd, g, args, false, func(ctx context.Context, e *engine.Engine, ref string) error {
				code, err := e.Wait(ctx, ref)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), code)
				return nil
			})
		},
	}
}

func newContainerRemoveCmd(g *globals) *cobra.Command {
	var force, volumes bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more containers",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return forEach(cmd, g, args, true, func(ctx context.Context, e *engine.Engine, ref string) error {
				err := e.RemoveWithVolumes(ctx, ref, force, volumes)
				if err != nil && force && errors.Is(err, engine.ErrNotFound) {
					// docker rm -f reports a missing container but
					// does not fail on it.
					fmt.Fprintf(cmd.ErrOrStderr(), "stack: %v\n", err)
					return errSkip
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	return cmd
}

// errSkip marks an argument that was reported but is not a failure.
var errSkip = errors.New("skipped")

func newContainerPruneCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !force {
				fmt.Fprint(cmd.ErrOrStderr(), "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ")
				if !confirmed(cmd.InOrStdin()) {
					return nil
				}
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			cs, err := e.List(true)
			if err != nil {
				return err
			}
			var deleted []string
			var errs []error
			for _, c := range cs {
				switch c.State.Status {
				case container.Running, container.Paused, container.Restarting:
					continue
				}
				err := e.Remove(cmd.Context(), c.ID(), false)
				switch {
				case err == nil:
					deleted = append(deleted, c.ID())
				case errors.Is(err, engine.ErrNotFound), errors.Is(err, engine.ErrInUse):
					// Removed or started meanwhile.
				default:
					errs = append(errs, err)
				}
			}
			out := cmd.OutOrStdout()
			if len(deleted) > 0 {
				fmt.Fprintln(out, "Deleted Containers:")
				for _, id := range deleted {
					fmt.Fprintln(out, id)
				}
				fmt.Fprintln(out)
			}
			fmt.Fprintln(out, "Total reclaimed space:", humanSize(0))
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	return cmd
}

// confirmed reads a y/yes answer from r.
func confirmed(r io.Reader) bool {
	line, _ := bufio.NewReader(r).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

func newContainerAttachCmd(g *globals) *cobra.Command {
	var noStdin bool
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Long: `Attach local standard input, output, and error streams to a running container.

Input is passed on when the container was created with -i (and --no-stdin
is not given); with -t our terminal is put in raw mode. stack exits with
the container's exit code when it stops.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			c, err := e.Get(args[0])
			if err != nil {
				return err
			}
			if c.State.Status != container.Running && c.State.Status != container.Paused {
				return fmt.Errorf("you cannot attach to a stopped container, start it first: %w", engine.ErrNotRunning)
			}
			code, err := runForeground(cmd.Context(), e, c.ID(), c.Config.OpenStdin && !noStdin, c.Config.Spec.Process.Terminal, c.State.StartedAt, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "Do not attach STDIN")
	return cmd
}

// ---- ls ----

// psRow is one line of `container ls`, with docker's field names, so that
// --format templates and --format json read the same as docker's.
type psRow struct {
	Command      string
	CreatedAt    string
	ID           string
	Image        string
	Labels       string
	LocalVolumes string
	Mounts       string
	Names        string
	Networks     string
	Ports        string
	RunningFor   string
	Size         string
	State        string
	Status       string

	labels map[string]string
}

// Label returns one label's value, for {{.Label "key"}}.
func (r psRow) Label(name string) string { return r.labels[name] }

// psHeader holds the column titles of docker ps's table.
var psHeader = psRow{
	Command: "COMMAND", CreatedAt: "CREATED AT", ID: "CONTAINER ID", Image: "IMAGE",
	Labels: "LABELS", LocalVolumes: "LOCAL VOLUMES", Mounts: "MOUNTS", Names: "NAMES",
	Networks: "NETWORKS", Ports: "PORTS", RunningFor: "CREATED", Size: "SIZE",
	State: "STATE", Status: "STATUS",
}

const psTableFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

func newPSRow(c *engine.Container, trunc bool, now time.Time) psRow {
	cfg := c.Config
	var args []string
	if cfg.Spec != nil && cfg.Spec.Process != nil {
		args = cfg.Spec.Process.Args
	}
	if len(args) == 0 {
		args = append(slices.Clone(cfg.Entrypoint), cfg.Cmd...)
	}
	image := cfg.ImageName
	if image == "" || (trunc && strings.HasPrefix(image, "sha256:")) {
		image = state.ShortID(cfg.Image)
	}
	id := cfg.ID
	if trunc {
		id = state.ShortID(id)
	}
	var labels []string
	for _, k := range slices.Sorted(maps.Keys(cfg.Labels)) {
		labels = append(labels, k+"="+cfg.Labels[k])
	}
	network := cfg.NetworkMode
	if network == "" {
		network = "none"
	}
	if len(cfg.Endpoints) > 0 {
		var names []string
		for _, ep := range cfg.Endpoints {
			names = append(names, ep.NetworkName)
		}
		network = strings.Join(names, ",")
	}
	return psRow{
		Command:      commandColumn(strings.Join(args, " "), trunc),
		CreatedAt:    createdAtText(cfg.Created),
		ID:           id,
		Image:        image,
		Labels:       strings.Join(labels, ","),
		LocalVolumes: "0",
		Names:        cfg.Name,
		Networks:     network,
		Ports:        portsColumn(containerPublishers(c)),
		RunningFor:   timeAgo(cfg.Created, now),
		Size:         humanSize(0),
		State:        string(c.State.Status),
		Status:       statusText(c.State, now),
		labels:       cfg.Labels,
	}
}

// commandColumn is docker ps's COMMAND: quoted, and cut to 20 characters
// with "…" unless --no-trunc.
func commandColumn(command string, trunc bool) string {
	if trunc {
		command = ellipsis(command, 20)
	}
	return strconv.Quote(command)
}

// statusText is docker ps's STATUS (moby container.State.String).
func statusText(st *container.State, now time.Time) string {
	switch st.Status {
	case container.Paused:
		return fmt.Sprintf("Up %s (Paused)", humanDuration(now.Sub(st.StartedAt)))
	case container.Restarting:
		return fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, humanDuration(now.Sub(st.FinishedAt)))
	case container.Running:
		up := "Up " + humanDuration(now.Sub(st.StartedAt))
		if h := st.Health; h != nil && h.Status != "" {
			hs := h.Status
			if hs == "starting" {
				hs = "health: starting"
			}
			up += " (" + hs + ")"
		}
		return up
	case container.Removing:
		return "Removal In Progress"
	case container.Dead:
		return "Dead"
	}
	if st.StartedAt.IsZero() {
		return "Created"
	}
	if st.FinishedAt.IsZero() {
		return ""
	}
	return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, humanDuration(now.Sub(st.FinishedAt)))
}

// containerFilter is `container ls --filter`: id=, name=, label=,
// status=, exited=, health=. As docker's: the values of one key are
// alternatives, every key must hold.
type containerFilter struct {
	ids, names, labels, status, health []string
	exited                             []int
}

func parseContainerFilters(fs []string) (*containerFilter, error) {
	f := &containerFilter{}
	for _, s := range fs {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value): %s", s)
		}
		switch k {
		case "id":
			f.ids = append(f.ids, v)
		case "name":
			f.names = append(f.names, strings.TrimPrefix(v, "/"))
		case "label":
			f.labels = append(f.labels, v)
		case "status":
			switch container.Status(v) {
			case container.Created, container.Running, container.Paused, container.Restarting, container.Exited, container.Dead, container.Removing:
			default:
				return nil, fmt.Errorf("invalid filter 'status=%s': want created, restarting, running, removing, paused, exited or dead", v)
			}
			f.status = append(f.status, v)
		case "exited":
			code, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("invalid filter 'exited=%s': not an exit code", v)
			}
			f.exited = append(f.exited, code)
		case "health":
			switch v {
			case container.HealthStarting, container.HealthHealthy, container.HealthUnhealthy, "none":
			default:
				return nil, fmt.Errorf("invalid filter 'health=%s': want starting, healthy, unhealthy or none", v)
			}
			f.health = append(f.health, v)
		default:
			return nil, fmt.Errorf("invalid filter '%s' (supported: id, name, label, status, exited, health)", k)
		}
	}
	return f, nil
}

// all says whether the filter looks at stopped containers too: a status
// or an exit code does, without -a (as docker's).
func (f *containerFilter) all() bool { return len(f.status) > 0 || len(f.exited) > 0 }

func (f *containerFilter) keep(c *engine.Container) bool {
	anyOf := func(vals []string, match func(string) bool) bool {
		return len(vals) == 0 || slices.ContainsFunc(vals, match)
	}
	health := "none"
	if h := c.State.Health; h != nil {
		health = h.Status
	}
	return anyOf(f.ids, func(v string) bool { return strings.HasPrefix(c.Config.ID, v) }) &&
		anyOf(f.names, func(v string) bool { return strings.Contains(c.Config.Name, v) }) &&
		anyOf(f.status, func(v string) bool { return string(c.State.Status) == v }) &&
		anyOf(f.health, func(v string) bool { return health == v }) &&
		(len(f.exited) == 0 || c.State.Status == container.Exited && slices.Contains(f.exited, c.State.ExitCode)) &&
		matchLabels(c.Config.Labels, f.labels)
}

func newContainerListCmd(g *globals) *cobra.Command {
	var all, quiet, noTrunc, latest bool
	var last int
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"ps", "list"},
		Short:   "List containers",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if quiet && format == "" {
				format = "{{.ID}}"
			}
			lf, err := parseListFormat(format, psTableFormat)
			if err != nil {
				return err
			}
			f, err := parseContainerFilters(filters)
			if err != nil {
				return err
			}
			if latest {
				last = 1
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			// -n and -l count every container, as -a; List gives the
			// newest first.
			cs, err := e.List(all || last > 0 || f.all())
			if err != nil {
				return err
			}
			now := time.Now()
			rows := make([]any, 0, len(cs))
			for _, c := range cs {
				if last > 0 && len(rows) == last {
					break
				}
				if f.keep(c) {
					rows = append(rows, newPSRow(c, !noTrunc, now))
				}
			}
			return lf.write(cmd.OutOrStdout(), psHeader, rows)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display container IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided (id, name, label, status, exited, health)")
	cmd.Flags().IntVarP(&last, "last", "n", -1, "Show n last created containers (includes all states)")
	cmd.Flags().BoolVarP(&latest, "latest", "l", false, "Show the latest created container (includes all states)")
	return cmd
}

// ---- inspect ----

func newContainerInspectCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			infos := []*engine.InspectInfo{}
			var errs []error
			for _, a := range args {
				info, err := e.Inspect(a)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				infos = append(infos, info)
			}
			if err := writeInspect(cmd.OutOrStdout(), format, infos); err != nil {
				return err
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a Go template ('json' for the JSON array)")
	return cmd
}

// ---- logs ----

// parseTail reads --tail: "all" or a number; negative means all.
func parseTail(s string) (int, error) {
	if s == "all" || s == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("invalid --tail %q: want a number or \"all\"", s)
	}
	if n < 0 {
		return -1, nil
	}
	return n, nil
}

func newContainerLogsCmd(g *globals) *cobra.Command {
	var follow, timestamps bool
	var tail, since, until string
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			opts := logs.ReadOptions{Follow: follow}
			var err error
			if opts.Tail, err = parseTail(tail); err != nil {
				return err
			}
			if opts.Since, err = parseTimestamp(since, now); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if opts.Until, err = parseTimestamp(until, now); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			err = e.Logs(cmd.Context(), args[0], opts, func(en logs.Entry) error {
				w := stdout
				if en.Stream == "stderr" {
					w = stderr
				}
				if timestamps {
					if _, err := io.WriteString(w, en.Time.Format(rfc3339NanoFixed)+" "); err != nil {
						return err
					}
				}
				_, err := w.Write(en.Line)
				return err
			})
			if errors.Is(err, fs.ErrNotExist) {
				return nil // never started: no log yet
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "Follow log output")
	cmd.Flags().BoolVarP(&timestamps, "timestamps", "t", false, "Show timestamps")
	cmd.Flags().StringVarP(&tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	cmd.Flags().StringVar(&since, "since", "", "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	cmd.Flags().StringVar(&until, "until", "", "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	return cmd
}

// ---- exec ----

func newContainerExecCmd(g *globals) *cobra.Command {
	var detach, interactive, tty bool
	var env, envFile []string
	var user, workdir string
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Long: `Execute a command in a running container.

stack exits with the command's exit code; 126 when it cannot be run, 127
when it is not found.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var envs []string
			for _, name := range envFile {
				b, err := os.ReadFile(name)
				if err != nil {
					return fmt.Errorf("env file: %w", err)
				}
				vs, err := parseEnvFile(name, b, os.LookupEnv)
				if err != nil {
					return err
				}
				envs = append(envs, vs...)
			}
			vs, err := parseEnvFlags(env, os.LookupEnv)
			if err != nil {
				return err
			}
			envs = append(envs, vs...)
			e, err := g.engine()
			if err != nil {
				return err
			}
			opts := engine.ExecOptions{
				Cmd:        args[1:],
				Env:        envs,
				User:       user,
				WorkingDir: workdir,
				Tty:        tty,
				Detach:     detach,
				Stdout:     cmd.OutOrStdout(),
				Stderr:     cmd.ErrOrStderr(),
			}
			return execContainer(cmd.Context(), e, args[0], opts, interactive)
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "Detached mode: run command in the background")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	cmd.Flags().BoolVarP(&tty, "tty", "t", false, "Allocate a pseudo-TTY")
	cmd.Flags().StringArrayVarP(&env, "env", "e", nil, "Set environment variables")
	cmd.Flags().StringArrayVar(&envFile, "env-file", nil, "Read in a file of environment variables")
	cmd.Flags().StringVarP(&user, "user", "u", "", "Username or UID (format: \"<name|uid>[:<group|gid>]\")")
	cmd.Flags().StringVarP(&workdir, "workdir", "w", "", "Working directory inside the container")
	return cmd
}

// execContainer runs an exec in the foreground: stdin forwarded with -i,
// our terminal in raw mode with -it, window size changes passed on to the
// exec's terminal, and SIGINT/SIGTERM passed on to the process.
func execContainer(ctx context.Context, e *engine.Engine, ref string, opts engine.ExecOptions, interactive bool) error {
	if interactive && !opts.Detach {
		opts.Stdin = os.Stdin
	}
	stdinFd := int(os.Stdin.Fd())
	if opts.Tty && !opts.Detach {
		if interactive && isTerminal(stdinFd) {
			restore, err := makeRaw(stdinFd)
			if err != nil {
				return err
			}
			defer restore()
		}
		opts.ConsoleSize = termSize()
		done := make(chan struct{})
		defer close(done)
		opts.ResizeTTY = func(master *os.File) {
			winch := make(chan os.Signal, 1)
			signal.Notify(winch, syscall.SIGWINCH)
			go func() {
				defer signal.Stop(winch)
				for {
					select {
					case <-winch:
						resizePTY(master)
					case <-done:
						return
					}
				}
			}()
		}
	}
	if !opts.Detach {
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(sigs)
		opts.Signals = sigs
	}
	code, err := e.Exec(ctx, ref, opts)
	if err != nil {
		var ee *engine.ExecError
		if errors.As(err, &ee) {
			return &exitError{code: ee.Code, err: err}
		}
		return err
	}
	if code > 0 {
		return &exitError{code: code}
	}
	return nil
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// makeRaw puts the terminal on fd in raw mode, as cfmakeraw(3) does, and
// returns the function that restores it.
func makeRaw(fd int) (func(), error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("terminal: %w", os.NewSyscallError("tcgetattr", err))
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, fmt.Errorf("terminal: %w", os.NewSyscallError("tcsetattr", err))
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

// resizePTY gives the exec's terminal the size of ours (stdin's, else
// stdout's); without a terminal here it keeps the kernel's default.
func resizePTY(master *os.File) {
	var ws *unix.Winsize
	for _, fd := range []int{int(os.Stdin.Fd()), int(os.Stdout.Fd())} {
		if w, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
			ws = w
			break
		}
	}
	if ws == nil {
		return
	}
	rc, err := master.SyscallConn()
	if err != nil {
		return
	}
	// Control keeps the fd open for the call, so a resize racing with the
	// end of the exec cannot hit a reused descriptor.
	rc.Control(func(fd uintptr) { unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) })
}

// ---- top ----

func newContainerRenameCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			if c, err := e.Get(args[0]); err == nil && c.Config.Name == strings.TrimPrefix(args[1], "/") {
				return fmt.Errorf("renaming container %q to the name it has", args[0])
			}
			return e.Rename(cmd.Context(), args[0], args[1])
		},
	}
}

func newContainerTopCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "top CONTAINER",
		Short: "Display the running processes of a container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return fmt.Errorf("top: ps options are not supported (%q)", strings.Join(args[1:], " "))
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			titles, rows, err := e.Top(args[0])
			if err != nil {
				return err
			}
			// docker top's own tabwriter: minwidth 20.
			w := newTopTable(cmd.OutOrStdout())
			fmt.Fprintln(w, strings.Join(titles, "\t"))
			for _, r := range rows {
				fmt.Fprintln(w, strings.Join(r, "\t"))
			}
			return w.Flush()
		},
	}
}
