package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"stack/engine/image"
	"stack/engine/state"
)

// newImageCmd is `stack image`: docker's image verbs, flags and output.
func newImageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage images",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(
		newImageImportCmd(g),
		newImageLoadCmd(g),
		newImageSaveCmd(g),
		newImageListCmd(g),
		newImageRemoveCmd(g),
		newImageInspectCmd(g),
		newImageTagCmd(g),
		newImageHistoryCmd(g),
	)
	return cmd
}

// ---- import, load, save ----

func newImageImportCmd(g *globals) *cobra.Command {
	var changes []string
	var message string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src := args[0]
			if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
				return fmt.Errorf("import %s: importing from a URL is not supported; download the tarball and import the file", src)
			}
			ref := ""
			if len(args) == 2 {
				ref = args[1]
			}
			var r io.Reader = cmd.InOrStdin()
			if src != "-" {
				f, err := os.Open(src)
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				defer f.Close()
				r = f
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			img, err := e.Images.ImportWith(cmd.Context(), r, image.ImportOptions{Ref: ref, Changes: changes, Message: message})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), img.ID)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	cmd.Flags().StringVarP(&message, "message", "m", "", "Set commit message for imported image")
	return cmd
}

func newImageLoadCmd(g *globals) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r io.Reader = cmd.InOrStdin()
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return fmt.Errorf("load: %w", err)
				}
				defer f.Close()
				r = f
			} else if f, ok := r.(*os.File); ok && isTerminal(int(f.Fd())) {
				// docker's check: a terminal on stdin means the user forgot
				// the archive, and waiting on it would look like a hang.
				return errors.New("requested load from stdin, but stdin is empty")
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			loaded, err := e.Images.LoadArchive(cmd.Context(), r)
			if err != nil {
				return err
			}
			// -q only silences progress, which we do not draw: the result
			// lines are printed either way, as docker does.
			_ = quiet
			out := cmd.OutOrStdout()
			for _, l := range loaded {
				if len(l.Tags) == 0 {
					fmt.Fprintf(out, "Loaded image ID: %s\n", l.Image.ID)
				}
				for _, t := range l.Tags {
					fmt.Fprintf(out, "Loaded image: %s\n", image.FamiliarName(t))
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}

func newImageSaveCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			if output == "" {
				out := cmd.OutOrStdout()
				if f, ok := out.(*os.File); ok && isTerminal(int(f.Fd())) {
					return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
				}
				return e.Images.Save(cmd.Context(), out, args)
			}
			return saveToFile(cmd, e.Images, output, args)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

// saveToFile writes the archive next to path and renames it into place,
// so a failed save never leaves a truncated archive under the name.
func saveToFile(cmd *cobra.Command, store *image.Store, path string, refs []string) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := store.Save(cmd.Context(), f, refs); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// ---- ls ----

// imageRow is one line of `image ls`. Fields are in alphabetical order so
// that --format json prints keys in the order docker does.
type imageRow struct {
	Containers   string
	CreatedAt    string
	CreatedSince string
	Digest       string
	ID           string
	Repository   string
	SharedSize   string
	Size         string
	Tag          string
	UniqueSize   string
	VirtualSize  string
}

// imageHeader holds the column titles of docker images's table.
var imageHeader = imageRow{
	Containers: "CONTAINERS", CreatedAt: "CREATED AT", CreatedSince: "CREATED", Digest: "DIGEST",
	ID: "IMAGE ID", Repository: "REPOSITORY", SharedSize: "SHARED SIZE", Size: "SIZE",
	Tag: "TAG", UniqueSize: "UNIQUE SIZE", VirtualSize: "SIZE",
}

const (
	imageTableFormat        = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	imageDigestsTableFormat = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
)

// imageRows turns an image into docker's rows: one per tag, or one
// "<none> <none>" row for an untagged image.
func imageRows(img *image.Image, trunc bool, now time.Time) []imageRow {
	id := img.ID
	if trunc {
		id = state.ShortID(id)
	}
	base := imageRow{
		Containers:   "N/A",
		CreatedAt:    "N/A",
		CreatedSince: "N/A",
		Digest:       "<none>",
		ID:           id,
		SharedSize:   "N/A",
		Size:         humanSizePrecision(float64(img.Size), 3),
		UniqueSize:   "N/A",
		VirtualSize:  humanSize(img.Size),
	}
	if !img.Created.IsZero() {
		base.CreatedAt = time.Unix(img.Created.Unix(), 0).String()
		base.CreatedSince = timeAgo(img.Created, now)
	}
	if len(img.RepoDigests) > 0 {
		if r, err := image.ParseReference(img.RepoDigests[0]); err == nil {
			base.Digest = r.Digest.String()
		}
	}
	if len(img.RepoTags) == 0 {
		base.Repository, base.Tag = "<none>", "<none>"
		return []imageRow{base}
	}
	var rows []imageRow
	for _, t := range img.RepoTags {
		r, err := image.ParseReference(t)
		if err != nil {
			continue
		}
		row := base
		row.Repository, row.Tag = r.FamiliarName(), r.Tag
		rows = append(rows, row)
	}
	return rows
}

// imageFilter is `image ls --filter` (and the REPOSITORY[:TAG] argument).
type imageFilter struct {
	dangling   *bool
	references []string
	labels     []string
}

func parseImageFilters(values []string) (*imageFilter, error) {
	f := &imageFilter{}
	for _, v := range values {
		key, val, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value): %q", v)
		}
		switch strings.ToLower(key) {
		case "dangling":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return nil, fmt.Errorf("invalid filter 'dangling=%s': want true or false", val)
			}
			f.dangling = &b
		case "reference":
			f.references = append(f.references, val)
		case "label":
			f.labels = append(f.labels, val)
		default:
			return nil, fmt.Errorf("invalid filter '%s' (supported: dangling, reference, label)", key)
		}
	}
	return f, nil
}

