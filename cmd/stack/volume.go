package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"stack/engine"
	"stack/volume"
)

// newVolumeCmd is `stack volume`: docker's volume verbs, flags and output.
func newVolumeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "volume",
		Short: "Manage volumes",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(
		newVolumeCreateCmd(g),
		newVolumeListCmd(g),
		newVolumeInspectCmd(g),
		newVolumeRemoveCmd(g),
		newVolumePruneCmd(g),
	)
	return cmd
}

func newVolumeCreateCmd(g *globals) *cobra.Command {
	var o volume.CreateOptions
	var labels, opts []string
	var name string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if name != "" && name != args[0] {
					return fmt.Errorf("conflicting options: either specify --name or provide positional arg, not both")
				}
				name = args[0]
			}
			o.Name = name
			var err error
			if o.Labels, err = parseKeyValues("--label", labels, false); err != nil {
				return err
			}
			if o.Options, err = parseKeyValues("--opt", opts, true); err != nil {
				return err
			}
			if o.Name == "" {
				o.Anonymous = true
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			v, err := e.CreateVolume(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), v.Name)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.Driver, "driver", "d", "local", "Specify volume driver name")
	fs.StringVar(&name, "name", "", "Specify volume name")
	fs.StringArrayVar(&labels, "label", nil, "Set metadata for a volume")
	fs.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options (type, o, device)")
	return cmd
}

// volumeRow is one line of `volume ls`, with docker's field names.
type volumeRow struct {
	Availability string
	Driver       string
	Group        string
	Labels       string
	Links        string
	Mountpoint   string
	Name         string
	Scope        string
	Size         string
	Status       string

	labels map[string]string
}

// Label returns one label's value, for {{.Label "key"}}.
func (r volumeRow) Label(name string) string { return r.labels[name] }

var volumeHeader = volumeRow{Driver: "DRIVER", Name: "VOLUME NAME", Mountpoint: "MOUNTPOINT", Labels: "LABELS", Scope: "SCOPE", Links: "LINKS", Size: "SIZE"}

const volumeTableFormat = "table {{.Driver}}\t{{.Name}}"

func newVolumeRow(v *volume.Volume, users int) volumeRow {
	var labels []string
	for _, k := range slices.Sorted(maps.Keys(v.Labels)) {
		labels = append(labels, k+"="+v.Labels[k])
	}
	return volumeRow{
		Availability: "N/A", Driver: v.Driver, Group: "N/A", Labels: strings.Join(labels, ","), Links: fmt.Sprint(users),
		Mountpoint: v.Mountpoint, Name: v.Name, Scope: "local", Size: "N/A", Status: "N/A", labels: v.Labels,
	}
}

// volumeFilter is `volume ls --filter`: name=, label=, driver=,
// dangling=true|false.
type volumeFilter struct {
	names, labels, drivers []string
	dangling               *bool
}

func parseVolumeFilters(fs []string) (*volumeFilter, error) {
	f := &volumeFilter{}
	for _, s := range fs {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value): %s", s)
		}
		switch k {
		case "name":
			f.names = append(f.names, v)
		case "label":
			f.labels = append(f.labels, v)
		case "driver":
			f.drivers = append(f.drivers, v)
		case "dangling":
			b := v == "true" || v == "1"
			if !b && v != "false" && v != "0" {
				return nil, fmt.Errorf("invalid filter 'dangling=%s'", v)
			}
			f.dangling = &b
		default:
			return nil, fmt.Errorf("invalid filter '%s'", k)
		}
	}
	return f, nil
}

func (f *volumeFilter) keep(v *volume.Volume, users int) bool {
	if len(f.names) > 0 && !slices.ContainsFunc(f.names, func(s string) bool { return strings.Contains(v.Name, s) }) {
		return false
	}
	if len(f.drivers) > 0 && !slices.Contains(f.drivers, v.Driver) {
		return false
	}
	if f.dangling != nil && *f.dangling != (users == 0) {
		return false
	}
	return matchLabels(v.Labels, f.labels)
}

