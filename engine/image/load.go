package image

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types docker uses for the same things OCI names differently.
const (
	dockerManifestType     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestListType = "application/vnd.docker.distribution.manifest.list.v2+json"
	// containerdNameAnnotation holds the full image name in OCI archives
	// written by containerd and docker >= 25.
	containerdNameAnnotation = "io.containerd.image.name"
)

// dockerManifestEntry is one entry of a docker save archive's manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Loaded is one image of a loaded archive with the references the archive
// gave it (what `load` prints).
type Loaded struct {
	Image *Image
	Tags  []string // normalised references set by this load, sorted
}

// Load reads a docker save archive (manifest.json, either the legacy
// layout or docker >= 25's OCI layout plus manifest.json) or an OCI
// image-layout archive (index.json, names from the
// io.containerd.image.name or org.opencontainers.image.ref.name
// annotations), the whole of it plain or gzip, with plain or gzip layers.
// Every blob is checked against its digest and every layer against the
// diffID in its config. On any error the store is left as it was.
func (s *Store) Load(ctx context.Context, r io.Reader) ([]*Image, error) {
	loaded, err := s.LoadArchive(ctx, r)
	if err != nil {
		return nil, err
	}
	out := make([]*Image, len(loaded))
	for i, l := range loaded {
		out[i] = l.Image
	}
	return out, nil
}

// LoadArchive is Load, also reporting which references each image got.
func (s *Store) LoadArchive(ctx context.Context, r io.Reader) ([]Loaded, error) {
	l, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	t, err := s.begin("load")
	if err != nil {
		return nil, err
	}
	defer t.close()
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}

	a, err := t.readArchive(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	items, err := a.plan()
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		if err := t.addLoaded(it, idx); err != nil {
			return nil, fmt.Errorf("load: image %s: %w", short(it.config.digest), err)
		}
	}
	if err := t.commit(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	out := make([]Loaded, 0, len(items))
	for _, it := range items {
		img, err := s.Get(it.config.digest.String())
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		var tags []string
		for _, ref := range it.tags {
			tags = append(tags, ref.String())
		}
		out = append(out, Loaded{Image: img, Tags: sortedUnique(tags)})
	}
	return out, nil
}

// archive is a tar archive's regular files, staged to disk by path, and
// its links. An archive is a stream whose index may come after the blobs
// it names, so everything is staged first and interpreted afterwards.
type archive struct {
	files map[string]stagedFile
	links map[string]string // path -> path it links to
}

// archivePath cleans a member name; false for names outside the archive.
func archivePath(name string) (string, bool) {
	p := path.Clean(strings.TrimLeft(name, "/"))
	if p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return "", false
	}
	return p, true
}

func (t *txn) readArchive(ctx context.Context, r io.Reader) (*archive, error) {
	dr, err := decompress(bufio.NewReaderSize(ctxReader{ctx, r}, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read archive: %w", err)
	}
	a := &archive{files: map[string]stagedFile{}, links: map[string]string{}}
	tr := tar.NewReader(dr)
	last := ""
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			if last == "" {
				return nil, fmt.Errorf("read archive: %w", err)
			}
			return nil, fmt.Errorf("read archive: after %q: %w", last, err)
		}
		last = hdr.Name
		name, ok := archivePath(hdr.Name)
		if !ok {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			f, err := t.stage(tr)
			if err != nil {
				return nil, fmt.Errorf("read archive: %q: %w", hdr.Name, err)
			}
			a.files[name] = f
			delete(a.links, name)
		case tar.TypeSymlink:
			// docker < 25 links duplicate layers: <id>/layer.tar -> ../<id2>/layer.tar
			target := hdr.Linkname
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(name), target)
			}
			if p, ok := archivePath(target); ok {
				a.links[name] = p
			}
		case tar.TypeLink:
			if p, ok := archivePath(hdr.Linkname); ok {
				a.links[name] = p
			}
		}
	}
	if len(a.files) == 0 {
		return nil, errors.New("read archive: no files in it: not a docker save or OCI archive")
	}
	return a, nil
}

// file returns the staged file at p, following archive links.
func (a *archive) file(p string) (stagedFile, error) {
	orig := p
	for range 16 {
		if f, ok := a.files[p]; ok {
			return f, nil
		}
		next, ok := a.links[p]
		if !ok {
			break
		}
		p = next
	}
	return stagedFile{}, fmt.Errorf("%q: %w in the archive", orig, fs.ErrNotExist)
}

