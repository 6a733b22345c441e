package image

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// ContainerConfig is the "config" object of a docker image config: the OCI
// fields plus the docker extensions that ocispec.ImageConfig has no room
// for. Its JSON is what docker writes, so configs we create read the same in
// docker.
type ContainerConfig struct {
	ocispec.ImageConfig
	Healthcheck *HealthConfig `json:"Healthcheck,omitempty"`
	OnBuild     []string      `json:"OnBuild,omitempty"`
	Shell       []string      `json:"Shell,omitempty"`
}

// HealthConfig is docker's healthcheck as stored in an image config.
// Durations are nanoseconds in JSON, as docker stores them; zero means
// "inherit / use the default".
type HealthConfig struct {
	// Test is ["NONE"], ["CMD", args...] or ["CMD-SHELL", command].
	Test          []string      `json:",omitempty"`
	Interval      time.Duration `json:",omitempty"`
	Timeout       time.Duration `json:",omitempty"`
	StartPeriod   time.Duration `json:",omitempty"`
	StartInterval time.Duration `json:",omitempty"`
	Retries       int           `json:",omitempty"`
}

// changeInstructions are the instructions docker import/commit accept in
// --change. ONBUILD is accepted by docker but deliberately not by us: a
// trigger would run in a later build nobody asked about at import time.
var changeInstructions = []string{"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}

// minHealthDuration is docker's lower bound for healthcheck durations
// (container.MinimumDuration).
const minHealthDuration = time.Millisecond

// ApplyChanges applies Dockerfile instructions given to `import -c` to cfg,
// in order, with Dockerfile semantics: JSON or shell form for CMD,
// ENTRYPOINT and VOLUME; ENV and LABEL in key=value form (quotes, escapes
// and $VAR expansion) or the legacy "ENV key value" form; ENTRYPOINT
// resets a CMD not set by an earlier change. A bad instruction is an error
// wrapping errdefs.ErrInvalid that quotes it; cfg may then be partly
// changed.
func ApplyChanges(cfg *ContainerConfig, changes []string) error {
	cmdSet := false
	for _, change := range changes {
		line := strings.TrimSpace(change)
		if line == "" {
			continue
		}
		kw, rest := cutSpace(line)
		kw = strings.ToUpper(kw)
		bad := func(format string, args ...any) error {
			return invalidf("invalid change %q: %s", change, fmt.Sprintf(format, args...))
		}
		if rest == "" && isChangeInstruction(kw) {
			return bad("%s requires at least one argument", kw)
		}
		env := cfg.Env
		switch kw {
		case "CMD":
			cfg.Cmd = commandForm(rest)
			cmdSet = true
		case "ENTRYPOINT":
			cfg.Entrypoint = commandForm(rest)
			if !cmdSet {
				// Dockerfile semantics: an inherited CMD was written for
				// the old entrypoint.
				cfg.Cmd = nil
			}
		case "ENV", "LABEL":
			kvs, err := parseKeyValues(kw, rest, env)
			if err != nil {
				return bad("%v", err)
			}
			for _, kv := range kvs {
				if kw == "ENV" {
					cfg.Env = setEnv(cfg.Env, kv[0], kv[1])
					continue
				}
				if cfg.Labels == nil {
					cfg.Labels = map[string]string{}
				}
				cfg.Labels[kv[0]] = kv[1]
			}
		case "EXPOSE":
			words, err := shellWords(rest, env, true)
			if err != nil {
				return bad("%v", err)
			}
			for _, w := range words {
				ports, err := parseExposedPort(w)
				if err != nil {
					return bad("%v", err)
				}
				if cfg.ExposedPorts == nil {
					cfg.ExposedPorts = map[string]struct{}{}
				}
				for _, p := range ports {
					cfg.ExposedPorts[p] = struct{}{}
				}
			}
		case "USER":
			words, err := shellWords(rest, env, true)
			if err != nil {
				return bad("%v", err)
			}
			if len(words) != 1 || words[0] == "" {
				return bad("USER requires exactly one argument")
			}
			cfg.User = words[0]
		case "WORKDIR":
			words, err := shellWords(rest, env, false)
			if err != nil {
				return bad("%v", err)
			}
			if len(words) != 1 || words[0] == "" {
				return bad("WORKDIR requires exactly one argument")
			}
			dir := words[0]
			if !path.IsAbs(dir) {
				dir = path.Join("/", cfg.WorkingDir, dir)
			}
			cfg.WorkingDir = path.Clean(dir)
		case "VOLUME":
			vols, ok := jsonArray(rest)
			if !ok {
				var err error
				if vols, err = shellWords(rest, env, true); err != nil {
					return bad("%v", err)
				}
			}
			if len(vols) == 0 {
				return bad("VOLUME requires at least one argument")
			}
			for _, v := range vols {
				if strings.TrimSpace(v) == "" {
					return bad("VOLUME specified can not be an empty string")
				}
				if cfg.Volumes == nil {
					cfg.Volumes = map[string]struct{}{}
				}
				cfg.Volumes[v] = struct{}{}
			}
		case "STOPSIGNAL":
			words, err := shellWords(rest, env, true)
			if err != nil {
				return bad("%v", err)
			}
			if len(words) != 1 {
				return bad("STOPSIGNAL requires exactly one argument")
			}
			if !validSignal(words[0]) {
				return bad("invalid signal %q", words[0])
			}
			cfg.StopSignal = words[0]
		case "HEALTHCHECK":
			hc, err := parseHealthcheck(rest)
			if err != nil {
				return bad("%v", err)
			}
			cfg.Healthcheck = hc
		case "ONBUILD":
			return bad("ONBUILD is not supported in --change")
		default:
			return bad("%s is not a valid change instruction (want one of %s)", kw, strings.Join(changeInstructions, ", "))
		}
	}
	return nil
}

// cutSpace splits s at its first blank into a head and a trimmed tail.
func cutSpace(s string) (head, tail string) {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i], strings.TrimSpace(s[i+1:])
	}
	return s, ""
}