// keep filters an image's rows; references match "repo" or "repo:tag"
// with shell patterns, as docker's reference filter does.
func (f *imageFilter) keep(img *image.Image, rows []imageRow) []imageRow {
	if f.dangling != nil && *f.dangling != (len(img.RepoTags) == 0) {
		return nil
	}
	for _, l := range f.labels {
		k, v, hasValue := strings.Cut(l, "=")
		got, ok := img.Config.Config.Labels[k]
		if !ok || (hasValue && got != v) {
			return nil
		}
	}
	if len(f.references) == 0 {
		return rows
	}
	var out []imageRow
	for _, row := range rows {
		if row.Repository == "<none>" {
			continue
		}
		for _, pattern := range f.references {
			target := row.Repository
			if strings.Contains(pattern[strings.LastIndex(pattern, "/")+1:], ":") {
				target += ":" + row.Tag
			}
			if ok, _ := path.Match(pattern, target); ok {
				out = append(out, row)
				break
			}
		}
	}
	return out
}

func newImageListCmd(g *globals) *cobra.Command {
	var all, quiet, noTrunc, digests bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS] [REPOSITORY[:TAG]]",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := parseImageFilters(filters)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				filter.references = append(filter.references, args[0])
			}
			def := imageTableFormat
			if digests {
				def = imageDigestsTableFormat
			}
			if quiet {
				format = "{{.ID}}"
			}
			lf, err := parseListFormat(format, def)
			if err != nil {
				return err
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			// -a would add intermediate build images; we keep none apart
			// from the images themselves, so it changes nothing.
			_ = all
			imgs, err := e.Images.List()
			if err != nil {
				return err
			}
			now := time.Now()
			var rows []any
			for _, img := range imgs {
				for _, r := range filter.keep(img, imageRows(img, !noTrunc, now)) {
					rows = append(rows, r)
				}
			}
			return lf.write(cmd.OutOrStdout(), imageHeader, rows)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show all images (default hides intermediate images)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	cmd.Flags().BoolVar(&digests, "digests", false, "Show digests")
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided (dangling=, reference=, label=)")
	return cmd
}

