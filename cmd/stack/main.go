// Command stack is a declarative multi-container orchestrator with its own
// container runtime. This package is the CLI: flags, output and exit codes.
// It decides nothing itself; it calls the engine and the compose packages.
//
// The same binary also plays a hidden role, dispatched before cobra is
// built so that its start-up stays cheap: "shim" (the per-container
// supervisor, engine/shim), when stack-runtime is not installed next to
// it. The container's init is always stack-init (cmd/stack-init).
package main

import (
	"errors"
	"fmt"
	"os"

	"stack/engine/shim"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case shim.Arg:
			shim.Main() // never returns
		}
	}
	os.Exit(run(os.Args[1:]))
}

// exitError carries an exit code chosen by a command (docker's conventions:
// 125 for a failure of stack itself, 126/127 for a command that cannot be
// run, otherwise the container's own code).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func run(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(os.Stderr, "stack: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(os.Stderr, "stack: %v\n", err)
	return 1
}
