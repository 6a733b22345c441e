package engine

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"stack/engine/cgroups"
	"stack/engine/container"
	"stack/engine/oci"
	"stack/engine/shim"
	"stack/engine/state"
)

// CreateOptions describe a new container. Zero values take the image's
// settings (entrypoint, cmd, user, working dir, env, stop signal).
type CreateOptions struct {
	Name  string
	Image string // reference or ID of the image to run
	// ImageName is how the image is shown (ps, inspect); "": Image.
	ImageName   string
	Labels      map[string]string
	Entrypoint  []string // nil: the image's; empty non-nil: none
	Cmd         []string // nil: the image's
	Env         []string
	User        string
	WorkingDir  string
	Hostname    string
	Domainname  string
	Tty         bool
	OpenStdin   bool
	Restart     container.RestartPolicy
	StopSignal  string
	StopTimeout *int
	AutoRemove  bool
	LogOptions  map[string]string
	// Healthcheck overrides the image's HEALTHCHECK; nil keeps it.
	Healthcheck *HealthcheckOptions
	// SpecOpts refine the OCI spec after the image's defaults are applied:
	// limits, capabilities, mounts, read-only root, sysctls, ulimits.
	SpecOpts []oci.SpecOpt

	// NetworkMode is container.NetworkBridge (the default with Networks),
	// NetworkNone (the default without), NetworkHost, or
	// "container:NAME-OR-ID".
	NetworkMode string
	Networks    []NetworkAttachment
	// Ports are published on the container's first network with outbound
	// access.
	Ports []container.PortBinding
	// ExposedPorts ("80/tcp") are added to the image's.
	ExposedPorts []string
	DNS          container.DNSConfig
	// ExtraHosts are "HOST:IP" lines for /etc/hosts; IP may be
	// "host-gateway".
	ExtraHosts []string

	// Mounts are volumes, binds and tmpfs mounts; the image's VOLUMEs
	// that none covers get anonymous volumes.
	Mounts []Mount
	// VolumesFrom are containers ("NAME[:ro|:rw]") whose volumes and binds
	// this one mounts too.
	VolumesFrom []string
	// ReuseVolumes names, by container path, the anonymous volumes to
	// mount again instead of new ones (a recreated container keeps its
	// predecessor's, as compose does).
	ReuseVolumes map[string]string
}

// Container is a container's config and its current state.
type Container struct {
	Config *container.Config
	State  *container.State
}

// ID returns the container's ID.
func (c *Container) ID() string { return c.Config.ID }

