// Package live is the real reconciler.World: it adapts the engine (and, as
// they arrive, the network and volume packages) to the reconciler's small
// interfaces. It makes no decisions; it translates a planned node into an
// engine call and an engine container into an observed one.
package live

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"stack/engine"
	"stack/engine/container"
	"stack/engine/oci"
	"stack/network"
	"stack/planner"
	"stack/reconciler"
	"stack/spec"
	"stack/volume"
)

// World is the reconciler's view of this machine.
type World struct {
	e *engine.Engine
	// RenewAnonVolumes: a recreated container gets new anonymous volumes
	// instead of its predecessor's (up -V).
	RenewAnonVolumes bool
}

var _ reconciler.World = (*World)(nil)

// New returns the World of engine e.
func New(e *engine.Engine) *World { return &World{e: e} }

// Observe lists the project's containers by label, and the names of the
// containers stack did not create for this project (a planned name that
// collides with one of them must not be taken over).
func (w *World) Observe(ctx context.Context, project string) (*reconciler.Observed, error) {
	cs, err := w.e.List(true)
	if err != nil {
		return nil, err
	}
	obs := &reconciler.Observed{Project: project}
	for _, c := range cs {
		l := c.Config.Labels
		if l[planner.LabelProject] != project {
			obs.Foreign = append(obs.Foreign, c.Config.Name)
			continue
		}
		n, _ := strconv.Atoi(l[planner.LabelContainerNumber])
		oc := reconciler.ObservedContainer{
			ID:        c.Config.ID,
			Name:      c.Config.Name,
			Service:   l[planner.LabelService],
			Number:    n,
			OneOff:    l[planner.LabelOneoff] == planner.OneoffTrue,
			Hash:      l[planner.LabelConfigHash],
			ImageID:   l[planner.LabelImage],
			State:     observedState(c.State.Status),
			ExitCode:  c.State.ExitCode,
			DependsOn: l[planner.LabelDependencies],
			Labels:    l,
			Created:   c.Config.Created,
		}
		if h := c.State.Health; h != nil {
			oc.Health = h.Status
		}
		obs.Containers = append(obs.Containers, oc)
	}
	sort.Slice(obs.Containers, func(i, j int) bool {
		a, b := obs.Containers[i], obs.Containers[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		return a.Number < b.Number
	})
	sort.Strings(obs.Foreign)
	if err := w.observeRecords(obs); err != nil {
		return nil, err
	}
	reconciler.SortObserved(obs)
	return obs, nil
}

func observedState(s container.Status) reconciler.State {
	switch s {
	case container.Running:
		return reconciler.Running
	case container.Paused:
		return reconciler.Paused
	case container.Restarting:
		return reconciler.Restarting
	case container.Exited:
		return reconciler.Exited
	case container.Dead:
		return reconciler.Dead
	}
	return reconciler.Created
}

// worldErr maps the engine's sentinel errors to the reconciler's.
func worldErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, engine.ErrNotFound) && !errors.Is(err, reconciler.ErrNotFound):
		return fmt.Errorf("%w: %w", reconciler.ErrNotFound, err)
	case errors.Is(err, engine.ErrExists) && !errors.Is(err, reconciler.ErrConflict):
		return fmt.Errorf("%w: %w", reconciler.ErrConflict, err)
	case errors.Is(err, engine.ErrInUse) && !errors.Is(err, reconciler.ErrInUse):
		return fmt.Errorf("%w: %w", reconciler.ErrInUse, err)
	}
	return err
}

// EnsureImage finds the service's image in the store. Pulling and building
// come with the image issues; until then a missing image is an error that
// says so.
func (w *World) EnsureImage(ctx context.Context, n *planner.Node, opts reconciler.ImageOptions) (string, error) {
	img, err := w.e.Images.Get(n.Image)
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return "", fmt.Errorf("image %q for %s not found locally (stack image load or import it; pull and build are not available yet): %w", n.Image, imageUsers(n), err)
		}
		return "", err
	}
	return img.ID, nil
}

