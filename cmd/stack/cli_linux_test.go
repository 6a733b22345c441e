package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"stack/engine/enginetest"
	"stack/engine/shim"
)

// TestMain lets the test binary play every role of the stack binary: the
// shim (re-executed by the engine), and the CLI itself when
// STACK_CLI_TEST=1, so tests run real separate `stack` processes.
func TestMain(m *testing.M) {
	role := len(os.Args) > 1 && os.Args[1] == shim.Arg
	if os.Getenv("STACK_CLI_TEST") == "1" && !role {
		os.Exit(run(os.Args[1:]))
	}
	enginetest.Main(m)
}

// cli runs `stack args...` as a separate process against root.
type cli struct {
	t    *testing.T
	root string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	enginetest.RequireRoot(t)
	enginetest.LeakCheck(t)
	r := enginetest.NewRoot(t)
	c := &cli{t: t, root: r.Dir}
	tar := filepath.Join(t.TempDir(), "busybox.tar")
	if err := os.WriteFile(tar, enginetest.BusyboxTar(t), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("image", "import", tar, "busybox:cli")
	return c
}

func (c *cli) cmd(args ...string) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(self, append([]string{"--root", c.root}, args...)...)
	cmd.Env = append(os.Environ(), "STACK_CLI_TEST=1")
	return cmd
}

// exec runs a command and returns stdout, stderr and the exit code.
func (c *cli) exec(args ...string) (string, string, int) {
	c.t.Helper()
	return c.runCmd(c.cmd(args...), args)
}

