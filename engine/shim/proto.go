// Package shim is the per-container supervisor: the stack binary
// re-executed with "shim", detached into its own session, that outlives the
// command which started the container and is the parent of the container's
// init. It holds the log file, records the exit status (code, time, OOM),
// applies the restart policy with Docker's back-off, and answers a control
// socket (stop, kill, wait, exec, pause) that any later stack command can
// use. It exits when the container has stopped for good.
//
// Liveness is a file lock the shim holds for its whole life
// (container.ShimAlive), not a pid, so a shim killed with SIGKILL is seen as
// gone at once, and pid reuse cannot fool a reader. The init is started with
// Pdeathsig, so a dead shim also means a dead container: the next command
// finds no process, no mount (the rootfs is mounted only inside the
// container's own mount namespace) and at most an empty cgroup to remove.
package shim

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Arg is the first argument that selects the shim role of the binary.
const Arg = "shim"

// Request is a message from a client to the shim.
type Request struct {
	Type    ReqType
	Timeout *int           // stop: seconds; nil = the container's default
	Signal  int            // stop, kill
	Process *specs.Process // exec
	Data    []byte         // stdin
	Cond    string         // wait-condition
	Rows    uint16         // resize
	Cols    uint16         // resize
	// Stdin: an attach that will send input; closing it (ReqStdinClose)
	// closes the container's stdin, as `docker run -i` does.
	Stdin bool
}

// ReqType names a request.
type ReqType string

const (
	ReqStop    ReqType = "stop"
	ReqKill    ReqType = "kill"
	ReqWait    ReqType = "wait"
	ReqExec    ReqType = "exec"
	ReqPause   ReqType = "pause"
	ReqUnpause ReqType = "unpause"
	// ReqSignalExec signals the exec process started on the same connection.
	ReqSignalExec ReqType = "signal-exec"
	// ReqAttach streams the container's output (and takes its input) on
	// this connection until the container's process exits.
	ReqAttach     ReqType = "attach"
	ReqStdin      ReqType = "stdin"       // attach: input data
	ReqStdinClose ReqType = "stdin-close" // attach: end of input
	ReqResize     ReqType = "resize"      // attach: terminal size
	// ReqWaitCondition answers once the container's Condition holds (OK)
	// or can no longer hold (error with the reason).
	ReqWaitCondition ReqType = "wait-condition"
	// ReqSyncNetwork makes the container's endpoints what its config now
	// says (network connect and disconnect).
	ReqSyncNetwork ReqType = "sync-network"
)

// Conditions for ReqWaitCondition.
const (
	CondRunning = "running" // the container's process runs
	CondHealthy = "healthy" // its healthcheck passed (or it has none and runs)
)

// Response is a message from the shim to a client.
type Response struct {
	Type     RespType
	Stream   string // output: "stdout" or "stderr"
	Data     []byte // output
	Error    string
	ExitCode int
	// NotRunning marks an error reply meaning "no process runs" (between
	// runs, or the run just ended): clients report ErrNotRunning.
	NotRunning bool
	OOMKilled  bool
	Pid        int
}

// RespType names a response.
type RespType string

const (
	RespOK          RespType = "ok"
	RespError       RespType = "error"
	RespExited      RespType = "exited"       // wait, stop: the container stopped
	RespExecStarted RespType = "exec-started" // + pty master when Terminal
	RespExecExited  RespType = "exec-exited"
	RespOutput      RespType = "output" // attach: a chunk of output
)

// Ready is what the shim reports to the command that started it, on the
// descriptor it inherited, once the container's process runs or failed.
type Ready struct {
	Pid   int
	Step  string
	Error string
	// ExitCode is the code docker reports for a failed start: 127 when the
	// program is not found, 126 when it cannot be executed, else 128.
	ExitCode int
}

// Hint is what the shim needs to start a container's init before it has
// read the container's config: the namespaces to create and whether the
// container's stdin is a pipe (docker run -i without a terminal). The
// command starting the shim passes it as an argument, so the init's
// runtime boots while the shim decodes the config and makes the cgroup.
type Hint struct {
	CloneFlags uintptr
	StdinPipe  bool
	NetNS      NetNSMode
}

// NetNSMode says where the shim puts the init's network namespace, beyond
// the namespaces CloneFlags creates.
type NetNSMode int

const (
	// NetNSClone: as CloneFlags say (a fresh one with CLONE_NEWNET, or the
	// host's).
	NetNSClone NetNSMode = iota
	// NetNSOwn: one the shim creates and holds for its whole life, so
	// that restarts keep the container's addresses, and that it sets up
	// (veths, DNS, ports) while the init boots.
	NetNSOwn
	// NetNSJoin: another container's, known only from the config (so no
	// init is started early).
	NetNSJoin
)

// String encodes the hint for the command line.
func (h Hint) String() string {
	p := 0
	if h.StdinPipe {
		p = 1
	}
	return fmt.Sprintf("%d:%d:%d", h.CloneFlags, p, h.NetNS)
}

// ParseHint decodes Hint.String; ok is false for anything else.
func ParseHint(s string) (Hint, bool) {
	var h Hint
	var p int
	if n, err := fmt.Sscanf(s, "%d:%d:%d", &h.CloneFlags, &p, &h.NetNS); err != nil || n != 3 {
		return Hint{}, false
	}
	h.StdinPipe = p == 1
	return h, true
}
