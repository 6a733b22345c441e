// Package oci builds the OCI runtime spec ([specs.Spec]) that stack's
// in-container init consumes, so that a container sees the same environment
// it would see under Docker.
//
// # What it owns
//
//   - [Default]: Docker's default container environment as data: the 14
//     default capabilities, the /proc, /dev, /dev/pts, /sys, /sys/fs/cgroup,
//     /dev/mqueue and 64 MiB /dev/shm mounts in Docker's order, the masked and
//     read-only paths, the namespaces, the device cgroup rules, the two
//     network sysctls, PATH and an explicit RLIMIT_NOFILE.
//   - [SpecOpt] builders (With*) that apply Docker's rules for a container's
//     command, environment, user, working directory, terminal, capabilities,
//     privileged mode, security options, sysctls, ulimits, cgroup resources,
//     /dev/shm size, tmpfs and other mounts, and annotations. [New] and
//     [Compose] chain them.
//   - Parsers for Docker's strings: [ParseMemory] ("512m", "1.5g"),
//     [ParseCPUs] ("0.5") and [ParseSignal] ("SIGTERM", "15", "SIGRTMIN+3").
//
// # What it does not own
//
// It does not create, start or configure anything. It makes no syscalls and
// does no file I/O: every option is a pure edit of a *specs.Spec, so every
// option is unit-tested on [Default] without root. Resolving the user name
// against the image's /etc/passwd and /etc/group, creating the default device
// nodes, masking paths, applying rlimits and sysctls and the like belong to
// the runtime (engine/initproc, engine/cgroups, engine/rootfs), which reads
// the spec built here. The contract that runtime must honour beyond the OCI
// runtime spec itself (the user string, the annotations) is written next to
// the option that sets it: see [WithUser], [WithAdditionalGroups],
// [WithPrivileged] and the Annotation* constants.
//
// # Options and errors
//
// An option edits the spec in place and may assume nothing more than a
// non-nil *specs.Spec: it creates Process, Linux and Linux.Resources when it
// needs them. Options run in the order given; where Docker's outcome does not
// depend on the order of its flags, the option documents how it keeps that
// property (see [WithHostname], [WithTTY] and [WithCapabilities]).
//
// Every error an option or parser returns is lower case, quotes the bad value
// and matches errdefs.ErrInvalid with errors.Is.
package oci
