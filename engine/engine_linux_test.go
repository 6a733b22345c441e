package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"stack/engine"
	"stack/engine/container"
	"stack/engine/enginetest"
	"stack/engine/logs"
	"stack/engine/oci"
)

func TestMain(m *testing.M) { enginetest.Main(m) }

const busybox = "busybox:test"

// newEngine gives a test a fresh root with the busybox image imported, and
// checks at the end that nothing leaked.
func newEngine(t *testing.T) *engine.Engine {
	t.Helper()
	enginetest.RequireRoot(t)
	enginetest.LeakCheck(t)
	root := enginetest.NewRoot(t)
	e, err := engine.Open(root, engine.Options{ReapShims: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Images.Import(context.Background(), bytes.NewReader(enginetest.BusyboxTar(t)), busybox, nil); err != nil {
		t.Fatalf("import busybox: %v", err)
	}
	return e
}

// create creates a container and removes it (forcefully) after the test.
func create(t *testing.T, e *engine.Engine, opts engine.CreateOptions) *engine.Container {
	t.Helper()
	if opts.Image == "" {
		opts.Image = busybox
	}
	c, err := e.Create(context.Background(), opts)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Remove(context.Background(), c.ID(), true); err != nil && !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("remove %s: %v", c.Name(), err)
		}
	})
	return c
}

func start(t *testing.T, e *engine.Engine, c *engine.Container) {
	t.Helper()
	if err := e.Start(context.Background(), c.ID()); err != nil {
		t.Fatalf("start: %v", err)
	}
}

// runSh runs a shell script in a new container to completion and returns
// its exit code, stdout and stderr.
func runSh(t *testing.T, e *engine.Engine, script string, opts engine.CreateOptions) (int, string, string) {
	t.Helper()
	opts.Cmd = []string{"sh", "-c", script}
	c := create(t, e, opts)
	start(t, e, c)
	code, err := e.Wait(context.Background(), c.ID())
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	out, errOut := readLogs(t, e, c.ID())
	return code, out, errOut
}

