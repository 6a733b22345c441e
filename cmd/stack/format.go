package main

// Output helpers shared by the CLI's commands: docker's human durations and
// sizes, its table layout, its --format templates and its timestamp flags.
// They copy the rules of the docker CLI and go-units, so that output and
// flags read the same as docker's.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
	"unicode/utf8"

	"stack/engine"
)

// humanDuration is go-units HumanDuration: "Less than a second",
// "5 seconds", "About a minute", "3 hours", "2 weeks", ...
func humanDuration(d time.Duration) string {
	if seconds := int(d.Seconds()); seconds < 1 {
		return "Less than a second"
	} else if seconds == 1 {
		return "1 second"
	} else if seconds < 60 {
		return fmt.Sprintf("%d seconds", seconds)
	} else if minutes := int(d.Minutes()); minutes == 1 {
		return "About a minute"
	} else if minutes < 60 {
		return fmt.Sprintf("%d minutes", minutes)
	} else if hours := int(math.Round(d.Hours())); hours == 1 {
		return "About an hour"
	} else if hours < 48 {
		return fmt.Sprintf("%d hours", hours)
	} else if hours < 24*7*2 {
		return fmt.Sprintf("%d days", hours/24)
	} else if hours < 24*30*2 {
		return fmt.Sprintf("%d weeks", hours/24/7)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

// timeAgo is docker's CREATED column: "5 seconds ago".
func timeAgo(t, now time.Time) string {
	return humanDuration(now.Sub(t)) + " ago"
}

var decimalUnits = []string{"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"}

// humanSize is go-units HumanSize: decimal units, 4 significant digits
// ("0B", "1.5kB", "4.194MB").
func humanSize(bytes int64) string { return humanSizePrecision(float64(bytes), 4) }

// humanSizePrecision is go-units HumanSizeWithPrecision; `docker images`
// uses precision 3 ("4.19MB").
func humanSizePrecision(size float64, precision int) string {
	i := 0
	for size >= 1000 && i < len(decimalUnits)-1 {
		size /= 1000
		i++
	}
	return fmt.Sprintf("%.*g%s", precision, size, decimalUnits[i])
}

// ellipsis shortens s to at most max characters, the last being "…", as
// the docker CLI's formatter.Ellipsis does for ASCII and other
// single-width text.
func ellipsis(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	rs := []rune(s)
	if max == 1 {
		return string(rs[0])
	}
	return string(rs[:max-1]) + "…"
}

// newTable returns the tabwriter docker's table formats use (docker CLI
// formatter.Context: minwidth 10, padding 3).
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
}

// newTopTable returns the tabwriter of docker top (minwidth 20).
func newTopTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 20, 1, 3, ' ', 0)
}

// templateFuncs are the docker CLI's template functions (cli/templates).
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSpace(buf.String()), nil
	},
	"split":    strings.Split,
	"join":     strings.Join,
	"title":    func(s string) string { return strings.ToUpper(s[:min(1, len(s))]) + s[min(1, len(s)):] },
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      func(s string, l, r int) string { return strings.Repeat(" ", l) + s + strings.Repeat(" ", r) },
	"truncate": func(s string, n int) string { return ellipsis(s, n) },
	"println":  func(args ...any) string { return fmt.Sprintln(args...) },
}

// listFormat is a parsed --format for a list command: docker's "table",
// "table TEMPLATE", "json" or a bare Go template.
type listFormat struct {
	table bool
	tmpl  *template.Template
}

// parseListFormat parses format; "" and "table" mean def, which must be a
// "table ..." format. "json" prints each row as one JSON object per line.
func parseListFormat(format, def string) (*listFormat, error) {
	switch strings.TrimSpace(format) {
	case "", "table":
		format = def
	case "json":
		format = "{{json .}}"
	}
	f := &listFormat{}
	if rest, ok := strings.CutPrefix(format, "table"); ok {
		f.table, format = true, rest
	}
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(strings.Trim(format, " "))
	t, err := template.New("format").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	f.tmpl = t
	return f, nil
}

