package reconciler

import (
	"strconv"
	"strings"

	"stack/planner"
)

// ActionKind says what an Action does.
type ActionKind int

// Action kinds. Keep, WarnOrphan and Diverged change nothing: they are
// there so that the list (and `up --dry-run`) accounts for every planned
// resource and every warning, and so that Apply knows the live ID of
// containers it must wait on.
const (
	// Keep: the resource is up to date; nothing to do.
	Keep ActionKind = iota + 1
	// CreateNetwork and CreateVolume create a missing network or volume.
	CreateNetwork
	CreateVolume
	// CreateContainer creates a missing container, then starts it
	// (unless Action.NoStart) once its dependencies' conditions hold.
	CreateContainer
	// RecreateContainer replaces an obsolete container, as docker compose
	// does: create the new one under a temporary name, stop and remove
	// the old one, rename the new one, then start it.
	RecreateContainer
	// StartContainer starts an up-to-date container that is not running.
	StartContainer
	// RestartContainer stops a running container before its dependency
	// is recreated or restarted, and starts it again once the dependency's
	// condition holds (depends_on restart: true).
	RestartContainer
	// ScaleDown stops and removes a container beyond the service's
	// replica count, or a duplicate left by an interrupted recreate.
	ScaleDown
	// RemoveOrphan stops and removes an orphan (up --remove-orphans).
	RemoveOrphan
	// WarnOrphan reports an orphan that is left alone.
	WarnOrphan
	// Diverged reports a network or volume whose config hash differs from
	// the plan's; it is left alone (recreating it is not implemented:
	// down, then up, recreates it).
	Diverged
	// Conflict reports a planned container whose name is taken by a
	// container stack did not create for this project. Apply refuses to
	// run while there is one.
	Conflict
)

var kindVerbs = [...]string{
	Keep:              "keep",
	CreateNetwork:     "create",
	CreateVolume:      "create",
	CreateContainer:   "create",
	RecreateContainer: "recreate",
	StartContainer:    "start",
	RestartContainer:  "restart",
	ScaleDown:         "remove",
	RemoveOrphan:      "remove",
	WarnOrphan:        "warn",
	Diverged:          "diverged",
	Conflict:          "conflict",
}

var kindNames = [...]string{
	Keep:              "Keep",
	CreateNetwork:     "CreateNetwork",
	CreateVolume:      "CreateVolume",
	CreateContainer:   "CreateContainer",
	RecreateContainer: "RecreateContainer",
	StartContainer:    "StartContainer",
	RestartContainer:  "RestartContainer",
	ScaleDown:         "ScaleDown",
	RemoveOrphan:      "RemoveOrphan",
	WarnOrphan:        "WarnOrphan",
	Diverged:          "Diverged",
	Conflict:          "Conflict",
}

// String returns the kind's Go name ("RecreateContainer").
func (k ActionKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "ActionKind(" + strconv.Itoa(int(k)) + ")"
}

// Changes reports whether an action of this kind changes the world.
func (k ActionKind) Changes() bool {
	switch k {
	case Keep, WarnOrphan, Diverged, Conflict:
		return false
	}
	return true
}

// Action is one decision of Diff, with its cause.
type Action struct {
	Kind ActionKind
	// Node is the planned resource. For ScaleDown and orphans, which
	// have no planned node, it is the container's service and number
	// (number 0 for a one-off).
	Node planner.NodeID
	// LiveID and LiveName are the existing container's ID and name, for
	// actions on an existing container ("" otherwise); for networks and
	// volumes LiveName is the existing object's name.
	LiveID, LiveName string
	// State is the existing container's state when Diff ran.
	State State
	// Cause says why, in words a user reads in `up --dry-run`.
	Cause string
	// NoStart: create or recreate the container without starting it
	// (up --no-start, create).
	NoStart bool
}

// String renders the action on one line: the resource, the verb and the
// cause, as `container:web:1 recreate (config hash changed: 1a2b3c4d ->
// 5e6f7a8b)`. A one-off container is named by its live name
// (`container:demo-web-run-0123456789ab remove (…)`).
func (a Action) String() string {
	target := a.Node.String()
	if a.Node.Kind == planner.KindContainer && a.Node.Number == 0 {
		target = "container:" + a.LiveName
	}
	verb := "Action(" + strconv.Itoa(int(a.Kind)) + ")"
	if a.Kind > 0 && int(a.Kind) < len(kindVerbs) {
		verb = kindVerbs[a.Kind]
	}
	s := target + " " + verb
	if a.Cause != "" {
		s += " (" + a.Cause + ")"
	}
	return s
}

// Actions is a list of actions, as Diff returns it: in plan order (the
// planned networks, volumes and containers in planner.Plan.Order), then
// the containers to remove by service and number.
type Actions []Action

// String renders the actions one per line, each as Action.String. The
// text is the same on every run: tests compare it with golden files, and
// `up --dry-run` prints it.
func (as Actions) String() string {
	var b strings.Builder
	for _, a := range as {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// IsEmpty reports whether applying the actions would change nothing: every
// action is Keep, WarnOrphan, Diverged or Conflict.
func (as Actions) IsEmpty() bool {
	for _, a := range as {
		if a.Kind.Changes() {
			return false
		}
	}
	return true
}

// Changes returns the actions that change the world.
func (as Actions) Changes() Actions {
	var out Actions
	for _, a := range as {
		if a.Kind.Changes() {
			out = append(out, a)
		}
	}
	return out
}

// Format renders actions as Actions.String does.
func Format(actions []Action) string { return Actions(actions).String() }
