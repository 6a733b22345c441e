// Package planner turns a loaded compose project (spec.Project) into a
// Plan: the desired state as a graph whose nodes are the images, networks
// and volumes the project needs and one node per container (container #i
// of service s), and whose edges say what must exist or be in which state
// before a node can be created or started (depends_on with its condition,
// network_mode/ipc/pid "service:X", volumes_from, and the image, networks
// and named volumes each container uses).
//
// Each container node carries its name (PROJECT-SERVICE-N or
// container_name), its config hash and every com.docker.compose.* label,
// so that the reconciler compares a Plan with what runs without knowing
// how either is computed. Label keys and name rules are defined once, in
// labels.go, as docker compose defines them (pkg/api/labels.go).
//
// The planner is pure: it does no I/O, reads no clock and uses no
// randomness. What it needs from the world (the resolved image IDs, the
// --scale overrides) comes in Inputs as data. deps_test.go enforces this.
// It does not decide what to create, recreate or remove: that is the
// reconciler's job, given a Plan and the observed state.
package planner
