package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stack/engine/errdefs"
)

func rootfsTar(t *testing.T, hostname string) []byte {
	return tarball(t,
		dirEnt("etc/"),
		file("etc/hostname", hostname),
		file("bin/sh", "not really a shell"),
	)
}

func readLayerFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("read %s in layer: %v", name, err)
	}
	return string(b)
}

func TestImportGetListTagUntagDelete(t *testing.T) {
	s := newStore(t)
	tb := rootfsTar(t, "box\n")
	before := time.Now().Add(-time.Second)
	img, err := s.Import(t.Context(), bytes.NewReader(tb), "example/app:1", []string{
		`CMD ["/bin/sh"]`, `ENV A=1`, `EXPOSE 80`, `HEALTHCHECK --interval=3s CMD true`, `LABEL k=v`,
	})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if !strings.HasPrefix(img.ID, "sha256:") || len(img.ID) != 71 {
		t.Errorf("ID = %q, want sha256:<64 hex>", img.ID)
	}
	if want := []string{"docker.io/example/app:1"}; !reflect.DeepEqual(img.RepoTags, want) {
		t.Errorf("RepoTags = %v, want %v", img.RepoTags, want)
	}
	c := img.Config
	if !reflect.DeepEqual(c.Config.Cmd, []string{"/bin/sh"}) || !reflect.DeepEqual(c.Config.Env, []string{"A=1"}) || c.Config.Labels["k"] != "v" {
		t.Errorf("config = %+v, want the changes applied", c.Config)
	}
	if _, ok := c.Config.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("ExposedPorts = %v, want 80/tcp", c.Config.ExposedPorts)
	}
	if img.Healthcheck == nil || img.Healthcheck.Interval != 3*time.Second || !reflect.DeepEqual(img.Healthcheck.Test, []string{"CMD-SHELL", "true"}) {
		t.Errorf("Healthcheck = %+v", img.Healthcheck)
	}
	if c.OS != "linux" || c.Architecture != runtime.GOARCH {
		t.Errorf("platform = %s/%s", c.OS, c.Architecture)
	}
	if want := []digest.Digest{digest.FromBytes(tb)}; !reflect.DeepEqual(c.RootFS.DiffIDs, want) {
		t.Errorf("diff_ids = %v, want %v", c.RootFS.DiffIDs, want)
	}
	if len(c.History) != 1 || c.History[0].Comment != "Imported from -" || img.Comment != "Imported from -" {
		t.Errorf("history = %+v, comment %q", c.History, img.Comment)
	}
	if img.Created.Before(before) || img.Created.After(time.Now()) {
		t.Errorf("Created = %v, want about now", img.Created)
	}
	if want := int64(len("box\n") + len("not really a shell")); img.Size != want {
		t.Errorf("Size = %d, want %d", img.Size, want)
	}
	m, err := s.readManifest(digest.Digest(img.Manifest))
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest || m.Config.Digest.String() != img.ID || len(m.Layers) != 1 || m.Layers[0].Size != int64(len(tb)) {
		t.Errorf("manifest = %+v", m)
	}

	hex := strings.TrimPrefix(img.ID, "sha256:")
	for _, name := range []string{"example/app:1", "docker.io/example/app:1", img.ID, hex, hex[:12], "sha256:" + hex[:4], hex[:4]} {
		got, err := s.Get(name)
		if err != nil || got.ID != img.ID {
			t.Errorf("Get(%q) = %v, %v, want %s", name, got, err, img.ID)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"example/app", `image "example/app:latest": not found`},
		{"nope", `image "nope:latest": not found`},
		{"sha256:" + strings.Repeat("0", 64), `image "sha256:` + strings.Repeat("0", 64) + `": not found`},
	} {
		_, err := s.Get(tt.in)
		if !errors.Is(err, errdefs.ErrNotFound) || err.Error() != tt.want {
			t.Errorf("Get(%q) error = %v, want %q wrapping ErrNotFound", tt.in, err, tt.want)
		}
	}
	if _, err := s.Get("Bad"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("Get(Bad) error = %v, want ErrInvalid", err)
	}

	dirs, err := s.LayerDirs(img)
	if err != nil || len(dirs) != 1 {
		t.Fatalf("LayerDirs = %v, %v", dirs, err)
	}
	if got := readLayerFile(t, dirs[0], "etc/hostname"); got != "box\n" {
		t.Errorf("etc/hostname = %q", got)
	}

	// The same content again, gzipped and untagged: a new image (new
	// creation time) sharing the unpacked layer.
	img2, err := s.Import(t.Context(), bytes.NewReader(gz(t, tb)), "", nil)
	if err != nil {
		t.Fatalf("Import(gzip): %v", err)
	}
	if img2.ID == img.ID || len(img2.RepoTags) != 0 {
		t.Errorf("second import = %s %v, want a new untagged image", img2.ID, img2.RepoTags)
	}
	dirs2, err := s.LayerDirs(img2)
	if err != nil || !reflect.DeepEqual(dirs2, dirs) {
		t.Errorf("LayerDirs(img2) = %v, %v, want the shared %v", dirs2, err, dirs)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 || list[0].ID != img2.ID {
		t.Fatalf("List = %v, %v, want 2 images, newest first", list, err)
	}

	if err := s.Tag(hex[:8], "other"); err != nil {
		t.Fatalf("Tag: %v", err)
	}
	if got, err := s.Get("other:latest"); err != nil || got.ID != img.ID || len(got.RepoTags) != 2 {
		t.Errorf("Get(other) = %+v, %v", got, err)
	}
	if err := s.Tag(img.ID, "x@"+testDigest); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("Tag(digest) error = %v, want ErrInvalid", err)
	}
	if err := s.Tag("missing", "y"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Tag(missing) error = %v, want ErrNotFound", err)
	}
	// Tagging moves an existing tag, as docker does.
	if err := s.Tag(img2.ID, "other"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get("other"); got.ID != img2.ID {
		t.Errorf("other -> %s after retag, want %s", got.ID, img2.ID)
	}
	if err := s.Untag("other"); err != nil {
		t.Fatalf("Untag: %v", err)
	}
	if err := s.Untag("other"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second Untag error = %v, want ErrNotFound", err)
	}
	if got, err := s.Get(img2.ID); err != nil || len(got.RepoTags) != 0 {
		t.Errorf("untagged image = %+v, %v, want it kept without tags", got, err)
	}

	if err := s.Delete(img2.ID); err != nil {
		t.Fatalf("Delete(img2): %v", err)
	}
	if _, err := os.Stat(dirs[0]); err != nil {
		t.Errorf("shared layer removed with img2: %v", err)
	}
	if _, err := os.Stat(s.blobPath(digest.Digest(img2.ID))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("img2's config blob still there: %v", err)
	}
	if err := s.Delete("example/app:1"); err != nil {
		t.Fatalf("Delete(img): %v", err)
	}
	objs := storeObjects(t, s)
	delete(objs, "tmp")
	if len(objs) != 0 {
		t.Errorf("store after deleting everything holds %v", objs)
	}
	if err := s.Delete(img.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Delete(deleted) error = %v, want ErrNotFound", err)
	}
}

func TestImportErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   []byte
		ref     string
		changes []string
		want    string
		is      error
	}{
		{name: "bad change", input: rootfsTar(t, "x"), changes: []string{"RUN make"}, want: `import: invalid change "RUN make"`, is: errdefs.ErrInvalid},
		{name: "bad ref", input: rootfsTar(t, "x"), ref: "Up/Per", want: `invalid reference "Up/Per"`, is: errdefs.ErrInvalid},
		{name: "digest ref", input: rootfsTar(t, "x"), ref: "a@" + testDigest, want: "a digest is not a tag", is: errdefs.ErrInvalid},
		{name: "empty", input: nil, want: "empty input", is: errdefs.ErrInvalid},
		{name: "truncated", input: rootfsTar(t, "x")[:700], want: `import: apply layer: read tar after entry "etc/": unexpected EOF`},
		{name: "bad gzip", input: append([]byte{0x1f, 0x8b}, bytes.Repeat([]byte{1}, 100)...), want: "gzip"},
		{name: "xz", input: []byte{0xfd, '7', 'z', 'X', 'Z', 0, 1, 2}, want: "xz-compressed data is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			_, err := s.Import(t.Context(), bytes.NewReader(tt.input), tt.ref, tt.changes)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Import() error = %v, want %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Import() error = %v, want it to wrap %v", err, tt.is)
			}
			if objs := storeObjects(t, s); len(objs) != 0 {
				t.Errorf("failed import left %v", objs)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	s := newStore(t)
	img, err := s.Import(t.Context(), bytes.NewReader(rootfsTar(t, "x")), "a:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	short := img.ID[7:19]
	for _, tag := range []string{"a:2", "b:1"} {
		if err := s.Tag(img.ID, tag); err != nil {
			t.Fatal(err)
		}
	}
	users := func(string) ([]string, error) { return []string{"demo-web-1"}, nil }

	res, err := s.Remove("a:1", RemoveOptions{Users: users})
	if err != nil || !reflect.DeepEqual(res, RemoveResult{Untagged: []string{"docker.io/library/a:1"}}) {
		t.Errorf("Remove(a:1) = %+v, %v, want only untagged (other tags remain)", res, err)
	}
	_, err = s.Remove(img.ID[7:15], RemoveOptions{})
	if want := "conflict: unable to delete " + short + " (must be forced) - image is referenced in multiple repositories"; err == nil || err.Error() != want {
		t.Errorf("Remove(ID) error = %v, want %q", err, want)
	}
	if _, err := s.Remove("b:1", RemoveOptions{Users: users}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Remove("a:2", RemoveOptions{Users: users})
	want := `conflict: unable to remove repository reference "a:2" (must force) - container demo-web-1 is using its referenced image ` + short
	if err == nil || err.Error() != want || !errors.Is(err, errdefs.ErrInUse) {
		t.Errorf("Remove(a:2) error = %v, want %q wrapping ErrInUse", err, want)
	}
	res, err = s.Remove("a:2", RemoveOptions{Users: users, Force: true})
	if err != nil || len(res.Untagged) != 1 || len(res.Deleted) != 0 {
		t.Errorf("Remove(a:2, force) = %+v, %v, want untag only: containers still use the image", res, err)
	}
	if _, err := s.Get(img.ID); err != nil {
		t.Errorf("image in use was deleted: %v", err)
	}
	_, err = s.Remove(img.ID, RemoveOptions{Users: users, Force: true})
	if err == nil || !strings.Contains(err.Error(), "(cannot be forced) - image is being used by container demo-web-1") {
		t.Errorf("Remove(ID, force) of an image in use = %v", err)
	}
	_, err = s.Remove(img.ID, RemoveOptions{Users: users})
	if err == nil || !strings.Contains(err.Error(), "(must be forced) - image is being used by container demo-web-1") {
		t.Errorf("Remove(ID) of an image in use = %v", err)
	}
	res, err = s.Remove(img.ID, RemoveOptions{})
	if err != nil || len(res.Deleted) != 2 || res.Deleted[0] != img.ID {
		t.Errorf("Remove(ID) = %+v, %v, want the image and its layer deleted", res, err)
	}
	if _, err := s.Get(img.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Get after Remove = %v", err)
	}

	// By ID, tags of one repository with at most one tag: no force needed.
	img, err = s.Import(t.Context(), bytes.NewReader(rootfsTar(t, "y")), "c:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err = s.Remove(img.ID, RemoveOptions{})
	if err != nil || !reflect.DeepEqual(res.Untagged, []string{"docker.io/library/c:1"}) || len(res.Deleted) == 0 {
		t.Errorf("Remove(ID of single-tag image) = %+v, %v", res, err)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	s := newStore(t)
	img, err := s.Import(t.Context(), bytes.NewReader(rootfsTar(t, "saved\n")), "app:1", []string{`ENTRYPOINT ["/bin/sh"]`, `HEALTHCHECK NONE`})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(img.ID, "app:2"); err != nil {
		t.Fatal(err)
	}
	other, err := s.Import(t.Context(), bytes.NewReader(rootfsTar(t, "other\n")), "", nil)
	if err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := s.Save(t.Context(), &buf, []string{"app:1"}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	files := tarFiles(t, buf.Bytes())
	for _, name := range []string{"oci-layout", "index.json", "manifest.json", "repositories", "blobs/sha256/" + img.ID[7:]} {
		if _, ok := files[name]; !ok {
			t.Errorf("saved archive lacks %s (has %v)", name, keys(files))
		}
	}
	var mj []dockerManifestEntry
	if err := json.Unmarshal(files["manifest.json"], &mj); err != nil {
		t.Fatal(err)
	}
	if len(mj) != 1 || mj[0].Config != "blobs/sha256/"+img.ID[7:] || !reflect.DeepEqual(mj[0].RepoTags, []string{"app:1"}) || len(mj[0].Layers) != 1 {
		t.Errorf("manifest.json = %+v", mj)
	}
	var ix ocispec.Index
	if err := json.Unmarshal(files["index.json"], &ix); err != nil {
		t.Fatal(err)
	}
	if len(ix.Manifests) != 1 || ix.Manifests[0].Digest.String() != img.Manifest ||
		ix.Manifests[0].Annotations[containerdNameAnnotation] != "docker.io/library/app:1" ||
		ix.Manifests[0].Annotations[ocispec.AnnotationRefName] != "1" {
		t.Errorf("index.json = %s", files["index.json"])
	}
	if got := string(files["repositories"]); !strings.Contains(got, `"app":{"1":`) {
		t.Errorf("repositories = %s", got)
	}

	fresh := newStore(t)
	loaded, err := fresh.LoadArchive(t.Context(), bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(loaded) != 1 || !reflect.DeepEqual(loaded[0].Tags, []string{"docker.io/library/app:1"}) {
		t.Fatalf("Load = %+v", loaded)
	}
	got := loaded[0].Image
	if got.ID != img.ID || got.Manifest != img.Manifest || got.Size != img.Size {
		t.Errorf("loaded image = %s manifest %s size %d, want %s %s %d", got.ID, got.Manifest, got.Size, img.ID, img.Manifest, img.Size)
	}
	if !reflect.DeepEqual(got.Config, img.Config) || !reflect.DeepEqual(got.Healthcheck, img.Healthcheck) {
		t.Errorf("loaded config = %+v, want %+v", got.Config, img.Config)
	}
	dirs, err := fresh.LayerDirs(got)
	if err != nil || len(dirs) != 1 || readLayerFile(t, dirs[0], "etc/hostname") != "saved\n" {
		t.Errorf("loaded LayerDirs = %v, %v", dirs, err)
	}
	// Loading again changes nothing and still reports the tag.
	again, err := fresh.LoadArchive(t.Context(), bytes.NewReader(buf.Bytes()))
	if err != nil || len(again) != 1 || again[0].Image.ID != img.ID {
		t.Errorf("second Load = %+v, %v", again, err)
	}

	// A bare repository name saves all its tags; an ID saves no tag.
	buf.Reset()
	if err := s.Save(t.Context(), &buf, []string{"app", other.ID[7:19]}); err != nil {
		t.Fatalf("Save(app, ID): %v", err)
	}
	fresh = newStore(t)
	loaded, err = fresh.LoadArchive(t.Context(), &buf)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(loaded) != 2 ||
		!reflect.DeepEqual(loaded[0].Tags, []string{"docker.io/library/app:1", "docker.io/library/app:2"}) ||
		loaded[1].Image.ID != other.ID || len(loaded[1].Tags) != 0 {
		t.Errorf("Load = %+v", loaded)
	}

	if err := s.Save(t.Context(), io.Discard, []string{"missing:1"}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Save(missing) error = %v, want ErrNotFound", err)
	}
	if err := s.Save(t.Context(), io.Discard, nil); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("Save(nothing) error = %v, want ErrInvalid", err)
	}
}

func tarFiles(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			out[h.Name] = data
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestLoadDockerLegacyArchive(t *testing.T) {
	base := tarball(t, file("etc/os-release", "ID=test\n"), file("bin/busybox", "bb"))
	app := tarball(t, file("app/run", "run"))
	web := tarball(t, file("srv/index.html", "<h1>hi</h1>"))
	arch := dockerLegacyArchive(t,
		testImage{layers: [][]byte{base, app}, gzip: []bool{false, true}, tags: []string{"example/app:1", "example/app:latest"}, cmd: []string{"/app/run"}},
		testImage{layers: [][]byte{base, web}, tags: []string{"localhost:5000/web:v2"}},
		testImage{layers: [][]byte{base}}, // untagged, its layer.tar a symlink to the first
	)
	s := newStore(t)
	// The whole archive gzipped, as `docker save | gzip` makes it.
	loaded, err := s.LoadArchive(t.Context(), bytes.NewReader(gz(t, arch)))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(loaded) != 3 {
		t.Fatalf("Load returned %d images, want 3", len(loaded))
	}
	if want := []string{"docker.io/example/app:1", "docker.io/example/app:latest"}; !reflect.DeepEqual(loaded[0].Tags, want) {
		t.Errorf("tags[0] = %v, want %v", loaded[0].Tags, want)
	}
	if want := []string{"localhost:5000/web:v2"}; !reflect.DeepEqual(loaded[1].Tags, want) {
		t.Errorf("tags[1] = %v, want %v", loaded[1].Tags, want)
	}
	if len(loaded[2].Tags) != 0 || len(loaded[2].Image.RepoTags) != 0 {
		t.Errorf("third image tags = %v, want untagged", loaded[2].Tags)
	}
	img, err := s.Get("example/app")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(img.Config.Config.Cmd, []string{"/app/run"}) {
		t.Errorf("Cmd = %v", img.Config.Config.Cmd)
	}
	dirs, err := s.LayerDirs(img)
	if err != nil || len(dirs) != 2 {
		t.Fatalf("LayerDirs = %v, %v", dirs, err)
	}
	if readLayerFile(t, dirs[0], "bin/busybox") != "bb" || readLayerFile(t, dirs[1], "app/run") != "run" {
		t.Errorf("layer contents wrong")
	}
	web2, _ := s.Get("localhost:5000/web:v2")
	webDirs, err := s.LayerDirs(web2)
	if err != nil || webDirs[0] != dirs[0] {
		t.Errorf("shared base layer not shared: %v vs %v (%v)", webDirs, dirs, err)
	}
	// base, base+app, base+web: three chains, the base unpacked once.
	if objs := storeObjects(t, s); len(objs["layers"]) != 3 {
		t.Errorf("layers = %v, want 3", objs["layers"])
	}
	// The gzipped layer blob is kept compressed and described as such.
	m, err := s.readManifest(digest.Digest(img.Manifest))
	if err != nil {
		t.Fatal(err)
	}
	if m.Layers[0].MediaType != ocispec.MediaTypeImageLayer || m.Layers[1].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Errorf("layer media types = %s, %s", m.Layers[0].MediaType, m.Layers[1].MediaType)
	}
	if m.Layers[1].Digest == digest.FromBytes(app) {
		t.Errorf("gzipped layer blob stored uncompressed")
	}
}

func TestLoadOCIArchive(t *testing.T) {
	l1 := tarball(t, file("a", "1"))
	l2 := tarball(t, file("b", "2"))
	l3 := tarball(t, file("c", "3"))
	arch := ociArchive(t, func(i int) map[string]string {
		switch i {
		case 0:
			return map[string]string{containerdNameAnnotation: "docker.io/library/one:latest", ocispec.AnnotationRefName: "latest"}
		case 1:
			return map[string]string{ocispec.AnnotationRefName: "latest"} // bare tag: no name to give it
		default:
			return map[string]string{ocispec.AnnotationRefName: "example.com/three:3"}
		}
	},
		testImage{layers: [][]byte{l1}, gzip: []bool{true}},
		testImage{layers: [][]byte{l1, l2}},
		testImage{layers: [][]byte{l3}, cmd: []string{"three"}},
	)
	s := newStore(t)
	loaded, err := s.LoadArchive(t.Context(), bytes.NewReader(arch))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var tags [][]string
	for _, l := range loaded {
		tags = append(tags, l.Tags)
	}
	want := [][]string{{"docker.io/library/one:latest"}, nil, {"example.com/three:3"}}
	if !reflect.DeepEqual(tags, want) {
		t.Errorf("tags = %v, want %v", tags, want)
	}
	img, err := s.Get("example.com/three:3")
	if err != nil {
		t.Fatal(err)
	}
	// The archive's own manifest is kept, so its digest is unchanged.
	ixFiles := tarFiles(t, arch)
	var ix ocispec.Index
	if err := json.Unmarshal(ixFiles["index.json"], &ix); err != nil {
		t.Fatal(err)
	}
	if img.Manifest != ix.Manifests[2].Digest.String() {
		t.Errorf("manifest = %s, want the archive's %s", img.Manifest, ix.Manifests[2].Digest)
	}
	dirs, err := s.LayerDirs(loaded[1].Image)
	if err != nil || len(dirs) != 2 || readLayerFile(t, dirs[1], "b") != "2" {
		t.Errorf("LayerDirs = %v, %v", dirs, err)
	}
}

// TestLoadMultiPlatformIndex: index.json points at an image index; only
// this machine's platform is present in the archive, as docker saves it.
func TestLoadMultiPlatformIndex(t *testing.T) {
	layer := tarball(t, file("hello", "world"))
	a := newArchive(t)
	put := func(b []byte) ocispec.Descriptor {
		d := digest.FromBytes(b)
		a.add("blobs/sha256/"+d.Encoded(), b)
		return ocispec.Descriptor{Digest: d, Size: int64(len(b))}
	}
	ti := testImage{layers: [][]byte{layer}}
	cfgDesc := put(ti.config(t, []digest.Digest{digest.FromBytes(layer)}))
	cfgDesc.MediaType = ocispec.MediaTypeImageConfig
	layerDesc := put(layer)
	layerDesc.MediaType = ocispec.MediaTypeImageLayer
	mb, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: []ocispec.Descriptor{layerDesc}})
	mDesc := put(mb)
	mDesc.MediaType = ocispec.MediaTypeImageManifest
	mDesc.Platform = &ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	absent := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("absent"), Size: 10,
		Platform: &ocispec.Platform{OS: "linux", Architecture: "s390x"}}
	attestation := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("att"), Size: 10,
		Platform: &ocispec.Platform{OS: "unknown", Architecture: "unknown"}}
	ib, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{absent, mDesc, attestation}})
	iDesc := put(ib)
	iDesc.MediaType = ocispec.MediaTypeImageIndex
	iDesc.Annotations = map[string]string{containerdNameAnnotation: "docker.io/library/multi:1"}
	a.json("index.json", ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, Manifests: []ocispec.Descriptor{iDesc}})
	s := newStore(t)
	imgs, err := s.Load(t.Context(), bytes.NewReader(a.bytes()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(imgs) != 1 || imgs[0].Manifest != mDesc.Digest.String() || !reflect.DeepEqual(imgs[0].RepoTags, []string{"docker.io/library/multi:1"}) {
		t.Errorf("Load = %+v", imgs)
	}
}

// TestLoadCorrupt: every broken archive fails with an error that says
// what is wrong, and leaves the store exactly as it was.
func TestLoadCorrupt(t *testing.T) {
	good := tarball(t, file("ok", "fine"))
	big := tarball(t, file("data", strings.Repeat("x", 10000)))
	truncatedGzip := gz(t, big)
	truncatedGzip = truncatedGzip[:len(truncatedGzip)/2]
	garbled := append([]byte{}, big...)
	copy(garbled[512+3000:], bytes.Repeat([]byte{0}, 200)) // content changed, tar still parses
	badTar := append(append([]byte{}, good[:1024]...), bytes.Repeat([]byte{0xff}, 1024)...)

	wrongDiffID := func() []byte {
		a := newArchive(t)
		ti := testImage{layers: [][]byte{good}}
		cfg := ti.config(t, []digest.Digest{digest.FromString("not the layer")})
		a.add("c.json", cfg)
		a.add("l/layer.tar", good)
		a.json("manifest.json", []dockerManifestEntry{{Config: "c.json", RepoTags: []string{"x:1"}, Layers: []string{"l/layer.tar"}}})
		return a.bytes()
	}
	// An OCI blob whose content does not match its name.
	tamperedOCI := func() []byte {
		arch := ociArchive(t, func(int) map[string]string {
			return map[string]string{containerdNameAnnotation: "docker.io/library/x:1"}
		}, testImage{layers: [][]byte{good}})
		files := tarFiles(t, arch)
		a := newArchive(t)
		for _, name := range keys(files) {
			data := files[name]
			if name == "blobs/sha256/"+digest.FromBytes(good).Encoded() {
				data = big
			}
			a.add(name, data)
		}
		return a.bytes()
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not a tar", bytes.Repeat([]byte("junk"), 300), "load: read archive"},
		{"empty tar", tarball(t), "no files"},
		{"no manifest", tarball(t, file("hello", "x")), "neither manifest.json nor index.json"},
		{"pre-1.10 layout", tarball(t, file("repositories", "{}")), "pre-1.10"},
		{"bad manifest.json", tarball(t, file("manifest.json", "{")), "parse manifest.json"},
		{"missing layer", dockerLegacyArchiveMissing(t, good), `"gone/layer.tar": file does not exist in the archive`},
		{"wrong diffID", wrongDiffID(), "config says sha256:"},
		{"second layer truncated gzip", dockerLegacyArchive(t, testImage{layers: [][]byte{good, big}, gzip: []bool{false, true}, tags: []string{"x:1"}}), ""},
		{"second layer garbled", dockerLegacyArchive(t, testImage{layers: [][]byte{good, garbled}, tags: []string{"x:1"}}), ""},
		{"corrupt layer tar", dockerLegacyArchive(t, testImage{layers: [][]byte{good, badTar}, tags: []string{"x:1"}}), ""},
		{"tampered OCI blob", tamperedOCI(), "archive corrupt"},
	}
	// The truncated/garbled cases need their config to claim the intact
	// layer: rewrite those archives with the right diffIDs.
	tests[7].data = legacyWithBlobs(t, []string{"x:1"}, [][]byte{good, big}, [][]byte{good, truncatedGzip})
	tests[7].want = "unexpected EOF"
	tests[8].data = legacyWithBlobs(t, []string{"x:1"}, [][]byte{good, big}, [][]byte{good, garbled})
	tests[8].want = "content has diffID"
	tests[9].data = legacyWithBlobs(t, []string{"x:1"}, [][]byte{good, big}, [][]byte{good, badTar})
	tests[9].want = "apply layer"

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			pre, err := s.Import(t.Context(), bytes.NewReader(rootfsTar(t, "pre")), "pre:1", nil)
			if err != nil {
				t.Fatal(err)
			}
			before := storeObjects(t, s)
			_, err = s.Load(t.Context(), bytes.NewReader(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "load: ") {
				t.Fatalf("Load() error = %v, want load: ...%s...", err, tt.want)
			}
			if after := storeObjects(t, s); !reflect.DeepEqual(after, before) {
				t.Errorf("failed load changed the store:\nbefore %v\nafter  %v", before, after)
			}
			if _, err := s.Get(pre.ID); err != nil {
				t.Errorf("pre-existing image lost: %v", err)
			}
		})
	}
}

