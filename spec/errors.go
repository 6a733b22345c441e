package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/schema"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/tree"
	"github.com/compose-spec/compose-go/v2/types"
)

// Error is a problem in a compose file. It prints as
//
//	compose.yaml: services.web.ports[0]: invalid published port "80a": not a number
//
// File is the compose file, relative to the project directory when it is
// below it ("<stdin>" for standard input, "" when unknown). Service is the
// service the problem is in, if any. Field is the path of the attribute:
// below services.<Service> when Service is set ("ports[0]",
// "depends_on.db"), else from the top ("networks.front.ipam").
type Error struct {
	File    string
	Service string
	Field   string
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if loc := e.Location(); loc != "" {
		b.WriteString(loc)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Location is the attribute path in compose's notation:
// "services.web.ports[0]", "networks.front", or "" for the whole file.
func (e *Error) Location() string {
	switch {
	case e.Service == "":
		return e.Field
	case e.Field == "":
		return "services." + e.Service
	}
	return "services." + e.Service + "." + e.Field
}

// formatField writes path parts as a field: list indices in brackets.
func formatField(parts []string) string {
	var b strings.Builder
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err == nil {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// splitLocation splits the paths compose-go prints ("services.web.ports.0",
// "services[web].ports[0]", "services.web.environment.[]") into parts; an
// unknown list index ("[]") is dropped.
func splitLocation(s string) []string {
	s = strings.NewReplacer("[", ".", "]", "").Replace(s)
	return slices.DeleteFunc(strings.Split(s, "."), func(p string) bool { return p == "" })
}

// pathParts is the model path of a service field.
func pathParts(service, field string) []string {
	var parts []string
	if service != "" {
		parts = append(parts, "services", service)
	}
	return append(parts, splitLocation(field)...)
}

// errorAt builds an Error for the model path parts.
func (l *locator) errorAt(parts []string, err error) *Error {
	e := &Error{File: l.fileOf(parts...), Err: err}
	if len(parts) >= 2 && parts[0] == "services" {
		e.Service, e.Field = parts[1], formatField(parts[2:])
	} else {
		e.Field = formatField(parts)
	}
	return e
}

func (l *locator) wrap(service, field string, err error) *Error {
	return l.errorAt(pathParts(service, field), err)
}

func (l *locator) errorf(service, field, format string, args ...any) *Error {
	return l.wrap(service, field, fmt.Errorf(format, args...))
}

var (
	reExtends     = regexp.MustCompile(`^cannot extend service "([^"]*)" in (.*?): (.*)$`)
	reNonString   = regexp.MustCompile(`^non-string key (?:in|at) (\S+): (.*)$`)
	reDecoding    = regexp.MustCompile(`'([^']*)' (.*)`)
	reAdditional  = regexp.MustCompile(`^additional propert(?:y|ies) (.*) not allowed$`)
	reInterpolate = regexp.MustCompile(`^(?:error while interpolating|invalid interpolation format for) ([^\s:]*?)\.?[:\n]`)
	reServicePath = regexp.MustCompile(`^(services\.[^\s:]+):? (.*)$`)
)

// loadError turns an error of compose-go's loader into an *Error naming
// the file, service and field, by reading the path from compose-go's
// message or, where the message has none, by finding the culprit in the
// files. Anything it cannot place is returned as it is.
func (l *locator) loadError(err error, interpolate bool) error {
	if e := (*Error)(nil); errors.As(err, &e) {
		return err
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var errs []error
		for _, e := range j.Unwrap() {
			errs = append(errs, l.loadError(e, interpolate))
		}
		return errors.Join(errs...)
	}
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "failed to parse "):
		// "failed to parse FILE: yaml: line 3: ..."
		file, _, _ := strings.Cut(strings.TrimPrefix(msg, "failed to parse "), ": ")
		inner := errors.Unwrap(err)
		if inner == nil {
			inner = err
		}
		return &Error{File: l.rel(file), Err: errors.New(strings.TrimPrefix(inner.Error(), "yaml: "))}

	case strings.HasPrefix(msg, "validating "):
		// "validating FILE: PATH DETAIL", PATH empty at the top level
		file, rest, _ := strings.Cut(strings.TrimPrefix(msg, "validating "), ": ")
		path, detail, _ := strings.Cut(rest, " ")
		e := l.schemaError(splitLocation(path), detail)
		e.File = l.rel(file)
		return e

	case reInterpolate.MatchString(msg):
		m := reInterpolate.FindStringSubmatch(msg)
		if interpolate {
			if e := l.locateInterpolation(strings.Split(m[1], ".")); e != nil {
				return e
			}
		}
		return l.errorAt(splitLocation(m[1]), interpolationCause(err))

	case strings.HasPrefix(msg, "decoding failed"):
		// mapstructure: one "'services[web].mem_limit' invalid size: 'x'"
		// line per failure
		var errs []error
		for _, m := range reDecoding.FindAllStringSubmatch(msg, -1) {
			errs = append(errs, l.errorAt(splitLocation(m[1]), errors.New(m[2])))
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}

	case reExtends.MatchString(msg):
		m := reExtends.FindStringSubmatch(msg)
		e := l.wrap(m[1], "extends", errors.New(m[3]))
		e.File = l.rel(m[2])
		return e

	case reNonString.MatchString(msg):
		m := reNonString.FindStringSubmatch(msg)
		return l.errorAt(splitLocation(m[1]), errors.New("non-string key "+m[2]))

	case msg == "top-level object must be a mapping" || msg == "empty compose file":
		for i := range l.files {
			if _, ok := l.tree(i).(map[string]any); !ok {
				return &Error{File: l.rel(l.files[i].name), Err: errors.New(msg)}
			}
		}
	}
	if e := l.locateParse(interpolate); e != nil {
		return e
	}
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		if parts := l.locateValue(pe.Path); parts != nil {
			return l.errorAt(parts, fmt.Errorf("%s: %w", l.rel(pe.Path), pe.Err))
		}
	}
	if m := reServicePath.FindStringSubmatch(msg); m != nil {
		return l.errorAt(splitLocation(m[1]), errors.New(m[2]))
	}
	return err
}

// schemaError rewrites a JSON-schema failure at parts.
func (l *locator) schemaError(parts []string, detail string) *Error {
	switch {
	case detail == "false schema":
		// a key the service schema does not know
		return l.errorAt(parts, unknownKey(parts))
	case reAdditional.MatchString(detail):
		keys := reAdditional.FindStringSubmatch(detail)[1]
		if k, err := strconv.Unquote(`"` + strings.Trim(keys, "'") + `"`); err == nil && !strings.Contains(keys, ",") {
			parts = append(slices.Clone(parts), k)
			return l.errorAt(parts, unknownKey(parts))
		}
		return l.errorAt(parts, fmt.Errorf("unknown keys %s", keys))
	}
	detail = strings.Replace(detail, "must be a array", "must be a list", 1)
	return l.errorAt(parts, errors.New(detail))
}

// unknownKey says a key is not in the compose specification, and suggests
// the closest one it has at that place.
func unknownKey(parts []string) error {
	key := parts[len(parts)-1]
	parent := tree.NewPath(parts[:len(parts)-1]...)
	best, bestDist := "", 3
	for _, p := range schema.AttributePaths() {
		pp := p.Parts()
		if len(pp) != len(parts) || !parent.Matches(tree.NewPath(pp[:len(pp)-1]...)) {
			continue
		}
		if d := editDistance(key, pp[len(pp)-1]); d < bestDist {
			best, bestDist = pp[len(pp)-1], d
		}
	}
	if best != "" {
		return fmt.Errorf("unknown key (did you mean %q?)", best)
	}
	return errors.New("unknown key (not in the compose specification)")
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// interpolationCause is the reason of an interpolation failure, without
// compose-go's path prefix.
func interpolationCause(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		if ne.Func == "ParseBool" {
			return fmt.Errorf("invalid boolean %q: want true or false", ne.Num)
		}
		return fmt.Errorf("invalid number %q", ne.Num)
	}
	return templateError(errors.Unwrap(err), err)
}

func templateError(err, fallback error) error {
	var it *template.InvalidTemplateError
	if errors.As(err, &it) {
		return fmt.Errorf("invalid interpolation format %q (write a literal $ as $$)", it.Template)
	}
	if err == nil {
		return fallback
	}
	return err
}

// walkRaw visits every scalar of a file's YAML tree, maps in key order,
// until fn returns true.
func walkRaw(v any, parts []string, fn func(parts []string, v any) bool) bool {
	switch t := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(t)) {
			if walkRaw(t[k], append(parts, k), fn) {
				return true
			}
		}
	case []any:
		for i, e := range t {
			if walkRaw(e, append(parts, strconv.Itoa(i)), fn) {
				return true
			}
		}
	default:
		return fn(slices.Clone(parts), v)
	}
	return false
}

