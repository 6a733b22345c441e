package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// hier is one mounted hierarchy: a v1 mount (one or more co-mounted
// controllers, or name=systemd), or the cgroup2 mount.
type hier struct {
	name  string   // for errors: "memory", "cpu,cpuacct", "name=systemd", "unified"
	ctrls []string // controllers mounted here, sorted
	root  string   // mount point
}

// owns reports whether file is named after one of the hierarchy's
// controllers ("memory.max" in "memory"), so errors need not name the
// hierarchy.
func (h *hier) owns(file string) bool {
	base := filepath.Base(file)
	for _, c := range h.ctrls {
		if strings.HasPrefix(base, c+".") {
			return true
		}
	}
	return false
}

// dir is one cgroup directory in one hierarchy, with what errors call it.
type dir struct {
	cg   string // the Manager's path, for errors
	abs  string
	show string // prefix of file names in errors: "" for the leaf, "/stack/" for an ancestor
	h    *hier  // nil on v2: one hierarchy, no need to name it
}

func (d dir) path(file string) string { return filepath.Join(d.abs, file) }

func (d dir) display(file string) string {
	n := d.show + file
	if file == "" {
		// The directory itself: name it from the hierarchy root.
		switch d.show {
		case "":
			n = "/" + d.cg
		case "/":
			n = "/"
		default:
			n = strings.TrimSuffix(d.show, "/")
		}
	}
	if d.h != nil && !d.h.owns(file) {
		n = d.h.name + ":" + n
	}
	return n
}

func (d dir) fail(op, file, value string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is in the message already
	}
	return &Error{Cgroup: d.cg, Op: op, File: d.display(file), Value: value, Err: err}
}

