package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"stack/planner"
	"stack/spec"
)

// projectFlags are docker compose's global flags that select a project.
// They will move to the root command; until then commands register them.
type projectFlags struct {
	files    []string
	name     string
	dir      string
	envFiles []string
	profiles []string
}

func (f *projectFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&f.files, "file", "f", nil, "Compose configuration files (\"-\" for standard input)")
	fs.StringVarP(&f.name, "project-name", "p", "", "Project name")
	fs.StringVar(&f.dir, "project-directory", "", "Specify an alternate working directory\n(default: the path of the, first specified, Compose file)")
	fs.StringArrayVar(&f.envFiles, "env-file", nil, "Specify an alternate environment file")
	fs.StringArrayVar(&f.profiles, "profile", nil, "Specify a profile to enable")
}

// options are the spec options of a command run from this process.
func (f *projectFlags) options() spec.Options {
	opts := spec.DefaultOptions()
	opts.ConfigFiles = f.files
	opts.ProjectName = f.name
	opts.ProjectDir = f.dir
	opts.EnvFiles = f.envFiles
	opts.Profiles = f.profiles
	return opts
}

// load loads the project the flags select. The caller prints its
// warnings (printWarnings).
func (f *projectFlags) load(ctx context.Context) (*spec.Project, error) {
	return spec.Load(ctx, f.options())
}

// printWarnings writes a loaded project's warnings, one a line.
func printWarnings(w io.Writer, p *spec.Project) {
	for _, m := range p.Warnings {
		fmt.Fprintf(w, "stack: warning: %s\n", m)
	}
}

// configOptions are `stack config`'s own flags.
type configOptions struct {
	format        string
	services      bool
	volumes       bool
	networks      bool
	profiles      bool
	images        bool
	hash          string
	quiet         bool
	output        string
	noInterpolate bool
}

// newConfigCmd is `stack config`: docker compose's config verb. It prints
// the normalised project, or one of its lists, to stdout; warnings go to
// stderr.
func newConfigCmd(g *globals) *cobra.Command {
	pf := &g.project
	var o configOptions
	cmd := &cobra.Command{
		Use:   "config [OPTIONS] [SERVICE...]",
		Short: "Parse, resolve and render compose file in canonical format",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfig(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), pf, &o, args, g.imageID)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.format, "format", "yaml", "Format the output. Values: [yaml | json]")
	fs.BoolVar(&o.services, "services", false, "Print the service names, one per line.")
	fs.BoolVar(&o.volumes, "volumes", false, "Print the volume names, one per line.")
	fs.BoolVar(&o.networks, "networks", false, "Print the network names, one per line.")
	fs.BoolVar(&o.profiles, "profiles", false, "Print the profile names, one per line.")
	fs.BoolVar(&o.images, "images", false, "Print the image names, one per line.")
	fs.StringVar(&o.hash, "hash", "", "Print the service config hash, one per line (SERVICE[,SERVICE...] or \"*\").")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "Only validate the configuration, don't print anything")
	fs.StringVarP(&o.output, "output", "o", "", "Save to file (default to stdout)")
	fs.BoolVar(&o.noInterpolate, "no-interpolate", false, "Don't interpolate environment variables")
	return cmd
}

// runConfig runs `stack config`. imageID resolves an image reference to
// its ID for --hash (nil or "" when unknown), so that the printed hash is
// the one the service's containers carry in their config-hash label.
func runConfig(ctx context.Context, stdout, stderr io.Writer, pf *projectFlags, o *configOptions, args []string, imageID func(string) string) error {
	if o.format != "yaml" && o.format != "json" {
		return fmt.Errorf("invalid --format %q: want yaml or json", o.format)
	}
	opts := pf.options()
	opts.Interpolate = !o.noInterpolate
	opts.Services = args
	p, err := spec.Load(ctx, opts)
	if err != nil {
		return err
	}
	printWarnings(stderr, p)
	if p, err = p.WithServices(args...); err != nil {
		return err
	}

	var out bytes.Buffer
	switch {
	case o.services:
		for _, name := range dependencyOrder(p) {
			fmt.Fprintln(&out, name)
		}
	case o.volumes:
		for _, v := range p.Volumes {
			fmt.Fprintln(&out, v.Key)
		}
	case o.networks:
		for _, n := range p.Networks {
			fmt.Fprintln(&out, n.Key)
		}
	case o.profiles:
		for _, name := range p.AllProfiles {
			fmt.Fprintln(&out, name)
		}
	case o.images:
		for _, s := range p.Services {
			fmt.Fprintln(&out, s.ImageName(p.Name))
		}
	case o.hash != "":
		names := p.ServiceNames()
		if o.hash != "*" {
			names = strings.Split(o.hash, ",")
			slices.Sort(names)
		}
		for _, name := range names {
			s, err := p.Service(name)
			if err != nil {
				return err
			}
			id := ""
			if imageID != nil {
				id = imageID(s.ImageName(p.Name))
			}
			fmt.Fprintf(&out, "%s %s\n", name, planner.ServiceHash(s, id))
		}
	default:
		b, err := p.Canonical(o.format)
		if err != nil {
			return err
		}
		out.Write(b)
	}
	if o.quiet {
		return nil
	}
	if o.output != "" {
		return os.WriteFile(o.output, out.Bytes(), 0o666)
	}
	_, err = stdout.Write(out.Bytes())
	return err
}

// dependencyOrder lists the services dependencies first, in name order
// among equals, as `docker compose config --services` does. A dependency
// cycle (which the planner reports) does not stop it.
func dependencyOrder(p *spec.Project) []string {
	var order []string
	seen := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		s, err := p.Service(name)
		if err != nil {
			return // an optional dependency that is not there
		}
		for _, d := range s.DependsOn {
			visit(d.Service)
		}
		order = append(order, name)
	}
	for _, s := range p.Services {
		visit(s.Name)
	}
	return order
}
