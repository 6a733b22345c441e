package reconciler

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"stack/planner"
	"stack/spec"
)

// Options are up's choices that change what Diff decides.
type Options struct {
	// ForceRecreate recreates the containers of the services up was
	// asked for (every service when Services is empty), whether or not
	// they changed (--force-recreate).
	ForceRecreate bool
	// AlwaysRecreateDeps also recreates the dependencies that Services
	// pulls in (--always-recreate-deps).
	AlwaysRecreateDeps bool
	// NoRecreate keeps existing containers even when they changed
	// (--no-recreate). It wins over the two above.
	NoRecreate bool
	// Services restricts up to these services (up SERVICE...) and, unless
	// NoDeps, the services they depend on, transitively. Empty means
	// every service of the plan. Containers of other services get no
	// action, are not waited on, and are not orphans.
	Services []string
	// NoDeps: with Services, leave their dependencies alone (--no-deps).
	NoDeps bool
	// RemoveOrphans removes orphans instead of warning about them
	// (--remove-orphans).
	RemoveOrphans bool
	// NoStart creates containers without starting them, and starts no
	// existing one (up --no-start, create).
	NoStart bool
	// Project is the project the plan was built from (the whole project,
	// not restricted to Services: restrict with Services instead). Its
	// DisabledServices are not orphans (their containers are left
	// alone), and an enabled service that has no container in the plan
	// (scaled to 0) is scaled down rather than called an orphan. With no
	// Project, every service without a planned container is an orphan.
	Project *spec.Project
}

// Diff compares the plan with the observed state and returns what to do,
// each action with its cause, as docker compose's `up` decides
// (research/compose.md §5.4). It is pure: it reads plan and obs and
// changes neither.
//
// Networks and volumes that are missing are created; one whose config
// hash differs is reported (Diverged) and left alone. External ones get no
// action.
//
// Planned container N of a service is matched with the observed container
// numbered N. It is recreated when, in this order: --force-recreate (or
// --always-recreate-deps for a dependency); the container it shares
// namespaces or volumes with (network_mode/ipc/pid service:X,
// volumes_from) is recreated; the container is dead; its image ID differs
// from the plan's; its config hash differs (the hash covers the image ID,
// so an image change is reported as such only); its name is not the
// planned one (an interrupted recreate). --no-recreate turns all of this
// off. A container that depends on a recreated or restarted one with
// depends_on restart: true, and is running, is restarted. An up-to-date
// container is kept when running, restarting or paused, and started when
// created or exited (as compose's up starts exited one-shot jobs again).
// A missing container is created, unless a container stack did not create
// for this project has its name (Conflict). Containers numbered beyond the
// replica count are removed (ScaleDown): the plan numbers containers from
// 1, so scaling up fills the free numbers and scaling down removes the
// highest. Orphans (containers of services the project does not have, and
// one-off containers that are not running) are removed with RemoveOrphans,
// else reported (WarnOrphan); a running one-off is never touched.
//
// The plan should be final (planner.Plan.MissingImages empty): a container
// whose image is not resolved has no hash, so an existing one is kept and
// a missing one gets a CreateContainer action that Apply refuses.
func Diff(plan *planner.Plan, obs *Observed, opts Options) Actions {
	d := newDiffer(plan, obs, opts)
	return d.actions
}

// Explain says, one line per planned container in plan order, why up
// creates, recreates, restarts, starts or keeps it, listing every recreate
// condition that holds (up --explain):
//
//	container:web:1 demo-web-1: recreate: config hash changed: 1a2b3c4d -> 5e6f7a8b
//	container:db:1 demo-db-1: keep: up to date (config hash b0732c5f, image 6c20d35a388d), running
func Explain(plan *planner.Plan, obs *Observed, opts Options) []string {
	d := newDiffer(plan, obs, opts)
	var out []string
	for _, n := range plan.Nodes {
		if n.ID.Kind != planner.KindContainer {
			continue
		}
		prefix := n.ID.String() + " " + n.Name + ": "
		v, ok := d.verdicts[n.ID]
		if !ok {
			out = append(out, prefix+"not selected (up "+strings.Join(opts.Services, " ")+")")
			continue
		}
		out = append(out, prefix+kindVerbs[v.kind]+": "+v.why)
	}
	return out
}

// verdict is Diff's decision for one planned container.
type verdict struct {
	kind  ActionKind
	cause string // for Action.Cause
	why   string // for Explain: every condition, not only the deciding one
	live  *ObservedContainer
}

