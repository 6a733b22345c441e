package oci

import (
	"math"
	"path"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// WithProcessArgs sets Process.Args by Docker's rules for a container's
// command. A nil slice means "not given"; a non-nil one, even empty, is an
// explicit override (compose `entrypoint: []`):
//
//   - a given entrypoint replaces the image's ENTRYPOINT and also drops the
//     image's CMD, as Docker does;
//   - a given cmd replaces the image's CMD;
//   - the args are the entrypoint followed by the cmd.
//
// It fails with "no command specified" if that leaves no args, or if the
// first arg is empty.
func WithProcessArgs(entrypoint, cmd, imgEntrypoint, imgCmd []string) SpecOpt {
	return func(s *specs.Spec) error {
		ep := imgEntrypoint
		c := imgCmd
		if entrypoint != nil {
			ep = entrypoint
			c = nil
		}
		if cmd != nil {
			c = cmd
		}
		args := make([]string, 0, len(ep)+len(c))
		args = append(append(args, ep...), c...)
		if len(args) == 0 || args[0] == "" {
			return invalidf("no command specified")
		}
		ensureProcess(s).Args = args
		return nil
	}
}

// WithEnv merges the image's environment and then the user's into
// Process.Env, Docker's order: what is already there (PATH from [Default],
// HOSTNAME from [WithHostname], TERM from [WithTTY]), then image, then user.
// A later value for a key replaces the earlier one in the earlier one's
// position, so a key keeps its first position.
//
// An entry without "=" ("KEY") is skipped, from the image and the user alike:
// compose means "take KEY from the host environment", and that resolution is
// the caller's job, done before this option. An entry with an empty key
// ("=x") is an error.
func WithEnv(image []string, user []string) SpecOpt {
	return func(s *specs.Spec) error {
		p := ensureProcess(s)
		env := slices.Clone(p.Env)
		for _, list := range [][]string{image, user} {
			for _, kv := range list {
				k, _, ok := strings.Cut(kv, "=")
				if !ok {
					continue
				}
				if k == "" {
					return invalidf("environment variable %q has an empty name", kv)
				}
				env = setEnv(env, kv)
			}
		}
		p.Env = env
		return nil
	}
}

// envIndex returns the index of key in env, or -1.
func envIndex(env []string, key string) int {
	return slices.IndexFunc(env, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == key
	})
}

// setEnv replaces the entry with kv's key in place, or appends kv.
func setEnv(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	if i := envIndex(env, k); i >= 0 {
		env[i] = kv
		return env
	}
	return append(env, kv)
}

// insertEnvAfter inserts kv after the last present of the keys listed (the
// daemon-set variables Docker puts first), or at the front.
func insertEnvAfter(env []string, kv string, after ...string) []string {
	at := 0
	for _, k := range after {
		if i := envIndex(env, k); i >= 0 && i+1 > at {
			at = i + 1
		}
	}
	return slices.Insert(env, at, kv)
}

// WithHostname sets the container's hostname (Docker's default is the short
// container ID; the caller passes it) and the HOSTNAME variable.
//
// Docker puts HOSTNAME right after PATH and lets the image's or the user's
// HOSTNAME win. So, in whichever order it runs with [WithEnv]: an absent
// HOSTNAME is inserted after PATH; one equal to the previous hostname (set by
// an earlier WithHostname) is updated; any other value came from the image
// or the user and is kept.
//
// The hostname must be 1 to 64 bytes (the kernel's limit) of printable,
// non-space characters.
func WithHostname(h string) SpecOpt {
	return func(s *specs.Spec) error {
		if h == "" || !validUTSName(h) {
			return invalidf("invalid hostname %q: want 1 to 64 printable characters without spaces", h)
		}
		old := s.Hostname
		s.Hostname = h
		p := ensureProcess(s)
		kv := "HOSTNAME=" + h
		switch i := envIndex(p.Env, "HOSTNAME"); {
		case i < 0:
			p.Env = insertEnvAfter(p.Env, kv, "PATH")
		case p.Env[i] == "HOSTNAME="+old:
			p.Env[i] = kv
		}
		return nil
	}
}

// WithDomainname sets the container's NIS domain name (compose domainname).
// Empty clears it. Same character rules as [WithHostname].
func WithDomainname(d string) SpecOpt {
	return func(s *specs.Spec) error {
		if d != "" && !validUTSName(d) {
			return invalidf("invalid domainname %q: want up to 64 printable characters without spaces", d)
		}
		s.Domainname = d
		return nil
	}
}

