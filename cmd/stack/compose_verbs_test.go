package main

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"stack/engine"
	"stack/engine/container"
	"stack/engine/image"
	"stack/planner"
	"stack/reconciler"
)

func TestCombinedStatus(t *testing.T) {
	tests := []struct {
		states []string
		want   string
	}{
		{nil, ""},
		{[]string{"running", "running", "running"}, "running(3)"},
		{[]string{"running", "exited", "exited"}, "exited(2), running(1)"},
		{[]string{"paused", "created", "running"}, "created(1), paused(1), running(1)"},
	}
	for _, tt := range tests {
		if got := combinedStatus(tt.states); got != tt.want {
			t.Errorf("combinedStatus(%v) = %q, want %q", tt.states, got, tt.want)
		}
	}
}

func TestListProjects(t *testing.T) {
	up := container.State{Status: container.Running}
	down := container.State{Status: container.Exited}
	withFiles := func(c *engine.Container, files string) *engine.Container {
		c.Config.Labels[planner.LabelConfigFiles] = files
		return c
	}
	other := composeContainer("other-db-1", "db", 1, false, up)
	other.Config.Labels[planner.LabelProject] = "other"
	plain := composeContainer("plain", "x", 1, false, up)
	delete(plain.Config.Labels, planner.LabelProject)
	cs := []*engine.Container{
		withFiles(composeContainer("demo-web-1", "web", 1, false, up), "/p/compose.yaml,/p/compose.override.yaml"),
		withFiles(composeContainer("demo-db-1", "db", 1, false, down), "/p/compose.yaml"),
		withFiles(composeContainer("demo-web-2", "web", 2, false, up), "/p/compose.yaml"),
		other,
		plain,
	}
	var warnings []string
	got := listProjects(cs, func(m string) { warnings = append(warnings, m) })
	want := []lsRow{
		{Name: "demo", Status: "exited(1), running(2)", ConfigFiles: "/p/compose.yaml,/p/compose.override.yaml"},
		{Name: "other", Status: "running(1)", ConfigFiles: "N/A"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("listProjects = %+v, want %+v", got, want)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"other-db-1"`) {
		t.Errorf("warnings = %q, want one naming other-db-1", warnings)
	}
	if got := listProjects(nil, nil); got == nil || len(got) != 0 {
		t.Errorf("no containers: %#v, want an empty list (JSON [])", got)
	}
}

func TestWriteLs(t *testing.T) {
	rows := []lsRow{{Name: "demo", Status: "running(2)", ConfigFiles: "/p/compose.yaml"}}
	var out strings.Builder
	writeLs(&out, rows, false, "table")
	want := "NAME                STATUS              CONFIG FILES\ndemo                running(2)          /p/compose.yaml\n"
	if out.String() != want {
		t.Errorf("table:\n%q\nwant\n%q", out.String(), want)
	}
	out.Reset()
	writeLs(&out, rows, false, "json")
	if want := `[{"Name":"demo","Status":"running(2)","ConfigFiles":"/p/compose.yaml"}]` + "\n"; out.String() != want {
		t.Errorf("json = %q, want %q", out.String(), want)
	}
	out.Reset()
	writeLs(&out, []lsRow{}, false, "json")
	if out.String() != "[]\n" {
		t.Errorf("json of nothing = %q, want []", out.String())
	}
	out.Reset()
	writeLs(&out, rows, true, "table")
	if out.String() != "demo\n" {
		t.Errorf("-q = %q", out.String())
	}
}

func TestLsFilters(t *testing.T) {
	names, err := parseLsFilters([]string{"name=de", "name=^other$"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"demo": true, "other": true, "another": false, "x": false} {
		if got := matchName(names, name); got != want {
			t.Errorf("matchName(%v, %q) = %v, want %v", names, name, got, want)
		}
	}
	if !matchName(nil, "any") {
		t.Error("no filter must match everything")
	}
	for _, bad := range []string{"status=running", "name"} {
		if _, err := parseLsFilters([]string{bad}); err == nil {
			t.Errorf("--filter %q accepted", bad)
		}
	}
}

func TestServiceContainer(t *testing.T) {
	up := container.State{Status: container.Running}
	down := container.State{Status: container.Exited}
	cs := []*engine.Container{
		composeContainer("demo-web-run-0123", "web", 0, true, up),
		composeContainer("demo-web-3", "web", 3, false, up),
		composeContainer("demo-web-2", "web", 2, false, up),
		composeContainer("demo-web-1", "web", 1, false, down),
		composeContainer("demo-db-1", "db", 1, false, down),
		composeContainer("demo-job-run-0123", "job", 0, true, up),
	}
	tests := []struct {
		service string
		index   int
		want    string
		wantErr string
	}{
		{service: "web", want: "demo-web-2"},
		{service: "web", index: 3, want: "demo-web-3"},
		{service: "web", index: 1, wantErr: `service "web" is not running container #1`},
		{service: "db", wantErr: `service "db" is not running`},
		{service: "job", want: "demo-job-run-0123"},
	}
	for _, tt := range tests {
		c, err := serviceContainer(cs, tt.service, tt.index)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("serviceContainer(%s, %d) = %v, want error %q", tt.service, tt.index, err, tt.wantErr)
			}
			continue
		}
		if err != nil || c.Config.Name != tt.want {
			t.Errorf("serviceContainer(%s, %d) = %v, %v; want %s", tt.service, tt.index, c, err, tt.want)
		}
	}
}

