package logs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// ReadOptions select what Read returns. The zero value returns nothing
// (Tail 0); set Tail to -1 for everything.
type ReadOptions struct {
	// Tail is how many of the last matching entries to return, counted
	// across rotated files; -1 (any negative number) means all. It
	// counts entries, so a long line split into pieces counts once per
	// piece, and the first entry may be the middle of such a line.
	// Unlike Docker, which counts before filtering, it counts entries
	// that pass Streams, Since and Until, so `--tail 10` of stderr shows
	// ten stderr lines.
	Tail int
	// Since and Until bound entry times, both inclusive; zero is
	// unbounded. With Follow, Read returns (nil) once the clock passes
	// Until, or an entry later than Until appears, and what came before
	// has been read.
	Since, Until time.Time
	// Follow keeps reading entries as they are appended, across
	// rotations, until ctx ends or FollowUntil holds.
	Follow bool
	// FollowUntil, if set, is called when following starts and after
	// each batch of changes in the directory (any inotify event in it,
	// the log's own writes included, so it should be cheap: a stat, not
	// a parse). When it returns true, Read reads what remains and
	// returns nil. It must become true only after the writer has
	// finished: the shim closes the Writer, then writes its exit file in
	// the same directory, which is also what wakes Read to ask.
	FollowUntil func() bool
	// Streams selects streams by name; nil means all.
	Streams map[string]bool
}

