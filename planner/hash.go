package planner

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"stack/spec"
)

// ServiceHash is the config hash of a service's containers (the
// com.docker.compose.config-hash label): the hex sha256 of a JSON document
// that holds
//
//   - spec.ConfigHash(s): docker compose's ServiceHash rules over stack's
//     canonical form of the service, with build, pull_policy, the replica
//     count, depends_on and profiles left out, so that scaling, editing
//     depends_on or a profile, or editing the Dockerfile alone recreate
//     nothing. env_file contents are in it, through environment; the
//     env_file paths are not, since only the content reaches the container;
//   - imageID, the resolved image ID: a rebuilt or newly pulled image
//     recreates the container, as compose's com.docker.compose.image check
//     does. "" stands for an unknown image; such a hash is never written on
//     a container (Build leaves Node.Hash empty instead);
//   - the content digests of the service's configs and secrets
//     (spec.FileRef.Digest), so that editing a config file recreates its
//     users (docker compose misses this, compose#11900).
//
// The hash is the same for every replica. A "service:X" in network_mode,
// ipc, pid or volumes_from stays as written: when X is recreated, the
// reconciler recreates its dependents through the SharesNamespace and
// VolumesFrom edges, where compose instead hashes X's container ID.
func ServiceHash(s *spec.Service, imageID string) string {
	doc := struct {
		Service string   `json:"service"`
		ImageID string   `json:"image_id,omitempty"`
		Configs []string `json:"configs,omitempty"`
		Secrets []string `json:"secrets,omitempty"`
	}{Service: spec.ConfigHash(s), ImageID: imageID}
	for _, c := range s.Configs {
		doc.Configs = append(doc.Configs, c.Source+"="+c.Digest)
	}
	for _, c := range s.Secrets {
		doc.Secrets = append(doc.Secrets, c.Source+"="+c.Digest)
	}
	return hashJSON(doc)
}

// networkHash is the config hash of a network: what it is created with.
// The fields are listed rather than the whole spec.Network marshalled, so
// that a field added to spec.Network does not change every network's hash
// (and have the reconciler recreate every network) on an upgrade of stack.
func networkHash(n *spec.Network) string {
	type pool struct {
		Subnet  string `json:"subnet,omitempty"`
		IPRange string `json:"ip_range,omitempty"`
		Gateway string `json:"gateway,omitempty"`
	}
	doc := struct {
		Name       string            `json:"name"`
		Driver     string            `json:"driver,omitempty"`
		DriverOpts map[string]string `json:"driver_opts,omitempty"`
		Internal   bool              `json:"internal,omitempty"`
		Attachable bool              `json:"attachable,omitempty"`
		EnableIPv6 bool              `json:"enable_ipv6,omitempty"`
		IPAMDriver string            `json:"ipam_driver,omitempty"`
		IPAM       []pool            `json:"ipam,omitempty"`
		Labels     map[string]string `json:"labels,omitempty"`
	}{
		Name: n.Name, Driver: n.Driver, DriverOpts: n.DriverOpts, Internal: n.Internal,
		Attachable: n.Attachable, EnableIPv6: n.EnableIPv6, IPAMDriver: n.IPAM.Driver, Labels: n.Labels,
	}
	for _, c := range n.IPAM.Config {
		doc.IPAM = append(doc.IPAM, pool(c))
	}
	return hashJSON(doc)
}

// volumeHash is the config hash of a volume, like networkHash.
func volumeHash(v *spec.Volume) string {
	return hashJSON(struct {
		Name       string            `json:"name"`
		Driver     string            `json:"driver,omitempty"`
		DriverOpts map[string]string `json:"driver_opts,omitempty"`
		Labels     map[string]string `json:"labels,omitempty"`
	}{v.Name, v.Driver, v.DriverOpts, v.Labels})
}

// hashJSON is the hex sha256 of v's JSON. encoding/json writes map keys
// sorted, so equal values give equal text.
func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// only strings, bools, slices and string maps reach here
		panic("planner: hashing: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