// runCmd runs a prepared stack command (args for messages).
func (c *cli) runCmd(cmd *exec.Cmd, args []string) (string, string, int) {
	c.t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("stack %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.exec(args...)
	if code != 0 {
		c.t.Fatalf("stack %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// TestCLIAcrossCommands: a container started by one stack process is
// exec'd into, logged, inspected and stopped by others; its shim outlives
// the command that started it.
func TestCLIAcrossCommands(t *testing.T) {
	c := newCLI(t)
	id := strings.TrimSpace(c.ok("container", "run", "-d", "--name", "web", "busybox:cli", "sh", "-c", "echo started; exec sleep 1000"))
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want a container ID", id)
	}
	// The CLI has exited; the container runs on under its shim.
	var info []struct {
		State struct {
			Running bool
			Pid     int
		}
	}
	if err := json.Unmarshal([]byte(c.ok("container", "inspect", "web")), &info); err != nil || len(info) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	if !info[0].State.Running || syscall.Kill(info[0].State.Pid, 0) != nil {
		t.Fatalf("container not running after the CLI exited: %+v", info[0].State)
	}
	if out := c.ok("container", "exec", "web", "echo", "hi"); out != "hi\n" {
		t.Errorf("exec output %q", out)
	}
	if _, _, code := c.exec("container", "exec", "web", "sh", "-c", "exit 5"); code != 5 {
		t.Errorf("exec exit code = %d, want 5", code)
	}
	if out := c.ok("container", "logs", "web"); out != "started\n" {
		t.Errorf("logs %q", out)
	}
	if out := c.ok("container", "ls"); !strings.Contains(out, "Up ") || !strings.Contains(out, "web") {
		t.Errorf("ls:\n%s", out)
	}
	c.ok("container", "stop", "-t", "5", "web")
	if out := c.ok("container", "ls", "-a"); !strings.Contains(out, "Exited (143)") {
		t.Errorf("ls -a after stop:\n%s", out)
	}
	if out := c.ok("container", "wait", "web"); out != "143\n" {
		t.Errorf("wait %q", out)
	}
	c.ok("container", "rm", "web")
	if _, errOut, code := c.exec("container", "inspect", "web"); code == 0 || !strings.Contains(errOut, "no such container") {
		t.Errorf("inspect after rm: exit %d %q", code, errOut)
	}
}

func TestCLIRunForeground(t *testing.T) {
	c := newCLI(t)
	out, errOut, code := c.exec("container", "run", "--rm", "busybox:cli", "sh", "-c", "echo out; echo err >&2; exit 3")
	if code != 3 || out != "out\n" || errOut != "err\n" {
		t.Errorf("run: exit %d stdout %q stderr %q", code, out, errOut)
	}
	if ls := c.ok("container", "ls", "-aq"); ls != "" {
		t.Errorf("--rm left %q", ls)
	}
	// -i passes stdin through.
	cmd := c.cmd("container", "run", "--rm", "-i", "busybox:cli", "sh", "-c", "read x; echo got $x")
	cmd.Stdin = strings.NewReader("abc\n")
	b, err := cmd.Output()
	if err != nil || string(b) != "got abc\n" {
		t.Errorf("run -i: %v %q", err, b)
	}
}

// start -a attaches to this run's output and exits with its code; a
// second start shows the second run only.
func TestCLIStartAttach(t *testing.T) {
	c := newCLI(t)
	c.ok("container", "create", "--name", "sa", "busybox:cli", "sh", "-c", "echo run-$(cat /proc/sys/kernel/random/uuid | cut -c1-8); echo err >&2; exit 4")
	first, errOut, code := c.exec("container", "start", "-a", "sa")
	if code != 4 || !strings.HasPrefix(first, "run-") || errOut != "err\n" {
		t.Errorf("start -a: exit %d stdout %q stderr %q", code, first, errOut)
	}
	second, _, code := c.exec("container", "start", "-a", "sa")
	if code != 4 || strings.Count(second, "run-") != 1 || second == first {
		t.Errorf("second start -a: exit %d stdout %q (first %q), want this run's line only", code, second, first)
	}
	if _, errOut, code := c.exec("container", "start", "-a", "sa", "sa"); code == 0 || !strings.Contains(errOut, "multiple") {
		t.Errorf("start -a of two containers: exit %d %s", code, errOut)
	}
	c.ok("container", "rm", "sa")
}

func TestCLIBadInput(t *testing.T) {
	c := newCLI(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"container", "run", "nosuch:image", "true"}, 125, `unable to find image "nosuch:image"`},
		{[]string{"container", "run", "busybox:cli", "/no/such/program"}, 127, "no such file or directory"},
		{[]string{"container", "run", "-u", "mallory", "busybox:cli", "true"}, 125, "unable to find user mallory"},
		{[]string{"image", "import", "-c", "BOGUS x", "/dev/null", "x:y"}, 1, "BOGUS"},
		{[]string{"image", "import", "/etc/passwd", "Bad:Ref"}, 1, "Bad:Ref"},
	}
	for _, tt := range tests {
		_, errOut, code := c.exec(tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("stack %s: exit %d, stderr %q; want exit %d mentioning %q", strings.Join(tt.args, " "), code, errOut, tt.code, tt.want)
		}
	}
	c.ok("container", "create", "--name", "dup", "busybox:cli", "true")
	if _, errOut, code := c.exec("container", "create", "--name", "dup", "busybox:cli", "true"); code == 0 || !strings.Contains(errOut, "already in use") {
		t.Errorf("duplicate name: exit %d %q", code, errOut)
	}
	// Nothing half-made: as with docker, a container whose start failed
	// exists (shown as Created, with its exit code and error recorded) and
	// removes cleanly; the failed create and imports left nothing.
	ls := c.ok("container", "ls", "-a")
	if strings.Count(ls, "\n") != 4 {
		t.Errorf("containers after bad input:\n%s", ls)
	}
	if out := c.ok("container", "inspect", "-f", "{{.State.ExitCode}} {{.State.Error}}", strings.Fields(ls)[len(strings.Fields(ls))-1]); out == "" {
		t.Errorf("inspect of a failed container printed nothing")
	}
	for _, id := range strings.Fields(c.ok("container", "ls", "-aq")) {
		c.ok("container", "rm", id)
	}
}
