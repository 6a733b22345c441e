// Command stack-runtime is the part of stack that runs for every
// container: the shim (the per-container supervisor). The stack command
// starts it; users never do. The container's init is stack-init
// (cmd/stack-init), a binary of its own.
//
// It is a separate, small binary because a Go program runs the package
// initialisers of everything it links before main, and the shim starts
// for every container: linking it with the CLI (cobra, the compose
// loader, the image store) would add that start-up cost to every
// container start. Without it next to the stack binary, stack re-executes
// itself as the shim, which works the same, only slower.
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

	"stack/engine/shim"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case shim.Arg:
			shim.Main() // never returns
		}
	}
	fmt.Fprintln(os.Stderr, "stack-runtime is started by stack; it is not a command of its own")
	os.Exit(2)
}
