package logs

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// maxLogLine is the longest text one entry carries, newline excluded. Docker's
// copier (moby daemon/logger/copier.go) reads into a 16 KiB buffer and logs a
// full buffer without a newline as a partial message; we split at the same
// size, but independently of how the pipe happened to deliver the bytes.
const maxLogLine = 16 << 10

// Entry is one line, or one piece of a long line, of a container's output.
type Entry struct {
	// Stream is the name given to Writer.Stream: "stdout" or "stderr".
	Stream string
	// Time is when the writer read the line, in UTC.
	Time time.Time
	// Line is the text, including its trailing newline if it has one.
	// Read allocates it afresh for each entry, so fn may keep it.
	Line []byte
	// Partial reports that Line does not end in a newline: a line longer
	// than 16 KiB continues in the next entries of the same stream, or
	// the stream ended without a newline. Docker's format has no field for
	// this; it is derived from Line.
	Partial bool
}

// appendEntry appends the JSON line for one entry, newline included, exactly
// as moby's jsonlog.JSONLogs.MarshalJSONBuf writes it (without attrs).
func appendEntry(dst []byte, stream string, line []byte, t time.Time) []byte {
	dst = append(dst, '{')
	if len(line) > 0 {
		dst = append(dst, `"log":`...)
		dst = appendString(dst, line)
		dst = append(dst, ',')
	}
	if stream != "" {
		dst = append(dst, `"stream":`...)
		dst = appendString(dst, []byte(stream))
		dst = append(dst, ',')
	}
	dst = append(dst, `"time":"`...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"', '}', '\n')
}

// appendString appends s as a JSON string with moby's jsonlog escaping
// (ffjsonWriteJSONBytesAsString in jsonlogbytes.go), which is not
// encoding/json's: a tab is \u0009, not \t. Keeping it byte-identical lets
// tools that compare or grep Docker logs work on ours.
func appendString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '\\' && b != '"' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRune(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			// Valid JSON, but not valid JavaScript; encoding/json and
			// moby escape them too.
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonEntry is the decoding shape of a line; "attrs", which Docker writes
// for labels, env and tag, is ignored.
type jsonEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// parseEntry decodes one line of a log file, without its newline. It reports
// false for anything that is not a JSON object, such as a line torn by a
// crash: a strict prefix of an entry is never valid JSON, because the
// closing brace comes last.
func parseEntry(line []byte) (Entry, bool) {
	if len(line) < 2 || line[0] != '{' {
		return Entry{}, false
	}
	var je jsonEntry
	if err := json.Unmarshal(line, &je); err != nil {
		return Entry{}, false
	}
	return Entry{
		Stream:  je.Stream,
		Time:    je.Time.UTC(),
		Line:    []byte(je.Log),
		Partial: len(je.Log) == 0 || je.Log[len(je.Log)-1] != '\n',
	}, true
}
