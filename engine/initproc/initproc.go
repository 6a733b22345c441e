// Package initproc is PID 1 inside every container: the stack binary
// re-executed by the shim with "init" as its first argument, already inside
// the container's new mount, PID, UTS, IPC and network namespaces.
//
// It finishes the container set-up that Go cannot do between fork and exec
// (mounts, pivot_root, /dev, hostname, sysctls, rlimits), starts the user's
// process as its child with the requested user, groups and capability
// bounding set, and then stays as the namespace's init: it forwards signals
// to that process, reaps every zombie, starts exec processes on request, and
// exits with the main process's exit code (128+signal when it was killed).
//
// Wire contract with the shim (engine/shim), by descriptor number:
//
//	3  seqpacket socket (Conn, in the wire form of wire.go): config in,
//	   status and exec traffic both ways
//	4  stdin for the main process
//	5  stdout for the main process
//	6  stderr for the main process
//
// The first message is the Config, sent as soon as the shim has read it, so
// the init decodes it while the shim places the init in its cgroup and sets
// up the network; the second, Start, says both are done. Init answers with
// Started (the main process's pid) or Failed (the step and the error), so
// the parent reports a set-up failure with its cause. stderr is the last
// resort.
//
// Imports are kept to the standard library, x/sys/unix, runtime-spec and
// engine/rootfs (deps_test.go), and exclude encoding/json and net: every
// package's init work runs at each container start.
package initproc

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Arg is the first argument that selects the init role of the binary.
const Arg = "init"

// Descriptor numbers inherited from the shim.
const (
	fdIPC    = 3
	fdStdin  = 4
	fdStdout = 5
	fdStderr = 6
)

// Config is everything the init needs to build the container.
type Config struct {
	ID   string      `json:"id"`
	Spec *specs.Spec `json:"spec"`
	// Rootfs is the directory the overlay is mounted on (inside the
	// container's mount namespace only, so nothing leaks to the host).
	Rootfs string   `json:"rootfs"`
	Lower  []string `json:"lower"` // bottom layer first
	Upper  string   `json:"upper"`
	Work   string   `json:"work"`
	// CgroupV1 lists the v1 hierarchies to mount under /sys/fs/cgroup;
	// empty on a pure cgroup v2 host, where cgroup2 is mounted instead.
	CgroupV1 []CgroupMount `json:"cgroupV1,omitempty"`
}

// CgroupMount is one v1 hierarchy: its directory name under /sys/fs/cgroup
// and its mount options ("memory", "cpu,cpuacct", "name=systemd").
type CgroupMount struct {
	Dir     string `json:"dir"`
	Options string `json:"options"`
}

// Message is one packet on the shim<->init socket.
type Message struct {
	Type MsgType `json:"type"`

	Config *Config `json:"config,omitempty"` // Config

	Pid    int    `json:"pid,omitempty"`    // Started, ExecStarted
	Step   string `json:"step,omitempty"`   // Failed
	Error  string `json:"error,omitempty"`  // Failed, ExecFailed
	ExecID string `json:"execID,omitempty"` // Exec*, Exited

	// Process describes an exec'd process. Its stdio comes as descriptors
	// (stdin, stdout, stderr) unless Process.Terminal is set, in which case
	// init allocates a pty inside the container and returns the master
	// with ExecStarted.
	Process *specs.Process `json:"process,omitempty"`

	Status int `json:"status,omitempty"` // ExecExited: exit code, 128+signal
	Signal int `json:"signal,omitempty"` // Signal
}

// MsgType names a message.
type MsgType string

const (
	MsgConfig      MsgType = "config"       // shim -> init
	MsgStart       MsgType = "start"        // shim -> init: in the cgroup, network ready: go on
	MsgStarted     MsgType = "started"      // init -> shim
	MsgExited      MsgType = "exited"       // init -> shim: the container ended with Status; init exits next
	MsgFailed      MsgType = "failed"       // init -> shim
	MsgExec        MsgType = "exec"         // shim -> init
	MsgExecStarted MsgType = "exec-started" // init -> shim (+ pty master)
	MsgExecFailed  MsgType = "exec-failed"  // init -> shim
	MsgExecExited  MsgType = "exec-exited"  // init -> shim
	MsgSignal      MsgType = "signal"       // shim -> init: signal the main process (no ExecID) or an exec
)