func isChangeInstruction(kw string) bool {
	for _, c := range changeInstructions {
		if c == kw {
			return true
		}
	}
	return false
}

// commandForm is CMD/ENTRYPOINT argument parsing: a JSON string array is the
// exec form, anything else the shell form run by /bin/sh -c (verbatim, no
// variable expansion, as in a Dockerfile).
func commandForm(rest string) []string {
	if arr, ok := jsonArray(rest); ok {
		return arr
	}
	return []string{"/bin/sh", "-c", rest}
}

// jsonArray parses s as a JSON array of strings. Like the Dockerfile parser,
// anything that is not exactly that is the shell form, not an error.
func jsonArray(s string) ([]string, bool) {
	if !strings.HasPrefix(s, "[") {
		return nil, false
	}
	var arr []string
	if err := json.Unmarshal([]byte(s), &arr); err != nil {
		return nil, false
	}
	if arr == nil {
		arr = []string{}
	}
	return arr, true
}

// parseKeyValues parses ENV and LABEL arguments. The legacy form
// "ENV key the rest" is chosen, as docker does, when the first word has no
// "=".
func parseKeyValues(kw, rest string, env []string) ([][2]string, error) {
	words, err := shellWords(rest, env, true)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("%s requires at least one argument", kw)
	}
	if key, tail := cutSpace(rest); !strings.Contains(key, "=") {
		if tail == "" {
			return nil, fmt.Errorf("%s must have two arguments", kw)
		}
		value, err := shellWords(tail, env, false)
		if err != nil {
			return nil, err
		}
		return [][2]string{{key, strings.Join(value, "")}}, nil
	}
	var kvs [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return nil, fmt.Errorf("can't find = in %q, must be of the form name=value", w)
		}
		if k == "" {
			return nil, fmt.Errorf("%s names can not be blank", kw)
		}
		kvs = append(kvs, [2]string{k, v})
	}
	return kvs, nil
}

