package image

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	digest "github.com/opencontainers/go-digest"

	"stack/engine/rootfs/layer"
	"stack/engine/state"
)

// txn stages one mutation under tmp/ and moves it into place in commit.
// Until commit nothing outside tmp/ changes, so a failed Import or Load
// leaves the store as it was. The caller holds the store lock throughout:
// that is what makes the reference counting in Delete safe against a
// concurrent ingest.
type txn struct {
	s       *Store
	dir     string                          // tmp/<op>-*, removed by close
	blobs   map[digest.Digest]string        // staged blob files to move into blobs/
	layers  map[digest.Digest]string        // chain ID -> staged layer directory
	diffIDs map[digest.Digest]digest.Digest // blob -> diffID learnt here
	images  map[digest.Digest]imageRecord   // images to add
	refs    map[string]digest.Digest        // normalised ref -> image ID
	buf     []byte
}

func (s *Store) begin(op string) (*txn, error) {
	dir, err := os.MkdirTemp(s.path("tmp"), op+"-")
	if err != nil {
		return nil, fmt.Errorf("%s: staging dir: %w", op, err)
	}
	return &txn{
		s:       s,
		dir:     dir,
		blobs:   map[digest.Digest]string{},
		layers:  map[digest.Digest]string{},
		diffIDs: map[digest.Digest]digest.Digest{},
		images:  map[digest.Digest]imageRecord{},
		refs:    map[string]digest.Digest{},
		buf:     make([]byte, 1<<20),
	}, nil
}

// close discards whatever commit did not move out of the staging dir.
func (t *txn) close() {
	// Best effort: Open clears tmp/ again if this fails.
	os.RemoveAll(t.dir)
}

// stagedFile is a file received from an archive, with its digest.
type stagedFile struct {
	path   string
	digest digest.Digest
	size   int64
}

// stage copies r into a new file of the staging dir, hashing it.
func (t *txn) stage(r io.Reader) (stagedFile, error) {
	f, err := os.CreateTemp(t.dir, "blob-")
	if err != nil {
		return stagedFile{}, err
	}
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(f, h), r, t.buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return stagedFile{}, err
	}
	return stagedFile{path: f.Name(), digest: digest.NewDigest(digest.SHA256, h), size: n}, nil
}

// hasBlob reports whether blob d is in the store or staged.
func (t *txn) hasBlob(d digest.Digest) bool {
	if _, ok := t.blobs[d]; ok {
		return true
	}
	_, err := os.Stat(t.s.blobPath(d))
	return err == nil
}

// putBlob stages a small blob (config, manifest) and returns its digest.
// It is fsynced: the index will name it.
func (t *txn) putBlob(data []byte) (digest.Digest, error) {
	d := digest.FromBytes(data)
	if t.hasBlob(d) {
		return d, nil
	}
	p := filepath.Join(t.dir, "put-"+d.Encoded())
	if err := state.WriteFile(p, data, 0o600); err != nil {
		return "", err
	}
	t.blobs[d] = p
	return d, nil
}

// readBlob reads a small blob, staged or stored.
func (t *txn) readBlob(d digest.Digest) ([]byte, error) {
	if p, ok := t.blobs[d]; ok {
		return readSmall(p)
	}
	return readSmall(t.s.blobPath(d))
}

// maxMetadataSize bounds the JSON files (configs, manifests, indexes) read
// into memory, so a hostile archive cannot exhaust memory with one.
const maxMetadataSize = 64 << 20

func readSmall(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMetadataSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMetadataSize {
		return nil, fmt.Errorf("larger than %d MiB", maxMetadataSize>>20)
	}
	return b, nil
}

// layerSource is a layer blob and a way to read it.
type layerSource struct {
	digest digest.Digest
	open   func() (*os.File, error)
}

// ensureLayer makes sure the layer with chain ID chain is unpacked, staged
// here or already in the store, and that blob src really has diffID
// diffID. It returns the layer's unpacked size.
func (t *txn) ensureLayer(src layerSource, diffID, chain, parent digest.Digest) (int64, error) {
	if dir, ok := t.layers[chain]; ok {
		return t.verifyBlob(src, diffID, dir)
	}
	if _, err := os.Stat(filepath.Join(t.s.layerPath(chain), "diff")); err == nil {
		return t.verifyBlob(src, diffID, t.s.layerPath(chain))
	}
	f, err := src.open()
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", short(src.digest), err)
	}
	defer f.Close()
	dir, err := os.MkdirTemp(t.dir, "layer-")
	if err != nil {
		return 0, err
	}
	diff := filepath.Join(dir, "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		return 0, err
	}
	got, size, err := unpack(f, diff)
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", short(src.digest), err)
	}
	if got != diffID {
		return 0, fmt.Errorf("layer %s: content has diffID %s, config says %s", short(src.digest), got, diffID)
	}
	meta := map[string]string{"diffid": diffID.String(), "size": strconv.FormatInt(size, 10)}
	if parent != "" {
		meta["parent"] = parent.String()
	}
	for name, v := range meta {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			return 0, err
		}
	}
	t.layers[chain] = dir
	t.diffIDs[src.digest] = diffID
	return size, nil
}