// Networks and volumes are the engine's (stack/network, stack/volume),
// labelled like docker compose's so that up, ps and down find them.

// CreateNetwork creates the project's network n. One of that name that
// already exists is taken if it is this project's network of that key, and
// is an error otherwise (as compose's "network was found but has incorrect
// label").
func (w *World) CreateNetwork(ctx context.Context, n *planner.Node) error {
	sn := n.Network
	o := network.CreateOptions{
		Name:       sn.Name,
		Driver:     sn.Driver,
		Labels:     n.Labels,
		Options:    sn.DriverOpts,
		Internal:   sn.Internal,
		Attachable: sn.Attachable,
	}
	if sn.EnableIPv6 {
		return fmt.Errorf("network %s: enable_ipv6: IPv6 networks are not supported yet", sn.Key)
	}
	switch len(sn.IPAM.Config) {
	case 0:
	case 1:
		c := sn.IPAM.Config[0]
		o.Subnet, o.IPRange, o.Gateway = c.Subnet, c.IPRange, c.Gateway
	default:
		return fmt.Errorf("network %s: ipam.config: only one subnet per network is supported, not %d", sn.Key, len(sn.IPAM.Config))
	}
	if d := sn.IPAM.Driver; d != "" && d != "default" {
		return fmt.Errorf("network %s: ipam.driver %q is not supported (only \"default\")", sn.Key, d)
	}
	_, err := w.e.CreateNetwork(ctx, o)
	if errors.Is(err, engine.ErrExists) {
		if old, gerr := w.e.Network(sn.Name); gerr == nil {
			if old.Labels[planner.LabelProject] == n.Labels[planner.LabelProject] && old.Labels[planner.LabelNetwork] == n.Labels[planner.LabelNetwork] {
				return nil
			}
			return fmt.Errorf("network %s was found but has incorrect label %s set to %q (want %q): %w",
				sn.Name, planner.LabelNetwork, old.Labels[planner.LabelNetwork], n.Labels[planner.LabelNetwork], reconciler.ErrConflict)
		}
	}
	if err != nil {
		return fmt.Errorf("network %s: %w", sn.Key, worldErr(err))
	}
	return nil
}

// RemoveNetwork removes a network; one a running container uses is in use
// (docker's "has active endpoints").
func (w *World) RemoveNetwork(ctx context.Context, name string) error {
	return worldErr(w.e.RemoveNetwork(ctx, name))
}

// CheckExternal fails for an external network or volume that does not
// exist, in compose's words.
func (w *World) CheckExternal(ctx context.Context, n *planner.Node) error {
	switch {
	case n.Network != nil:
		if _, err := w.e.Network(n.Network.Name); err != nil {
			if errors.Is(err, engine.ErrNotFound) {
				return fmt.Errorf("network %s declared as external, but could not be found: %w", n.Network.Name, reconciler.ErrNotFound)
			}
			return err
		}
	case n.Volume != nil:
		if _, err := w.e.Volume(n.Volume.Name); err != nil {
			if errors.Is(err, engine.ErrNotFound) {
				return fmt.Errorf("external volume %q not found: %w", n.Volume.Name, reconciler.ErrNotFound)
			}
			return err
		}
	}
	return nil
}

// CreateVolume creates the project's volume n. One of that name that
// exists is taken as it is (docker's volume create is idempotent, and
// compose warns about a volume "already exists but was not created by
// Docker Compose" and uses it).
func (w *World) CreateVolume(ctx context.Context, n *planner.Node) error {
	sv := n.Volume
	if _, err := w.e.CreateVolume(ctx, volume.CreateOptions{Name: sv.Name, Driver: sv.Driver, Labels: n.Labels, Options: sv.DriverOpts}); err != nil {
		return fmt.Errorf("volume %s: %w", sv.Key, worldErr(err))
	}
	return nil
}

// RemoveVolume removes the volume and its data: the reconciler calls it
// only for down -v (never for an external volume), and the engine refuses
// a volume any container still uses.
func (w *World) RemoveVolume(ctx context.Context, name string) error {
	return worldErr(w.e.RemoveVolume(ctx, name))
}