// setEnv sets key=value in env, replacing an earlier value of key.
func setEnv(env []string, key, value string) []string {
	kv := key + "=" + value
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			out := append([]string(nil), env...)
			out[i] = kv
			return out
		}
	}
	return append(append([]string(nil), env...), kv)
}

func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// shellWords is the Dockerfile word processor for instructions that allow
// environment replacement: single quotes are literal, double quotes allow
// \" \\ \$ and expansion, a backslash escapes the next character, and
// $VAR, ${VAR}, ${VAR:-word}, ${VAR:+word} (and the forms without ":")
// expand from env. With split, unquoted blanks separate words; without it
// the whole input is one word.
func shellWords(s string, env []string, split bool) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	flush := func() {
		if inWord {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case split && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			flush()
		case c == '\\':
			inWord = true
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			} else {
				cur.WriteByte(c)
			}
		case c == '\'':
			inWord = true
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unexpected end of statement while looking for matching single-quote")
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case c == '"':
			inWord = true
			i++
			closed := false
			for ; i < len(s); i++ {
				c := s[i]
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$", s[i+1]) >= 0 {
					i++
					cur.WriteByte(s[i])
					continue
				}
				if c == '$' {
					n, err := expandVar(s[i:], env, &cur)
					if err != nil {
						return nil, err
					}
					i += n - 1
					continue
				}
				cur.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("unexpected end of statement while looking for matching double-quote")
			}
		case c == '$':
			inWord = true
			n, err := expandVar(s[i:], env, &cur)
			if err != nil {
				return nil, err
			}
			i += n - 1
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	flush()
	if !split && len(words) == 0 {
		words = []string{""}
	}
	return words, nil
}

// expandVar expands the variable reference at the start of s (s[0] == '$')
// into out and returns how many bytes it consumed. A "$" not followed by a
// name is literal.
func expandVar(s string, env []string, out *strings.Builder) (int, error) {
	if len(s) < 2 {
		out.WriteByte('$')
		return 1, nil
	}
	if s[1] != '{' {
		n := 1
		for n < len(s) && isNameByte(s[n], n == 1) {
			n++
		}
		if n == 1 {
			out.WriteByte('$')
			return 1, nil
		}
		v, _ := lookupEnv(env, s[1:n])
		out.WriteString(v)
		return n, nil
	}
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return 0, fmt.Errorf("missing '}' in %q", s)
	}
	body := s[2:end]
	name := body
	op, word := "", ""
	for i := 0; i < len(body); i++ {
		if !isNameByte(body[i], i == 0) {
			name, op = body[:i], body[i:]
			break
		}
	}
	if name == "" {
		return 0, fmt.Errorf("bad substitution %q", s[:end+1])
	}
	v, set := lookupEnv(env, name)
	switch {
	case op == "":
	case strings.HasPrefix(op, ":-"), strings.HasPrefix(op, "-"):
		word = strings.TrimPrefix(strings.TrimPrefix(op, ":"), "-")
		if !set || (op[0] == ':' && v == "") {
			v = word
		}
	case strings.HasPrefix(op, ":+"), strings.HasPrefix(op, "+"):
		word = strings.TrimPrefix(strings.TrimPrefix(op, ":"), "+")
		if set && (op[0] != ':' || v != "") {
			v = word
		} else {
			v = ""
		}
	default:
		return 0, fmt.Errorf("unsupported modifier in %q", s[:end+1])
	}
	out.WriteString(v)
	return end + 1, nil
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (!first && c >= '0' && c <= '9')
}