// ---- rm, tag ----

func newImageRemoveCmd(g *globals) *cobra.Command {
	var force, noPrune bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] IMAGE [IMAGE...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more images",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			// --no-prune keeps untagged parents in docker; our images
			// have no parent images, so there is nothing to keep.
			_ = noPrune
			out := cmd.OutOrStdout()
			var errs []error
			for _, a := range args {
				res, err := e.Images.Remove(a, image.RemoveOptions{Force: force, Users: e.ImageUsers})
				for _, u := range res.Untagged {
					fmt.Fprintf(out, "Untagged: %s\n", image.FamiliarName(u))
				}
				for _, d := range res.Deleted {
					fmt.Fprintf(out, "Deleted: %s\n", d)
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force removal of the image")
	cmd.Flags().BoolVar(&noPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

func newImageTagCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			return e.Images.Tag(args[0], args[1])
		},
	}
}

// ---- inspect ----

// imageInspect is docker's image inspect object.
type imageInspect struct {
	Id            string
	RepoTags      []string
	RepoDigests   []string
	Parent        string
	Comment       string
	Created       string
	DockerVersion string
	Author        string
	Config        imageInspectConfig
	Architecture  string
	Variant       string `json:",omitempty"`
	Os            string
	Size          int64
	RootFS        imageInspectRootFS
	Metadata      imageInspectMetadata
}

type imageInspectConfig struct {
	User         string
	ExposedPorts map[string]struct{}
	Env          []string
	Entrypoint   []string
	Cmd          []string
	Volumes      map[string]struct{}
	WorkingDir   string
	Labels       map[string]string
	StopSignal   string
	Healthcheck  *image.HealthConfig `json:",omitempty"`
	OnBuild      []string            `json:",omitempty"`
	Shell        []string            `json:",omitempty"`
}

type imageInspectRootFS struct {
	Type   string
	Layers []string
}

type imageInspectMetadata struct {
	LastTagTime string
}

func newImageInspect(img *image.Image) imageInspect {
	c := img.Config
	familiar := func(refs []string) []string {
		out := []string{}
		for _, r := range refs {
			out = append(out, image.FamiliarName(r))
		}
		return out
	}
	layers := []string{}
	for _, d := range c.RootFS.DiffIDs {
		layers = append(layers, d.String())
	}
	created := ""
	if !img.Created.IsZero() {
		created = img.Created.Format(time.RFC3339Nano)
	}
	return imageInspect{
		Id:           img.ID,
		RepoTags:     familiar(img.RepoTags),
		RepoDigests:  familiar(img.RepoDigests),
		Comment:      img.Comment,
		Created:      created,
		Author:       c.Author,
		Architecture: c.Architecture,
		Variant:      c.Variant,
		Os:           c.OS,
		Size:         img.Size,
		Config: imageInspectConfig{
			User:         c.Config.User,
			ExposedPorts: c.Config.ExposedPorts,
			Env:          c.Config.Env,
			Entrypoint:   c.Config.Entrypoint,
			Cmd:          c.Config.Cmd,
			Volumes:      c.Config.Volumes,
			WorkingDir:   c.Config.WorkingDir,
			Labels:       c.Config.Labels,
			StopSignal:   c.Config.StopSignal,
			Healthcheck:  img.Healthcheck,
			OnBuild:      img.OnBuild,
			Shell:        img.Shell,
		},
		RootFS:   imageInspectRootFS{Type: c.RootFS.Type, Layers: layers},
		Metadata: imageInspectMetadata{LastTagTime: time.Time{}.Format(time.RFC3339Nano)},
	}
}

func newImageInspectCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			infos := []imageInspect{}
			var errs []error
			for _, a := range args {
				img, err := e.Images.Get(a)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				infos = append(infos, newImageInspect(img))
			}
			if err := writeImageInspect(cmd.OutOrStdout(), format, infos); err != nil {
				return err
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a Go template ('json' for the JSON array)")
	return cmd
}

// writeImageInspect prints docker's inspect output: a JSON array indented
// with four spaces, or the template once per image.
func writeImageInspect(w io.Writer, format string, infos []imageInspect) error {
	if format == "" || format == "json" {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "    ")
		return enc.Encode(infos)
	}
	lf, err := parseListFormat(format, "")
	if err != nil {
		return err
	}
	rows := make([]any, len(infos))
	for i, info := range infos {
		rows[i] = info
	}
	return lf.write(w, nil, rows)
}

