package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stack/engine/errdefs"
	"stack/engine/image"
)

// TestImageCommands checks that every subcommand's flags fit together
// (a clash, such as -h, panics only when the command runs).
func TestImageCommands(t *testing.T) {
	for _, sub := range newImageCmd(&globals{}).Commands() {
		t.Run(sub.Name(), func(t *testing.T) {
			cmd := newImageCmd(&globals{})
			var out strings.Builder
			cmd.SetOut(&out)
			cmd.SetErr(io.Discard)
			cmd.SetArgs([]string{sub.Name(), "--help"})
			if err := cmd.Execute(); err != nil {
				t.Fatalf("image %s --help: %v", sub.Name(), err)
			}
			if !strings.Contains(out.String(), "Usage:") {
				t.Errorf("image %s --help printed %q", sub.Name(), out.String())
			}
		})
	}
}

func TestImageRows(t *testing.T) {
	now := time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC)
	img := &image.Image{
		ID:       "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		RepoTags: []string{"docker.io/library/busybox:latest", "localhost:5000/x:y"},
		Size:     4413000,
		Created:  now.Add(-2 * time.Hour),
	}
	got := imageRows(img, true, now)
	want := []imageRow{
		{Containers: "N/A", CreatedAt: time.Unix(img.Created.Unix(), 0).String(), CreatedSince: "2 hours ago", Digest: "<none>",
			ID: "0123456789ab", Repository: "busybox", SharedSize: "N/A", Size: "4.41MB", Tag: "latest", UniqueSize: "N/A", VirtualSize: "4.413MB"},
	}
	want = append(want, want[0])
	want[1].Repository, want[1].Tag = "localhost:5000/x", "y"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("imageRows() =\n%+v\nwant\n%+v", got, want)
	}
	img.RepoTags = nil
	img.Created = time.Time{}
	got = imageRows(img, false, now)
	if len(got) != 1 || got[0].Repository != "<none>" || got[0].Tag != "<none>" || got[0].ID != img.ID || got[0].CreatedSince != "N/A" {
		t.Errorf("untagged imageRows() = %+v", got)
	}
}

func TestImageFilter(t *testing.T) {
	tagged := &image.Image{RepoTags: []string{"docker.io/library/busybox:1.36"}}
	tagged.Config.Config.Labels = map[string]string{"tier": "web"}
	untagged := &image.Image{}
	rows := func(img *image.Image) []imageRow { return imageRows(img, true, time.Now()) }
	tests := []struct {
		filters []string
		img     *image.Image
		want    int
	}{
		{nil, tagged, 1},
		{[]string{"dangling=true"}, tagged, 0},
		{[]string{"dangling=true"}, untagged, 1},
		{[]string{"dangling=false"}, untagged, 0},
		{[]string{"reference=busybox"}, tagged, 1},
		{[]string{"reference=busy*"}, tagged, 1},
		{[]string{"reference=busybox:1.*"}, tagged, 1},
		{[]string{"reference=busybox:latest"}, tagged, 0},
		{[]string{"reference=alpine"}, tagged, 0},
		{[]string{"reference=busybox"}, untagged, 0},
		{[]string{"label=tier"}, tagged, 1},
		{[]string{"label=tier=web"}, tagged, 1},
		{[]string{"label=tier=db"}, tagged, 0},
	}
	for _, tt := range tests {
		f, err := parseImageFilters(tt.filters)
		if err != nil {
			t.Fatalf("parseImageFilters(%q): %v", tt.filters, err)
		}
		if got := len(f.keep(tt.img, rows(tt.img))); got != tt.want {
			t.Errorf("filters %q on %v kept %d rows, want %d", tt.filters, tt.img.RepoTags, got, tt.want)
		}
	}
	for _, bad := range []string{"dangling", "dangling=maybe", "before=x"} {
		if _, err := parseImageFilters([]string{bad}); err == nil {
			t.Errorf("parseImageFilters(%q) = nil error", bad)
		}
	}
}