// legacyWithBlobs is a docker save archive whose config is computed from
// tars but whose layer files are blobs (possibly broken).
func legacyWithBlobs(t *testing.T, tags []string, tars, blobs [][]byte) []byte {
	t.Helper()
	var diffIDs []digest.Digest
	for _, l := range tars {
		diffIDs = append(diffIDs, digest.FromBytes(l))
	}
	cfg := testImage{}.config(t, diffIDs)
	a := newArchive(t)
	a.add("config.json", cfg)
	e := dockerManifestEntry{Config: "config.json", RepoTags: tags}
	for i, b := range blobs {
		name := fmt.Sprintf("l%d/layer.tar", i)
		a.add(name, b)
		e.Layers = append(e.Layers, name)
	}
	a.json("manifest.json", []dockerManifestEntry{e})
	return a.bytes()
}

func dockerLegacyArchiveMissing(t *testing.T, layer []byte) []byte {
	a := newArchive(t)
	cfg := testImage{}.config(t, []digest.Digest{digest.FromBytes(layer)})
	a.add("config.json", cfg)
	a.json("manifest.json", []dockerManifestEntry{{Config: "config.json", Layers: []string{"gone/layer.tar"}}})
	return a.bytes()
}

func TestLayerDirsReunpacks(t *testing.T) {
	s := newStore(t)
	img, err := s.Import(t.Context(), bytes.NewReader(rootfsTar(t, "again\n")), "re:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := s.LayerDirs(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Dir(dirs[0])); err != nil {
		t.Fatal(err)
	}
	dirs2, err := s.LayerDirs(img)
	if err != nil || !reflect.DeepEqual(dirs2, dirs) || readLayerFile(t, dirs2[0], "etc/hostname") != "again\n" {
		t.Errorf("LayerDirs after losing the layer = %v, %v", dirs2, err)
	}
	// Without its blob the layer cannot come back: a clear not-found.
	if err := os.RemoveAll(filepath.Dir(dirs[0])); err != nil {
		t.Fatal(err)
	}
	m, _ := s.readManifest(digest.Digest(img.Manifest))
	if err := os.Remove(s.blobPath(m.Layers[0].Digest)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LayerDirs(img); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("LayerDirs without blob error = %v, want ErrNotFound", err)
	}
}

