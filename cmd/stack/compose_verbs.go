package main

// The compose verbs that read or poke at what runs: ls, top, images, port,
// exec, kill, pause, unpause, wait and version. ps is in compose_ps.go and
// logs in compose_logs.go. Each finds the project's containers by label
// (projectContainers), so each works from -p NAME without a compose file,
// as docker compose's do.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"stack/engine"
	"stack/engine/container"
	"stack/engine/image"
	"stack/engine/oci"
	"stack/engine/shim"
	"stack/engine/state"
	"stack/planner"
	"stack/reconciler"
)

// openComposeProject resolves the project of a compose verb (a file, or
// -p alone), checks that the services named exist in the file, and opens
// the engine.
func (g *globals) openComposeProject(cmd *cobra.Command, services []string) (*composeProject, *engine.Engine, error) {
	p, err := g.loadProject(cmd.Context(), cmd.ErrOrStderr(), false, services...)
	if err != nil {
		return nil, nil, err
	}
	if err := p.checkServices(services); err != nil {
		return nil, nil, err
	}
	e, err := g.engine()
	if err != nil {
		return nil, nil, err
	}
	return p, e, nil
}

// isUp reports whether docker lists the container without -a: running,
// paused or restarting.
func isUp(st *container.State) bool {
	switch st.Status {
	case container.Running, container.Paused, container.Restarting:
		return true
	}
	return false
}

func isOneoff(c *engine.Container) bool {
	return c.Config.Labels[planner.LabelOneoff] == planner.OneoffTrue
}

func containerNumber(c *engine.Container) int {
	n, _ := strconv.Atoi(c.Config.Labels[planner.LabelContainerNumber])
	return n
}

// declared keeps the containers of the services the compose file declares
// (all of them without a file): verbs that leave orphans alone unless told.
func declared(p *composeProject, cs []*engine.Container) []*engine.Container {
	if p.Spec == nil {
		return cs
	}
	names := p.Spec.ServiceNames()
	var out []*engine.Container
	for _, c := range cs {
		if slices.Contains(names, c.Config.Labels[planner.LabelService]) {
			out = append(out, c)
		}
	}
	return out
}

// upContainers keeps the containers that run (isUp).
func upContainers(cs []*engine.Container) []*engine.Container {
	var out []*engine.Container
	for _, c := range cs {
		if isUp(c.State) {
			out = append(out, c)
		}
	}
	return out
}

// serviceContainer picks the container of service that exec and port act
// on, from the project's running containers (one-offs included): number
// index when index > 0, else the lowest-numbered one, service containers
// before one-offs (compose's getSpecifiedContainer).
func serviceContainer(cs []*engine.Container, service string, index int) (*engine.Container, error) {
	var match []*engine.Container
	for _, c := range cs {
		if c.Config.Labels[planner.LabelService] != service || !isUp(c.State) {
			continue
		}
		if index > 0 && containerNumber(c) != index {
			continue
		}
		match = append(match, c)
	}
	if len(match) == 0 {
		if index > 0 {
			return nil, fmt.Errorf("service %q is not running container #%d", service, index)
		}
		return nil, fmt.Errorf("service %q is not running", service)
	}
	sort.SliceStable(match, func(i, j int) bool {
		a, b := isOneoff(match[i]), isOneoff(match[j])
		if a != b {
			return b
		}
		return containerNumber(match[i]) < containerNumber(match[j])
	})
	return match[0], nil
}

// interruptible returns a context that SIGINT and SIGTERM cancel, as
// compose's commands get, and stop, which releases the signals. A verb
// that was interrupted exits 130 (interrupted), as compose's do.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
}

// interrupted turns the end of a verb cut short by a signal into exit 130.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return &exitError{code: 130}
	}
	return err
}

