// Package reconcilertest helps test the reconciler and the worlds it
// drives: Fake is an in-memory reconciler.World that keeps state, records
// calls and plays scripted behaviours under a fake clock, and WorldSuite
// is the conformance suite that Fake and the real world (reconciler/live)
// both pass, which keeps the fake honest. Only tests import it.
package reconcilertest