// find returns the first place in the top-level files where fn reports an
// error.
func (l *locator) find(fn func(parts []string, v any) error) *Error {
	for i := range l.files {
		var found *Error
		walkRaw(l.tree(i), nil, func(parts []string, v any) bool {
			if err := fn(parts, v); err != nil {
				found = l.errorAt(parts, err)
				found.File = l.rel(l.files[i].name)
				return true
			}
			return false
		})
		if found != nil {
			return found
		}
	}
	return nil
}

// locateInterpolation finds the value at pattern (a path where "[]" is
// any list index) whose interpolation fails: compose-go names the path but
// not the file, nor the list index.
func (l *locator) locateInterpolation(pattern []string) *Error {
	lookup := func(k string) (string, bool) { v, ok := l.env[k]; return v, ok }
	return l.find(func(parts []string, v any) error {
		s, ok := v.(string)
		if !ok || !matchParts(pattern, parts) {
			return nil
		}
		if _, err := template.Substitute(s, lookup); err != nil {
			return templateError(err, err)
		}
		return nil
	})
}

// matchParts matches a concrete path against a pattern whose "[]" parts
// match list indices.
func matchParts(pattern, parts []string) bool {
	if len(pattern) != len(parts) {
		return false
	}
	for i, p := range pattern {
		if _, err := strconv.Atoi(parts[i]); p != parts[i] && (p != "[]" || err != nil) {
			return false
		}
	}
	return true
}