// forEachContainer runs fn on every container (and its index in cs)
// concurrently, as compose does, and joins the errors in container order.
func forEachContainer(cs []*engine.Container, fn func(int, *engine.Container) error) error {
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { errs[i] = fn(i, c) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ---- ports ----

// portPublisher is one port of a container, as compose's api.PortPublisher
// (the Publishers of `ps --format json`). PublishedPort is 0 for a port
// that is exposed but not published.
type portPublisher struct {
	URL           string
	TargetPort    int
	PublishedPort int
	Protocol      string
}

// containerPublishers returns the ports of container c, sorted by target
// port then protocol. It is the one place that reads them: ps's PORTS
// column and its JSON Publishers, and `port`, all come from here.
// Published ports are those bound while the container runs (with
// ephemeral ports resolved); exposed ones (expose:, the image's EXPOSE)
// that are not published are listed with PublishedPort 0.
func containerPublishers(c *engine.Container) []portPublisher {
	out := []portPublisher{}
	published := map[string]bool{}
	for _, b := range c.State.Ports {
		out = append(out, portPublisher{URL: cmp.Or(b.HostIP, "0.0.0.0"), TargetPort: int(b.ContainerPort), PublishedPort: int(b.HostPort), Protocol: b.Proto})
		published[fmt.Sprintf("%d/%s", b.ContainerPort, b.Proto)] = true
	}
	for _, e := range c.Config.ExposedPorts {
		port, proto, _ := strings.Cut(e, "/")
		proto = cmp.Or(proto, "tcp")
		lo, hi, _ := strings.Cut(port, "-")
		first, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		last := first
		if hi != "" {
			if last, err = strconv.Atoi(hi); err != nil || last < first || last-first > 1000 {
				continue
			}
		}
		for p := first; p <= last; p++ {
			if !published[fmt.Sprintf("%d/%s", p, proto)] {
				out = append(out, portPublisher{TargetPort: p, Protocol: proto})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b portPublisher) int {
		return cmp.Or(cmp.Compare(a.TargetPort, b.TargetPort), strings.Compare(a.Protocol, b.Protocol), cmp.Compare(a.PublishedPort, b.PublishedPort))
	})
	return out
}

// portsColumn is ps's PORTS: "0.0.0.0:8080->80/tcp" for a published port,
// "80/tcp" for one that is only exposed, comma-separated. Unlike docker's
// DisplayablePorts it does not fold consecutive ports into ranges.
func portsColumn(pubs []portPublisher) string {
	var out []string
	for _, p := range pubs {
		s := fmt.Sprintf("%d/%s", p.TargetPort, p.Protocol)
		if p.PublishedPort != 0 {
			s = fmt.Sprintf("%s:%d->%s", p.URL, p.PublishedPort, s)
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// publishedPort finds where private/protocol of container c is published,
// or explains that it is not, naming the ports that are (compose's
// portNotFoundError).
func publishedPort(c *engine.Container, private uint16, protocol string) (string, error) {
	var have []string
	for _, p := range containerPublishers(c) {
		if p.TargetPort == int(private) && p.Protocol == protocol && p.PublishedPort != 0 {
			return fmt.Sprintf("%s:%d", p.URL, p.PublishedPort), nil
		}
		have = append(have, fmt.Sprintf("%d/%s", p.TargetPort, p.Protocol))
	}
	msg := fmt.Sprintf("no port %d/%s for container %s", private, protocol, c.Config.Name)
	if len(have) > 0 {
		msg += ": " + strings.Join(have, ", ")
	}
	return "", errors.New(msg)
}

func newComposePortCmd(g *globals) *cobra.Command {
	var protocol string
	var index int
	cmd := &cobra.Command{
		Use:   "port [OPTIONS] SERVICE PRIVATE_PORT",
		Short: "Print the public port for a port binding",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			port, err := strconv.ParseUint(args[1], 10, 16)
			if err != nil || port == 0 {
				return fmt.Errorf("invalid port %q: want a number from 1 to 65535", args[1])
			}
			protocol = strings.ToLower(protocol)
			p, e, err := g.openComposeProject(cmd, args[:1])
			if err != nil {
				return err
			}
			cs, err := projectContainers(e, p.Name, args[:1], true)
			if err != nil {
				return err
			}
			c, err := serviceContainer(cs, args[0], index)
			if err != nil {
				return err
			}
			addr, err := publishedPort(c, uint16(port), protocol)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), addr)
			return err
		},
	}
	cmd.Flags().StringVar(&protocol, "protocol", "tcp", "tcp or udp")
	cmd.Flags().IntVar(&index, "index", 0, "Index of the container if service has multiple replicas (default: the first)")
	return cmd
}

// ---- ls ----

// lsRow is one project of `stack ls`, with compose's JSON field names.
type lsRow struct {
	Name        string
	Status      string
	ConfigFiles string
}

// combinedStatus is compose's ls STATUS: the number of containers in each
// state, states in alphabetical order: "exited(2), running(1)".
func combinedStatus(states []string) string {
	count := map[string]int{}
	for _, s := range states {
		count[s]++
	}
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(count)) {
		parts = append(parts, fmt.Sprintf("%s(%d)", s, count[s]))
	}
	return strings.Join(parts, ", ")
}

// listProjects groups containers into compose projects by their project
// label, sorted by name. A project whose containers lack the config files
// label shows "N/A", with a warning, as compose does.
func listProjects(cs []*engine.Container, warn func(string)) []lsRow {
	byProject := map[string][]*engine.Container{}
	for _, c := range cs {
		name, ok := c.Config.Labels[planner.LabelProject]
		if !ok {
			continue
		}
		byProject[name] = append(byProject[name], c)
	}
	rows := []lsRow{}
	for _, name := range slices.Sorted(maps.Keys(byProject)) {
		var states, files []string
		missing := ""
		for _, c := range byProject[name] {
			states = append(states, string(c.State.Status))
			v, ok := c.Config.Labels[planner.LabelConfigFiles]
			if !ok {
				missing = c.Config.Name
				continue
			}
			for f := range strings.SplitSeq(v, ",") {
				if !slices.Contains(files, f) {
					files = append(files, f)
				}
			}
		}
		config := strings.Join(files, ",")
		if missing != "" {
			warn(fmt.Sprintf("no label %q set on container %q of compose project %q", planner.LabelConfigFiles, missing, name))
			config = "N/A"
		}
		rows = append(rows, lsRow{Name: name, Status: combinedStatus(states), ConfigFiles: config})
	}
	return rows
}

// parseLsFilters reads ls --filter: name=PATTERN only, matched as compose
// does (the exact name, or an unanchored regular expression).
func parseLsFilters(values []string) ([]string, error) {
	var names []string
	for _, v := range values {
		key, val, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value): %q", v)
		}
		if key != "name" {
			return nil, fmt.Errorf("invalid filter '%s' (supported: name)", key)
		}
		names = append(names, val)
	}
	return names, nil
}

