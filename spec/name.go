package spec

import "strings"

// NormalizeProjectName turns s into a valid project name as docker compose
// does: lower case, only [a-z0-9_-] kept, leading '_' and '-' trimmed. The
// result may be empty.
func NormalizeProjectName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			b.WriteRune(r)
		}
	}
	return strings.TrimLeft(b.String(), "_-")
}

// ValidProjectName reports whether s is a project name docker compose
// accepts from -p or COMPOSE_PROJECT_NAME: non-empty and already in the
// form NormalizeProjectName gives.
func ValidProjectName(s string) bool {
	return s != "" && NormalizeProjectName(s) == s
}