// parseExposedPort turns "80", "80/udp" or "8000-8002/tcp" into docker's
// ExposedPorts keys ("80/tcp", ...). Ranges are expanded, as docker does.
func parseExposedPort(spec string) ([]string, error) {
	ports, proto, _ := strings.Cut(spec, "/")
	proto = strings.ToLower(proto)
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("invalid protocol %q in port %q (want tcp, udp or sctp)", proto, spec)
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	start, err := parsePort(lo)
	if err != nil {
		return nil, fmt.Errorf("invalid port %q: %v", spec, err)
	}
	end := start
	if isRange {
		if end, err = parsePort(hi); err != nil {
			return nil, fmt.Errorf("invalid port %q: %v", spec, err)
		}
		if end < start {
			return nil, fmt.Errorf("invalid port range %q: end before start", spec)
		}
	}
	out := make([]string, 0, end-start+1)
	for p := start; p <= end; p++ {
		out = append(out, strconv.Itoa(p)+"/"+proto)
	}
	return out, nil
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("want a number from 1 to 65535")
	}
	return n, nil
}

// validSignal accepts what docker's signal.ParseSignal accepts on Linux: a
// number, or a name with or without "SIG" in any case, including
// RTMIN+n / RTMAX-n.
func validSignal(s string) bool {
	if n, err := strconv.Atoi(s); err == nil {
		return n >= 1 && n <= 64
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if unix.SignalNum("SIG"+name) != 0 {
		return true
	}
	for _, base := range []string{"RTMIN", "RTMAX"} {
		if name == base {
			return true
		}
		sign := "+"
		if base == "RTMAX" {
			sign = "-"
		}
		if off, ok := strings.CutPrefix(name, base+sign); ok {
			n, err := strconv.Atoi(off)
			return err == nil && n >= 1 && n <= 15
		}
	}
	return false
}

// parseHealthcheck parses HEALTHCHECK [--flag=value...] CMD command | NONE.
func parseHealthcheck(rest string) (*HealthConfig, error) {
	hc := &HealthConfig{}
	rest = strings.TrimSpace(rest)
	for strings.HasPrefix(rest, "--") {
		var tok string
		tok, rest = cutSpace(rest)
		name, value, ok := strings.Cut(strings.TrimPrefix(tok, "--"), "=")
		if !ok {
			return nil, fmt.Errorf("flag %q needs a value (--%s=VALUE)", tok, name)
		}
		var dst *time.Duration
		switch name {
		case "interval":
			dst = &hc.Interval
		case "timeout":
			dst = &hc.Timeout
		case "start-period":
			dst = &hc.StartPeriod
		case "start-interval":
			dst = &hc.StartInterval
		case "retries":
			n, err := strconv.Atoi(value)
			if err != nil {
				return nil, fmt.Errorf("--retries %q: not a number", value)
			}
			if n < 0 {
				return nil, fmt.Errorf("--retries cannot be negative")
			}
			hc.Retries = n
			continue
		default:
			return nil, fmt.Errorf("unknown flag %q", "--"+name)
		}
		d, err := time.ParseDuration(value)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: %v", name, value, err)
		}
		if d < 0 {
			return nil, fmt.Errorf("--%s cannot be negative", name)
		}
		if d != 0 && d < minHealthDuration {
			return nil, fmt.Errorf("--%s cannot be less than %s", name, minHealthDuration)
		}
		*dst = d
	}
	typ, cmd := cutSpace(rest)
	switch strings.ToUpper(typ) {
	case "NONE":
		if cmd != "" {
			return nil, fmt.Errorf("HEALTHCHECK NONE takes no arguments")
		}
		return &HealthConfig{Test: []string{"NONE"}}, nil
	case "CMD":
		if cmd == "" {
			return nil, fmt.Errorf("missing command after HEALTHCHECK CMD")
		}
		if arr, ok := jsonArray(cmd); ok {
			if len(arr) == 0 {
				return nil, fmt.Errorf("missing command after HEALTHCHECK CMD")
			}
			hc.Test = append([]string{"CMD"}, arr...)
		} else {
			hc.Test = []string{"CMD-SHELL", cmd}
		}
		return hc, nil
	case "":
		return nil, fmt.Errorf("HEALTHCHECK needs CMD or NONE")
	default:
		return nil, fmt.Errorf("unknown type %q in HEALTHCHECK (want CMD or NONE)", typ)
	}
}