func matchName(patterns []string, name string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if p == name {
			return true
		}
		if ok, err := regexp.MatchString(p, name); err == nil && ok {
			return true
		}
	}
	return false
}

func newComposeLsCmd(g *globals) *cobra.Command {
	var all, quiet bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "ls [OPTIONS]",
		Short: "List running compose projects",
		Long: `List the compose projects on this machine, found from their containers'
labels. Without -a only projects with a running container are listed, and
STATUS counts the running containers only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			names, err := parseLsFilters(filters)
			if err != nil {
				return err
			}
			format = strings.ToLower(format)
			if format != "table" && format != "json" && format != "" {
				return fmt.Errorf("format value %q could not be parsed: want table or json", format)
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			cs, err := e.List(all)
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			rows := []lsRow{}
			for _, r := range listProjects(cs, func(m string) { fmt.Fprintf(stderr, "stack: warning: %s\n", m) }) {
				if matchName(names, r.Name) {
					rows = append(rows, r)
				}
			}
			return writeLs(cmd.OutOrStdout(), rows, quiet, format)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show all stopped Compose projects")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display project names")
	cmd.Flags().StringVar(&format, "format", "table", "Format the output. Values: [table | json]")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Filter output based on conditions provided (name=PATTERN)")
	return cmd
}

func writeLs(w io.Writer, rows []lsRow, quiet bool, format string) error {
	switch {
	case quiet:
		for _, r := range rows {
			if _, err := fmt.Fprintln(w, r.Name); err != nil {
				return err
			}
		}
		return nil
	case format == "json":
		return writeJSONLine(w, rows)
	}
	// compose's PrintPrettySection: the tabwriter docker top also uses.
	tw := newTopTable(w)
	fmt.Fprintln(tw, "NAME\tSTATUS\tCONFIG FILES")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Status, r.ConfigFiles)
	}
	return tw.Flush()
}

// writeJSONLine prints v as compact JSON on one line, HTML characters
// left alone, as compose's formatter.ToJSON does.
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// ---- top ----

// topTable merges the process tables of several containers into compose's
// one table: SERVICE and # (the container number) first, then the
// columns of each table in the order met, CMD last; a column a container
// lacks reads "-" (compose:cmd/compose/top.go collectTop).
type topTable struct {
	titles []string
	rows   [][]string
}

type topEntry struct {
	service, number string
	titles          []string
	procs           [][]string
}

func mergeTop(entries []topEntry) topTable {
	titles := []string{"SERVICE", "#"}
	for _, en := range entries {
		for _, t := range en.titles {
			if !slices.Contains(titles, t) {
				titles = append(titles, t)
			}
		}
	}
	if i := slices.Index(titles, "CMD"); i >= 0 {
		titles = append(slices.Delete(titles, i, i+1), "CMD")
	}
	t := topTable{titles: titles}
	for _, en := range entries {
		for _, proc := range en.procs {
			row := make([]string, len(titles))
			for i, title := range titles {
				row[i] = "-"
				switch title {
				case "SERVICE":
					row[i] = en.service
				case "#":
					row[i] = en.number
				default:
					if j := slices.Index(en.titles, title); j >= 0 && j < len(proc) {
						row[i] = proc[j]
					}
				}
			}
			t.rows = append(t.rows, row)
		}
	}
	return t
}

func newComposeTopCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "top [SERVICES...]",
		Short: "Display the running processes",
		Long: `Display the running processes of the project's containers, in one table
with the service and container number in front, as docker compose does.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, e, err := g.openComposeProject(cmd, args)
			if err != nil {
				return err
			}
			cs, err := projectContainers(e, p.Name, args, true)
			if err != nil {
				return err
			}
			cs = upContainers(cs)
			sort.SliceStable(cs, func(i, j int) bool { return cs[i].Config.Name < cs[j].Config.Name })
			entries := make([]topEntry, len(cs))
			err = forEachContainer(cs, func(i int, c *engine.Container) error {
				titles, procs, err := e.Top(c.ID())
				if errors.Is(err, engine.ErrNotRunning) {
					return nil // stopped since we listed it
				}
				l := c.Config.Labels
				entries[i] = topEntry{service: l[planner.LabelService], number: l[planner.LabelContainerNumber], titles: titles, procs: procs}
				if entries[i].service == "" {
					entries[i].service = c.Config.Name
				}
				return err
			})
			if err != nil {
				return err
			}
			t := mergeTop(entries)
			if len(t.rows) == 0 {
				return nil
			}
			// compose's own tabwriter for top: minwidth 4, padding 2.
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 4, 1, 2, ' ', 0)
			fmt.Fprintln(tw, strings.Join(t.titles, "\t"))
			for _, r := range t.rows {
				fmt.Fprintln(tw, strings.Join(r, "\t"))
			}
			return tw.Flush()
		},
	}
}