// write writes value in one write(2), as the kernel wants. O_TRUNC is
// harmless on cgroupfs and makes the fake trees of unit tests hold exactly
// the last value written.
func (d dir) write(file, value string) error {
	f, err := os.OpenFile(d.path(file), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return d.fail("write", file, value, err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return d.fail("write", file, value, err)
	}
	return nil
}

// writeUnlessMissing writes value, but treats a missing file as done when
// value is the kernel's default: a controller that is not there has no limit
// to reset.
func (d dir) writeUnlessMissing(file, value, dflt string) error {
	if value == dflt && !d.has(file) {
		return nil
	}
	return d.write(file, value)
}

func (d dir) read(file string) (string, error) {
	b, err := os.ReadFile(d.path(file))
	if err != nil {
		return "", d.fail("read", file, "", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (d dir) has(file string) bool {
	_, err := os.Stat(d.path(file))
	return err == nil
}

func (d dir) exists() error {
	if _, err := os.Stat(d.abs); err != nil {
		return d.fail("open", "", "", err)
	}
	return nil
}

// readUint reads a file holding one number; "max" reads as 0 (unlimited).
func (d dir) readUint(file string) (uint64, error) {
	s, err := d.read(file)
	if err != nil || s == "max" {
		return 0, err
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, d.fail("read", file, "", err)
	}
	return n, nil
}

// readKey reads a flat keyed file ("key value" per line: memory.events,
// memory.stat, cpu.stat, memory.oom_control, cgroup.events) and returns the
// value of key; found is false when the key is absent.
func (d dir) readKey(file, key string) (v uint64, found bool, err error) {
	s, err := d.read(file)
	if err != nil {
		return 0, false, err
	}
	for line := range strings.SplitSeq(s, "\n") {
		k, val, ok := strings.Cut(line, " ")
		if !ok || k != key {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(val), 10, 64)
		if err != nil {
			return 0, false, d.fail("read", file, "", err)
		}
		return n, true, nil
	}
	return 0, false, nil
}

// mkdirAll creates rel (and its parents) under the hierarchy root; visit is
// called for every level from the first component down to rel itself, right
// after that level exists, so v2 can enable controllers in the parent (the
// kernel adds the interface files to existing children) and v1 can copy the
// parent's cpuset into the child before anything else uses it.
// created reports whether rel itself is new (its files hold the kernel's
// defaults).
func mkdirAll(cg string, h *hier, root, rel string, visit func(parent, child dir) error) (created bool, err error) {
	parent := dir{cg: cg, abs: root, show: "/", h: h}
	parts := strings.Split(rel, "/")
	for i := range parts {
		cur := strings.Join(parts[:i+1], "/")
		child := dir{cg: cg, abs: filepath.Join(root, cur), show: "/" + cur + "/", h: h}
		if i == len(parts)-1 {
			child.show = ""
		}
		created = true
		if err := os.Mkdir(child.abs, 0o755); err != nil {
			if !errors.Is(err, fs.ErrExist) {
				return false, child.fail("mkdir", "", "", err)
			}
			created = false
		}
		if visit != nil {
			if err := visit(parent, child); err != nil {
				return false, err
			}
		}
		parent = child
	}
	return created, nil
}

// procs reads cgroup.procs of d and of every descendant.
func procs(d dir) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(d.abs, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p != d.abs && errors.Is(err, fs.ErrNotExist) {
				return nil // a child cgroup removed while we walk
			}
			return d.fail("read", relTo(d, p), "", err)
		}
		if !e.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			if p != d.abs && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return d.fail("read", relTo(d, filepath.Join(p, "cgroup.procs")), "", err)
		}
		for f := range strings.FieldsSeq(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return d.fail("read", relTo(d, filepath.Join(p, "cgroup.procs")), "", err)
			}
			pids = append(pids, pid)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

func relTo(d dir, p string) string {
	r, err := filepath.Rel(d.abs, p)
	if err != nil {
		return p
	}
	return r
}

// signalAll sends sig to every pid; a process that already exited is fine.
func signalAll(d dir, pids []int, sig unix.Signal) error {
	var errs []error
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
			errs = append(errs, d.fail("signal", "", "", &os.SyscallError{Syscall: "kill " + strconv.Itoa(pid) + " " + unix.SignalName(sig), Err: err}))
		}
	}
	return errors.Join(errs...)
}

// Bounds on waiting for the kernel. They are not expected to be reached:
// freezing settles in microseconds unless a task sits in an uninterruptible
// sleep, and rmdir succeeds as soon as killed tasks have passed do_exit.
const (
	settleTimeout = 10 * time.Second
	removeTimeout = 10 * time.Second
)

// poll calls done until it reports true, backing off from 1ms to 50ms. After
// limit it gives up with an error that wraps done's last error, if any.
func poll(limit time.Duration, done func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	delay := time.Millisecond
	for {
		ok, err := done()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				return fmt.Errorf("gave up after %v", limit)
			}
			return fmt.Errorf("gave up after %v: %w", limit, err)
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// removeTree removes d and every cgroup under it, deepest first. A missing
// directory is not an error.
//
// rmdir of a cgroup fails with EBUSY while it still has tasks (or, on v2,
// live descendants). After SIGKILL a task stays a member until it reaches
// cgroup_exit() in do_exit(), which can lag the signal by a while: tearing
// down a large address space, flushing files, or, on v1, waiting to be
// thawed. So EBUSY is retried for a bounded time, as runc's RemovePath does,
// instead of leaking the directory.
func removeTree(d dir) error {
	var dirs []string
	err := filepath.WalkDir(d.abs, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return d.fail("rmdir", "", "", err)
	}
	slices.Reverse(dirs) // WalkDir is lexical pre-order: reversed, children come before parents
	for _, p := range dirs {
		var permanent error
		err := poll(removeTimeout, func() (bool, error) {
			switch err := unix.Rmdir(p); err {
			case nil, unix.ENOENT:
				return true, nil
			case unix.EBUSY:
				return false, err
			default:
				permanent = err
				return true, nil
			}
		})
		if err == nil {
			err = permanent
		}
		if err != nil {
			rel := relTo(d, p)
			if rel == "." {
				rel = ""
			}
			return d.fail("rmdir", rel, "", err)
		}
	}
	return nil
}

// pauser is what killFrozen needs from either version's manager.
type pauser interface {
	Paused() (bool, error)
	Freeze() error
	Thaw() error
	Procs() ([]int, error)
}

// killFrozen signals every process with the cgroup frozen, so that no
// process can fork a child we have not listed. A cgroup that was paused
// stays paused, except for SIGKILL: a frozen task only dies once thawed.
func killFrozen(p pauser, d dir, sig unix.Signal) error {
	was, err := p.Paused()
	if err != nil {
		return err
	}
	if !was {
		if err := p.Freeze(); err != nil {
			// Thaw what froze, and still deliver the signal: a Kill that
			// does nothing is worse than one without the fork guarantee.
			pids, perr := p.Procs()
			if perr == nil {
				perr = signalAll(d, pids, sig)
			}
			return errors.Join(err, perr, p.Thaw())
		}
	}
	pids, err := p.Procs()
	if err == nil {
		err = signalAll(d, pids, sig)
	}
	if !was || sig == unix.SIGKILL {
		err = errors.Join(err, p.Thaw())
	}
	return err
}
