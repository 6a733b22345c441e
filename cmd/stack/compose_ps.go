package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"stack/engine"
	"stack/engine/container"
	"stack/planner"
)

// composePsRow is one line of `stack ps`, with the fields of docker
// compose's container formatter (compose:cmd/formatter/container.go), so
// that --format templates and --format json read the same as compose's.
// The fields are in alphabetical order: compose's JSON is a map, so its
// keys come out sorted, and ours come out in field order.
type composePsRow struct {
	Command      string
	CreatedAt    string
	ExitCode     int
	Health       string
	ID           string
	Image        string
	Labels       string
	LocalVolumes string
	Mounts       string
	Name         string
	Names        string
	Networks     string
	Ports        string
	Project      string
	Publishers   []portPublisher
	RunningFor   string
	Service      string
	Size         string
	State        string
	Status       string

	labels map[string]string
}

// Label returns one label's value, for {{.Label "key"}}.
func (r composePsRow) Label(name string) string { return r.labels[name] }

// composePsHeader holds the column titles of compose ps's table.
type composePsHeader struct {
	Command, CreatedAt, ExitCode, Health, ID, Image, Labels, LocalVolumes,
	Mounts, Name, Names, Networks, Ports, Project, Publishers, RunningFor,
	Service, Size, State, Status string
}

func (composePsHeader) Label(string) string { return "" }

var composePsTitles = composePsHeader{
	Command: "COMMAND", CreatedAt: "CREATED AT", ExitCode: "EXIT CODE", Health: "HEALTH",
	ID: "CONTAINER ID", Image: "IMAGE", Labels: "LABELS", LocalVolumes: "LOCAL VOLUMES",
	Mounts: "MOUNTS", Name: "NAME", Names: "NAMES", Networks: "NETWORKS", Ports: "PORTS",
	Project: "PROJECT", Publishers: "PUBLISHERS", RunningFor: "CREATED", Service: "SERVICE",
	Size: "SIZE", State: "STATE", Status: "STATUS",
}

// composePsTableFormat is compose's default ps table.
const composePsTableFormat = "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}"

// newComposePsRow builds the ps row of a container. The fields docker's
// own `ps` shares with compose's come from newPSRow; Health is set only
// while the container runs and ExitCode only once it has exited, as
// compose does (pkg/compose/ps.go containerHealthAndExitCode).
func newComposePsRow(c *engine.Container, trunc bool, now time.Time) composePsRow {
	base := newPSRow(c, trunc, now)
	l := c.Config.Labels
	pubs := containerPublishers(c)
	r := composePsRow{
		Command:      base.Command,
		CreatedAt:    base.CreatedAt,
		ID:           base.ID,
		Image:        base.Image,
		Labels:       base.Labels,
		LocalVolumes: base.LocalVolumes,
		Mounts:       base.Mounts,
		Name:         c.Config.Name,
		Names:        base.Names,
		Networks:     base.Networks,
		Ports:        portsColumn(pubs),
		Project:      l[planner.LabelProject],
		Publishers:   pubs,
		RunningFor:   base.RunningFor,
		Service:      l[planner.LabelService],
		Size:         base.Size,
		State:        base.State,
		Status:       base.Status,
		labels:       l,
	}
	switch c.State.Status {
	case container.Running:
		if h := c.State.Health; h != nil {
			r.Health = h.Status
		}
	case container.Exited, container.Dead:
		r.ExitCode = c.State.ExitCode
	}
	return r
}

// psStatuses are the values of ps --status (docker's container states).
var psStatuses = []string{"paused", "restarting", "removing", "running", "dead", "created", "exited"}

// psOptions are `stack ps`'s flags.
type psOptions struct {
	all      bool
	quiet    bool
	services bool
	noTrunc  bool
	orphans  bool
	format   string
	status   []string
	filters  []string
}

// psFilter is what --status and --filter select.
type psFilter struct {
	status   []string // container states; empty means any
	services []string // extra service names (--filter service=…)
}

