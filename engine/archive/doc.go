// Package archive makes and extracts the tar streams of `stack cp`, with
// docker cp's semantics, inside a container's root filesystem given as an
// open directory.
//
// Every path is resolved inside that root with openat2(RESOLVE_IN_ROOT |
// RESOLVE_NO_MAGICLINKS), as if it were "/": a symlink in the container
// that points to /etc leads to the container's /etc, never the host's, and
// ".." stops at the root. Below the resolved starting point, the walk goes
// by *at calls on directory descriptors and never follows a symlink.
//
// It does not know containers: which root, and whether the container is
// running, is the caller's business (engine).
package archive
