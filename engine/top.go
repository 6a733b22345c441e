package engine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"stack/engine/cgroups"
	"stack/engine/container"
)

// topTitles are the columns of `ps -ef`, which is what docker top shows by
// default.
var topTitles = []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat. It is
// 100 on every Linux architecture Go supports (sysconf(_SC_CLK_TCK) needs
// libc to ask).
const clockTicks = 100

// Top lists the processes of a running container as `ps -ef` shows them on
// the host, like docker top: host pids, user names from the host's
// /etc/passwd (else the number), the init included. Processes are the
// members of the container's cgroup, in pid order; one that exits while it
// is read is left out. A container that is not running is an error wrapping
// ErrNotRunning.
func (e *Engine) Top(ref string) (titles []string, rows [][]string, err error) {
	c, err := e.Get(ref)
	if err != nil {
		return nil, nil, err
	}
	switch c.State.Status {
	case container.Running, container.Paused:
	default:
		return nil, nil, fmt.Errorf("container %q is not running: %w", c.Config.Name, ErrNotRunning)
	}
	cg, err := cgroups.New("stack/" + c.Config.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("container %q: top: %w", c.Config.Name, err)
	}
	pids, err := cg.Procs()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("container %q is not running: %w", c.Config.Name, ErrNotRunning)
		}
		return nil, nil, fmt.Errorf("container %q: top: %w", c.Config.Name, err)
	}
	ps, err := newProcReader("/proc", "/etc/passwd", time.Now())
	if err != nil {
		return nil, nil, fmt.Errorf("container %q: top: %w", c.Config.Name, err)
	}
	return append([]string(nil), topTitles...), ps.rows(pids), nil
}

// procReader reads `ps -ef` rows from a proc filesystem.
type procReader struct {
	proc  string
	users map[int]string // uid -> name, from passwd
	boot  time.Time      // btime from <proc>/stat
	now   time.Time
}

func newProcReader(proc, passwd string, now time.Time) (*procReader, error) {
	boot, err := bootTime(filepath.Join(proc, "stat"))
	if err != nil {
		return nil, err
	}
	return &procReader{proc: proc, users: readPasswd(passwd), boot: boot, now: now}, nil
}

func (r *procReader) rows(pids []int) [][]string {
	rows := [][]string{}
	for _, pid := range pids {
		row, err := r.row(pid)
		if err != nil {
			continue // exited meanwhile
		}
		rows = append(rows, row)
	}
	return rows
}

// procStat holds the fields of /proc/<pid>/stat that ps -ef uses.
type procStat struct {
	comm      string
	ppid      int
	ttyNr     int
	utime     uint64 // clock ticks
	stime     uint64
	starttime uint64 // clock ticks after boot
}

// parseStat parses /proc/<pid>/stat. comm is in parentheses and may itself
// hold spaces and parentheses, so the fields after it are found from the
// last ')'.
func parseStat(b []byte) (procStat, error) {
	var s procStat
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return s, fmt.Errorf("malformed stat %q", b)
	}
	s.comm = string(b[open+1 : end])
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 20 {
		return s, fmt.Errorf("malformed stat %q", b)
	}
	var err error
	num := func(i int) uint64 {
		v, e := strconv.ParseUint(f[i-3], 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("stat field %d %q: %w", i, f[i-3], e)
		}
		return v
	}
	ppid, tty := f[4-3], f[7-3]
	if s.ppid, err = strconv.Atoi(ppid); err != nil {
		return s, fmt.Errorf("stat ppid %q: %w", ppid, err)
	}
	if s.ttyNr, err = strconv.Atoi(tty); err != nil {
		return s, fmt.Errorf("stat tty_nr %q: %w", tty, err)
	}
	s.utime, s.stime, s.starttime = num(14), num(15), num(22)
	return s, err
}

