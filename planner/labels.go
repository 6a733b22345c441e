package planner

import (
	"strconv"
	"strings"
)

// Label keys, as docker compose writes them (compose:pkg/api/labels.go),
// so that users' scripts and filters (`docker ps --filter
// label=com.docker.compose.project=demo`) keep working. Every object stack
// creates for a project carries LabelProject; ps, down, ls and the
// reconciler find objects by these labels, never by parsing names.
const (
	// LabelPrefix starts every label stack owns. A user label with this
	// prefix is refused (Build fails), so that a user cannot make a
	// container look like another service's.
	LabelPrefix = "com.docker.compose."

	// LabelProject is the project name, on containers, networks and
	// volumes: the primary selector of every verb.
	LabelProject = LabelPrefix + "project"
	// LabelService is the service name, on containers.
	LabelService = LabelPrefix + "service"
	// LabelContainerNumber is N of PROJECT-SERVICE-N, in decimal, on
	// service containers. One-off (run) containers have none.
	LabelContainerNumber = LabelPrefix + "container-number"
	// LabelOneoff is "False" on containers made by up and create, "True"
	// on containers made by run.
	LabelOneoff = LabelPrefix + "oneoff"
	// LabelSlug is the full random ID of a one-off container, whose name
	// holds its first 12 characters (OneOffName). Set by run.
	LabelSlug = LabelPrefix + "slug"
	// LabelConfigHash is the config hash (ServiceHash for containers; a
	// hash of the network's or volume's definition for those). A container
	// without it is invisible to ps, down and ls, as in docker compose.
	LabelConfigHash = LabelPrefix + "config-hash"
	// LabelImage is the ID ("sha256:…") of the image the container was
	// created from.
	LabelImage = LabelPrefix + "image"
	// LabelDependencies is the service's depends_on as
	// "SERVICE:CONDITION:RESTART" entries ("db:service_healthy:false"),
	// sorted and comma-joined, possibly empty. It lets `down -p NAME`
	// order the removal without the compose file.
	LabelDependencies = LabelPrefix + "depends_on"
	// LabelWorkingDir is the absolute project directory, on containers.
	LabelWorkingDir = LabelPrefix + "project.working_dir"
	// LabelConfigFiles is the comma-joined list of the absolute compose
	// files, on containers (shown by ls).
	LabelConfigFiles = LabelPrefix + "project.config_files"
	// LabelEnvironmentFile is the comma-joined list of the files read for
	// interpolation (.env or --env-file), on containers; absent when there
	// were none.
	LabelEnvironmentFile = LabelPrefix + "project.environment_file"
	// LabelVersion is the version of the tool that created the object
	// (Version), on containers, networks and volumes.
	LabelVersion = LabelPrefix + "version"
	// LabelNetwork is the network's compose key ("default", not
	// "demo_default"), on networks.
	LabelNetwork = LabelPrefix + "network"
	// LabelVolume is the volume's compose key, on volumes.
	LabelVolume = LabelPrefix + "volume"
	// LabelReplace is the ID of the container this one replaced. The
	// reconciler sets it when it recreates a container: the planner does
	// not know live IDs.
	LabelReplace = LabelPrefix + "replace"
)

// Version is the LabelVersion value.
const Version = "stack-dev"

// Label values of LabelOneoff (compose writes Python-style booleans).
const (
	OneoffFalse = "False"
	OneoffTrue  = "True"
)

// ContainerName is the name of container n (from 1) of a service:
// PROJECT-SERVICE-N, unless the service sets container_name.
func ContainerName(project, service string, n int) string {
	return project + "-" + service + "-" + strconv.Itoa(n)
}

// OneOffName is the name of a `run` container: PROJECT-SERVICE-run-<the
// first 12 characters of slug>, as docker compose names them.
func OneOffName(project, service, slug string) string {
	if len(slug) > 12 {
		slug = slug[:12]
	}
	return project + "-" + service + "-run-" + slug
}

// NetworkName is the name of the project's network key when the compose
// file gives no name: PROJECT_KEY ("demo_default"). spec.Network.Name is
// already resolved (name:, external); this is for finding objects
// without the file.
func NetworkName(project, key string) string { return project + "_" + key }

// VolumeName is the name of the project's volume key when the compose file
// gives no name: PROJECT_KEY, like NetworkName.
func VolumeName(project, key string) string { return project + "_" + key }

// DefaultImageName is the name of the image built for a service that has
// build: and no image: (PROJECT-SERVICE), as spec.Service.ImageName gives.
func DefaultImageName(project, service string) string { return project + "-" + service }

// reservedLabel reports whether key is in stack's namespace.
func reservedLabel(key string) bool { return strings.HasPrefix(key, LabelPrefix) }
