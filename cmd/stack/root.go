package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"stack/engine"
	"stack/engine/state"
	"stack/planner"
)

// globals holds the flags every command shares and the engine they open.
type globals struct {
	root  string
	debug bool

	// docker compose's global flags.
	project  projectFlags
	parallel int
	progress string
	ansi     string
	dryRun   bool

	eng *engine.Engine
}

// imageID returns the ID of a local image, or "" (no root, no image). It
// never creates a state root just to look.
func (g *globals) imageID(ref string) string {
	r, err := state.Resolve(g.root)
	if err != nil {
		return ""
	}
	if _, err := os.Stat(r.ImageDir()); err != nil {
		return ""
	}
	e, err := g.engine()
	if err != nil {
		return ""
	}
	img, err := e.Images.Get(ref)
	if err != nil {
		return ""
	}
	return img.ID
}

// engine opens the engine once per command invocation.
func (g *globals) engine() (*engine.Engine, error) {
	if g.eng != nil {
		return g.eng, nil
	}
	r, err := state.Resolve(g.root)
	if err != nil {
		return nil, err
	}
	var logw io.Writer = io.Discard
	if g.debug || os.Getenv("STACK_DEBUG") != "" {
		logw = os.Stderr
	}
	e, err := engine.Open(r, engine.Options{Log: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		return nil, err
	}
	g.eng = e
	return e, nil
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	cmd := &cobra.Command{
		Use:           "stack",
		Short:         "Declarative multi-container orchestrator with its own runtime",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.PersistentFlags().StringVar(&g.root, "root", "", "state root (default $STACK_ROOT or /var/lib/stack)")
	cmd.PersistentFlags().BoolVar(&g.debug, "debug", false, "print diagnostics to stderr")
	// docker compose's global flags go before the verb (`stack -f a.yml up`)
	// and are the root's own, not inherited: verbs reuse their letters
	// (`logs -f` follows, `rm -f` forces), as compose's do.
	cmd.TraverseChildren = true
	pf := cmd.Flags()
	g.project.register(pf)
	pf.IntVar(&g.parallel, "parallel", -1, "Control max parallelism, -1 for unlimited")
	pf.StringVar(&g.progress, "progress", "auto", "Set type of progress output (auto, tty, plain, json, quiet)")
	pf.StringVar(&g.ansi, "ansi", "auto", `Control when to print ANSI control characters ("never"|"always"|"auto")`)
	pf.BoolVar(&g.dryRun, "dry-run", false, "Execute command in dry run mode")
	cmd.AddCommand(
		newImageCmd(g),
		newContainerCmd(g),
		newNetworkCmd(g),
		newVolumeCmd(g),
		newConfigCmd(g),
		newUpCmd(g),
		newCreateCmd(g),
		newDownCmd(g),
		newStartCmd(g),
		newStopCmd(g),
		newRestartCmd(g),
		newRmCmd(g),
		newRunCmd(g),
		newComposePsCmd(g),
		newComposeLogsCmd(g),
		newComposeLsCmd(g),
		newComposeTopCmd(g),
		newComposeImagesCmd(g),
		newComposePortCmd(g),
		newComposeCpCmd(g),
		newComposeExecCmd(g),
		newComposeKillCmd(g),
		newComposePauseCmd(g, true),
		newComposePauseCmd(g, false),
		newComposeWaitCmd(g),
		newComposeVersionCmd(),
	)
	refuseUnknownSubcommands(cmd)
	// --version (and -v), as docker compose's: the version verb's line.
	cmd.Version = planner.Version
	cmd.SetVersionTemplate("Stack version {{.Version}}\n")
	cmd.Flags().BoolP("version", "v", false, "Show the stack version information")
	return cmd
}

// refuseUnknownSubcommands makes every command that only groups others
// (stack, stack container, …) print its help when run bare, and fail on
// an unknown subcommand, as docker does. Left to cobra, `stack container
// frobnicate` would print the help and exit 0, and a script would carry
// on.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	if !cmd.Runnable() && cmd.HasSubCommands() {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return fmt.Errorf("unknown command %q for %q\nRun '%s --help' for usage", args[0], cmd.CommandPath(), cmd.CommandPath())
		}
	}
	for _, c := range cmd.Commands() {
		refuseUnknownSubcommands(c)
	}
}
