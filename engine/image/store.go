package image

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stack/engine/errdefs"
	"stack/engine/state"
)

// Image is one image of the store, as read from its index entry, manifest
// and config.
type Image struct {
	ID          string   // "sha256:<hex>": digest of the config JSON (docker's image ID)
	RepoTags    []string // normalised name:tag refs, sorted ("docker.io/library/busybox:latest")
	RepoDigests []string // normalised name@digest refs, sorted
	Manifest    string   // digest of the manifest blob
	Config      ocispec.Image
	// Docker extensions of the config that ocispec.Image does not carry.
	Healthcheck *HealthConfig
	OnBuild     []string
	Shell       []string
	Comment     string
	Size        int64 // unpacked size of all layers, bytes
	Created     time.Time
}

// Store is an image store rooted at a directory:
//
//	lock                      flock held by every mutation
//	refs.json                 normalised ref -> manifest digest
//	images.json               image ID -> manifest digest and size
//	blobs/sha256/<hex>        content-addressed blobs as received
//	diffids/<blob hex>        diffID of a layer blob (uncompressed digest)
//	layers/<chainID hex>/     diff/ (the unpacked layer), diffid, parent, size
//	tmp/                      staging for mutations in progress
//
// A Store is safe for concurrent use by goroutines and by processes.
// Mutations (Import, Load, Tag, Untag, Delete, Remove, and LayerDirs when
// it must unpack) hold the lock for their whole duration and stage
// everything under tmp/ before moving it into place, so a crash leaves
// either nothing or whole blobs and layers behind, never a half layer
// under its final name. Reads take no lock: every index file is replaced
// atomically, and objects are written before the index that names them.
type Store struct {
	dir string
}

const (
	refsFile   = "refs.json"
	imagesFile = "images.json"
	lockFile   = "lock"
)

// imageRecord is an images.json entry.
type imageRecord struct {
	Manifest digest.Digest `json:"manifest"`
	Size     int64         `json:"size"`
}

// index is the store's two index files read together.
type index struct {
	images map[digest.Digest]imageRecord
	refs   map[string]digest.Digest
}

// Open opens the image store rooted at dir, creating its layout if it is
// missing. When no other process is mutating the store it also clears
// debris that a crashed mutation left in tmp/.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open image store %q: %w", dir, err)
	}
	s := &Store{dir: abs}
	for _, d := range []string{abs, s.path("blobs", "sha256"), s.path("layers"), s.path("diffids"), s.path("tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open image store: %w", err)
		}
	}
	if l, err := state.TryLock(s.path(lockFile)); err == nil {
		err := s.clearTmp()
		l.Unlock()
		if err != nil {
			return nil, fmt.Errorf("open image store: clear tmp: %w", err)
		}
	} else if !errors.Is(err, state.ErrLocked) {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	return s, nil
}

// Dir is the store's root directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.dir}, elem...)...)
}

func (s *Store) blobPath(d digest.Digest) string { return s.path("blobs", "sha256", d.Encoded()) }
func (s *Store) layerPath(chain digest.Digest) string {
	return s.path("layers", chain.Encoded())
}
func (s *Store) diffIDPath(blob digest.Digest) string { return s.path("diffids", blob.Encoded()) }

// clearTmp removes everything under tmp/. Only call it holding the lock.
func (s *Store) clearTmp() error {
	entries, err := os.ReadDir(s.path("tmp"))
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, os.RemoveAll(s.path("tmp", e.Name())))
	}
	return errors.Join(errs...)
}

func (s *Store) lock() (*state.Lock, error) {
	l, err := state.LockFile(s.path(lockFile))
	if err != nil {
		return nil, fmt.Errorf("lock image store: %w", err)
	}
	return l, nil
}

