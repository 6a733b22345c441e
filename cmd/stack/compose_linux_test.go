package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// project writes a compose file into a fresh directory and returns a
// function running `stack -f FILE VERB…` through the CLI harness.
func (c *cli) project(yaml string) (file string, run runner) {
	c.t.Helper()
	dir := c.t.TempDir()
	file = filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		c.t.Fatal(err)
	}
	return file, func(args ...string) (string, string, int) {
		c.t.Helper()
		return c.exec(append([]string{"-f", file}, args...)...)
	}
}

// runner runs one stack verb on a project.
type runner func(args ...string) (string, string, int)

// must runs the verb and fails the test unless it exited 0.
func (r runner) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := r(args...)
	if code != 0 {
		t.Fatalf("stack %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

type psEntry struct {
	ID, Name, Service, State, Health string
	ExitCode                         int
}

func (c *cli) ps(run runner, args ...string) []psEntry {
	c.t.Helper()
	out := run.must(c.t, append([]string{"ps", "--format", "json"}, args...)...)
	var entries []psEntry
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e psEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			c.t.Fatalf("ps json %q: %v", line, err)
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	return entries
}

func (c *cli) startedAt(name string) time.Time {
	c.t.Helper()
	var info []struct{ State struct{ StartedAt time.Time } }
	if err := json.Unmarshal([]byte(c.ok("container", "inspect", name)), &info); err != nil || len(info) != 1 {
		c.t.Fatalf("inspect %s: %v", name, err)
	}
	return info[0].State.StartedAt
}

const fiveServices = `
name: five
services:
  db:
    image: busybox:cli
    command: ["sh", "-c", "sleep 0.3; touch /tmp/ready; exec sleep 1000"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      start_interval: 50ms
      start_period: 30s
  migrate:
    image: busybox:cli
    command: ["sh", "-c", "echo migrated"]
    depends_on:
      db:
        condition: service_healthy
  api:
    image: busybox:cli
    command: ["sleep", "1000"]
    environment:
      LEVEL: "1"
    depends_on:
      db:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
  web:
    image: busybox:cli
    command: ["sleep", "1000"]
    depends_on:
      - api
  cache:
    image: busybox:cli
    command: ["sleep", "1000"]
`

// TestComposeUpDown is the compose core end to end: dependency order,
// idempotent up, a recreate of only what changed, scaling, and down.
func TestComposeUpDown(t *testing.T) {
	c := newCLI(t)
	_, run := c.project(fiveServices)
	run.must(t, "up", "-d", "--wait")

	// Started in dependency order: db healthy before migrate and api
	// start, migrate completed before api starts, api before web.
	db, migrate, api, web := c.startedAt("five-db-1"), c.startedAt("five-migrate-1"), c.startedAt("five-api-1"), c.startedAt("five-web-1")
	if !db.Before(migrate) || !migrate.Before(api) || !api.Before(web) {
		t.Errorf("start order: db %v migrate %v api %v web %v", db, migrate, api, web)
	}
	first := c.ps(run, "-a")
	if len(first) != 5 {
		t.Fatalf("ps -a after up: %+v", first)
	}
	for _, e := range first {
		want := "running"
		if e.Service == "migrate" {
			want = "exited"
		}
		if e.State != want {
			t.Errorf("%s: state %s, want %s", e.Name, e.State, want)
		}
	}

	// up again: nothing recreated.
	run.must(t, "up", "-d", "--wait")
	second := c.ps(run, "-a")
	for i := range first {
		if first[i].ID != second[i].ID {
			t.Errorf("second up replaced %s", first[i].Name)
		}
	}

	// One edited service is recreated alone.
	// The same project (name: five) from an edited file: only api changed.
	edited := strings.Replace(fiveServices, `LEVEL: "1"`, `LEVEL: "2"`, 1)
	_, runEdited := c.project(edited)
	runEdited.must(t, "up", "-d", "--wait")
	third := c.ps(runEdited, "-a")
	for i := range second {
		changed := second[i].ID != third[i].ID
		if changed != (second[i].Service == "api") {
			t.Errorf("%s: replaced %v after editing api", second[i].Name, changed)
		}
	}

	// Scale up and down by container number.
	runEdited.must(t, "up", "-d", "--scale", "cache=3")
	if n := len(c.ps(runEdited, "cache")); n != 3 {
		t.Errorf("cache replicas after --scale 3: %d", n)
	}
	runEdited.must(t, "up", "-d", "--scale", "cache=1")
	caches := c.ps(runEdited, "cache")
	if len(caches) != 1 || caches[0].Name != "five-cache-1" {
		t.Errorf("cache after --scale 1: %+v", caches)
	}

	// exec and run --rm.
	if out := runEdited.must(t, "exec", "-T", "api", "sh", "-c", "echo $LEVEL"); out != "2\n" {
		t.Errorf("exec: %q", out)
	}
	if out, errOut, code := runEdited("run", "--rm", "-T", "--no-deps", "cache", "echo", "one-off"); code != 0 || out != "one-off\n" {
		t.Errorf("run --rm: exit %d %q, stderr %q", code, out, errOut)
	}

	runEdited.must(t, "down")
	if ls := c.ok("container", "ls", "-aq"); ls != "" {
		t.Errorf("containers after down: %q", ls)
	}
}

func TestComposeWaitFailures(t *testing.T) {
	c := newCLI(t)
	_, run := c.project(`
name: sick
services:
  db:
    image: busybox:cli
    command: ["sleep", "1000"]
    healthcheck:
      test: ["CMD-SHELL", "echo database not ready; exit 1"]
      interval: 100ms
      retries: 2
  web:
    image: busybox:cli
    command: ["sleep", "1000"]
    depends_on:
      db:
        condition: service_healthy
`)
	_, errOut, code := run("up", "-d", "--wait")
	if code == 0 || !strings.Contains(errOut, "db") || !strings.Contains(errOut, "web") || !strings.Contains(errOut, "database not ready") {
		t.Errorf("up of an unhealthy dependency: exit %d, stderr:\n%s", code, errOut)
	}
	// web was never started.
	for _, e := range c.ps(run, "-a") {
		if e.Service == "web" && e.State == "running" {
			t.Errorf("web started although db is unhealthy")
		}
	}
	run.must(t, "down")
}

func TestComposeAbortOnExit(t *testing.T) {
	c := newCLI(t)
	_, run := c.project(`
name: abort
services:
  job:
    image: busybox:cli
    command: ["sh", "-c", "echo job done; exit 7"]
  server:
    image: busybox:cli
    command: ["sleep", "1000"]
    stop_grace_period: 1s
`)
	out, _, code := run("up", "--abort-on-container-exit", "--no-color")
	if code != 7 || !strings.Contains(out, "job done") {
		t.Errorf("up --abort-on-container-exit: exit %d, stdout:\n%s", code, out)
	}
	out, _, code = run("up", "--exit-code-from", "server", "--no-color")
	if code != 143 {
		// server is stopped when job exits: SIGTERM, code 143.
		t.Errorf("up --exit-code-from server: exit %d, want 143", code)
	}
	// The second up shows the second run's output, not the first's again.
	if n := strings.Count(out, "job done"); n != 1 {
		t.Errorf("second attached up shows %q %d times, want once:\n%s", "job done", n, out)
	}
	run.must(t, "down")
}

func TestComposeBadInput(t *testing.T) {
	c := newCLI(t)
	tests := []struct {
		name, yaml, want string
	}{
		{"malformed YAML", "services:\n  web:\n    image: [\n", "compose.yaml"},
		{"unknown key", "services:\n  web:\n    image: busybox:cli\n    enviroment: {}\n", "services.web.enviroment"},
		{"required variable", "services:\n  web:\n    image: ${IMAGE:?set IMAGE}\n", "IMAGE"},
		{"cycle", "services:\n  a:\n    image: busybox:cli\n    depends_on: [b]\n  b:\n    image: busybox:cli\n    depends_on: [a]\n", "dependency cycle detected"},
		{"missing image", "services:\n  web:\n    image: nosuch:image\n", "nosuch:image"},
		{"unknown dependency", "services:\n  web:\n    image: busybox:cli\n    depends_on: [db]\n", `"db"`},
		{"container_name with scale", "services:\n  web:\n    image: busybox:cli\n    container_name: fixed\n    scale: 2\n", "container_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, run := c.project(tt.yaml)
			_, errOut, code := run("-p", "bad", "up", "-d")
			if code == 0 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want a failure mentioning %q", code, errOut, tt.want)
			}
			if ls := c.ok("container", "ls", "-aq"); ls != "" {
				t.Errorf("bad input left containers: %q", ls)
			}
		})
	}
}

