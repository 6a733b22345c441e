package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var built string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stack-init")
	if err != nil {
		panic(err)
	}
	built = filepath.Join(dir, "stack-init")
	build := exec.Command("go", "build", "-ldflags=-E=main.entry", "-o", built, ".")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startInit starts tinyinit as PID 1 of a new PID namespace.
func startInit(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	cmd := exec.Command(built, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("tinyinit did not exit")
	}
	return cmd.ProcessState.ExitCode()
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"/bin/sh", "-c", "exit 3"}, 3},
		{[]string{"/bin/true"}, 0},
		{[]string{"/nonexistent"}, 127},
		{[]string{"/bin/sh", "-c", "kill -KILL $$"}, 137},
	} {
		if got := exitCode(t, startInit(t, tc.args...)); got != tc.want {
			t.Errorf("%q: exit %d, want %d", tc.args, got, tc.want)
		}
	}
}

// TestForwardsSignals: a TERM sent to PID 1 reaches the main process.
func TestForwardsSignals(t *testing.T) {
	cmd := startInit(t, "/bin/sleep", "30")
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	if got := exitCode(t, cmd); got != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit %d, want %d", got, 128+int(syscall.SIGTERM))
	}
}

// TestOrphans: a child's orphans are reaped, and whatever still runs when
// the main process ends is killed.
func TestOrphans(t *testing.T) {
	start := time.Now()
	cmd := startInit(t, "/bin/sh", "-c", "(sleep 0.1; exit 5) & (sh -c 'sleep 30' &) ; sleep 0.3")
	if got := exitCode(t, cmd); got != 0 {
		t.Fatalf("exit %d", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v: the orphaned sleep was waited for", d)
	}
}

// TestNoRuntime: the code reachable from start calls nothing of the Go
// runtime but the allowed assembly (memory moves), the prologues' stack
// growth (never taken: the stand-in g's stack guard is 0) and the
// bounds-check panics, which would only crash on a bug.
func TestNoRuntime(t *testing.T) {
	out, err := exec.Command("go", "tool", "objdump", built).Output()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string][]string{}
	fn := ""
	head := regexp.MustCompile(`^TEXT (\S+)\(SB\)`)
	call := regexp.MustCompile(`\tCALL (\S+)\(SB\)`)
	for _, l := range strings.Split(string(out), "\n") {
		if m := head.FindStringSubmatch(l); m != nil {
			fn = m[1]
		} else if m := call.FindStringSubmatch(l); m != nil {
			calls[fn] = append(calls[fn], m[1])
		}
	}
	allowed := func(f string) bool {
		switch f {
		case "runtime.memmove", "runtime.memclrNoHeapPointers", "syscall.RawSyscall6",
			"internal/runtime/syscall/linux.Syscall6":
			return true
		}
		return strings.HasPrefix(f, "runtime.panic") || strings.HasPrefix(f, "runtime.goPanic") ||
			strings.HasPrefix(f, "runtime.morestack")
	}
	seen := map[string]bool{}
	var walk func(f, from string)
	walk = func(f, from string) {
		if seen[f] || allowed(f) {
			return
		}
		seen[f] = true
		if strings.HasPrefix(f, "runtime.") || strings.HasPrefix(f, "internal/runtime") {
			t.Errorf("%s calls %s: the runtime is not started", from, f)
			return
		}
		for _, c := range calls[f] {
			walk(c, f)
		}
	}
	walk("main.start", "entry")
	if len(seen) < 3 {
		t.Fatalf("found only %v: objdump output not understood", seen)
	}
}
