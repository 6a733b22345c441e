package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"stack/engine"
	"stack/engine/container"
	"stack/planner"
)

// composeContainer builds a container of project demo as the reconciler
// labels them.
func composeContainer(name, service string, number int, oneoff bool, st container.State) *engine.Container {
	labels := map[string]string{
		planner.LabelProject: "demo",
		planner.LabelService: service,
		planner.LabelOneoff:  planner.OneoffFalse,
	}
	if oneoff {
		labels[planner.LabelOneoff] = planner.OneoffTrue
	} else {
		labels[planner.LabelContainerNumber] = strconv.Itoa(number)
	}
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	return &engine.Container{
		Config: &container.Config{
			ID:          id,
			Name:        name,
			Created:     st.StartedAt.Add(-5 * time.Second),
			Image:       "sha256:" + strings.Repeat("cd", 32),
			ImageName:   "busybox:latest",
			Labels:      labels,
			Spec:        &specs.Spec{Process: &specs.Process{Args: []string{"httpd", "-f", "-p", "80"}}},
			NetworkMode: "none",
		},
		State: &st,
	}
}

var psNow = time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return psNow.Add(-d) }

func TestComposePsRow(t *testing.T) {
	tests := []struct {
		name string
		st   container.State
		want composePsRow // the fields checked: Status, State, Health, ExitCode
	}{
		{
			name: "running",
			st:   container.State{Status: container.Running, StartedAt: ago(5 * time.Second)},
			want: composePsRow{Status: "Up 5 seconds", State: "running"},
		},
		{
			name: "healthy",
			st: container.State{Status: container.Running, StartedAt: ago(5 * time.Second),
				Health: &container.Health{Status: container.HealthHealthy}},
			want: composePsRow{Status: "Up 5 seconds (healthy)", State: "running", Health: "healthy"},
		},
		{
			name: "starting",
			st: container.State{Status: container.Running, StartedAt: ago(2 * time.Minute),
				Health: &container.Health{Status: container.HealthStarting}},
			want: composePsRow{Status: "Up 2 minutes (health: starting)", State: "running", Health: "starting"},
		},
		{
			name: "exited",
			st: container.State{Status: container.Exited, StartedAt: ago(time.Minute), FinishedAt: ago(3 * time.Second), ExitCode: 3,
				Health: &container.Health{Status: container.HealthUnhealthy}},
			want: composePsRow{Status: "Exited (3) 3 seconds ago", State: "exited", ExitCode: 3},
		},
		{
			name: "paused",
			st:   container.State{Status: container.Paused, StartedAt: ago(time.Hour)},
			want: composePsRow{Status: "Up About an hour (Paused)", State: "paused"},
		},
		{
			name: "created",
			st:   container.State{Status: container.Created},
			want: composePsRow{Status: "Created", State: "created"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := composeContainer("demo-web-1", "web", 1, false, tt.st)
			got := newComposePsRow(c, true, psNow)
			if got.Status != tt.want.Status || got.State != tt.want.State || got.Health != tt.want.Health || got.ExitCode != tt.want.ExitCode {
				t.Errorf("row = Status %q State %q Health %q ExitCode %d, want %q %q %q %d",
					got.Status, got.State, got.Health, got.ExitCode, tt.want.Status, tt.want.State, tt.want.Health, tt.want.ExitCode)
			}
			if got.Name != "demo-web-1" || got.Project != "demo" || got.Service != "web" || got.Image != "busybox:latest" {
				t.Errorf("row names = %q %q %q %q", got.Name, got.Project, got.Service, got.Image)
			}
			if got.ID != c.ID()[:12] || got.Command != `"httpd -f -p 80"` {
				t.Errorf("row ID %q Command %s", got.ID, got.Command)
			}
			if got.Ports != "" || got.Publishers == nil || len(got.Publishers) != 0 {
				t.Errorf("row Ports %q Publishers %#v, want none (no networking yet)", got.Ports, got.Publishers)
			}
		})
	}
}

// TestComposePsJSON pins --format json: one object per line, compose's
// fields in its (sorted) order, Publishers an empty array.
func TestComposePsJSON(t *testing.T) {
	cs := []*engine.Container{
		composeContainer("demo-web-1", "web", 1, false, container.State{Status: container.Running, StartedAt: ago(time.Minute)}),
		composeContainer("demo-db-1", "db", 1, false, container.State{Status: container.Exited, StartedAt: ago(time.Hour), FinishedAt: ago(time.Minute), ExitCode: 137}),
	}
	lf, err := parseListFormat("json", composePsTableFormat)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := writePs(&out, lf, psOptions{}, cs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("json output has %d lines, want 2:\n%s", len(lines), out.String())
	}
	wantKeys := []string{"Command", "CreatedAt", "ExitCode", "Health", "ID", "Image", "Labels", "LocalVolumes",
		"Mounts", "Name", "Names", "Networks", "Ports", "Project", "Publishers", "RunningFor", "Service", "Size", "State", "Status"}
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("keys = %v, want %v", keys, wantKeys)
		}
		if !strings.HasPrefix(line, `{"Command":`) || !strings.Contains(line, `"Publishers":[]`) {
			t.Errorf("line %s: want sorted keys and an empty Publishers array", line)
		}
	}
	var db struct {
		Name, Project, Service, State, Status string
		ExitCode                              int
	}
	json.Unmarshal([]byte(lines[1]), &db)
	if db.Name != "demo-db-1" || db.Project != "demo" || db.Service != "db" || db.State != "exited" || db.ExitCode != 137 {
		t.Errorf("db = %+v", db)
	}
}

