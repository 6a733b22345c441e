package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"stack/engine"
	"stack/planner"
	"stack/reconciler"
	"stack/reconciler/live"
	"stack/spec"
)

// runFlags are `stack run`'s flags, as docker compose's.
type runFlags struct {
	rm, detach, noDeps, noTTY, tty, interactive, servicePorts bool
	name, user, workdir, entrypoint                           string
	env, labels, publish                                      []string
	entrypointSet                                             bool
}

func newRunCmd(g *globals) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] SERVICE [COMMAND] [ARGS...]",
		Short: "Run a one-off command on a service",
		Long: `Run a one-off command in a new container of a service, named
PROJECT-SERVICE-run-ID. The services it depends on are started first, and
their depends_on conditions waited for, as up does (not with --no-deps).
stack exits with the command's exit code.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.entrypointSet = cmd.Flags().Changed("entrypoint")
			return runOneOff(cmd, g, &f, args[0], args[1:])
		},
	}
	cmd.Flags().SetInterspersed(false)
	fs := cmd.Flags()
	fs.BoolVar(&f.rm, "rm", false, "Automatically remove the container when it exits")
	fs.BoolVarP(&f.detach, "detach", "d", false, "Run container in background and print container ID")
	fs.BoolVar(&f.noDeps, "no-deps", false, "Don't start linked services")
	fs.BoolVarP(&f.noTTY, "no-TTY", "T", false, "Disable pseudo-TTY allocation (default: auto-detected)")
	fs.BoolVarP(&f.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVarP(&f.interactive, "interactive", "i", true, "Keep STDIN open even if not attached")
	fs.StringVar(&f.name, "name", "", "Assign a name to the container")
	fs.StringVarP(&f.user, "user", "u", "", "Run as specified username or uid")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "Override the entrypoint of the image")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "Set environment variables")
	fs.StringArrayVarP(&f.labels, "label", "l", nil, "Add or override a label")
	fs.StringArrayVarP(&f.publish, "publish", "p", nil, "Publish a container's port(s) to the host (networking: not yet)")
	fs.BoolVarP(&f.servicePorts, "service-ports", "P", false, "Run command with all service's ports enabled and mapped to the host")
	return cmd
}

func runOneOff(cmd *cobra.Command, g *globals, f *runFlags, service string, command []string) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	proj, err := g.loadProject(ctx, stderr, true, service)
	if err != nil {
		return err
	}
	svc, err := proj.Spec.Service(service)
	if err != nil {
		return err
	}
	e, err := g.engine()
	if err != nil {
		return err
	}
	w := live.New(e)
	prog, err := newProgress(g.progress, stderr, "Running")
	if err != nil {
		return err
	}
	// Dependencies first, as up would start them, then their conditions.
	var deps []string
	for _, d := range svc.DependsOn {
		deps = append(deps, d.Service)
	}
	opts := reconciler.Options{Services: deps, Project: proj.Spec}
	var keep func(reconciler.Action) bool
	if len(deps) == 0 || f.noDeps {
		// Only the networks and volumes the one-off container needs: its
		// service's own containers are not created by run.
		opts.Services, opts.NoDeps = []string{service}, true
		keep = func(a reconciler.Action) bool {
			return a.Node.Kind == planner.KindNetwork || a.Node.Kind == planner.KindVolume
		}
	}
	plan, err := converge(ctx, g, proj, w, opts, nil, prog, nil, cmd.OutOrStdout(), false, keep)
	prog.Done()
	if err != nil {
		return err
	}
	if !f.noDeps {
		if err := waitDependencies(ctx, e, w, proj.Name, svc); err != nil {
			return err
		}
	}
	nodes := plan.Containers(service)
	if len(nodes) == 0 {
		// Scaled to 0: plan one container for it.
		one := map[string]int{service: 1}
		ids := map[string]string{}
		for _, n := range plan.Nodes {
			if n.ID.Kind == planner.KindImage {
				ids[n.Image] = n.ImageID
			}
		}
		p2, err := planner.Build(proj.Spec, planner.Inputs{Scale: one, ImageIDs: ids})
		if err != nil {
			return err
		}
		nodes = p2.Containers(service)
	}
	n, err := oneOffNode(nodes[0], proj.Name, f, command)
	if err != nil {
		return err
	}
	name := f.name
	if name == "" {
		name = planner.OneOffName(proj.Name, service, n.Labels[planner.LabelSlug])
	}
	opts2, err := live.CreateOptions(n, name, nil)
	if err != nil {
		return err
	}
	tty := !f.noTTY && (f.tty || (!f.detach && isTerminal(int(os.Stdin.Fd())) && isTerminal(int(os.Stdout.Fd()))))
	opts2.Tty = tty
	opts2.OpenStdin = f.interactive && !f.detach
	opts2.AutoRemove = f.rm && f.detach
	c, err := e.Create(ctx, opts2)
	if err != nil {
		return fmt.Errorf("service %q: %w", service, err)
	}
	removeAfter := f.rm && !f.detach
	if err := e.Start(ctx, c.ID()); err != nil {
		if removeAfter {
			removeQuietly(e, c.ID(), stderr)
		}
		var se *engine.StartError
		if errors.As(err, &se) && (se.Code == 126 || se.Code == 127) {
			return &exitError{code: se.Code, err: err}
		}
		return err
	}
	if f.detach {
		fmt.Fprintln(cmd.OutOrStdout(), name)
		return nil
	}
	code, err := runForeground(ctx, e, c.ID(), opts2.OpenStdin, tty, time.Time{}, cmd.OutOrStdout(), stderr)
	if removeAfter {
		removeQuietly(e, c.ID(), stderr)
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// oneOffNode turns a planned container of a service into the node of a
// one-off `run` container: the run's overrides applied to a copy of the
// service, and compose's one-off labels (oneoff True, a slug, no number).
func oneOffNode(tmpl *planner.Node, project string, f *runFlags, command []string) (*planner.Node, error) {
	s := *tmpl.Service
	if len(command) > 0 {
		s.Command = command
	}
	if f.entrypointSet {
		if f.entrypoint == "" {
			s.Entrypoint = []string{}
		} else {
			s.Entrypoint = []string{f.entrypoint}
		}
		if len(command) == 0 {
			s.Command = []string{}
		}
	}
	if f.user != "" {
		s.User = f.user
	}
	if f.workdir != "" {
		s.WorkingDir = f.workdir
	}
	env, err := parseEnvFlags(f.env, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	s.Environment = mergeEnvList(s.Environment, env)
	// Like compose, a one-off container publishes the service's ports only
	// with --service-ports, and those of -p.
	if !f.servicePorts {
		s.Ports = nil
	}
	for _, p := range f.publish {
		ports, err := spec.ParsePorts(p)
		if err != nil {
			return nil, fmt.Errorf("--publish: %w", err)
		}
		s.Ports = append(slices.Clone(s.Ports), ports...)
	}
	// A one-off container is not restarted, and has no fixed name.
	s.Restart = ""
	s.ContainerName = ""
	var slug [32]byte
	rand.Read(slug[:])
	n := *tmpl
	n.Service = &s
	n.Labels = maps.Clone(tmpl.Labels)
	delete(n.Labels, planner.LabelContainerNumber)
	n.Labels[planner.LabelOneoff] = planner.OneoffTrue
	n.Labels[planner.LabelSlug] = hex.EncodeToString(slug[:])
	extra, err := parseKeyValues("label", f.labels, false)
	if err != nil {
		return nil, err
	}
	maps.Copy(n.Labels, extra)
	return &n, nil
}

// mergeEnvList overrides base's KEY=VALUE entries with extra's.
func mergeEnvList(base, extra []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range extra {
		k := kv
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				k = kv[:i]
				break
			}
		}
		replaced := false
		for i, o := range out {
			if len(o) > len(k) && o[:len(k)+1] == k+"=" {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// waitDependencies waits for the depends_on conditions of svc on the
// running project, as up would before starting it.
func waitDependencies(ctx context.Context, e *engine.Engine, w *live.World, project string, svc *spec.Service) error {
	for _, d := range svc.DependsOn {
		cs, err := projectContainers(e, project, []string{d.Service}, false)
		if err != nil {
			return err
		}
		cond := planner.Started
		switch d.Condition {
		case spec.ConditionHealthy:
			cond = planner.Healthy
		case spec.ConditionCompletedSuccessfully:
			cond = planner.CompletedSuccessfully
		}
		for _, c := range cs {
			if err := w.WaitContainer(ctx, c.ID(), cond); err != nil {
				if !d.Required {
					continue
				}
				return fmt.Errorf("service %q depends on %q: %w", svc.Name, d.Service, err)
			}
		}
	}
	return nil
}
