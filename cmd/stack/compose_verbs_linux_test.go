package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// composeCLI runs `stack` in a directory without a compose file, so that
// `-p demo` finds the project by its labels alone.
type composeCLI struct {
	*cli
	dir string
}

func (c *composeCLI) cmdIn(args ...string) *exec.Cmd {
	cmd := c.cmd(args...)
	cmd.Dir = c.dir
	return cmd
}

func (c *composeCLI) run(args ...string) (string, string, int) {
	c.t.Helper()
	return c.runCmd(c.cmdIn(args...), args)
}

func (c *composeCLI) must(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("stack %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// service starts a container labelled as compose's service container
// number n of project demo, and removes it after the test.
func (c *composeCLI) service(service, n string, command ...string) string {
	c.t.Helper()
	args := []string{"container", "run", "-d", "--name", "demo-" + service + "-" + n,
		"-l", "com.docker.compose.project=demo",
		"-l", "com.docker.compose.service=" + service,
		"-l", "com.docker.compose.container-number=" + n,
		"-l", "com.docker.compose.oneoff=False",
		"-l", "com.docker.compose.config-hash=0123",
		"-l", "com.docker.compose.project.config_files=/demo/compose.yaml",
		"busybox:cli"}
	id := strings.TrimSpace(c.must(append(args, command...)...))
	c.t.Cleanup(func() { c.run("container", "rm", "-f", id) })
	return id
}

// lineWaiter collects the lines of a running command's stdout.
type lineWaiter struct {
	t     *testing.T
	lines chan string
	seen  []string
}

func newLineWaiter(t *testing.T, cmd *exec.Cmd) *lineWaiter {
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w := &lineWaiter{t: t, lines: make(chan string, 100)}
	go func() {
		defer close(w.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
	}()
	return w
}

// waitFor reads lines until n of them (counting those read before) equal
// want, under a deadline.
func (w *lineWaiter) waitFor(want string, n int) {
	w.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if w.count(want) >= n {
			return
		}
		select {
		case l, ok := <-w.lines:
			if !ok {
				w.t.Fatalf("output ended before %q; got %q", want, w.seen)
			}
			w.seen = append(w.seen, l)
		case <-deadline:
			w.t.Fatalf("not %d lines %q after 20s; got %q", n, want, w.seen)
		}
	}
}

func (w *lineWaiter) count(line string) int {
	n := 0
	for _, l := range w.seen {
		if l == line {
			n++
		}
	}
	return n
}

// rest reads the lines left once the command has ended.
func (w *lineWaiter) rest() []string {
	for l := range w.lines {
		w.seen = append(w.seen, l)
	}
	return w.seen
}

// waitForSocket returns once process pid has a socket open: a stack
// command that dialled a container's shim, and so is waiting on it.
func waitForSocket(t *testing.T, pid int) {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(stat), ") Z ") {
			t.Fatalf("process %d exited without waiting", pid)
		}
		fds, _ := os.ReadDir(dir)
		for _, fd := range fds {
			if l, _ := os.Readlink(filepath.Join(dir, fd.Name())); strings.HasPrefix(l, "socket:") {
				return
			}
		}
	}
	t.Fatalf("process %d opened no socket in 20s", pid)
}

