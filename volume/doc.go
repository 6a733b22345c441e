// Package volume owns named volumes of the local driver: their records and
// data directories under the state root's volumes/, the driver options
// (tmpfs, bind and device mounts, as docker's `local` driver has them), and
// copy-up of an image's content into a new, empty volume.
//
// Layout: volumes/<name>/volume.json is the record, volumes/<name>/_data the
// data (what containers mount), volumes/<name>/use.lock the in-use marker.
// Entries whose names start with "." are the store's own: .lock (taken by
// writers), .tmp-* (a Create being laid out) and .rm-<name> (a Remove
// deleting). Volume names cannot start with ".", so these never clash.
//
// The rule of this package: data is deleted only by Remove, which only an
// explicit user request (down -v, volume rm, volume prune) may call. No
// other path here deletes what a volume holds; Remove itself unmounts first
// and never deletes across a mount point, so a bind volume's host directory
// survives its volume.
//
// It does not know containers: whether a volume is used by one is decided
// by the caller (reconciler/live, the CLI). The store offers Use, a lock a
// container's supervisor holds, so that Remove refuses a volume in use even
// if the caller's check raced.
package volume