// Read calls fn with the entries of the log at path, oldest first: the
// rotated files path.N ... path.1, then path. It returns fn's error as it
// is, if fn fails.
//
// Without Follow it reads a snapshot, the log as it was at one moment while
// it opened the files, even if the writer appends and rotates meanwhile:
// whole entries, in order, none repeated or missing, and with Tail n the
// last n of them (see openAll). The newest file is read up to its size at
// that moment, and only up to the last complete line before it: a write
// may be visible in part. It then returns nil; if no file exists, the error
// wraps fs.ErrNotExist. With Follow it then waits, with inotify on the
// directory, for more; a missing file is waited for, but the directory must
// exist. It returns ctx.Err() when ctx ends, and nil when FollowUntil holds
// or Until passed (after draining), or when the directory is removed.
//
// Read never holds a lock the writer needs: the writer may be another
// process. Lines that do not parse are skipped.
func Read(ctx context.Context, path string, opts ReadOptions, fn func(Entry) error) error {
	r := &reader{ctx: ctx, path: path, opts: opts, fn: fn}
	var w *watcher
	if opts.Follow {
		// Watch before the first read, so that nothing written after
		// it goes unnoticed.
		var err error
		if w, err = newWatcher(filepath.Dir(path)); err != nil {
			return err
		}
		defer w.close()
	}
	files, size, err := openAll(path)
	if err != nil {
		return err
	}
	defer func() {
		for _, lf := range files {
			if lf.f != nil {
				lf.f.Close()
			}
		}
	}()
	if len(files) == 0 && !opts.Follow {
		return &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	cur, err := r.history(files, size)
	if err != nil || !opts.Follow {
		return err
	}
	return r.follow(w, cur)
}

// reader is the state of one Read call.
type reader struct {
	ctx       context.Context
	path      string
	opts      ReadOptions
	fn        func(Entry) error
	n         int  // lines seen, to check ctx now and then
	pastUntil bool // an entry later than Until was seen
	orphaned  bool // following, the file was deleted; only a new path counts
}

// logFile is an open log file and its identity, for os.SameFile.
type logFile struct {
	f  *os.File
	fi os.FileInfo
}

// openAll opens the files of the log at path as they were at one moment,
// and returns them oldest first (path.N ... path.1, then path) with the size
// of the newest then: a run of consecutive files with none missing or
// repeated, ending with the file that was the newest at that moment and
// reaching back at least to the oldest one there was. (It may reach further
// back: a file the writer dropped after openAll opened it is kept.) It
// returns no files if neither path nor path.1 exists.
//
// The writer renames files while we look, so no listing of the names is a
// snapshot. A rotation renames path.k to path.k+1 for every k, oldest first,
// then path to path.1, and creates path: at any one moment, the names in
// order list the files newest to oldest, with at most one number missing
// (the one just vacated). openAll relies on that and on a file's number
// never going down. It walks from the newest file to older ones, one
// neighbour at a time, and proves each step at one moment (see older). A
// rotation during a step costs that step only: the files found so far stay
// in order, as their order never changes, and the walk finds where its last
// file went and goes on. Once it has found the oldest file, it takes the
// size of the newest and checks that it is still the newest: then, at the
// moment the size was taken, it was the newest and nothing was older than
// the oldest (files are dropped, never added, at that end). If a rotation
// went by, it walks the same way from the new newest file back to the one
// it has, and checks again. So it never needs the writer to keep still for
// a whole listing, which a busy writer with many files may never do, only
// for a step of three system calls.
//
// It retries without bound, because each retry means that the writer made
// progress: a step fails only if the writer renamed the file it stands on,
// which it does once per rotation, and the check of the newest file fails
// only if a rotation went by. It starts over only if a file it had was
// deleted meanwhile, which takes MaxFiles rotations (one with MaxFiles 1,
// where the whole walk is a few system calls). Rather than give up on a
// writer rotating faster than that, and return files in a wrong order or
// with some missing, as an earlier version did after 100 tries, it keeps
// going: readers share the CPU with the writer, which must also write
// MaxSize bytes between rotations, so it cannot outrun every step for long.
// Files named otherwise than a Writer names them are an error (see
// relocate).
func openAll(path string) ([]logFile, int64, error) {
	for {
		files, size, err := snapshot(path)
		if err != errStartOver {
			return files, size, err
		}
	}
}

// errStartOver is snapshot's way to say that a file it had was deleted
// before it could prove what was next to it.
var errStartOver = errors.New("log turned over")

// snapshot does openAll's work once.
func snapshot(path string) (files []logFile, size int64, err error) {
	newest, k, err := openNewest(path)
	if err != nil || newest == nil {
		return nil, 0, err
	}
	files = []logFile{*newest} // newest first until the end
	defer func() {
		if err != nil {
			closeAll(files)
			files = nil
		}
	}()
	joined, err := walkBack(path, &files, k, nil)
	if err != nil {
		return nil, 0, err
	}
	if !joined {
		return nil, 0, errStartOver
	}
	for {
		n := files[0]
		fi, err := n.f.Stat()
		if err != nil {
			return nil, 0, err
		}
		if still, err := isNewest(path, n.fi); err != nil || still {
			slices.Reverse(files)
			return files, fi.Size(), err
		}
		// Rotated since: walk from the newest file back to n.
		m, k, err := openNewest(path)
		if err != nil {
			return nil, 0, err
		}
		if m == nil {
			return nil, 0, errStartOver // removed, or turning over
		}
		if os.SameFile(m.fi, n.fi) {
			m.f.Close()
			continue
		}
		later := []logFile{*m}
		joined, err := walkBack(path, &later, k, n.fi)
		if err != nil || !joined {
			closeAll(later)
			if err == nil {
				err = errStartOver // n was deleted
			}
			return nil, 0, err
		}
		files = append(later, files...)
	}
}

// walkBack appends to *files, newest first, the files older than the last
// one, which was path.k, until it opens the file stop (which it does not
// append) or, if stop is nil, until the oldest file. It reports whether it
// got there: not if it found the oldest file without meeting stop, which
// means stop was deleted.
func walkBack(path string, files *[]logFile, k int, stop os.FileInfo) (bool, error) {
	for {
		x := (*files)[len(*files)-1]
		y, j, ok, err := older(path, x, k)
		if err != nil {
			return false, err
		}
		if ok {
			if y == nil {
				return stop == nil, nil // x is the oldest file
			}
			if stop != nil && os.SameFile(y.fi, stop) {
				y.f.Close()
				return true, nil
			}
			*files = append(*files, *y)
			k = j
			continue
		}
		// x moved (a rotation went by) or is gone: find it again.
		if k, err = relocate(path, x, k); err != nil {
			return false, err
		}
		if k < 0 {
			// x was dropped as the oldest file: none is older.
			return stop == nil, nil
		}
	}
}

// probeHook, if set, is called with the name about to be opened or stat'ed
// before each file system call of openAll's walk, so that tests can rename
// files between any two of them.
var probeHook func(name string)

// openIndex opens generation i of the log, or returns nil if it does not
// exist.
func openIndex(path string, i int) (*logFile, error) {
	name := rotatedName(path, i)
	if probeHook != nil {
		probeHook(name)
	}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &logFile{f, fi}, nil
}

// statIndex returns the identity of generation i of the log, or nil if it
// does not exist.
func statIndex(path string, i int) (os.FileInfo, error) {
	name := rotatedName(path, i)
	if probeHook != nil {
		probeHook(name)
	}
	fi, err := os.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return fi, err
}

// isAt reports whether generation i of the log is the file x.
func isAt(path string, i int, x os.FileInfo) (bool, error) {
	fi, err := statIndex(path, i)
	return fi != nil && os.SameFile(fi, x), err
}

// openNewest opens the newest file of the log and returns it with its
// number: path (0), or path.1 (1) while path is missing. It returns nil if
// there is none.
//
// Whenever path is missing, path.1 exists (the writer renames path to
// path.1, then creates path), and whenever path.1 is missing (a rotation
// renamed it to path.2 and has yet to rename path to path.1), path.2 exists.
// So if path, path.1 and path.2 are missing when looked at in that order,
// there is no log, unless two rotations completed between the first look
// and the last, each at exactly the right moment; openNewest would then
// report a missing log (an error), never a wrong list of files. If path.2
// exists, a rotation is under way: it looks again, unless path.2 is the
// same file as the last time, which a rotation would have moved; then the
// files are not a Writer's, and have no newest file.
func openNewest(path string) (*logFile, int, error) {
	var seen os.FileInfo // path.2 when path and path.1 were missing
	for {
		lf, err := openIndex(path, 0)
		if err != nil || lf != nil {
			return lf, 0, err
		}
		// A rotation between renaming path and creating it again, or
		// a log that has only rotated files.
		if lf, err = openIndex(path, 1); err != nil {
			return nil, 0, err
		}
		if lf == nil {
			fi, err := statIndex(path, 2)
			if err != nil || fi == nil || (seen != nil && os.SameFile(fi, seen)) {
				return nil, 0, err
			}
			seen = fi
			continue
		}
		// lf was path.1. If path is missing while lf is still path.1
		// (which it was all along, numbers never going down), lf was
		// the newest file at that moment.
		head, err := statIndex(path, 0)
		if err == nil && head == nil {
			var same bool
			if same, err = isAt(path, 1, lf.fi); err == nil && same {
				return lf, 1, nil
			}
		}
		lf.f.Close()
		if err != nil {
			return nil, 0, err
		}
		// path was created, or lf moved on, meanwhile: start again.
	}
}

// older opens the file just older than x, which was path.k when last
// looked at: path.k+1, or path.k+2 if path.k+1 is missing (the gap of a
// rotation in progress). It then checks that x is still path.k. If so
// (ok), x was path.k all along, so the file opened was its older neighbour
// at the moment it was opened, or x was the oldest file if neither exists
// (y nil): while x stays, the rotation whose gap is at k+1 is stuck before
// renaming x, and a new one would rename x first of all. If not, x moved
// or was removed and the caller must find it again; y is nil.
func older(path string, x logFile, k int) (y *logFile, j int, ok bool, err error) {
	j = k + 1
	if y, err = openIndex(path, j); err == nil && y == nil {
		j = k + 2
		y, err = openIndex(path, j)
	}
	if err != nil {
		return nil, 0, false, err
	}
	ok, err = isAt(path, k, x.fi)
	if err != nil || !ok {
		if y != nil {
			y.f.Close()
		}
		return nil, 0, false, err
	}
	return y, j, true, nil
}

// relocate finds the number of x, which was path.k and may have moved up
// since, or returns -1 if it no longer has a name: the writer dropped it as
// the oldest file, replaced it with MaxFiles 1, or the log was removed.
//
// A search up from k that misses x while it is still linked means that a
// rotation completed during the search and moved x past it, because the
// search stops only at two missing numbers in a row, which one rotation
// cannot produce ahead of x: so it searches again. If no rotation completed
// (the newest file is the same), x has a name that is not path.N, and the
// files are not what a Writer makes: that is an error rather than a guess.
func relocate(path string, x logFile, k int) (int, error) {
	for {
		before, err := newestID(path)
		if err != nil {
			return 0, err
		}
		for i, misses := k, 0; misses < 2; i++ {
			fi, err := statIndex(path, i)
			if err != nil {
				return 0, err
			}
			if fi == nil {
				misses++
				continue
			}
			misses = 0
			if os.SameFile(fi, x.fi) {
				return i, nil
			}
		}
		if deleted(x.f) {
			return -1, nil
		}
		after, err := newestID(path)
		if err != nil {
			return 0, err
		}
		if (before == nil) == (after == nil) && (before == nil || os.SameFile(before, after)) {
			return 0, fmt.Errorf("read %s: rotated file %s moved to a name other than %s.N", path, x.fi.Name(), filepath.Base(path))
		}
	}
}

// isNewest reports whether x is the newest file: path, or path.1 while path
// is missing. If path is missing when looked at and x is then path.1, it was
// path.1 already (numbers never go down), so it was the newest when path
// was looked at.
func isNewest(path string, x os.FileInfo) (bool, error) {
	fi, err := statIndex(path, 0)
	if fi != nil || err != nil {
		return fi != nil && os.SameFile(fi, x), err
	}
	return isAt(path, 1, x)
}

// newestID returns the identity of the newest file: path, or path.1 while
// path is missing during a rotation; nil if neither exists. It changes
// when, and only when, a rotation creates a new file.
func newestID(path string) (os.FileInfo, error) {
	fi, err := statIndex(path, 0)
	if fi != nil || err != nil {
		return fi, err
	}
	return statIndex(path, 1)
}

func closeAll(files []logFile) {
	for _, lf := range files {
		lf.f.Close()
	}
}

// history emits what the files hold, as openAll found them (the newest up to
// size), honouring Tail. With Follow it returns a reader on the newest file,
// positioned where it stopped. Files it is done with, and the one it
// returns, are taken out of files (set to nil).
func (r *reader) history(files []logFile, size int64) (*cursor, error) {
	if len(files) == 0 || (r.opts.Tail == 0 && !r.opts.Follow) {
		// Tail 0 would find, after the last newline, an entry being
		// written, which is for a follower to read when complete.
		return nil, nil
	}
	first, off := 0, int64(0)
	// The older files are complete: the writer renames a file after its
	// last write to it, and creates its successor after that.
	sizes := make([]int64, len(files))
	for i, lf := range files[:len(files)-1] {
		fi, err := lf.f.Stat()
		if err != nil {
			return nil, err
		}
		sizes[i] = fi.Size()
	}
	sizes[len(files)-1] = size
	if r.opts.Tail >= 0 {
		var err error
		if first, off, err = r.tailStart(files, sizes); err != nil {
			return nil, err
		}
	}
	for i := range first {
		files[i].f.Close()
		files[i].f = nil
	}
	for i := first; i < len(files); i++ {
		lr := newLineReader(files[i].f, off)
		off = 0
		newest := i == len(files)-1
		if !r.opts.Follow {
			lr.limit = sizes[i]
		}
		if err := r.drain(lr); err != nil {
			return nil, err
		}
		if newest && r.opts.Follow {
			cur := &cursor{logFile: files[i], lr: lr}
			files[i].f = nil
			return cur, nil
		}
		if err := r.emit(lr.rest()); err != nil {
			return nil, err
		}
		// Done with it: an open file pins its directory, which would
		// delay the IN_DELETE_SELF a follower waits for.
		files[i].f.Close()
		files[i].f = nil
	}
	return nil, nil
}

// tailStart finds the file and offset where the last Tail matching entries
// begin, scanning backwards from the newest file.
func (r *reader) tailStart(files []logFile, sizes []int64) (int, int64, error) {
	want := r.opts.Tail
	match := func(line []byte) bool {
		e, ok := parseEntry(line)
		return ok && r.match(e)
	}
	for i := len(files) - 1; i >= 0; i-- {
		off, found, err := scanBack(files[i].f, sizes[i], want, match)
		if err != nil {
			return 0, 0, err
		}
		if found == want {
			return i, off, nil
		}
		want -= found
	}
	return 0, 0, nil
}

// drain emits every complete line lr has.
func (r *reader) drain(lr *lineReader) error {
	for {
		line, ok, err := lr.next()
		if err != nil || !ok {
			return err
		}
		if err := r.emit(line); err != nil {
			return err
		}
	}
}

// emit parses a line and hands it to fn if it matches.
func (r *reader) emit(line []byte) error {
	if len(line) == 0 {
		return nil
	}
	if r.n++; r.n%1024 == 0 {
		if err := r.ctx.Err(); err != nil {
			return err
		}
	}
	e, ok := parseEntry(line)
	if !ok {
		return nil
	}
	if !r.opts.Until.IsZero() && e.Time.After(r.opts.Until) {
		r.pastUntil = true
	}
	if !r.match(e) {
		return nil
	}
	return r.fn(e)
}

func (r *reader) match(e Entry) bool {
	switch {
	case r.opts.Streams != nil && !r.opts.Streams[e.Stream]:
		return false
	case !r.opts.Since.IsZero() && e.Time.Before(r.opts.Since):
		return false
	case !r.opts.Until.IsZero() && e.Time.After(r.opts.Until):
		return false
	}
	return true
}
