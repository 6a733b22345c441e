// Package rootfs owns the container root filesystem: applying image layers
// to directories (safely, translating OCI whiteouts into overlayfs ones),
// describing overlay mount sets as data, and mounting them.
//
// It does not manage the container lifecycle.
package rootfs
