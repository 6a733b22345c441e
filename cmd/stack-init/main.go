// Command stack-init is the init of every container (PID 1 inside it),
// started by its shim. It is its own binary, apart from stack-runtime,
// because a Go program runs the package initialisers of everything it
// links before main: the init needs only its own package, while the shim
// links netlink, nftables and the DNS server. Without it next to
// stack-runtime, the shim starts stack-runtime in the init role instead.
//
// Since Go 1.25 the runtime's monitor re-reads the cgroup CPU limit up
// to once a second while the process runs, to adjust GOMAXPROCS, with a
// helper goroutine that stops the world to apply a change. The init needs
// none of it: fewer system calls while it works, and one goroutine fewer
// at every container start.
//
//go:debug updatemaxprocs=0
package main

import (
	"fmt"
	"os"

	"stack/engine/initproc"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == initproc.Arg {
		initproc.Main() // never returns
	}
	fmt.Fprintln(os.Stderr, "stack-init is started by stack's shim; it is not a command of its own")
	os.Exit(2)
}