// TestComposeAttachedCtrlC: attached up streams prefixed logs; SIGINT stops
// the stack (containers exited, not removed) and up exits 0, as compose.
func TestComposeAttachedCtrlC(t *testing.T) {
	c := newCLI(t)
	file, run := c.project(`
name: attached
services:
  talker:
    image: busybox:cli
    command: ["sh", "-c", "echo hello from talker; exec sleep 1000"]
`)
	cmd := c.cmd("-f", file, "up", "--no-color")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Wait for the prefixed line, then interrupt.
	buf := make([]byte, 4096)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "talker-1  | hello from talker") {
		n, err := stdout.Read(buf)
		if err != nil {
			t.Fatalf("up's output ended before the log line: %q (%v)", seen.String(), err)
		}
		seen.Write(buf[:n])
	}
	cmd.Process.Signal(os.Interrupt)
	go func() { io.Copy(io.Discard, stdout) }()
	if err := cmd.Wait(); err != nil {
		t.Errorf("up after Ctrl-C: %v, want exit 0", err)
	}
	for _, e := range c.ps(run, "-a") {
		if e.State != "exited" {
			t.Errorf("%s is %s after Ctrl-C, want exited", e.Name, e.State)
		}
	}
	run.must(t, "down")
}

// TestComposeStartCreatesNothing: start and restart act on existing
// containers only, as compose's do.
func TestComposeStartCreatesNothing(t *testing.T) {
	c := newCLI(t)
	_, run := c.project(`
name: startonly
services:
  a:
    image: busybox:cli
    command: ["sleep", "1000"]
  b:
    image: busybox:cli
    command: ["sleep", "1000"]
`)
	run.must(t, "create", "a")
	run.must(t, "start")
	ps := c.ps(run, "-a")
	if len(ps) != 1 || ps[0].Service != "a" || ps[0].State != "running" {
		t.Errorf("after create a; start: %+v", ps)
	}
	run.must(t, "restart")
	if ps := c.ps(run, "-a"); len(ps) != 1 || ps[0].State != "running" {
		t.Errorf("after restart: %+v", ps)
	}
	run.must(t, "down")
}