// readIndex reads images.json and refs.json. images.json is read first:
// writers add images before refs and drop refs before images, so every
// ref a reader sees names an image it has also seen.
func (s *Store) readIndex() (*index, error) {
	idx := &index{images: map[digest.Digest]imageRecord{}, refs: map[string]digest.Digest{}}
	for _, f := range []struct {
		name string
		v    any
	}{{imagesFile, &idx.images}, {refsFile, &idx.refs}} {
		b, err := os.ReadFile(s.path(f.name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read image index: %w", err)
		}
		if err := json.Unmarshal(b, f.v); err != nil {
			return nil, fmt.Errorf("read image index %s: %w", f.name, err)
		}
	}
	return idx, nil
}

func (s *Store) writeImages(idx *index) error {
	return s.writeJSON(imagesFile, idx.images)
}

func (s *Store) writeRefs(idx *index) error {
	return s.writeJSON(refsFile, idx.refs)
}

func (s *Store) writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		return err
	}
	if err := state.WriteFile(s.path(name), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// refsOf returns the refs that point at manifest m, sorted.
func (idx *index) refsOf(m digest.Digest) []string {
	var out []string
	for r, md := range idx.refs {
		if md == m {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

// byManifest finds the image whose manifest is m.
func (idx *index) byManifest(m digest.Digest) (digest.Digest, bool) {
	for id, rec := range idx.images {
		if rec.Manifest == m {
			return id, true
		}
	}
	return "", false
}

// match says how an input named an image.
type match struct {
	id  digest.Digest
	ref string // the normalised ref it matched, "" when matched by ID
}

// resolve finds the image named by refOrID: a full ID (with or without
// "sha256:"), a reference (normalised, tag or digest), or a unique ID prefix
// of at least 4 hex digits. References win over ID prefixes, as in docker.
func (idx *index) resolve(refOrID string) (match, error) {
	hex := strings.TrimPrefix(refOrID, "sha256:")
	if isHex64(hex) {
		id := digest.NewDigestFromEncoded(digest.SHA256, hex)
		if _, ok := idx.images[id]; ok {
			return match{id: id}, nil
		}
		return match{}, fmt.Errorf("image %q: %w", refOrID, errdefs.ErrNotFound)
	}
	ref, perr := ParseReference(refOrID)
	if perr == nil {
		if m, ok := idx.refs[ref.String()]; ok {
			if id, ok := idx.byManifest(m); ok {
				return match{id: id, ref: ref.String()}, nil
			}
		}
		if ref.Digest != "" {
			if id, ok := idx.byManifest(ref.Digest); ok {
				return match{id: id}, nil
			}
		}
	}
	if len(hex) >= 4 && isLowerHexString(hex) {
		var found []digest.Digest
		for id := range idx.images {
			if strings.HasPrefix(id.Encoded(), hex) {
				found = append(found, id)
			}
		}
		switch len(found) {
		case 1:
			return match{id: found[0]}, nil
		case 0:
		default:
			return match{}, invalidf("image %q: ID prefix matches %d images, give more digits", refOrID, len(found))
		}
	} else if perr != nil {
		return match{}, perr
	}
	name := refOrID
	if perr == nil && !(len(hex) >= 4 && isLowerHexString(hex)) {
		name = FamiliarName(ref.String())
	}
	return match{}, fmt.Errorf("image %q: %w", name, errdefs.ErrNotFound)
}

func isLowerHexString(s string) bool {
	for _, c := range s {
		if !isLowerHex(c) {
			return false
		}
	}
	return true
}

// Get returns the image named by refOrID: a reference ("busybox",
// "docker.io/library/busybox:latest", "name@sha256:..."), a full image ID
// with or without "sha256:", or a unique ID prefix of at least 4 hex
// digits. An unknown image is an error wrapping errdefs.ErrNotFound that
// names it (`image "foo:latest": not found`).
func (s *Store) Get(refOrID string) (*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.resolve(refOrID)
	if err != nil {
		return nil, err
	}
	return s.image(idx, m.id)
}

// List returns every image, newest first.
func (s *Store) List() ([]*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	out := make([]*Image, 0, len(idx.images))
	for id := range idx.images {
		img, err := s.image(idx, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted by another process since we read the index
		}
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// configExtras are the docker fields of a config that ocispec.Image drops.
type configExtras struct {
	Config struct {
		Healthcheck *HealthConfig `json:"Healthcheck"`
		OnBuild     []string      `json:"OnBuild"`
		Shell       []string      `json:"Shell"`
	} `json:"config"`
	Comment string `json:"comment"`
}

func (s *Store) image(idx *index, id digest.Digest) (*Image, error) {
	rec, ok := idx.images[id]
	if !ok {
		return nil, fmt.Errorf("image %q: %w", id, errdefs.ErrNotFound)
	}
	raw, err := os.ReadFile(s.blobPath(id))
	if err != nil {
		return nil, fmt.Errorf("image %s: read config: %w", id, err)
	}
	img := &Image{ID: id.String(), Manifest: rec.Manifest.String(), Size: rec.Size}
	if err := json.Unmarshal(raw, &img.Config); err != nil {
		return nil, fmt.Errorf("image %s: parse config: %w", id, err)
	}
	var ext configExtras
	if err := json.Unmarshal(raw, &ext); err != nil {
		return nil, fmt.Errorf("image %s: parse config: %w", id, err)
	}
	img.Healthcheck, img.OnBuild, img.Shell, img.Comment = ext.Config.Healthcheck, ext.Config.OnBuild, ext.Config.Shell, ext.Comment
	if img.Config.Created != nil {
		img.Created = *img.Config.Created
	}
	for _, r := range idx.refsOf(rec.Manifest) {
		if strings.Contains(r, "@") {
			img.RepoDigests = append(img.RepoDigests, r)
		} else {
			img.RepoTags = append(img.RepoTags, r)
		}
	}
	return img, nil
}

// Tag points dst, a name[:tag] reference, at the image named by src
// (anything Get accepts). An existing dst is moved, as docker tag does.
func (s *Store) Tag(src, dst string) error {
	ref, err := ParseReference(dst)
	if err != nil {
		return fmt.Errorf("tag: %w", err)
	}
	if ref.Digest != "" {
		return fmt.Errorf("tag: %w", invalidf("refusing to create a tag with a digest reference %q", dst))
	}
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	m, err := idx.resolve(src)
	if err != nil {
		return fmt.Errorf("tag: %w", err)
	}
	idx.refs[ref.String()] = idx.images[m.id].Manifest
	return s.writeRefs(idx)
}

// Untag removes a reference. The image stays, untagged if that was its
// last reference; deleting it is Delete's job.
func (s *Store) Untag(ref string) error {
	r, err := ParseReference(ref)
	if err != nil {
		return fmt.Errorf("untag: %w", err)
	}
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	if _, ok := idx.refs[r.String()]; !ok {
		return fmt.Errorf("untag: image %q: %w", r.Familiar(), errdefs.ErrNotFound)
	}
	delete(idx.refs, r.String())
	return s.writeRefs(idx)
}

// Delete removes the image named by idOrRef (anything Get accepts), every
// reference to it, and the blobs and unpacked layers that no remaining
// image needs. It does not check whether containers use the image: that
// is the caller's job (see Remove for docker rmi's rules).
func (s *Store) Delete(idOrRef string) error {
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	m, err := idx.resolve(idOrRef)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	_, err = s.deleteLocked(idx, m.id)
	return err
}

// deleteLocked removes image id and what only it needed, returning the
// chain IDs of the layers removed. The caller holds the lock.
func (s *Store) deleteLocked(idx *index, id digest.Digest) ([]digest.Digest, error) {
	rec := idx.images[id]
	blobs, chains, err := s.objects(id, rec)
	if errors.Is(err, fs.ErrNotExist) {
		// A damaged image must still be removable: drop what we can name.
		blobs, chains = []digest.Digest{rec.Manifest, id}, nil
	} else if err != nil {
		return nil, fmt.Errorf("delete %s: %w", id, err)
	}
	// What the other images need is computed before anything changes.
	// If one of them cannot be read, nothing is collected: better a few
	// stray blobs than a layer pulled from under an image.
	keepBlobs, keepChains := map[digest.Digest]bool{}, map[digest.Digest]bool{}
	collect := true
	for oid, orec := range idx.images {
		if oid == id {
			continue
		}
		b, c, err := s.objects(oid, orec)
		if err != nil {
			collect = false
			break
		}
		for _, d := range b {
			keepBlobs[d] = true
		}
		for _, d := range c {
			keepChains[d] = true
		}
	}
	// Refs go first, then the image, then the objects: a reader never
	// sees a ref to a missing image or an image with missing blobs.
	for _, r := range idx.refsOf(rec.Manifest) {
		delete(idx.refs, r)
	}
	if err := s.writeRefs(idx); err != nil {
		return nil, err
	}
	delete(idx.images, id)
	if err := s.writeImages(idx); err != nil {
		return nil, err
	}
	if !collect {
		return nil, nil
	}
	var errs []error
	for _, b := range blobs {
		if keepBlobs[b] {
			continue
		}
		if err := os.Remove(s.blobPath(b)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		if err := os.Remove(s.diffIDPath(b)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	var removed []digest.Digest
	for _, c := range chains {
		if keepChains[c] {
			continue
		}
		// Rename out of the way first, so a crash mid-removal leaves no
		// half layer under its final name; tmp/ is cleared on Open.
		tmp, err := os.MkdirTemp(s.path("tmp"), "delete-")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Rename(s.layerPath(c), filepath.Join(tmp, "layer")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(tmp); err != nil {
			errs = append(errs, err)
		}
		removed = append(removed, c)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("delete %s: %w", id, err)
	}
	return removed, nil
}

// objects lists the blobs (manifest, config, layers) and layer chain IDs
// an image needs.
func (s *Store) objects(id digest.Digest, rec imageRecord) (blobs, chains []digest.Digest, err error) {
	m, err := s.readManifest(rec.Manifest)
	if err != nil {
		return nil, nil, err
	}
	blobs = append(blobs, rec.Manifest, id)
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	cfg, err := s.readConfig(id)
	if err != nil {
		return nil, nil, err
	}
	return blobs, ChainIDs(cfg.RootFS.DiffIDs), nil
}

func (s *Store) readManifest(d digest.Digest) (*ocispec.Manifest, error) {
	b, err := os.ReadFile(s.blobPath(d))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", d, err)
	}
	return &m, nil
}

func (s *Store) readConfig(d digest.Digest) (*ocispec.Image, error) {
	b, err := os.ReadFile(s.blobPath(d))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c ocispec.Image
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parse config %s: %w", d, err)
	}
	return &c, nil
}

// RemoveOptions tune Remove.
type RemoveOptions struct {
	// Force removes references even when they are the last one or the
	// image is referenced in several repositories.
	Force bool
	// Users returns the names of containers that use an image ID; nil
	// means none do. It is called without the store lock held.
	Users func(id string) ([]string, error)
}

// RemoveResult says what Remove did, for `rm` to print.
type RemoveResult struct {
	Untagged []string // normalised references removed
	Deleted  []string // the image ID, then the chain IDs of layers removed
}

// ConflictError is a refused removal; it wraps errdefs.ErrInUse.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return "conflict: " + e.Msg }
func (e *ConflictError) Unwrap() error { return errdefs.ErrInUse }

// Remove is docker rmi for one name. Named by reference, it removes that
// reference, and deletes the image only if that was its last reference.
// Named by ID, it removes all the image's references (refusing, without
// Force, when they span repositories) and deletes it. An image that
// containers use is never deleted: without Force that is a conflict; with
// Force its references go and the image stays until the containers do.
func (s *Store) Remove(refOrID string, opts RemoveOptions) (RemoveResult, error) {
	var res RemoveResult
	idx, err := s.readIndex()
	if err != nil {
		return res, err
	}
	first, err := idx.resolve(refOrID)
	if err != nil {
		return res, err
	}
	var users []string
	if opts.Users != nil {
		if users, err = opts.Users(first.id.String()); err != nil {
			return res, fmt.Errorf("remove %s: list containers: %w", refOrID, err)
		}
	}
	l, err := s.lock()
	if err != nil {
		return res, err
	}
	defer l.Unlock()
	if idx, err = s.readIndex(); err != nil {
		return res, err
	}
	m, err := idx.resolve(refOrID)
	if err != nil {
		return res, err
	}
	if m.id != first.id {
		return res, fmt.Errorf("remove %s: image changed while checking containers, try again", refOrID)
	}
	shortID := state.ShortID(m.id.String())
	refs := idx.refsOf(idx.images[m.id].Manifest)
	untag := func(rs ...string) error {
		for _, r := range rs {
			delete(idx.refs, r)
		}
		if err := s.writeRefs(idx); err != nil {
			return err
		}
		res.Untagged = append(res.Untagged, rs...)
		return nil
	}
	if m.ref != "" {
		if len(refs) > 1 {
			return res, untag(m.ref)
		}
		if len(users) > 0 {
			if !opts.Force {
				return res, &ConflictError{fmt.Sprintf("unable to remove repository reference %q (must force) - container %s is using its referenced image %s", refOrID, users[0], shortID)}
			}
			return res, untag(m.ref)
		}
	} else {
		if len(refs) > 1 && !opts.Force && !singleReference(refs) {
			return res, &ConflictError{fmt.Sprintf("unable to delete %s (must be forced) - image is referenced in multiple repositories", shortID)}
		}
		if len(users) > 0 {
			if !opts.Force {
				return res, &ConflictError{fmt.Sprintf("unable to delete %s (must be forced) - image is being used by container %s", shortID, users[0])}
			}
			if len(refs) == 0 {
				return res, &ConflictError{fmt.Sprintf("unable to delete %s (cannot be forced) - image is being used by container %s", shortID, users[0])}
			}
			return res, untag(refs...)
		}
	}
	res.Untagged = append(res.Untagged, refs...)
	removed, err := s.deleteLocked(idx, m.id)
	res.Deleted = append(res.Deleted, m.id.String())
	for _, c := range removed {
		res.Deleted = append(res.Deleted, c.String())
	}
	return res, err
}

// singleReference is docker's rule for deleting by ID without force: all
// references are in one repository and at most one of them is a tag.
func singleReference(refs []string) bool {
	repo, tags := "", 0
	for _, r := range refs {
		ref, err := ParseReference(r)
		if err != nil {
			return false
		}
		if repo != "" && ref.Name() != repo {
			return false
		}
		repo = ref.Name()
		if !strings.Contains(r, "@") {
			tags++
		}
	}
	return tags <= 1
}

// ChainIDs computes the OCI chain ID of each layer prefix:
// ChainID(L0) = DiffID(L0), ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln)).
// A chain ID names a stack of layers, so the same layer on another parent
// is another unpacked directory.
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		sum := sha256.Sum256([]byte(out[i-1].String() + " " + d.String()))
		out[i] = digest.NewDigestFromBytes(digest.SHA256, sum[:])
	}
	return out
}

// LayerDirs returns the unpacked directories of img's layers, bottom layer
// first, ready to be overlay lower directories (whiteouts in overlay
// form). A layer that is missing (deleted by hand, or an interrupted
// store) is unpacked again from its blob.
func (s *Store) LayerDirs(img *Image) ([]string, error) {
	diffIDs := img.Config.RootFS.DiffIDs
	chains := ChainIDs(diffIDs)
	dirs := make([]string, len(chains))
	missing := false
	for i, c := range chains {
		dirs[i] = filepath.Join(s.layerPath(c), "diff")
		if _, err := os.Stat(dirs[i]); err != nil {
			missing = true
		}
	}
	if !missing {
		return dirs, nil
	}
	md, err := digest.Parse(img.Manifest)
	if err != nil {
		return nil, fmt.Errorf("layers of %s: %w", img.ID, err)
	}
	m, err := s.readManifest(md)
	if err != nil {
		return nil, fmt.Errorf("layers of %s: %w", img.ID, err)
	}
	if len(m.Layers) != len(diffIDs) {
		return nil, fmt.Errorf("layers of %s: manifest has %d layers, config %d diff_ids", img.ID, len(m.Layers), len(diffIDs))
	}
	l, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	t, err := s.begin("unpack")
	if err != nil {
		return nil, err
	}
	defer t.close()
	for i, c := range chains {
		if _, err := os.Stat(dirs[i]); err == nil {
			continue
		}
		src := layerSource{digest: m.Layers[i].Digest, open: func() (*os.File, error) { return os.Open(s.blobPath(m.Layers[i].Digest)) }}
		var parent digest.Digest
		if i > 0 {
			parent = chains[i-1]
		}
		if _, err := t.ensureLayer(src, diffIDs[i], c, parent); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("%w (blob %s: %w)", errdefs.ErrNotFound, src.digest, err)
			}
			return nil, fmt.Errorf("layers of %s: %w", img.ID, err)
		}
	}
	if err := t.commit(); err != nil {
		return nil, fmt.Errorf("layers of %s: %w", img.ID, err)
	}
	return dirs, nil
}

// LayerSizes returns the unpacked size of each of img's layers, bottom
// first (what `history` shows); a layer not unpacked yet counts 0. It
// never unpacks.
func (s *Store) LayerSizes(img *Image) ([]int64, error) {
	chains := ChainIDs(img.Config.RootFS.DiffIDs)
	out := make([]int64, len(chains))
	for i, c := range chains {
		n, err := layerSize(s.layerPath(c))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// short abbreviates a digest for the subject of an error message
// ("sha256:0123456789ab…"); details that must be compared in full, such as
// a diffID mismatch, print digests whole.
func short(d digest.Digest) string {
	if enc := d.Encoded(); len(enc) > 12 {
		return string(d.Algorithm()) + ":" + enc[:12] + "…"
	}
	return d.String()
}

// sortedUnique sorts and deduplicates refs in place.
func sortedUnique(refs []string) []string {
	sort.Strings(refs)
	return slices.Compact(refs)
}