// observeRecords adds the project's networks and volumes to obs.
func (w *World) observeRecords(obs *reconciler.Observed) error {
	nets, err := w.e.Networks()
	if err != nil {
		return err
	}
	for _, n := range nets {
		if n.Labels[planner.LabelProject] == obs.Project {
			obs.Networks = append(obs.Networks, reconciler.ParseNetwork(n.Name, n.Labels))
		}
	}
	vols, err := w.e.Volumes()
	if err != nil {
		return err
	}
	for _, v := range vols {
		if v.Labels[planner.LabelProject] == obs.Project {
			obs.Volumes = append(obs.Volumes, reconciler.ParseVolume(v.Name, v.Labels))
		}
	}
	return nil
}

// CreateContainer creates the planned container under name.
func (w *World) CreateContainer(ctx context.Context, n *planner.Node, name string, extra map[string]string) (string, error) {
	opts, err := CreateOptions(n, name, extra)
	if err != nil {
		return "", err
	}
	for i, ref := range opts.VolumesFrom {
		if rest, ok := strings.CutPrefix(ref, "container:"); ok {
			opts.VolumesFrom[i] = rest
			continue
		}
		svc, mode, _ := strings.Cut(ref, ":")
		id, err := w.serviceContainer(n.Labels[planner.LabelProject], svc, true)
		if err != nil {
			return "", fmt.Errorf("service %q: volumes_from %q: %w", n.Service.Name, ref, err)
		}
		opts.VolumesFrom[i] = id
		if mode != "" {
			opts.VolumesFrom[i] += ":" + mode
		}
	}
	if old := extra[planner.LabelReplace]; old != "" && !w.RenewAnonVolumes {
		// A recreated container keeps its predecessor's anonymous
		// volumes (compose's behaviour; up -V renews them).
		if c, err := w.e.Get(old); err == nil {
			for _, m := range c.Config.Mounts {
				if m.Type == "volume" && m.Anonymous {
					if opts.ReuseVolumes == nil {
						opts.ReuseVolumes = map[string]string{}
					}
					opts.ReuseVolumes[m.Target] = m.Name
				}
			}
		}
	}
	if target, ok := strings.CutPrefix(opts.NetworkMode, "service:"); ok {
		id, err := w.serviceContainer(n.Labels[planner.LabelProject], target, false)
		if err != nil {
			return "", fmt.Errorf("service %q: network_mode %q: %w", n.Service.Name, opts.NetworkMode, err)
		}
		opts.NetworkMode = "container:" + id
	}
	c, err := w.e.Create(ctx, opts)
	if err != nil {
		return "", fmt.Errorf("service %q: %w", n.Service.Name, worldErr(err))
	}
	return c.ID(), nil
}

// serviceContainer returns the ID of the first container of a project's
// service (compose's choice for service: namespaces and volumes_from),
// running unless all.
func (w *World) serviceContainer(project, service string, all bool) (string, error) {
	cs, err := w.e.List(all)
	if err != nil {
		return "", err
	}
	best, bestN := "", 0
	for _, c := range cs {
		l := c.Config.Labels
		if l[planner.LabelProject] != project || l[planner.LabelService] != service || l[planner.LabelOneoff] == planner.OneoffTrue {
			continue
		}
		n, _ := strconv.Atoi(l[planner.LabelContainerNumber])
		if best == "" || n < bestN {
			best, bestN = c.Config.ID, n
		}
	}
	if best == "" {
		return "", fmt.Errorf("service %q has no container: %w", service, reconciler.ErrNotFound)
	}
	return best, nil
}

// StartContainer starts a container.
func (w *World) StartContainer(ctx context.Context, id string) error {
	return worldErr(w.e.Start(ctx, id))
}

// StopContainer stops a container and returns once it has exited.
func (w *World) StopContainer(ctx context.Context, id string, timeout *time.Duration) error {
	var t *int
	if timeout != nil {
		s := int(timeout.Round(time.Second) / time.Second)
		t = &s
	}
	return worldErr(w.e.Stop(ctx, id, t, 0))
}