func (r *procReader) row(pid int) ([]string, error) {
	dir := filepath.Join(r.proc, strconv.Itoa(pid))
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return nil, err
	}
	st, err := parseStat(b)
	if err != nil {
		return nil, err
	}
	uid, err := effectiveUID(filepath.Join(dir, "status"))
	if err != nil {
		return nil, err
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return nil, err
	}
	user, ok := r.users[uid]
	if !ok {
		user = strconv.Itoa(uid)
	}
	start := r.boot.Add(ticks(st.starttime))
	cpu := ticks(st.utime + st.stime)
	return []string{
		user,
		strconv.Itoa(pid),
		strconv.Itoa(st.ppid),
		strconv.Itoa(cpuPercent(cpu, r.now.Sub(start))),
		formatSTime(start, r.now),
		ttyName(st.ttyNr),
		formatCPUTime(cpu),
		commandLine(cmdline, st.comm),
	}, nil
}

func ticks(n uint64) time.Duration {
	return time.Duration(n) * time.Second / clockTicks
}

// cpuPercent is ps's C column: CPU time over lifetime as an integer
// percentage, capped at 99 (procps pr_c).
func cpuPercent(cpu, life time.Duration) int {
	if life <= 0 {
		return 0
	}
	return min(int(cpu*100/life), 99)
}

// formatSTime is ps's STIME in local time: HH:MM for a process started
// today, MonDD for one started this year, else the year (procps pr_stime
// compares calendar days, not ages).
func formatSTime(start, now time.Time) string {
	start, now = start.Local(), now.Local()
	switch {
	case start.Year() != now.Year():
		return start.Format("2006")
	case start.YearDay() != now.YearDay():
		return start.Format("Jan02")
	}
	return start.Format("15:04")
}

// formatCPUTime is ps's TIME: [DD-]HH:MM:SS of CPU time.
func formatCPUTime(d time.Duration) string {
	s := int64(d / time.Second)
	days, h, m, sec := s/86400, s/3600%24, s/60%60, s%60
	if days > 0 {
		return fmt.Sprintf("%d-%02d:%02d:%02d", days, h, m, sec)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, sec)
}

// ttyName turns stat's tty_nr into ps's TTY: pts/N, ttyN, ttySN, or "?".
func ttyName(nr int) string {
	if nr == 0 {
		return "?"
	}
	major := (nr >> 8) & 0xfff
	minor := (nr & 0xff) | ((nr >> 12) & 0xfff00)
	switch {
	case major >= 136 && major <= 143: // UNIX98 pty slaves
		return "pts/" + strconv.Itoa((major-136)<<8|minor)
	case major == 4 && minor < 64:
		return "tty" + strconv.Itoa(minor)
	case major == 4:
		return "ttyS" + strconv.Itoa(minor-64)
	case major == 5 && minor == 0:
		return "tty"
	case major == 5 && minor == 1:
		return "console"
	}
	return "?"
}

// commandLine is ps's CMD: the arguments joined by spaces, or "[comm]" for
// a process without any (a kernel thread or a zombie).
func commandLine(cmdline []byte, comm string) string {
	cmdline = bytes.TrimRight(cmdline, "\x00")
	if len(cmdline) == 0 {
		return "[" + comm + "]"
	}
	return string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
}

// effectiveUID reads the effective uid from /proc/<pid>/status: ps -ef's
// UID column is the effective user.
func effectiveUID(status string) (int, error) {
	f, err := os.Open(status)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Uid:")
		if !ok {
			continue
		}
		ids := strings.Fields(rest)
		if len(ids) < 2 {
			break
		}
		return strconv.Atoi(ids[1])
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no Uid line", status)
}

// readPasswd maps uids to names from a passwd file; the first entry for a
// uid wins, as getpwuid returns it. A missing file gives an empty map, and
// the UID column shows numbers.
func readPasswd(path string) map[int]string {
	users := map[int]string{}
	b, err := os.ReadFile(path)
	if err != nil {
		return users
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 3 || f[0] == "" || strings.HasPrefix(f[0], "#") {
			continue
		}
		uid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		if _, ok := users[uid]; !ok {
			users[uid] = f[0]
		}
	}
	return users
}

// bootTime reads btime from /proc/stat.
func bootTime(stat string) (time.Time, error) {
	b, err := os.ReadFile(stat)
	if err != nil {
		return time.Time{}, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("%s: btime %q: %w", stat, v, err)
			}
			return time.Unix(n, 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s: no btime line", stat)
}