// TestComposeVerbs drives ps, logs, exec, top, ls, images, port, pause,
// kill and wait against containers that carry compose's labels, made with
// `stack container run`: the verbs find a project by its labels alone.
func TestComposeVerbs(t *testing.T) {
	c := &composeCLI{cli: newCLI(t), dir: t.TempDir()}
	web := c.service("web", "1", "sh", "-c", "echo web started; echo web err >&2; exec sleep 1000")
	worker := c.service("worker", "1", "sh", "-c", "echo worker done; exit 3")
	c.must("container", "wait", worker)

	t.Run("ps", func(t *testing.T) {
		lines := strings.Split(strings.TrimSuffix(c.must("-p", "demo", "ps"), "\n"), "\n")
		if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"}) {
			t.Errorf("header %q", lines[0])
		}
		if len(lines) != 2 || !strings.HasPrefix(lines[1], "demo-web-1 ") || !strings.Contains(lines[1], " busybox:cli ") ||
			!strings.Contains(lines[1], " web ") || !strings.Contains(lines[1], " Up ") {
			t.Errorf("ps:\n%s", strings.Join(lines, "\n"))
		}
		all := c.must("-p", "demo", "ps", "-a")
		if !strings.Contains(all, "demo-worker-1") || !strings.Contains(all, "Exited (3)") {
			t.Errorf("ps -a:\n%s", all)
		}
		if got := c.must("-p", "demo", "ps", "-q"); got != web+"\n" {
			t.Errorf("ps -q = %q, want %q", got, web)
		}
		if got := c.must("-p", "demo", "ps", "-a", "--services"); got != "web\nworker\n" {
			t.Errorf("ps -a --services = %q", got)
		}
		if got := c.must("-p", "demo", "ps", "-q", "--status", "exited"); got != worker+"\n" {
			t.Errorf("ps --status exited = %q, want the worker", got)
		}
		if got := c.must("-p", "demo", "ps", "-a", "--format", "{{.Name}} {{.Service}} {{.State}} {{.ExitCode}}"); got != "demo-web-1 web running 0\ndemo-worker-1 worker exited 3\n" {
			t.Errorf("ps --format TEMPLATE = %q", got)
		}
		js := strings.Split(strings.TrimSuffix(c.must("-p", "demo", "ps", "-a", "--format", "json"), "\n"), "\n")
		if len(js) != 2 {
			t.Fatalf("ps --format json: %d lines, want one object per container:\n%s", len(js), strings.Join(js, "\n"))
		}
		var row struct {
			ID, Name, Project, Service, State, Status, Health string
			ExitCode                                          int
			Publishers                                        []any
		}
		if err := json.Unmarshal([]byte(js[1]), &row); err != nil {
			t.Fatal(err)
		}
		if row.Name != "demo-worker-1" || row.Project != "demo" || row.Service != "worker" || row.State != "exited" ||
			row.ExitCode != 3 || !strings.HasPrefix(row.Status, "Exited (3) ") || row.Publishers == nil || !strings.HasPrefix(worker, row.ID) {
			t.Errorf("ps --format json: %+v from %s", row, js[1])
		}
		if _, errOut, code := c.run("-p", "demo", "ps", "--status", "up"); code != 1 || !strings.Contains(errOut, `invalid --status "up"`) {
			t.Errorf("ps --status up: exit %d %q", code, errOut)
		}
	})

	t.Run("ps with a compose file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "compose.yaml")
		os.WriteFile(file, []byte("name: demo\nservices:\n  web:\n    image: busybox:cli\n  worker:\n    image: busybox:cli\n"), 0o644)
		if got := c.must("-f", file, "ps", "-q", "web"); got != web+"\n" {
			t.Errorf("ps web = %q", got)
		}
		if _, errOut, code := c.run("-f", file, "ps", "nosuch"); code != 1 || !strings.Contains(errOut, "no such service: nosuch") {
			t.Errorf("ps nosuch: exit %d %q", code, errOut)
		}
		if _, errOut, code := c.run("-p", "demo", "ps"); code != 0 || errOut != "" {
			t.Errorf("ps with -p alone: exit %d, stderr %q", code, errOut)
		}
	})

	t.Run("logs", func(t *testing.T) {
		lines := strings.Split(strings.TrimSuffix(c.must("-p", "demo", "logs"), "\n"), "\n")
		want := []string{"web-1     | web started", "web-1     | web err", "worker-1  | worker done"}
		if len(lines) != 3 || lines[2] != want[2] || !slices.Contains(lines, want[0]) || !slices.Contains(lines, want[1]) {
			t.Errorf("logs = %q, want %q in time order (web's two lines in either order)", lines, want)
		}
		if got := c.must("-p", "demo", "logs", "--no-log-prefix", "worker"); got != "worker done\n" {
			t.Errorf("logs --no-log-prefix worker = %q", got)
		}
		if got := c.must("-p", "demo", "logs", "-n", "1", "worker"); got != "worker-1  | worker done\n" {
			t.Errorf("logs -n 1 worker = %q", got)
		}
		stamped := regexp.MustCompile(`^web-1  \| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z web (started|err)$`)
		for _, l := range strings.Split(strings.TrimSuffix(c.must("-p", "demo", "logs", "-t", "web"), "\n"), "\n") {
			if !stamped.MatchString(l) {
				t.Errorf("logs -t line %q", l)
			}
		}
		if _, errOut, code := c.run("-p", "demo", "logs", "--index", "1"); code != 1 || !strings.Contains(errOut, "--index requires one service") {
			t.Errorf("logs --index without a service: exit %d %q", code, errOut)
		}
	})

	t.Run("exec", func(t *testing.T) {
		if got := c.must("-p", "demo", "exec", "web", "echo", "hi"); got != "hi\n" {
			t.Errorf("exec = %q", got)
		}
		if got := c.must("-p", "demo", "exec", "-e", "FOO=bar", "-w", "/tmp", "web", "sh", "-c", "echo $FOO $PWD"); got != "bar /tmp\n" {
			t.Errorf("exec -e -w = %q", got)
		}
		if _, _, code := c.run("-p", "demo", "exec", "-T", "web", "sh", "-c", "exit 4"); code != 4 {
			t.Errorf("exec exit code = %d, want 4", code)
		}
		if _, errOut, code := c.run("-p", "demo", "exec", "worker", "true"); code != 1 || !strings.Contains(errOut, `service "worker" is not running`) {
			t.Errorf("exec into a stopped service: exit %d %q", code, errOut)
		}
		if _, errOut, code := c.run("-p", "demo", "exec", "--index", "2", "web", "true"); code != 1 || !strings.Contains(errOut, `service "web" is not running container #2`) {
			t.Errorf("exec --index 2: exit %d %q", code, errOut)
		}
	})

	t.Run("top", func(t *testing.T) {
		lines := strings.Split(strings.TrimSuffix(c.must("-p", "demo", "top"), "\n"), "\n")
		if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"SERVICE", "#", "UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}) {
			t.Errorf("top header %q", lines[0])
		}
		found := false
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			found = found || (len(f) > 3 && f[0] == "web" && f[1] == "1" && strings.HasSuffix(l, "sleep 1000"))
		}
		if !found {
			t.Errorf("top shows no sleep of web #1:\n%s", strings.Join(lines, "\n"))
		}
	})

	t.Run("ls images port", func(t *testing.T) {
		lines := strings.Split(strings.TrimSuffix(c.must("ls"), "\n"), "\n")
		if len(lines) != 2 || !slices.Equal(strings.Fields(lines[0]), []string{"NAME", "STATUS", "CONFIG", "FILES"}) ||
			!slices.Equal(strings.Fields(lines[1]), []string{"demo", "running(1)", "/demo/compose.yaml"}) {
			t.Errorf("ls:\n%s", strings.Join(lines, "\n"))
		}
		if got, want := c.must("ls", "-a", "--format", "json"), `[{"Name":"demo","Status":"exited(1), running(1)","ConfigFiles":"/demo/compose.yaml"}]`+"\n"; got != want {
			t.Errorf("ls -a --format json = %q, want %q", got, want)
		}
		if got := c.must("ls", "-q", "--filter", "name=dem"); got != "demo\n" {
			t.Errorf("ls -q --filter name=dem = %q", got)
		}
		if got := c.must("ls", "-q", "--filter", "name=^other$"); got != "" {
			t.Errorf("ls --filter name=^other$ = %q", got)
		}

		lines = strings.Split(strings.TrimSuffix(c.must("-p", "demo", "images"), "\n"), "\n")
		if !slices.Equal(strings.Fields(lines[0]), []string{"CONTAINER", "REPOSITORY", "TAG", "PLATFORM", "IMAGE", "ID", "SIZE", "CREATED"}) ||
			len(lines) != 3 || !slices.Equal(strings.Fields(lines[1])[:3], []string{"demo-web-1", "busybox", "cli"}) {
			t.Errorf("images:\n%s", strings.Join(lines, "\n"))
		}

		if _, errOut, code := c.run("-p", "demo", "port", "web", "80"); code != 1 || !strings.Contains(errOut, "no port 80/tcp for container demo-web-1") {
			t.Errorf("port web 80: exit %d %q", code, errOut)
		}
	})

	t.Run("pause", func(t *testing.T) {
		if _, errOut, code := c.run("-p", "demo", "pause"); code != 0 || errOut != "Container demo-web-1  Paused\n" {
			t.Errorf("pause: exit %d %q", code, errOut)
		}
		if got := c.must("-p", "demo", "ps", "--format", "{{.Status}}"); !strings.HasSuffix(got, "(Paused)\n") {
			t.Errorf("ps after pause: %q", got)
		}
		if _, errOut, code := c.run("-p", "demo", "unpause"); code != 0 || errOut != "Container demo-web-1  Unpaused\n" {
			t.Errorf("unpause: exit %d %q", code, errOut)
		}
	})

	// logs -f follows the worker when it is started again, and a new
	// container of web.
	t.Run("logs -f", func(t *testing.T) {
		cmd := c.cmdIn("-p", "demo", "logs", "-f")
		lines := newLineWaiter(t, cmd)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines.waitFor("worker-1  | worker done", 1)
		lines.waitFor("web-1     | web started", 1)
		c.must("container", "start", "demo-worker-1")
		lines.waitFor("worker-1  | worker done", 2)
		c.service("web", "2", "sh", "-c", "echo web2 started; exec sleep 1000")
		lines.waitFor("web-2     | web2 started", 1)
		cmd.Process.Signal(os.Interrupt)
		err := cmd.Wait()
		all := lines.rest()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
			t.Errorf("logs -f after Ctrl-C: %v, want exit 130", err)
		}
		if lines.count("web-1     | web started") != 1 || lines.count("worker-1  | worker done") != 2 || lines.count("web-2     | web2 started") != 1 {
			t.Errorf("logs -f printed %q: want each run's lines once", all)
		}
	})

	t.Run("kill and wait", func(t *testing.T) {
		wait := c.cmdIn("-p", "demo", "wait", "web")
		var waitOut, waitErr strings.Builder
		wait.Stdout, wait.Stderr = &waitOut, &waitErr
		if err := wait.Start(); err != nil {
			t.Fatal(err)
		}
		waitForSocket(t, wait.Process.Pid)
		_, errOut, code := c.run("-p", "demo", "kill")
		if code != 0 || !strings.Contains(errOut, "Container demo-web-1  Killed\n") || !strings.Contains(errOut, "Container demo-web-2  Killed\n") {
			t.Errorf("kill: exit %d %q", code, errOut)
		}
		err := wait.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 137 {
			t.Errorf("wait: %v (%s), want exit 137", err, waitErr.String())
		}
		if !strings.Contains(waitOut.String(), `container "`+web+`" exited with status code 137`) {
			t.Errorf("wait printed %q", waitOut.String())
		}
		if _, errOut, code := c.run("-p", "demo", "kill", "-s", "TERM"); code != 0 || errOut != "No container to kill\n" {
			t.Errorf("kill with nothing running: exit %d %q", code, errOut)
		}
		if got := c.must("-p", "demo", "ps", "-a", "--format", "{{.Name}} {{.ExitCode}}"); got != "demo-web-1 137\ndemo-web-2 137\ndemo-worker-1 3\n" {
			t.Errorf("ps -a after kill = %q", got)
		}
		if _, errOut, code := c.run("-p", "demo", "wait", "web"); code != 1 || !strings.Contains(errOut, `no containers for project "demo"`) {
			t.Errorf("wait with nothing running: exit %d %q", code, errOut)
		}
	})

	if got := c.must("version"); got != "Stack version stack-dev\n" {
		t.Errorf("version = %q", got)
	}
	// A project without containers: ps prints the header, and logs -f
	// returns at once instead of waiting for Ctrl-C.
	if got := c.must("-p", "empty", "ps"); strings.Count(got, "\n") != 1 {
		t.Errorf("ps of an empty project = %q, want the header only", got)
	}
	if _, _, code := c.run("-p", "empty", "logs", "-f"); code != 0 {
		t.Errorf("logs -f of an empty project: exit %d, want 0 at once", code)
	}
}
