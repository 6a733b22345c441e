package volume

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"stack/engine/errdefs"
	"stack/engine/state"
)

// DriverLocal is the only driver: a directory on the host, optionally with
// a filesystem mounted on it (see MountSpec).
const DriverLocal = "local"

// Volume is a named volume of the local driver.
type Volume struct {
	Name    string
	Driver  string // always DriverLocal
	Created time.Time
	Labels  map[string]string
	// Options are the driver options (compose's driver_opts): type, o,
	// device. See MountSpec.
	Options map[string]string
	// Anonymous marks a volume created for an image's VOLUME or a bare
	// container path; its name is 64 hex digits.
	Anonymous bool
	// Mountpoint is the _data directory, what containers mount.
	Mountpoint string
}

// CreateOptions describe a volume to create.
type CreateOptions struct {
	// Name is the volume's name; "" creates an anonymous volume with a
	// random 64-hex-digit name.
	Name string
	// Driver is "" or "local"; anything else is ErrInvalid.
	Driver    string
	Labels    map[string]string
	Options   map[string]string
	Anonymous bool
}

// record is volume.json. Lower-case keys: reconciler/live reads the name
// and labels of these files with its own struct.
type record struct {
	Name      string            `json:"name"`
	Driver    string            `json:"driver"`
	Created   time.Time         `json:"created"`
	Labels    map[string]string `json:"labels,omitempty"`
	Options   map[string]string `json:"options,omitempty"`
	Anonymous bool              `json:"anonymous,omitempty"`
}

const (
	recordFile = "volume.json"
	dataDir    = "_data"
	useFile    = "use.lock"
	lockFile   = ".lock"
	tmpPrefix  = ".tmp-"
	rmPrefix   = ".rm-"
	// maxNameLen keeps ".rm-<name>" within NAME_MAX (255).
	maxNameLen = 255 - len(rmPrefix)
)

// Store holds the volumes under one directory. Its methods are safe for
// concurrent use by goroutines and processes: writers serialise on a file
// lock, and every record is written atomically.
type Store struct {
	dir string
}

// Open opens the store in dir (a state root's VolumesDir), creating dir if
// needed, and finishes what killed commands left: the tombstones of an
// interrupted Remove are deleted and half-laid-out Creates dropped. That
// clean-up is best effort (it is retried by the next Open or List) and is
// skipped while another process holds the writer lock.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open volume store %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o711); err != nil {
		return nil, fmt.Errorf("open volume store: %w", err)
	}
	s := &Store{dir: abs}
	s.sweep()
	return s, nil
}

// Dir is the directory the store keeps its volumes in.
func (s *Store) Dir() string { return s.dir }

// ValidateName checks a volume name against docker's rule for the local
// driver, [a-zA-Z0-9][a-zA-Z0-9_.-]+, and the filesystem's name limit. The
// error quotes the name and wraps ErrInvalid.
func ValidateName(name string) error {
	ok := len(name) >= 2 && len(name) <= maxNameLen && isAlnum(name[0])
	for i := 1; ok && i < len(name); i++ {
		c := name[i]
		ok = isAlnum(c) || c == '_' || c == '.' || c == '-'
	}
	if !ok {
		if len(name) > maxNameLen {
			return fmt.Errorf("volume name %q is longer than %d bytes: %w", name, maxNameLen, errdefs.ErrInvalid)
		}
		return fmt.Errorf("volume name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-]+ is allowed (to mount a host directory, use an absolute path): %w", name, errdefs.ErrInvalid)
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name) }

func (s *Store) lock() (*state.Lock, error) {
	l, err := state.LockFile(filepath.Join(s.dir, lockFile))
	if err != nil {
		return nil, fmt.Errorf("lock volume store: %w", err)
	}
	return l, nil
}

// Create creates a volume, or returns the existing one when a volume of
// that name already exists with the same driver, as docker's create is
// idempotent: the existing volume's labels and options are kept as they
// were, whatever o asks. created reports whether this call made it. An
// existing volume of another driver is ErrExists; a bad name, driver or
// option is ErrInvalid.
//
// The volume is laid out under a temporary name and renamed into place, so
// a crash leaves either no volume or a whole one.
func (s *Store) Create(o CreateOptions) (v *Volume, created bool, err error) {
	if o.Name == "" {
		o.Name = randomHex(32)
		o.Anonymous = true
	}
	if err := ValidateName(o.Name); err != nil {
		return nil, false, fmt.Errorf("create volume: %w", err)
	}
	switch o.Driver {
	case "", DriverLocal:
		o.Driver = DriverLocal
	default:
		return nil, false, fmt.Errorf("create volume %q: driver %q is not supported (only %q): %w", o.Name, o.Driver, DriverLocal, errdefs.ErrInvalid)
	}
	if _, err := parseOptions(o.Options); err != nil {
		return nil, false, fmt.Errorf("create volume %q: %w", o.Name, err)
	}

	l, err := s.lock()
	if err != nil {
		return nil, false, err
	}
	defer l.Unlock()

	if v, err := s.load(o.Name); err == nil {
		if v.Driver != o.Driver {
			return nil, false, fmt.Errorf("create volume %q: a volume of that name exists with driver %q: %w", o.Name, v.Driver, errdefs.ErrExists)
		}
		return v, false, nil
	} else if !errors.Is(err, errdefs.ErrNotFound) {
		return nil, false, fmt.Errorf("create volume: %w", err)
	}

	r := record{
		Name:      o.Name,
		Driver:    o.Driver,
		Created:   time.Now().UTC().Truncate(time.Second),
		Labels:    copyMap(o.Labels),
		Options:   copyMap(o.Options),
		Anonymous: o.Anonymous,
	}
	if err := s.layOut(r); err != nil {
		return nil, false, fmt.Errorf("create volume %q: %w", o.Name, err)
	}
	return s.volume(r), true, nil
}