// write renders rows; header, a row whose fields hold the column titles,
// is rendered first for a table.
func (f *listFormat) write(w io.Writer, header any, rows []any) error {
	var out io.Writer = w
	var tw *tabwriter.Writer
	if f.table {
		tw = newTable(w)
		out = tw
		if err := f.line(out, header); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if err := f.line(out, r); err != nil {
			return err
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

func (f *listFormat) line(w io.Writer, v any) error {
	var buf bytes.Buffer
	if err := f.tmpl.Execute(&buf, v); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// createdAtText is docker's CreatedAt field of list formats: local time
// to the second, time.Time's String layout ("2024-05-06 14:00:00 +0200 CEST").
func createdAtText(t time.Time) string {
	return time.Unix(t.Unix(), 0).String()
}

// writeInspect prints docker's inspect output for any kind of object: a
// JSON array indented with four spaces (what `docker inspect` prints), or,
// with a format, the Go template once per element ("json" means the array).
func writeInspect[T any](w io.Writer, format string, elems []T) error {
	if format == "" || format == "json" {
		if elems == nil {
			elems = []T{} // docker prints [] for nothing found
		}
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "    ")
		return enc.Encode(elems)
	}
	lf, err := parseListFormat(format, "")
	if err != nil {
		return err
	}
	rows := make([]any, len(elems))
	for i, e := range elems {
		rows[i] = e
	}
	return lf.write(w, nil, rows)
}

// rfc3339NanoFixed is docker's timestamp for `logs -t`: RFC 3339 with
// always nine fractional digits, so that timestamps line up.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

// parseTimestamp reads a --since or --until value as docker does
// (api/types/time.GetTimestamp): a Go duration before now ("10m", "1h30m"),
// a Unix time in seconds ("1700000000", "1700000000.5"), or an RFC 3339
// date or time, complete or cut short ("2024-01-02", "2024-01-02T15:04",
// "2024-01-02T15:04:05.999Z", "2024-01-02T15:04:05+01:00"); without a zone
// it is local time. "" is the zero time (no bound), and so is "0".
func parseTimestamp(value string, now time.Time) (time.Time, error) {
	if value == "" || value == "0" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(value); err == nil {
		return now.Add(-d), nil
	}
	const (
		rfc3339Local     = "2006-01-02T15:04:05"
		rfc3339NanoLocal = "2006-01-02T15:04:05.999999999"
		dateWithZone     = "2006-01-02Z07:00"
		dateLocal        = "2006-01-02"
	)
	// A Z, a + or three dashes mean the value carries its zone.
	inLocation := !(strings.ContainsAny(value, "zZ+") || strings.Count(value, "-") == 3)
	var format string
	switch {
	case strings.Contains(value, "."):
		format = time.RFC3339Nano
		if inLocation {
			format = rfc3339NanoLocal
		}
	case strings.Contains(value, "T"):
		colons := strings.Count(value, ":")
		// A numeric zone offset holds one more colon.
		if !inLocation && !strings.ContainsAny(value, "zZ") && colons > 0 {
			colons--
		}
		switch {
		case inLocation && colons == 0:
			format = "2006-01-02T15"
		case inLocation && colons == 1:
			format = "2006-01-02T15:04"
		case inLocation:
			format = rfc3339Local
		case colons == 0:
			format = "2006-01-02T15Z07:00"
		case colons == 1:
			format = "2006-01-02T15:04Z07:00"
		default:
			format = time.RFC3339
		}
	case inLocation:
		format = dateLocal
	default:
		format = dateWithZone
	}
	var t time.Time
	var err error
	if inLocation {
		t, err = time.ParseInLocation(format, value, now.Location())
	} else {
		t, err = time.Parse(format, value)
	}
	if err == nil {
		return t, nil
	}
	if strings.Contains(value, "-") {
		// Meant as a date, but not a valid one.
		return time.Time{}, fmt.Errorf("invalid time %q: %w", value, err)
	}
	return parseUnixTime(value)
}

// parseUnixTime reads seconds since the epoch with an optional fraction of
// up to nine digits.
func parseUnixTime(value string) (time.Time, error) {
	bad := fmt.Errorf("invalid time %q: want a duration such as 10m, a Unix time, or an RFC 3339 date or time", value)
	secs, frac, hasFrac := strings.Cut(value, ".")
	s, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Time{}, bad
	}
	var ns int64
	if hasFrac {
		if frac == "" || len(frac) > 9 {
			return time.Time{}, bad
		}
		if ns, err = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64); err != nil || ns < 0 {
			return time.Time{}, bad
		}
	}
	if s == 0 && ns == 0 {
		return time.Time{}, nil
	}
	return time.Unix(s, ns), nil
}

// removeEach removes each named object with rm, printing the name of each
// one removed, as docker's rm verbs do. With force, an object that does
// not exist is no error. The errors of the others are joined.
func removeEach(out io.Writer, names []string, force bool, rm func(string) error) error {
	var errs []error
	for _, name := range names {
		if err := rm(name); err != nil {
			if force && errors.Is(err, engine.ErrNotFound) {
				continue
			}
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(out, name)
	}
	return errors.Join(errs...)
}
