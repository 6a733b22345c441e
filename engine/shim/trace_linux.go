package shim

import (
	"syscall"
	"time"
)

// mark logs, at debug level, a step of the shim's start-up with the wall
// clock to the microsecond (to line up with the init's and the caller's
// marks) and the page faults so far: on virtual machines a page fault
// can cost 15 µs, and they are what a start-up spends most.
func (s *shim) mark(step string) {
	if !s.debug {
		return
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s.log.Debug(step, "at", time.Now().Format("15:04:05.000000"), "minflt", ru.Minflt)
}