type differ struct {
	plan     *planner.Plan
	obs      *Observed
	opts     Options
	explicit map[string]bool // services named in Services (all when empty)
	included map[string]bool // explicit plus their dependencies
	planned  map[string]bool // services with containers in the plan
	live     map[string][]*ObservedContainer
	foreign  map[string]bool
	verdicts map[planner.NodeID]verdict
	actions  Actions
}

func newDiffer(plan *planner.Plan, obs *Observed, opts Options) *differ {
	if obs == nil {
		obs = &Observed{}
	}
	d := &differ{
		plan: plan, obs: obs, opts: opts,
		explicit: map[string]bool{}, included: map[string]bool{}, planned: map[string]bool{},
		live: map[string][]*ObservedContainer{}, foreign: map[string]bool{},
		verdicts: map[planner.NodeID]verdict{},
	}
	for _, n := range plan.Nodes {
		if n.ID.Kind == planner.KindContainer {
			d.planned[n.ID.Name] = true
		}
	}
	d.selectServices()
	for i := range obs.Containers {
		c := &obs.Containers[i]
		if !c.OneOff {
			d.live[c.Service] = append(d.live[c.Service], c)
		}
	}
	for _, name := range obs.Foreign {
		d.foreign[name] = true
	}
	var removals Actions
	matched := d.match(&removals)
	for _, id := range plan.Order() {
		n, _ := plan.Node(id)
		switch id.Kind {
		case planner.KindNetwork:
			if d.resourceIncluded(id) {
				d.network(n)
			}
		case planner.KindVolume:
			if d.resourceIncluded(id) {
				d.volume(n)
			}
		case planner.KindContainer:
			if d.included[id.Name] {
				v := d.container(n, matched[id])
				d.verdicts[id] = v
				a := Action{Kind: v.kind, Node: id, Cause: v.cause, NoStart: opts.NoStart && (v.kind == CreateContainer || v.kind == RecreateContainer)}
				if v.live != nil {
					a.LiveID, a.LiveName, a.State = v.live.ID, v.live.Name, v.live.State
				}
				d.actions = append(d.actions, a)
			}
		}
	}
	removals = append(removals, d.orphans()...)
	slices.SortStableFunc(removals, func(a, b Action) int {
		return cmp.Or(strings.Compare(a.Node.Name, b.Node.Name), cmp.Compare(a.Node.Number, b.Node.Number), strings.Compare(a.LiveName, b.LiveName))
	})
	d.actions = append(d.actions, removals...)
	return d
}

// selectServices fills explicit and included from opts.Services.
func (d *differ) selectServices() {
	if len(d.opts.Services) == 0 {
		for s := range d.planned {
			d.explicit[s], d.included[s] = true, true
		}
		if d.opts.Project != nil {
			for _, s := range d.opts.Project.Services {
				d.explicit[s.Name], d.included[s.Name] = true, true
			}
		}
		return
	}
	for _, s := range d.opts.Services {
		d.explicit[s] = true
	}
	d.included = selectServices(d.plan, d.opts.Services, d.opts.NoDeps)
}

// selectServices returns the named services and, unless noDeps, the
// services they depend on in the plan, transitively; nil when no service
// is named (meaning all).
func selectServices(plan *planner.Plan, names []string, noDeps bool) map[string]bool {
	if len(names) == 0 {
		return nil
	}
	included := map[string]bool{}
	queue := slices.Clone(names)
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if included[s] {
			continue
		}
		included[s] = true
		if noDeps {
			continue
		}
		for _, n := range plan.Containers(s) {
			for _, e := range plan.Dependencies(n.ID) {
				if e.To.Kind == planner.KindContainer {
					queue = append(queue, e.To.Name)
				}
			}
		}
	}
	return included
}

// resourceIncluded reports whether a network or volume is used by an
// included container (every one when no services are named).
func (d *differ) resourceIncluded(id planner.NodeID) bool {
	if len(d.opts.Services) == 0 {
		return true
	}
	for _, e := range d.plan.Dependents(id) {
		if d.included[e.From.Name] {
			return true
		}
	}
	return false
}

