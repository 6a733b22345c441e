package logs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendEntryDockerFormat(t *testing.T) {
	ts := time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name   string
		stream string
		line   string
		t      time.Time
		want   string
	}{
		{"docker example", "stdout", "hello\n", ts,
			`{"log":"hello\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}` + "\n"},
		{"trailing zeros trimmed", "stderr", "x\n", time.Date(2024, 5, 1, 10, 0, 0, 100000000, time.UTC),
			`{"log":"x\n","stream":"stderr","time":"2024-05-01T10:00:00.1Z"}` + "\n"},
		{"whole second", "stderr", "x\n", time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
			`{"log":"x\n","stream":"stderr","time":"2024-05-01T10:00:00Z"}` + "\n"},
		{"converted to UTC", "stdout", "x\n", ts.In(time.FixedZone("CEST", 2*3600)),
			`{"log":"x\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}` + "\n"},
		{"partial", "stdout", "no newline", ts,
			`{"log":"no newline","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}` + "\n"},
		{"no stream", "", "x\n", ts,
			`{"log":"x\n","time":"2024-05-01T10:00:00.123456789Z"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendEntry(nil, tt.stream, []byte(tt.line), tt.t))
			if got != tt.want {
				t.Errorf("appendEntry(%q, %q) = %s, want %s", tt.stream, tt.line, got, tt.want)
			}
		})
	}
}

// TestAppendStringEscapes pins moby's jsonlog escaping, which differs from
// encoding/json for \t, \b and \f.
func TestAppendStringEscapes(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{"a\tb", `"a\u0009b"`},
		{"\b\f", `"\u0008\u000c"`},
		{"\x00\x1b[31m", `"\u0000\u001b[31m"`},
		{"<a href=\"x\">&</a>", `"\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e"`},
		{`back\slash`, `"back\\slash"`},
		{"cr\r\n", `"cr\r\n"`},
		{"bad \xff\xfe utf8", `"bad \ufffd\ufffd utf8"`},
		{"cut \xe2\x82", `"cut \ufffd\ufffd"`},
		{"sep \u2028\u2029", `"sep \u2028\u2029"`},
		{"ünïcödé €", `"ünïcödé €"`},
		{"\x7f", "\"\x7f\""},
	}
	for _, tt := range tests {
		if got := string(appendString(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("appendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// perByteValid replaces each invalid UTF-8 byte with U+FFFD, as the
// encoder does (strings.ToValidUTF8 would merge runs).
func perByteValid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // RuneError for an invalid byte
		i += n
	}
	return b.String()
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "hello\n", "\x00\t\r\n\"\\<>&", "\xff\xe2\x82", "\u2028", "日本語"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := appendString(nil, []byte(s))
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("appendString(%q) = %s: not JSON: %v", s, enc, err)
		}
		if want := perByteValid(s); got != want {
			t.Fatalf("appendString(%q) decodes to %q, want %q", s, got, want)
		}
		line := appendEntry(nil, "stdout", []byte(s), time.Unix(1, 2))
		e, ok := parseEntry(line[:len(line)-1])
		if s != "" && (!ok || string(e.Line) != got || e.Stream != "stdout" || !e.Time.Equal(time.Unix(1, 2))) {
			t.Fatalf("parseEntry(appendEntry(%q)) = %+v, %v", s, e, ok)
		}
	})
}

func TestParseEntry(t *testing.T) {
	ts := time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC)
	full := `{"log":"hello\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`
	tests := []struct {
		name string
		in   string
		want Entry
		ok   bool
	}{
		{"ours", full, Entry{Stream: "stdout", Time: ts, Line: []byte("hello\n")}, true},
		{"docker attrs", `{"log":"hi\n","stream":"stderr","attrs":{"tag":"web"},"time":"2024-05-01T12:00:00.123456789+02:00"}`,
			Entry{Stream: "stderr", Time: ts, Line: []byte("hi\n")}, true},
		{"partial", `{"log":"abc","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`,
			Entry{Stream: "stdout", Time: ts, Line: []byte("abc"), Partial: true}, true},
		{"escapes", `{"log":"\u003cb\u003e\u0009\ufffd\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`,
			Entry{Stream: "stdout", Time: ts, Line: []byte("<b>\t\ufffd\n")}, true},
		{"torn", full[:len(full)-1], Entry{}, false},
		{"torn in string", full[:12], Entry{}, false},
		{"tail of an entry", full[20:], Entry{}, false},
		{"garbage", "hello world", Entry{}, false},
		{"empty", "", Entry{}, false},
		{"array", `[1,2]`, Entry{}, false},
		{"two entries glued", full + full, Entry{}, false},
		{"bad time", `{"log":"x\n","stream":"stdout","time":"yesterday"}`, Entry{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseEntry([]byte(tt.in))
			if ok != tt.ok || got.Stream != tt.want.Stream || !got.Time.Equal(tt.want.Time) ||
				string(got.Line) != string(tt.want.Line) || got.Partial != tt.want.Partial {
				t.Errorf("parseEntry(%s) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}