// Name returns the container's name.
func (c *Container) Name() string { return c.Config.Name }

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Create creates a container from an image without starting it.
func (e *Engine) Create(ctx context.Context, opts CreateOptions) (*Container, error) {
	if opts.Name != "" && !validName.MatchString(opts.Name) {
		return nil, fmt.Errorf("invalid container name %q, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", opts.Name, ErrInvalid)
	}
	img, err := e.Images.Get(opts.Image)
	if err != nil {
		return nil, fmt.Errorf("unable to find image %q locally: %w", opts.Image, err)
	}
	lower, err := e.Images.LayerDirs(img)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", opts.Image, err)
	}
	id := newID()
	ic := img.Config.Config
	hostname := opts.Hostname
	if hostname == "" {
		hostname = id[:12]
	}
	user := opts.User
	if user == "" {
		user = ic.User
	}
	workdir := opts.WorkingDir
	if workdir == "" {
		workdir = ic.WorkingDir
	}
	if workdir == "" {
		workdir = "/"
	}
	entrypoint, cmd := ic.Entrypoint, ic.Cmd
	if opts.Entrypoint != nil {
		entrypoint = opts.Entrypoint
		if opts.Cmd == nil {
			cmd = nil
		}
	}
	if opts.Cmd != nil {
		cmd = opts.Cmd
	}
	p := container.PathsFor(e.root, id)
	if err := checkPorts(opts.Ports); err != nil {
		return nil, err
	}
	// Everything that can be refused is, before anything is made
	// (addresses, volumes, bind sources).
	stopSignal := opts.StopSignal
	if stopSignal == "" {
		stopSignal = ic.StopSignal
	}
	if stopSignal != "" {
		if _, err := oci.ParseSignal(stopSignal); err != nil {
			return nil, err
		}
	}
	if opts.Restart.Name == "" {
		opts.Restart.Name = "no"
	}
	switch opts.Restart.Name {
	case "no", "always", "unless-stopped", "on-failure":
	default:
		return nil, fmt.Errorf("invalid restart policy %q: %w", opts.Restart.Name, ErrInvalid)
	}
	hc, err := resolveHealthcheck(img.Healthcheck, opts.Healthcheck)
	if err != nil {
		return nil, err
	}
	if opts.AutoRemove && opts.Restart.Name != "no" {
		return nil, fmt.Errorf("conflicting options: cannot specify both --restart and --rm: %w", ErrInvalid)
	}
	// The lock covers the address allocation too: sweepAllocations must
	// not take a new container's address for a leftover's.
	lock, err := e.lock()
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	e.sweep()
	if opts.Name == "" {
		opts.Name = e.freeName()
	} else if other, err := e.lookupName(opts.Name); err == nil {
		return nil, fmt.Errorf("the container name %q is already in use by container %q; remove or rename that container to be able to reuse that name: %w", "/"+opts.Name, other, ErrExists)
	}
	nw, err := e.resolveNetworking(id, hostname, &opts)
	if err != nil {
		return nil, err
	}
	created := false
	defer func() {
		if !created {
			e.Nets.ReleaseAll(id)
		}
	}()
	mt, err := e.resolveMounts(&opts, ic.Volumes)
	if err != nil {
		return nil, err
	}
	defer func() {
		if !created {
			for _, name := range mt.anon {
				e.Vols.Remove(name)
			}
		}
	}()
	specOpts := []oci.SpecOpt{
		oci.WithProcessArgs(opts.Entrypoint, opts.Cmd, ic.Entrypoint, ic.Cmd),
		oci.WithEnv(ic.Env, opts.Env),
		oci.WithHostname(hostname),
		oci.WithUser(user),
		oci.WithWorkdir(workdir),
		oci.WithTTY(opts.Tty),
		oci.WithMounts([]specs.Mount{
			{Destination: "/etc/hosts", Type: "bind", Source: p.Hosts(), Options: []string{"rbind", "rprivate"}},
			{Destination: "/etc/hostname", Type: "bind", Source: p.Hostname(), Options: []string{"rbind", "rprivate"}},
			{Destination: "/etc/resolv.conf", Type: "bind", Source: p.ResolvConf(), Options: []string{"rbind", "rprivate"}},
		}),
	}
	if opts.Domainname != "" {
		specOpts = append(specOpts, oci.WithDomainname(opts.Domainname))
	}
	specOpts = append(specOpts, nw.specOpts...)
	specOpts = append(specOpts, mt.specOpts...)
	spec, err := oci.New(append(specOpts, opts.SpecOpts...)...)
	if err != nil {
		return nil, err
	}
	cfg := &container.Config{
		ID:          id,
		Name:        opts.Name,
		Created:     time.Now().UTC(),
		Image:       img.ID,
		ImageName:   cmp.Or(opts.ImageName, opts.Image),
		Labels:      opts.Labels,
		Spec:        spec,
		Lower:       lower,
		Entrypoint:  entrypoint,
		Cmd:         cmd,
		Restart:     opts.Restart,
		StopSignal:  stopSignal,
		StopTimeout: opts.StopTimeout,
		AutoRemove:  opts.AutoRemove,
		OpenStdin:   opts.OpenStdin,
		LogOptions:  opts.LogOptions,
		Healthcheck: hc,

		NetworkMode:  nw.mode,
		Endpoints:    nw.endpoints,
		Ports:        opts.Ports,
		ExposedPorts: exposedPorts(ic.ExposedPorts, opts.ExposedPorts),
		DNS:          opts.DNS,
		Mounts:       mt.mounts,
	}

	if err := e.writeNew(p, cfg, hostname, nw); err != nil {
		return nil, fmt.Errorf("create container %q: %w", cfg.Name, err)
	}
	created = true
	return &Container{Config: cfg, State: &container.State{Status: container.Created}}, nil
}

