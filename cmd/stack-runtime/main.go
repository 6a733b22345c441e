// Command stack-runtime is the part of stack that runs for every
// container: the shim (the per-container supervisor) and the init (PID 1
// in the container). The stack command starts it; users never do.
//
// It is a separate, small binary because a Go program runs the package
// initialisers of everything it links before main, and both roles start
// for every container: linking them with the CLI (cobra, the compose
// loader, the image store) would add that start-up cost, twice, to every
// container start. Without it next to the stack binary, stack re-executes
// itself in these roles, which works the same, only slower.
//
// Since Go 1.25 the runtime's monitor re-reads the cgroup CPU limit up
// to once a second while the process runs, to adjust GOMAXPROCS, with a
// helper goroutine that stops the world to apply a change. The shim needs
// none of it: fewer system calls while it works, and one goroutine fewer
// at every container start.
//
//go:debug updatemaxprocs=0
package main

import (
	"fmt"
	"os"

	"stack/engine/initproc"
	"stack/engine/shim"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case initproc.Arg:
			initproc.Main() // never returns
		case shim.Arg:
			shim.Main() // never returns
		}
	}
	fmt.Fprintln(os.Stderr, "stack-runtime is started by stack; it is not a command of its own")
	os.Exit(2)
}