// matchLabels is the label= filter of docker's ls verbs: every one of want
// ("KEY" or "KEY=VALUE") holds.
func matchLabels(labels map[string]string, want []string) bool {
	for _, l := range want {
		k, v, hasValue := strings.Cut(l, "=")
		got, ok := labels[k]
		if !ok || hasValue && got != v {
			return false
		}
	}
	return true
}

// volumeUsers counts the containers that use each volume.
func volumeUsers(e *engine.Engine) (map[string]int, error) {
	cs, err := e.List(true)
	if err != nil {
		return nil, err
	}
	n := map[string]int{}
	for _, c := range cs {
		for _, m := range c.Config.Mounts {
			if m.Type == "volume" {
				n[m.Name]++
			}
		}
	}
	return n, nil
}

func newVolumeListCmd(g *globals) *cobra.Command {
	var quiet bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := parseVolumeFilters(filters)
			if err != nil {
				return err
			}
			if quiet {
				format = "{{.Name}}"
			}
			lf, err := parseListFormat(format, volumeTableFormat)
			if err != nil {
				return err
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			vols, err := e.Volumes()
			if err != nil {
				return err
			}
			users, err := volumeUsers(e)
			if err != nil {
				return err
			}
			var rows []any
			for _, v := range vols {
				if filter.keep(v, users[v.Name]) {
					rows = append(rows, newVolumeRow(v, users[v.Name]))
				}
			}
			return lf.write(cmd.OutOrStdout(), volumeHeader, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Provide filter values (e.g. \"dangling=true\", \"label=KEY=VALUE\")")
	return cmd
}

// volumeInspect is docker's Volume.
type volumeInspect struct {
	CreatedAt  string
	Driver     string
	Labels     map[string]string
	Mountpoint string
	Name       string
	Options    map[string]string
	Scope      string
}

func newVolumeInspectCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			var out []volumeInspect
			var errs []error
			for _, name := range args {
				v, err := e.Volume(name)
				if err != nil {
					errs = append(errs, fmt.Errorf("no such volume: %s", name))
					continue
				}
				out = append(out, volumeInspect{
					CreatedAt: v.Created.Format("2006-01-02T15:04:05Z07:00"), Driver: v.Driver, Labels: v.Labels,
					Mountpoint: v.Mountpoint, Name: v.Name, Options: v.Options, Scope: "local",
				})
			}
			if err := writeInspect(cmd.OutOrStdout(), format, out); err != nil {
				return err
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a Go template ('json' for the JSON array)")
	return cmd
}

func newVolumeRemoveCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			return removeEach(cmd.OutOrStdout(), args, force, func(name string) error {
				return e.RemoveVolume(cmd.Context(), name)
			})
		},
	}
	// -f does not remove a volume in use: stack never deletes data a
	// container uses.
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not error if a volume does not exist")
	return cmd
}

func newVolumePruneCmd(g *globals) *cobra.Command {
	var force, all bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := parseVolumeFilters(filters)
			if err != nil {
				return err
			}
			if !force {
				what := "anonymous local volumes"
				if all {
					what = "all local volumes"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "WARNING! This will remove %s not used by at least one container.\nAre you sure you want to continue? [y/N] ", what)
				if !confirmed(cmd.InOrStdin()) {
					return nil
				}
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			vols, err := e.Volumes()
			if err != nil {
				return err
			}
			users, err := volumeUsers(e)
			if err != nil {
				return err
			}
			var removed []string
			for _, v := range vols {
				if users[v.Name] > 0 || !all && !v.Anonymous || !filter.keep(v, 0) {
					continue
				}
				if err := e.RemoveVolume(cmd.Context(), v.Name); err == nil {
					removed = append(removed, v.Name)
				}
			}
			if len(removed) > 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "Deleted Volumes:")
				for _, n := range removed {
					fmt.Fprintln(cmd.OutOrStdout(), n)
				}
				fmt.Fprintln(cmd.OutOrStdout())
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Total reclaimed space: 0B")
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"label=<label>\")")
	return cmd
}
