package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"
)

// Writer appends entries to a log file and rotates it. Stream may be called
// from several goroutines at once (one per stream); Close must be called
// after they have returned.
type Writer struct {
	path string
	opts Options
	now  func() time.Time

	mu      sync.Mutex // guards f, size and closed, and orders rotations
	f       *os.File   // the file at path, opened O_APPEND
	size    int64      // bytes in f, as far as our writes know
	rotated int        // path.1 ... path.rotated exist, as far as we know
	closed  bool
}

// NewWriter opens the log at path for appending, creating it if needed (the
// directory must exist). A last line left unterminated by a crashed writer
// is ended with a newline, so it stays one corrupt line and does not spoil
// the first new entry. With rotation on, rotated files beyond MaxFiles (left
// over from a larger max-file) are removed.
func NewWriter(path string, opts Options) (*Writer, error) {
	switch {
	case opts.MaxSize < 0:
		return nil, fmt.Errorf("log %s: max size %d is negative", path, opts.MaxSize)
	case opts.MaxSize > 0 && opts.MaxFiles < 1:
		return nil, fmt.Errorf("log %s: max files %d: must be at least 1", path, opts.MaxFiles)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	w := &Writer{path: path, opts: opts, now: opts.Now, f: f}
	if w.now == nil {
		w.now = time.Now
	}
	if err := w.repair(); err != nil {
		f.Close()
		return nil, err
	}
	if opts.MaxSize > 0 {
		for w.rotated < opts.MaxFiles-1 {
			if _, err := os.Lstat(rotatedName(path, w.rotated+1)); err != nil {
				break
			}
			w.rotated++
		}
		for i := opts.MaxFiles; ; i++ {
			err := os.Remove(rotatedName(path, i))
			if errors.Is(err, fs.ErrNotExist) {
				break
			}
			if err != nil {
				f.Close()
				return nil, err
			}
		}
	}
	return w, nil
}

// repair records the size of the file and terminates a torn last line.
func (w *Writer) repair() error {
	fi, err := w.f.Stat()
	if err != nil {
		return err
	}
	w.size = fi.Size()
	if w.size == 0 {
		return nil
	}
	var last [1]byte
	if _, err := w.f.ReadAt(last[:], w.size-1); err != nil {
		return err
	}
	if last[0] != '\n' {
		n, err := w.f.Write([]byte{'\n'})
		w.size += int64(n)
		return err
	}
	return nil
}

// batch is a run of encoded entries, written together while no rotation
// falls between them.
type batch struct {
	buf  []byte
	ends []int // ends[i] is the end of entry i in buf
}

func (b *batch) add(stream string, line []byte, t time.Time) {
	b.buf = appendEntry(b.buf, stream, line, t)
	b.ends = append(b.ends, len(b.buf))
}

// start is the offset of entry i in buf.
func (b *batch) start(i int) int {
	if i == 0 {
		return 0
	}
	return b.ends[i-1]
}

func (b *batch) reset() {
	b.buf = b.buf[:0]
	b.ends = b.ends[:0]
}

// Stream copies r into the log as stream name ("stdout", "stderr") until r
// returns io.EOF, one entry per line. A line longer than 16 KiB is split into
// entries of 16 KiB, all but the last without a newline. Bytes left without
// a newline at EOF become a last entry as they are.
//
// Entries are stamped when read, and each reaches the file in a single
// write(2) (lines from one read are batched into one write), made under the
// Writer's lock, so concurrent Streams interleave whole entries only.
//
// If writing fails (disk full, Writer closed), Stream keeps reading r to EOF
// so the container never blocks on a full pipe, drops what it cannot write,
// and returns the first write error and the number of entries dropped. A read
// error other than io.EOF ends the stream and is returned.
func (w *Writer) Stream(name string, r io.Reader) error {
	buf := make([]byte, 2*maxLogLine)
	var (
		b              batch
		start, end     int // buf[start:end] is read but not yet logged
		scanned        int // buf[start:start+scanned] has no newline
		firstErr       error
		dropped, total int
	)
	for {
		n, rerr := r.Read(buf[end:])
		end += n
		for {
			data := buf[start:end]
			i := bytes.IndexByte(data[scanned:], '\n')
			if i >= 0 {
				i += scanned
			}
			if i >= 0 && i <= maxLogLine {
				b.add(name, data[:i+1], w.now())
				start += i + 1
				scanned = 0
				continue
			}
			// Split only once the byte after a full entry is known not
			// to be its newline, so the cut does not depend on how
			// the pipe chunked the data.
			if len(data) > maxLogLine {
				b.add(name, data[:maxLogLine], w.now())
				start += maxLogLine
				scanned = 0
				continue
			}
			scanned = len(data)
			break
		}
		if rerr != nil && start < end {
			b.add(name, buf[start:end], w.now())
			start = end
		}
		if len(b.ends) > 0 {
			n, err := w.write(&b)
			total += len(b.ends)
			dropped += len(b.ends) - n
			if err != nil && firstErr == nil {
				firstErr = err
			}
			b.reset()
		}
		if rerr != nil {
			var errs []error
			switch {
			case dropped > 0:
				errs = append(errs, fmt.Errorf("%s: %d of %d entries not written: %w", name, dropped, total, firstErr))
			case firstErr != nil:
				errs = append(errs, fmt.Errorf("%s: %w", name, firstErr))
			}
			if rerr != io.EOF {
				errs = append(errs, fmt.Errorf("%s: read: %w", name, rerr))
			}
			return errors.Join(errs...)
		}
		end = copy(buf, buf[start:end])
		start = 0
	}
}

// write appends the batch to the file, rotating between entries as needed,
// and returns how many entries (from the start of the batch) are in the file.
// A failed rotation is reported, but loses nothing: the entries go to the
// file we have, and the next batch tries again.
func (w *Writer) write(b *batch) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, fmt.Errorf("write %s: %w", w.path, os.ErrClosed)
	}
	from := 0 // first entry not yet written
	var rotErr error
	for i := range b.ends {
		pending := int64(b.start(i) - b.start(from))
		size := int64(b.ends[i] - b.start(i))
		if w.opts.MaxSize > 0 && rotErr == nil && w.size+pending > 0 && w.size+pending+size > w.opts.MaxSize {
			if err := w.flush(b.buf[b.start(from):b.start(i)]); err != nil {
				return from, err
			}
			from = i
			rotErr = w.rotate()
		}
	}
	if err := w.flush(b.buf[b.start(from):]); err != nil {
		return from, err
	}
	return len(b.ends), rotErr
}

