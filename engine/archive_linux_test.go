package engine_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"
)

type tarEntry struct {
	name string
	body string
	dir  bool
}

func tarOf(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, en := range entries {
		h := &tar.Header{Name: en.name, Mode: 0o644, Size: int64(len(en.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}
		if en.dir {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(en.body))
	}
	tw.Close()
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// dockerSave builds a legacy `docker save` archive of one image.
func dockerSave(t *testing.T, tag string, layers [][]byte) []byte {
	t.Helper()
	var diffIDs, paths []string
	files := map[string][]byte{}
	for _, l := range layers {
		d := sha(l)
		diffIDs = append(diffIDs, "sha256:"+d)
		p := d + "/layer.tar"
		paths = append(paths, p)
		files[p] = l
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
		"config": map[string]any{"Cmd": []string{"/bin/sh"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	cfgName := sha(cfg) + ".json"
	files[cfgName] = cfg
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{tag}, "Layers": paths}})
	files["manifest.json"] = manifest
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range append(append([]string{cfgName}, paths...), "manifest.json") {
		b := files[name]
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	return buf.Bytes()
}
