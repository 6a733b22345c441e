package logs

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"stack/engine/errdefs"
)

// Defaults used by ParseOptions for options the user did not set. Docker's
// json-file driver never rotates by default; we do, so that a chatty
// container cannot fill the disk.
const (
	DefaultMaxSize  = 10 << 20 // 10 MiB
	DefaultMaxFiles = 5
)

// Options configure a Writer. The zero value writes one file that is never
// rotated.
type Options struct {
	// MaxSize is the size in bytes at which the file is rotated; 0 means
	// never rotate.
	MaxSize int64
	// MaxFiles is the number of files kept, the current one included. It
	// must be at least 1 when MaxSize > 0. With 1, rotation starts the
	// file afresh and the old contents are gone once readers close them.
	MaxFiles int
	// Now stamps entries; nil means time.Now. Tests inject a clock.
	Now func() time.Time
}

// OptionError reports a bad json-file log option. It matches both Err and
// errdefs.ErrInvalid under errors.Is.
type OptionError struct {
	Key, Value string
	Err        error
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("json-file log option %s=%q: %v", e.Key, e.Value, e.Err)
}

func (e *OptionError) Unwrap() []error { return []error{e.Err, errdefs.ErrInvalid} }

var (
	errUnknownOption     = errors.New("unknown option")
	errUnsupportedOption = errors.New("option not supported by stack")
)

// ParseOptions reads Docker's json-file log options (compose's
// logging.options):
//
//   - max-size: the size at which to rotate, as Docker parses it
//     (go-units RAMInBytes: "500k", "10m", "1g", "1.5MiB", "2048"; binary
//     multiples, case-insensitive, optional "b"/"ib"); it must be positive.
//   - max-file: the number of files kept, at least 1.
//
// Absent options take the defaults DefaultMaxSize (10 MiB) and
// DefaultMaxFiles (5); a nil or empty map gives exactly those. Docker's
// other json-file options (compress, labels, labels-regex, env, env-regex,
// tag) are refused as unsupported rather than silently ignored, and any other
// key is refused as unknown; both errors name the key. Keys are checked in
// sorted order, so the error is deterministic.
func ParseOptions(opts map[string]string) (Options, error) {
	o := Options{MaxSize: DefaultMaxSize, MaxFiles: DefaultMaxFiles}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := opts[k]
		switch k {
		case "max-size":
			n, err := parseRAMInBytes(v)
			if err != nil {
				return Options{}, &OptionError{Key: k, Value: v, Err: err}
			}
			if n <= 0 {
				return Options{}, &OptionError{Key: k, Value: v, Err: errors.New("must be a positive number")}
			}
			o.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil {
				return Options{}, &OptionError{Key: k, Value: v, Err: errors.New("not an integer")}
			}
			if n < 1 {
				return Options{}, &OptionError{Key: k, Value: v, Err: errors.New("cannot be less than 1")}
			}
			o.MaxFiles = n
		case "compress", "labels", "labels-regex", "env", "env-regex", "tag":
			return Options{}, &OptionError{Key: k, Value: v, Err: errUnsupportedOption}
		default:
			return Options{}, &OptionError{Key: k, Value: v, Err: errUnknownOption}
		}
	}
	return o, nil
}

// parseRAMInBytes parses a size the way github.com/docker/go-units
// RAMInBytes (v0.5) does, which is what Docker applies to max-size: a
// non-negative decimal number, then an optional space, then an optional
// suffix b, or k/m/g/t/p (powers of 1024) followed by nothing, "b" or "ib",
// case-insensitive. Fractions are truncated ("32.3" is 32). Unlike go-units
// it refuses values that overflow int64 instead of wrapping them.
func parseRAMInBytes(s string) (int64, error) {
	num, sfx, ok := strings.Cut(s, " ")
	if !ok {
		sep := strings.LastIndexAny(s, "0123456789.")
		if sep < 0 {
			return 0, fmt.Errorf("invalid size %q", s)
		}
		num, sfx = s[:sep+1], s[sep+1:]
	}
	size, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(size) || math.IsInf(size, 0) || size < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	if sfx != "" {
		l := strings.ToLower(sfx)
		mul, ok := map[byte]float64{'b': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40, 'p': 1 << 50}[l[0]]
		switch {
		case !ok, len(l) > 3,
			l[0] == 'b' && len(l) > 1,
			len(l) == 2 && l[1] != 'b',
			len(l) == 3 && l[1:] != "ib":
			return 0, fmt.Errorf("invalid suffix %q", sfx)
		}
		size *= mul
	}
	if size >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(size), nil
}