// ---- images ----

// imagesRow is one line of `stack images`, with compose's JSON fields.
type imagesRow struct {
	ID            string     `json:"ID"`
	ContainerName string     `json:"ContainerName"`
	Repository    string     `json:"Repository"`
	Tag           string     `json:"Tag"`
	Platform      string     `json:"Platform"`
	Size          int64      `json:"Size"`
	Created       *time.Time `json:"Created,omitempty"`
}

// containerImage describes the image container c was created from: the
// repository and tag it was asked for by, and the store's record of the
// image when it still has one (lookup returns an error otherwise, and the
// row keeps what the container itself knows, as compose does).
func containerImage(c *engine.Container, lookup func(string) (*image.Image, error)) imagesRow {
	r := imagesRow{ID: c.Config.Image, ContainerName: c.Config.Name}
	// A container created from an image ID ("sha256:…") has no name to show.
	if _, err := digest.Parse(c.Config.ImageName); err != nil {
		if ref, err := image.ParseReference(c.Config.ImageName); err == nil {
			r.Repository, r.Tag = ref.FamiliarName(), ref.Tag
		}
	}
	img, err := lookup(c.Config.Image)
	if err != nil {
		return r
	}
	r.ID, r.Size = img.ID, img.Size
	if !img.Created.IsZero() {
		t := img.Created
		r.Created = &t
	}
	if p := img.Config.Platform; p.OS != "" {
		r.Platform = p.OS + "/" + p.Architecture
		if p.Variant != "" {
			r.Platform += "/" + p.Variant
		}
	}
	return r
}

