package initproc

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// debug is set when the shim asks for start-up marks (STACK_DEBUG).
var tracing bool

// debugEnv is the variable the shim sets in the init's environment to
// have it log its start-up marks to stderr (the shim's log).
const debugEnv = "STACK_INIT_DEBUG"

// DebugEnv is debugEnv with its value, for the shim.
const DebugEnv = debugEnv + "=1"

// mark logs a step of the start-up with the wall clock to the
// microsecond and the page faults so far (see the shim's marks).
func mark(step string) {
	if !tracing {
		return
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Fprintf(os.Stderr, "init: %s at=%s minflt=%d\n", step, time.Now().Format("15:04:05.000000"), ru.Minflt)
}
