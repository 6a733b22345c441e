package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestVolumeCompose: named volumes keep their data across down/up,
// recreate and stop/start, and go only with down -v; an empty one starts
// with the image's content; binds, read-only binds, tmpfs with a size, a
// read-only root, anonymous volumes (kept on recreate, renewed by -V) and
// volumes_from.
func TestVolumeCompose(t *testing.T) {
	c := newCLI(t)
	yaml := func(env string) string {
		return `
name: vol
services:
  app:
    image: busybox:cli
    command: ["sleep", "1000"]
    environment: [V=` + env + `]
    read_only: true
    tmpfs: [/tmp]
    volumes:
      - data:/data
      - www:/var/www
      - ./host:/host
      - ./ro:/ro:ro
      - /cache
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 1048576}
  reader:
    image: busybox:cli
    command: ["sleep", "1000"]
    volumes_from: ["app:ro"]
volumes:
  data: {}
  www: {}
`
	}
	file, run := c.project(yaml("1"))
	dir := filepath.Dir(file)
	if err := os.Mkdir(filepath.Join(dir, "ro"), 0o755); err != nil {
		t.Fatal(err)
	}
	// another project's volume, which nothing here may touch
	_, other := c.project("name: other\nservices:\n  x:\n    image: busybox:cli\n    command: [\"true\"]\n    volumes: [keep:/keep]\nvolumes:\n  keep: {}\n")
	other.must(t, "create")
	defer other.must(t, "down", "-v")

	run.must(t, "up", "-d")
	sh := func(service, script string) (string, int) {
		out, errOut, code := run.execOut(t, service, "sh", "-c", script)
		return out + errOut, code
	}
	mustSh := func(service, script string) string {
		t.Helper()
		out, code := sh(service, script)
		if code != 0 {
			t.Fatalf("%s: %s: exit %d: %s", service, script, code, out)
		}
		return out
	}
	mustSh("app", "echo one > /data/f && echo anon > /cache/c && echo bound > /host/h")
	if out := mustSh("app", "cat /var/www/index.html; ls -ln /var/www/index.html"); !strings.Contains(out, "hello from stack") || !strings.Contains(out, " 0        0 ") && !strings.Contains(out, " 0 0 ") {
		t.Errorf("the empty volume www did not start with the image's /var/www (and its owner):\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "host", "h")); err != nil || string(b) != "bound\n" {
		t.Errorf("relative bind: host sees %q, %v", b, err)
	}
	if out, code := sh("app", "touch /ro/x"); code == 0 || !strings.Contains(out, "Read-only file system") {
		t.Errorf("write to a :ro bind: exit %d %s", code, out)
	}
	if out, code := sh("app", "dd if=/dev/zero of=/scratch/big bs=1024 count=2048"); code == 0 || !strings.Contains(out, "No space left") {
		t.Errorf("2 MiB into a 1 MiB tmpfs: exit %d %s", code, out)
	}
	if out, code := sh("app", "touch /rootfile"); code == 0 || !strings.Contains(out, "Read-only file system") {
		t.Errorf("read_only root: touch /rootfile: exit %d %s", code, out)
	}
	mustSh("app", "touch /tmp/ok")
	if out := mustSh("reader", "cat /data/f /cache/c"); out != "one\nanon\n" {
		t.Errorf("volumes_from: reader sees %q", out)
	}
	if out, code := sh("reader", "touch /data/g"); code == 0 || !strings.Contains(out, "Read-only") {
		t.Errorf("volumes_from :ro: write succeeded: %s", out)
	}

	// A volume with content of its own keeps it (no copy-up again).
	mustSh("app", "echo mine > /var/www/index.html")

	run.must(t, "stop")
	run.must(t, "start")
	if out := mustSh("app", "cat /data/f"); out != "one\n" {
		t.Errorf("after stop/start: %q", out)
	}
	run.must(t, "down")
	run.must(t, "up", "-d")
	if out := mustSh("app", "cat /data/f /var/www/index.html"); out != "one\nmine\n" {
		t.Errorf("after down and up: %q", out)
	}
	mustSh("app", "echo anon > /cache/c")
	// A recreate keeps the anonymous volume; -V renews it.
	run = c.rewrite(file, yaml("2"))
	run.must(t, "up", "-d")
	if out := mustSh("app", "cat /data/f /cache/c"); out != "one\nanon\n" {
		t.Errorf("after a recreate: %q", out)
	}
	run.must(t, "up", "-d", "--force-recreate", "-V")
	if out, _ := sh("app", "cat /data/f; ls /cache"); out != "one\n" {
		t.Errorf("after up -V: %q, want the named volume's file and an empty /cache", out)
	}

	run.must(t, "down", "-v")
	vols := c.ok("volume", "ls", "-q")
	if strings.Contains(vols, "vol_data") || strings.Contains(vols, "vol_www") || !strings.Contains(vols, "other_keep") {
		t.Errorf("after down -v, volumes are:\n%s", vols)
	}
}

// rewrite replaces the project's compose file.
func (c *cli) rewrite(file, yaml string) runner {
	c.t.Helper()
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		c.t.Fatal(err)
	}
	return func(args ...string) (string, string, int) {
		c.t.Helper()
		return c.exec(append([]string{"-f", file}, args...)...)
	}
}