// flush writes p with one write(2). If the write fails halfway, the torn
// tail is truncated away so the next entry starts on a line of its own.
func (w *Writer) flush(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	n, err := w.f.Write(p)
	if err != nil {
		if n > 0 {
			if terr := w.f.Truncate(w.size); terr != nil {
				w.size += int64(n)
				return errors.Join(err, terr)
			}
		}
		return err
	}
	w.size += int64(n)
	return nil
}

// rotate shifts path.(N-2) to path.(N-1), ..., path to path.1, and opens a
// new path (with MaxFiles 1, a new path replaces the old). Each rename replaces its target atomically, so the oldest file
// is dropped by the first rename and a reader never finds two names for one
// file, and the current file is renamed last, after the writer's last write
// to it: a reader that sees path change knows the old file is complete.
// Only the rotated files known to exist are renamed, so a large MaxFiles
// costs nothing until the files are there.
func (w *Writer) rotate() error {
	if w.opts.MaxFiles > 1 {
		w.rotated = min(w.rotated+1, w.opts.MaxFiles-1)
		for i := w.rotated - 1; i >= 1; i-- {
			err := os.Rename(rotatedName(w.path, i), rotatedName(w.path, i+1))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("rotate: %w", err)
			}
		}
		if err := os.Rename(w.path, rotatedName(w.path, 1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	f, err := w.create()
	if err != nil {
		// The old file lives on under its new name; keep writing to
		// it, readers draining it still see the entries.
		return fmt.Errorf("rotate: %w", err)
	}
	old := w.f
	w.f, w.size = f, 0
	if err := old.Close(); err != nil {
		return fmt.Errorf("rotate: close %s: %w", w.path, err)
	}
	return nil
}

// create opens a new, empty current file. With MaxFiles 1 it replaces the
// old one by renaming over it, so that path never goes missing: a follower
// takes a missing path with a deleted file for a removed log.
func (w *Writer) create() (*os.File, error) {
	const flags = os.O_RDWR | os.O_APPEND | os.O_CREATE | os.O_TRUNC
	if w.opts.MaxFiles > 1 {
		return os.OpenFile(w.path, flags, 0o640)
	}
	tmp := w.path + ".new"
	f, err := os.OpenFile(tmp, flags, 0o640)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, w.path); err != nil {
		f.Close()
		return nil, errors.Join(err, os.Remove(tmp))
	}
	return f, nil
}

// Close closes the file. Stream calls that write after it fail with an
// error wrapping os.ErrClosed. Close is idempotent.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	return w.f.Close()
}

// rotatedName is the name of generation i of the log: path itself for 0
// (the current file), path.i for the rotated ones, 1 the most recent.
func rotatedName(path string, i int) string {
	if i == 0 {
		return path
	}
	return path + "." + strconv.Itoa(i)
}