// TestComposeLogsFollowAcrossRecreate: `logs -f` goes on with the new
// container when up recreates a service, as compose's does.
func TestComposeLogsFollowAcrossRecreate(t *testing.T) {
	c := newCLI(t)
	yaml := func(v string) string {
		return "name: follow\nservices:\n  talker:\n    image: busybox:cli\n    environment: [V=" + v + "]\n    command: [\"sh\", \"-c\", \"echo talking $$V; exec sleep 1000\"]\n"
	}
	file, run := c.project(yaml("one"))
	run.must(t, "up", "-d")
	defer run.must(t, "down")
	cmd := c.cmd("-f", file, "logs", "-f", "--no-color")
	var out syncBuffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFor := func(s string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if strings.Contains(out.String(), s) {
				return
			}
		}
		t.Fatalf("logs -f never showed %q; it showed:\n%s", s, out.String())
	}
	waitFor("talking one")
	run = c.rewrite(file, yaml("two"))
	run.must(t, "up", "-d")
	waitFor("talking two")
	if cmd.ProcessState != nil {
		t.Errorf("logs -f ended at the recreate")
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestComposeUpDepsFlags: up --no-deps SERVICE leaves a changed dependency
// alone; --always-recreate-deps recreates an unchanged one.
func TestComposeUpDepsFlags(t *testing.T) {
	c := newCLI(t)
	yaml := func(v string) string {
		return "name: deps\nservices:\n  db:\n    image: busybox:cli\n    environment: [V=" + v + "]\n    command: [\"sleep\", \"1000\"]\n  web:\n    image: busybox:cli\n    command: [\"sleep\", \"1000\"]\n    depends_on: [db]\n"
	}
	file, run := c.project(yaml("one"))
	run.must(t, "up", "-d")
	defer run.must(t, "down")
	ids := func() map[string]string {
		m := map[string]string{}
		for _, e := range c.ps(run, "-a") {
			m[e.Service] = e.ID
		}
		return m
	}
	before := ids()
	run = c.rewrite(file, yaml("two"))
	run.must(t, "up", "-d", "--no-deps", "web")
	if after := ids(); after["db"] != before["db"] || after["web"] != before["web"] {
		t.Errorf("up --no-deps web touched something: before %v after %v", before, after)
	}
	run = c.rewrite(file, yaml("one"))
	run.must(t, "up", "-d", "--always-recreate-deps", "web")
	if after := ids(); after["db"] == before["db"] {
		t.Errorf("up --always-recreate-deps web kept db %s", after["db"])
	}
}

// TestComposeDownChainOneGrace: down of a 3-level chain whose programs
// ignore SIGTERM kills each level as soon as its dependents are gone, so
// the three are killed within one grace period, not one after another.
func TestComposeDownChainOneGrace(t *testing.T) {
	c := newCLI(t)
	svc := func(name, dep string) string {
		s := "  " + name + ":\n    image: busybox:cli\n    command: [\"sh\", \"-c\", \"trap '' TERM; while true; do sleep 1; done\"]\n    stop_grace_period: 2s\n"
		if dep != "" {
			s += "    depends_on: [" + dep + "]\n"
		}
		return s
	}
	_, run := c.project("name: chain\nservices:\n" + svc("db", "") + svc("app", "db") + svc("web", "app"))
	run.must(t, "up", "-d")
	run.must(t, "stop")
	var finished []time.Time
	for _, name := range []string{"chain-db-1", "chain-app-1", "chain-web-1"} {
		var info []struct {
			State struct{ FinishedAt time.Time }
		}
		if err := json.Unmarshal([]byte(c.ok("container", "inspect", name)), &info); err != nil || len(info) != 1 {
			t.Fatalf("inspect %s: %v", name, err)
		}
		finished = append(finished, info[0].State.FinishedAt)
	}
	// web (the top) is killed after its 2 s grace; db would be 4 s later if
	// each level waited for its own grace period after the one above.
	if spread := finished[0].Sub(finished[2]); spread < 0 || spread > 3*time.Second {
		t.Errorf("db was killed %v after web, want within one grace period (2s) and not before it", spread)
	}
	run.must(t, "down")
}

// TestComposeAttachedSecondCtrlC: a second Ctrl-C kills what the first is
// stopping gracefully, as compose's.
func TestComposeAttachedSecondCtrlC(t *testing.T) {
	c := newCLI(t)
	file, run := c.project(`
name: twice
services:
  stubborn:
    image: busybox:cli
    command: ["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 1; done"]
`)
	cmd := c.cmd("-f", file, "up", "--no-color")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	buf := make([]byte, 4096)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "| ready") {
		n, err := stdout.Read(buf)
		if err != nil {
			t.Fatalf("up's output ended early: %q (%v)", seen.String(), err)
		}
		seen.Write(buf[:n])
	}
	go io.Copy(io.Discard, stdout)
	cmd.Process.Signal(os.Interrupt)
	time.Sleep(300 * time.Millisecond)
	second := time.Now()
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	var info []struct {
		State struct {
			ExitCode   int
			FinishedAt time.Time
		}
	}
	if err := json.Unmarshal([]byte(c.ok("container", "inspect", "twice-stubborn-1")), &info); err != nil || len(info) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	if st := info[0].State; st.ExitCode != 137 || st.FinishedAt.Sub(second) > 5*time.Second {
		t.Errorf("after a second Ctrl-C: exit %d at %v after it, want 137 (killed) at once", st.ExitCode, st.FinishedAt.Sub(second))
	}
	run.must(t, "down")
}
