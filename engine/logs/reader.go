package logs

import (
	"context"
	"errors"
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
// Without Follow it reads the files as they were when it opened them (all
// of them, then each up to its size then) and returns nil; if no file
// exists, the error wraps fs.ErrNotExist. With Follow it then waits, with
// inotify on the directory, for more; a missing file is waited for, but the
// directory must exist. It returns ctx.Err() when ctx ends, and nil when
// FollowUntil holds or Until passed (after draining), or when the directory
// is removed.
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
	files, err := openAll(path)
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
	cur, err := r.history(files)
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

// openAll opens the current file and the rotated ones, and returns them
// oldest first. It opens newest first (a rotation moves files to higher
// numbers, so the scan may meet a file twice, which it drops, but misses
// none; one missing number is tolerated, because a rotation in progress
// leaves a gap). The order is right only if no rotation completed during the
// scan, which is the case when path is still the file the scan began with;
// otherwise it scans again.
func openAll(path string) ([]logFile, error) {
	for attempt := 1; ; attempt++ {
		files, head, err := scanFiles(path)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(path)
		stable := head == nil || (err == nil && os.SameFile(fi, head))
		// A writer rotating more often than we can list its files
		// gets a best-effort order rather than a livelock.
		if stable || attempt == 100 {
			slices.Reverse(files)
			return files, nil
		}
		closeAll(files)
	}
}

// scanFiles opens path, path.1, path.2, ... and returns them newest first,
// with the identity of path (nil if it was missing).
func scanFiles(path string) (files []logFile, head os.FileInfo, err error) {
	for i, misses := 0, 0; misses < 2; i++ {
		f, err := os.Open(rotatedName(path, i))
		if errors.Is(err, fs.ErrNotExist) {
			misses++
			continue
		}
		if err != nil {
			closeAll(files)
			return nil, nil, err
		}
		misses = 0
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			closeAll(files)
			return nil, nil, err
		}
		if i == 0 {
			head = fi
		}
		if slices.ContainsFunc(files, func(lf logFile) bool { return os.SameFile(lf.fi, fi) }) {
			f.Close()
			continue
		}
		files = append(files, logFile{f, fi})
	}
	return files, head, nil
}

func closeAll(files []logFile) {
	for _, lf := range files {
		lf.f.Close()
	}
}

// history emits what the files hold now, honouring Tail. With Follow it
// returns a reader on the newest file, positioned where it stopped. Files it
// is done with, and the one it returns, are taken out of files (set to nil).
func (r *reader) history(files []logFile) (*cursor, error) {
	if len(files) == 0 {
		return nil, nil
	}
	first, off := 0, int64(0)
	sizes := make([]int64, len(files))
	for i, lf := range files {
		fi, err := lf.f.Stat()
		if err != nil {
			return nil, err
		}
		sizes[i] = fi.Size()
	}
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
