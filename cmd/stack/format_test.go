package main

import (
	"bytes"
	"testing"
	"time"
)

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "Less than a second"},
		{999 * time.Millisecond, "Less than a second"},
		{time.Second, "1 second"},
		{5 * time.Second, "5 seconds"},
		{59 * time.Second, "59 seconds"},
		{60 * time.Second, "About a minute"},
		{119 * time.Second, "About a minute"},
		{2 * time.Minute, "2 minutes"},
		{59 * time.Minute, "59 minutes"},
		{60 * time.Minute, "About an hour"},
		{89 * time.Minute, "About an hour"},
		{2 * time.Hour, "2 hours"},
		{47 * time.Hour, "47 hours"},
		{48 * time.Hour, "2 days"},
		{13 * 24 * time.Hour, "13 days"},
		{14 * 24 * time.Hour, "2 weeks"},
		{60 * 24 * time.Hour, "2 months"},
		{2 * 365 * 24 * time.Hour, "2 years"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestHumanSize(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0B"},
		{999, "999B"},
		{1000, "1kB"},
		{1500, "1.5kB"},
		{4194304, "4.194MB"},
		{1 << 30, "1.074GB"},
	}
	for _, tt := range tests {
		if got := humanSize(tt.n); got != tt.want {
			t.Errorf("humanSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	if got := humanSizePrecision(4194304, 3); got != "4.19MB" {
		t.Errorf("humanSizePrecision(4194304, 3) = %q, want %q", got, "4.19MB")
	}
}

func TestEllipsis(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want string
	}{
		{"short", 20, "short"},
		{"exactly twenty chars", 20, "exactly twenty chars"},
		{"twenty-one characters", 20, "twenty-one characte…"},
		{"héllo wörld", 5, "héll…"},
		{"abc", 1, "a"},
		{"abc", 0, ""},
	}
	for _, tt := range tests {
		if got := ellipsis(tt.s, tt.max); got != tt.want {
			t.Errorf("ellipsis(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	loc := time.FixedZone("X", 2*3600)
	now := time.Date(2024, 5, 6, 12, 0, 0, 0, loc)
	tests := []struct {
		name    string
		in      string
		want    time.Time
		wantErr bool
	}{
		{name: "empty", in: "", want: time.Time{}},
		{name: "zero", in: "0", want: time.Time{}},
		{name: "minutes", in: "10m", want: now.Add(-10 * time.Minute)},
		{name: "compound duration", in: "1h30m", want: now.Add(-90 * time.Minute)},
		{name: "seconds duration", in: "42s", want: now.Add(-42 * time.Second)},
		{name: "rfc3339 utc", in: "2024-01-02T15:04:05Z", want: time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC)},
		{name: "rfc3339 nano", in: "2024-01-02T15:04:05.5Z", want: time.Date(2024, 1, 2, 15, 4, 5, 5e8, time.UTC)},
		{name: "rfc3339 offset", in: "2024-01-02T15:04:05+01:00", want: time.Date(2024, 1, 2, 14, 4, 5, 0, time.UTC)},
		{name: "local seconds", in: "2024-01-02T15:04:05", want: time.Date(2024, 1, 2, 15, 4, 5, 0, loc)},
		{name: "local minutes", in: "2024-01-02T15:04", want: time.Date(2024, 1, 2, 15, 4, 0, 0, loc)},
		{name: "local hour", in: "2024-01-02T15", want: time.Date(2024, 1, 2, 15, 0, 0, 0, loc)},
		{name: "local date", in: "2024-01-02", want: time.Date(2024, 1, 2, 0, 0, 0, 0, loc)},
		{name: "date with zone", in: "2024-01-02Z", want: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)},
		{name: "unix", in: "1700000000", want: time.Unix(1700000000, 0)},
		{name: "unix fraction", in: "1700000000.25", want: time.Unix(1700000000, 25e7)},
		{name: "bad date", in: "2024-13-02", wantErr: true},
		{name: "garbage", in: "yesterday", wantErr: true},
		{name: "bad fraction", in: "17.1234567890", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTimestamp(tt.in, now)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseTimestamp(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseTimestamp(%q): %v", tt.in, err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("parseTimestamp(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestListFormat(t *testing.T) {
	type row struct{ ID, Names string }
	header := row{ID: "CONTAINER ID", Names: "NAMES"}
	rows := []any{row{"0123456789ab", "web"}, row{"ba9876543210", "db"}}
	tests := []struct {
		name, format, want string
	}{
		{name: "default table", format: "", want: "CONTAINER ID   NAMES\n0123456789ab   web\nba9876543210   db\n"},
		{name: "custom table", format: `table {{.Names}}\t{{.ID}}`, want: "NAMES     CONTAINER ID\nweb       0123456789ab\ndb        ba9876543210\n"},
		{name: "template", format: "{{.Names}}", want: "web\ndb\n"},
		{name: "json", format: "json", want: `{"ID":"0123456789ab","Names":"web"}` + "\n" + `{"ID":"ba9876543210","Names":"db"}` + "\n"},
		{name: "funcs", format: `{{upper .Names}} {{truncate .ID 4}}`, want: "WEB 012…\nDB ba9…\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseListFormat(tt.format, "table {{.ID}}\t{{.Names}}")
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := f.write(&buf, header, rows); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("output = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := parseListFormat("{{.ID", ""); err == nil {
		t.Error("parseListFormat of a broken template: no error")
	}
}

func TestWriteInspect(t *testing.T) {
	type obj struct {
		Name  string
		State struct{ Status string }
	}
	var a obj
	a.Name, a.State.Status = "/web", "running"
	tests := []struct {
		name   string
		format string
		elems  []obj
		want   string
	}{
		{name: "none", elems: nil, want: "[]\n"},
		{name: "array", elems: []obj{a}, want: "[\n    {\n        \"Name\": \"/web\",\n        \"State\": {\n            \"Status\": \"running\"\n        }\n    }\n]\n"},
		{name: "template", format: "{{.Name}} {{.State.Status}}", elems: []obj{a, a}, want: "/web running\n/web running\n"},
		{name: "json func", format: "{{json .State}}", elems: []obj{a}, want: "{\"Status\":\"running\"}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := writeInspect(&buf, tt.format, tt.elems); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("writeInspect = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCreatedAtText(t *testing.T) {
	ts := time.Date(2024, 5, 6, 12, 0, 0, 999, time.UTC)
	want := ts.Local().Truncate(time.Second).Format("2006-01-02 15:04:05 -0700 MST")
	if got := createdAtText(ts); got != want {
		t.Errorf("createdAtText = %q, want %q", got, want)
	}
}
