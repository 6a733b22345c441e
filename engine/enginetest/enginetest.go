// Package enginetest holds what the engine's integration tests share: the
// root gate, fresh state roots, a leak check, a busybox image built from the
// host's busybox-static, and the re-exec dispatch that lets a test binary
// play the init and shim roles. It is imported only by _test.go files.
package enginetest

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"stack/engine/cgroups"
	"stack/engine/container"
	"stack/engine/shim"
	"stack/engine/state"
	"stack/network"
	"stack/network/firewall"
	"stack/network/link"
)

// Main dispatches the shim role before running the tests: the engine
// re-executes /proc/self/exe, which in a test is the test binary. For
// tests that may run containers (as root, not -short), it builds
// stack-init, which no test binary can stand in for (it runs without the
// Go runtime), and points the shims at it (shim.InitEnv).
func Main(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == shim.Arg {
		shim.Main()
	}
	flag.Parse()
	var initDir string
	if os.Geteuid() == 0 && os.Getenv(shim.InitEnv) == "" && (!testing.Short() || os.Getenv("STACK_TEST_ROOT") == "1") {
		dir, err := os.MkdirTemp("", "stack-init")
		if err == nil {
			var p string
			if p, err = BuildInit(dir); err == nil {
				os.Setenv(shim.InitEnv, p)
				initDir = dir
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "enginetest:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	if initDir != "" {
		os.RemoveAll(initDir)
	}
	os.Exit(code)
}

// RequireRoot skips a test that needs root and a private network namespace,
// with the reason. When STACK_TEST_ROOT=1 (the integration target) a missing
// requirement fails instead, so CI cannot pass by skipping.
func RequireRoot(t testing.TB) {
	t.Helper()
	strict := os.Getenv("STACK_TEST_ROOT") == "1"
	if testing.Short() && !strict {
		t.Skip("integration test: skipped under -short")
	}
	if os.Geteuid() != 0 {
		if strict {
			t.Fatal("STACK_TEST_ROOT=1 but not running as root")
		}
		t.Skip("integration test: needs root")
	}
	self, err1 := os.Readlink("/proc/self/ns/net")
	init1, err2 := os.Readlink("/proc/1/ns/net")
	if err1 == nil && err2 == nil && self == init1 {
		if strict {
			t.Fatal("integration tests must run in a private network namespace (make test-integration uses unshare --net)")
		}
		t.Skip("integration test: run inside a private network namespace (unshare --net), see make test-integration")
	}
}

// NewRoot returns a fresh state root in a short temporary directory (unix
// socket paths are limited to 108 bytes) and removes it after the test,
// killing any shim left running in it.
func NewRoot(t testing.TB) state.Root {
	t.Helper()
	dir, err := os.MkdirTemp("", "st")
	if err != nil {
		t.Fatal(err)
	}
	r := state.Root{Dir: dir, RunDir: filepath.Join(dir, "run")}
	t.Cleanup(func() {
		killShims(t, r)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove test root: %v", err)
		}
	})
	return r
}

// killShims kills every shim and container process of root r, and waits
// until they are gone, so the leak check sees the final state.
func killShims(t testing.TB, r state.Root) {
	pids := processesMentioning(r.Dir)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(processesMentioning(r.Dir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// Remove what the killed shims could not: their cgroups (the
	// containers die with their shims, asynchronously; Destroy waits for
	// the last tasks to go).
	for _, id := range containerIDs(r) {
		if cg, err := cgroups.New("stack/" + id); err == nil {
			cg.Kill(syscall.SIGKILL)
			if err := cg.Destroy(); err != nil {
				t.Errorf("remove cgroup of %s: %v", id, err)
			}
		}
		// and their networks' leftovers: veths, port forwards
		if c, err := container.LoadConfig(container.PathsFor(r, id)); err == nil {
			if err := shim.CleanupNetwork(c); err != nil {
				t.Errorf("clean up the network of %s: %v", id, err)
			}
		}
	}
	// The root's networks: bridges and their rules.
	if ns, err := network.Open(filepath.Join(r.Dir, "networks")); err == nil {
		nets, _ := ns.List()
		for _, n := range nets {
			if err := errors.Join(firewall.RemoveNetwork(n.Bridge), link.DeleteBridge(n.Bridge)); err != nil {
				t.Errorf("remove network %s: %v", n.Name, err)
			}
		}
	}
}

func containerIDs(r state.Root) []string {
	ents, _ := os.ReadDir(r.ContainersDir())
	var ids []string
	for _, e := range ents {
		ids = append(ids, e.Name())
	}
	return ids
}

// processesMentioning lists pids whose command line contains s.
func processesMentioning(s string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(s)) {
			out = append(out, pid)
		}
	}
	return out
}

// LeakCheck records the machine's mounts, network links, stack cgroups and
// this process's children, and fails the test if any were added when it
// ends. Call it first in a test, so its check runs after every other
// cleanup.
func LeakCheck(t testing.TB) {
	t.Helper()
	before := snapshot()
	t.Cleanup(func() {
		var after resources
		// Teardown in the kernel is partly asynchronous (a dying PID
		// namespace, a cgroup whose last task is exiting): allow it to settle.
		deadline := time.Now().Add(5 * time.Second)
		for {
			after = snapshot()
			if len(diff(before, after)) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, leak := range diff(before, after) {
			t.Errorf("leaked %s", leak)
		}
	})
}

type resources map[string]bool

func snapshot() resources {
	r := resources{}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 {
				r["mount "+f[4]] = true
			}
		}
	}
	if ents, err := os.ReadDir("/sys/class/net"); err == nil {
		for _, e := range ents {
			r["link "+e.Name()] = true
		}
	}
	for _, d := range cgroupDirs() {
		r["cgroup "+d] = true
	}
	if tables, err := firewall.Tables(); err == nil {
		for _, t := range tables {
			r["nftables table "+t] = true
		}
	}
	for _, pid := range children(os.Getpid()) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		r[fmt.Sprintf("process %d %s", pid, strings.ReplaceAll(string(b), "\x00", " "))] = true
	}
	return r
}

