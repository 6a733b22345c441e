package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"stack/engine/container"
	"stack/engine/logs"
)

func TestLogName(t *testing.T) {
	up := container.State{Status: container.Running}
	custom := composeContainer("my-proxy", "proxy", 1, false, up)
	tests := []struct {
		name, container, want string
	}{
		{name: "default name", container: "demo-web-1", want: "web-1"},
		{name: "replica", container: "demo-web-12", want: "web-12"},
		{name: "recreating", container: "0123456789ab_demo-web-1", want: "web-1"},
		{name: "custom name", container: "my-proxy", want: "my-proxy"},
		{name: "custom name with the project's prefix", container: "demo-proxy", want: "demo-proxy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := composeContainer("demo-web-1", "web", 1, false, up)
			if strings.HasSuffix(tt.container, "12") {
				c = composeContainer("demo-web-12", "web", 12, false, up)
			}
			if strings.Contains(tt.container, "proxy") {
				c = custom
			}
			c.Config.Name = tt.container
			if got := logName("demo", c); got != tt.want {
				t.Errorf("logName(%q) = %q, want %q", tt.container, got, tt.want)
			}
		})
	}
}

func TestLogPrinter(t *testing.T) {
	t0 := time.Date(2024, 5, 6, 12, 0, 0, 5, time.UTC)
	lines := []logLine{
		{Name: "web-1", Service: "web", Text: "hello", Time: t0},
		{Name: "worker-1", Service: "worker", Text: "working", Time: t0},
		{Name: "web-2", Service: "web", Text: "", Time: t0},
	}
	tests := []struct {
		name                      string
		color, prefix, timestamps bool
		want                      string
	}{
		{
			name: "prefix", prefix: true,
			want: "web-1     | hello\nworker-1  | working\nweb-2     | \n",
		},
		{
			name: "colour per service, stable", color: true, prefix: true,
			// worker is seeded first, so it takes the first colour.
			want: "\033[33mweb-1     | \033[0mhello\n\033[36mworker-1  | \033[0mworking\n\033[33mweb-2     | \033[0m\n",
		},
		{
			name: "no prefix", color: true,
			want: "hello\nworking\n\n",
		},
		{
			name: "timestamps", prefix: true, timestamps: true,
			want: "web-1     | 2024-05-06T12:00:00.000000005Z hello\n" +
				"worker-1  | 2024-05-06T12:00:00.000000005Z working\n" +
				"web-2     | 2024-05-06T12:00:00.000000005Z \n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			p := newLogPrinter(&out, tt.color, tt.prefix, tt.timestamps, []string{"worker", "web"})
			for _, l := range lines {
				p.register(l.Name, l.Service)
			}
			for _, l := range lines {
				p.print(l)
			}
			if out.String() != tt.want {
				t.Errorf("printed\n%q\nwant\n%q", out.String(), tt.want)
			}
		})
	}
}

// TestLogPrinterGrows: a container that appears while following widens the
// prefix of the lines after it, as compose's does.
func TestLogPrinterGrows(t *testing.T) {
	var out strings.Builder
	p := newLogPrinter(&out, false, true, false, nil)
	p.print(logLine{Name: "web-1", Service: "web", Text: "a"})
	p.print(logLine{Name: "worker-10", Service: "worker", Text: "b"})
	p.print(logLine{Name: "web-1", Service: "web", Text: "c"})
	want := "web-1  | a\nworker-10  | b\nweb-1      | c\n"
	if out.String() != want {
		t.Errorf("printed %q, want %q", out.String(), want)
	}
}

func TestLogColorsCycle(t *testing.T) {
	var services []string
	for i := range len(logColors) + 2 {
		services = append(services, string(rune('a'+i)))
	}
	p := newLogPrinter(nil, true, true, false, services)
	if p.colorOf("a") != "36" || p.colorOf("e") != "34" || p.colorOf("f") != "36;1" || p.colorOf("k") != "36" {
		t.Errorf("colours: a %s e %s f %s k %s, want compose's rainbow in order, cycling", p.colorOf("a"), p.colorOf("e"), p.colorOf("f"), p.colorOf("k"))
	}
	if p.colorOf("new") != logColors[2] {
		t.Errorf("a new service took %s, want the next colour %s", p.colorOf("new"), logColors[2])
	}
}

