package initproc

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFixStdioOwner: a pipe goes to the container's user; a terminal of
// the caller's (an exec client's) stays its owner's.
func TestFixStdioOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	u := &ExecUser{UID: 4321, GID: 4321}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fixStdioOwner(w, u)
	var st unix.Stat_t
	if err := unix.Fstat(int(w.Fd()), &st); err != nil || st.Uid != 4321 {
		t.Fatalf("pipe owner %d (%v), want 4321", st.Uid, err)
	}
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skip("no /dev/ptmx:", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, master.Fd(), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY)
	if errno != 0 {
		t.Fatal(errno)
	}
	slave := os.NewFile(fd, "pts")
	defer slave.Close()
	var before unix.Stat_t
	unix.Fstat(int(slave.Fd()), &before)
	fixStdioOwner(slave, u)
	if err := unix.Fstat(int(slave.Fd()), &st); err != nil || st.Uid != before.Uid {
		t.Fatalf("terminal owner %d (%v), want %d", st.Uid, err, before.Uid)
	}
}