// blob returns the OCI-layout blob d, checked against its digest.
func (a *archive) blob(d digest.Digest) (stagedFile, error) {
	if err := d.Validate(); err != nil {
		return stagedFile{}, fmt.Errorf("blob %q: %w", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return stagedFile{}, fmt.Errorf("blob %s: only sha256 digests are supported", d)
	}
	f, err := a.file("blobs/sha256/" + d.Encoded())
	if err != nil {
		return stagedFile{}, fmt.Errorf("blob %s: %w", d, err)
	}
	if f.digest != d {
		return stagedFile{}, fmt.Errorf("blob %s: content digest is %s: archive corrupt", d, f.digest)
	}
	return f, nil
}

func (a *archive) json(f stagedFile, what string, v any) error {
	b, err := readSmall(f.path)
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", what, err)
	}
	return nil
}

// loadItem is one image to add: its config, its layer blobs bottom first,
// the manifest as found in the archive (nil: write our own) and tags.
type loadItem struct {
	config   stagedFile
	layers   []stagedFile
	manifest *stagedFile
	tags     []Reference
}

// plan interprets the staged archive. An OCI index.json is preferred
// (it keeps the original manifests); docker's manifest.json adds its tags
// and is the only source for archives older than docker 25.
func (a *archive) plan() ([]*loadItem, error) {
	var items []*loadItem
	byConfig := map[digest.Digest]*loadItem{}
	add := func(it *loadItem) {
		if old, ok := byConfig[it.config.digest]; ok {
			old.tags = append(old.tags, it.tags...)
			return
		}
		byConfig[it.config.digest] = it
		items = append(items, it)
	}
	if f, err := a.file(ocispec.ImageIndexFile); err == nil {
		var ix ocispec.Index
		if err := a.json(f, "index.json", &ix); err != nil {
			return nil, err
		}
		for _, desc := range ix.Manifests {
			it, err := a.ociItem(desc, 0)
			if err != nil {
				return nil, fmt.Errorf("index.json: manifest %s: %w", desc.Digest, err)
			}
			add(it)
		}
	}
	if f, err := a.file("manifest.json"); err == nil {
		var entries []dockerManifestEntry
		if err := a.json(f, "manifest.json", &entries); err != nil {
			return nil, err
		}
		for i, e := range entries {
			it, err := a.dockerItem(e)
			if err != nil {
				return nil, fmt.Errorf("manifest.json entry %d (%s): %w", i, e.Config, err)
			}
			if old, ok := byConfig[it.config.digest]; ok {
				old.tags = append(old.tags, it.tags...)
				continue
			}
			add(it)
		}
	}
	if len(items) == 0 {
		if _, err := a.file("repositories"); err == nil {
			return nil, errors.New("archive has only the pre-1.10 docker layout (no manifest.json), which is not supported")
		}
		return nil, errors.New("archive has neither manifest.json nor index.json: not a docker save or OCI archive")
	}
	return items, nil
}

// dockerItem reads a manifest.json entry: paths of the config and layers.
func (a *archive) dockerItem(e dockerManifestEntry) (*loadItem, error) {
	cfg, err := a.file(e.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	it := &loadItem{config: cfg}
	for _, p := range e.Layers {
		f, err := a.file(p)
		if err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
		it.layers = append(it.layers, f)
	}
	for _, tag := range e.RepoTags {
		ref, err := ParseReference(tag)
		if err != nil {
			return nil, err
		}
		it.tags = append(it.tags, ref)
	}
	return it, nil
}

// ociItem follows an index.json descriptor to an image manifest, through
// image indexes (multi-platform images) by picking this machine's
// platform.
func (a *archive) ociItem(desc ocispec.Descriptor, depth int) (*loadItem, error) {
	if depth > 4 {
		return nil, errors.New("image indexes nested too deeply")
	}
	f, err := a.blob(desc.Digest)
	if err != nil {
		return nil, err
	}
	var probe struct {
		MediaType string            `json:"mediaType"`
		Manifests []json.RawMessage `json:"manifests"`
	}
	if err := a.json(f, "manifest", &probe); err != nil {
		return nil, err
	}
	mt := desc.MediaType
	if mt == "" {
		mt = probe.MediaType
	}
	if mt == ocispec.MediaTypeImageIndex || mt == dockerManifestListType || (mt == "" && probe.Manifests != nil) {
		var ix ocispec.Index
		if err := a.json(f, "image index", &ix); err != nil {
			return nil, err
		}
		sub, err := pickPlatform(ix.Manifests)
		if err != nil {
			return nil, err
		}
		it, err := a.ociItem(sub, depth+1)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", sub.Digest, err)
		}
		it.tags = append(it.tags, tagsFromAnnotations(desc.Annotations)...)
		return it, nil
	}
	if mt != ocispec.MediaTypeImageManifest && mt != dockerManifestType && mt != "" {
		return nil, fmt.Errorf("unsupported media type %q", mt)
	}
	var m ocispec.Manifest
	if err := a.json(f, "manifest", &m); err != nil {
		return nil, err
	}
	cfg, err := a.blob(m.Config.Digest)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	it := &loadItem{config: cfg, manifest: &f, tags: tagsFromAnnotations(desc.Annotations)}
	for _, l := range m.Layers {
		lf, err := a.blob(l.Digest)
		if err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
		it.layers = append(it.layers, lf)
	}
	return it, nil
}

