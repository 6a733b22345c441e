// Package image owns the local image store: content-addressed blobs
// (configs, manifests, layer blobs as received), the name:tag index, and
// layers unpacked once per chain ID for use as overlayfs lower
// directories. It brings images in with Import (docker import of a rootfs
// tarball) and Load (docker save and OCI archives), and out with Save; it
// resolves and normalises references the way the docker CLI does.
//
// Every mutation holds a file lock on the store and stages its work in
// tmp/ before moving it into place, so concurrent stack processes and
// crashes leave either the old or the new store, never a half-unpacked
// layer under its final name. Reads take no lock.
//
// It does not run containers, and it does not know which containers use an
// image: callers pass that in (RemoveOptions.Users) or check before Delete.
// Layer extraction itself (path safety, whiteouts) is engine/rootfs/layer's job.
package image
