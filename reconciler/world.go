package reconciler

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"stack/planner"
)

// World is everything the reconciler needs from the machine: it observes
// a project and acts on images, networks, volumes and containers. The
// real implementation is reconciler/live; reconcilertest.Fake is an
// in-memory one. Both pass reconcilertest.WorldSuite.
//
// A World must be safe for concurrent use: Apply, Down and EnsureImages
// call it from many goroutines at once, on different objects. Calls
// naming a container by ID fail with an error wrapping ErrNotFound when
// there is no such container. Errors name the object and the step; the
// reconciler adds the service.
type World interface {
	Observer
	Images
	Networks
	Volumes
	Containers
}

// Observer reads the live state of a project.
type Observer interface {
	// Observe lists everything labelled com.docker.compose.project=project
	// (containers incl. one-offs, networks, volumes), labels parsed once
	// (ObservedContainer.ParseLabels), plus containers whose NAME collides
	// with a planned name but that lack our labels (Foreign). The Observer
	// does not know the plan, so Foreign lists the names of every container
	// that lacks this project's label; Diff picks the ones that collide.
	// The lists are sorted as Observed says (SortObserved). A project with
	// nothing is an empty Observed, not an error. Safe for concurrent use.
	Observe(ctx context.Context, project string) (*Observed, error)
}

// Images makes images available.
type Images interface {
	// EnsureImage makes the image available and returns its ID: found
	// locally, or (later issues) pulled/built per policy. Errors name the
	// service and image.
	EnsureImage(ctx context.Context, n *planner.Node, opts ImageOptions) (id string, err error)
}

// ImageOptions is the image policy of up/create.
type ImageOptions struct {
	Pull    string // "", "always", "missing", "never"
	Build   bool   // --build
	NoBuild bool
}

// Networks creates and removes networks.
type Networks interface {
	// CreateNetwork creates network n under n.Name with n.Labels. It is
	// idempotent for the same name and labels.
	CreateNetwork(ctx context.Context, n *planner.Node) error
	// RemoveNetwork removes the network. A missing network is an error
	// wrapping ErrNotFound, which callers tolerate.
	RemoveNetwork(ctx context.Context, name string) error
}

// Volumes creates and removes volumes.
type Volumes interface {
	// CreateVolume creates volume n under n.Name with n.Labels; it is
	// idempotent for the same name and labels.
	CreateVolume(ctx context.Context, n *planner.Node) error
	// RemoveVolume removes the volume. A missing volume is an error
	// wrapping ErrNotFound; one still mounted wraps ErrInUse.
	RemoveVolume(ctx context.Context, name string) error
}

// Containers creates and drives containers.
type Containers interface {
	// CreateContainer creates (does not start) container n under name
	// with n.Labels plus extraLabels (which win), and returns its ID. When extraLabels
	// has planner.LabelReplace (a recreate), the new container takes over
	// the anonymous volumes of the container it names, as docker compose
	// keeps their data across a recreate; Apply leaves the label out for
	// up --renew-anon-volumes. A name already taken is an error wrapping
	// ErrConflict.
	CreateContainer(ctx context.Context, n *planner.Node, name string, extraLabels map[string]string) (id string, err error)
	// StartContainer starts a created or exited container and returns
	// once it runs (a program that exits at once may already have exited);
	// starting a running one is not an error.
	StartContainer(ctx context.Context, id string) error
	// StopContainer stops with the grace period (nil: the container's
	// own) and returns once it has exited. Stopping a container that is
	// not running is not an error.
	StopContainer(ctx context.Context, id string, timeout *time.Duration) error
	// RemoveContainer removes a container that is not running (stop it
	// first); removeAnonVolumes also removes its anonymous volumes.
	RemoveContainer(ctx context.Context, id string, removeAnonVolumes bool) error
	// RenameContainer renames a container; a name already taken is an
	// error wrapping ErrConflict.
	RenameContainer(ctx context.Context, id, name string) error
	// WaitContainer blocks until cond holds for the container:
	// planner.Started (running, or has run and exited; a created container
	// that never ran does not count yet), planner.Healthy
	// (the healthcheck passed), planner.CompletedSuccessfully (exited 0).
	// It returns an error that names the container and the reason (exit
	// code, last probe output) as soon as cond can no longer hold, or
	// ctx's error. Healthy on a container without a healthcheck is an
	// error at once, "container X has no healthcheck configured", as in
	// docker compose. Event-driven in the real world; the reconciler
	// never polls.
	WaitContainer(ctx context.Context, id string, cond planner.Condition) error
}