func readLogs(t *testing.T, e *engine.Engine, id string) (string, string) {
	t.Helper()
	var out, errOut strings.Builder
	err := e.Logs(context.Background(), id, logs.ReadOptions{Tail: -1}, func(en logs.Entry) error {
		if en.Stream == "stderr" {
			errOut.Write(en.Line)
		} else {
			out.Write(en.Line)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	return out.String(), errOut.String()
}

func TestRunTrue(t *testing.T) {
	e := newEngine(t)
	code, _, _ := runSh(t, e, "true", engine.CreateOptions{})
	if code != 0 {
		t.Fatalf("exit code = %d, want 0", code)
	}
	code, _, _ = runSh(t, e, "exit 3", engine.CreateOptions{})
	if code != 3 {
		t.Fatalf("exit code = %d, want 3", code)
	}
}

// The container's process gets its stdio and nothing else of the host:
// no descriptor of the shim, the init or the engine (CVE-2024-21626).
func TestNoInheritedDescriptors(t *testing.T) {
	e := newEngine(t)
	// ls holds one descriptor of its own: the directory it lists.
	code, out, errOut := runSh(t, e, `ls /proc/self/fd | tr '\n' ' '`, engine.CreateOptions{})
	if code != 0 || strings.TrimSpace(out) != "0 1 2 3" {
		t.Fatalf("descriptors: code %d, %q %q; want 0 1 2 3", code, out, errOut)
	}
}

func TestContainerEnvironment(t *testing.T) {
	e := newEngine(t)
	script := `
echo "pid1=$(tr '\0' ' ' < /proc/1/cmdline)"
echo "ppid=$PPID"
echo "maxpid=$(ls -d /proc/[0-9]* | sed 's|/proc/||' | sort -n | tail -1)"
echo "hostname=$(hostname)"
echo "etchostname=$(cat /etc/hostname)"
echo "keys=$(stat -c %t:%T /proc/keys)"
echo "acpi=$(ls /proc/acpi | wc -l) $(stat -f -c %T /proc/acpi)"
if mount -t tmpfs none /mnt 2>/dev/null; then echo mount=ok; else echo mount=denied; fi
if touch /sys/kernel/x 2>/dev/null; then echo sys=rw; else echo sys=ro; fi
if echo 1 > /proc/sys/kernel/panic 2>/dev/null; then echo procsys=rw; else echo procsys=ro; fi
echo "home=$HOME"
echo "path=$PATH"
echo "lo=$(cat /sys/class/net/lo/operstate)"
echo "caps=$(grep CapEff /proc/self/status)"
`
	code, out, errOut := runSh(t, e, script, engine.CreateOptions{Hostname: "box"})
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	for _, want := range []string{
		"pid1=stack-init ",
		"ppid=1",
		"hostname=box",
		"etchostname=box",
		"keys=1:3",     // masked with /dev/null
		"acpi=0 tmpfs", // masked with an empty tmpfs
		"mount=denied",
		"sys=ro",
		"procsys=ro",
		"home=/root",
		"path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"caps=CapEff:\t00000000a80425fb", // Docker's default 14
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Only the container's few processes are visible: a PID namespace.
	var maxpid int
	for _, l := range strings.Split(out, "\n") {
		fmt.Sscanf(l, "maxpid=%d", &maxpid)
	}
	if maxpid == 0 || maxpid > 20 {
		t.Errorf("highest visible pid = %d: host processes visible?\n%s", maxpid, out)
	}
}

func TestNonRootUser(t *testing.T) {
	e := newEngine(t)
	code, out, errOut := runSh(t, e, `id; echo "home=$HOME"; echo "caps=$(grep CapEff /proc/self/status)"; ls -ln /proc/self/fd/1`, engine.CreateOptions{User: "alice"})
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	for _, want := range []string{"uid=1000(alice) gid=1000(alice) groups=50(staff),1000(alice)", "home=/home/alice", "caps=CapEff:\t0000000000000000", " 1000 "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// uid:gid form with an unknown uid.
	code, out, _ = runSh(t, e, "id -u; id -g", engine.CreateOptions{User: "4242:50"})
	if code != 0 || out != "4242\n50\n" {
		t.Errorf("user 4242:50: exit %d, output %q", code, out)
	}
}

func TestUnknownUser(t *testing.T) {
	e := newEngine(t)
	c := create(t, e, engine.CreateOptions{User: "mallory", Cmd: []string{"true"}})
	err := e.Start(context.Background(), c.ID())
	if err == nil || !strings.Contains(err.Error(), "unable to find user mallory") {
		t.Fatalf("start with unknown user: err = %v", err)
	}
	got, _ := e.Get(c.ID())
	if got.State.Status != container.Exited {
		t.Errorf("status = %s, want exited", got.State.Status)
	}
}

func TestMissingProgram(t *testing.T) {
	e := newEngine(t)
	c := create(t, e, engine.CreateOptions{Cmd: []string{"/no/such/program"}})
	err := e.Start(context.Background(), c.ID())
	var se *engine.StartError
	if !errors.As(err, &se) || se.Code != 127 {
		t.Fatalf("start of a missing program: err = %v, want StartError with code 127", err)
	}
}

func TestMissingImage(t *testing.T) {
	e := newEngine(t)
	_, err := e.Create(context.Background(), engine.CreateOptions{Image: "nosuch:image", Cmd: []string{"true"}})
	if !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("create from a missing image: err = %v, want ErrNotFound", err)
	}
	ids, _ := os.ReadDir(e.Root().ContainersDir())
	if len(ids) != 0 {
		t.Errorf("a failed create left %d entries in the containers dir", len(ids))
	}
}

func TestNameInUse(t *testing.T) {
	e := newEngine(t)
	create(t, e, engine.CreateOptions{Name: "dup", Cmd: []string{"true"}})
	_, err := e.Create(context.Background(), engine.CreateOptions{Name: "dup", Image: busybox, Cmd: []string{"true"}})
	if !errors.Is(err, engine.ErrExists) || !strings.Contains(err.Error(), `"/dup" is already in use`) {
		t.Fatalf("second create: err = %v", err)
	}
}

func TestMemoryLimitOOM(t *testing.T) {
	e := newEngine(t)
	// Allocate ~200 MiB in the shell's memory under a 32 MiB limit.
	code, _, _ := runSh(t, e, `x=$(head -c 200000000 /dev/zero | tr '\0' a); echo ${#x}`, engine.CreateOptions{
		SpecOpts: []oci.SpecOpt{oci.WithMemory(32<<20, 0, 32<<20)},
	})
	if code != 137 {
		t.Errorf("exit code = %d, want 137", code)
	}
	cs, _ := e.List(true)
	if len(cs) != 1 || !cs[0].State.OOMKilled {
		t.Errorf("OOMKilled not reported: %+v", cs[0].State)
	}
}

// TestCgroupFailure: a cgroup the kernel refuses (CPUs the machine does
// not have) fails the start with an error saying so, at once, and the
// container can be removed. The shim used to wait forever for a second
// delivery of the failed cgroup.
func TestCgroupFailure(t *testing.T) {
	e := newEngine(t)
	c := create(t, e, engine.CreateOptions{Cmd: []string{"true"}, SpecOpts: []oci.SpecOpt{oci.WithCpuset("1000", "")}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Start(ctx, c.ID()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "cgroup") {
			t.Errorf("start: %v, want a cgroup error", err)
		}
	case <-ctx.Done():
		t.Fatal("start hangs")
	}
	if err := e.Remove(ctx, c.ID(), true); err != nil {
		t.Fatalf("rm -f: %v", err)
	}
}

func TestPidsLimit(t *testing.T) {
	e := newEngine(t)
	// 100 background sleeps under a limit of 30 tasks: forks fail. The
	// shell reads the container's own pids cgroup (mounted at
	// /sys/fs/cgroup through its cgroup namespace) with builtins only,
	// since it cannot fork any more.
	code, out, errOut := runSh(t, e, `(for i in $(seq 100); do sleep 5 & done) 2>/dev/null
read c < /sys/fs/cgroup/pids/pids.current; read m < /sys/fs/cgroup/pids/pids.max; read ev < /sys/fs/cgroup/pids/pids.events
echo "$c $m $ev"`, engine.CreateOptions{
		SpecOpts: []oci.SpecOpt{oci.WithPidsLimit(30)},
	})
	var cur, refused int
	var max string
	fmt.Sscanf(out, "%d %s max %d", &cur, &max, &refused)
	if cur == 0 || cur > 30 || max != "30" || refused == 0 {
		t.Errorf("pids current %d, max %q, refused forks %d; want ≤ 30, 30, > 0 (exit %d, stdout %q, stderr %q)", cur, max, refused, code, out, errOut)
	}
}

func TestCPULimitWritten(t *testing.T) {
	e := newEngine(t)
	c := create(t, e, engine.CreateOptions{Cmd: []string{"sleep", "30"}, SpecOpts: []oci.SpecOpt{oci.WithCPUs(1.5)}})
	start(t, e, c)
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/cpu/stack", c.ID(), "cpu.cfs_quota_us"))
	if err != nil {
		b, err = os.ReadFile(filepath.Join("/sys/fs/cgroup/stack", c.ID(), "cpu.max"))
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != "150000" && got != "150000 100000" {
		t.Errorf("cpu quota = %q, want 150000", got)
	}
}

func TestStopForwardsSignal(t *testing.T) {
	e := newEngine(t)
	c := create(t, e, engine.CreateOptions{Cmd: []string{"sleep", "1000"}})
	start(t, e, c)
	timeout := 30
	if err := e.Stop(context.Background(), c.ID(), &timeout, 0); err != nil {
		t.Fatal(err)
	}
	got, _ := e.Get(c.ID())
	// sleep died of the forwarded SIGTERM, not of the SIGKILL after 30 s.
	if got.State.ExitCode != 143 {
		t.Errorf("exit code = %d, want 143 (SIGTERM)", got.State.ExitCode)
	}
}

func TestStopIgnoringSIGTERM(t *testing.T) {
	e := newEngine(t)
	c := create(t, e, engine.CreateOptions{Cmd: []string{"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"}})
	start(t, e, c)
	waitLog(t, e, c.ID(), "ready")
	timeout := 1
	if err := e.Stop(context.Background(), c.ID(), &timeout, 0); err != nil {
		t.Fatal(err)
	}
	got, _ := e.Get(c.ID())
	if got.State.ExitCode != 137 || got.State.Status != container.Exited {
		t.Errorf("state = %s exit %d, want exited 137 (killed after the grace period)", got.State.Status, got.State.ExitCode)
	}
}

// waitLog waits until the container's log contains s.
func waitLog(t *testing.T, e *engine.Engine, id, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	found := errors.New("found")
	err := e.Logs(ctx, id, logs.ReadOptions{Tail: -1, Follow: true}, func(en logs.Entry) error {
		if strings.Contains(string(en.Line), s) {
			return found
		}
		return nil
	})
	if err != found {
		t.Fatalf("waiting for %q in the log: %v", s, err)
	}
}

func TestZombiesReaped(t *testing.T) {
	e := newEngine(t)
	// The subshell's child is orphaned, reparented to init, and exits: init
	// must reap it.
	code, out, _ := runSh(t, e, `(sleep 0.2 &) ; sleep 1; grep -l '^State:.Z' /proc/[0-9]*/status | wc -l`, engine.CreateOptions{})
	if code != 0 || strings.TrimSpace(out) != "0" {
		t.Errorf("zombies left: exit %d, %q", code, out)
	}
}

// TestExitEndsContainer: the exit is reported as soon as the main process
// has ended (before the kernel has taken the init's namespaces down), and
// by then nothing else of the container runs and its log is complete.
func TestExitEndsContainer(t *testing.T) {
	e := newEngine(t)
	// A background process that ignores SIGTERM and holds stdout.
	code, out, _ := runSh(t, e, `sh -c 'trap "" TERM; echo bg; exec sleep 1234.5' & sleep 0.2; echo main; exit 7`, engine.CreateOptions{})
	if code != 7 {
		t.Errorf("exit code %d, want 7", code)
	}
	if !strings.Contains(out, "bg\n") || !strings.HasSuffix(out, "main\n") {
		t.Errorf("log %q, want both lines", out)
	}
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		cmd, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmd, []byte("1234.5")) {
			continue
		}
		st, _ := os.ReadFile(filepath.Join("/proc", ent.Name(), "stat"))
		if f := strings.Fields(string(st)); len(f) > 2 && f[2] != "Z" {
			t.Errorf("process %s (%q) still runs after the exit was reported", ent.Name(), cmd)
		}
	}
}

func TestLogsStreamsApart(t *testing.T) {
	e := newEngine(t)
	_, out, errOut := runSh(t, e, "echo to-out; echo to-err >&2; echo again", engine.CreateOptions{})
	if out != "to-out\nagain\n" || errOut != "to-err\n" {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
}

func TestLogsFollowAndRotation(t *testing.T) {
	e := newEngine(t)
	c := create(t, e, engine.CreateOptions{
		Cmd:        []string{"sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done"},
		LogOptions: map[string]string{"max-size": "10k", "max-file": "2"},
	})
	start(t, e, c)
	// Following from the start sees every line up to the last.
	var last string
	err := e.Logs(context.Background(), c.ID(), logs.ReadOptions{Tail: -1, Follow: true}, func(en logs.Entry) error {
		last = string(en.Line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != "line-1999\n" {
		t.Errorf("last line = %q, want the newest", last)
	}
	// Rotation kept only the newest lines, in order.
	out, _ := readLogs(t, e, c.ID())
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) >= 2000 || lines[len(lines)-1] != "line-1999" {
		t.Errorf("after rotation: %d lines, last %q; want fewer than 2000 ending with line-1999", len(lines), lines[len(lines)-1])
	}
	var first int
	fmt.Sscanf(lines[0], "line-%d", &first)
	if first+len(lines) != 2000 {
		t.Errorf("rotated log is not the contiguous newest lines: starts at %d with %d lines", first, len(lines))
	}
}

func TestExec(t *testing.T) {
	e := newEngine(t)
	c := create(t, e, engine.CreateOptions{Cmd: []string{"sleep", "1000"}})
	start(t, e, c)
	var out, errOut bytes.Buffer
	code, err := e.Exec(context.Background(), c.ID(), engine.ExecOptions{
		Cmd: []string{"sh", "-c", "echo out; echo err >&2; cat; exit 7"}, Stdin: strings.NewReader("from-stdin\n"), Stdout: &out, Stderr: &errOut,
		Env: []string{"X=1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if code != 7 || out.String() != "out\nfrom-stdin\n" || errOut.String() != "err\n" {
		t.Errorf("exec: code %d stdout %q stderr %q", code, out.String(), errOut.String())
	}
	out.Reset()
	code, err = e.Exec(context.Background(), c.ID(), engine.ExecOptions{Cmd: []string{"id", "-u"}, User: "alice", Stdout: &out})
	if err != nil || code != 0 || out.String() != "1000\n" {
		t.Errorf("exec as alice: %v code %d out %q", err, code, out.String())
	}
	_, err = e.Exec(context.Background(), c.ID(), engine.ExecOptions{Cmd: []string{"nosuch"}})
	var ee *engine.ExecError
	if !errors.As(err, &ee) || ee.Code != 127 {
		t.Errorf("exec of a missing program: %v", err)
	}
	// An exec's working directory must exist (docker exec -w); the main
	// process's is made (WORKDIR).
	_, err = e.Exec(context.Background(), c.ID(), engine.ExecOptions{Cmd: []string{"pwd"}, WorkingDir: "/nosuch"})
	if !errors.As(err, &ee) || ee.Code != 126 || !strings.Contains(err.Error(), `"/nosuch"`) {
		t.Errorf("exec -w of a missing directory: %v", err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/root/nosuch", mustPid(t, e, c.ID()))); err == nil {
		t.Errorf("exec -w made the directory")
	}
}

func mustPid(t *testing.T, e *engine.Engine, id string) int {
	t.Helper()
	c, err := e.Get(id)
	if err != nil || c.State.Pid == 0 {
		t.Fatalf("no pid: %v", err)
	}
	return c.State.Pid
}

func TestExecTTY(t *testing.T) {
	e := newEngine(t)
	c := create(t, e, engine.CreateOptions{Cmd: []string{"sleep", "1000"}})
	start(t, e, c)
	var out bytes.Buffer
	code, err := e.Exec(context.Background(), c.ID(), engine.ExecOptions{
		Cmd: []string{"sh", "-c", "tty; [ -t 0 ] && echo interactive"}, Tty: true, Stdout: &out,
	})
	if err != nil || code != 0 {
		t.Fatalf("exec -t: %v code %d", err, code)
	}
	if !strings.Contains(out.String(), "/dev/pts/") || !strings.Contains(out.String(), "interactive") {
		t.Errorf("exec -t output %q", out.String())
	}
}

// TestRunTTY: a container made with a terminal runs its process on a pty
// of its own devpts, as its controlling terminal, owned by its user.
func TestRunTTY(t *testing.T) {
	e := newEngine(t)
	code, out, _ := runSh(t, e, `tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo interactive; stat -c %u $(tty); cat /proc/self/stat | cut -d" " -f7`,
		engine.CreateOptions{Tty: true, User: "alice"})
	if code != 0 {
		t.Fatalf("exit %d: %q", code, out)
	}
	lines := strings.Fields(out)
	// Field 7 of stat is the controlling terminal's device number:
	// nonzero when the pty is the session's terminal.
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "/dev/pts/") || lines[1] != "interactive" || lines[2] != "1000" || lines[3] == "0" {
		t.Errorf("output %q: want the pty's path, interactive, owner 1000, a controlling terminal", out)
	}
}

func TestProcExeSealed(t *testing.T) {
	e := newEngine(t)
	self, _ := os.Executable()
	before, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runSh(t, e, `
echo x >> /proc/1/exe 2>/dev/null && echo wrote-1
echo x >> /proc/self/exe 2>/dev/null && echo wrote-self
readlink /proc/1/exe >/dev/null 2>&1 && echo readlink-1
echo done`, engine.CreateOptions{})
	if code != 0 || out != "done\n" {
		t.Errorf("exit %d out %q err %q", code, out, errOut)
	}
	after, _ := os.ReadFile(self)
	if !bytes.Equal(before, after) {
		t.Fatal("the host binary was modified from inside a container")
	}
}

func TestShimKilled(t *testing.T) {
	e := newEngine(t)
	c := create(t, e, engine.CreateOptions{Cmd: []string{"sleep", "1000"}})
	start(t, e, c)
	got, _ := e.Get(c.ID())
	if got.State.Status != container.Running || got.State.ShimPid == 0 {
		t.Fatalf("state after start: %+v", got.State)
	}
	syscall.Kill(got.State.ShimPid, syscall.SIGKILL)
	// The next command sees the shim gone (its lock is released at once).
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ = e.Get(c.ID())
		if got.State.Status == container.Exited || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got.State.Status != container.Exited || got.State.ExitCode != 137 || got.State.Error == "" {
		t.Errorf("state after the shim died: %+v", got.State)
	}
	// Removing it cleans up everything (the leak check verifies).
	if err := e.Remove(context.Background(), c.ID(), false); err != nil {
		t.Fatal(err)
	}
}

func TestRestartPolicies(t *testing.T) {
	e := newEngine(t)
	t.Run("on-failure:3", func(t *testing.T) {
		c := create(t, e, engine.CreateOptions{Cmd: []string{"sh", "-c", "echo run; exit 2"}, Restart: container.RestartPolicy{Name: "on-failure", MaxRetries: 3}})
		start(t, e, c)
		code, err := e.Wait(context.Background(), c.ID())
		if err != nil || code != 2 {
			t.Fatalf("wait: %v code %d", err, code)
		}
		got, _ := e.Get(c.ID())
		out, _ := readLogs(t, e, c.ID())
		if got.State.RestartCount != 3 || strings.Count(out, "run\n") != 4 {
			t.Errorf("restart count %d, runs %d; want 3 restarts, 4 runs", got.State.RestartCount, strings.Count(out, "run\n"))
		}
	})
	t.Run("no", func(t *testing.T) {
		c := create(t, e, engine.CreateOptions{Cmd: []string{"sh", "-c", "exit 1"}})
		start(t, e, c)
		e.Wait(context.Background(), c.ID())
		got, _ := e.Get(c.ID())
		if got.State.RestartCount != 0 {
			t.Errorf("restart count = %d, want 0", got.State.RestartCount)
		}
	})
	t.Run("always", func(t *testing.T) {
		c := create(t, e, engine.CreateOptions{Cmd: []string{"sh", "-c", "echo run; exit 0"}, Restart: container.RestartPolicy{Name: "always"}})
		start(t, e, c)
		// Restarted after a clean exit: wait for the second run, then stop.
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, _ := readLogs(t, e, c.ID())
			if strings.Count(out, "run\n") >= 2 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := e.Stop(context.Background(), c.ID(), nil, 0); err != nil {
			t.Fatal(err)
		}
		got, _ := e.Get(c.ID())
		if got.State.RestartCount < 1 || got.State.Status != container.Exited {
			t.Errorf("always: restarts %d status %s", got.State.RestartCount, got.State.Status)
		}
	})
}

func TestAttachStdin(t *testing.T) {
	e := newEngine(t)
	c := create(t, e, engine.CreateOptions{Cmd: []string{"sh", "-c", "echo hi; read x; echo got $x; echo bye >&2"}, OpenStdin: true})
	start(t, e, c)
	var out, errOut bytes.Buffer
	code, err := e.Attach(context.Background(), c.ID(), engine.AttachOptions{Stdin: strings.NewReader("abc\n"), Stdout: &out, Stderr: &errOut})
	if err != nil || code != 0 {
		t.Fatalf("attach: %v code %d", err, code)
	}
	if out.String() != "hi\ngot abc\n" || errOut.String() != "bye\n" {
		t.Errorf("attach: stdout %q stderr %q", out.String(), errOut.String())
	}
}

// TestLoadMultiLayerWhiteout loads a two-layer docker-save archive whose
// upper layer deletes a file and makes a directory opaque, and checks the
// container sees the result.
func TestLoadMultiLayerWhiteout(t *testing.T) {
	e := newEngine(t)
	base := enginetest.BusyboxTar(t)
	upper := tarOf(t, []tarEntry{
		{name: "data/", dir: true},
		{name: "data/keep", body: "keep\n"},
		{name: "data/gone", body: "gone\n"},
		{name: "opq/", dir: true},
		{name: "opq/old", body: "old\n"},
	})
	top := tarOf(t, []tarEntry{
		{name: "data/.wh.gone"},
		{name: "opq/", dir: true},
		{name: "opq/.wh..wh..opq"},
		{name: "opq/new", body: "new\n"},
	})
	archive := dockerSave(t, "multi:layers", [][]byte{base, upper, top})
	imgs, err := e.Images.Load(context.Background(), bytes.NewReader(archive))
	if err != nil || len(imgs) != 1 {
		t.Fatalf("load: %v (%d images)", err, len(imgs))
	}
	code, out, errOut := runSh(t, e, "ls /data /opq", engine.CreateOptions{Image: "multi:layers"})
	if code != 0 || out != "/data:\nkeep\n\n/opq:\nnew\n" {
		t.Errorf("exit %d stdout %q stderr %q", code, out, errOut)
	}
}

func TestSecurityOptions(t *testing.T) {
	e := newEngine(t)
	script := `
touch /x 2>/dev/null && echo root=rw || echo root=ro
touch /tmp/x && echo tmp=rw
echo "$(grep CapEff /proc/self/status)"
echo "$(grep NoNewPrivs /proc/self/status)"
echo "forward=$(cat /proc/sys/net/ipv4/ip_forward)"
echo "nofile=$(ulimit -n)"
`
	code, out, errOut := runSh(t, e, script, engine.CreateOptions{SpecOpts: []oci.SpecOpt{
		oci.WithReadonlyRootfs(true),
		oci.WithTmpfs("/tmp", nil),
		oci.WithCapabilities([]string{"NET_ADMIN"}, []string{"ALL"}),
		oci.WithNoNewPrivileges(true),
		oci.WithSysctls(map[string]string{"net.ipv4.ip_forward": "1"}),
		oci.WithUlimits(map[string]oci.Ulimit{"nofile": {Soft: 512, Hard: 1024}}),
	}})
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	for _, want := range []string{"root=ro", "tmp=rw", "CapEff:\t0000000000001000", "NoNewPrivs:\t1", "forward=1", "nofile=512"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestPrivileged(t *testing.T) {
	e := newEngine(t)
	code, out, errOut := runSh(t, e, `grep CapEff /proc/self/status; mkdir -p /mnt && mount -t tmpfs none /mnt && echo mounted; ls /dev/null /dev/kmsg`, engine.CreateOptions{
		SpecOpts: []oci.SpecOpt{oci.WithPrivileged()},
	})
	// Every capability the host grants (these machines withhold
	// CAP_SYS_RESOURCE even from root), mounts allowed, host devices there.
	status, _ := os.ReadFile("/proc/self/status")
	var hostCaps string
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "CapBnd:") {
			hostCaps = strings.TrimSpace(strings.TrimPrefix(l, "CapBnd:"))
		}
	}
	if code != 0 || !strings.Contains(out, "mounted\n") || !strings.Contains(out, "CapEff:\t"+hostCaps) || !strings.Contains(out, "/dev/kmsg") {
		t.Errorf("privileged: exit %d out %q err %q (host caps %s)", code, out, errOut, hostCaps)
	}
}

func TestPauseUnpause(t *testing.T) {
	e := newEngine(t)
	c := create(t, e, engine.CreateOptions{Cmd: []string{"sleep", "1000"}})
	start(t, e, c)
	ctx := context.Background()
	if err := e.Pause(ctx, c.ID(), true); err != nil {
		t.Fatal(err)
	}
	got, _ := e.Get(c.ID())
	if got.State.Status != container.Paused {
		t.Errorf("status after pause = %s", got.State.Status)
	}
	if _, err := e.Exec(ctx, c.ID(), engine.ExecOptions{Cmd: []string{"true"}}); err == nil || !strings.Contains(err.Error(), "paused") {
		t.Errorf("exec into a paused container: %v", err)
	}
	if err := e.Pause(ctx, c.ID(), true); err == nil || !strings.Contains(err.Error(), "already paused") {
		t.Errorf("pause of a paused container: %v, want an error (as docker's)", err)
	}
	if err := e.Pause(ctx, c.ID(), false); err != nil {
		t.Fatal(err)
	}
	if err := e.Pause(ctx, c.ID(), false); err == nil || !strings.Contains(err.Error(), "not paused") {
		t.Errorf("unpause of a running container: %v, want an error (as docker's)", err)
	}
	if code, err := e.Exec(ctx, c.ID(), engine.ExecOptions{Cmd: []string{"true"}}); err != nil || code != 0 {
		t.Errorf("exec after unpause: %v %d", err, code)
	}
	// A paused container still stops.
	e.Pause(ctx, c.ID(), true)
	if err := e.Stop(ctx, c.ID(), nil, 0); err != nil {
		t.Fatal(err)
	}
	got, _ = e.Get(c.ID())
	if got.State.Status != container.Exited {
		t.Errorf("status after stop of a paused container = %s", got.State.Status)
	}
}

func TestHealthcheck(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	fast := func(test ...string) *engine.HealthcheckOptions {
		return &engine.HealthcheckOptions{Test: test, Interval: 50 * time.Millisecond, Timeout: 2 * time.Second, StartInterval: 50 * time.Millisecond, Retries: 2}
	}
	t.Run("healthy", func(t *testing.T) {
		// Failures in the start period do not count.
		hc := fast("CMD-SHELL", "test -f /tmp/ready")
		hc.StartPeriod = 30 * time.Second
		c := create(t, e, engine.CreateOptions{Cmd: []string{"sh", "-c", "sleep 0.3; touch /tmp/ready; exec sleep 1000"}, Healthcheck: hc})
		start(t, e, c)
		if err := e.WaitCondition(ctx, c.ID(), engine.Healthy); err != nil {
			t.Fatalf("wait healthy: %v", err)
		}
		got, _ := e.Get(c.ID())
		if h := got.State.Health; h == nil || h.Status != container.HealthHealthy || len(h.Log) == 0 {
			t.Errorf("health = %+v", h)
		}
	})
	t.Run("unhealthy", func(t *testing.T) {
		c := create(t, e, engine.CreateOptions{Cmd: []string{"sleep", "1000"}, Healthcheck: fast("CMD-SHELL", "echo not ready; exit 1")})
		start(t, e, c)
		err := e.WaitCondition(ctx, c.ID(), engine.Healthy)
		if !errors.Is(err, engine.ErrConditionFailed) || !strings.Contains(err.Error(), "unhealthy") || !strings.Contains(err.Error(), "not ready") {
			t.Fatalf("wait healthy of a failing check: %v", err)
		}
	})
	t.Run("exits first", func(t *testing.T) {
		c := create(t, e, engine.CreateOptions{Cmd: []string{"sh", "-c", "exit 4"}, Healthcheck: fast("CMD", "true")})
		start(t, e, c)
		err := e.WaitCondition(ctx, c.ID(), engine.Healthy)
		if !errors.Is(err, engine.ErrConditionFailed) || !strings.Contains(err.Error(), "4") {
			t.Fatalf("wait healthy of an exiting container: %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		hc := fast("CMD", "sleep", "10")
		hc.Timeout = 100 * time.Millisecond
		c := create(t, e, engine.CreateOptions{Cmd: []string{"sleep", "1000"}, Healthcheck: hc})
		start(t, e, c)
		err := e.WaitCondition(ctx, c.ID(), engine.Healthy)
		if !errors.Is(err, engine.ErrConditionFailed) || !strings.Contains(err.Error(), "exceeded timeout") {
			t.Fatalf("wait healthy of a hanging check: %v", err)
		}
	})
	t.Run("image HEALTHCHECK", func(t *testing.T) {
		if _, err := e.Images.Import(ctx, bytes.NewReader(enginetest.BusyboxTar(t)), "busybox:health", []string{"HEALTHCHECK --interval=1s --start-interval=1s CMD true"}); err != nil {
			t.Fatal(err)
		}
		c := create(t, e, engine.CreateOptions{Image: "busybox:health", Cmd: []string{"sleep", "1000"}})
		start(t, e, c)
		if err := e.WaitCondition(ctx, c.ID(), engine.Healthy); err != nil {
			t.Fatalf("wait healthy with the image's check: %v", err)
		}
	})
}

func TestRename(t *testing.T) {
	e := newEngine(t)
	c := create(t, e, engine.CreateOptions{Name: "old", Cmd: []string{"true"}})
	create(t, e, engine.CreateOptions{Name: "taken", Cmd: []string{"true"}})
	ctx := context.Background()
	if err := e.Rename(ctx, "old", "taken"); !errors.Is(err, engine.ErrExists) {
		t.Errorf("rename onto a used name: %v", err)
	}
	if err := e.Rename(ctx, "old", "new"); err != nil {
		t.Fatal(err)
	}
	got, err := e.Get("new")
	if err != nil || got.ID() != c.ID() {
		t.Errorf("get by the new name: %v", err)
	}
	if _, err := e.Get("old"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("the old name still resolves: %v", err)
	}
}
