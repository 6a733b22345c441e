package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"stack/engine"
	"stack/engine/logs"
	"stack/planner"
)

// logOptions select what followProject reads from each container's log.
type logOptions struct {
	// Follow keeps streaming until ctx ends; without it followProject
	// prints what the logs hold and returns.
	Follow bool
	// Tail is how many of the last lines of each container to show; -1
	// means all. Containers that appear while following are shown whole.
	Tail int
	// Since and Until bound the entries' times; zero is unbounded.
	Since, Until time.Time
	// Index, when > 0, selects container number Index only.
	Index int
}

// logLine is one line of a container's output.
type logLine struct {
	Name    string // the prefix: the container's name without "PROJECT-"
	Service string
	Stream  string // "stdout" or "stderr"
	Time    time.Time
	Text    string // without its trailing newline
}

// followProject reads the logs of the project's service containers (of
// services only, when given; one-offs never) and calls emit for each line.
// emit is never called by two goroutines at once.
//
// Without opts.Follow the logs of all containers are merged in time order
// and followProject returns when they are read.
//
// With opts.Follow each container is followed by a goroutine of its own,
// and the service is followed across restarts and recreates: when a
// followed container stops, the project is listed again, and a state-root
// watch (inotify on the containers directory, and on the directory of
// each container not followed at the moment) lists it again whenever a
// container appears or one that stopped changes state. There is no polling
// interval. followProject returns nil at once when the project has no
// container; otherwise it runs until ctx ends (then it returns ctx.Err()),
// as `docker compose logs -f` runs until Ctrl-C.
//
// `stack logs` prints with it; attached `up` is meant to stream the logs
// of its services with it too.
func followProject(ctx context.Context, e *engine.Engine, project string, services []string, opts logOptions, emit func(logLine)) error {
	var mu sync.Mutex // serialises emit
	serial := func(l logLine) {
		mu.Lock()
		defer mu.Unlock()
		emit(l)
	}
	if opts.Follow {
		return followLogs(ctx, e, project, services, opts, serial)
	}
	cs, err := logContainers(e, project, services, opts.Index)
	if err != nil {
		return err
	}
	return readLogs(ctx, e, project, cs, opts, serial)
}

// logContainers lists the service containers whose logs are shown.
func logContainers(e *engine.Engine, project string, services []string, index int) ([]*engine.Container, error) {
	cs, err := projectContainers(e, project, services, false)
	if err != nil || index <= 0 {
		return cs, err
	}
	var out []*engine.Container
	for _, c := range cs {
		if containerNumber(c) == index {
			out = append(out, c)
		}
	}
	return out, nil
}

// logName is the prefix of a container's lines, as compose's
// getContainerNameWithoutProject: SERVICE-N for a container under its
// default name PROJECT-SERVICE-N, the whole name for one with a
// container_name. A container being recreated carries a temporary name
// (<old ID[:12]>_<final name>, planner's recreate step) until the old one
// is gone; its lines are shown under the final name from the start.
func logName(project string, c *engine.Container) string {
	name := c.Config.Name
	if len(name) > 13 && name[12] == '_' && isLowerHex(name[:12]) {
		name = name[13:]
	}
	l := c.Config.Labels
	if l[planner.LabelService] != "" && name == project+"-"+l[planner.LabelService]+"-"+l[planner.LabelContainerNumber] {
		return name[len(project)+1:]
	}
	return name
}

func isLowerHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return s != ""
}

// lineJoiner turns log entries into lines: the pieces of a line longer
// than 16 KiB (logs.Entry.Partial) are joined again, per stream, and the
// line takes the time of its first piece.
type lineJoiner struct {
	name, service string
	emit          func(logLine)
	pending       map[string]*logLine // by stream: a line still missing its end
}

func newLineJoiner(name, service string, emit func(logLine)) *lineJoiner {
	return &lineJoiner{name: name, service: service, emit: emit, pending: map[string]*logLine{}}
}

func (j *lineJoiner) add(en logs.Entry) {
	text := string(en.Line)
	if p := j.pending[en.Stream]; p != nil {
		p.Text += text
		if en.Partial {
			return
		}
		delete(j.pending, en.Stream)
		p.Text = strings.TrimSuffix(p.Text, "\n")
		j.emit(*p)
		return
	}
	l := logLine{Name: j.name, Service: j.service, Stream: en.Stream, Time: en.Time, Text: text}
	if en.Partial {
		j.pending[en.Stream] = &l
		return
	}
	l.Text = strings.TrimSuffix(l.Text, "\n")
	j.emit(l)
}