// Errors a World wraps so that the reconciler can tell cases apart.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the name is already in use.
	ErrConflict = errors.New("name already in use")
	// ErrInUse: the object is still used (a network with containers, a
	// mounted volume).
	ErrInUse = errors.New("in use")
)

// Observed is the live state of a project.
type Observed struct {
	Project    string
	Containers []ObservedContainer // sorted by service, number (one-offs after numbered ones, by name)
	Networks   []ObservedNetwork   // sorted by name
	Volumes    []ObservedVolume    // sorted by name
	// Foreign are the names of containers without this project's label,
	// sorted: a planned container whose name is among them would collide
	// with a container stack did not create for this project, which Diff
	// reports (Conflict) and never touches.
	Foreign []string
}

// ObservedContainer is one container of the project, its labels parsed.
type ObservedContainer struct {
	ID, Name, Service string
	Number            int    // LabelContainerNumber; 0 for one-offs
	OneOff            bool   // LabelOneoff == "True"
	Hash, ImageID     string // LabelConfigHash, LabelImage
	State             State
	ExitCode          int
	Health            string // "", "starting", "healthy", "unhealthy"
	DependsOn         string // LabelDependencies
	Labels            map[string]string
	Created           time.Time
}

// State is a container's state, as the engine reports it.
type State int

// States.
const (
	Created State = iota
	Running
	Paused
	Restarting
	Exited
	Dead
)

var stateNames = [...]string{
	Created:    "created",
	Running:    "running",
	Paused:     "paused",
	Restarting: "restarting",
	Exited:     "exited",
	Dead:       "dead",
}

// String returns docker's word: "created", "running", "paused",
// "restarting", "exited", "dead".
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText returns String's text, for JSON output (ps --format json).
func (s State) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(stateNames) {
		return nil, errors.New("invalid state " + strconv.Itoa(int(s)))
	}
	return []byte(s.String()), nil
}

// UnmarshalText parses docker's word for a state.
func (s *State) UnmarshalText(b []byte) error {
	v, ok := ParseState(string(b))
	if !ok {
		return errors.New("unknown container state " + strconv.Quote(string(b)))
	}
	*s = v
	return nil
}

// ParseState parses docker's word for a state.
func ParseState(s string) (State, bool) {
	for i, n := range stateNames {
		if n == s {
			return State(i), true
		}
	}
	return 0, false
}

// ObservedNetwork is a network labelled with the project. Key is its
// LabelNetwork, Hash its LabelConfigHash.
type ObservedNetwork struct {
	Name, Key, Hash string
	External        bool
}

// ObservedVolume is a volume labelled with the project. Key is its
// LabelVolume, Hash its LabelConfigHash.
type ObservedVolume struct {
	Name, Key, Hash string
	External        bool
}

// ParseLabels sets c.Labels and the fields read from them: Service,
// Number, OneOff, Hash, ImageID and DependsOn. A World calls it once per
// container at Observe time, so that nothing else parses labels. A missing
// or malformed container number leaves Number 0.
func (c *ObservedContainer) ParseLabels(labels map[string]string) {
	c.Labels = labels
	c.Service = labels[planner.LabelService]
	c.Number, _ = strconv.Atoi(labels[planner.LabelContainerNumber])
	c.OneOff = labels[planner.LabelOneoff] == planner.OneoffTrue
	c.Hash = labels[planner.LabelConfigHash]
	c.ImageID = labels[planner.LabelImage]
	c.DependsOn = labels[planner.LabelDependencies]
}

// ParseNetwork returns the observed network name with its labels parsed.
func ParseNetwork(name string, labels map[string]string) ObservedNetwork {
	return ObservedNetwork{Name: name, Key: labels[planner.LabelNetwork], Hash: labels[planner.LabelConfigHash]}
}

// ParseVolume returns the observed volume name with its labels parsed.
func ParseVolume(name string, labels map[string]string) ObservedVolume {
	return ObservedVolume{Name: name, Key: labels[planner.LabelVolume], Hash: labels[planner.LabelConfigHash]}
}

// SortObserved puts o's lists in the order Observed documents: containers
// by service, then service containers by number before one-offs by name;
// networks, volumes and Foreign by name.
func SortObserved(o *Observed) {
	slices.SortFunc(o.Containers, func(a, b ObservedContainer) int {
		return cmp.Or(strings.Compare(a.Service, b.Service), cmp.Compare(boolInt(a.OneOff), boolInt(b.OneOff)),
			cmp.Compare(a.Number, b.Number), strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	slices.SortFunc(o.Networks, func(a, b ObservedNetwork) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(o.Volumes, func(a, b ObservedVolume) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(o.Foreign)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
