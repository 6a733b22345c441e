// Package rootfs mounts the container root filesystem: the overlay of an
// image's layers, binds resolved inside a root without following its
// symlinks out, and pivot_root. The init links it, so it stays small;
// applying image layers is package layer's.
//
// It does not manage the container lifecycle.
package rootfs