// flush emits the lines whose stream ended without a newline.
func (j *lineJoiner) flush() {
	for _, s := range slices.Sorted(maps.Keys(j.pending)) {
		j.emit(*j.pending[s])
		delete(j.pending, s)
	}
}

// readLogs reads the logs of cs, one goroutine each, and emits their
// lines merged in time order.
func readLogs(ctx context.Context, e *engine.Engine, project string, cs []*engine.Container, opts logOptions, emit func(logLine)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srcs := make([]<-chan logLine, len(cs))
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		ch := make(chan logLine, 64)
		srcs[i] = ch
		j := newLineJoiner(logName(project, c), c.Config.Labels[planner.LabelService], func(l logLine) {
			select {
			case ch <- l:
			case <-ctx.Done():
			}
		})
		wg.Go(func() {
			defer close(ch)
			ro := logs.ReadOptions{Tail: opts.Tail, Since: opts.Since, Until: opts.Until}
			err := e.Logs(ctx, c.ID(), ro, func(en logs.Entry) error {
				j.add(en)
				return ctx.Err()
			})
			j.flush()
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, engine.ErrNotFound) {
				err = nil // never started (no log yet), or removed meanwhile
			}
			errs[i] = err
		})
	}
	mergeByTime(srcs, emit)
	wg.Wait()
	return errors.Join(errs...)
}

// mergeByTime emits the lines of srcs in time order until every source is
// closed. Each source must deliver its own lines in time order; on equal
// times the earlier source goes first. It holds one line per source.
func mergeByTime(srcs []<-chan logLine, emit func(logLine)) {
	heads := make([]logLine, len(srcs))
	open := make([]bool, len(srcs))
	for i, ch := range srcs {
		heads[i], open[i] = <-ch
	}
	for {
		best := -1
		for i := range srcs {
			if open[i] && (best < 0 || heads[i].Time.Before(heads[best].Time)) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		emit(heads[best])
		heads[best], open[best] = <-srcs[best]
	}
}

// followed is what followLogs knows of one container.
type followed struct {
	active  bool      // a goroutine follows its log
	started time.Time // its StartedAt when that goroutine began
	next    time.Time // a new follower reads from here: after what was read
	wd      int       // the watch on its directory while not followed; -1 none
}

// followEnd reports that a follower returned.
type followEnd struct {
	id   string
	next time.Time
	err  error
}

// followLogs is followProject with Follow; see there.
func followLogs(ctx context.Context, e *engine.Engine, project string, services []string, opts logOptions, emit func(logLine)) error {
	// Watch before the first list, so that a container that appears
	// after it wakes us.
	w, err := newDirWatcher()
	if err != nil {
		return err
	}
	defer w.close()
	if _, err := w.add(e.Root().ContainersDir()); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // no container was ever created here
		}
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs first: followers end, then wg.Wait returns
	ends := make(chan followEnd)
	known := map[string]*followed{}

	follow := func(c *engine.Container, f *followed, ro logs.ReadOptions) {
		f.active, f.started = true, c.State.StartedAt
		if f.wd >= 0 {
			w.remove(f.wd)
			f.wd = -1
		}
		id := c.ID()
		j := newLineJoiner(logName(project, c), c.Config.Labels[planner.LabelService], emit)
		wg.Go(func() {
			// Entries before now that the tail left out must not
			// come back when the container restarts.
			next := time.Now()
			err := e.Logs(ctx, id, ro, func(en logs.Entry) error {
				if t := en.Time.Add(time.Nanosecond); t.After(next) {
					next = t
				}
				j.add(en)
				return nil
			})
			j.flush()
			select {
			case ends <- followEnd{id: id, next: next, err: err}:
			case <-ctx.Done():
			}
		})
	}
	// scan lists the project and follows every container that is new,
	// or that started again since its follower began.
	scan := func(initial bool) (int, error) {
		cs, err := logContainers(e, project, services, opts.Index)
		if err != nil {
			return 0, err
		}
		present := map[string]bool{}
		for _, c := range cs {
			present[c.ID()] = true
			ro := logs.ReadOptions{Follow: true, Tail: -1, Since: opts.Since, Until: opts.Until}
			f := known[c.ID()]
			switch {
			case f == nil:
				f = &followed{wd: -1}
				known[c.ID()] = f
				if initial {
					ro.Tail = opts.Tail
				}
			case f.active || !c.State.StartedAt.After(f.started):
				continue
			case f.next.After(ro.Since):
				ro.Since = f.next
			}
			follow(c, f, ro)
		}
		for id, f := range known {
			if !present[id] && !f.active {
				if f.wd >= 0 {
					w.remove(f.wd)
				}
				delete(known, id)
			}
		}
		return len(cs), nil
	}

	n, err := scan(true)
	if err != nil || n == 0 {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.wake:
		case <-w.dead:
			return w.err
		case end := <-ends:
			if end.err != nil && !errors.Is(end.err, engine.ErrNotFound) && !errors.Is(end.err, fs.ErrNotExist) {
				return end.err
			}
			if f := known[end.id]; f != nil {
				f.active = false
				if end.next.After(f.next) {
					f.next = end.next
				}
				// Watch it stopped: it may be started again. A
				// container removed meanwhile has no directory;
				// the next scan forgets it.
				if wd, err := w.add(e.Root().ContainerDir(end.id)); err == nil {
					f.wd = wd
				}
			}
		}
		if _, err := scan(false); err != nil {
			return err
		}
	}
}

