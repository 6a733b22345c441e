package image

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"stack/engine/rootfs/layer"
)

// whiteoutLayers is the two-layer image of the whiteout tests: layer 1
// has /a/x, /a/y and /b/z; layer 2 deletes /a/x and makes /b opaque, with
// the opaque marker after b's new file to prove order does not matter.
func whiteoutLayers(t *testing.T) (l1, l2 []byte) {
	l1 = tarball(t, dirEnt("a/"), file("a/x", "x"), file("a/y", "y"), dirEnt("b/"), file("b/z", "z"))
	l2 = tarball(t, file("a/.wh.x", ""), dirEnt("b/"), file("b/new", "new"), file("b/.wh..wh..opq", ""))
	return l1, l2
}

// checkWhiteoutLayers checks the overlay form of the whiteouts on disk and
// the merged view through a real overlay mount.
func checkWhiteoutLayers(t *testing.T, dirs []string) {
	t.Helper()
	if len(dirs) != 2 {
		t.Fatalf("LayerDirs = %v, want 2 layers", dirs)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dirs[1], "a/x"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("top layer a/x is not an overlay whiteout (char 0/0): mode %o rdev %d err %v", st.Mode, st.Rdev, err)
	}
	buf := make([]byte, 4)
	if n, err := unix.Lgetxattr(filepath.Join(dirs[1], "b"), layer.OverlayOpaqueXattr, buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("top layer b has %s = %q, %v, want y", layer.OverlayOpaqueXattr, buf[:n], err)
	}
	if _, err := os.Lstat(filepath.Join(dirs[1], "b/.wh..wh..opq")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("opaque marker extracted as a file: %v", err)
	}

	// Overlay's leftmost lowerdir is the top layer.
	mnt := t.TempDir()
	opts := "lowerdir=" + dirs[1] + ":" + dirs[0]
	if err := unix.Mount("overlay", mnt, "overlay", unix.MS_RDONLY, opts); err != nil {
		t.Fatalf("mount overlay %s: %v", opts, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	var got []string
	err := filepath.Walk(mnt, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p != mnt {
			got = append(got, strings.TrimPrefix(p, mnt+"/"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if want := []string{"a", "a/y", "b", "b/new"}; !reflect.DeepEqual(got, want) {
		t.Errorf("merged view = %v, want %v", got, want)
	}
}

func TestLoadWhiteoutsOverlay(t *testing.T) {
	requireRoot(t)
	l1, l2 := whiteoutLayers(t)
	arch := dockerLegacyArchive(t, testImage{layers: [][]byte{l1, l2}, gzip: []bool{false, true}, tags: []string{"test/whiteout:1"}})
	s := newStore(t)
	imgs, err := s.Load(t.Context(), bytes.NewReader(arch))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	img, err := s.Get("test/whiteout:1")
	if err != nil || img.ID != imgs[0].ID {
		t.Fatalf("Get = %v, %v", img, err)
	}
	dirs, err := s.LayerDirs(img)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range dirs {
		want := filepath.Join(s.Dir(), "layers", ChainIDs(img.Config.RootFS.DiffIDs)[i].Encoded(), "diff")
		if d != want || !filepath.IsAbs(d) {
			t.Errorf("LayerDirs[%d] = %s, want %s", i, d, want)
		}
	}
	checkWhiteoutLayers(t, dirs)

	// save -> load into a fresh store: same ID, same on-disk layers.
	var buf bytes.Buffer
	if err := s.Save(t.Context(), &buf, []string{"test/whiteout:1"}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	fresh := newStore(t)
	again, err := fresh.Load(t.Context(), &buf)
	if err != nil {
		t.Fatalf("Load(saved): %v", err)
	}
	if len(again) != 1 || again[0].ID != img.ID || !reflect.DeepEqual(again[0].RepoTags, img.RepoTags) {
		t.Fatalf("reloaded = %+v, want ID %s tags %v", again, img.ID, img.RepoTags)
	}
	dirs, err = fresh.LayerDirs(again[0])
	if err != nil {
		t.Fatal(err)
	}
	checkWhiteoutLayers(t, dirs)
}

func TestLoadOCIWhiteouts(t *testing.T) {
	requireRoot(t)
	l1, l2 := whiteoutLayers(t)
	arch := ociArchive(t, func(int) map[string]string {
		return map[string]string{containerdNameAnnotation: "docker.io/test/oci:1", "org.opencontainers.image.ref.name": "1"}
	}, testImage{layers: [][]byte{l1, l2}, gzip: []bool{true, true}})
	s := newStore(t)
	imgs, err := s.Load(t.Context(), bytes.NewReader(gz(t, arch)))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(imgs) != 1 || !reflect.DeepEqual(imgs[0].RepoTags, []string{"docker.io/test/oci:1"}) {
		t.Fatalf("Load = %+v", imgs)
	}
	dirs, err := s.LayerDirs(imgs[0])
	if err != nil {
		t.Fatal(err)
	}
	checkWhiteoutLayers(t, dirs)
}

// TestLoadCorruptAfterWhiteoutLayer: the first layer (with whiteouts) is
// unpacked before the second turns out corrupt; nothing of it may remain.
func TestLoadCorruptAfterWhiteoutLayer(t *testing.T) {
	requireRoot(t)
	l1, l2 := whiteoutLayers(t)
	bad := gz(t, l1)
	bad = bad[:len(bad)-10]
	arch := legacyWithBlobs(t, []string{"x:1"}, [][]byte{l2, l1}, [][]byte{l2, bad})
	s := newStore(t)
	_, err := s.Load(t.Context(), bytes.NewReader(arch))
	if err == nil || !strings.Contains(err.Error(), "load: image sha256:") || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Fatalf("Load() error = %v, want an unexpected EOF in the second layer", err)
	}
	if objs := storeObjects(t, s); len(objs) != 0 {
		t.Errorf("failed load left %v", objs)
	}
}
