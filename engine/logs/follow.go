package logs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cursor is the file a follower is reading and how far it got.
type cursor struct {
	logFile
	lr *lineReader
}

func (c *cursor) close() {
	if c != nil {
		c.f.Close()
	}
}

// follow reads entries as they are appended, until ctx ends or a done
// condition holds. Each round it first decides whether it is done, then
// reads everything there is; deciding first means that what the writer
// wrote before the condition became true is read before returning.
func (r *reader) follow(w *watcher, cur *cursor) error {
	defer func() { cur.close() }()
	var deadline <-chan time.Time
	untilPassed := false
	if !r.opts.Until.IsZero() {
		t := time.NewTimer(time.Until(r.opts.Until))
		defer t.Stop()
		deadline = t.C
	}
	for {
		done := untilPassed || r.pastUntil || w.gone.Load() ||
			(r.opts.FollowUntil != nil && r.opts.FollowUntil())
		var err error
		if cur, err = r.catchUp(cur, done); err != nil {
			return err
		}
		if done || r.pastUntil {
			return nil
		}
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-w.wake:
		case <-w.dead:
			return w.err
		case <-deadline:
			untilPassed = true
		}
	}
}

// catchUp reads all complete entries of cur and of the files that replaced
// it, and returns the cursor on the newest file it reached. With done set, a
// last unterminated line is read too.
func (r *reader) catchUp(cur *cursor, done bool) (*cursor, error) {
	if cur == nil {
		var err error
		if cur, err = r.reopen(); cur == nil || err != nil {
			return nil, err
		}
	}
	for {
		if err := r.drain(cur.lr); err != nil {
			return cur, err
		}
		fi, serr := os.Stat(r.path)
		if serr != nil && !errors.Is(serr, fs.ErrNotExist) {
			return cur, serr
		}
		if serr == nil && os.SameFile(fi, cur.fi) {
			if done {
				return cur, r.emit(cur.lr.rest())
			}
			return cur, nil
		}
		// cur is no longer the current file: the writer renamed it,
		// or replaced or removed it, after its last write to it. Read
		// what landed between our last read and the rename.
		if err := r.drain(cur.lr); err != nil {
			return cur, err
		}
		if serr != nil {
			// No current file. If cur was renamed, a rotation is
			// under way and its end will wake us. If it was deleted,
			// the log was removed: let it go, so that our open file
			// no longer pins the directory (whose IN_DELETE_SELF
			// waits for that), and wait for a new file.
			if deleted(cur.f) {
				err := r.emit(cur.lr.rest())
				cur.close()
				r.orphaned = true
				return nil, err
			}
			if done {
				return cur, r.emit(cur.lr.rest())
			}
			return cur, nil
		}
		next, err := successor(r.path, cur.fi)
		if err != nil {
			return cur, err
		}
		if next == nil {
			if done {
				return cur, r.emit(cur.lr.rest())
			}
			return cur, nil
		}
		if err := r.emit(cur.lr.rest()); err != nil {
			next.f.Close()
			return cur, err
		}
		cur.close()
		cur = &cursor{logFile: *next, lr: newLineReader(next.f, 0)}
	}
}

// reopen finds a file to follow when there is none: at the start, when no
// log existed yet, every file that appeared since is new; after the log was
// deleted, only a new current file is.
func (r *reader) reopen() (*cursor, error) {
	if r.orphaned {
		f, err := os.Open(r.path)
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
		r.orphaned = false
		return &cursor{logFile: logFile{f, fi}, lr: newLineReader(f, 0)}, nil
	}
	files, _, err := openAll(r.path)
	if err != nil || len(files) == 0 {
		return nil, err
	}
	for _, lf := range files[:len(files)-1] {
		if err == nil {
			lr := newLineReader(lf.f, 0)
			if err = r.drain(lr); err == nil {
				err = r.emit(lr.rest())
			}
		}
		lf.f.Close()
	}
	last := files[len(files)-1]
	if err != nil {
		last.f.Close()
		return nil, err
	}
	return &cursor{logFile: last, lr: newLineReader(last.f, 0)}, nil
}

// deleted reports whether f has no name left.
func deleted(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}

// successor opens the file written after old, which has been rotated away
// from path. Rotation renames path.k to path.k+1 for every k, so if old is
// now path.k, its successor is path.k-1 (path for k = 1), provided old is
// still path.k after we opened it: renames go from the oldest file to the
// newest, so path.k-1 cannot have moved on while path.k stayed. It returns
// nil if the answer is not settled yet (a rotation is under way, or no new
// file was created) and the caller should wait for the next event.
//
// If old is gone altogether (MaxFiles 1, or the reader fell more than
// MaxFiles-1 rotations behind), the entries in between are lost and it
// continues with the oldest file there is.
func successor(path string, old os.FileInfo) (*logFile, error) {
	found := false
	for range 3 {
		k := 0
		for i, misses := 1, 0; misses < 2; i++ {
			fi, err := os.Stat(rotatedName(path, i))
			if err != nil {
				misses++
				continue
			}
			misses = 0
			if os.SameFile(fi, old) {
				k = i
				break
			}
		}
		if k == 0 {
			continue
		}
		found = true
		f, err := os.Open(rotatedName(path, k-1))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(rotatedName(path, k))
		if err != nil || !os.SameFile(fi, old) {
			f.Close()
			continue
		}
		if fi, err = f.Stat(); err != nil {
			f.Close()
			return nil, err
		}
		return &logFile{f, fi}, nil
	}
	if found {
		return nil, nil
	}
	// old was not found three times over: it has been deleted.
	files, _, err := openAll(path)
	if err != nil || len(files) == 0 {
		return nil, err
	}
	closeAll(files[1:])
	return &files[0], nil
}

// watcher turns inotify events in a directory into wake-ups. Any event
// counts: the writer appending, a rotation, or the shim writing its exit
// file that FollowUntil looks at.
type watcher struct {
	f    *os.File
	wake chan struct{} // buffered 1: pending events collapse into one
	gone atomic.Bool   // the directory was removed or moved
	dead chan struct{} // closed when loop returns
	err  error         // why loop returned, if not closed; read after dead
}

// watchMask leaves out IN_ACCESS, IN_OPEN and IN_CLOSE_NOWRITE, which our
// own reads would trigger.
const watchMask = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE |
	unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_CREATE | unix.IN_DELETE |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

func newWatcher(dir string) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", dir, os.NewSyscallError("inotify_init1", err))
	}
	if _, err := unix.InotifyAddWatch(fd, dir, watchMask); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("follow %s: %w", dir, os.NewSyscallError("inotify_add_watch", err))
	}
	// A non-blocking fd wrapped by os.NewFile goes to the runtime poller,
	// so Read parks the goroutine and Close wakes it.
	w := &watcher{
		f:    os.NewFile(uintptr(fd), "inotify:"+dir),
		wake: make(chan struct{}, 1),
		dead: make(chan struct{}),
	}
	go w.loop(dir)
	return w, nil
}

func (w *watcher) loop(dir string) {
	defer close(w.dead)
	buf := make([]byte, 4096) // fits at least one event with a 255-byte name
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.err = fmt.Errorf("follow %s: read inotify events: %w", dir, err)
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			if ev.Mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_UNMOUNT) != 0 {
				w.gone.Store(true)
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (w *watcher) close() {
	w.f.Close()
	<-w.dead
}