func TestLineJoiner(t *testing.T) {
	t0 := time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var got []logLine
	j := newLineJoiner("web-1", "web", func(l logLine) { got = append(got, l) })
	j.add(logs.Entry{Stream: "stdout", Time: at(1), Line: []byte("one\n")})
	j.add(logs.Entry{Stream: "stdout", Time: at(2), Line: []byte("lo"), Partial: true})
	j.add(logs.Entry{Stream: "stderr", Time: at(3), Line: []byte("err\n")})
	j.add(logs.Entry{Stream: "stdout", Time: at(4), Line: []byte("ng\n")})
	j.add(logs.Entry{Stream: "stderr", Time: at(5), Line: []byte("no newline"), Partial: true})
	j.flush()
	want := []logLine{
		{Name: "web-1", Service: "web", Stream: "stdout", Time: at(1), Text: "one"},
		{Name: "web-1", Service: "web", Stream: "stderr", Time: at(3), Text: "err"},
		{Name: "web-1", Service: "web", Stream: "stdout", Time: at(2), Text: "long"},
		{Name: "web-1", Service: "web", Stream: "stderr", Time: at(5), Text: "no newline"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("lines = %+v\nwant %+v", got, want)
	}
}

func TestMergeByTime(t *testing.T) {
	t0 := time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC)
	source := func(name string, secs ...int) <-chan logLine {
		ch := make(chan logLine) // unbuffered: the merge must not need more than one line ahead
		go func() {
			defer close(ch)
			for i, s := range secs {
				ch <- logLine{Name: name, Time: t0.Add(time.Duration(s) * time.Second), Text: name + string(rune('0'+i))}
			}
		}()
		return ch
	}
	tests := []struct {
		name string
		srcs func() []<-chan logLine
		want []string
	}{
		{name: "none", srcs: func() []<-chan logLine { return nil }},
		{name: "one", srcs: func() []<-chan logLine { return []<-chan logLine{source("a", 1, 2)} }, want: []string{"a0", "a1"}},
		{
			name: "interleaved",
			srcs: func() []<-chan logLine {
				return []<-chan logLine{source("a", 1, 4, 5), source("b", 2, 3, 6), source("c")}
			},
			want: []string{"a0", "b0", "b1", "a1", "a2", "b2"},
		},
		{
			name: "ties keep source order",
			srcs: func() []<-chan logLine { return []<-chan logLine{source("a", 1, 1), source("b", 1)} },
			want: []string{"a0", "a1", "b0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			mergeByTime(tt.srcs(), func(l logLine) { got = append(got, l.Text) })
			if !slices.Equal(got, tt.want) {
				t.Errorf("merged %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLogsFlags(t *testing.T) {
	now := time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC)
	cmd := newComposeLogsCmd(&globals{})
	fs := cmd.Flags()
	if err := fs.Parse([]string{"-f", "-n", "5", "-t", "--since", "10m", "--no-color", "--no-log-prefix", "--index", "2", "web"}); err != nil {
		t.Fatal(err)
	}
	var f logsFlags
	f.follow, _ = fs.GetBool("follow")
	f.timestamps, _ = fs.GetBool("timestamps")
	f.tail, _ = fs.GetString("tail")
	f.since, _ = fs.GetString("since")
	f.index, _ = fs.GetInt("index")
	o, err := f.options(fs.Args(), now)
	if err != nil {
		t.Fatal(err)
	}
	want := logOptions{Follow: true, Tail: 5, Since: now.Add(-10 * time.Minute), Index: 2}
	if o != want {
		t.Errorf("options = %+v, want %+v", o, want)
	}
	if nc, _ := fs.GetBool("no-color"); !nc {
		t.Error("--no-color not set")
	}
	if _, err := f.options([]string{"web", "db"}, now); err == nil || !strings.Contains(err.Error(), "--index requires one service") {
		t.Errorf("--index with two services: %v", err)
	}
	if _, err := (&logsFlags{tail: "x"}).options(nil, now); err == nil {
		t.Error("--tail x accepted")
	}
	def := newComposeLogsCmd(&globals{}).Flags()
	if v, _ := def.GetString("tail"); v != "all" {
		t.Errorf("--tail defaults to %q, want all", v)
	}
	if o, _ := (&logsFlags{tail: "all"}).options(nil, now); o.Tail != -1 {
		t.Errorf("--tail all = %d, want -1", o.Tail)
	}
}
