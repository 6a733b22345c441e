package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Save writes the images named by refs to w as an archive that docker load
// (any version), podman load and Load accept: the docker >= 25 layout,
// which is an OCI image layout (oci-layout, index.json, blobs/sha256/...)
// plus docker's manifest.json and legacy repositories file. Blobs are
// written as stored, so the image ID and manifest digest survive a
// save/load round trip.
//
// As in docker, a name without tag or digest ("busybox") saves every tag
// of that repository, a name:tag saves that tag, and an ID saves the image
// without tags.
func (s *Store) Save(ctx context.Context, w io.Writer, refs []string) error {
	if len(refs) == 0 {
		return fmt.Errorf("save: %w", invalidf("no image named"))
	}
	idx, err := s.readIndex()
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	type item struct {
		id   digest.Digest
		tags []Reference
	}
	var items []*item
	byID := map[digest.Digest]*item{}
	for _, name := range refs {
		targets, err := idx.saveTargets(name)
		if err != nil {
			return fmt.Errorf("save: %w", err)
		}
		for _, tg := range targets {
			it, ok := byID[tg.id]
			if !ok {
				it = &item{id: tg.id}
				byID[tg.id] = it
				items = append(items, it)
			}
			if tg.ref != "" && !slices.ContainsFunc(it.tags, func(r Reference) bool { return r.String() == tg.ref }) {
				ref, _ := ParseReference(tg.ref)
				it.tags = append(it.tags, ref)
			}
		}
	}

	sw := &saveWriter{ctx: ctx, tw: tar.NewWriter(w), written: map[digest.Digest]bool{}, s: s, buf: make([]byte, 1<<20)}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := sw.tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	}
	ix := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	var entries []dockerManifestEntry
	repos := map[string]map[string]string{}
	for _, it := range items {
		rec := idx.images[it.id]
		raw, err := os.ReadFile(s.blobPath(rec.Manifest))
		if err != nil {
			return fmt.Errorf("save: image %s: manifest: %w", short(it.id), err)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("save: image %s: manifest: %w", short(it.id), err)
		}
		entry := dockerManifestEntry{Config: blobName(it.id)}
		for _, d := range append([]digest.Digest{rec.Manifest, it.id}, layerDigests(m)...) {
			if err := sw.blob(d); err != nil {
				return fmt.Errorf("save: image %s: %w", short(it.id), err)
			}
		}
		for _, l := range m.Layers {
			entry.Layers = append(entry.Layers, blobName(l.Digest))
		}
		mt := m.MediaType
		if mt == "" {
			mt = ocispec.MediaTypeImageManifest
		}
		desc := ocispec.Descriptor{MediaType: mt, Digest: rec.Manifest, Size: int64(len(raw))}
		sort.Slice(it.tags, func(i, j int) bool { return it.tags[i].String() < it.tags[j].String() })
		if len(it.tags) == 0 {
			ix.Manifests = append(ix.Manifests, desc)
		}
		for _, tag := range it.tags {
			d := desc
			d.Annotations = map[string]string{containerdNameAnnotation: tag.String(), ocispec.AnnotationRefName: tag.Tag}
			ix.Manifests = append(ix.Manifests, d)
			entry.RepoTags = append(entry.RepoTags, tag.Familiar())
			if len(m.Layers) > 0 {
				if repos[tag.FamiliarName()] == nil {
					repos[tag.FamiliarName()] = map[string]string{}
				}
				repos[tag.FamiliarName()][tag.Tag] = m.Layers[len(m.Layers)-1].Digest.Encoded()
			}
		}
		entries = append(entries, entry)
	}
	files := []struct {
		name string
		v    any
	}{
		{ocispec.ImageIndexFile, ix},
		{"manifest.json", entries},
		{ocispec.ImageLayoutFile, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}},
	}
	if len(repos) > 0 {
		files = append(files, struct {
			name string
			v    any
		}{"repositories", repos})
	}
	for _, f := range files {
		b, err := json.Marshal(f.v)
		if err != nil {
			return fmt.Errorf("save: %s: %w", f.name, err)
		}
		if err := sw.file(f.name, b); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	}
	if err := sw.tw.Close(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

func blobName(d digest.Digest) string { return "blobs/sha256/" + d.Encoded() }

func layerDigests(m ocispec.Manifest) []digest.Digest {
	out := make([]digest.Digest, len(m.Layers))
	for i, l := range m.Layers {
		out[i] = l.Digest
	}
	return out
}

// saveTarget is an image to save and the tag it is saved under ("" none).
type saveTarget struct {
	id  digest.Digest
	ref string
}

func (idx *index) saveTargets(name string) ([]saveTarget, error) {
	if ref, err := ParseReference(name); err == nil && !hasTag(name) && ref.Digest == "" {
		var out []saveTarget
		for r, md := range idx.refs {
			rr, err := ParseReference(r)
			if err != nil || rr.Name() != ref.Name() || rr.Digest != "" {
				continue
			}
			if id, ok := idx.byManifest(md); ok {
				out = append(out, saveTarget{id: id, ref: r})
			}
		}
		if len(out) > 0 {
			sort.Slice(out, func(i, j int) bool { return out[i].ref < out[j].ref })
			return out, nil
		}
	}
	m, err := idx.resolve(name)
	if err != nil {
		return nil, err
	}
	return []saveTarget{{id: m.id, ref: m.ref}}, nil
}

// saveWriter writes blobs and files into the archive, each blob once.
type saveWriter struct {
	ctx     context.Context
	tw      *tar.Writer
	s       *Store
	written map[digest.Digest]bool
	buf     []byte
}

func (sw *saveWriter) blob(d digest.Digest) error {
	if sw.written[d] {
		return nil
	}
	f, err := os.Open(sw.s.blobPath(d))
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: blobName(d), Typeflag: tar.TypeReg, Mode: 0o644, Size: fi.Size(), ModTime: time.Unix(0, 0)}
	if err := sw.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.CopyBuffer(sw.tw, ctxReader{sw.ctx, f}, sw.buf); err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	sw.written[d] = true
	return nil
}

func (sw *saveWriter) file(name string, data []byte) error {
	hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0)}
	if err := sw.tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := sw.tw.Write(data)
	return err
}
