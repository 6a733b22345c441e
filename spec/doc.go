// Package spec loads compose projects the way `docker compose` does and
// converts them into stack's own types.
//
// Loading (file discovery, COMPOSE_FILE, -f merging, .env and --env-file,
// interpolation, env_file, extends, include, profiles, project name
// precedence) is done by compose-go (github.com/compose-spec/compose-go/v2),
// driven with the same options docker compose passes it. What this package
// adds on top:
//
//   - Project, Service, Network, Volume and FileObject: resolved values the
//     planner and the CLI consume, with no compose-go type in the API;
//   - Error, which names the compose file, the service and the field of
//     every problem it reports;
//   - a warning for every compose attribute stack does not implement yet
//     (the table in unsupported.go), so that nothing is dropped silently;
//   - Canonical, the normalised project `stack config` prints, and
//     ConfigHash.
//
// spec knows YAML and files, and nothing of the kernel: it must not import
// x/sys/unix, netlink, os/exec, the planner or the engine (deps_test.go).
// A dependency cycle is not an error here; the planner owns that check.
package spec