// locateParse finds a short-syntax port or volume that does not parse
// (compose-go's message names neither), as compose-go sees it: after
// interpolation.
func (l *locator) locateParse(interpolate bool) *Error {
	lookup := func(k string) (string, bool) { v, ok := l.env[k]; return v, ok }
	return l.find(func(parts []string, v any) error {
		if len(parts) != 4 || parts[0] != "services" {
			return nil
		}
		s := fmt.Sprint(v)
		if interpolate {
			var err error
			if s, err = template.Substitute(s, lookup); err != nil {
				return nil
			}
		} else if strings.Contains(s, "$") {
			return nil
		}
		switch parts[2] {
		case "ports":
			if _, err := types.ParsePortConfig(s); err != nil {
				return portError(s, err)
			}
		case "volumes":
			if _, err := format.ParseVolume(s); err != nil {
				return fmt.Errorf("invalid volume %q: %s", s, strings.TrimPrefix(err.Error(), "invalid spec: "+s+": "))
			}
		}
		return nil
	})
}

// portError rewrites go-connections' port parse errors.
func portError(spec string, err error) error {
	msg := err.Error()
	what, val, ok := strings.Cut(msg, ": ")
	if !ok {
		return fmt.Errorf("invalid port %q: %s", spec, msg)
	}
	var kind string
	switch strings.ToLower(what) {
	case "invalid hostport":
		kind = "published port"
	case "invalid containerport":
		kind = "target port"
	case "invalid proto":
		return fmt.Errorf("invalid port %q: unknown protocol %q", spec, val)
	case "invalid ip address":
		return fmt.Errorf("invalid port %q: invalid host IP %q", spec, val)
	default:
		return fmt.Errorf("invalid port %q: %s", spec, msg)
	}
	reason := "out of range (1-65535)"
	if strings.Trim(val, "0123456789-") != "" {
		reason = "not a number"
	}
	return fmt.Errorf("invalid %s %q: %s", kind, val, reason)
}

// locateValue finds the string value naming path (an include or extends
// file that does not exist).
func (l *locator) locateValue(path string) []string {
	var found []string
	for i := range l.files {
		dir := l.workingDir
		if n := l.files[i].name; n != "-" {
			dir = filepath.Dir(n)
		}
		walkRaw(l.tree(i), nil, func(parts []string, v any) bool {
			s, ok := v.(string)
			if ok && (s == path || filepath.Join(dir, s) == path || filepath.Join(l.workingDir, s) == path) {
				found = parts
				return true
			}
			return false
		})
		if found != nil {
			return found
		}
	}
	return nil
}