// parsePsFilter reads --status and --filter. Compose knows the status
// filter (and refuses source as not implemented); stack also takes
// service=NAME, the same as naming the service as an argument.
func parsePsFilter(status, filters []string) (psFilter, error) {
	var f psFilter
	for _, s := range status {
		if !slices.Contains(psStatuses, s) {
			return f, fmt.Errorf("invalid --status %q: want one of %s", s, strings.Join(psStatuses, ", "))
		}
		f.status = append(f.status, s)
	}
	for _, v := range filters {
		key, val, ok := strings.Cut(v, "=")
		if !ok {
			return f, fmt.Errorf("arguments to --filter should be in form KEY=VAL: %q", v)
		}
		switch key {
		case "status":
			if !slices.Contains(psStatuses, val) {
				return f, fmt.Errorf("invalid --filter %q: want status one of %s", v, strings.Join(psStatuses, ", "))
			}
			f.status = append(f.status, val)
		case "service":
			f.services = append(f.services, val)
		case "source":
			return f, fmt.Errorf("--filter source is not implemented")
		default:
			return f, fmt.Errorf("unknown filter %s (supported: status, service)", key)
		}
	}
	return f, nil
}

// selectPs picks and orders the containers ps shows, from all the
// project's containers (one-offs included): running ones only unless all
// (any --status implies all, as in compose), one-offs only with all, the
// states asked for, sorted by name.
func selectPs(cs []*engine.Container, all bool, status []string) []*engine.Container {
	all = all || len(status) > 0
	var out []*engine.Container
	for _, c := range cs {
		if !all && (!isUp(c.State) || isOneoff(c)) {
			continue
		}
		if len(status) > 0 && !slices.Contains(status, string(c.State.Status)) {
			continue
		}
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Config.Name < out[j].Config.Name })
	return out
}

// newComposePsCmd is `stack ps`: docker compose ps.
func newComposePsCmd(g *globals) *cobra.Command {
	var o psOptions
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [SERVICE...]",
		Short: "List containers",
		Long: `List the containers of the project.

Containers are found by their com.docker.compose.project label, so this
works from -p NAME alone. Running containers are shown; -a adds stopped and
one-off (run) containers. --status (or --filter status=…) implies -a.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parsePsFilter(o.status, o.filters)
			if err != nil {
				return err
			}
			var lf *listFormat
			if !o.quiet && !o.services {
				if lf, err = parseListFormat(o.format, composePsTableFormat); err != nil {
					return err
				}
			}
			p, e, err := g.openComposeProject(cmd, args)
			if err != nil {
				return err
			}
			services := append(slices.Clone(args), f.services...)
			if len(services) == 0 && !o.orphans && p.Spec != nil {
				// Only the services the file declares.
				services = p.Spec.ServiceNames()
				if len(services) == 0 {
					return writePs(cmd.OutOrStdout(), lf, o, nil)
				}
			}
			cs, err := projectContainers(e, p.Name, services, true)
			if err != nil {
				return err
			}
			return writePs(cmd.OutOrStdout(), lf, o, selectPs(cs, o.all, f.status))
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.all, "all", "a", false, "Show all stopped containers (including those created by the run command)")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "Only display IDs")
	fs.BoolVar(&o.services, "services", false, "Display services")
	fs.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	fs.BoolVar(&o.orphans, "orphans", true, "Include orphaned services (not declared by project)")
	fs.StringVar(&o.format, "format", "table", "Format output using a custom template: 'table', 'table TEMPLATE', 'json' (one object per line), or a Go template")
	fs.StringArrayVar(&o.status, "status", nil, "Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]")
	fs.StringArrayVar(&o.filters, "filter", nil, "Filter services by a property (supported filters: status, service)")
	return cmd
}

// writePs prints the selected containers as -q, --services or the format
// say. An empty selection prints the table's header only.
func writePs(w io.Writer, lf *listFormat, o psOptions, cs []*engine.Container) error {
	switch {
	case o.quiet:
		for _, c := range cs {
			if _, err := fmt.Fprintln(w, c.ID()); err != nil {
				return err
			}
		}
		return nil
	case o.services:
		var seen []string
		for _, c := range cs {
			s := c.Config.Labels[planner.LabelService]
			if slices.Contains(seen, s) {
				continue
			}
			seen = append(seen, s)
			if _, err := fmt.Fprintln(w, s); err != nil {
				return err
			}
		}
		return nil
	}
	now := time.Now()
	rows := make([]any, 0, len(cs))
	for _, c := range cs {
		rows = append(rows, newComposePsRow(c, !o.noTrunc, now))
	}
	return lf.write(w, composePsTitles, rows)
}