// dirWatcher wakes its owner when something is moved into a watched
// directory: in the containers directory, a new container (the engine
// lays one out under a temporary name and renames it into place); in a
// container's directory, its state (written to a temporary file and
// renamed over state.json). Events carry no payload: the owner lists again.
type dirWatcher struct {
	f    *os.File
	fd   int           // f's descriptor, for add and remove while f is open
	wake chan struct{} // buffered 1: pending events collapse into one
	dead chan struct{} // closed when loop returns
	err  error         // why loop returned, if not closed; read after dead
}

func newDirWatcher() (*dirWatcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("watch containers: %w", os.NewSyscallError("inotify_init1", err))
	}
	// A non-blocking fd wrapped by os.NewFile goes to the runtime poller,
	// so Read parks the goroutine and Close wakes it.
	w := &dirWatcher{
		f:    os.NewFile(uintptr(fd), "inotify"),
		fd:   fd,
		wake: make(chan struct{}, 1),
		dead: make(chan struct{}),
	}
	go w.loop()
	return w, nil
}

// add watches dir and returns the watch descriptor.
func (w *dirWatcher) add(dir string) (int, error) {
	wd, err := unix.InotifyAddWatch(w.fd, dir, unix.IN_MOVED_TO|unix.IN_ONLYDIR)
	if err != nil {
		return -1, &fs.PathError{Op: "inotify_add_watch", Path: dir, Err: err}
	}
	return wd, nil
}

// remove drops a watch; one whose directory is gone was dropped already.
func (w *dirWatcher) remove(wd int) { unix.InotifyRmWatch(w.fd, uint32(wd)) }

func (w *dirWatcher) loop() {
	defer close(w.dead)
	buf := make([]byte, 4096) // fits at least one event with a 255-byte name
	for {
		if _, err := w.f.Read(buf); err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.err = fmt.Errorf("watch containers: read inotify events: %w", err)
			}
			return
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (w *dirWatcher) close() {
	w.f.Close()
	<-w.dead
}

// ---- printing ----

// logColors are compose's colours for log prefixes, in the order it hands
// them out (compose:cmd/formatter/colors.go rainbow): cyan, yellow, green,
// magenta, blue, then the same bold.
var logColors = []string{"36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1"}

// logPrinter prints log lines as docker compose does: each prefixed with
// the container's name padded to the longest name seen so far plus one
// and " | ", the prefix coloured per service. Compose prints stdout and
// stderr lines alike to its stdout, and so does stack.
type logPrinter struct {
	mu         sync.Mutex // guards everything below
	w          io.Writer
	color      bool
	prefix     bool
	timestamps bool
	width      int
	colors     map[string]string // service -> ANSI colour
}

// newLogPrinter returns a printer writing to w. services seeds the colours
// in order, so that a service gets the same colour each time (compose
// assigns them as containers happen to register).
func newLogPrinter(w io.Writer, color, prefix, timestamps bool, services []string) *logPrinter {
	p := &logPrinter{w: w, color: color, prefix: prefix, timestamps: timestamps, colors: map[string]string{}}
	for _, s := range services {
		p.colorOf(s)
	}
	return p
}

// colorOf returns the service's colour, handing out the next one to a
// service it has not seen. The caller holds mu (or owns p).
func (p *logPrinter) colorOf(service string) string {
	c, ok := p.colors[service]
	if !ok {
		c = logColors[len(p.colors)%len(logColors)]
		p.colors[service] = c
	}
	return c
}

// register makes room for a name in the padding before any of its lines
// is printed, so that the lines of a whole run line up.
func (p *logPrinter) register(name, service string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.width = max(p.width, len(name)+1)
	p.colorOf(service)
}

func (p *logPrinter) print(l logLine) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	if p.prefix {
		p.width = max(p.width, len(l.Name)+1)
		pre := fmt.Sprintf("%-*s | ", p.width, l.Name)
		if p.color {
			pre = "\033[" + p.colorOf(l.Service) + "m" + pre + "\033[0m"
		}
		b.WriteString(pre)
	}
	if p.timestamps {
		b.WriteString(l.Time.UTC().Format(rfc3339NanoFixed))
		b.WriteByte(' ')
	}
	b.WriteString(l.Text)
	b.WriteByte('\n')
	io.WriteString(p.w, b.String())
}