// TestVolumeCLI: volume create/ls/inspect/rm/prune, and cp both ways
// (running and stopped, a tar stream, a symlink that must not leave the
// container).
func TestVolumeCLI(t *testing.T) {
	c := newCLI(t)
	c.ok("volume", "create", "--label", "team=a", "v1")
	c.ok("volume", "create", "v2")
	if out := c.ok("volume", "ls", "-q", "--filter", "label=team=a"); strings.TrimSpace(out) != "v1" {
		t.Errorf("volume ls --filter label = %q", out)
	}
	var row struct{ Name, Driver string }
	if err := json.Unmarshal([]byte(strings.Split(c.ok("volume", "ls", "--format", "json"), "\n")[0]), &row); err != nil || row.Name != "v1" || row.Driver != "local" {
		t.Errorf("volume ls --format json: %+v %v", row, err)
	}
	var info []struct{ Name, Mountpoint string }
	if err := json.Unmarshal([]byte(c.ok("volume", "inspect", "v1")), &info); err != nil || len(info) != 1 || !strings.HasSuffix(info[0].Mountpoint, "/v1/_data") {
		t.Errorf("volume inspect: %+v %v", info, err)
	}
	c.ok("container", "run", "-d", "--name", "box", "-v", "v1:/v", "busybox:cli", "sleep", "1000")
	if _, errOut, code := c.exec("volume", "rm", "v1"); code == 0 || !strings.Contains(errOut, "in use") {
		t.Errorf("volume rm of a volume in use: exit %d %s", code, errOut)
	}

	// cp in and out of a running container
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "in.txt"), []byte("from the host\n"), 0o640)
	c.ok("container", "cp", filepath.Join(host, "in.txt"), "box:/v/in.txt")
	if out, _, _ := c.exec("container", "exec", "box", "cat", "/v/in.txt"); out != "from the host\n" {
		t.Errorf("cp into the volume: %q", out)
	}
	c.ok("container", "exec", "box", "sh", "-c", "mkdir -p /d/sub && echo deep > /d/sub/f && chmod 0751 /d/sub && ln -s /etc /d/etc")
	c.ok("container", "cp", "box:/d", filepath.Join(host, "out"))
	if b, err := os.ReadFile(filepath.Join(host, "out", "sub", "f")); err != nil || string(b) != "deep\n" {
		t.Errorf("cp out of the container: %q %v", b, err)
	}
	if st, err := os.Stat(filepath.Join(host, "out", "sub")); err != nil || st.Mode().Perm() != 0o751 {
		t.Errorf("cp kept mode %v (%v), want 0751", st.Mode(), err)
	}
	// the link points at /etc inside the container: the container's passwd,
	// not the host's
	out, _, code := c.exec("container", "cp", "box:/d/etc/passwd", "-")
	if code != 0 {
		t.Fatalf("cp through a symlink: exit %d", code)
	}
	tr := tar.NewReader(bytes.NewReader([]byte(out)))
	if h, err := tr.Next(); err != nil || h.Name != "passwd" {
		t.Fatalf("cp - gave %v %v", h, err)
	}
	var body bytes.Buffer
	body.ReadFrom(tr)
	if !strings.Contains(body.String(), "alice:x:1000") {
		t.Errorf("cp of /d/etc/passwd read the host's file, not the container's:\n%s", body.String())
	}
	// a tar stream in, to a stopped container
	c.ok("container", "stop", "-t", "0", "box")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "t.txt", Mode: 0o600, Size: 3, ModTime: time.Unix(1700000000, 0)})
	tw.Write([]byte("tar"))
	tw.Close()
	cmd := c.cmd("container", "cp", "-", "box:/")
	cmd.Stdin = &buf
	if out, errOut, code := c.runCmd(cmd, []string{"cp"}); code != 0 {
		t.Fatalf("cp - box:/ to a stopped container: %s %s", out, errOut)
	}
	c.ok("container", "cp", "box:/t.txt", filepath.Join(host, "t.txt"))
	c.ok("container", "cp", "box:/v/in.txt", filepath.Join(host, "again.txt"))
	if b, _ := os.ReadFile(filepath.Join(host, "t.txt")); string(b) != "tar" {
		t.Errorf("cp from a stopped container: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "again.txt")); string(b) != "from the host\n" {
		t.Errorf("cp of a volume's file from a stopped container: %q", b)
	}

	c.ok("container", "rm", "box")
	c.ok("volume", "rm", "v1")
	c.ok("container", "run", "--rm", "-v", "/anon", "busybox:cli", "true")
	if out := c.ok("volume", "ls", "-q"); strings.TrimSpace(out) != "v2" {
		t.Errorf("run --rm left its anonymous volume: %q", out)
	}
	// a subpath that a container made a symlink to / does not reach the host
	c.ok("volume", "create", "sp")
	c.ok("container", "run", "--rm", "-v", "sp:/v", "busybox:cli", "sh", "-c", "mkdir /v/ok && echo in > /v/ok/f && ln -s / /v/x")
	if out := c.ok("container", "run", "--rm", "--mount", "type=volume,source=sp,target=/m,volume-subpath=ok", "busybox:cli", "cat", "/m/f"); out != "in\n" {
		t.Errorf("volume subpath: %q", out)
	}
	if out, errOut, code := c.exec("container", "run", "--rm", "--mount", "type=volume,source=sp,target=/m,volume-subpath=x", "busybox:cli", "ls", "/m"); code == 0 {
		t.Errorf("a subpath through a symlink to / was mounted: %s", out)
	} else if !strings.Contains(errOut, "subpath") {
		t.Errorf("a subpath through a symlink: %s", errOut)
	}
	c.ok("volume", "rm", "sp")
	// driver_opts: a tmpfs volume of 1 MiB
	c.ok("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m", "tv")
	if out := c.ok("container", "run", "--rm", "-v", "tv:/t", "busybox:cli", "sh", "-c", "df -k /t | tail -1"); !strings.Contains(out, " 1024 ") {
		t.Errorf("a tmpfs volume of 1m: df says %q", out)
	}
	c.ok("volume", "rm", "tv")
	c.ok("container", "run", "-d", "--rm", "--name", "gone", "-v", "/anon", "busybox:cli", "true")
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if out := c.ok("container", "ls", "-a", "--format", "{{.Names}}"); !strings.Contains(out, "gone") {
			break
		}
	}
	if out := c.ok("volume", "ls", "-q"); strings.TrimSpace(out) != "v2" {
		t.Errorf("a detached run --rm left its anonymous volume: %q", out)
	}
	c.ok("container", "create", "-v", "/anon", "busybox:cli", "true")
	c.ok("container", "prune", "-f")
	if out := c.ok("volume", "prune", "-f"); !strings.Contains(out, "Total reclaimed space") {
		t.Errorf("volume prune: %q", out)
	}
	if out := c.ok("volume", "ls", "-q"); strings.TrimSpace(out) != "v2" {
		t.Errorf("after prune (anonymous only), volumes: %q", out)
	}
	c.ok("volume", "prune", "-f", "-a")
	if out := c.ok("volume", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("after prune -a: %q", out)
	}
}

