package logs

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// rotSim renames and creates files in the order Writer.rotate does, but one
// system call per step, so that a test can run steps between any two of a
// reader's system calls. Files are numbered in the order of creation.
type rotSim struct {
	t        *testing.T
	name     string // of the case, for failures
	path     string
	maxFiles int
	created  int // files created so far: the newest holds created-1
	rotated  int // as Writer.rotated
	ops      []func()
	steps    int            // steps taken so far
	names    map[int]int    // generation -> file number, as on disk
	number   map[uint64]int // inode -> file number
	states   [][2]int       // newest and oldest file after each step
}

func newRotSim(t *testing.T, maxFiles int) *rotSim {
	s := &rotSim{t: t, path: filepath.Join(t.TempDir(), "c.log"), maxFiles: maxFiles,
		names: map[int]int{}, number: map[uint64]int{}}
	s.write(s.path)
	s.names[0] = 0
	return s
}

// reset finishes the rotation under way, brings the log to files files
// (more rotations, or removing the oldest as a writer with fewer files
// would), then takes pre steps, which may leave a rotation half done.
// Reusing one log is much cheaper than making one per case on a disk where
// creating a file costs a journal commit.
func (s *rotSim) reset(name string, files, pre int) {
	s.name = name
	for len(s.ops) > 0 {
		s.step()
	}
	for ; s.rotated > files-1; s.rotated-- {
		if err := os.Remove(rotatedName(s.path, s.rotated)); err != nil {
			s.t.Fatal(err)
		}
		delete(s.names, s.rotated)
	}
	for s.rotated < min(files, s.maxFiles)-1 {
		s.queueRotation()
		for len(s.ops) > 0 {
			s.step()
		}
	}
	for range pre {
		s.step()
	}
	s.steps = 0
	s.states = [][2]int{s.state()}
}

// write creates name as the next file. Files are empty, known by inode:
// ext4 flushes a file with data that is renamed over another, which made
// this test slow.
func (s *rotSim) write(name string) {
	if err := os.WriteFile(name, nil, 0o640); err != nil {
		s.t.Fatal(err)
	}
	fi, err := os.Stat(name)
	if err != nil {
		s.t.Fatal(err)
	}
	s.number[fi.Sys().(*syscall.Stat_t).Ino] = s.created
	s.created++
}

func (s *rotSim) rename(from, to string) {
	if err := os.Rename(from, to); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.t.Fatal(err)
	}
}

func (s *rotSim) queueRotation() {
	if s.maxFiles == 1 {
		// Writer.create: a new file renamed over the old one.
		s.ops = append(s.ops,
			func() { s.write(s.path + ".new") },
			func() { s.rename(s.path+".new", s.path); s.names[0] = s.created - 1 })
		return
	}
	s.rotated = min(s.rotated+1, s.maxFiles-1)
	for i := s.rotated - 1; i >= 0; i-- {
		s.ops = append(s.ops, func() {
			s.rename(rotatedName(s.path, i), rotatedName(s.path, i+1))
			if n, ok := s.names[i]; ok {
				s.names[i+1] = n
				delete(s.names, i)
			}
		})
	}
	s.ops = append(s.ops, func() { s.write(s.path); s.names[0] = s.created - 1 })
}

func (s *rotSim) step() {
	if len(s.ops) == 0 {
		s.queueRotation()
	}
	op := s.ops[0]
	s.ops = s.ops[1:]
	op()
	s.steps++
	s.states = append(s.states, s.state())
}

// state returns the numbers of the newest and the oldest file.
func (s *rotSim) state() [2]int {
	st := [2]int{-1, s.created}
	for _, n := range s.names {
		st[0], st[1] = max(st[0], n), min(st[1], n)
	}
	return st
}

// check runs openAll while hook takes steps, and checks that it returned
// the log as it was at one moment: a run of consecutive files, oldest
// first, ending with the newest file of that moment and starting no later
// than the oldest one.
func (s *rotSim) check(hook func(name string)) {
	s.t.Helper()
	probeHook = hook
	files, _, err := openAll(s.path)
	probeHook = nil
	if err != nil {
		s.t.Fatalf("%s: openAll = %v", s.name, err)
	}
	defer closeAll(files)
	var got []int
	for _, lf := range files {
		got = append(got, s.number[lf.fi.Sys().(*syscall.Stat_t).Ino])
	}
	if len(got) == 0 {
		// Possible only if two whole rotations ran while openNewest
		// looked at three names (see there).
		if s.steps < 2*(s.rotated+1) {
			s.t.Fatalf("%s: no files after %d steps", s.name, s.steps)
		}
		return
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			s.t.Fatalf("%s: files %v are not consecutive; the log went %v", s.name, got, s.states)
		}
	}
	for _, st := range s.states {
		if st[0] == got[len(got)-1] && st[1] >= got[0] {
			return
		}
	}
	s.t.Fatalf("%s: files %v were never the log; it went (newest, oldest) %v", s.name, got, s.states)
}

