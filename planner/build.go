package planner

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"stack/spec"
)

// Inputs is what Build needs to know about the world, as data.
type Inputs struct {
	// ImageIDs maps an image reference, as spec.Service.ImageName gives
	// it, to the resolved image ID ("sha256:…"), known once the image is
	// ensured (built, pulled or found in the store).
	//
	// A reference that is missing does not make Build fail, since the
	// reconciler needs the plan's image nodes to know which images to
	// ensure. Instead the image node and the containers that use it get
	// ImageID "" and Hash "", and Plan.MissingImages lists the reference.
	// Such a plan is not final: the reconciler ensures the images, then
	// builds the plan again with their IDs before comparing it with live
	// containers.
	ImageIDs map[string]string
	// Scale overrides services' replica counts (--scale SERVICE=N). A
	// service that is not enabled, or a negative count, is an error.
	Scale map[string]int
}

// Build makes the plan of a project. p is only read; the plan's nodes
// point into it.
//
// Build fails, with an error that names the services and fields concerned,
// when the project cannot be planned: a dependency cycle (printed as
// "dependency cycle detected: a -> b -> a", the same path on every run); a
// required dependency (depends_on, links, network_mode/ipc/pid
// "service:X", volumes_from) on a service that is not defined, disabled by
// the active profiles or scaled to 0; container_name with more than one
// replica; two containers with the same name; a network or named volume
// that is not declared; a user label in the com.docker.compose. namespace.
// An optional depends_on entry on such a service is dropped with a
// warning (Plan.Warnings).
func Build(p *spec.Project, in Inputs) (*Plan, error) {
	if p == nil {
		return nil, errors.New("plan: no project")
	}
	b := &builder{
		p:        p,
		in:       in,
		replicas: map[string]int{},
		services: map[string]*spec.Service{},
		plan: &Plan{
			Project: p.Name,
			byID:    map[NodeID]*Node{},
			deps:    map[NodeID][]Edge{},
			rdep:    map[NodeID][]Edge{},
		},
	}
	for _, s := range p.Services {
		b.services[s.Name] = s
		b.replicas[s.Name] = s.Replicas
	}
	if err := b.scale(); err != nil {
		return nil, err
	}
	deps := map[string][]serviceDep{}
	for _, s := range p.Services {
		d, err := b.serviceDeps(s)
		if err != nil {
			return nil, err
		}
		deps[s.Name] = d
	}
	if err := checkCycle(p.ServiceNames(), deps); err != nil {
		return nil, err
	}
	if err := b.resources(); err != nil {
		return nil, err
	}
	for _, s := range p.Services {
		if err := b.containers(s, deps[s.Name]); err != nil {
			return nil, err
		}
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	return b.plan, nil
}

type builder struct {
	p        *spec.Project
	in       Inputs
	plan     *Plan
	services map[string]*spec.Service // enabled services by name
	replicas map[string]int           // after Inputs.Scale
	edges    []Edge
}

// serviceDep is one service's dependency on another, before it is
// expanded to container edges.
type serviceDep struct {
	service   string
	why       EdgeKind // DependsOn, SharesNamespace or VolumesFrom
	condition Condition
	required  bool
	restart   bool
}

func (b *builder) scale() error {
	for _, name := range slices.Sorted(maps.Keys(b.in.Scale)) {
		n := b.in.Scale[name]
		if _, ok := b.services[name]; !ok {
			return fmt.Errorf("scale %s=%d: no such service: %s", name, n, name)
		}
		if n < 0 {
			return fmt.Errorf("scale %s=%d: the number of replicas must not be negative", name, n)
		}
		b.replicas[name] = n
	}
	for _, s := range b.p.Services {
		n := b.replicas[s.Name]
		if n < 0 {
			return fmt.Errorf("service %q: %d replicas: the number of replicas must not be negative", s.Name, n)
		}
		if s.ContainerName != "" && n > 1 {
			return fmt.Errorf("service %q: container_name %q cannot be used with %d replicas: container names must be unique", s.Name, s.ContainerName, n)
		}
	}
	return nil
}

// unavailable says why service name has no container to depend on, or ""
// when it has some.
func (b *builder) unavailable(name string) string {
	if _, ok := b.services[name]; ok {
		if b.replicas[name] == 0 {
			return "has 0 replicas"
		}
		return ""
	}
	if slices.Contains(b.p.DisabledServices, name) {
		return "is disabled by the active profiles"
	}
	return "is not defined"
}

// serviceDeps resolves what service s depends on, checking that each
// required dependency has containers.
func (b *builder) serviceDeps(s *spec.Service) ([]serviceDep, error) {
	var out []serviceDep
	require := func(field, value, target string) error {
		if why := b.unavailable(target); why != "" {
			return fmt.Errorf("service %q: %s %q: service %q %s", s.Name, field, value, target, why)
		}
		return nil
	}
	for _, ns := range []struct{ field, value string }{{"network_mode", s.NetworkMode}, {"ipc", s.IPC}, {"pid", s.PID}} {
		target, ok := strings.CutPrefix(ns.value, "service:")
		if !ok {
			continue
		}
		if err := require(ns.field, ns.value, target); err != nil {
			return nil, err
		}
		// compose-go implies depends_on restart: true for these
		out = append(out, serviceDep{service: target, why: SharesNamespace, required: true, restart: true})
	}
	for _, vf := range s.VolumesFrom {
		if strings.HasPrefix(vf, "container:") {
			continue // a container outside the project: nothing to plan
		}
		target, _, _ := strings.Cut(vf, ":")
		if err := require("volumes_from", vf, target); err != nil {
			return nil, err
		}
		out = append(out, serviceDep{service: target, why: VolumesFrom, required: true, restart: true})
	}

	explicit := map[string]bool{}
	for _, d := range s.DependsOn {
		explicit[d.Service] = true
		var cond Condition
		if d.Condition != "" {
			if err := cond.UnmarshalText([]byte(d.Condition)); err != nil {
				return nil, fmt.Errorf("service %q: depends_on %q: %w", s.Name, d.Service, err)
			}
		}
		if why := b.unavailable(d.Service); why != "" {
			if d.Required {
				return nil, fmt.Errorf("service %q: depends_on %q: service %q %s", s.Name, d.Service, d.Service, why)
			}
			b.plan.Warnings = append(b.plan.Warnings,
				fmt.Sprintf("service %q: optional dependency %q ignored: service %q %s", s.Name, d.Service, d.Service, why))
			continue
		}
		out = append(out, serviceDep{service: d.Service, why: DependsOn, condition: cond, required: d.Required, restart: d.Restart})
	}
	// links imply depends_on (compose-go adds the entry when depends_on
	// lacks it; spec.Load has it already, hand-made projects may not)
	for _, l := range s.Links {
		target, _, _ := strings.Cut(l, ":")
		if explicit[target] {
			continue
		}
		explicit[target] = true
		if err := require("links", l, target); err != nil {
			return nil, err
		}
		out = append(out, serviceDep{service: target, why: DependsOn, condition: Started, required: true, restart: true})
	}
	return out, nil
}

// checkCycle fails on the first dependency cycle found by a depth-first
// walk that visits services and their dependencies in name order, so that
// the same project always prints the same cycle (compose-go's
// graph/cycle.go prints the same path, but its walk is exponential on
// some graphs without a cycle).
func checkCycle(names []string, deps map[string][]serviceDep) error {
	const (
		unvisited = iota
		onPath
		done // and no cycle reachable from it
	)
	state := map[string]int{}
	var path []string
	var visit func(name string) error
	visit = func(name string) error {
		state[name] = onPath
		path = append(path, name)
		var next []string
		for _, d := range deps[name] {
			next = append(next, d.service)
		}
		slices.Sort(next)
		for _, n := range slices.Compact(next) {
			switch state[n] {
			case onPath:
				i := slices.Index(path, n)
				return fmt.Errorf("dependency cycle detected: %s -> %s", strings.Join(path[i:], " -> "), n)
			case unvisited:
				if err := visit(n); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}
	for _, name := range names {
		if state[name] == unvisited {
			if err := visit(name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *builder) add(n *Node) {
	b.plan.Nodes = append(b.plan.Nodes, n)
	b.plan.byID[n.ID] = n
}

// resources adds the image, network and volume nodes.
func (b *builder) resources() error {
	for _, s := range b.p.Services {
		ref := s.ImageName(b.p.Name)
		id := NodeID{Kind: KindImage, Name: ref}
		if n, ok := b.plan.byID[id]; ok {
			if n.Service.Build == nil && s.Build != nil {
				n.Service = s // the service that builds it says how
			}
			continue
		}
		b.add(&Node{ID: id, Name: ref, Image: ref, ImageID: b.in.ImageIDs[ref], Service: s})
	}
	for _, nw := range b.p.Networks {
		n := &Node{ID: NodeID{Kind: KindNetwork, Name: nw.Key}, Name: nw.Name, Network: nw}
		if !nw.External {
			labels, err := b.labels(fmt.Sprintf("network %q", nw.Key), nw.Labels)
			if err != nil {
				return err
			}
			n.Hash = networkHash(nw)
			labels[LabelNetwork] = nw.Key
			labels[LabelConfigHash] = n.Hash
			n.Labels = labels
		}
		b.add(n)
	}
	for _, v := range b.p.Volumes {
		n := &Node{ID: NodeID{Kind: KindVolume, Name: v.Key}, Name: v.Name, Volume: v}
		if !v.External {
			labels, err := b.labels(fmt.Sprintf("volume %q", v.Key), v.Labels)
			if err != nil {
				return err
			}
			n.Hash = volumeHash(v)
			labels[LabelVolume] = v.Key
			labels[LabelConfigHash] = n.Hash
			n.Labels = labels
		}
		b.add(n)
	}
	return nil
}

// labels returns the user's labels plus the ones every object of the
// project carries, refusing user labels in stack's namespace.
func (b *builder) labels(owner string, user map[string]string) (map[string]string, error) {
	labels := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(user)) {
		if reservedLabel(k) {
			return nil, fmt.Errorf("%s: label %q: the %s* labels are reserved for stack", owner, k, LabelPrefix)
		}
		labels[k] = user[k]
	}
	labels[LabelProject] = b.p.Name
	labels[LabelVersion] = Version
	return labels, nil
}

// containers adds the container nodes of service s and their edges.
func (b *builder) containers(s *spec.Service, deps []serviceDep) error {
	ref := s.ImageName(b.p.Name)
	imageID := b.in.ImageIDs[ref]
	hash := ""
	if imageID != "" {
		hash = ServiceHash(s, imageID)
	}
	base, err := b.labels(fmt.Sprintf("service %q", s.Name), s.Labels)
	if err != nil {
		return err
	}
	base[LabelService] = s.Name
	base[LabelOneoff] = OneoffFalse
	base[LabelWorkingDir] = b.p.WorkingDir
	base[LabelConfigFiles] = strings.Join(b.p.ConfigFiles, ",")
	if len(b.p.EnvFiles) > 0 {
		base[LabelEnvironmentFile] = strings.Join(b.p.EnvFiles, ",")
	}
	var dependsOn []string
	for _, d := range deps {
		if d.why == DependsOn {
			dependsOn = append(dependsOn, d.service+":"+d.condition.String()+":"+strconv.FormatBool(d.restart))
		}
	}
	slices.Sort(dependsOn)
	base[LabelDependencies] = strings.Join(dependsOn, ",")
	if hash != "" {
		base[LabelConfigHash] = hash
		base[LabelImage] = imageID
	}

	// what every replica needs
	var needs []Edge
	needs = append(needs, Edge{To: NodeID{Kind: KindImage, Name: ref}, Why: NeedsImage, Required: true})
	if s.NetworkMode == "" {
		for _, sn := range s.Networks {
			if _, ok := b.p.Network(sn.Key); !ok {
				return fmt.Errorf("service %q: networks: network %q is not declared", s.Name, sn.Key)
			}
			needs = append(needs, Edge{To: NodeID{Kind: KindNetwork, Name: sn.Key}, Why: NeedsNetwork, Required: true})
		}
	}
	for _, m := range s.Volumes {
		if m.Type != spec.MountVolume || m.Source == "" {
			continue // bind, tmpfs or anonymous volume: nothing to plan
		}
		if _, ok := b.p.Volume(m.Source); !ok {
			return fmt.Errorf("service %q: volumes: volume %q is not declared", s.Name, m.Source)
		}
		needs = append(needs, Edge{To: NodeID{Kind: KindVolume, Name: m.Source}, Why: NeedsVolume, Required: true})
	}
	for _, d := range deps {
		e := Edge{Why: d.why, Condition: d.condition, Required: d.required, Restart: d.restart}
		if d.why == DependsOn {
			// compose waits for every replica of the dependency
			for i := 1; i <= b.replicas[d.service]; i++ {
				e.To = NodeID{Kind: KindContainer, Name: d.service, Number: i}
				needs = append(needs, e)
			}
		} else {
			// namespaces and volumes come from the first container
			e.To = NodeID{Kind: KindContainer, Name: d.service, Number: 1}
			needs = append(needs, e)
		}
	}

	for i := 1; i <= b.replicas[s.Name]; i++ {
		n := &Node{
			ID:      NodeID{Kind: KindContainer, Name: s.Name, Number: i},
			Name:    ContainerName(b.p.Name, s.Name, i),
			Hash:    hash,
			ImageID: imageID,
			Labels:  maps.Clone(base),
			Service: s,
			Number:  i,
			Image:   ref,
		}
		if s.ContainerName != "" {
			n.Name = s.ContainerName
		}
		n.Labels[LabelContainerNumber] = strconv.Itoa(i)
		b.add(n)
		for _, e := range needs {
			e.From = n.ID
			b.edges = append(b.edges, e)
		}
	}
	return nil
}

// finish indexes the edges, checks container names, and puts the nodes in
// dependency order.
func (b *builder) finish() error {
	plan := b.plan
	names := map[string]NodeID{}
	for _, n := range plan.Nodes {
		if n.ID.Kind != KindContainer {
			continue
		}
		if other, ok := names[n.Name]; ok {
			return fmt.Errorf("service %q: container name %q is already used by %s", n.ID.Name, n.Name, other)
		}
		names[n.Name] = n.ID
	}

	slices.SortFunc(b.edges, Edge.compare)
	plan.Edges = slices.CompactFunc(b.edges, func(a, b Edge) bool { return a.compare(b) == 0 })
	for _, e := range plan.Edges {
		plan.deps[e.From] = append(plan.deps[e.From], e)
		plan.rdep[e.To] = append(plan.rdep[e.To], e)
	}

	// Kahn's algorithm, always taking the smallest ready node
	waiting := map[NodeID]int{}
	var ready []NodeID
	for _, n := range plan.Nodes {
		if waiting[n.ID] = len(plan.deps[n.ID]); waiting[n.ID] == 0 {
			ready = append(ready, n.ID)
		}
	}
	slices.SortFunc(ready, NodeID.Compare)
	order := make([]*Node, 0, len(plan.Nodes))
	for len(ready) > 0 {
		id := ready[0]
		ready = ready[1:]
		order = append(order, plan.byID[id])
		for _, e := range plan.rdep[id] {
			if waiting[e.From]--; waiting[e.From] == 0 {
				i, _ := slices.BinarySearchFunc(ready, e.From, NodeID.Compare)
				ready = slices.Insert(ready, i, e.From)
			}
		}
	}
	if len(order) != len(plan.Nodes) {
		// checkCycle saw the services' graph, of which this one is a copy
		return errors.New("plan: dependency cycle among containers (bug: checkCycle missed it)")
	}
	plan.Nodes = order
	return nil
}