// RemoveContainer removes a container that is not running.
func (w *World) RemoveContainer(ctx context.Context, id string, removeAnonVolumes bool) error {
	return worldErr(w.e.RemoveWithVolumes(ctx, id, false, removeAnonVolumes))
}

// RenameContainer renames a container.
func (w *World) RenameContainer(ctx context.Context, id, name string) error {
	return worldErr(w.e.Rename(ctx, id, name))
}

// WaitContainer waits for a depends_on condition, woken by the shim.
func (w *World) WaitContainer(ctx context.Context, id string, cond planner.Condition) error {
	switch cond {
	case planner.Started:
		// A container that ran and exited has started, as far as
		// service_started is concerned (a one-shot that is done).
		err := w.e.WaitCondition(ctx, id, engine.Running)
		if errors.Is(err, engine.ErrConditionFailed) {
			if c, gerr := w.e.Get(id); gerr == nil && !c.State.StartedAt.IsZero() {
				return nil
			}
		}
		return err
	case planner.Healthy:
		c, err := w.e.Get(id)
		if err != nil {
			return worldErr(err)
		}
		if c.Config.Healthcheck == nil {
			return fmt.Errorf("container %s has no healthcheck configured", c.Config.Name)
		}
		return w.e.WaitCondition(ctx, id, engine.Healthy)
	case planner.CompletedSuccessfully:
		code, err := w.e.Wait(ctx, id)
		if err != nil {
			return worldErr(err)
		}
		if code != 0 {
			c, _ := w.e.Get(id)
			name := id
			if c != nil {
				name = c.Config.Name
			}
			return fmt.Errorf("container %s exited (%d)", name, code)
		}
		return nil
	}
	return fmt.Errorf("unknown condition %v", cond)
}

