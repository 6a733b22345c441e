package container

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// The shim writes state.json at every change of a container's state, and
// the first change is on the start path: encoding/json would build its
// reflection-based encoders for State on that first use, at a cost of a
// millisecond of CPU in a freshly started process. appendStateJSON writes
// the same bytes as json.MarshalIndent(s, "", "  ") by hand
// (TestStateJSON compares them); state.json is read back with
// encoding/json as before.

// appendStateJSON appends s as indented JSON.
func appendStateJSON(b []byte, s *State) []byte {
	w := jsonObject{b: b, indent: "\n  "}
	w.str("status", string(s.Status))
	w.intOmit("pid", s.Pid)
	w.intOmit("shimPid", s.ShimPid)
	w.timeOmit("startedAt", s.StartedAt)
	w.timeOmit("finishedAt", s.FinishedAt)
	w.int("exitCode", s.ExitCode)
	w.boolOmit("oomKilled", s.OOMKilled)
	w.strOmit("error", s.Error)
	w.intOmit("restartCount", s.RestartCount)
	w.boolOmit("manualStop", s.ManualStop)
	if h := s.Health; h != nil {
		w.key("health")
		o := w.object()
		o.str("status", h.Status)
		o.int("failingStreak", h.FailingStreak)
		if len(h.Log) > 0 {
			o.key("log")
			a := o.array()
			for _, p := range h.Log {
				e := a.object()
				e.time("start", p.Start)
				e.time("end", p.End)
				e.int("exitCode", p.ExitCode)
				e.str("output", p.Output)
				a.b = e.end()
			}
			o.b = a.end()
		}
		w.b = o.end()
	}
	if len(s.Ports) > 0 {
		w.key("ports")
		a := w.array()
		for _, p := range s.Ports {
			e := a.object()
			e.str("proto", p.Proto)
			e.strOmit("hostIP", p.HostIP)
			e.int("hostPort", int(p.HostPort))
			e.intOmit("hostPortEnd", int(p.HostPortEnd))
			e.int("containerPort", int(p.ContainerPort))
			a.b = e.end()
		}
		w.b = a.end()
	}
	return w.end()
}

// jsonObject writes the members of one JSON object, indented as
// json.MarshalIndent does; indent is the newline and indentation that
// precede each member.
type jsonObject struct {
	b      []byte
	indent string
	n      int // members written
}

func (o *jsonObject) key(k string) {
	if o.n == 0 {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(o.b, o.indent...)
	o.b = appendJSONString(o.b, k)
	o.b = append(o.b, ':', ' ')
}

// end closes the object and returns the bytes.
func (o *jsonObject) end() []byte {
	if o.n == 0 {
		return append(o.b, '{', '}')
	}
	o.b = append(o.b, o.indent[:len(o.indent)-2]...)
	return append(o.b, '}')
}

// object starts a nested object as the value of the last key; its end
// returns the bytes to go on with.
func (o *jsonObject) object() jsonObject { return jsonObject{b: o.b, indent: o.indent + "  "} }

func (o *jsonObject) array() jsonArray { return jsonArray{b: o.b, indent: o.indent + "  "} }

func (o *jsonObject) str(k, v string) {
	o.key(k)
	o.b = appendJSONString(o.b, v)
}

func (o *jsonObject) strOmit(k, v string) {
	if v != "" {
		o.str(k, v)
	}
}

func (o *jsonObject) int(k string, v int) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, int64(v), 10)
}

func (o *jsonObject) intOmit(k string, v int) {
	if v != 0 {
		o.int(k, v)
	}
}

func (o *jsonObject) boolOmit(k string, v bool) {
	if v {
		o.key(k)
		o.b = append(o.b, "true"...)
	}
}

// time writes t as time.Time's MarshalJSON does.
func (o *jsonObject) time(k string, t time.Time) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = t.AppendFormat(o.b, time.RFC3339Nano)
	o.b = append(o.b, '"')
}

func (o *jsonObject) timeOmit(k string, t time.Time) {
	if !t.IsZero() {
		o.time(k, t)
	}
}

// jsonArray writes the elements of a JSON array of objects.
type jsonArray struct {
	b      []byte
	indent string
	n      int
}

// object starts the next element; the caller stores its end in a.b.
func (a *jsonArray) object() jsonObject {
	if a.n == 0 {
		a.b = append(a.b, '[')
	} else {
		a.b = append(a.b, ',')
	}
	a.n++
	a.b = append(a.b, a.indent...)
	return jsonObject{b: a.b, indent: a.indent + "  "}
}

func (a *jsonArray) end() []byte {
	if a.n == 0 {
		return append(a.b, '[', ']')
	}
	a.b = append(a.b, a.indent[:len(a.indent)-2]...)
	return append(a.b, ']')
}

// appendJSONString appends s quoted as encoding/json does by default:
// HTML-sensitive characters and U+2028/U+2029 escaped, invalid UTF-8
// replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