// useColor decides on ANSI colours for w from --ansi (never, always, or
// auto: when w is a terminal).
func useColor(ansi string, w io.Writer) bool {
	switch ansi {
	case "never":
		return false
	case "always":
		return true
	}
	f, ok := w.(*os.File)
	return ok && isTerminal(int(f.Fd()))
}

// logsFlags are `stack logs`'s flags.
type logsFlags struct {
	follow, timestamps, noColor, noPrefix bool
	tail, since, until                    string
	index                                 int
}

// options checks the flags and turns them into logOptions; now anchors
// relative --since and --until.
func (f *logsFlags) options(services []string, now time.Time) (logOptions, error) {
	o := logOptions{Follow: f.follow, Index: f.index}
	if f.index > 0 && len(services) != 1 {
		return o, errors.New("--index requires one service to be selected")
	}
	var err error
	if o.Tail, err = parseTail(f.tail); err != nil {
		return o, err
	}
	if o.Since, err = parseTimestamp(f.since, now); err != nil {
		return o, fmt.Errorf("--since: %w", err)
	}
	if o.Until, err = parseTimestamp(f.until, now); err != nil {
		return o, fmt.Errorf("--until: %w", err)
	}
	return o, nil
}

func newComposeLogsCmd(g *globals) *cobra.Command {
	var f logsFlags
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] [SERVICE...]",
		Short: "View output from containers",
		Long: `View the output of the project's service containers, each line prefixed
with the container's name (SERVICE-N). Lines of several containers are
merged in time order. stdout and stderr lines both go to stdout, as with
docker compose.

With -f, logs are followed until Ctrl-C, across restarts and recreates:
a container that appears or starts again is followed too. With no
container at all, stack logs -f returns at once.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := f.options(args, time.Now())
			if err != nil {
				return err
			}
			p, e, err := g.openComposeProject(cmd, args)
			if err != nil {
				return err
			}
			services := args
			var seed []string
			if p.Spec != nil {
				seed = p.Spec.ServiceNames()
				if len(services) == 0 {
					// Services with attach: false are left out
					// unless named, as in compose.
					for _, s := range p.Spec.Services {
						if s.Attach {
							services = append(services, s.Name)
						}
					}
					if len(services) == 0 {
						return nil
					}
				}
			}
			cs, err := logContainers(e, p.Name, services, opts.Index)
			if err != nil {
				return err
			}
			for _, c := range cs {
				seed = append(seed, c.Config.Labels[planner.LabelService])
			}
			slices.Sort(seed)
			out := cmd.OutOrStdout()
			pr := newLogPrinter(out, !f.noColor && useColor(g.ansi, out), !f.noPrefix, f.timestamps, slices.Compact(seed))
			for _, c := range cs {
				pr.register(logName(p.Name, c), c.Config.Labels[planner.LabelService])
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			return interrupted(ctx, followProject(ctx, e, p.Name, services, opts, pr.print))
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&f.follow, "follow", "f", false, "Follow log output")
	fs.IntVar(&f.index, "index", 0, "index of the container if service has multiple replicas")
	fs.StringVar(&f.since, "since", "", "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	fs.StringVar(&f.until, "until", "", "Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	fs.BoolVar(&f.noColor, "no-color", false, "Produce monochrome output")
	fs.BoolVar(&f.noPrefix, "no-log-prefix", false, "Don't print prefix in logs")
	fs.BoolVarP(&f.timestamps, "timestamps", "t", false, "Show timestamps")
	fs.StringVarP(&f.tail, "tail", "n", "all", "Number of lines to show from the end of the logs for each container")
	return cmd
}