// layOut makes the volume's directory under a temporary name, then renames
// it to its own. The caller holds the lock.
func (s *Store) layOut(r record) (err error) {
	tmp := filepath.Join(s.dir, tmpPrefix+randomHex(8))
	if err := os.Mkdir(tmp, 0o711); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			if rerr := removeTree(tmp); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	if err := os.Mkdir(filepath.Join(tmp, dataDir), 0o755); err != nil {
		return err
	}
	// Mkdir's mode went through the umask; docker's _data is 0755.
	if err := os.Chmod(filepath.Join(tmp, dataDir), 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := state.WriteFile(filepath.Join(tmp, recordFile), data, 0o600); err != nil {
		return err
	}
	// RENAME_NOREPLACE: never replace anything under the final name, not
	// even an empty directory (rename(2) would).
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, s.path(r.Name), unix.RENAME_NOREPLACE); err != nil {
		if err == unix.EEXIST {
			return fmt.Errorf("%s exists: %w", s.path(r.Name), errdefs.ErrExists)
		}
		return &os.LinkError{Op: "rename", Old: tmp, New: s.path(r.Name), Err: err}
	}
	return syncDir(s.dir)
}

// Get returns the named volume; ErrNotFound if there is none.
func (s *Store) Get(name string) (*Volume, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	return s.load(name)
}

// load reads a volume. A volume is a directory under a valid name; its
// record adds what docker keeps. A directory whose record is missing or
// unreadable (written by hand, or by an older stack) is still a volume,
// reported with the local driver and its directory's time, so that its data
// is never hidden from List and Remove.
func (s *Store) load(name string) (*Volume, error) {
	dir := s.path(name)
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("volume %q: %w", name, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("volume %q: %w", name, err)
	}
	r := record{Name: name, Driver: DriverLocal, Created: fi.ModTime().UTC().Truncate(time.Second)}
	if b, err := os.ReadFile(filepath.Join(dir, recordFile)); err == nil {
		var rec record
		if json.Unmarshal(b, &rec) == nil {
			rec.Name = name // the directory names the volume
			if rec.Driver == "" {
				rec.Driver = DriverLocal
			}
			if rec.Created.IsZero() {
				rec.Created = r.Created
			}
			r = rec
		}
	}
	return s.volume(r), nil
}

func (s *Store) volume(r record) *Volume {
	return &Volume{
		Name:       r.Name,
		Driver:     r.Driver,
		Created:    r.Created,
		Labels:     copyMap(r.Labels),
		Options:    copyMap(r.Options),
		Anonymous:  r.Anonymous,
		Mountpoint: filepath.Join(s.path(r.Name), dataDir),
	}
}