// ---- history ----

// historyRow is one line of `image history`.
type historyRow struct {
	ID           string
	CreatedSince string
	CreatedAt    string
	CreatedBy    string
	Size         string
	Comment      string
}

var historyHeader = historyRow{ID: "IMAGE", CreatedSince: "CREATED", CreatedAt: "CREATED AT", CreatedBy: "CREATED BY", Size: "SIZE", Comment: "COMMENT"}

const historyTableFormat = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"

// historyRows is docker history: newest step first, the image's ID on the
// top row and "<missing>" below (the steps are not images of their own),
// each step that made a layer sized by that layer.
func historyRows(img *image.Image, sizes []int64, human, trunc bool, now time.Time) []historyRow {
	hist := slices.Clone(img.Config.History)
	if len(hist) == 0 {
		// No history recorded: one anonymous step per layer.
		for range img.Config.RootFS.DiffIDs {
			hist = append(hist, ocispec.History{Created: img.Config.Created})
		}
	}
	rows := make([]historyRow, len(hist))
	layer := 0
	for i, h := range hist {
		var size int64
		if !h.EmptyLayer {
			if layer < len(sizes) {
				size = sizes[layer]
			}
			layer++
		}
		var created time.Time
		if h.Created != nil {
			created = *h.Created
		}
		createdBy := strings.ReplaceAll(h.CreatedBy, "\t", " ")
		if trunc {
			createdBy = ellipsis(createdBy, 45)
		}
		row := historyRow{ID: "<missing>", CreatedBy: createdBy, Comment: h.Comment, CreatedSince: "N/A", CreatedAt: "N/A"}
		if !created.IsZero() {
			row.CreatedAt = created.Format(time.RFC3339)
			row.CreatedSince = row.CreatedAt
			if human {
				row.CreatedSince = timeAgo(created, now)
			}
		}
		row.Size = strconv.FormatInt(size, 10)
		if human {
			row.Size = humanSizePrecision(float64(size), 3)
		}
		rows[len(hist)-1-i] = row
	}
	if len(rows) > 0 {
		rows[0].ID = img.ID
		if trunc {
			rows[0].ID = state.ShortID(img.ID)
		}
	}
	return rows
}

func newImageHistoryCmd(g *globals) *cobra.Command {
	var human, quiet, noTrunc bool
	var format string
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if quiet {
				format = "{{.ID}}"
			}
			lf, err := parseListFormat(format, historyTableFormat)
			if err != nil {
				return err
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			img, err := e.Images.Get(args[0])
			if err != nil {
				return err
			}
			sizes, err := e.Images.LayerSizes(img)
			if err != nil {
				return err
			}
			var rows []any
			for _, r := range historyRows(img, sizes, human, !noTrunc, time.Now()) {
				rows = append(rows, r)
			}
			return lf.write(cmd.OutOrStdout(), historyHeader, rows)
		},
	}
	cmd.Flags().BoolVarP(&human, "human", "H", true, "Print sizes and dates in human readable format")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template")
	return cmd
}