func TestPorts(t *testing.T) {
	c := composeContainer("demo-web-1", "web", 1, false, container.State{Status: container.Running})
	if pubs := containerPublishers(c); pubs == nil || len(pubs) != 0 {
		t.Errorf("containerPublishers = %#v, want empty and non-nil (JSON [])", pubs)
	}
	_, err := publishedPort(c, 80, "tcp")
	if err == nil || err.Error() != "no port 80/tcp for container demo-web-1" {
		t.Errorf("publishedPort = %v", err)
	}
	pubs := []portPublisher{
		{URL: "0.0.0.0", TargetPort: 80, PublishedPort: 8080, Protocol: "tcp"},
		{TargetPort: 53, Protocol: "udp"},
	}
	if got, want := portsColumn(pubs), "0.0.0.0:8080->80/tcp, 53/udp"; got != want {
		t.Errorf("portsColumn = %q, want %q", got, want)
	}
}

func TestMergeTop(t *testing.T) {
	titles := []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}
	got := mergeTop([]topEntry{
		{service: "db", number: "1", titles: titles, procs: [][]string{{"root", "10", "1", "0", "12:00", "?", "00:00:00", "postgres"}}},
		{service: "web", number: "2", titles: []string{"PID", "CMD", "EXTRA"}, procs: [][]string{{"20", "httpd -f", "x"}}},
		{}, // a container that stopped meanwhile
	})
	wantTitles := []string{"SERVICE", "#", "UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "EXTRA", "CMD"}
	if !slices.Equal(got.titles, wantTitles) {
		t.Errorf("titles = %v, want %v", got.titles, wantTitles)
	}
	want := [][]string{
		{"db", "1", "root", "10", "1", "0", "12:00", "?", "00:00:00", "-", "postgres"},
		{"web", "2", "-", "20", "-", "-", "-", "-", "-", "x", "httpd -f"},
	}
	if !slices.EqualFunc(got.rows, want, slices.Equal) {
		t.Errorf("rows = %q, want %q", got.rows, want)
	}
}

func TestImages(t *testing.T) {
	created := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	now := created.Add(49 * time.Hour)
	img := &image.Image{
		ID:      "sha256:" + strings.Repeat("ab", 32),
		Size:    4_194_304,
		Created: created,
		Config:  ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
	}
	lookup := func(ref string) (*image.Image, error) {
		if ref == img.ID {
			return img, nil
		}
		return nil, errors.New("not found")
	}
	web := composeContainer("demo-web-1", "web", 1, false, container.State{Status: container.Running})
	web.Config.Image, web.Config.ImageName = img.ID, "registry.local:5000/team/web:1.2"
	gone := composeContainer("demo-db-1", "db", 1, false, container.State{Status: container.Exited})
	gone.Config.Image, gone.Config.ImageName = "sha256:"+strings.Repeat("ef", 32), "sha256:"+strings.Repeat("ef", 32)
	rows := []imagesRow{containerImage(web, lookup), containerImage(gone, lookup)}

	var out strings.Builder
	if err := writeImages(&out, rows, false, "table", now); err != nil {
		t.Fatal(err)
	}
	want := "CONTAINER           REPOSITORY                     TAG                 PLATFORM            IMAGE ID            SIZE                CREATED\n" +
		"demo-web-1          registry.local:5000/team/web   1.2                 linux/arm64/v8      abababababab        4.19MB              2 days ago\n" +
		"demo-db-1           <none>                         <none>                                  efefefefefef        0B                  N/A\n"
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	writeImages(&out, rows, false, "json", now)
	var js []map[string]any
	if err := json.Unmarshal([]byte(out.String()), &js); err != nil || len(js) != 2 || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("json %q: %v", out.String(), err)
	}
	if js[0]["ContainerName"] != "demo-web-1" || js[0]["ID"] != img.ID || js[0]["Size"] != float64(img.Size) ||
		js[0]["Platform"] != "linux/arm64/v8" || js[0]["Created"] != "2024-05-01T12:00:00Z" {
		t.Errorf("json[0] = %v", js[0])
	}
	if _, ok := js[1]["Created"]; ok {
		t.Errorf("json[1] has a Created time for an image that is gone: %v", js[1])
	}

	out.Reset()
	writeImages(&out, append(rows, rows[0]), true, "table", now)
	if want := strings.Repeat("ab", 32) + "\n" + strings.Repeat("ef", 32) + "\n"; out.String() != want {
		t.Errorf("-q = %q, want each ID once without sha256:", out.String())
	}
}