func newComposeImagesCmd(g *globals) *cobra.Command {
	var quiet bool
	var format string
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [SERVICE...]",
		Short: "List images used by the created containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			format = strings.ToLower(format)
			if format != "table" && format != "json" && format != "" {
				return fmt.Errorf("format value %q could not be parsed: want table or json", format)
			}
			p, e, err := g.openComposeProject(cmd, args)
			if err != nil {
				return err
			}
			cs, err := projectContainers(e, p.Name, args, true)
			if err != nil {
				return err
			}
			sort.SliceStable(cs, func(i, j int) bool { return cs[i].Config.Name < cs[j].Config.Name })
			rows := make([]imagesRow, 0, len(cs))
			for _, c := range cs {
				rows = append(rows, containerImage(c, e.Images.Get))
			}
			return writeImages(cmd.OutOrStdout(), rows, quiet, format, time.Now())
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	cmd.Flags().StringVar(&format, "format", "table", "Format the output. Values: [table | json]")
	return cmd
}

func writeImages(w io.Writer, rows []imagesRow, quiet bool, format string, now time.Time) error {
	switch {
	case quiet:
		var seen []string
		for _, r := range rows {
			id := strings.TrimPrefix(r.ID, "sha256:")
			if slices.Contains(seen, id) {
				continue
			}
			seen = append(seen, id)
			if _, err := fmt.Fprintln(w, id); err != nil {
				return err
			}
		}
		return nil
	case format == "json":
		return writeJSONLine(w, rows)
	}
	none := func(s string) string {
		if s == "" {
			return "<none>"
		}
		return s
	}
	tw := newTopTable(w)
	fmt.Fprintln(tw, "CONTAINER\tREPOSITORY\tTAG\tPLATFORM\tIMAGE ID\tSIZE\tCREATED")
	for _, r := range rows {
		created := "N/A"
		if r.Created != nil {
			created = timeAgo(*r.Created, now)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ContainerName, none(r.Repository), none(r.Tag),
			r.Platform, state.ShortID(r.ID), humanSizePrecision(float64(r.Size), 3), created)
	}
	return tw.Flush()
}

// ---- exec ----

// composeExecOptions are `stack exec`'s flags.
type composeExecOptions struct {
	detach      bool
	noTTY       bool
	interactive bool
	privileged  bool
	user        string
	workdir     string
	env         []string
	index       int
}