// TestOpenAllInterleaved runs openAll with rotations interleaved with its
// system calls in many ways, for logs that keep all files and logs that
// drop the oldest.
func TestOpenAllInterleaved(t *testing.T) {
	for _, maxFiles := range []int{1000, 4, 2, 1} {
		s := newRotSim(t, maxFiles)
		const files = 5
		rotation := min(files, maxFiles) + 1 // steps in a rotation, at most
		// One burst of steps before each of openAll's system calls (it
		// makes two per file and about five more on a quiet log),
		// starting at each step of a rotation.
		for pre := range rotation {
			for at := range 2*min(files, maxFiles) + 5 {
				for _, burst := range []int{1, 2, 30} {
					s.reset(fmt.Sprintf("max %d, pre %d, at %d, burst %d", maxFiles, pre, at, burst), files, pre)
					calls := 0
					s.check(func(string) {
						if calls == at {
							for range burst {
								s.step()
							}
						}
						calls++
					})
				}
			}
		}
		// Steady rotation: so many steps per call, up to a bound
		// after which the writer goes quiet.
		for _, every := range []int{1, 2, 3} {
			for _, per := range []int{1, 2, 3} {
				s.reset(fmt.Sprintf("max %d, every %d, per %d", maxFiles, every, per), files, 0)
				calls := 0
				s.check(func(string) {
					if calls%every == 0 && s.steps < 100 {
						for range per {
							s.step()
						}
					}
					calls++
				})
			}
		}
		for seed := range uint64(60) {
			rng := rand.New(rand.NewPCG(seed, 1))
			s.reset(fmt.Sprintf("max %d, random %d", maxFiles, seed), 1+rng.IntN(files), rng.IntN(rotation))
			s.check(func(string) {
				if s.steps < 40 {
					for range rng.IntN(3) {
						s.step()
					}
				}
			})
		}
	}
}

// TestOpenAllForeignName: a rotated file that leaves the path.N names
// while no rotation happens is an error, not a guess.
func TestOpenAllForeignName(t *testing.T) {
	s := newRotSim(t, 1000)
	s.reset("foreign", 6, 0)
	prev := ""
	moved := false
	probeHook = func(name string) {
		// Before the check that path.2 is still where it was, after
		// opening its older neighbour.
		if !moved && prev == s.path+".3" && name == s.path+".2" {
			if err := os.Rename(name, s.path+".old"); err != nil {
				t.Fatal(err)
			}
			moved = true
		}
		prev = name
	}
	files, _, err := openAll(s.path)
	probeHook = nil
	closeAll(files)
	if err == nil || !strings.Contains(err.Error(), "moved to a name other than") {
		t.Fatalf("openAll = %d files, %v; want an error", len(files), err)
	}
}

// TestLimitCutsEntry: a size taken while an entry was being written may end
// inside it (a write shows page by page). A reader limited to that size
// must not finish the entry from what was written after, nor count it in a
// tail: it was not there yet.
func TestLimitCutsEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	entry := func(s string) []byte { return appendEntry(nil, "stdout", []byte(s+"\n"), t0) }
	var content []byte
	for _, s := range []string{"a", "b", "c"} {
		content = append(content, entry(s)...)
	}
	if err := os.WriteFile(path, content, 0o640); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int64(2*len(entry("a")) + 10) // 10 bytes into "c"
	match := func(line []byte) bool { _, ok := parseEntry(line); return ok }
	off, found, err := scanBack(f, size, 5, match)
	if err != nil || off != 0 || found != 2 {
		t.Errorf("scanBack(size %d, 5) = %d, %d, %v; want 0, 2", size, off, found, err)
	}
	lr := newLineReader(f, 0)
	lr.limit = size
	var got []string
	for {
		line, ok, err := lr.next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		e, _ := parseEntry(line)
		got = append(got, string(e.Line))
	}
	if rest := lr.rest(); string(rest) != string(content[size-10:size]) {
		t.Errorf("rest = %q, want %q", rest, content[size-10:size])
	}
	if strings.Join(got, "") != "a\nb\n" {
		t.Errorf("lines up to the limit = %q, want a, b", got)
	}
}

// TestTailZeroUnterminated: Tail 0 returns nothing even when the file ends
// with a whole entry whose newline is not there yet.
func TestTailZeroUnterminated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	e := appendEntry(nil, "stdout", []byte("x\n"), t0)
	if err := os.WriteFile(path, e[:len(e)-1], 0o640); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, path, ReadOptions{Tail: 0}); len(got) != 0 {
		t.Errorf("Read(tail 0) = %q", text(got))
	}
	if got := text(readAll(t, path, ReadOptions{Tail: 1})); got != "x\n" {
		t.Errorf("Read(tail 1) = %q, want %q", got, "x\n")
	}
}

// TestReadOnlyPath2: with neither path nor path.1, which a Writer never
// leaves, path.2 alone is no log (and Read does not wait for it to move).
func TestReadOnlyPath2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	if err := os.WriteFile(path+".2", appendEntry(nil, "stdout", []byte("old\n"), t0), 0o640); err != nil {
		t.Fatal(err)
	}
	err := Read(t.Context(), path, ReadOptions{Tail: -1}, func(Entry) error { return nil })
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read = %v, want fs.ErrNotExist", err)
	}
}
