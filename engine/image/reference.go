package image

import (
	"fmt"
	"strings"

	digest "github.com/opencontainers/go-digest"

	"stack/engine/errdefs"
)

// Docker's default registry and the repository prefix it implies for
// single-component names (busybox = docker.io/library/busybox).
const (
	defaultDomain = "docker.io"
	legacyDomain  = "index.docker.io"
	officialRepo  = "library/"
	defaultTag    = "latest"
	maxNameLength = 255
	maxTagLength  = 128
)

// Reference is a parsed, normalised image reference:
// Domain/Path[:Tag][@Digest]. ParseReference fills Tag with "latest" when
// the input names neither a tag nor a digest, as docker does.
type Reference struct {
	Domain string        // "docker.io", "localhost:5000", "ghcr.io"
	Path   string        // "library/busybox", "x"
	Tag    string        // "latest"; "" only when Digest is set and no tag was given
	Digest digest.Digest // "" unless the input had @sha256:...
}

// Name is the normalised repository name, e.g. "docker.io/library/busybox".
func (r Reference) Name() string { return r.Domain + "/" + r.Path }

// String is the normalised reference, e.g. "docker.io/library/busybox:latest".
func (r Reference) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// FamiliarName is the repository name as docker prints it: "busybox",
// "foo/bar", "localhost:5000/x".
func (r Reference) FamiliarName() string {
	if r.Domain != defaultDomain {
		return r.Name()
	}
	return strings.TrimPrefix(r.Path, officialRepo)
}

// Familiar is the whole reference as docker prints it: "busybox:latest".
func (r Reference) Familiar() string {
	s := r.FamiliarName()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// FamiliarName shortens a normalised reference for display the way docker
// does (docker.io/library/busybox:latest -> busybox:latest). Input that is
// not a valid reference is returned unchanged, so it is safe on anything.
func FamiliarName(ref string) string {
	r, err := ParseReference(ref)
	if err != nil {
		return ref
	}
	// ParseReference adds ":latest" to bare names; keep the caller's form.
	if !hasTag(ref) && r.Digest == "" {
		r.Tag = ""
	}
	return r.Familiar()
}

// ParseReference parses and normalises an image reference the way the
// docker CLI does (distribution/reference ParseNormalizedNamed plus
// TagNameOnly): "busybox" is docker.io/library/busybox:latest, a first
// component with a "." or ":" or equal to "localhost" is a registry,
// repository names must be lower case, and a 64-hex string is refused
// because it would be mistaken for an image ID. Errors wrap
// errdefs.ErrInvalid and quote the input.
func ParseReference(ref string) (Reference, error) {
	bad := func(why string) (Reference, error) {
		return Reference{}, invalidf("invalid reference %q: %s", ref, why)
	}
	if ref == "" {
		return bad("empty")
	}
	if isHex64(ref) {
		return bad("cannot specify 64-byte hexadecimal strings as a repository name")
	}
	var r Reference
	rest := ref
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		d, err := digest.Parse(rest[i+1:])
		if err != nil {
			return bad("bad digest " + quote(rest[i+1:]))
		}
		r.Digest = d
		rest = rest[:i]
	}
	// The tag is after the last ":" that follows the last "/"; a ":" before
	// a "/" is a registry port.
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		r.Tag = rest[i+1:]
		rest = rest[:i]
		if !validTag(r.Tag) {
			return bad("bad tag " + quote(r.Tag) + " (want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})")
		}
	}
	if rest == "" {
		return bad("missing repository name")
	}
	domain, path := splitDomain(rest)
	if !validDomain(domain) {
		return bad("bad registry " + quote(domain))
	}
	if strings.ToLower(path) != path {
		return bad("repository name must be lowercase")
	}
	if err := validPath(path); err != "" {
		return bad(err)
	}
	r.Domain, r.Path = domain, path
	if len(r.Name()) > maxNameLength {
		return bad(fmt.Sprintf("repository name longer than %d characters", maxNameLength))
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = defaultTag
	}
	return r, nil
}