func TestHistoryRows(t *testing.T) {
	now := time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	img := &image.Image{ID: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	img.Config.RootFS.DiffIDs = []digest.Digest{digest.FromString("a"), digest.FromString("b")}
	img.Config.History = []ocispec.History{
		{Created: at(72 * time.Hour), CreatedBy: "/bin/sh -c #(nop) ADD file:0123456789abcdef in / "},
		{Created: at(72 * time.Hour), CreatedBy: "/bin/sh -c #(nop)  CMD [\"sh\"]", EmptyLayer: true},
		{Created: at(time.Hour), CreatedBy: "/bin/sh -c apk add\tcurl", Comment: "buildkit.dockerfile.v0"},
	}
	got := historyRows(img, []int64{4261550, 1500}, true, true, now)
	want := []historyRow{
		{ID: "0123456789ab", CreatedSince: "About an hour ago", CreatedAt: at(time.Hour).Format(time.RFC3339), CreatedBy: "/bin/sh -c apk add curl", Size: "1.5kB", Comment: "buildkit.dockerfile.v0"},
		{ID: "<missing>", CreatedSince: "3 days ago", CreatedAt: at(72 * time.Hour).Format(time.RFC3339), CreatedBy: `/bin/sh -c #(nop)  CMD ["sh"]`, Size: "0B"},
		{ID: "<missing>", CreatedSince: "3 days ago", CreatedAt: at(72 * time.Hour).Format(time.RFC3339), CreatedBy: "/bin/sh -c #(nop) ADD file:0123456789abcdef …", Size: "4.26MB"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("historyRows() =\n%+v\nwant\n%+v", got, want)
	}
	got = historyRows(img, []int64{4261550, 1500}, false, false, now)
	if got[0].ID != img.ID || got[2].Size != "4261550" || got[0].CreatedSince != got[0].CreatedAt || !strings.HasSuffix(got[2].CreatedBy, "in / ") {
		t.Errorf("historyRows(-H=false, --no-trunc) = %+v", got)
	}
}

// stackCLI runs the CLI in-process against a private state root.
type stackCLI struct {
	t    *testing.T
	root string
}

func (c stackCLI) run(stdin []byte, args ...string) (string, error) {
	c.t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetIn(bytes.NewReader(stdin))
	cmd.SetArgs(append([]string{"--root", c.root}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func (c stackCLI) must(stdin []byte, args ...string) string {
	c.t.Helper()
	out, err := c.run(stdin, args...)
	if err != nil {
		c.t.Fatalf("stack %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func rootfsTarball(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for name, body := range map[string]string{"etc/hostname": "box\n", "bin/tool": strings.Repeat("x", 2006)} {
		if err := w.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestImageCLI drives import, tag, ls, inspect, history, save, load and
// rm through the real command tree and a real (temporary) store.
func TestImageCLI(t *testing.T) {
	cli := stackCLI{t: t, root: t.TempDir()}
	tb := rootfsTarball(t)

	out := cli.must(tb, "image", "import", "-c", `CMD ["/bin/tool"]`, "-c", "ENV A=1", "-c", "EXPOSE 8080", "-m", "hello", "-", "example/app:1")
	id := strings.TrimSpace(out)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("import printed %q, want the image ID", out)
	}
	file := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(file, tb, 0o644); err != nil {
		t.Fatal(err)
	}
	id2 := strings.TrimSpace(cli.must(nil, "image", "import", file))
	if id2 == id {
		t.Errorf("second import has the same ID")
	}
	if _, err := cli.run(nil, "image", "import", "-c", "RUN make", file); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("import with RUN: %v, want ErrInvalid", err)
	}
	cli.must(nil, "image", "tag", "example/app:1", "busybox")

	out = cli.must(nil, "image", "ls")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !regexp.MustCompile(`^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$`).MatchString(lines[0]) {
		t.Fatalf("image ls =\n%s", out)
	}
	row := regexp.MustCompile(`^(\S+)\s+(\S+)\s+([0-9a-f]{12})\s+(.+ ago)\s+(\S+)$`)
	seen := map[string]string{}
	for _, l := range lines[1:] {
		m := row.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("image ls row %q does not look like docker's", l)
		}
		seen[m[1]+":"+m[2]] = m[3]
		if m[5] != "2.01kB" {
			t.Errorf("size column = %q, want 2.01kB", m[5])
		}
	}
	short := id[7:19]
	if seen["busybox:latest"] != short || seen["example/app:1"] != short || seen["<none>:<none>"] != id2[7:19] {
		t.Errorf("image ls rows = %v", seen)
	}
	if out := cli.must(nil, "image", "ls", "-q", "busybox"); out != short+"\n" {
		t.Errorf("image ls -q busybox = %q", out)
	}
	out = cli.must(nil, "image", "list", "--format", "json", "--no-trunc", "example/app")
	var obj map[string]string
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatalf("--format json printed %q: %v", out, err)
	}
	for k, v := range map[string]string{"Repository": "example/app", "Tag": "1", "ID": id, "Size": "2.01kB", "CreatedSince": "Less than a second ago"} {
		if obj[k] != v {
			t.Errorf("json %s = %q, want %q (%s)", k, obj[k], v, out)
		}
	}
	for _, k := range []string{"CreatedAt", "Containers", "Digest", "SharedSize", "UniqueSize", "VirtualSize"} {
		if _, ok := obj[k]; !ok {
			t.Errorf("json lacks docker's key %s", k)
		}
	}

	out = cli.must(nil, "image", "inspect", "busybox")
	var infos []map[string]any
	if err := json.Unmarshal([]byte(out), &infos); err != nil || len(infos) != 1 {
		t.Fatalf("inspect printed %q: %v", out, err)
	}
	info := infos[0]
	cfg, _ := info["Config"].(map[string]any)
	if info["Id"] != id || info["Os"] != "linux" || info["Comment"] != "hello" || cfg == nil ||
		!reflect.DeepEqual(cfg["Cmd"], []any{"/bin/tool"}) || !reflect.DeepEqual(cfg["Env"], []any{"A=1"}) ||
		!reflect.DeepEqual(cfg["ExposedPorts"], map[string]any{"8080/tcp": map[string]any{}}) {
		t.Errorf("inspect = %s", out)
	}
	if tags := info["RepoTags"]; !reflect.DeepEqual(tags, []any{"example/app:1", "busybox:latest"}) {
		t.Errorf("inspect RepoTags = %v", tags)
	}
	rootfs, _ := info["RootFS"].(map[string]any)
	if rootfs["Type"] != "layers" || !reflect.DeepEqual(rootfs["Layers"], []any{digest.FromBytes(tb).String()}) {
		t.Errorf("inspect RootFS = %v", rootfs)
	}
	if !strings.HasPrefix(out, "[\n    {\n        \"Id\"") {
		t.Errorf("inspect is not docker's 4-space indented array:\n%s", out)
	}
	out, err := cli.run(nil, "image", "inspect", "busybox", "nope")
	if err == nil || err.Error() != `image "nope:latest": not found` || !strings.Contains(out, id) {
		t.Errorf("inspect with an unknown name: out %q, err %v", out, err)
	}
	if out := cli.must(nil, "image", "inspect", "-f", "{{.Id}} {{.Config.WorkingDir}}|{{json .RepoTags}}", id[7:15]); out != id+" |[\"example/app:1\",\"busybox:latest\"]\n" {
		t.Errorf("inspect -f = %q", out)
	}

	out = cli.must(nil, "image", "history", "busybox")
	if !regexp.MustCompile(`(?m)^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT\n` + short + `\s+Less than a second ago\s+2\.01kB\s+hello\n$`).MatchString(out) {
		t.Errorf("history =\n%s", out)
	}

	saved := cli.must(nil, "image", "save", "busybox", "example/app:1")
	archive := filepath.Join(t.TempDir(), "out.tar")
	cli.must(nil, "image", "save", "-o", archive, id2)
	if _, err := cli.run(nil, "image", "save", "-o", filepath.Join(t.TempDir(), "x.tar"), "missing"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("save missing: %v", err)
	}

	out = cli.must(nil, "image", "rm", "busybox")
	if out != "Untagged: busybox:latest\n" {
		t.Errorf("rm busybox = %q", out)
	}
	out = cli.must(nil, "image", "remove", "example/app:1", id2[7:19])
	if !strings.HasPrefix(out, "Untagged: example/app:1\nDeleted: "+id+"\n") || !strings.Contains(out, "Deleted: "+id2+"\n") {
		t.Errorf("rm = %q", out)
	}
	if out := cli.must(nil, "image", "ls", "-q"); out != "" {
		t.Errorf("image ls -q after rm = %q", out)
	}
	if _, err := cli.run(nil, "image", "rm", "busybox"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("rm of a removed image: %v", err)
	}

	out = cli.must([]byte(saved), "image", "load")
	if out != "Loaded image: example/app:1\nLoaded image: busybox:latest\n" {
		t.Errorf("load = %q", out)
	}
	out = cli.must(nil, "image", "load", "-q", "-i", archive)
	if out != "Loaded image ID: "+id2+"\n" {
		t.Errorf("load -i untagged = %q", out)
	}
	if out := cli.must(nil, "image", "ls", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}", "--no-trunc"); !strings.Contains(out, id+" busybox:latest\n") || !strings.Contains(out, id2+" <none>:<none>\n") {
		t.Errorf("after load: image ls = %q", out)
	}
	if _, err := cli.run([]byte("not a tar at all, just text that is long enough to fill a header block"), "image", "load"); err == nil || !strings.HasPrefix(err.Error(), "load: ") {
		t.Errorf("load of junk: %v", err)
	}
}
