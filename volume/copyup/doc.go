// Package copyup copies an image's directory into a new, empty volume, as
// docker does the first time a named volume is mounted where the image has
// content. It is a leaf (std, x/sys/unix and engine/errdefs only) so that
// the container init, which must stay small, can run it before it mounts
// the volume; package volume re-exports it.
package copyup