// verifyBlob checks, for a layer already unpacked in layerDir, that blob
// src has diffID diffID, hashing its uncompressed content unless that is
// already known, and returns the layer's size.
func (t *txn) verifyBlob(src layerSource, diffID digest.Digest, layerDir string) (int64, error) {
	size, err := layerSize(layerDir)
	if err != nil {
		return 0, err
	}
	if src.digest == diffID || t.diffIDs[src.digest] == diffID {
		return size, nil
	}
	if b, err := os.ReadFile(t.s.diffIDPath(src.digest)); err == nil && strings.TrimSpace(string(b)) == diffID.String() {
		return size, nil
	}
	f, err := src.open()
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", short(src.digest), err)
	}
	defer f.Close()
	r, err := decompress(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", short(src.digest), err)
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, r, t.buf); err != nil {
		return 0, fmt.Errorf("layer %s: %w", short(src.digest), err)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != diffID {
		return 0, fmt.Errorf("layer %s: content has diffID %s, config says %s", short(src.digest), got, diffID)
	}
	t.diffIDs[src.digest] = diffID
	return size, nil
}

func layerSize(layerDir string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(layerDir, "size"))
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", filepath.Base(layerDir), err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("layer %s: bad size file: %w", filepath.Base(layerDir), err)
	}
	return n, nil
}

// unpack decompresses a layer blob into dir, returning its diffID (the
// digest of the whole uncompressed stream) and its unpacked size.
func unpack(r io.Reader, dir string) (digest.Digest, int64, error) {
	dr, err := decompress(bufio.NewReaderSize(r, 1<<20))
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	tee := io.TeeReader(dr, h)
	size, err := layer.ApplyLayer(dir, tee)
	if err != nil {
		return "", 0, err
	}
	// The tar reader stops at the end-of-archive marker; the diffID covers
	// the padding after it too, and draining lets gzip check its CRC.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return "", 0, fmt.Errorf("read past end of tar: %w", err)
	}
	return digest.NewDigest(digest.SHA256, h), size, nil
}

// compression of a stream, known by its magic number.
type compression int

const (
	uncompressed compression = iota
	gzipped
	bzipped
	zstded
	xzed
)

func detect(br *bufio.Reader) compression {
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return gzipped
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzipped
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return zstded
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return xzed
	}
	return uncompressed
}

// decompress returns the uncompressed stream of br, detected by magic
// number, as docker does for layers and import tarballs.
func decompress(br *bufio.Reader) (io.Reader, error) {
	switch detect(br) {
	case gzipped:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case bzipped:
		return bzip2.NewReader(br), nil
	case zstded:
		return nil, errors.New("zstd-compressed data is not supported yet")
	case xzed:
		return nil, errors.New("xz-compressed data is not supported")
	}
	return br, nil
}

// commit moves the staged objects into the store, then records the new
// images and refs in the index. Objects go first so that the index never
// names something missing.
func (t *txn) commit() error {
	for d, p := range t.blobs {
		if _, err := os.Stat(t.s.blobPath(d)); err == nil {
			continue
		}
		if err := os.Rename(p, t.s.blobPath(d)); err != nil {
			return fmt.Errorf("commit blob %s: %w", d, err)
		}
	}
	for c, p := range t.layers {
		// Content-addressed: if another unpack of the same chain got
		// there first, both are the same and ours is dropped with tmp.
		if err := os.Rename(p, t.s.layerPath(c)); err != nil && !errors.Is(err, fs.ErrExist) && !errors.Is(err, syscall.ENOTEMPTY) {
			return fmt.Errorf("commit layer %s: %w", c, err)
		}
	}
	for b, d := range t.diffIDs {
		if b == d {
			continue // an uncompressed blob is its own diffID
		}
		// No fsync: the mapping is a cache that verifyBlob can rebuild.
		if err := state.WriteFileNoSync(t.s.diffIDPath(b), []byte(d.String()+"\n"), 0o600); err != nil {
			return fmt.Errorf("commit diffID of %s: %w", b, err)
		}
	}
	for _, d := range []string{t.s.path("blobs", "sha256"), t.s.path("layers")} {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
	}
	if len(t.images) == 0 && len(t.refs) == 0 {
		return nil
	}
	idx, err := t.s.readIndex()
	if err != nil {
		return err
	}
	for id, rec := range t.images {
		// An image already present keeps its manifest: refs always point
		// at the one manifest the index has for an ID.
		if _, ok := idx.images[id]; !ok {
			idx.images[id] = rec
		}
	}
	if err := t.s.writeImages(idx); err != nil {
		return err
	}
	if len(t.refs) == 0 {
		return nil
	}
	for r, id := range t.refs {
		idx.refs[r] = idx.images[id].Manifest
	}
	return t.s.writeRefs(idx)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ctxReader makes a long copy stop when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