// TestVolumeBadInput: clear errors, nothing changed.
func TestVolumeBadInput(t *testing.T) {
	c := newCLI(t)
	cases := []struct{ name, yaml, want string }{
		{"nohost", `
services:
  web:
    image: busybox:cli
    volumes:
      - type: bind
        source: /nonexistent/stack-test
        target: /x
        bind: {create_host_path: false}
`, "bind source path does not exist: /nonexistent/stack-test"},
		{"external", `
services:
  web:
    image: busybox:cli
    volumes: ["vol:/v"]
volumes:
  vol:
    external: true
    name: nowhere
`, `external volume "nowhere" not found`},
		{"tmpfs", `
services:
  web:
    image: busybox:cli
    volumes:
      - type: tmpfs
        target: /t
        tmpfs: {size: lots}
`, "size"},
	}
	for _, tc := range cases {
		_, run := c.project("name: bad" + tc.name + "\n" + tc.yaml)
		_, errOut, code := run("up", "-d")
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: up: exit %d, stderr %q, want %q", tc.name, code, errOut, tc.want)
		}
		if out := c.ok("container", "ls", "-a", "--format", "{{.Names}}"); strings.Contains(out, "bad"+tc.name) {
			t.Errorf("%s: containers left: %s", tc.name, out)
		}
		run("down")
	}
	if _, err := os.Stat("/nonexistent/stack-test"); err == nil {
		t.Errorf("a bind source with create_host_path: false was created")
	}
}

// TestVolumeSurvivesKilledCommands: SIGKILL in the middle of up or down
// never loses a named volume's data, and the next up repairs.
func TestVolumeSurvivesKilledCommands(t *testing.T) {
	c := newCLI(t)
	var y strings.Builder
	y.WriteString("name: kill\nservices:\n")
	for i := range 8 {
		y.WriteString("  s" + string(rune('a'+i)) + ":\n    image: busybox:cli\n    command: [\"sleep\", \"1000\"]\n    volumes: [data:/data]\n")
	}
	y.WriteString("volumes:\n  data: {}\n")
	file, run := c.project(y.String())
	run.must(t, "up", "-d")
	run.must(t, "exec", "-T", "sa", "sh", "-c", "echo precious > /data/p")
	for _, verb := range []string{"down", "up"} {
		for _, delay := range []time.Duration{20 * time.Millisecond, 150 * time.Millisecond} {
			cmd := c.cmd("-f", file, verb, "-d")
			if verb == "down" {
				cmd = c.cmd("-f", file, "down")
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(delay)
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			run.must(t, "up", "-d")
			if out, _, _ := run.execOut(t, "sa", "cat", "/data/p"); out != "precious\n" {
				t.Fatalf("after %s killed at %v and up: /data/p = %q", verb, delay, out)
			}
		}
	}
	run.must(t, "down", "-v")
}
