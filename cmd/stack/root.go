package main

import (
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"stack/engine"
	"stack/engine/state"
)

// globals holds the flags every command shares and the engine they open.
type globals struct {
	root  string
	debug bool

	eng *engine.Engine
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
	cmd.AddCommand(
		newImageCmd(g),
		newContainerCmd(g),
	)
	return cmd
}
