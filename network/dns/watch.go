package dns

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	// recordMask sees every way a record file appears, changes or goes,
	// and the directory itself going away.
	recordMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
		unix.IN_CLOSE_WRITE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR
	// parentMask, on the nearest existing ancestor of a record directory
	// that does not exist yet, sees the next directory on the way appear.
	parentMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR
)

// watcher tells whether record directories may have changed. Its inotify
// descriptor is non-blocking and wrapped in an *os.File, so a Read waits in
// the runtime's poller and ends when the file is closed or its read
// deadline passes. Its methods are not safe for concurrent use.
type watcher struct {
	f   *os.File
	fd  int
	wds map[int32]*watch // by watch descriptor
	buf [4096]byte       // holds at least one event: 16 bytes + NAME_MAX + 1
}

// watch is what one watched directory is watched for.
type watch struct {
	path string
	// records says path is a record directory.
	records bool
	// children are the names under path that lead to record directories
	// that do not exist yet.
	children map[string]bool
}

func newWatcher() (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	return &watcher{f: os.NewFile(uintptr(fd), "inotify"), fd: fd, wds: make(map[int32]*watch)}, nil
}

func (w *watcher) close() error {
	return w.f.Close()
}

// sync makes the watches cover dirs: each dir that exists, and for each
// that does not, its nearest existing ancestor (so that its creation is
// seen). It removes watches no longer needed.
func (w *watcher) sync(dirs []string) error {
	// A directory made between the Stat that finds it missing and the
	// watch on its parent would go unseen, so look again after watching,
	// a few times.
	for range 3 {
		missed, err := w.syncOnce(dirs)
		if err != nil || !missed {
			return err
		}
	}
	return nil
}

func (w *watcher) syncOnce(dirs []string) (missed bool, err error) {
	want := make(map[string]*watch)
	get := func(p string) *watch {
		if want[p] == nil {
			want[p] = &watch{path: p, children: make(map[string]bool)}
		}
		return want[p]
	}
	var missing []string
	for _, d := range dirs {
		d, err := filepath.Abs(d)
		if err != nil {
			return false, err
		}
		if isDir(d) {
			get(d).records = true
			continue
		}
		missing = append(missing, d)
		for p := d; p != filepath.Dir(p); {
			child := filepath.Base(p)
			p = filepath.Dir(p)
			if isDir(p) {
				get(p).children[child] = true
				break
			}
		}
	}
	wds := make(map[int32]*watch, len(want))
	for p, wt := range want {
		var mask uint32
		if wt.records {
			mask |= recordMask
		}
		if len(wt.children) > 0 {
			mask |= parentMask
		}
		wd, err := unix.InotifyAddWatch(w.fd, p, mask)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			missed = true // gone since Stat
			continue
		}
		if err != nil {
			return false, &os.PathError{Op: "inotify_add_watch", Path: p, Err: err}
		}
		wds[int32(wd)] = wt
	}
	for wd := range w.wds {
		if wds[wd] == nil {
			unix.InotifyRmWatch(w.fd, uint32(wd)) // EINVAL if already gone: nothing to undo
		}
	}
	w.wds = wds
	for _, d := range missing {
		if isDir(d) {
			missed = true
		}
	}
	return missed, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// parse reads the events in b, as read from the descriptor. changed says
// records may have changed; resync says the watches must be synced again,
// a watched directory having appeared or gone.
func (w *watcher) parse(b []byte) (changed, resync bool) {
	for off := 0; off+unix.SizeofInotifyEvent <= len(b); {
		ev := b[off:]
		wd := int32(binary.NativeEndian.Uint32(ev[0:]))
		mask := binary.NativeEndian.Uint32(ev[4:])
		nameLen := int(binary.NativeEndian.Uint32(ev[12:]))
		off += unix.SizeofInotifyEvent + nameLen
		name := ""
		if end := unix.SizeofInotifyEvent + nameLen; end <= len(ev) {
			name = strings.TrimRight(string(ev[unix.SizeofInotifyEvent:end]), "\x00")
		}
		if mask&unix.IN_Q_OVERFLOW != 0 {
			changed, resync = true, true
			continue
		}
		wt := w.wds[wd]
		switch {
		case wt == nil:
			// a watch removed by sync
		case mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0:
			changed, resync = true, true
		case wt.children[name]:
			changed, resync = true, true
		case wt.records && isRecordFile(name):
			changed = true
		}
	}
	return changed, resync
}
