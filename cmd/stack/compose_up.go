package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"stack/engine"
	"stack/planner"
	"stack/reconciler"
	"stack/reconciler/live"
)

// upFlags are `stack up`'s and `stack create`'s flags, as docker compose's.
type upFlags struct {
	detach, wait, forceRecreate, noRecreate, noDeps, removeOrphans bool
	alwaysRecreateDeps, noStart, abortOnExit, abortOnFailure       bool
	renewAnon, explain, noColor, noLogPrefix, timestamps           bool
	build, noBuild, quietPull                                      bool
	waitTimeout                                                    int
	timeout                                                        int
	scale, attach, noAttach                                        []string
	exitCodeFrom, pull                                             string
	// startOnly: start what exists, create nothing (start, restart).
	startOnly bool
}

func (f *upFlags) register(cmd *cobra.Command, create bool) {
	fs := cmd.Flags()
	fs.BoolVar(&f.forceRecreate, "force-recreate", false, "Recreate containers even if their configuration and image haven't changed")
	fs.BoolVar(&f.noRecreate, "no-recreate", false, "If containers already exist, don't recreate them")
	fs.BoolVar(&f.removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	fs.StringArrayVar(&f.scale, "scale", nil, "Scale SERVICE to NUM instances (SERVICE=NUM)")
	fs.BoolVar(&f.build, "build", false, "Build images before starting containers")
	fs.BoolVar(&f.noBuild, "no-build", false, "Don't build an image, even if it's policy")
	fs.StringVar(&f.pull, "pull", "policy", `Pull image before running ("always"|"missing"|"never"|"policy")`)
	fs.BoolVar(&f.quietPull, "quiet-pull", false, "Pull without printing progress information")
	if create {
		return
	}
	fs.BoolVarP(&f.detach, "detach", "d", false, "Detached mode: Run containers in the background")
	fs.BoolVar(&f.wait, "wait", false, "Wait for services to be running|healthy. Implies detached mode.")
	fs.IntVar(&f.waitTimeout, "wait-timeout", 0, "Maximum duration in seconds to wait for the project to be running|healthy")
	fs.BoolVar(&f.noDeps, "no-deps", false, "Don't start linked services")
	fs.BoolVar(&f.alwaysRecreateDeps, "always-recreate-deps", false, "Recreate dependent containers. Incompatible with --no-recreate.")
	fs.BoolVar(&f.noStart, "no-start", false, "Don't start the services after creating them")
	fs.BoolVar(&f.abortOnExit, "abort-on-container-exit", false, "Stops all containers if any container was stopped. Incompatible with -d")
	fs.BoolVar(&f.abortOnFailure, "abort-on-container-failure", false, "Stops all containers if any container exited with failure. Incompatible with -d")
	fs.StringVar(&f.exitCodeFrom, "exit-code-from", "", "Return the exit code of the selected service container. Implies --abort-on-container-exit")
	fs.StringArrayVar(&f.attach, "attach", nil, "Restrict attaching to the specified services")
	fs.StringArrayVar(&f.noAttach, "no-attach", nil, "Do not attach (stream logs) to the specified services")
	fs.IntVarP(&f.timeout, "timeout", "t", 0, "Use this timeout in seconds for container shutdown when attached or when containers are already running")
	fs.BoolVar(&f.noColor, "no-color", false, "Produce monochrome output")
	fs.BoolVar(&f.noLogPrefix, "no-log-prefix", false, "Don't print prefix in logs")
	fs.BoolVar(&f.timestamps, "timestamps", false, "Show timestamps")
	fs.BoolVarP(&f.renewAnon, "renew-anon-volumes", "V", false, "Recreate anonymous volumes instead of retrieving data from the previous containers")
	fs.BoolVar(&f.explain, "explain", false, "Say for each container why it is (or is not) created, recreated or started")
}

// parseScale parses --scale SERVICE=N flags.
func parseScale(values []string) (map[string]int, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := map[string]int{}
	for _, v := range values {
		name, num, ok := strings.Cut(v, "=")
		n, err := strconv.Atoi(num)
		if !ok || name == "" || err != nil || n < 0 {
			return nil, fmt.Errorf("invalid --scale %q: want SERVICE=NUM", v)
		}
		out[name] = n
	}
	return out, nil
}

// secondsPtr turns a -t value into a duration when the flag was given.
func secondsPtr(cmd *cobra.Command, name string, v int) *time.Duration {
	if !cmd.Flags().Changed(name) {
		return nil
	}
	d := time.Duration(v) * time.Second
	return &d
}

func newUpCmd(g *globals) *cobra.Command {
	var f upFlags
	cmd := &cobra.Command{
		Use:   "up [OPTIONS] [SERVICE...]",
		Short: "Create and start containers",
		Long: `Create and start containers: networks, volumes and images first, then
each service's containers in dependency order, each started as soon as the
services it depends on are started, healthy or completed, as depends_on
says. Running up again changes nothing; a changed service is recreated.

Attached (without -d) the logs of all services are streamed; Ctrl-C stops
the stack, a second Ctrl-C kills it.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUp(cmd, g, &f, args, false)
		},
	}
	f.register(cmd, false)
	return cmd
}

func newCreateCmd(g *globals) *cobra.Command {
	var f upFlags
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [SERVICE...]",
		Short: "Creates containers for a service",
		RunE: func(cmd *cobra.Command, args []string) error {
			f.noStart = true
			f.detach = true
			return runUp(cmd, g, &f, args, true)
		},
	}
	f.register(cmd, true)
	return cmd
}

// converge plans the project, makes its images available, and applies the
// difference with what runs. It returns the final plan.
//
// keep, when not nil, selects the actions to apply (run uses it to create
// only the networks and volumes a one-off container needs).
func converge(ctx context.Context, g *globals, proj *composeProject, w *live.World, opts reconciler.Options, scale map[string]int, prog progress, timeout *time.Duration, stdout io.Writer, explain bool, keep func(reconciler.Action) bool) (*planner.Plan, error) {
	plan, err := planner.Build(proj.Spec, planner.Inputs{Scale: scale})
	if err != nil {
		return nil, err
	}
	ids, err := reconciler.EnsureImages(ctx, plan, w, reconciler.EnsureOptions{
		Services: opts.Services, NoDeps: opts.NoDeps, Parallel: g.parallel, Events: prog.Event,
	})
	if err != nil {
		return nil, err
	}
	if plan, err = planner.Build(proj.Spec, planner.Inputs{Scale: scale, ImageIDs: ids}); err != nil {
		return nil, err
	}
	obs, err := w.Observe(ctx, proj.Name)
	if err != nil {
		return nil, err
	}
	actions := reconciler.Diff(plan, obs, opts)
	if keep != nil {
		actions = slices.DeleteFunc(actions, func(a reconciler.Action) bool { return !keep(a) })
	}
	if explain {
		for _, line := range reconciler.Explain(plan, obs, opts) {
			fmt.Fprintln(stdout, line)
		}
	}
	if g.dryRun {
		fmt.Fprint(stdout, actions.String())
		return plan, nil
	}
	err = reconciler.Apply(ctx, plan, actions, w, reconciler.ApplyOptions{Parallel: g.parallel, Events: prog.Event, Timeout: timeout})
	return plan, err
}

func runUp(cmd *cobra.Command, g *globals, f *upFlags, services []string, create bool) error {
	began := time.Now()
	ctx := cmd.Context()
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if f.exitCodeFrom != "" {
		f.abortOnExit = true
	}
	if f.wait {
		f.detach = true
	}
	if f.detach && (f.abortOnExit || f.abortOnFailure) {
		return errors.New("--abort-on-container-exit, --abort-on-container-failure and --exit-code-from are incompatible with --detach")
	}
	if f.noRecreate && (f.forceRecreate || f.alwaysRecreateDeps) {
		return errors.New("--no-recreate is incompatible with --force-recreate and --always-recreate-deps")
	}
	scale, err := parseScale(f.scale)
	if err != nil {
		return err
	}
	proj, err := g.loadProject(ctx, stderr, true, services...)
	if err != nil {
		return err
	}
	if err := proj.checkServices(services); err != nil {
		return err
	}
	if f.exitCodeFrom != "" {
		if err := proj.checkServices([]string{f.exitCodeFrom}); err != nil {
			return err
		}
	}
	e, err := g.engine()
	if err != nil {
		return err
	}
	w := live.New(e)
	w.RenewAnonVolumes = f.renewAnon
	title := "Running"
	if create {
		title = "Creating"
	}
	prog, err := newProgress(g.progress, stderr, title)
	if err != nil {
		return err
	}
	timeout := secondsPtr(cmd, "timeout", f.timeout)
	opts := reconciler.Options{
		ForceRecreate: f.forceRecreate, NoRecreate: f.noRecreate, AlwaysRecreateDeps: f.alwaysRecreateDeps,
		Services: services, NoDeps: f.noDeps, RemoveOrphans: f.removeOrphans, NoStart: f.noStart,
		Project: proj.Spec,
	}
	var keep func(reconciler.Action) bool
	if f.startOnly {
		// start and restart act on existing containers only, as compose's.
		keep = func(a reconciler.Action) bool {
			return a.Kind == reconciler.StartContainer || a.Kind == reconciler.Keep
		}
	}
	plan, err := converge(ctx, g, proj, w, opts, scale, prog, timeout, stdout, f.explain, keep)
	prog.Done()
	if err != nil || g.dryRun || f.noStart {
		return err
	}
	if f.detach {
		if !f.wait {
			return nil
		}
		return waitProject(ctx, e, proj.Name, plan, services, f.waitTimeout)
	}
	return attachProject(ctx, g, e, w, proj, plan, f, services, stdout, stderr, timeout, began)
}

// waitProject is up --wait: every selected container must be running,
// healthy when it has a healthcheck, or — a one-shot job — have exited 0
// (compose#9572). It fails naming the first container that exits with a
// failure or turns unhealthy.
func waitProject(ctx context.Context, e *engine.Engine, project string, plan *planner.Plan, services []string, timeoutSecs int) error {
	if timeoutSecs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeoutSecs)*time.Second)
		defer cancel()
	}
	cs, err := projectContainers(e, project, services, false)
	if err != nil {
		return err
	}
	var g errgroup.Group
	for _, c := range cs {
		g.Go(func() error {
			cond := engine.Running
			if c.Config.Healthcheck != nil {
				cond = engine.Healthy
			}
			err := e.WaitCondition(ctx, c.ID(), cond)
			if err == nil {
				return nil
			}
			if errors.Is(err, engine.ErrConditionFailed) {
				// A one-shot job that completed successfully is done.
				if got, gerr := e.Get(c.ID()); gerr == nil && got.State.Status == "exited" && got.State.ExitCode == 0 && !got.State.StartedAt.IsZero() {
					return nil
				}
			}
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("container %s: gave up after %ds waiting for it to be %s", c.Name(), timeoutSecs, cond)
			}
			return fmt.Errorf("container %s: %w", c.Name(), err)
		})
	}
	return g.Wait()
}

// attachProject is attached `up`: it streams the services' logs until
// every container has stopped, or Ctrl-C (which stops the stack; a second
// Ctrl-C kills it), or — with --abort-on-container-exit / -failure — until
// one container exits, which stops the others. It returns the exit code
// docker compose does. Like compose, it shows what the containers write
// from this up on, not what earlier runs left in their logs: entries from
// began.
func attachProject(ctx context.Context, g *globals, e *engine.Engine, w *live.World, proj *composeProject, plan *planner.Plan, f *upFlags, services []string, stdout, stderr io.Writer, timeout *time.Duration, began time.Time) error {
	attachSvc := services
	if len(f.attach) > 0 {
		attachSvc = f.attach
	}
	var logSvc []string
	for _, s := range proj.Spec.Services {
		if (len(attachSvc) == 0 || slices.Contains(attachSvc, s.Name)) && !slices.Contains(f.noAttach, s.Name) && s.Attach {
			logSvc = append(logSvc, s.Name)
		}
	}
	// Ctrl-C is ours before the first log line shows: a user (or a test)
	// that sees output and interrupts must get a clean stop.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	printer := newLogPrinter(stdout, !f.noColor && useColor(g.ansi, stdout), !f.noLogPrefix, f.timestamps, logSvc)
	logCtx, stopLogs := context.WithCancel(ctx)
	defer stopLogs()
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		if len(logSvc) == 0 {
			return
		}
		followProject(logCtx, e, proj.Name, logSvc, logOptions{Follow: true, Tail: -1, Since: began}, printer.print)
	}()

	cs, err := projectContainers(e, proj.Name, services, false)
	if err != nil {
		return err
	}
	type exit struct {
		c    *engine.Container
		code int
	}
	exits := make(chan exit, len(cs))
	for _, c := range cs {
		go func() {
			code, err := e.Wait(ctx, c.ID())
			if err != nil {
				code = -1
			}
			exits <- exit{c, code}
		}()
	}
	stopAll := func() error {
		obs, err := w.Observe(context.WithoutCancel(ctx), proj.Name)
		if err != nil {
			return err
		}
		prog, _ := newProgress(g.progress, stderr, "Stopping")
		var kill sync.Once
		stopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		go func() {
			select {
			case <-sigs:
				// A second Ctrl-C: kill what is still running.
				kill.Do(func() {
					for _, c := range obs.Containers {
						e.Kill(stopCtx, c.ID, syscall.SIGKILL)
					}
				})
			case <-stopCtx.Done():
			}
		}()
		err = reconciler.Stop(stopCtx, obs, w, reconciler.StopOptions{Services: services, Timeout: timeout, Parallel: g.parallel, Events: prog.Event, Project: proj.Spec})
		prog.Done()
		return err
	}

	code := 0
	remaining := len(cs)
	for remaining > 0 {
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "Gracefully stopping... (press Ctrl+C again to force)")
			err := stopAll()
			stopLogs()
			<-logsDone
			return err
		case x := <-exits:
			remaining--
			svc := x.c.Config.Labels[planner.LabelService]
			if f.exitCodeFrom != "" && svc == f.exitCodeFrom {
				code = x.code
			}
			abort := f.abortOnExit || (f.abortOnFailure && x.code != 0)
			if abort {
				if f.exitCodeFrom == "" {
					code = x.code
				}
				fmt.Fprintf(stderr, "%s exited with code %d\nAborting on container exit...\n", x.c.Name(), x.code)
				err := stopAll()
				if f.exitCodeFrom != "" && svc != f.exitCodeFrom {
					if c, gerr := projectContainers(e, proj.Name, []string{f.exitCodeFrom}, false); gerr == nil && len(c) > 0 {
						if got, gerr := e.Get(c[0].ID()); gerr == nil {
							code = got.State.ExitCode
						}
					}
				}
				stopLogs()
				<-logsDone
				if err != nil {
					return err
				}
				if code != 0 {
					return &exitError{code: code}
				}
				return nil
			}
		}
	}
	// Everything exited on its own: let the logs drain, then finish.
	stopLogs()
	<-logsDone
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func newDownCmd(g *globals) *cobra.Command {
	var volumes, removeOrphans bool
	var timeout int
	var rmi string
	cmd := &cobra.Command{
		Use:   "down [OPTIONS] [SERVICES]",
		Short: "Stop and remove containers, networks",
		Long: `Stop and remove the project's containers (in reverse dependency order),
finished one-off containers, and networks; with -v also its named volumes.
It works from the containers' labels, so -p NAME is enough when the
compose file is gone.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			proj, err := g.loadProject(ctx, cmd.ErrOrStderr(), false)
			if err != nil {
				return err
			}
			if rmi != "" && rmi != "local" && rmi != "all" {
				return fmt.Errorf("invalid --rmi %q: want local or all", rmi)
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			w := live.New(e)
			obs, err := w.Observe(ctx, proj.Name)
			if err != nil {
				return err
			}
			prog, err := newProgress(g.progress, cmd.ErrOrStderr(), "Running")
			if err != nil {
				return err
			}
			err = reconciler.Down(ctx, obs, w, reconciler.DownOptions{
				Volumes: volumes, RemoveOrphans: removeOrphans, Timeout: secondsPtr(cmd, "timeout", timeout),
				Parallel: g.parallel, Events: prog.Event, Project: proj.Spec,
			})
			prog.Done()
			return err
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&volumes, "volumes", "v", false, "Remove named volumes declared in the volumes section of the Compose file and anonymous volumes attached to containers")
	fs.BoolVar(&removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	fs.IntVarP(&timeout, "timeout", "t", 0, "Specify a shutdown timeout in seconds")
	fs.StringVar(&rmi, "rmi", "", `Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")`)
	return cmd
}

// projectVerb runs a reconciler operation on the project's observed
// containers: stop, rm, restart.
func projectVerb(cmd *cobra.Command, g *globals, services []string, title string, fn func(ctx context.Context, obs *reconciler.Observed, w *live.World, proj *composeProject, prog progress) error) error {
	ctx := cmd.Context()
	proj, err := g.loadProject(ctx, cmd.ErrOrStderr(), false)
	if err != nil {
		return err
	}
	if err := proj.checkServices(services); err != nil {
		return err
	}
	e, err := g.engine()
	if err != nil {
		return err
	}
	w := live.New(e)
	obs, err := w.Observe(ctx, proj.Name)
	if err != nil {
		return err
	}
	prog, err := newProgress(g.progress, cmd.ErrOrStderr(), title)
	if err != nil {
		return err
	}
	err = fn(ctx, obs, w, proj, prog)
	prog.Done()
	return err
}

func newStopCmd(g *globals) *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] [SERVICE...]",
		Short: "Stop services",
		RunE: func(cmd *cobra.Command, args []string) error {
			return projectVerb(cmd, g, args, "Stopping", func(ctx context.Context, obs *reconciler.Observed, w *live.World, proj *composeProject, prog progress) error {
				return reconciler.Stop(ctx, obs, w, reconciler.StopOptions{Services: args, Timeout: secondsPtr(cmd, "timeout", timeout), Parallel: g.parallel, Events: prog.Event, Project: proj.Spec})
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "timeout", "t", 0, "Specify a shutdown timeout in seconds")
	return cmd
}

func newRmCmd(g *globals) *cobra.Command {
	var force, stop, volumes bool
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] [SERVICE...]",
		Short: "Removes stopped service containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return projectVerb(cmd, g, args, "Removing", func(ctx context.Context, obs *reconciler.Observed, w *live.World, proj *composeProject, prog progress) error {
				if !force {
					var names []string
					for _, c := range obs.Containers {
						if !c.OneOff && (len(args) == 0 || slices.Contains(args, c.Service)) && (stop || c.State != reconciler.Running) {
							names = append(names, c.Name)
						}
					}
					if len(names) == 0 {
						fmt.Fprintln(cmd.ErrOrStderr(), "No stopped containers")
						return nil
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "Going to remove %s\nAre you sure? [yN] ", strings.Join(names, ", "))
					if !confirmed(cmd.InOrStdin()) {
						return nil
					}
				}
				return reconciler.Remove(ctx, obs, w, reconciler.RemoveOptions{Services: args, Stop: stop, Volumes: volumes, Parallel: g.parallel, Events: prog.Event, Project: proj.Spec})
			})
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&force, "force", "f", false, "Don't ask to confirm removal")
	fs.BoolVarP(&stop, "stop", "s", false, "Stop the containers, if required, before removing")
	fs.BoolVarP(&volumes, "volumes", "v", false, "Remove any anonymous volumes attached to containers")
	return cmd
}