// CreateOptions maps a planned container to the engine's options. Pure:
// it is unit-tested without root.
func CreateOptions(n *planner.Node, name string, extra map[string]string) (engine.CreateOptions, error) {
	s := n.Service
	if s == nil {
		return engine.CreateOptions{}, fmt.Errorf("node %s is not a container", n.ID)
	}
	labels := make(map[string]string, len(n.Labels)+len(extra))
	for k, v := range n.Labels {
		labels[k] = v
	}
	for k, v := range extra {
		labels[k] = v
	}
	image := n.ImageID
	if image == "" {
		image = n.Image
	}
	opts := engine.CreateOptions{
		Name:       name,
		Image:      image,
		ImageName:  n.Image,
		Labels:     labels,
		Entrypoint: s.Entrypoint,
		Cmd:        s.Command,
		Env:        s.Environment,
		User:       s.User,
		WorkingDir: s.WorkingDir,
		Hostname:   s.Hostname,
		Domainname: s.Domainname,
		Tty:        s.Tty,
		OpenStdin:  s.StdinOpen,
		StopSignal: s.StopSignal,
	}
	if s.StopGracePeriod != nil {
		secs := int(s.StopGracePeriod.Round(time.Second) / time.Second)
		opts.StopTimeout = &secs
	}
	policy, err := restartPolicy(s.Restart)
	if err != nil {
		return opts, fmt.Errorf("service %q: restart: %w", s.Name, err)
	}
	opts.Restart = policy
	if s.Logging != nil {
		opts.LogOptions = s.Logging.Options
	}
	if hc := s.Healthcheck; hc != nil {
		opts.Healthcheck = &engine.HealthcheckOptions{
			Test: hc.Test, Interval: hc.Interval, Timeout: hc.Timeout, StartPeriod: hc.StartPeriod,
			StartInterval: hc.StartInterval, Retries: hc.Retries, Disable: hc.Disable,
		}
	}
	so := []oci.SpecOpt{
		oci.WithCapabilities(s.CapAdd, s.CapDrop),
		oci.WithReadonlyRootfs(s.ReadOnly),
		oci.WithSecurityOpts(s.SecurityOpt),
	}
	if s.Privileged {
		so = append(so, oci.WithPrivileged())
	}
	if len(s.Sysctls) > 0 {
		so = append(so, oci.WithSysctls(s.Sysctls))
	}
	if len(s.Ulimits) > 0 {
		u := map[string]oci.Ulimit{}
		for k, v := range s.Ulimits {
			u[k] = oci.Ulimit{Soft: v.Soft, Hard: v.Hard}
		}
		so = append(so, oci.WithUlimits(u))
	}
	if len(s.GroupAdd) > 0 {
		so = append(so, oci.WithAdditionalGroups(s.GroupAdd))
	}
	if s.MemLimit > 0 || s.MemReservation > 0 || s.MemSwapLimit != 0 {
		so = append(so, oci.WithMemory(s.MemLimit, s.MemReservation, s.MemSwapLimit))
	}
	if s.CPUs > 0 {
		so = append(so, oci.WithCPUs(s.CPUs))
	}
	if s.CPUShares > 0 {
		so = append(so, oci.WithCPUShares(s.CPUShares))
	}
	if s.CPUSet != "" {
		so = append(so, oci.WithCpuset(s.CPUSet, ""))
	}
	if s.PidsLimit != 0 {
		so = append(so, oci.WithPidsLimit(s.PidsLimit))
	}
	if s.ShmSize > 0 {
		so = append(so, oci.WithShmSize(s.ShmSize))
	}
	for _, t := range s.Tmpfs {
		dest, o, _ := strings.Cut(t, ":")
		var optsList []string
		if o != "" {
			optsList = strings.Split(o, ",")
		}
		so = append(so, oci.WithTmpfs(dest, optsList))
	}
	for _, m := range s.Volumes {
		if em, ok := EngineMount(m); ok {
			opts.Mounts = append(opts.Mounts, em)
		}
	}
	opts.VolumesFrom = slices.Clone(s.VolumesFrom) // CreateContainer resolves them in place
	opts.SpecOpts = so
	if err := networkOptions(s, &opts); err != nil {
		return opts, fmt.Errorf("service %q: %w", s.Name, err)
	}
	if err := namespaceModes(s); err != nil {
		return opts, fmt.Errorf("service %q: %w", s.Name, err)
	}
	return opts, nil
}

// namespaceModes refuses the pid and ipc modes stack does not implement,
// rather than give the container namespaces of its own the user did not
// ask for: every container has its own PID namespace (its init is PID 1
// there) and IPC namespace.
func namespaceModes(s *spec.Service) error {
	if s.PID != "" {
		return fmt.Errorf("pid %q: not supported (every container has a PID namespace of its own)", s.PID)
	}
	switch s.IPC {
	case "", "private", "shareable":
		return nil
	}
	return fmt.Errorf("ipc %q: not supported (every container has an IPC namespace of its own: private or shareable)", s.IPC)
}

// EngineMount maps a compose mount to the engine's; ok is false for the
// types stack does not mount (warned about by spec).
func EngineMount(m spec.Mount) (engine.Mount, bool) {
	em := engine.Mount{Type: m.Type, Target: m.Target, ReadOnly: m.ReadOnly}
	switch m.Type {
	case spec.MountVolume:
		em.Source = m.Name
		if m.Source != "" && m.Name == "" {
			em.Source = m.Source
		}
		if v := m.Volume; v != nil {
			em.NoCopy, em.Subpath = v.NoCopy, v.Subpath
		}
	case spec.MountBind:
		em.Source, em.CreateHostPath = m.Source, true
		if b := m.Bind; b != nil {
			em.CreateHostPath, em.Propagation = b.CreateHostPath, b.Propagation
		}
	case spec.MountTmpfs:
		if t := m.Tmpfs; t != nil {
			em.TmpfsSize, em.TmpfsMode = t.Size, t.Mode
		}
	default:
		return em, false
	}
	return em, true
}