// TestConcurrentImports: several Store handles on one directory (as
// several stack processes would have) import at once; nothing is lost.
func TestConcurrentImports(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "images")
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(dir)
			if err != nil {
				errs[i] = err
				return
			}
			// Half share content, so layer renames race too.
			_, errs[i] = s.Import(t.Context(), bytes.NewReader(rootfsTar(t, fmt.Sprint(i%3))), fmt.Sprintf("c:%d", i), nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("import %d: %v", i, err)
		}
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != n {
		t.Fatalf("List = %d images, %v, want %d", len(list), err, n)
	}
	for _, img := range list {
		if _, err := s.LayerDirs(img); err != nil {
			t.Errorf("LayerDirs(%s): %v", img.RepoTags, err)
		}
	}
	if objs := storeObjects(t, s); len(objs["layers"]) != 3 || len(objs["tmp"]) != 0 {
		t.Errorf("layers %v tmp %v, want 3 shared layers and an empty tmp", objs["layers"], objs["tmp"])
	}
}

func TestOpenClearsDebris(t *testing.T) {
	s := newStore(t)
	debris := filepath.Join(s.Dir(), "tmp", "load-123", "layer-1", "diff")
	if err := os.MkdirAll(debris, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(s.Dir()); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(entries) != 0 {
		t.Errorf("tmp after Open = %v, want empty", entries)
	}
}

func TestChainIDs(t *testing.T) {
	a, b := digest.FromString("a"), digest.FromString("b")
	got := ChainIDs([]digest.Digest{a, b})
	want := digest.FromString(a.String() + " " + b.String())
	if got[0] != a || got[1] != want {
		t.Errorf("ChainIDs = %v, want [%s %s]", got, a, want)
	}
}

// TestDeleteDamaged: an image whose manifest is gone can still be
// deleted, and a damaged neighbour stops garbage collection rather than
// letting it remove a layer the neighbour might need.
func TestDeleteDamaged(t *testing.T) {
	s := newStore(t)
	tb := rootfsTar(t, "shared")
	a, err := s.Import(t.Context(), bytes.NewReader(tb), "a:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Import(t.Context(), bytes.NewReader(tb), "b:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.blobPath(digest.Digest(b.Manifest))); err != nil {
		t.Fatal(err)
	}
	// b is damaged: deleting a must keep the layer b may share.
	if err := s.Delete("a:1"); err != nil {
		t.Fatalf("Delete(a): %v", err)
	}
	if objs := storeObjects(t, s); len(objs["layers"]) != 1 {
		t.Errorf("layers after deleting a = %v, want the shared layer kept", objs["layers"])
	}
	if _, err := s.Get(a.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Get(a) = %v, want not found", err)
	}
	if err := s.Delete("b:1"); err != nil {
		t.Fatalf("Delete(damaged b): %v", err)
	}
	if list, err := s.List(); err != nil || len(list) != 0 {
		t.Errorf("List = %v, %v, want empty", list, err)
	}
}

// BenchmarkLoad measures loading a two-layer docker save archive (one
// layer gzipped) into a fresh store: staging, digests, diffID checks and
// unpacking.
func BenchmarkLoad(b *testing.B) {
	var t testing.T
	body := strings.Repeat("y", 16<<10)
	var l1, l2 []ent
	for i := range 200 {
		l1 = append(l1, file(fmt.Sprintf("lib/f%d", i), body))
		l2 = append(l2, file(fmt.Sprintf("app/f%d", i), body))
	}
	arch := dockerLegacyArchive(&t, testImage{layers: [][]byte{tarball(&t, l1...), tarball(&t, l2...)}, gzip: []bool{false, true}, tags: []string{"bench:1"}})
	if t.Failed() {
		b.Fatal("building the benchmark archive failed")
	}
	b.SetBytes(int64(len(arch)))
	parent := b.TempDir()
	for i := 0; b.Loop(); i++ {
		s, err := Open(filepath.Join(parent, fmt.Sprint(i)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Load(b.Context(), bytes.NewReader(arch)); err != nil {
			b.Fatal(err)
		}
	}
}