// hasTag reports whether a reference string names a tag explicitly.
func hasTag(ref string) bool {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	return strings.LastIndexByte(ref, ':') > strings.LastIndexByte(ref, '/')
}

// splitDomain is distribution/reference's splitDockerDomain: the first
// component is a registry only if it looks like a host name (has a "." or a
// ":", or is "localhost", or has upper case, which a path cannot).
func splitDomain(name string) (domain, path string) {
	i := strings.IndexByte(name, '/')
	if i < 0 || (!strings.ContainsAny(name[:i], ".:") && name[:i] != "localhost" && strings.ToLower(name[:i]) == name[:i]) {
		domain, path = defaultDomain, name
	} else {
		domain, path = name[:i], name[i+1:]
	}
	if domain == legacyDomain {
		domain = defaultDomain
	}
	if domain == defaultDomain && strings.IndexByte(path, '/') < 0 {
		path = officialRepo + path
	}
	return domain, path
}

// validDomain checks host[:port], host being dot-separated labels of
// letters, digits and inner hyphens, or a bracketed IPv6 address.
func validDomain(d string) bool {
	host, port := d, ""
	ipv6 := strings.HasPrefix(d, "[")
	if ipv6 {
		end := strings.IndexByte(d, ']')
		if end < 0 {
			return false
		}
		host, port = d[1:end], d[end+1:]
		if port != "" && port[0] != ':' {
			return false
		}
	} else if i := strings.IndexByte(d, ':'); i >= 0 {
		host, port = d[:i], d[i:]
	}
	if port != "" {
		if len(port) == 1 {
			return false
		}
		for _, c := range port[1:] {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	if ipv6 {
		for _, c := range host {
			if !isHexDigit(c) && c != ':' {
				return false
			}
		}
		return host != ""
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !isAlnum(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

// validPath checks path-component ("/" path-component)*, each component
// being [a-z0-9]+ joined by one separator: ".", "_", "__" or a run of "-".
// It returns why the path is bad, or "".
func validPath(p string) string {
	for _, comp := range strings.Split(p, "/") {
		if comp == "" {
			return "empty path component in repository name"
		}
		if !isLowerAlnum(rune(comp[0])) || !isLowerAlnum(rune(comp[len(comp)-1])) {
			return "repository name component " + quote(comp) + " must start and end with a letter or digit"
		}
		for i := 0; i < len(comp); {
			c := rune(comp[i])
			if isLowerAlnum(c) {
				i++
				continue
			}
			// A separator run: ".", "_", "__" or "-"+.
			j := i
			for j < len(comp) && !isLowerAlnum(rune(comp[j])) {
				j++
			}
			sep := comp[i:j]
			if sep != "." && sep != "_" && sep != "__" && strings.Trim(sep, "-") != "" {
				return "invalid characters " + quote(sep) + " in repository name component " + quote(comp)
			}
			i = j
		}
	}
	return ""
}

func validTag(t string) bool {
	if t == "" || len(t) > maxTagLength {
		return false
	}
	for i, c := range t {
		word := isAlnum(c) || c == '_'
		if !word && (i == 0 || (c != '.' && c != '-')) {
			return false
		}
	}
	return true
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !isLowerHex(c) {
			return false
		}
	}
	return true
}

func isLowerHex(c rune) bool   { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
func isHexDigit(c rune) bool   { return isLowerHex(c) || c >= 'A' && c <= 'F' }
func isLowerAlnum(c rune) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func isAlnum(c rune) bool      { return isLowerAlnum(c) || c >= 'A' && c <= 'Z' }

func quote(s string) string { return fmt.Sprintf("%q", s) }

// classified is an error with a plain message that still matches an
// errdefs sentinel with errors.Is, so user-facing text does not end in a
// redundant ": invalid argument".
type classified struct {
	msg  string
	kind error
}

func (e *classified) Error() string { return e.msg }
func (e *classified) Unwrap() error { return e.kind }

func invalidf(format string, args ...any) error {
	return &classified{msg: fmt.Sprintf(format, args...), kind: errdefs.ErrInvalid}
}
