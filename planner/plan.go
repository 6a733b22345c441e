package planner

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"stack/spec"
)

// Kind is the kind of resource a node stands for.
type Kind int

// Kinds, in the order Plan.Order places otherwise unordered nodes.
const (
	KindImage Kind = iota + 1
	KindNetwork
	KindVolume
	KindContainer
)

func (k Kind) String() string {
	switch k {
	case KindImage:
		return "image"
	case KindNetwork:
		return "network"
	case KindVolume:
		return "volume"
	case KindContainer:
		return "container"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// NodeID names a node of a Plan. Name is the image reference for an image
// (spec.Service.ImageName), the compose key for a network or a volume
// ("default", not "demo_default"), the service name for a container;
// Number is the container number (from 1), 0 for other kinds.
type NodeID struct {
	Kind   Kind
	Name   string
	Number int
}

// String renders the ID as "container:web:1", "network:default",
// "volume:data" or "image:busybox:latest", for display and goldens. It is
// never parsed back.
func (id NodeID) String() string {
	if id.Kind == KindContainer {
		return id.Kind.String() + ":" + id.Name + ":" + strconv.Itoa(id.Number)
	}
	return id.Kind.String() + ":" + id.Name
}

// Compare orders IDs by kind (images, networks, volumes, containers),
// then name, then number (so that web:2 comes before web:10).
func (id NodeID) Compare(o NodeID) int {
	return cmp.Or(cmp.Compare(id.Kind, o.Kind), strings.Compare(id.Name, o.Name), cmp.Compare(id.Number, o.Number))
}

// Condition is the state a dependency must reach before its dependent
// starts (depends_on's condition).
type Condition int

// Conditions. For edges to images, networks and volumes the condition is
// Started, which there means "exists".
const (
	// Started: the container is running (or has run: a one-shot that
	// already exited counts, as in docker compose).
	Started Condition = iota
	// Healthy: the container's healthcheck reports healthy.
	Healthy
	// CompletedSuccessfully: the container exited with code 0.
	CompletedSuccessfully
)

var conditionNames = [...]string{
	Started:               spec.ConditionStarted,
	Healthy:               spec.ConditionHealthy,
	CompletedSuccessfully: spec.ConditionCompletedSuccessfully,
}

// String returns compose's name: "service_started", "service_healthy" or
// "service_completed_successfully".
func (c Condition) String() string {
	if c >= 0 && int(c) < len(conditionNames) {
		return conditionNames[c]
	}
	return "Condition(" + strconv.Itoa(int(c)) + ")"
}

// MarshalText returns String's text.
func (c Condition) MarshalText() ([]byte, error) {
	if c < 0 || int(c) >= len(conditionNames) {
		return nil, fmt.Errorf("invalid condition %d", int(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText parses compose's name of a condition.
func (c *Condition) UnmarshalText(b []byte) error {
	i := slices.Index(conditionNames[:], string(b))
	if i < 0 {
		return fmt.Errorf("unknown condition %q: want %s, %s or %s", b, spec.ConditionStarted, spec.ConditionHealthy, spec.ConditionCompletedSuccessfully)
	}
	*c = Condition(i)
	return nil
}

// EdgeKind says why an edge exists.
type EdgeKind int

// Edge kinds.
const (
	// DependsOn: a depends_on entry (explicit, or implied by links,
	// network_mode/ipc/pid service:X or volumes_from, as compose-go adds
	// them), to every container of the dependency: compose waits for each
	// replica.
	DependsOn EdgeKind = iota
	// NeedsImage: the container is created from the image.
	NeedsImage
	// NeedsNetwork: the container joins the network.
	NeedsNetwork
	// NeedsVolume: the container mounts the named volume.
	NeedsVolume
	// SharesNamespace: network_mode, ipc or pid is "service:X"; To is X's
	// container number 1, whose namespace is joined. When To is
	// recreated, the dependent must be recreated too.
	SharesNamespace
	// VolumesFrom: volumes_from names service X; To is X's container
	// number 1, whose mounts are copied. When To is recreated, the
	// dependent must be recreated too.
	VolumesFrom
)

var edgeKindNames = [...]string{
	DependsOn:       "depends_on",
	NeedsImage:      "needs_image",
	NeedsNetwork:    "needs_network",
	NeedsVolume:     "needs_volume",
	SharesNamespace: "shares_namespace",
	VolumesFrom:     "volumes_from",
}

func (k EdgeKind) String() string {
	if k >= 0 && int(k) < len(edgeKindNames) {
		return edgeKindNames[k]
	}
	return "EdgeKind(" + strconv.Itoa(int(k)) + ")"
}

// Edge says that From depends on To: To must exist, and for a container
// be in state Condition, before From is started.
type Edge struct {
	From, To  NodeID
	Why       EdgeKind
	Condition Condition
	// Required is false for an optional depends_on entry: if To cannot
	// be started or does not reach Condition, From starts anyway with a
	// warning. Every other edge is required.
	Required bool
	// Restart is depends_on's restart: From is restarted when To is
	// restarted or recreated. It is also set on SharesNamespace edges
	// (as compose-go does for the implied depends_on); there, and on
	// VolumesFrom edges, the reconciler must recreate From when To is
	// recreated, whatever Restart says.
	Restart bool
}

// compare orders edges by From, To, then Why.
func (e Edge) compare(o Edge) int {
	return cmp.Or(e.From.Compare(o.From), e.To.Compare(o.To), cmp.Compare(e.Why, o.Why))
}

// Node is one desired resource. Which fields are set depends on ID.Kind.
type Node struct {
	ID NodeID
	// Name is the resource's real name: the container name
	// (PROJECT-SERVICE-N or container_name), the network or volume name
	// (spec's resolved Name: "demo_default", name:, or the external
	// name), or the image reference.
	Name string
	// Hash is the config hash: for a container ServiceHash of its service
	// and image ID, the same for every replica; for a network or volume a
	// hash of its definition. It is "" for an external network or volume,
	// for an image, and for a container whose image ID is not in
	// Inputs.ImageIDs (see Plan.MissingImages).
	Hash string
	// ImageID is the resolved image ID ("sha256:…") of a container or an
	// image node, "" when Inputs.ImageIDs does not have it.
	ImageID string
	// Labels are the labels to create the object with: every
	// com.docker.compose.* label that applies (see labels.go) and the
	// user's labels. nil for images and for external networks and volumes,
	// which stack does not create. LabelConfigHash and LabelImage are
	// absent while the image ID is unknown.
	Labels map[string]string

	// Service is the container's service. On an image node it is the
	// service whose build: builds the image (the first by name when
	// several do), else the first service by name that uses it; the
	// image's Dependents give every container that uses it.
	Service *spec.Service
	// Number is the container number, from 1 (as ID.Number).
	Number int

	Network *spec.Network // network nodes
	Volume  *spec.Volume  // volume nodes
	Image   string        // image nodes and containers: the image reference
}

// Plan is the desired state of a project. Build makes it; nothing modifies
// it afterwards, and it is safe for concurrent reads.
type Plan struct {
	// Project is the project name.
	Project string
	// Nodes are in dependency order (Order).
	Nodes []*Node
	// Edges are sorted by From, then To, then Why.
	Edges []Edge
	// Warnings name the optional dependencies Build dropped because the
	// service they point at has no container.
	Warnings []string

	byID       map[NodeID]*Node
	deps, rdep map[NodeID][]Edge // by From, by To
}

// Node returns the node with the given ID.
func (p *Plan) Node(id NodeID) (*Node, bool) {
	n, ok := p.byID[id]
	return n, ok
}

// Dependencies returns the edges from id: what id depends on, sorted by To.
// The slice is the caller's.
func (p *Plan) Dependencies(id NodeID) []Edge { return slices.Clone(p.deps[id]) }

// Dependents returns the edges to id: what depends on id, sorted by From.
// The slice is the caller's.
func (p *Plan) Dependents(id NodeID) []Edge { return slices.Clone(p.rdep[id]) }

// Order returns the node IDs in dependency order: every node comes after
// all the nodes it depends on. Nodes that do not depend on one another are
// ordered by NodeID.Compare, so the order is the same on every run.
func (p *Plan) Order() []NodeID {
	ids := make([]NodeID, len(p.Nodes))
	for i, n := range p.Nodes {
		ids[i] = n.ID
	}
	return ids
}

// Containers returns the container nodes of a service, by number; none for
// an unknown service or one with 0 replicas.
func (p *Plan) Containers(service string) []*Node {
	var out []*Node
	for _, n := range p.Nodes {
		if n.ID.Kind == KindContainer && n.ID.Name == service {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b *Node) int { return cmp.Compare(a.Number, b.Number) })
	return out
}

// MissingImages returns the image references whose ID was not in
// Inputs.ImageIDs, sorted. While it is not empty the plan is not final:
// the containers that use those images have no Hash, so it cannot be
// compared with live containers. The reconciler ensures the image nodes
// first, then builds the plan again with their IDs.
func (p *Plan) MissingImages() []string {
	var out []string
	for _, n := range p.Nodes {
		if n.ID.Kind == KindImage && n.ImageID == "" {
			out = append(out, n.Name)
		}
	}
	slices.Sort(out)
	return out
}

// String renders the plan one node per line, in Order, each with what it
// depends on:
//
//	image:busybox id=0123456789ab
//	network:default demo_default hash=4f1c2a7b9d0e
//	container:web:1 demo-web-1 hash=1a2b3c4d5e6f <- container:db:1(service_healthy), image:busybox, network:default
//
// Hashes and IDs are shortened to 12 characters; "?" marks an unknown one.
// A dependency is annotated with its condition (and "optional",
// "restart") for depends_on, with its kind for shares_namespace and
// volumes_from. The text is the same on every run: tests compare it with
// golden files.
func (p *Plan) String() string {
	var b strings.Builder
	for _, n := range p.Nodes {
		b.WriteString(n.ID.String())
		switch n.ID.Kind {
		case KindImage:
			if n.Service != nil && n.Service.Build != nil {
				b.WriteString(" build=" + n.Service.Name)
			}
			b.WriteString(" id=" + short(strings.TrimPrefix(n.ImageID, "sha256:")))
		case KindNetwork, KindVolume:
			b.WriteString(" " + n.Name)
			external := n.Network != nil && n.Network.External || n.Volume != nil && n.Volume.External
			if external {
				b.WriteString(" external")
			} else {
				b.WriteString(" hash=" + short(n.Hash))
			}
		case KindContainer:
			b.WriteString(" " + n.Name + " hash=" + short(n.Hash))
		}
		for i, e := range p.deps[n.ID] {
			if i == 0 {
				b.WriteString(" <- ")
			} else {
				b.WriteString(", ")
			}
			b.WriteString(e.To.String())
			switch e.Why {
			case DependsOn:
				b.WriteString("(" + e.Condition.String())
				if !e.Required {
					b.WriteString(",optional")
				}
				if e.Restart {
					b.WriteString(",restart")
				}
				b.WriteString(")")
			case SharesNamespace, VolumesFrom:
				b.WriteString("(" + e.Why.String() + ")")
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func short(s string) string {
	if s == "" {
		return "?"
	}
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
