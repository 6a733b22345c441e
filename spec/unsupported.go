package spec

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/tree"
	"github.com/compose-spec/compose-go/v2/types"
)

// unsupportedKey is a compose attribute stack accepts but does not
// implement yet. Load warns about each use of one, naming the file and the
// path; the attribute is then ignored.
type unsupportedKey struct {
	// Path is a compose-go tree path ("*" any key, "[]" any list item).
	Path string
	// Detect, when set, makes only some values unsupported (the attribute
	// itself is converted); nil means every use is unsupported.
	Detect func(v any) bool
	// Effect says what stack does instead; "" means "ignored".
	Effect string
}

// unsupported is the table of what stack does not implement yet. The
// supported set is what the runtime core (issue 3), the compose core
// (issue 4), networking (issue 5) and volumes (issue 6) implement, plus the
// builder's common subset. A path in neither this table nor `converted`
// (convert.go) is reported too, so a newer compose attribute is never
// dropped silently; convert_test.go checks that both lists together cover
// the whole compose specification and every field of compose-go's types.
var unsupported = []unsupportedKey{
	// services: container options the runtime does not implement
	{Path: "services.*.blkio_config"},
	{Path: "services.*.cgroup"},
	{Path: "services.*.cgroup_parent"},
	{Path: "services.*.cpu_count"},
	{Path: "services.*.cpu_percent"},
	{Path: "services.*.cpu_period"},
	{Path: "services.*.cpu_quota"},
	{Path: "services.*.cpu_rt_period"},
	{Path: "services.*.cpu_rt_runtime"},
	{Path: "services.*.credential_spec", Effect: "ignored (Windows only)"},
	{Path: "services.*.device_cgroup_rules"},
	{Path: "services.*.devices"},
	{Path: "services.*.gpus"},
	{Path: "services.*.isolation", Effect: "ignored (Windows only)"},
	{Path: "services.*.mac_address"},
	{Path: "services.*.mem_swappiness"},
	{Path: "services.*.oom_kill_disable"},
	{Path: "services.*.oom_score_adj"},
	{Path: "services.*.runtime"},
	{Path: "services.*.storage_opt"},
	{Path: "services.*.umask"},
	{Path: "services.*.userns_mode"},
	{Path: "services.*.uts"},
	{Path: "services.*.use_api_socket"},
	// services: compose features beyond the compose core
	{Path: "services.*.develop", Effect: "ignored (no watch mode yet)"},
	{Path: "services.*.post_start"},
	{Path: "services.*.pre_start"},
	{Path: "services.*.pre_stop"},
	{Path: "services.*.provider"},
	{Path: "services.*.models"},
	{Path: "services.*.pull_refresh_after"},
	// services: parts of supported attributes
	{Path: "services.*.deploy.mode", Detect: notIn("replicated"), Effect: "replicas are started as for mode: replicated"},
	{Path: "services.*.deploy.endpoint_mode", Effect: "ignored (Swarm only)"},
	{Path: "services.*.deploy.labels", Effect: "ignored (Swarm only)"},
	{Path: "services.*.deploy.placement", Effect: "ignored (Swarm only)"},
	{Path: "services.*.deploy.rollback_config", Effect: "ignored (Swarm only)"},
	{Path: "services.*.deploy.update_config", Effect: "ignored (Swarm only)"},
	{Path: "services.*.deploy.restart_policy.delay"},
	{Path: "services.*.deploy.restart_policy.window"},
	{Path: "services.*.deploy.resources.reservations.cpus"},
	{Path: "services.*.deploy.resources.reservations.devices"},
	{Path: "services.*.deploy.resources.reservations.generic_resources"},
	{Path: "services.*.build.cache_from"},
	{Path: "services.*.build.cache_to"},
	{Path: "services.*.build.entitlements"},
	{Path: "services.*.build.extra_hosts"},
	{Path: "services.*.build.isolation"},
	{Path: "services.*.build.network"},
	{Path: "services.*.build.no_cache_filter"},
	{Path: "services.*.build.platforms"},
	{Path: "services.*.build.privileged"},
	{Path: "services.*.build.provenance"},
	{Path: "services.*.build.sbom"},
	{Path: "services.*.build.shm_size"},
	{Path: "services.*.build.ssh"},
	{Path: "services.*.build.ulimits"},
	{Path: "services.*.logging.driver", Detect: notIn("json-file"), Effect: "logs are kept as json-file"},
	{Path: "services.*.networks.*.driver_opts"},
	{Path: "services.*.networks.*.gw_priority"},
	{Path: "services.*.networks.*.interface_name"},
	{Path: "services.*.networks.*.link_local_ips"},
	{Path: "services.*.networks.*.mac_address"},
	{Path: "services.*.networks.*.use_service_name_alias"},
	{Path: "services.*.ports.[].app_protocol"},
	{Path: "services.*.ports.[].protocol", Detect: notIn("tcp", "udp"), Effect: "the port is not published"},
	{Path: "services.*.volumes.[].type", Detect: notIn(MountVolume, MountBind, MountTmpfs), Effect: "the mount is ignored"},
	{Path: "services.*.volumes.[].bind.recursive"},
	{Path: "services.*.volumes.[].image"},
	{Path: "services.*.volumes.[].volume.labels"},
	// top level
	{Path: "networks.*.driver", Detect: notIn("bridge"), Effect: "a bridge network is used"},
	{Path: "networks.*.enable_ipv4"},
	{Path: "networks.*.ipam.driver", Detect: notIn("default"), Effect: "stack's own address allocation is used"},
	{Path: "networks.*.ipam.options"},
	{Path: "networks.*.ipam.config.[].aux_addresses"},
	{Path: "volumes.*.driver", Detect: notIn("local"), Effect: "the local driver is used"},
	{Path: "configs.*.template_driver"},
	{Path: "secrets.*.driver"},
	{Path: "secrets.*.driver_opts"},
	{Path: "secrets.*.template_driver"},
	{Path: "models"},
	{Path: "jobs"},
}

