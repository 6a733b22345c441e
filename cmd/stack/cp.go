package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"stack/engine"
	"stack/engine/archive"
)

// cpFlags are docker cp's flags.
type cpFlags struct {
	followLink, archive, quiet bool
	index                      int
}

// cpArg splits "CONTAINER:PATH" from a local path, as docker's
// splitCpArg: an absolute path or one starting with "." is local even with
// a colon in it.
func cpArg(arg string) (container, path string) {
	if filepath.IsAbs(arg) || strings.HasPrefix(arg, ".") {
		return "", arg
	}
	c, p, ok := strings.Cut(arg, ":")
	if !ok {
		return "", arg
	}
	return c, p
}

func newContainerCpCmd(g *globals) *cobra.Command {
	var f cpFlags
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n  stack container cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files/folders between a container and the local filesystem",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			return runCp(cmd, e, &f, args[0], args[1], func(name string) (string, error) { return name, nil })
		},
	}
	f.register(cmd)
	return cmd
}

// newComposeCpCmd is compose's cp: SERVICE:PATH names a service's
// container (--index picks a replica).
func newComposeCpCmd(g *globals) *cobra.Command {
	var f cpFlags
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] SERVICE:SRC_PATH DEST_PATH|-\n  stack cp [OPTIONS] SRC_PATH|- SERVICE:DEST_PATH",
		Short: "Copy files/folders between a service container and the local filesystem",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			service, _ := cpArg(args[0])
			if service == "" {
				service, _ = cpArg(args[1])
			}
			if service == "" {
				return errors.New("one of the paths must name a service: SERVICE:PATH")
			}
			p, e, err := g.openComposeProject(cmd, []string{service})
			if err != nil {
				return err
			}
			cs, err := projectContainers(e, p.Name, []string{service}, true)
			if err != nil {
				return err
			}
			c, err := serviceContainer(cs, service, f.index)
			if err != nil {
				return err
			}
			return runCp(cmd, e, &f, args[0], args[1], func(string) (string, error) { return c.ID(), nil })
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&f.index, "index", 0, "Index of the container if service has multiple replicas")
	return cmd
}

func (f *cpFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&f.followLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	cmd.Flags().BoolVarP(&f.archive, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "Suppress progress output during copy")
}

func runCp(cmd *cobra.Command, e *engine.Engine, f *cpFlags, src, dst string, resolve func(string) (string, error)) error {
	ctx := cmd.Context()
	srcC, srcPath := cpArg(src)
	dstC, dstPath := cpArg(dst)
	switch {
	case srcC != "" && dstC != "":
		return errors.New("copying between containers is not supported")
	case srcC == "" && dstC == "":
		return errors.New("must specify at least one container source")
	case srcC != "":
		ref, err := resolve(srcC)
		if err != nil {
			return err
		}
		if dstPath == "-" {
			return e.CopyFrom(ctx, ref, srcPath, cmd.OutOrStdout(), f.followLink)
		}
		// Files copied out belong to the user copying, unless -a.
		owner := -1
		if !f.archive {
			owner = os.Getuid()
		}
		return pipe(func(w io.Writer) error { return e.CopyFrom(ctx, ref, srcPath, w, f.followLink) },
			func(r io.Reader) error { return untarHost(chown(r, owner), dstPath) })
	default:
		ref, err := resolve(dstC)
		if err != nil {
			return err
		}
		if srcPath == "-" {
			return e.CopyTo(ctx, ref, dstPath, cmd.InOrStdin())
		}
		// Files copied in belong to root, unless -a keeps their owners.
		owner := -1
		if !f.archive {
			owner = 0
		}
		return pipe(func(w io.Writer) error { return tarHost(w, srcPath, f.followLink) },
			func(r io.Reader) error { return e.CopyTo(ctx, ref, dstPath, chown(r, owner)) })
	}
}

// pipe runs produce and consume connected by a pipe, and returns the
// first failure.
func pipe(produce func(io.Writer) error, consume func(io.Reader) error) error {
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := produce(pw)
		pw.CloseWithError(err)
		errc <- err
	}()
	err := consume(pr)
	pr.CloseWithError(errors.New("stopped reading"))
	perr := <-errc
	if err != nil {
		return err // the producer's error is then only "stopped reading"
	}
	return perr
}

func hostRoot() (*os.File, error) {
	return os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

func absPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") {
		// keep docker cp's meaning of a trailing "/" and "/."
		abs += p[len(strings.TrimRight(p, "/.")):]
	}
	return abs, nil
}

func tarHost(w io.Writer, src string, followLink bool) error {
	root, err := hostRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	abs, err := absPath(src)
	if err != nil {
		return err
	}
	return archive.Tar(w, root, abs, followLink)
}

func untarHost(r io.Reader, dst string) error {
	root, err := hostRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	abs, err := absPath(dst)
	if err != nil {
		return err
	}
	return archive.Untar(r, root, abs)
}

// chown rewrites a tar stream's owners to uid (and the same gid); -1
// leaves it as it is.
func chown(r io.Reader, uid int) io.Reader {
	if uid < 0 {
		return r
	}
	pr, pw := io.Pipe()
	go func() {
		tr, tw := tar.NewReader(r), tar.NewWriter(pw)
		var err error
		for {
			var h *tar.Header
			if h, err = tr.Next(); err != nil {
				break
			}
			h.Uid, h.Gid, h.Uname, h.Gname = uid, uid, "", ""
			if err = tw.WriteHeader(h); err != nil {
				break
			}
			if _, err = io.Copy(tw, tr); err != nil {
				break
			}
		}
		if errors.Is(err, io.EOF) {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}
