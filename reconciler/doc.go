// Package reconciler brings the world to a plan: it observes what runs
// (Observed, through World's Observer), decides what to do (Diff, pure:
// a list of Actions, each with its cause, as docker compose's up decides),
// and does it (Apply: in dependency order, with bounded parallelism,
// waiting on each depends_on condition through events from the world,
// never by polling). Down, Stop and Remove take a project apart from the
// observed state alone, so that `down -p NAME` needs no compose file.
//
// It is level-triggered: it remembers nothing between runs. After a
// failure it leaves what runs running, and the next up observes again and
// continues from there; after a successful Apply, a new Diff has nothing
// to change.
//
// The reconciler reads and changes the world only through the small
// interfaces of world.go, which it owns: reconciler/live adapts them to
// the engine, network and volume packages, and reconcilertest.Fake is an
// in-memory world for tests; both pass reconcilertest.WorldSuite. It does
// not import the engine, network or volume packages (deps_test.go), and
// it never prints: progress is reported as Events for the CLI to render.
package reconciler