func TestWriteVersion(t *testing.T) {
	tests := []struct {
		format string
		short  bool
		want   string
	}{
		{want: "Stack version stack-dev\n"},
		{format: "pretty", want: "Stack version stack-dev\n"},
		{format: "json", want: `{"version":"stack-dev"}` + "\n"},
		{short: true, want: "stack-dev\n"},
	}
	for _, tt := range tests {
		var out strings.Builder
		if err := writeVersion(&out, tt.format, tt.short); err != nil || out.String() != tt.want {
			t.Errorf("version format %q short %v = %q, %v; want %q", tt.format, tt.short, out.String(), err, tt.want)
		}
	}
	if err := writeVersion(io.Discard, "yaml", false); err == nil {
		t.Error("--format yaml accepted")
	}
}

func TestComposeExecFlags(t *testing.T) {
	fs := newComposeExecCmd(&globals{}).Flags()
	args := []string{"-T", "-d", "-u", "nobody", "-w", "/tmp", "-e", "A=1", "-e", "B", "--index", "2", "--privileged", "web", "ls", "-la", "-e", "x"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if got := fs.Args(); !slices.Equal(got, []string{"web", "ls", "-la", "-e", "x"}) {
		t.Errorf("args = %v: flags after SERVICE COMMAND belong to the command", got)
	}
	env, _ := fs.GetStringArray("env")
	index, _ := fs.GetInt("index")
	user, _ := fs.GetString("user")
	noTTY, _ := fs.GetBool("no-tty")
	if !slices.Equal(env, []string{"A=1", "B"}) || index != 2 || user != "nobody" || !noTTY {
		t.Errorf("env %v index %d user %q no-tty %v", env, index, user, noTTY)
	}
	def := newComposeExecCmd(&globals{}).Flags()
	if i, _ := def.GetBool("interactive"); !i {
		t.Error("-i defaults to false, want true as in compose")
	}
	if i, _ := def.GetInt("index"); i != 0 {
		t.Errorf("--index defaults to %d, want 0 (the first container)", i)
	}
}

func TestComposeKillFlags(t *testing.T) {
	fs := newComposeKillCmd(&globals{}).Flags()
	if s, _ := fs.GetString("signal"); s != "SIGKILL" {
		t.Errorf("-s defaults to %q, want SIGKILL", s)
	}
	if err := fs.Parse([]string{"-s", "TERM", "--remove-orphans", "web"}); err != nil {
		t.Fatal(err)
	}
	if s, _ := fs.GetString("signal"); s != "TERM" {
		t.Errorf("-s = %q", s)
	}
}

// TestComposeVerbCommands checks that every verb's flags fit together (a
// clash panics only when the command runs) and that its help prints.
func TestComposeVerbCommands(t *testing.T) {
	g := &globals{}
	for _, cmd := range []*cobra.Command{
		newComposePsCmd(g), newComposeLogsCmd(g), newComposeLsCmd(g), newComposeTopCmd(g),
		newComposeImagesCmd(g), newComposePortCmd(g), newComposeExecCmd(g), newComposeKillCmd(g),
		newComposePauseCmd(g, true), newComposePauseCmd(g, false), newComposeWaitCmd(g), newComposeVersionCmd(),
	} {
		t.Run(cmd.Name(), func(t *testing.T) {
			var out strings.Builder
			cmd.SetOut(&out)
			cmd.SetErr(io.Discard)
			cmd.SetArgs([]string{"--help"})
			if err := cmd.Execute(); err != nil {
				t.Fatalf("%s --help: %v", cmd.Name(), err)
			}
			if !strings.Contains(out.String(), "Usage:") {
				t.Errorf("%s --help printed %q", cmd.Name(), out.String())
			}
		})
	}
}

// An error event's text is printed once (its Detail is the error's text).
func TestEventTextErrorOnce(t *testing.T) {
	err := errors.New(`service "a": port is already allocated`)
	got := eventText(reconciler.Event{Resource: "Container p-a-1", Status: reconciler.StatusError, Detail: err.Error(), Err: err})
	if strings.Count(got, "already allocated") != 1 {
		t.Errorf("eventText = %q, want the error once", got)
	}
	got = eventText(reconciler.Event{Resource: "Container p-a-1", Status: reconciler.StatusError, Err: err})
	if !strings.Contains(got, "already allocated") {
		t.Errorf("eventText = %q, want the error", got)
	}
}