func validUTSName(n string) bool {
	return len(n) <= 64 && printable(n)
}

// printable reports whether s has no spaces and no control characters.
func printable(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// WithUser records the user the process runs as, unresolved, in
// Process.User.Username, exactly as compose or the image's USER gives it:
// "", "name", "uid", "name:group", "uid:gid", "name:gid" or "uid:group".
//
// Contract with the init. The spec's UID, GID and AdditionalGids are not
// the answer; the init resolves Username after pivot_root, against the
// container's /etc/passwd and /etc/group, as Docker does (moby getUser):
//
//   - "" means uid 0 and gid 0, looked up like "0";
//   - a name must exist in /etc/passwd; a numeric uid may be absent, and
//     then its gid is 0 unless given;
//   - a group part (name or gid) replaces the passwd gid; a group name must
//     exist in /etc/group;
//   - the supplementary groups are every /etc/group entry listing the user
//     by name, plus [AnnotationGroupAdd];
//   - HOME comes from the passwd entry ("/" if none) when Env has no HOME.
//
// Numeric ids must be at most 2147483647 (runc's limit). Names must not
// contain spaces or control characters.
func WithUser(user string) SpecOpt {
	return func(s *specs.Spec) error {
		if user != "" {
			name, group, hasGroup := strings.Cut(user, ":")
			if err := checkID(user, name); err != nil {
				return err
			}
			if hasGroup {
				if err := checkID(user, group); err != nil {
					return err
				}
			}
		}
		p := ensureProcess(s)
		p.User = specs.User{Username: user}
		return nil
	}
}

// checkID checks one side of a user string.
func checkID(user, part string) error {
	if part == "" || strings.Contains(part, ":") || !printable(part) {
		return invalidf("invalid user %q: want name, uid, name:group or uid:gid", user)
	}
	if !idInRange(part) {
		return invalidf("invalid user %q: id %s is above %d", user, part, math.MaxInt32)
	}
	return nil
}

// idInRange reports whether s is a name, or a numeric id runc accepts.
func idInRange(s string) bool {
	if !isDigits(s) {
		return true
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return err == nil && n <= math.MaxInt32
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// WithAdditionalGroups records compose group_add (group names or numeric
// gids) in the annotation [AnnotationGroupAdd], comma-joined, for the init to
// resolve against the container's /etc/group after pivot_root, next to the
// user (see [WithUser]). A name that is not in /etc/group is an error there;
// a numeric gid need not exist. Each call replaces the list; an empty list
// removes the annotation.
func WithAdditionalGroups(groups []string) SpecOpt {
	return func(s *specs.Spec) error {
		for _, g := range groups {
			if g == "" || strings.ContainsAny(g, ",:") || !printable(g) {
				return invalidf("invalid group %q", g)
			}
			if !idInRange(g) {
				return invalidf("invalid group %q: gid is above %d", g, math.MaxInt32)
			}
		}
		if len(groups) == 0 {
			delete(s.Annotations, AnnotationGroupAdd)
			return nil
		}
		setAnnotation(s, AnnotationGroupAdd, strings.Join(groups, ","))
		return nil
	}
}

// WithWorkdir sets the process's working directory. The caller passes the
// first non-empty of compose working_dir and the image's WorkingDir; empty
// means "/". The directory must be absolute (Docker's rule) and is cleaned.
// The init creates it if missing, as runc does.
func WithWorkdir(dir string) SpecOpt {
	return func(s *specs.Spec) error {
		if dir == "" {
			dir = "/"
		}
		if !path.IsAbs(dir) {
			return invalidf("working directory %q is not an absolute path", dir)
		}
		ensureProcess(s).Cwd = path.Clean(dir)
		return nil
	}
}

// WithTTY sets Process.Terminal. With a terminal, TERM=xterm is added when
// the environment has no TERM, after PATH and HOSTNAME as Docker orders
// them; a TERM from the image or the user wins, in whichever order this runs
// with [WithEnv]. WithTTY(false) leaves the environment alone.
func WithTTY(tty bool) SpecOpt {
	return func(s *specs.Spec) error {
		p := ensureProcess(s)
		p.Terminal = tty
		if tty && envIndex(p.Env, "TERM") < 0 {
			p.Env = insertEnvAfter(p.Env, "TERM=xterm", "PATH", "HOSTNAME")
		}
		return nil
	}
}