// match pairs each planned container of an included service with the
// observed container of the same number, and adds a ScaleDown for every
// other observed container of an included service.
func (d *differ) match(removals *Actions) map[planner.NodeID]*ObservedContainer {
	matched := map[planner.NodeID]*ObservedContainer{}
	enabled := map[string]bool{}
	if d.opts.Project != nil {
		for _, s := range d.opts.Project.Services {
			enabled[s.Name] = true
		}
	}
	for service, cs := range d.live {
		if !d.included[service] || !d.planned[service] && !enabled[service] {
			continue
		}
		nodes := d.plan.Containers(service)
		byNumber := map[int][]*ObservedContainer{}
		for _, c := range cs {
			byNumber[c.Number] = append(byNumber[c.Number], c)
		}
		remove := func(c *ObservedContainer, cause string) {
			*removals = append(*removals, Action{
				Kind: ScaleDown, Node: planner.NodeID{Kind: planner.KindContainer, Name: service, Number: c.Number},
				LiveID: c.ID, LiveName: c.Name, State: c.State, Cause: cause,
			})
		}
		for _, n := range nodes {
			cands := byNumber[n.Number]
			delete(byNumber, n.Number)
			if len(cands) == 0 {
				continue
			}
			// Two containers with one number: an interrupted recreate left
			// the new one (under its temporary name) beside the old one.
			// Keep the one with the planned name, else a running one.
			best := slices.MinFunc(cands, func(a, b *ObservedContainer) int {
				return cmp.Or(-cmp.Compare(boolInt(a.Name == n.Name), boolInt(b.Name == n.Name)),
					-cmp.Compare(boolInt(a.State == Running), boolInt(b.State == Running)),
					b.Created.Compare(a.Created), strings.Compare(a.ID, b.ID))
			})
			matched[n.ID] = best
			for _, c := range cands {
				if c != best {
					remove(c, fmt.Sprintf("duplicate of %s %q, left by an interrupted recreate", n.ID, best.Name))
				}
			}
		}
		for _, num := range slices.Sorted(maps.Keys(byNumber)) {
			for _, c := range byNumber[num] {
				if num < 1 {
					remove(c, "no valid container number label")
				} else {
					remove(c, "scaled down to "+strconv.Itoa(len(nodes)))
				}
			}
		}
	}
	return matched
}

// orphans returns an action for each orphan: a container of a service the
// project does not have, or a one-off that is not running.
func (d *differ) orphans() Actions {
	known := map[string]bool{}
	for s := range d.planned {
		known[s] = true
	}
	if p := d.opts.Project; p != nil {
		for _, s := range p.Services {
			known[s.Name] = true
		}
		for _, s := range p.DisabledServices {
			known[s] = true
		}
	}
	var out Actions
	for _, c := range d.obs.Containers {
		var why string
		switch {
		case c.OneOff:
			if c.State == Running || c.State == Paused || c.State == Restarting {
				continue // a running one-off is never removed by up (compose#14142)
			}
			why = "finished one-off, " + stateText(c.State, c.ExitCode)
		case !known[c.Service]:
			why = fmt.Sprintf("orphan: service %q is not in the project", c.Service)
		default:
			continue
		}
		a := Action{Kind: RemoveOrphan, Node: planner.NodeID{Kind: planner.KindContainer, Name: c.Service, Number: c.Number},
			LiveID: c.ID, LiveName: c.Name, State: c.State, Cause: why}
		if c.OneOff {
			a.Node.Number = 0
		}
		if !d.opts.RemoveOrphans {
			a.Kind = WarnOrphan
			a.Cause += "; up --remove-orphans removes it"
		}
		out = append(out, a)
	}
	return out
}

func (d *differ) network(n *planner.Node) {
	if n.Network != nil && n.Network.External {
		return
	}
	a := Action{Kind: CreateNetwork, Node: n.ID, Cause: "not found"}
	for _, o := range d.obs.Networks {
		if o.Key == n.ID.Name {
			a.LiveName = o.Name
			a.Kind, a.Cause = Keep, "up to date"
			if o.Hash != "" && o.Hash != n.Hash {
				a.Kind = Diverged
				a.Cause = "config hash changed: " + shortHash(o.Hash) + " -> " + shortHash(n.Hash) +
					"; stack does not recreate networks yet: down, then up, recreates it"
			}
			break
		}
	}
	d.actions = append(d.actions, a)
}

func (d *differ) volume(n *planner.Node) {
	if n.Volume != nil && n.Volume.External {
		return
	}
	a := Action{Kind: CreateVolume, Node: n.ID, Cause: "not found"}
	for _, o := range d.obs.Volumes {
		if o.Key == n.ID.Name {
			a.LiveName = o.Name
			a.Kind, a.Cause = Keep, "up to date"
			if o.Hash != "" && o.Hash != n.Hash {
				a.Kind = Diverged
				a.Cause = "config hash changed: " + shortHash(o.Hash) + " -> " + shortHash(n.Hash) +
					"; the volume and its data are kept: down -v, then up, recreates it"
			}
			break
		}
	}
	d.actions = append(d.actions, a)
}