func newStartCmd(g *globals) *cobra.Command {
	var wait bool
	var waitTimeout int
	cmd := &cobra.Command{
		Use:   "start [SERVICE...]",
		Short: "Start services",
		RunE: func(cmd *cobra.Command, args []string) error {
			// start is up without creating or recreating anything: it
			// starts what exists, in dependency order, waiting on
			// depends_on conditions.
			f := &upFlags{noRecreate: true, startOnly: true, detach: true, wait: wait, waitTimeout: waitTimeout}
			return runUp(cmd, g, f, args, false)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "Wait for services to be running|healthy")
	cmd.Flags().IntVar(&waitTimeout, "wait-timeout", 0, "Maximum duration in seconds to wait for the project to be running|healthy")
	return cmd
}

func newRestartCmd(g *globals) *cobra.Command {
	var timeout int
	var noDeps bool
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] [SERVICE...]",
		Short: "Restart service containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			err := projectVerb(cmd, g, args, "Restarting", func(ctx context.Context, obs *reconciler.Observed, w *live.World, proj *composeProject, prog progress) error {
				return reconciler.Stop(ctx, obs, w, reconciler.StopOptions{Services: args, Timeout: secondsPtr(cmd, "timeout", timeout), Parallel: g.parallel, Events: prog.Event, Project: proj.Spec})
			})
			if err != nil {
				return err
			}
			f := &upFlags{noRecreate: true, startOnly: true, detach: true, noDeps: noDeps}
			return runUp(cmd, g, f, args, false)
		},
	}
	cmd.Flags().IntVarP(&timeout, "timeout", "t", 0, "Specify a shutdown timeout in seconds")
	cmd.Flags().BoolVar(&noDeps, "no-deps", false, "Don't restart dependent services")
	return cmd
}