func diff(before, after resources) []string {
	var out []string
	for k := range after {
		if !before[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// cgroupDirs lists the cgroup directories stack creates, in every hierarchy.
func cgroupDirs() []string {
	var out []string
	for _, base := range []string{"/sys/fs/cgroup"} {
		ms, _ := filepath.Glob(filepath.Join(base, "*", "stack", "*"))
		out = append(out, ms...)
		ms, _ = filepath.Glob(filepath.Join(base, "stack", "*"))
		out = append(out, ms...)
	}
	var dirs []string
	for _, m := range out {
		if st, err := os.Stat(m); err == nil && st.IsDir() {
			dirs = append(dirs, m)
		}
	}
	return dirs
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		var p int
		if _, err := fmt.Sscanf(e.Name(), "%d", &p); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 2 && f[1] != "Z" && f[2] == fmt.Sprint(pid) {
			out = append(out, p)
		}
	}
	return out
}

var (
	busyboxOnce sync.Once
	busyboxTar  []byte
	busyboxErr  error
)

// BusyboxPath is where Debian's busybox-static installs the binary.
const BusyboxPath = "/bin/busybox"

// BusyboxTar returns a rootfs tarball of the host's static busybox with an
// applet symlink for each command, a /etc/passwd and /etc/group with root,
// nobody and a test user "alice" (1000:1000, also in group "staff" 50), and
// the usual empty directories. It skips the test when busybox-static is not
// installed (make test installs it).
func BusyboxTar(t testing.TB) []byte {
	t.Helper()
	busyboxOnce.Do(func() { busyboxTar, busyboxErr = buildBusyboxTar() })
	if busyboxErr != nil {
		if os.Getenv("STACK_TEST_ROOT") == "1" {
			t.Fatalf("busybox rootfs: %v", busyboxErr)
		}
		t.Skipf("busybox rootfs: %v (apt-get install busybox-static)", busyboxErr)
	}
	return busyboxTar
}

func buildBusyboxTar() ([]byte, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(BusyboxPath, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list-full: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	dir := func(name string, mode int64) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: mtime})
	}
	file := func(name string, mode int64, data []byte) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime})
		tw.Write(data)
	}
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "home", "home/alice", "var", "var/www", "proc", "sys", "dev"} {
		dir(d, 0o755)
	}
	dir("tmp", 0o1777)
	file("bin/busybox", 0o755, bin)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		p := strings.TrimPrefix(strings.TrimSpace(line), "/")
		if p == "" || p == "bin/busybox" {
			continue
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: p, Linkname: "/bin/busybox", Mode: 0o777, ModTime: mtime})
	}
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
	file("etc/group", 0o644, []byte("root:x:0:\nstaff:x:50:alice\nalice:x:1000:\nnogroup:x:65534:\n"))
	file("var/www/index.html", 0o644, []byte("hello from stack\n"))
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// built is Runtime's build, removed when Main returns.
var built struct {
	once     sync.Once
	dir, exe string
	err      error
}

// Runtime builds cmd/stack-runtime and cmd/stack-init once per test
// process (BuildRuntime), so that benchmarks start shims and inits from
// what users run, not from the (larger) test binary, and returns the
// path of stack-runtime. The build is removed when Main returns.
func Runtime() (string, error) {
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "stack-runtime"); built.err == nil {
			built.exe, built.err = BuildRuntime(built.dir)
		}
	})
	return built.exe, built.err
}

// RuntimeOrTestBinary is Runtime for a benchmark's engine (Options.Exe):
// empty, so that the test binary is used, when it cannot be built.
func RuntimeOrTestBinary(tb testing.TB) string {
	exe, err := Runtime()
	if err != nil {
		tb.Logf("%v; using the test binary", err)
	}
	return exe
}

// BuildRuntime builds cmd/stack-runtime and cmd/stack-init into dir, as
// `make build` does (static), and returns the path of stack-runtime.
func BuildRuntime(dir string) (string, error) {
	out := filepath.Join(dir, "stack-runtime") // engine.RuntimeName
	if err := goBuild(out, "stack/cmd/stack-runtime"); err != nil {
		return "", err
	}
	if _, err := BuildInit(dir); err != nil {
		return "", err
	}
	return out, nil
}

// BuildInit builds cmd/stack-init into dir, with the entry point it
// needs (-ldflags=-E=main.entry), and returns its path.
func BuildInit(dir string) (string, error) {
	out := filepath.Join(dir, shim.InitName)
	return out, goBuild(out, "stack/cmd/stack-init", "-ldflags=-E=main.entry")
}

func goBuild(out, pkg string, flags ...string) error {
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
	}
	return nil
}