// networkOptions maps the service's networking: its networks (the service
// name and aliases as DNS names on each), network_mode, ports, expose,
// DNS settings, extra_hosts and links (container-scoped aliases, as links
// are on user-defined networks).
func networkOptions(s *spec.Service, opts *engine.CreateOptions) error {
	switch m := s.NetworkMode; {
	case m == "":
		for _, sn := range s.Networks {
			opts.Networks = append(opts.Networks, engine.NetworkAttachment{
				Network: cmp.Or(sn.Name, sn.Key),
				Aliases: append([]string{s.Name}, sn.Aliases...),
				IPv4:    sn.IPv4Address,
			})
		}
	case m == "none", m == "host", strings.HasPrefix(m, "service:"), strings.HasPrefix(m, "container:"):
		opts.NetworkMode = m
	case m == "bridge", m == "default":
		return fmt.Errorf("network_mode %q: the default bridge network is not supported; declare a network instead (or leave network_mode out: the project's default network)", m)
	default:
		return fmt.Errorf("network_mode %q: not a known mode (none, host, service:NAME, container:NAME)", m)
	}
	for _, p := range s.Ports {
		b, err := PortBinding(p)
		if err != nil {
			return err
		}
		opts.Ports = append(opts.Ports, b)
	}
	opts.ExposedPorts = slices.Clone(s.Expose)
	opts.DNS = container.DNSConfig{Servers: s.DNS, Search: s.DNSSearch, Options: s.DNSOpt}
	opts.ExtraHosts = s.ExtraHosts
	for _, l := range append(slices.Clone(s.Links), s.ExternalLinks...) {
		target, alias, ok := strings.Cut(l, ":")
		if !ok || alias == target {
			continue
		}
		if opts.DNS.Links == nil {
			opts.DNS.Links = map[string]string{}
		}
		opts.DNS.Links[alias] = target
	}
	return nil
}

// PortBinding maps one compose port to the engine's binding.
func PortBinding(p spec.Port) (container.PortBinding, error) {
	b := container.PortBinding{Proto: cmp.Or(p.Protocol, "tcp"), HostIP: p.HostIP, ContainerPort: p.Target}
	if b.HostIP == "0.0.0.0" {
		b.HostIP = ""
	}
	if p.Published != "" {
		lo, hi, isRange := strings.Cut(p.Published, "-")
		first, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return b, fmt.Errorf("ports: invalid published port %q", p.Published)
		}
		b.HostPort = uint16(first)
		if isRange {
			last, err := strconv.ParseUint(hi, 10, 16)
			if err != nil || last < first {
				return b, fmt.Errorf("ports: invalid published port range %q", p.Published)
			}
			b.HostPortEnd = uint16(last)
		}
	}
	if b.HostIP != "" {
		if a, err := netip.ParseAddr(b.HostIP); err != nil || !a.Is4() {
			return b, fmt.Errorf("ports: host IP %q of port %d: only IPv4 addresses can be published", p.HostIP, p.Target)
		}
	}
	return b, nil
}

// imageUsers names the services of an image node, for error messages.
func imageUsers(n *planner.Node) string {
	if n.Service != nil {
		return fmt.Sprintf("service %q", n.Service.Name)
	}
	return "its services"
}

// restartPolicy parses compose's restart values.
func restartPolicy(s string) (container.RestartPolicy, error) {
	switch {
	case s == "" || s == "no":
		return container.RestartPolicy{Name: "no"}, nil
	case s == "always" || s == "unless-stopped":
		return container.RestartPolicy{Name: s}, nil
	case s == "on-failure":
		return container.RestartPolicy{Name: s}, nil
	case strings.HasPrefix(s, "on-failure:"):
		n, err := strconv.Atoi(strings.TrimPrefix(s, "on-failure:"))
		if err != nil || n < 0 {
			return container.RestartPolicy{}, fmt.Errorf("invalid restart policy %q", s)
		}
		return container.RestartPolicy{Name: "on-failure", MaxRetries: n}, nil
	}
	return container.RestartPolicy{}, fmt.Errorf("invalid restart policy %q", s)
}
