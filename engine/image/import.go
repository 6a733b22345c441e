package image

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stack/engine/rootfs/layer"
)

// configFile is the image config JSON we write: ocispec.Image's fields
// with docker's ContainerConfig (healthcheck and the rest) in "config" and
// docker's top-level comment.
type configFile struct {
	Created      *time.Time        `json:"created,omitempty"`
	Author       string            `json:"author,omitempty"`
	Architecture string            `json:"architecture"`
	Variant      string            `json:"variant,omitempty"`
	OS           string            `json:"os"`
	Config       ContainerConfig   `json:"config"`
	RootFS       ocispec.RootFS    `json:"rootfs"`
	History      []ocispec.History `json:"history,omitempty"`
	Comment      string            `json:"comment,omitempty"`
}

// ImportOptions tune ImportWith.
type ImportOptions struct {
	Ref     string   // name[:tag] to give the image; "" leaves it untagged
	Changes []string // Dockerfile instructions applied to the config (see ApplyChanges)
	Message string   // history comment; docker's "Imported from -" when empty
}

// Import is docker import: r is a root filesystem tarball, plain, gzip or
// bzip2 (detected by magic number), that becomes a one-layer image. ref
// may be "" (untagged). changes are Dockerfile instructions applied to the
// config; a bad one fails the import with an error wrapping
// errdefs.ErrInvalid before anything is read.
func (s *Store) Import(ctx context.Context, r io.Reader, ref string, changes []string) (*Image, error) {
	return s.ImportWith(ctx, r, ImportOptions{Ref: ref, Changes: changes})
}

// ImportWith is Import with every option.
func (s *Store) ImportWith(ctx context.Context, r io.Reader, opts ImportOptions) (*Image, error) {
	var ref Reference
	if opts.Ref != "" {
		var err error
		if ref, err = ParseReference(opts.Ref); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		if ref.Digest != "" {
			return nil, fmt.Errorf("import: %w", invalidf("cannot import as %q: a digest is not a tag", opts.Ref))
		}
	}
	var cc ContainerConfig
	if err := ApplyChanges(&cc, opts.Changes); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	msg := opts.Message
	if msg == "" {
		msg = "Imported from -"
	}

	l, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	t, err := s.begin("import")
	if err != nil {
		return nil, err
	}
	defer t.close()

	layer, err := t.importLayer(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	now := time.Now().UTC()
	cfg := configFile{
		Created:      &now,
		Architecture: runtime.GOARCH,
		Variant:      defaultVariant(),
		OS:           "linux",
		Config:       cc,
		RootFS:       ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.diffID}},
		History:      []ocispec.History{{Created: &now, Comment: msg}},
		Comment:      msg,
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	id, err := t.putBlob(raw)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	md, err := t.putManifest(id, int64(len(raw)), []ocispec.Descriptor{{
		MediaType: ocispec.MediaTypeImageLayer,
		Digest:    layer.diffID,
		Size:      layer.blobSize,
	}})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	t.images[id] = imageRecord{Manifest: md, Size: layer.size}
	if opts.Ref != "" {
		t.refs[ref.String()] = id
	}
	if err := t.commit(); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return s.Get(id.String())
}

// defaultVariant is the platform variant docker records for this GOARCH.
func defaultVariant() string {
	if runtime.GOARCH == "arm64" {
		return "v8"
	}
	return ""
}

type importedLayer struct {
	diffID   digest.Digest
	size     int64 // unpacked
	blobSize int64
}

// importLayer reads a (possibly compressed) tarball once: the uncompressed
// bytes go to a staged blob, to the diffID hash and to ApplyLayer at the
// same time. The blob is kept uncompressed: save and load then copy it
// without recompressing, which matters more locally than disk space.
func (t *txn) importLayer(ctx context.Context, r io.Reader) (importedLayer, error) {
	var out importedLayer
	dr, err := decompress(bufio.NewReaderSize(ctxReader{ctx, r}, 1<<20))
	if err != nil {
		return out, err
	}
	blob, err := os.CreateTemp(t.dir, "blob-")
	if err != nil {
		return out, err
	}
	defer blob.Close()
	bw := bufio.NewWriterSize(blob, 1<<20)
	h := sha256.New()
	cw := &countingWriter{}
	tee := io.TeeReader(dr, io.MultiWriter(bw, h, cw))
	dir, err := os.MkdirTemp(t.dir, "layer-")
	if err != nil {
		return out, err
	}
	diff := filepath.Join(dir, "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		return out, err
	}
	if out.size, err = layer.ApplyLayer(diff, tee); err != nil {
		return out, err
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return out, fmt.Errorf("read past end of tar: %w", err)
	}
	if cw.n == 0 {
		return out, invalidf("empty input: want a tar archive")
	}
	if err := bw.Flush(); err != nil {
		return out, err
	}
	if err := blob.Close(); err != nil {
		return out, err
	}
	out.diffID, out.blobSize = digest.NewDigest(digest.SHA256, h), cw.n
	t.blobs[out.diffID] = blob.Name()
	if _, err := os.Stat(t.s.layerPath(out.diffID)); err == nil {
		return out, nil // same content imported before: reuse that layer
	}
	meta := map[string]string{"diffid": out.diffID.String(), "size": strconv.FormatInt(out.size, 10)}
	for name, v := range meta {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			return out, err
		}
	}
	t.layers[out.diffID] = dir // a single layer's chain ID is its diffID
	return out, nil
}

// putManifest writes the OCI image manifest for a config and its layers.
func (t *txn) putManifest(config digest.Digest, configSize int64, layers []ocispec.Descriptor) (digest.Digest, error) {
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: config, Size: configSize},
		Layers:    layers,
	}
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return t.putBlob(raw)
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