func TestComposePsTable(t *testing.T) {
	lf, err := parseListFormat("", composePsTableFormat)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := writePs(&out, lf, psOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if want := "NAME      IMAGE     COMMAND   SERVICE   CREATED   STATUS    PORTS\n"; out.String() != want {
		t.Errorf("empty table = %q, want %q", out.String(), want)
	}
	out.Reset()
	c := composeContainer("demo-web-1", "web", 1, false, container.State{Status: container.Running, StartedAt: ago(5 * time.Second)})
	if err := writePs(&out, lf, psOptions{}, []*engine.Container{c}); err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(out.String(), "\n")
	if len(rows) != 3 || !strings.HasPrefix(rows[1], "demo-web-1   busybox:latest   \"httpd -f -p 80\"   web       ") ||
		!strings.Contains(rows[1], "   Up ") {
		t.Errorf("table:\n%s", out.String())
	}
	out.Reset()
	writePs(&out, nil, psOptions{quiet: true}, []*engine.Container{c})
	if out.String() != c.ID()+"\n" {
		t.Errorf("-q = %q, want the full ID", out.String())
	}
}

func TestSelectPs(t *testing.T) {
	up := container.State{Status: container.Running, StartedAt: ago(time.Minute)}
	down := container.State{Status: container.Exited, StartedAt: ago(time.Hour), FinishedAt: ago(time.Minute)}
	cs := []*engine.Container{
		composeContainer("demo-web-2", "web", 2, false, up),
		composeContainer("demo-db-1", "db", 1, false, down),
		composeContainer("demo-web-1", "web", 1, false, up),
		composeContainer("demo-web-run-abc", "web", 0, true, up),
		composeContainer("demo-job-1", "job", 1, false, container.State{Status: container.Paused, StartedAt: ago(time.Minute)}),
	}
	names := func(cs []*engine.Container) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Config.Name)
		}
		return out
	}
	tests := []struct {
		name   string
		all    bool
		status []string
		want   []string
	}{
		{name: "running", want: []string{"demo-job-1", "demo-web-1", "demo-web-2"}},
		{name: "all", all: true, want: []string{"demo-db-1", "demo-job-1", "demo-web-1", "demo-web-2", "demo-web-run-abc"}},
		{name: "status exited", status: []string{"exited"}, want: []string{"demo-db-1"}},
		{name: "status running or paused", status: []string{"running", "paused"}, want: []string{"demo-job-1", "demo-web-1", "demo-web-2", "demo-web-run-abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(selectPs(cs, tt.all, tt.status)); !slices.Equal(got, tt.want) {
				t.Errorf("selectPs = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParsePsFilter(t *testing.T) {
	tests := []struct {
		name            string
		status, filters []string
		want            psFilter
		wantErr         string
	}{
		{name: "none"},
		{name: "status", status: []string{"running", "exited"}, want: psFilter{status: []string{"running", "exited"}}},
		{name: "filter status", filters: []string{"status=paused"}, want: psFilter{status: []string{"paused"}}},
		{name: "filter service", filters: []string{"service=web"}, want: psFilter{services: []string{"web"}}},
		{name: "bad status", status: []string{"up"}, wantErr: `invalid --status "up"`},
		{name: "bad filter status", filters: []string{"status=up"}, wantErr: `invalid --filter "status=up"`},
		{name: "no value", filters: []string{"status"}, wantErr: "KEY=VAL"},
		{name: "unknown", filters: []string{"name=x"}, wantErr: "unknown filter name"},
		{name: "source", filters: []string{"source=x"}, wantErr: "not implemented"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePsFilter(tt.status, tt.filters)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parsePsFilter = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parsePsFilter = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestComposePsFlags(t *testing.T) {
	cmd := newComposePsCmd(&globals{})
	fs := cmd.Flags()
	if err := fs.Parse([]string{"-a", "-q", "--status", "running", "--status=exited", "--filter", "status=paused", "--no-trunc", "--orphans=false", "--format", "json", "--services", "web"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"all", "quiet", "no-trunc", "services"} {
		if v, _ := fs.GetBool(name); !v {
			t.Errorf("--%s not set", name)
		}
	}
	if v, _ := fs.GetBool("orphans"); v {
		t.Errorf("--orphans=false not honoured")
	}
	if v, _ := fs.GetStringArray("status"); !slices.Equal(v, []string{"running", "exited"}) {
		t.Errorf("--status = %v", v)
	}
	if v, _ := fs.GetString("format"); v != "json" {
		t.Errorf("--format = %q", v)
	}
	if fs.Args()[0] != "web" {
		t.Errorf("args = %v", fs.Args())
	}
	def := newComposePsCmd(&globals{}).Flags()
	if v, _ := def.GetBool("orphans"); !v {
		t.Errorf("--orphans defaults to false, want true")
	}
}
