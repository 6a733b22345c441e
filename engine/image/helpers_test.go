package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// requireRoot skips a test that needs euid 0 (mknod for whiteouts,
// trusted.* xattrs, overlay mounts), saying why, and fails instead when
// STACK_TEST_ROOT=1 promises root tests will run.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Getenv("STACK_TEST_ROOT") == "1" && os.Geteuid() != 0 {
		t.Fatalf("STACK_TEST_ROOT=1 but euid is %d: root tests cannot run", os.Geteuid())
	}
	if testing.Short() {
		t.Skip("needs root (whiteouts are device nodes and trusted.* xattrs): skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (whiteouts are device nodes and trusted.* xattrs): run as root, STACK_TEST_ROOT=1 makes this a failure")
	}
}

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

var testTime = time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)

// ent is a tar entry for tests; body is the content of regular files.
type ent struct {
	hdr  tar.Header
	body string
}

func file(name, body string) ent {
	return ent{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: testTime}, body}
}

func dirEnt(name string) ent {
	return ent{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: testTime}}
}

func tarball(t *testing.T, ents ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, e := range ents {
		h := e.hdr
		if err := w.WriteHeader(&h); err != nil {
			t.Fatalf("WriteHeader(%q): %v", h.Name, err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// testImage is an image to put in a test archive: layer tars (the blob as
// it goes in the archive; diffIDs are computed from the uncompressed tar).
type testImage struct {
	layers [][]byte // uncompressed tars
	gzip   []bool   // per layer: store the blob gzipped
	tags   []string
	cmd    []string
}

func (ti testImage) blobs(t *testing.T) (blobs [][]byte, diffIDs []digest.Digest) {
	for i, l := range ti.layers {
		diffIDs = append(diffIDs, digest.FromBytes(l))
		if i < len(ti.gzip) && ti.gzip[i] {
			blobs = append(blobs, gz(t, l))
		} else {
			blobs = append(blobs, l)
		}
	}
	return blobs, diffIDs
}

func (ti testImage) config(t *testing.T, diffIDs []digest.Digest) []byte {
	t.Helper()
	created := testTime
	var history []ocispec.History
	for range diffIDs {
		history = append(history, ocispec.History{Created: &created, CreatedBy: "/bin/sh -c #(nop) ADD file in / "})
	}
	cfg := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		Config:   ocispec.ImageConfig{Cmd: ti.cmd, Env: []string{"PATH=/usr/bin:/bin"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
		History:  history,
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// archiveWriter builds a tar of named files.
type archiveWriter struct {
	t *testing.T
	b bytes.Buffer
	w *tar.Writer
}

func newArchive(t *testing.T) *archiveWriter {
	a := &archiveWriter{t: t}
	a.w = tar.NewWriter(&a.b)
	return a
}

func (a *archiveWriter) add(name string, data []byte) {
	a.t.Helper()
	if err := a.w.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))}); err != nil {
		a.t.Fatal(err)
	}
	if _, err := a.w.Write(data); err != nil {
		a.t.Fatal(err)
	}
}

func (a *archiveWriter) symlink(name, target string) {
	a.t.Helper()
	if err := a.w.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target}); err != nil {
		a.t.Fatal(err)
	}
}

func (a *archiveWriter) json(name string, v any) {
	a.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		a.t.Fatal(err)
	}
	a.add(name, b)
}

func (a *archiveWriter) bytes() []byte {
	a.t.Helper()
	if err := a.w.Close(); err != nil {
		a.t.Fatal(err)
	}
	return a.b.Bytes()
}

// dockerLegacyArchive is what docker < 25 save writes: <id>.json configs,
// <n>/layer.tar, manifest.json and repositories. A layer that repeats an
// earlier one is written as a symlink, as docker does.
func dockerLegacyArchive(t *testing.T, imgs ...testImage) []byte {
	t.Helper()
	a := newArchive(t)
	var manifest []dockerManifestEntry
	seen := map[digest.Digest]string{}
	for i, ti := range imgs {
		blobs, diffIDs := ti.blobs(t)
		cfg := ti.config(t, diffIDs)
		cfgName := digest.FromBytes(cfg).Encoded() + ".json"
		a.add(cfgName, cfg)
		e := dockerManifestEntry{Config: cfgName, RepoTags: ti.tags}
		for j, b := range blobs {
			d := digest.FromBytes(b)
			name := fmt.Sprintf("layer%d-%d/layer.tar", i, j)
			if prev, ok := seen[d]; ok {
				a.symlink(name, "../"+prev)
			} else {
				a.add(name, b)
				seen[d] = name
			}
			e.Layers = append(e.Layers, name)
		}
		manifest = append(manifest, e)
	}
	a.json("manifest.json", manifest)
	return a.bytes()
}

// ociArchive is an OCI image layout; annotate gives each image's index
// annotations.
func ociArchive(t *testing.T, annotate func(i int) map[string]string, imgs ...testImage) []byte {
	t.Helper()
	a := newArchive(t)
	written := map[digest.Digest]bool{}
	put := func(b []byte) digest.Digest {
		d := digest.FromBytes(b)
		if !written[d] {
			a.add("blobs/sha256/"+d.Encoded(), b)
			written[d] = true
		}
		return d
	}
	ix := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for i, ti := range imgs {
		blobs, diffIDs := ti.blobs(t)
		cfg := ti.config(t, diffIDs)
		m := ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: put(cfg), Size: int64(len(cfg))},
		}
		for j, b := range blobs {
			mt := ocispec.MediaTypeImageLayer
			if j < len(ti.gzip) && ti.gzip[j] {
				mt = ocispec.MediaTypeImageLayerGzip
			}
			m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: mt, Digest: put(b), Size: int64(len(b))})
		}
		mb, _ := json.Marshal(m)
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: put(mb), Size: int64(len(mb))}
		if annotate != nil {
			desc.Annotations = annotate(i)
		}
		ix.Manifests = append(ix.Manifests, desc)
	}
	a.json("oci-layout", ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	a.json("index.json", ix)
	return a.bytes()
}

// storeObjects lists what is under the store's blobs, layers, diffids and
// tmp directories, and its refs, to prove a failed operation left nothing.
func storeObjects(t *testing.T, s *Store) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, d := range []string{"blobs/sha256", "layers", "diffids", "tmp"} {
		entries, err := os.ReadDir(filepath.Join(s.Dir(), d))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			out[d] = append(out[d], e.Name())
		}
	}
	idx, err := s.readIndex()
	if err != nil {
		t.Fatal(err)
	}
	for r := range idx.refs {
		out["refs"] = append(out["refs"], r)
	}
	for id := range idx.images {
		out["images"] = append(out["images"], id.String())
	}
	return out
}
