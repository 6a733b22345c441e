package initproc

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ExecUser is a resolved container user.
type ExecUser struct {
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups, primary gid included
	Home   string
}

type passwdEntry struct {
	name string
	uid  uint32
	gid  uint32
	home string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// ResolveUser resolves a docker user string against the image's passwd and
// group files (either may be nil when the image has none), following
// Docker's rules (moby/sys/user GetExecUser):
//
//   - "" is root (0:0);
//   - a name must exist in passwd; a numeric uid need not;
//   - "user:group" takes the group by name (must exist) or number;
//   - without a group, the gid is the passwd entry's, or 0 for an unknown uid;
//   - supplementary groups are every group listing the user by name, plus
//     extra (compose group_add, by name or number), plus the primary gid;
//   - HOME is the passwd entry's home, else "/".
//
// uids and gids above MaxInt32 are refused: the kernel's uid_t is unsigned,
// but -1 has a special meaning in setresuid, and runc draws the line there.
func ResolveUser(spec string, passwd, group io.Reader, extra []string) (*ExecUser, error) {
	var users []passwdEntry
	var groups []groupEntry
	if passwd != nil {
		users = parsePasswd(passwd)
	}
	if group != nil {
		groups = parseGroup(group)
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	u := &ExecUser{Home: "/"}
	var name string
	if userPart == "" {
		userPart = "0"
	}
	if n, err := parseID(userPart); err == nil {
		u.UID = n
		for _, e := range users {
			if e.uid == n {
				name, u.GID, u.Home = e.name, e.gid, e.home
				break
			}
		}
	} else if err == errRange {
		return nil, fmt.Errorf("user %q: uid out of range", spec)
	} else {
		found := false
		for _, e := range users {
			if e.name == userPart {
				name, u.UID, u.GID, u.Home, found = e.name, e.uid, e.gid, e.home, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
		}
	}
	if hasGroup {
		gid, err := lookupGroup(groupPart, groups)
		if err != nil {
			return nil, err
		}
		u.GID = gid
	}
	if u.Home == "" {
		u.Home = "/"
	}
	seen := map[uint32]bool{u.GID: true}
	u.Groups = []uint32{u.GID}
	if name != "" && !hasGroup {
		for _, g := range groups {
			for _, m := range g.members {
				if m == name && !seen[g.gid] {
					seen[g.gid] = true
					u.Groups = append(u.Groups, g.gid)
				}
			}
		}
	}
	for _, x := range extra {
		gid, err := lookupGroup(x, groups)
		if err != nil {
			return nil, err
		}
		if !seen[gid] {
			seen[gid] = true
			u.Groups = append(u.Groups, gid)
		}
	}
	return u, nil
}

func lookupGroup(s string, groups []groupEntry) (uint32, error) {
	if n, err := parseID(s); err == nil {
		return n, nil
	} else if err == errRange {
		return 0, fmt.Errorf("group %q: gid out of range", s)
	}
	for _, g := range groups {
		if g.name == s {
			return g.gid, nil
		}
	}
	return 0, fmt.Errorf("unable to find group %s: no matching entries in group file", s)
}

var errRange = fmt.Errorf("out of range")

func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt32 {
		return 0, errRange
	}
	return uint32(n), nil
}

func parsePasswd(r io.Reader) []passwdEntry {
	var out []passwdEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 6 || strings.HasPrefix(f[0], "#") {
			continue
		}
		uid, err1 := parseID(f[2])
		gid, err2 := parseID(f[3])
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, passwdEntry{name: f[0], uid: uid, gid: gid, home: f[5]})
	}
	return out
}

func parseGroup(r io.Reader) []groupEntry {
	var out []groupEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		gid, err := parseID(f[2])
		if err != nil {
			continue
		}
		g := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 && f[3] != "" {
			g.members = strings.Split(f[3], ",")
		}
		out = append(out, g)
	}
	return out
}

// current root (called after pivot_root, so these are the image's files).
