package spec

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// env_file entries with format: raw are read as `docker run --env-file`
// reads a file: no quotes, no interpolation. compose-go leaves that format
// to its caller; docker compose registers the docker CLI's parser
// (cmd/compose/compose.go), and so does stack, with parseRawEnv.
func init() {
	dotenv.RegisterFormat("raw", parseRawEnv)
}

// parseRawEnv reads KEY=VALUE lines as docker's --env-file does: leading
// blanks and lines starting with '#' are skipped, the value is everything
// after the first '=' as it is, and a line with a key alone takes the
// value from lookup (or is skipped when lookup has none).
func parseRawEnv(r io.Reader, filename string, vars map[string]string, lookup func(string) (string, bool)) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		b := sc.Bytes()
		if n == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		if !utf8.Valid(b) {
			return fmt.Errorf("%s: line %d: invalid UTF-8", filename, n)
		}
		line := strings.TrimLeftFunc(string(b), unicode.IsSpace)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, hasValue := strings.Cut(line, "=")
		switch {
		case key == "":
			return fmt.Errorf("%s: line %d: no variable name", filename, n)
		case strings.ContainsFunc(key, unicode.IsSpace):
			return fmt.Errorf("%s: line %d: variable %q contains blanks", filename, n, key)
		case hasValue:
			vars[key] = value
		default:
			if v, ok := lookup(key); ok {
				vars[key] = v
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", filename, err)
	}
	return nil
}