// container decides for planned container n, matched with live (nil when
// there is none). Nodes are visited in dependency order, so the verdicts
// of n's dependencies are known.
func (d *differ) container(n *planner.Node, live *ObservedContainer) verdict {
	service := n.ID.Name
	if live == nil {
		if d.foreign[n.Name] {
			msg := fmt.Sprintf("container name %q is already in use by a container that is not of project %q; remove or rename it", n.Name, d.plan.Project)
			return verdict{kind: Conflict, cause: msg, why: msg}
		}
		cause := "not found"
		if others := d.live[service]; len(others) > 0 && n.Number > maxNumber(others) {
			cause = "scaled up to " + strconv.Itoa(len(d.plan.Containers(service)))
		}
		if n.Hash == "" {
			cause += "; image " + n.Image + " not resolved yet"
		}
		if d.opts.NoStart {
			cause += "; not started: --no-start"
		}
		return verdict{kind: CreateContainer, cause: cause, why: cause}
	}

	// the recreate conditions, in docker compose's order
	var reasons []string
	switch {
	case d.opts.ForceRecreate && d.explicit[service]:
		reasons = append(reasons, "--force-recreate")
	case d.opts.AlwaysRecreateDeps && !d.explicit[service]:
		reasons = append(reasons, "--always-recreate-deps")
	}
	var restartBy []string
	for _, e := range d.plan.Dependencies(n.ID) {
		if e.To.Kind != planner.KindContainer {
			continue
		}
		dep, ok := d.verdicts[e.To]
		if !ok {
			continue
		}
		switch {
		case (e.Why == planner.SharesNamespace || e.Why == planner.VolumesFrom) && dep.kind == RecreateContainer:
			what := "shares its namespaces"
			if e.Why == planner.VolumesFrom {
				what = "mounts its volumes (volumes_from)"
			}
			reasons = append(reasons, fmt.Sprintf("%s is recreated and this container %s", e.To, what))
		case e.Restart && (dep.kind == RecreateContainer || dep.kind == RestartContainer):
			what := "recreated"
			if dep.kind == RestartContainer {
				what = "restarted"
			}
			restartBy = append(restartBy, fmt.Sprintf("%s with restart: true, which is %s", e.To, what))
		}
	}
	if live.State == Dead {
		reasons = append(reasons, "container is dead")
	}
	if n.Hash != "" {
		switch {
		case n.ImageID != "" && live.ImageID != n.ImageID:
			reasons = append(reasons, "image changed: "+shortID(live.ImageID)+" -> "+shortID(n.ImageID))
		case live.Hash != n.Hash:
			reasons = append(reasons, "config hash changed: "+shortHash(live.Hash)+" -> "+shortHash(n.Hash))
		}
		if live.Name != n.Name {
			reasons = append(reasons, fmt.Sprintf("name is %q, want %q", live.Name, n.Name))
		}
	}

	state := stateText(live.State, live.ExitCode)
	upToDate := "up to date"
	if n.Hash == "" {
		upToDate = "image " + n.Image + " not resolved yet: not compared"
	}
	detail := upToDate + " (config hash " + shortHash(live.Hash) + ", image " + shortID(live.ImageID) + ")"
	if len(reasons) > 0 {
		if !d.opts.NoRecreate {
			cause := strings.Join(reasons, "; ")
			if d.opts.NoStart {
				cause += "; not started: --no-start"
			}
			return verdict{kind: RecreateContainer, cause: cause, why: cause, live: live}
		}
		upToDate = strings.Join(reasons, "; ") + ", but --no-recreate"
		detail = upToDate
	}
	if len(restartBy) > 0 && live.State == Running {
		cause := "depends on " + strings.Join(restartBy, ", ")
		if !d.opts.NoStart {
			return verdict{kind: RestartContainer, cause: cause, why: cause, live: live}
		}
		upToDate += "; " + cause + ", but --no-start"
		detail += "; " + cause + ", but --no-start"
	}
	switch live.State {
	case Created, Exited:
		if !d.opts.NoStart {
			return verdict{kind: StartContainer, cause: upToDate + ", " + state, why: detail + ", " + state, live: live}
		}
		state += "; not started: --no-start"
	}
	return verdict{kind: Keep, cause: upToDate + ", " + state, why: detail + ", " + state, live: live}
}

func maxNumber(cs []*ObservedContainer) int {
	m := 0
	for _, c := range cs {
		m = max(m, c.Number)
	}
	return m
}

// stateText is a state as docker ps words it: "running", "exited (1)".
func stateText(s State, exitCode int) string {
	if s == Exited {
		return "exited (" + strconv.Itoa(exitCode) + ")"
	}
	return s.String()
}

// shortHash shortens a config hash to 8 characters for display.
func shortHash(h string) string {
	if h == "" {
		return "none"
	}
	if len(h) > 8 {
		return h[:8]
	}
	return h
}

// shortID shortens an image ID ("sha256:…") to 12 hex characters.
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if id == "" {
		return "none"
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