// tagsFromAnnotations names an image from its index.json annotations:
// containerd's full name first, else an OCI ref.name that is a full
// reference. A bare ref.name ("latest") names no repository, so the image
// stays untagged rather than becoming "latest:latest".
func tagsFromAnnotations(ann map[string]string) []Reference {
	if v := ann[containerdNameAnnotation]; v != "" {
		if ref, err := ParseReference(v); err == nil {
			return []Reference{ref}
		}
	}
	if v := ann[ocispec.AnnotationRefName]; strings.ContainsAny(v, ":/@") {
		if ref, err := ParseReference(v); err == nil {
			return []Reference{ref}
		}
	}
	return nil
}

// pickPlatform chooses this machine's manifest in an image index.
func pickPlatform(descs []ocispec.Descriptor) (ocispec.Descriptor, error) {
	var have []string
	var fallback *ocispec.Descriptor
	for i, d := range descs {
		p := d.Platform
		if p == nil {
			if len(descs) == 1 {
				return d, nil
			}
			continue
		}
		have = append(have, p.OS+"/"+p.Architecture+variantSuffix(p.Variant))
		if p.OS != "linux" || p.Architecture != runtime.GOARCH {
			continue
		}
		if p.Variant == "" || p.Variant == defaultVariant() {
			return d, nil
		}
		if fallback == nil {
			fallback = &descs[i]
		}
	}
	if fallback != nil {
		return *fallback, nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("no manifest for linux/%s in the image index (have %s)", runtime.GOARCH, strings.Join(have, ", "))
}

func variantSuffix(v string) string {
	if v == "" {
		return ""
	}
	return "/" + v
}

// addLoaded stages one loaded image. An image already in the store only
// gets its tags: its content is identical by definition of the ID.
func (t *txn) addLoaded(it *loadItem, idx *index) error {
	id := it.config.digest
	for _, ref := range it.tags {
		t.refs[ref.String()] = id
	}
	if _, ok := idx.images[id]; ok {
		return nil
	}
	if _, ok := t.images[id]; ok {
		return nil
	}
	var cfg ocispec.Image
	b, err := readSmall(it.config.path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("parse config: %w", err)
	}
	if cfg.RootFS.Type != "layers" {
		return fmt.Errorf("config: rootfs type %q, want \"layers\"", cfg.RootFS.Type)
	}
	diffIDs := cfg.RootFS.DiffIDs
	if len(diffIDs) != len(it.layers) {
		return fmt.Errorf("config lists %d diff_ids for %d layers", len(diffIDs), len(it.layers))
	}
	chains := ChainIDs(diffIDs)
	var total int64
	descs := make([]ocispec.Descriptor, len(it.layers))
	for i, lf := range it.layers {
		if err := diffIDs[i].Validate(); err != nil {
			return fmt.Errorf("config: diff_ids[%d]: %w", i, err)
		}
		var parent digest.Digest
		if i > 0 {
			parent = chains[i-1]
		}
		src := layerSource{digest: lf.digest, open: func() (*os.File, error) { return os.Open(lf.path) }}
		size, err := t.ensureLayer(src, diffIDs[i], chains[i], parent)
		if err != nil {
			return err
		}
		total += size
		t.addStaged(lf)
		mt := ocispec.MediaTypeImageLayer
		if c, err := sniff(lf.path); err != nil {
			return err
		} else if c == gzipped {
			mt = ocispec.MediaTypeImageLayerGzip
		}
		descs[i] = ocispec.Descriptor{MediaType: mt, Digest: lf.digest, Size: lf.size}
	}
	t.addStaged(it.config)
	var md digest.Digest
	if it.manifest != nil {
		t.addStaged(*it.manifest)
		md = it.manifest.digest
	} else if md, err = t.putManifest(id, it.config.size, descs); err != nil {
		return err
	}
	t.images[id] = imageRecord{Manifest: md, Size: total}
	return nil
}

// addStaged schedules a staged archive file to become a blob.
func (t *txn) addStaged(f stagedFile) {
	if !t.hasBlob(f.digest) {
		t.blobs[f.digest] = f.path
	}
}

func sniff(p string) (compression, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return detect(bufio.NewReaderSize(f, 16)), nil
}