func notIn(values ...string) func(any) bool {
	return func(v any) bool {
		s, ok := v.(string)
		return !ok || !slices.Contains(values, s)
	}
}

// finding is one use of an attribute stack does not support.
type finding struct {
	parts []string        // concrete path, list indices as numbers
	key   *unsupportedKey // nil: an attribute in neither table
	value any
}

// attributeMatcher knows the converted attributes.
type attributeMatcher struct {
	exact    *tree.Matcher
	subtrees [][]string
}

func newAttributeMatcher() *attributeMatcher {
	m := &attributeMatcher{}
	var exact []tree.Path
	for _, c := range converted {
		if base, ok := strings.CutSuffix(c, ".**"); ok {
			m.subtrees = append(m.subtrees, strings.Split(base, "."))
			c = base
		}
		exact = append(exact, tree.Path(c))
	}
	m.exact = tree.NewMatcher(exact...)
	return m
}

func (m *attributeMatcher) inSubtree(p tree.Path) bool {
	parts := p.Parts()
	for _, s := range m.subtrees {
		if len(parts) > len(s) && tree.NewPath(parts[:len(s)]...).Matches(tree.NewPath(s...)) {
			return true
		}
	}
	return false
}

func (m *attributeMatcher) known(p tree.Path) bool {
	return m.exact.Matches(p) || m.exact.MayContain(p) || m.inSubtree(p)
}

// findUnsupported walks the loaded model (before it is bound to compose-go's
// types) and returns every use of an unsupported attribute, in path order.
func findUnsupported(model map[string]any) []finding {
	m := newAttributeMatcher()
	var out []finding
	var walk func(v any, p tree.Path, parts []string)
	walk = func(v any, p tree.Path, parts []string) {
		switch t := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(t)) {
				// extensions are the user's own, "#…" keys compose-go's
				if strings.HasPrefix(k, "x-") || strings.HasPrefix(k, "#") {
					continue
				}
				np, nparts := p.Next(k), append(slices.Clone(parts), k)
				if u := lookupUnsupported(np); u != nil {
					if u.Detect == nil {
						out = append(out, finding{parts: nparts, key: u, value: t[k]})
						continue
					}
					if u.Detect(t[k]) {
						out = append(out, finding{parts: nparts, key: u, value: t[k]})
					}
				}
				if !m.known(np) {
					out = append(out, finding{parts: nparts, value: t[k]})
					continue
				}
				if !m.inSubtree(np.Next("x")) {
					walk(t[k], np, nparts)
				}
			}
		case []any:
			for i, e := range t {
				walk(e, p.Next(tree.PathMatchList), append(slices.Clone(parts), strconv.Itoa(i)))
			}
		}
	}
	walk(model, tree.NewPath(), nil)
	return out
}

func lookupUnsupported(p tree.Path) *unsupportedKey {
	for i := range unsupported {
		if p.Matches(tree.Path(unsupported[i].Path)) {
			return &unsupported[i]
		}
	}
	return nil
}

// warnings renders the findings that concern the loaded project (not a
// service disabled by profiles, not a resource no service uses), and the
// obsolete `version` attribute.
func (l *locator) warnings(findings []finding, cp *types.Project) []string {
	var out []string
	for i := range l.files {
		if t, ok := l.tree(i).(map[string]any); ok {
			if _, ok := t["version"]; ok {
				out = append(out, fmt.Sprintf("%s: version: obsolete, ignored (remove it)", l.rel(l.files[i].name)))
			}
		}
	}
	for _, f := range findings {
		if len(f.parts) >= 2 && !inProject(cp, f.parts[0], f.parts[1]) {
			continue
		}
		loc := formatField(f.parts)
		file := l.fileOf(f.parts...)
		switch {
		case f.key == nil:
			out = append(out, fmt.Sprintf("%s: %s: not supported by stack yet, ignored", file, loc))
		case f.key.Detect != nil:
			out = append(out, fmt.Sprintf("%s: %s: %s is not supported by stack yet, %s", file, loc, valueString(f.value), f.key.Effect))
		default:
			out = append(out, fmt.Sprintf("%s: %s: not supported by stack yet, %s", file, loc, cmp.Or(f.key.Effect, "ignored")))
		}
	}
	return out
}

func inProject(cp *types.Project, section, key string) bool {
	switch section {
	case "services":
		_, ok := cp.Services[key]
		return ok
	case "networks":
		_, ok := cp.Networks[key]
		return ok
	case "volumes":
		_, ok := cp.Volumes[key]
		return ok
	case "configs":
		_, ok := cp.Configs[key]
		return ok
	case "secrets":
		_, ok := cp.Secrets[key]
		return ok
	}
	return true
}

func valueString(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}