// writeNew lays out a new container directory under a temporary name and
// renames it into place, so a crash never leaves half a container.
func (e *Engine) writeNew(p container.Paths, cfg *container.Config, hostname string, nw *networking) error {
	tmp := container.Paths{Dir: e.root.ContainersDir() + "/.tmp-" + cfg.ID, ID: cfg.ID}
	if err := os.MkdirAll(tmp.Upper(), 0o755); err != nil {
		return err
	}
	err := func() error {
		if err := os.MkdirAll(tmp.Work(), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(tmp.Hostname(), []byte(hostname+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(tmp.Hosts(), []byte(nw.hosts), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(tmp.ResolvConf(), []byte(nw.resolv), 0o644); err != nil {
			return err
		}
		if err := container.SaveState(tmp, &container.State{Status: container.Created}); err != nil {
			return err
		}
		return container.SaveConfig(tmp, cfg)
	}()
	if err == nil {
		err = os.Rename(tmp.Dir, p.Dir)
	}
	if err != nil {
		os.RemoveAll(tmp.Dir)
	}
	return err
}

// sweep removes what a create or remove killed halfway left: a directory
// being laid out (.tmp-ID) or being deleted (.rm-ID). No other command can
// be writing one: the caller holds the root's lock.
func (e *Engine) sweep() {
	e.sweepCopyMounts()
	ents, err := os.ReadDir(e.root.ContainersDir())
	if err != nil {
		return
	}
	for _, ent := range ents {
		if n := ent.Name(); strings.HasPrefix(n, ".tmp-") || strings.HasPrefix(n, ".rm-") {
			if err := os.RemoveAll(e.root.ContainersDir() + "/" + n); err != nil {
				e.log.Warn("remove leftover", "dir", n, "err", err)
			}
		}
	}
}

// resolvConf is the host's resolver configuration without loopback
// nameservers, which mean nothing inside the container's network namespace.
func resolvConf() string {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return ""
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" && (strings.HasPrefix(f[1], "127.") || f[1] == "::1") {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

func newID() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Get finds a container by exact name, full ID, or unique ID prefix.
func (e *Engine) Get(nameOrID string) (*Container, error) {
	id, err := e.resolve(nameOrID)
	if err != nil {
		return nil, err
	}
	return e.load(id)
}

func (e *Engine) resolve(ref string) (string, error) {
	ref = strings.TrimPrefix(ref, "/")
	if ref == "" {
		return "", fmt.Errorf("no such container: %q: %w", ref, ErrNotFound)
	}
	// A full ID needs no scan (the compose layer always passes IDs).
	if len(ref) == 64 {
		if _, err := os.Stat(e.paths(ref).Config()); err == nil {
			return ref, nil
		}
	}
	if id, err := e.lookupName(ref); err == nil {
		return id, nil
	}
	ids, err := e.containerIDs()
	if err != nil {
		return "", err
	}
	var match []string
	for _, id := range ids {
		if strings.HasPrefix(id, ref) {
			match = append(match, id)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return "", fmt.Errorf("no such container: %s: %w", ref, ErrNotFound)
	}
	return "", fmt.Errorf("multiple containers match %q: %w", ref, ErrInvalid)
}

func (e *Engine) lookupName(name string) (string, error) {
	ids, err := e.containerIDs()
	if err != nil {
		return "", err
	}
	for _, id := range ids {
		if n, err := container.LoadName(e.paths(id)); err == nil && n == name {
			return id, nil
		}
	}
	return "", ErrNotFound
}

// load reads a container and repairs its state if its shim died.
func (e *Engine) load(id string) (*Container, error) {
	p := e.paths(id)
	cfg, err := container.LoadConfig(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no such container: %s: %w", id, ErrNotFound)
		}
		return nil, err
	}
	st, err := container.LoadState(p)
	if err != nil {
		st = &container.State{Status: container.Dead, Error: err.Error()}
	}
	c := &Container{Config: cfg, State: st}
	e.repair(c)
	return c, nil
}

// repair makes a container whose shim is gone read as what it is: exited.
// The shim set Pdeathsig on the init, so its processes died with it and the
// rootfs mount (private to the container's mount namespace) went with them;
// what can remain is an empty cgroup and the runtime directory.
func (e *Engine) repair(c *Container) {
	switch c.State.Status {
	case container.Running, container.Paused, container.Restarting:
	default:
		return
	}
	p := e.paths(c.Config.ID)
	// Holding the shim's lock proves it is gone and keeps a new shim (a
	// start racing with us) from beginning while we repair; the state is
	// read again under it.
	lock, err := state.TryLock(p.ShimLock())
	if err != nil {
		return // alive (or the runtime dir is unreadable: nothing to repair)
	}
	defer lock.Unlock()
	if st, err := container.LoadState(p); err == nil {
		c.State = st
	}
	switch c.State.Status {
	case container.Running, container.Paused, container.Restarting:
	default:
		return
	}
	c.State.Status = container.Exited
	if c.State.Error == "" {
		c.State.Error = "the container's supervisor (shim) died; the container was killed"
	}
	c.State.ExitCode = 137
	c.State.Pid, c.State.ShimPid = 0, 0
	c.State.FinishedAt = time.Now().UTC()
	c.State.Ports = nil
	container.SaveState(p, c.State)
	e.cleanupRuntime(c)
}

func (e *Engine) cleanupRuntime(c *Container) error {
	var errs []error
	if err := e.cleanupNetwork(c); err != nil {
		errs = append(errs, err)
	}
	if cg, err := cgroups.New("stack/" + c.Config.ID); err == nil {
		cg.Kill(syscall.SIGKILL)
		if err := cg.Destroy(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(e.paths(c.Config.ID).RunDir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// List returns the containers, newest first; only running ones unless all.
func (e *Engine) List(all bool) ([]*Container, error) {
	ids, err := e.containerIDs()
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, id := range ids {
		c, err := e.load(id)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // removed while we listed
			}
			return nil, err
		}
		if !all && c.State.Status != container.Running && c.State.Status != container.Paused && c.State.Status != container.Restarting {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Config.Created.After(out[j].Config.Created) })
	return out, nil
}

// freeName picks a docker-style random name not in use. Caller holds the lock.
func (e *Engine) freeName() string {
	for {
		n := randomName()
		if _, err := e.lookupName(n); err != nil {
			return n
		}
	}
}

// StartError is a container that failed to start. Code is the exit code
// docker reports for it (127 not found, 126 not executable, else 128).
type StartError struct {
	Name string
	Code int
	Err  error
}

func (e *StartError) Error() string {
	return fmt.Sprintf("container %q: start: %v", e.Name, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// Start starts a created or stopped container; starting a running one does
// nothing. It returns once the container's process runs.
func (e *Engine) Start(ctx context.Context, ref string) error {
	c, err := e.Get(ref)
	if err != nil {
		return err
	}
	p := e.paths(c.Config.ID)
	if container.ShimAlive(p) {
		switch c.State.Status {
		case container.Running, container.Paused, container.Restarting:
			return nil // already running
		}
		// The container has stopped; its shim is finishing: wait for it,
		// and for the state it leaves (the new shim starts from it).
		waitShimGone(p)
		if st, err := container.LoadState(p); err == nil {
			c.State = st
		}
	}
	if err := e.checkNetworks(c); err != nil {
		return &StartError{Name: c.Config.Name, Code: 125, Err: err}
	}
	if err := e.mountVolumes(c); err != nil {
		return &StartError{Name: c.Config.Name, Code: 125, Err: err}
	}
	e.log.Debug("starting shim", "container", c.Config.Name, "at", time.Now().Format("15:04:05.000000"))
	// A failed seal is not fatal: the shim then seals its own.
	initExe, _ := e.sealedInit()
	rd, err := shim.Start(e.exe, p, c.Config, c.State, e.reap, initExe)
	e.log.Debug("shim reported", "container", c.Config.Name, "pid", rd.Pid, "error", rd.Error, "at", time.Now().Format("15:04:05.000000"))
	if err != nil {
		return &StartError{Name: c.Config.Name, Code: 125, Err: err}
	}
	if rd.Error != "" {
		msg := rd.Error
		if rd.Step != "" {
			msg = rd.Step + ": " + msg
		}
		return &StartError{Name: c.Config.Name, Code: rd.ExitCode, Err: errors.New(msg)}
	}
	return nil
}

// Stop stops a container: sig (0: its stop signal, else SIGTERM), then
// SIGKILL of its whole cgroup after timeout seconds (nil: the container's
// own, else 10). A stop is never undone by the restart policy. Stopping a
// stopped container does nothing.
func (e *Engine) Stop(ctx context.Context, ref string, timeout *int, sig syscall.Signal) error {
	c, err := e.Get(ref)
	if err != nil {
		return err
	}
	cl, err := shim.Dial(e.paths(c.Config.ID))
	if err != nil {
		if errors.Is(err, shim.ErrNotRunning) {
			return nil
		}
		return err
	}
	defer cl.Close()
	if _, err := cl.Stop(timeout, sig); err != nil && !errors.Is(err, shim.ErrNotRunning) {
		return fmt.Errorf("container %q: stop: %w", c.Config.Name, err)
	}
	// Return once the shim has let go, so that a start right after the
	// stop finds the container free.
	waitShimGone(e.paths(c.Config.ID))
	return nil
}

// waitShimGone blocks until no shim holds the container's lock. A shim
// that has recorded the final state exits at once; this waits for
// that, not for a container.
func waitShimGone(p container.Paths) {
	if l, err := state.LockFile(p.ShimLock()); err == nil {
		l.Unlock()
	}
}

// dialRunning connects to a running container's shim; a container that is
// not running gives an error wrapping ErrNotRunning that names it.
func (e *Engine) dialRunning(c *Container) (*shim.Client, error) {
	cl, err := shim.Dial(e.paths(c.Config.ID))
	if errors.Is(err, shim.ErrNotRunning) {
		return nil, fmt.Errorf("container %q is not running: %w", c.Config.Name, ErrNotRunning)
	}
	return cl, err
}

// Kill sends a signal to the container's main process.
func (e *Engine) Kill(ctx context.Context, ref string, sig syscall.Signal) error {
	c, err := e.Get(ref)
	if err != nil {
		return err
	}
	cl, err := e.dialRunning(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Kill(sig); err != nil {
		if errors.Is(err, shim.ErrNotRunning) {
			if sig == syscall.SIGKILL {
				return nil // it died before the shim could answer: killed
			}
			return fmt.Errorf("container %q is not running: %w", c.Config.Name, ErrNotRunning)
		}
		return err
	}
	return nil
}

// Pause freezes or thaws a running container.
func (e *Engine) Pause(ctx context.Context, ref string, freeze bool) error {
	c, err := e.Get(ref)
	if err != nil {
		return err
	}
	cl, err := e.dialRunning(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.Pause(freeze)
}

// Wait blocks until the container has stopped for good and returns its exit
// code. A container that is not running returns its last exit code at once.
func (e *Engine) Wait(ctx context.Context, ref string) (int, error) {
	// A running container's exit code comes from its shim: its records
	// are read only if it has none.
	id, err := e.resolve(ref)
	if err != nil {
		return -1, err
	}
	p := e.paths(id)
	cl, err := shim.Dial(p)
	if err == nil {
		type res struct {
			r   shim.Response
			err error
		}
		ch := make(chan res, 1)
		go func() { r, err := cl.Wait(); ch <- res{r, err} }()
		select {
		case <-ctx.Done():
			cl.Close()
			return -1, ctx.Err()
		case r := <-ch:
			cl.Close()
			if r.err == nil {
				return r.r.ExitCode, nil
			}
		}
	}
	c, err := e.load(id)
	if err != nil {
		return -1, err
	}
	return c.State.ExitCode, nil
}

// Remove removes a container. A running one is refused unless force, which
// kills it first.
func (e *Engine) Remove(ctx context.Context, ref string, force bool) error {
	return e.RemoveWithVolumes(ctx, ref, force, false)
}

// RemoveWithVolumes is Remove; with volumes, it also removes the
// container's anonymous volumes that no other container uses (rm -v).
// Named volumes are never removed here.
func (e *Engine) RemoveWithVolumes(ctx context.Context, ref string, force, volumes bool) error {
	c, err := e.Get(ref)
	if err != nil {
		return err
	}
	p := e.paths(c.Config.ID)
	running := c.State.Status == container.Running || c.State.Status == container.Paused || c.State.Status == container.Restarting
	// A shim may still be finishing after the container exited (its final
	// state is written): that container is not running, and removal waits
	// for the shim below.
	if running && container.ShimAlive(p) {
		if !force {
			return fmt.Errorf("cannot remove container %q: container is %s: stop the container before removing or force remove: %w", c.Config.Name, c.State.Status, ErrInUse)
		}
		if cl, err := shim.Dial(p); err == nil {
			zero := 0
			cl.Stop(&zero, syscall.SIGKILL)
			cl.Close()
		}
	}
	lock, err := e.lock()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	// Wait for the shim to let go: it may still be writing its last state.
	waitShimGone(p)
	var errs []error
	if err := e.cleanupRuntime(c); err != nil {
		errs = append(errs, err)
	}
	if err := e.Nets.ReleaseAll(c.Config.ID); err != nil {
		errs = append(errs, err)
	}
	// Move the directory aside first: a crash mid-removal leaves a hidden
	// directory, not a container with half its files.
	trash := e.root.ContainersDir() + "/.rm-" + c.Config.ID
	if err := os.Rename(p.Dir, trash); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	} else if err := os.RemoveAll(trash); err != nil {
		errs = append(errs, err)
	}
	if volumes && len(errs) == 0 {
		for _, m := range c.Config.Mounts {
			if m.Type == "volume" && m.Anonymous {
				if err := e.removeVolumeLocked(m.Name); err != nil && !errors.Is(err, ErrInUse) && !errors.Is(err, ErrNotFound) {
					errs = append(errs, err)
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove container %q: %w", c.Config.Name, errors.Join(errs...))
	}
	return nil
}

// Rename gives a container a new name (compose renames a recreated
// container from its temporary name to the final one).
func (e *Engine) Rename(ctx context.Context, ref, name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("invalid container name %q, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", name, ErrInvalid)
	}
	lock, err := e.lock()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	c, err := e.Get(ref)
	if err != nil {
		return err
	}
	if c.Config.Name == name {
		return nil
	}
	if other, err := e.lookupName(name); err == nil {
		return fmt.Errorf("the container name %q is already in use by container %q: %w", "/"+name, other, ErrExists)
	}
	c.Config.Name = name
	if err := container.SaveConfig(e.paths(c.Config.ID), c.Config); err != nil {
		return err
	}
	// A running container on bridge networks answers to its new name in
	// DNS at once, as under Docker.
	if c.Config.NetworkMode == container.NetworkBridge {
		if cl, err := shim.Dial(e.paths(c.Config.ID)); err == nil {
			defer cl.Close()
			if err := cl.SyncNetwork(); err != nil && !errors.Is(err, shim.ErrNotRunning) {
				return fmt.Errorf("container %q renamed, but its DNS records were not updated: %w", name, err)
			}
		}
	}
	return nil
}