func newComposeExecCmd(g *globals) *cobra.Command {
	var o composeExecOptions
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] SERVICE COMMAND [ARGS...]",
		Short: "Execute a command in a running container",
		Long: `Execute a command in a running container of a service: the first one
(lowest number), or number --index.

A terminal is allocated when stdin and stdout are terminals, unless -T.
stack exits with the command's exit code; 126 when it cannot be run, 127
when it is not found.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			service := args[0]
			p, e, err := g.openComposeProject(cmd, args[:1])
			if err != nil {
				return err
			}
			lookup := os.LookupEnv
			if p.Spec != nil {
				// Bare -e KEY takes its value from the project's
				// environment (the process's and .env), as compose's does.
				lookup = func(k string) (string, bool) { v, ok := p.Spec.Environment[k]; return v, ok }
			}
			env, err := parseEnvFlags(o.env, lookup)
			if err != nil {
				return err
			}
			cs, err := projectContainers(e, p.Name, args[:1], true)
			if err != nil {
				return err
			}
			c, err := serviceContainer(cs, service, o.index)
			if err != nil {
				return err
			}
			if o.privileged {
				fmt.Fprintln(cmd.ErrOrStderr(), "stack: warning: exec --privileged is not supported yet: the command runs with the container's privileges")
			}
			opts := engine.ExecOptions{
				Cmd:        args[1:],
				Env:        env,
				User:       o.user,
				WorkingDir: o.workdir,
				Tty:        !o.noTTY,
				Detach:     o.detach,
				Stdout:     cmd.OutOrStdout(),
				Stderr:     cmd.ErrOrStderr(),
			}
			return execContainer(cmd.Context(), e, c.ID(), opts, o.interactive)
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false) // flags after SERVICE COMMAND belong to the command
	noTTY := !(isTerminal(int(os.Stdin.Fd())) && isTerminal(int(os.Stdout.Fd())))
	fs.BoolVarP(&o.detach, "detach", "d", false, "Detached mode: Run command in the background")
	fs.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	fs.IntVar(&o.index, "index", 0, "Index of the container if service has multiple replicas (default: the first)")
	fs.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to the process (accepted, not supported yet)")
	fs.StringVarP(&o.user, "user", "u", "", "Run the command as this user")
	fs.BoolVarP(&o.noTTY, "no-tty", "T", noTTY, "Disable pseudo-TTY allocation (default: a TTY when stdin and stdout are terminals)")
	fs.StringVarP(&o.workdir, "workdir", "w", "", "Path to workdir directory for this command")
	// Compose keeps -i and -t, always on, for docker-compose v1 scripts.
	fs.BoolVarP(&o.interactive, "interactive", "i", true, "Keep STDIN open even if not attached")
	fs.BoolP("tty", "t", true, "Allocate a pseudo-TTY")
	fs.MarkHidden("interactive")
	fs.MarkHidden("tty")
	return cmd
}

// ---- kill, pause, unpause ----

func newComposeKillCmd(g *globals) *cobra.Command {
	var sig string
	var removeOrphans bool
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] [SERVICE...]",
		Short: "Force stop service containers",
		Long: `Send a signal (SIGKILL by default) to the project's running containers.
Containers of services the compose file no longer declares are left alone
unless --remove-orphans; with -p alone every service is declared.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := oci.ParseSignal(sig)
			if err != nil {
				return err
			}
			p, e, err := g.openComposeProject(cmd, args)
			if err != nil {
				return err
			}
			cs, err := projectContainers(e, p.Name, args, true)
			if err != nil {
				return err
			}
			cs = upContainers(cs)
			if !removeOrphans {
				cs = declared(p, cs)
			}
			if len(cs) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "No container to kill")
				return nil
			}
			prog, err := newProgress(g.progress, cmd.ErrOrStderr(), "Killing")
			if err != nil {
				return err
			}
			defer prog.Done()
			return forEachContainer(cs, func(_ int, c *engine.Container) error {
				res := "Container " + c.Config.Name
				prog.Event(reconciler.Event{Resource: res, Status: "Killing"})
				err := e.Kill(cmd.Context(), c.ID(), s)
				if errors.Is(err, engine.ErrNotRunning) || errors.Is(err, shim.ErrNotRunning) {
					// It stopped meanwhile, or SIGKILL took its shim
					// down before the shim answered: either way it is
					// not running, which is what kill is for.
					err = nil
				}
				if err != nil {
					prog.Event(reconciler.Event{Resource: res, Status: reconciler.StatusError, Err: err})
					return err
				}
				prog.Event(reconciler.Event{Resource: res, Status: "Killed"})
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&sig, "signal", "s", "SIGKILL", "SIGNAL to send to the container")
	cmd.Flags().BoolVar(&removeOrphans, "remove-orphans", os.Getenv("COMPOSE_REMOVE_ORPHANS") == "true" || os.Getenv("COMPOSE_REMOVE_ORPHANS") == "1",
		"Also kill containers of services not defined in the Compose file")
	return cmd
}