// List returns every volume, sorted by name. It first finishes interrupted
// Removes and drops half-made Creates, as Open does.
func (s *Store) List() ([]*Volume, error) {
	s.sweep()
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	var out []*Volume
	for _, e := range ents {
		if !e.IsDir() || ValidateName(e.Name()) != nil {
			continue
		}
		v, err := s.load(e.Name())
		if errors.Is(err, errdefs.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("list volumes: %w", err)
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Remove deletes the volume and its data: only for an explicit request of
// the user's (down -v, volume rm, volume prune). The caller checks that no
// container uses the volume; Remove also refuses, with ErrInUse, while a
// Lease from Use is held, or while something other than the volume's own
// driver mount is mounted inside it. A missing volume is ErrNotFound.
//
// What is mounted on _data (a tmpfs, a bind, a device) is unmounted first,
// so a bind volume's host directory keeps its content; the deletion never
// crosses into another mount. The directory is renamed to a tombstone
// before anything is deleted, so a Remove killed halfway leaves no
// half-empty volume that looks whole: the next Open or List finishes it.
func (s *Store) Remove(name string) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("remove volume: %w", err)
	}
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Unlock()

	dir := s.path(name)
	if fi, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) || err == nil && !fi.IsDir() {
		return fmt.Errorf("remove volume %q: %w", name, errdefs.ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("remove volume %q: %w", name, err)
	}
	use, err := state.TryLock(filepath.Join(dir, useFile))
	if errors.Is(err, state.ErrLocked) {
		return fmt.Errorf("remove volume %q: volume is in use: %w", name, errdefs.ErrInUse)
	}
	if err != nil {
		return fmt.Errorf("remove volume %q: %w", name, err)
	}
	defer use.Unlock()

	data := filepath.Join(dir, dataDir)
	if err := unmountAll(data); err != nil {
		return fmt.Errorf("remove volume %q: %w", name, err)
	}
	if mnts, err := mountsUnder(dir); err != nil {
		return fmt.Errorf("remove volume %q: %w", name, err)
	} else if len(mnts) > 0 {
		return fmt.Errorf("remove volume %q: %s is mounted inside it; unmount it first: %w", name, mnts[0], errdefs.ErrInUse)
	}

	tomb := filepath.Join(s.dir, rmPrefix+name)
	if err := removeTree(tomb); err != nil {
		return fmt.Errorf("remove volume %q: leftover %s: %w", name, tomb, err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, dir, unix.AT_FDCWD, tomb, unix.RENAME_NOREPLACE); err != nil {
		return fmt.Errorf("remove volume %q: %w", name, &os.LinkError{Op: "rename", Old: dir, New: tomb, Err: err})
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("remove volume %q: %w", name, err)
	}
	// The record goes first, so that a reader globbing */volume.json stops
	// seeing the volume even before the data is gone.
	if err := os.Remove(filepath.Join(tomb, recordFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove volume %q: %w", name, err)
	}
	if err := removeTree(tomb); err != nil {
		return fmt.Errorf("remove volume %q: %w", name, err)
	}
	return nil
}

// sweep deletes what killed commands left: tombstones of Removes and the
// temporary directories of Creates. It runs only if it can take the writer
// lock at once (a writer holding it may be making or deleting one of
// them), and failures are left for the next sweep.
func (s *Store) sweep() {
	l, err := state.TryLock(filepath.Join(s.dir, lockFile))
	if err != nil {
		return
	}
	defer l.Unlock()
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() || !strings.HasPrefix(n, tmpPrefix) && !strings.HasPrefix(n, rmPrefix) {
			continue
		}
		p := filepath.Join(s.dir, n)
		// A Remove unmounts before it renames; this is for a mount made
		// on a tombstone's _data by someone else meanwhile.
		if unmountAll(filepath.Join(p, dataDir)) != nil {
			continue
		}
		removeTree(p)
	}
}

// Lease marks a volume in use while it is held: Remove refuses the volume
// until every lease is released. It is a shared flock on the volume's
// use.lock; it lasts as long as any process holds its file, so the holder
// may hand File to the process that keeps using the volume (a container's
// supervisor) and release its own copy.
type Lease struct {
	f *os.File
}

// Use takes a lease on the named volume; ErrNotFound if there is none.
// Any number of leases may be held at once.
func (s *Store) Use(name string) (*Lease, error) {
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("use volume: %w", err)
	}
	// Under the writer lock, so that the volume cannot be renamed away by
	// Remove between the check and the flock.
	l, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	if _, err := s.load(name); err != nil {
		return nil, fmt.Errorf("use volume: %w", err)
	}
	p := filepath.Join(s.path(name), useFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("use volume %q: %w", name, err)
	}
	if err := flock(f, unix.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("use volume %q: %w", name, err)
	}
	return &Lease{f: f}, nil
}

// InUse reports whether a lease on the named volume is held, by this or
// any other process.
func (s *Store) InUse(name string) (bool, error) {
	if err := ValidateName(name); err != nil {
		return false, err
	}
	if _, err := s.load(name); err != nil {
		return false, err
	}
	l, err := state.TryLock(filepath.Join(s.path(name), useFile))
	if errors.Is(err, state.ErrLocked) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("volume %q: %w", name, err)
	}
	l.Unlock()
	return false, nil
}

// File is the locked file, to pass to a process (exec.Cmd.ExtraFiles) that
// keeps the volume in use until it exits.
func (l *Lease) File() *os.File { return l.f }

// Release gives the lease up (copies of File held by other processes keep
// it). It is safe to call more than once.
func (l *Lease) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// randomHex returns n random bytes in hex. math/rand/v2's generator is
// ChaCha8, seeded by the runtime: unpredictable enough for names, and
// unlike crypto/rand it does not make every shim (which links this
// package) run crypto's package initialisers at start.
func randomHex(n int) string {
	b := make([]byte, 0, n+8)
	for len(b) < n {
		b = binary.LittleEndian.AppendUint64(b, rand.Uint64())
	}
	return hex.EncodeToString(b[:n])
}
