// Package engine is the facade of stack's runtime core: containers (create,
// start, stop, kill, remove, exec, logs, wait, inspect, top, pause) and
// images, in its own vocabulary. It knows nothing of compose, labels'
// meanings, the spec or the planner; the compose layers and the CLI call it.
//
// There is no daemon. Every call reads the state root, acts, and returns;
// what must outlive the call is a container's shim (engine/shim). Calls that
// change the set of containers take the root's lock; calls on one running
// container go through its shim, which serialises them.
package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"stack/engine/container"
	"stack/engine/errdefs"
	"stack/engine/exeseal"
	"stack/engine/image"
	"stack/engine/shim"
	"stack/engine/state"
	"stack/network"
	"stack/volume"
)

// Sentinel errors, shared with the engine's sub-packages.
var (
	ErrNotFound   = errdefs.ErrNotFound
	ErrExists     = errdefs.ErrExists
	ErrInUse      = errdefs.ErrInUse
	ErrNotRunning = errdefs.ErrNotRunning
	ErrInvalid    = errdefs.ErrInvalid
)

// Options configure an Engine.
type Options struct {
	// Log receives diagnostics; nil discards them.
	Log *slog.Logger
	// Exe is the binary that shims and inits are started from. Empty means
	// $STACK_RUNTIME, else the stack-runtime binary next to the running
	// one (cmd/stack-runtime: small, so cheap to start for every
	// container), else the running binary itself.
	Exe string
	// ReapShims makes the engine wait for the shims it starts, for callers
	// that live long (tests, `stack up` in the foreground).
	ReapShims bool
}

// Engine is a handle on one state root. It holds no state of its own beyond
// open handles; it is safe for concurrent use.
type Engine struct {
	root state.Root
	log  *slog.Logger
	exe  string
	reap bool
	// sealedInit seals the init binary once, for every shim this engine
	// starts (shim.Start).
	sealedInit func() (*os.File, error)
	Images     *image.Store
	// Nets holds the networks' records and address allocations.
	Nets *network.Store
	// Vols holds the named and anonymous volumes.
	Vols *volume.Store
}

// Open opens the state root, creating it if needed.
func Open(root state.Root, opts Options) (*Engine, error) {
	if err := root.Init(); err != nil {
		return nil, err
	}
	imgs, err := image.Open(root.ImageDir())
	if err != nil {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	exe := opts.Exe
	if exe == "" {
		exe = runtimeBinary()
	}
	nets, err := network.Open(filepath.Join(root.Dir, "networks"))
	if err != nil {
		return nil, fmt.Errorf("open network store: %w", err)
	}
	vols, err := volume.Open(root.VolumesDir())
	if err != nil {
		return nil, fmt.Errorf("open volume store: %w", err)
	}
	sealedInit := sync.OnceValues(func() (*os.File, error) {
		empty := filepath.Join(root.RunDir, "empty")
		if err := os.MkdirAll(empty, 0o700); err != nil {
			return nil, err
		}
		init, err := shim.InitBinaryFor(exe)
		if err != nil {
			return nil, err
		}
		return exeseal.OpenFile(init, empty)
	})
	return &Engine{root: root, log: log, exe: exe, reap: opts.ReapShims, sealedInit: sealedInit, Images: imgs, Nets: nets, Vols: vols}, nil
}

// Root returns the engine's state root.
func (e *Engine) Root() state.Root { return e.root }

// lock takes the root's lock for a change to the set of containers.
func (e *Engine) lock() (*state.Lock, error) {
	return state.LockFile(e.root.LockPath())
}

func (e *Engine) paths(id string) container.Paths { return container.PathsFor(e.root, id) }

// ImageUsers returns the names of containers created from image id.
func (e *Engine) ImageUsers(id string) ([]string, error) {
	cs, err := e.List(true)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, c := range cs {
		if c.Config.Image == id {
			names = append(names, c.Config.Name)
		}
	}
	return names, nil
}

// containerIDs lists the IDs of all containers in the root.
func (e *Engine) containerIDs() ([]string, error) {
	ents, err := os.ReadDir(e.root.ContainersDir())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var ids []string
	for _, ent := range ents {
		if ent.IsDir() && ent.Name()[0] != '.' {
			if _, err := os.Stat(filepath.Join(e.root.ContainerDir(ent.Name()), "config.json")); err == nil {
				ids = append(ids, ent.Name())
			}
		}
	}
	return ids, nil
}

// RuntimeName is the file name of the runtime binary (cmd/stack-runtime).
const RuntimeName = "stack-runtime"

func runtimeBinary() string {
	if p := os.Getenv("STACK_RUNTIME"); p != "" {
		return p
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), RuntimeName)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return "/proc/self/exe"
}