// newComposePauseCmd is `stack pause` (freeze) or `stack unpause`. Pause
// acts on the running containers and unpause on the paused ones, so that
// either is a no-op when run twice.
func newComposePauseCmd(g *globals, freeze bool) *cobra.Command {
	use, short, title, done, want := "pause", "Pause services", "Pausing", "Paused", container.Running
	if !freeze {
		use, short, title, done, want = "unpause", "Unpause services", "Unpausing", "Unpaused", container.Paused
	}
	return &cobra.Command{
		Use:   use + " [SERVICE...]",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, e, err := g.openComposeProject(cmd, args)
			if err != nil {
				return err
			}
			cs, err := projectContainers(e, p.Name, args, false)
			if err != nil {
				return err
			}
			var todo []*engine.Container
			for _, c := range declared(p, cs) {
				if c.State.Status == want {
					todo = append(todo, c)
				}
			}
			prog, err := newProgress(g.progress, cmd.ErrOrStderr(), title)
			if err != nil {
				return err
			}
			defer prog.Done()
			return forEachContainer(todo, func(_ int, c *engine.Container) error {
				res := "Container " + c.Config.Name
				if err := e.Pause(cmd.Context(), c.ID(), freeze); err != nil {
					prog.Event(reconciler.Event{Resource: res, Status: reconciler.StatusError, Err: err})
					return err
				}
				prog.Event(reconciler.Event{Resource: res, Status: done})
				return nil
			})
		},
	}
}

// ---- wait ----

func newComposeWaitCmd(g *globals) *cobra.Command {
	var downProject bool
	cmd := &cobra.Command{
		Use:   "wait SERVICE [SERVICE...] [OPTIONS]",
		Short: "Block until containers of all (or specified) services stop.",
		Long: `Block until the running containers of the services stop. Each container's
exit is printed as it happens; stack exits with the exit code of the last
one to stop.

--down-project is accepted for compatibility and does nothing yet: the
project is left as it is.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, e, err := g.openComposeProject(cmd, args)
			if err != nil {
				return err
			}
			cs, err := projectContainers(e, p.Name, args, true)
			if err != nil {
				return err
			}
			cs = upContainers(cs)
			if len(cs) == 0 {
				return fmt.Errorf("no containers for project %q", p.Name)
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			out := cmd.OutOrStdout()
			var mu sync.Mutex // guards out and last
			last := 0
			err = forEachContainer(cs, func(_ int, c *engine.Container) error {
				code, err := e.Wait(ctx, c.ID())
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				last = code
				_, err = fmt.Fprintf(out, "container %q exited with status code %d\n", c.ID(), code)
				return err
			})
			if err := interrupted(ctx, err); err != nil {
				return err
			}
			if last != 0 {
				return &exitError{code: last}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&downProject, "down-project", false, "Drops project when the first container stops (accepted; does nothing yet)")
	return cmd
}

// ---- version ----

func newComposeVersionCmd() *cobra.Command {
	var format string
	var short bool
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the stack version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeVersion(cmd.OutOrStdout(), format, short)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format the output. Values: [pretty | json]. (Default: pretty)")
	cmd.Flags().BoolVar(&short, "short", false, "Shows only stack's version number")
	return cmd
}

// writeVersion prints the version as compose's version verb does.
func writeVersion(w io.Writer, format string, short bool) error {
	var err error
	switch {
	case short:
		_, err = fmt.Fprintln(w, strings.TrimPrefix(planner.Version, "v"))
	case format == "json":
		err = writeJSONLine(w, map[string]string{"version": planner.Version})
	case format == "" || format == "pretty":
		_, err = fmt.Fprintln(w, "Stack version", planner.Version)
	default:
		err = fmt.Errorf("invalid --format %q: want pretty or json", format)
	}
	return err
}
