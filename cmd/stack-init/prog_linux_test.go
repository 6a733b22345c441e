package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"stack/engine/initproc/prog"
)

// runProgram runs tinyinit with p as PID 1 of new PID, mount and UTS
// namespaces, and returns its output, exit code and failure report.
func runProgram(t *testing.T, p *prog.Program) (string, int, []byte) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root for namespaces")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	rr, rw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	xr, xw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer xr.Close()
	go func() {
		pw.Write(p.Bytes())
		pw.Close()
	}()
	var out bytes.Buffer
	cmd := exec.Command(built)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.ExtraFiles = []*os.File{pr, xw, rw} // program, exit, start
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	rw.Close()
	xw.Close()
	code := exitCode(t, cmd)
	report := make([]byte, 8)
	n, _ := rr.Read(report)
	rr.Close()
	return out.String(), code, report[:n]
}

// TestProgram: the set-up calls (mounts, a directory, the hostname) and
// the child's (chdir, execve with argv and environment) run as built.
func TestProgram(t *testing.T) {
	dir := t.TempDir()
	var p prog.Program
	p.Setup("test", syscall.SYS_MOUNT, nil, prog.Int(0), prog.Str("/"), prog.Int(0), prog.Int(syscall.MS_REC|syscall.MS_PRIVATE), prog.Int(0))
	p.Setup("test", syscall.SYS_MOUNT, nil, prog.Str("tmpfs"), prog.Str(dir), prog.Str("tmpfs"), prog.Int(0), prog.Str("size=1m"))
	p.Setup("test", syscall.SYS_MKDIR, nil, prog.Str(filepath.Join(dir, "made")), prog.Int(0o755))
	p.Setup("test", syscall.SYS_MKDIR, []syscall.Errno{syscall.EEXIST}, prog.Str(filepath.Join(dir, "made")), prog.Int(0o755))
	p.Setup("test", syscall.SYS_SETHOSTNAME, nil, prog.Str("tinyhost"), prog.Int(8))
	p.Child("test", syscall.SYS_CHDIR, nil, prog.Str(filepath.Join(dir, "made")))
	p.Child("test", syscall.SYS_EXECVE, nil, prog.Str("/bin/sh"),
		prog.Vec([]string{"sh", "-c", `echo "$(hostname) $(pwd) $GREETING"; exit 4`}),
		prog.Vec([]string{"GREETING=hello", "PATH=/usr/bin:/bin"}))
	out, code, report := runProgram(t, &p)
	if want := "tinyhost " + filepath.Join(dir, "made") + " hello\n"; out != want || code != 4 {
		t.Fatalf("output %q, exit %d (report %v); want %q, exit 4", out, code, report, want)
	}
	// The tmpfs was in the program's mount namespace only.
	if _, err := os.Stat(filepath.Join(dir, "made")); err == nil {
		t.Error("the program's mount leaked to the host")
	}
}

// TestExitReport: PID 1 writes the main process's exit code on its exit
// descriptor before it exits.
func TestExitReport(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for namespaces")
	}
	var p prog.Program
	p.Child("exec", syscall.SYS_EXECVE, nil, prog.Str("/bin/sh"), prog.Vec([]string{"sh", "-c", "kill -TERM $$"}), prog.Vec(nil))
	pr, pw, _ := os.Pipe()
	xr, xw, _ := os.Pipe()
	sr, sw, _ := os.Pipe()
	defer xr.Close()
	defer sr.Close()
	pw.Write(p.Bytes())
	pw.Close()
	cmd := exec.Command(built)
	cmd.ExtraFiles = []*os.File{pr, xw, sw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	xw.Close()
	sw.Close()
	// End of file on the start descriptor: the execve succeeded.
	if b, err := io.ReadAll(sr); err != nil || len(b) != 0 {
		t.Fatalf("start descriptor: %v %v", b, err)
	}
	b, err := io.ReadAll(xr)
	if err != nil || len(b) != 4 || binary.LittleEndian.Uint32(b) != 143 {
		t.Fatalf("exit descriptor: %v %v, want 143", b, err)
	}
	if code := exitCode(t, cmd); code != 143 {
		t.Fatalf("exit %d", code)
	}
}

// TestExecMode: with FlagExec the calls run in the process itself, which
// becomes the program (no fork: its pid is the one started), and a result
// feeds the next call.
func TestExecMode(t *testing.T) {
	var p prog.Program
	p.SetExec()
	// dup(1) then dup3(result, 7): the output reaches descriptor 7 too.
	p.Setup("test", syscall.SYS_DUP, nil, prog.Int(1))
	p.Setup("test", syscall.SYS_DUP3, nil, prog.Result(), prog.Int(7), prog.Int(0))
	p.Child("exec", syscall.SYS_EXECVE, nil, prog.Str("/bin/sh"), prog.Vec([]string{"sh", "-c", `echo $$ >&7; exit 6`}), prog.Vec(nil))
	pr, pw, _ := os.Pipe()
	sr, sw, _ := os.Pipe()
	defer sr.Close()
	pw.Write(p.Bytes())
	pw.Close()
	var out bytes.Buffer
	cmd := exec.Command(built)
	cmd.Stdout = &out
	cmd.ExtraFiles = []*os.File{pr, nil, sw}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	sw.Close()
	code := exitCode(t, cmd)
	if want := fmt.Sprintf("%d\n", cmd.Process.Pid); out.String() != want || code != 6 {
		t.Fatalf("output %q, exit %d; want %q, exit 6", out.String(), code, want)
	}
}

// TestProgramFailure: a failed call ends the start with 125 and names
// itself (its number in the program and its errno) on the report pipe.
func TestProgramFailure(t *testing.T) {
	var p prog.Program
	p.Setup("test", syscall.SYS_MOUNT, nil, prog.Int(0), prog.Str("/"), prog.Int(0), prog.Int(syscall.MS_REC|syscall.MS_PRIVATE), prog.Int(0))
	p.Setup("test", syscall.SYS_MKDIR, nil, prog.Str("/nonexistent/a/b"), prog.Int(0o755))
	p.Child("test", syscall.SYS_EXECVE, nil, prog.Str("/bin/true"), prog.Vec([]string{"true"}), prog.Vec(nil))
	out, code, report := runProgram(t, &p)
	if code != 125 || len(report) != 8 {
		t.Fatalf("exit %d, report %v, output %q; want 125 and a report", code, report, out)
	}
	if i, errno := binary.LittleEndian.Uint32(report), syscall.Errno(binary.LittleEndian.Uint32(report[4:])); i != 1 || errno != syscall.ENOENT {
		t.Fatalf("report: call %d failed with %v; want call 1, ENOENT", i, errno)
	}
}

// TestProgramExecFails: an execve that fails is reported as the child's
// failed call.
func TestProgramExecFails(t *testing.T) {
	var p prog.Program
	p.Child("test", syscall.SYS_EXECVE, nil, prog.Str("/nonexistent"), prog.Vec([]string{"x"}), prog.Vec(nil))
	_, code, report := runProgram(t, &p)
	if code != 127 || len(report) != 8 || !strings.Contains(syscall.Errno(binary.LittleEndian.Uint32(report[4:])).Error(), "no such file") {
		t.Fatalf("exit %d, report %v", code, report)
	}
}

// TestChildProcess: the main process runs as the user, with its groups,
// the bounding set cut to what the spec keeps, and no_new_privs.
func TestChildProcess(t *testing.T) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps [2]unix.CapUserData
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		t.Fatal(err)
	}
	var p prog.Program
	p.ChildProcess(prog.Process{
		Permitted: uint64(caps[0].Permitted) | uint64(caps[1].Permitted)<<32,
		Path:      "/bin/sh",
		Args:      []string{"sh", "-c", `echo "$(id -u) $(id -g) $(id -G) $(umask)"; grep -E '^(CapBnd|CapEff|CapInh|NoNewPrivs)' /proc/self/status`},
		Env:       []string{"PATH=/usr/bin:/bin"},
		Cwd:       "/", UID: 65534, GID: 65534, Groups: []uint32{65534, 100},
		Bounding: []int{0, 5}, LastCap: 40, NoNewPrivs: true, Umask: 0o027,
	})
	out, code, report := runProgram(t, &p)
	want := "65534 65534 65534 100 0027\nCapInh:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000021\nNoNewPrivs:\t1\n"
	if out != want || code != 0 {
		t.Fatalf("exit %d (report %v), output\n%s\nwant\n%s", code, report, out, want)
	}
}

// TestPivotRoot: PID 1 mounts /proc for its namespace and pivots into a
// root prepared for it (here a tmpfs with busybox as /bin/sh); the main
// process sees that root alone, and itself as PID 2.
func TestPivotRoot(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox")
	}
	root := t.TempDir()
	var p prog.Program
	p.Setup("test", syscall.SYS_MOUNT, nil, prog.Int(0), prog.Str("/"), prog.Int(0), prog.Int(syscall.MS_REC|syscall.MS_PRIVATE), prog.Int(0))
	p.Setup("test", syscall.SYS_MOUNT, nil, prog.Str("tmpfs"), prog.Str(root), prog.Str("tmpfs"), prog.Int(0), prog.Int(0))
	for _, d := range []string{"bin", "proc"} {
		p.Setup("test", syscall.SYS_MKDIR, nil, prog.Str(filepath.Join(root, d)), prog.Int(0o755))
	}
	p.Setup("test", syscall.SYS_MKNOD, nil, prog.Str(filepath.Join(root, "bin/sh")), prog.Int(syscall.S_IFREG|0o755), prog.Int(0))
	p.Setup("test", syscall.SYS_MOUNT, nil, prog.Str("/bin/busybox"), prog.Str(filepath.Join(root, "bin/sh")), prog.Int(0), prog.Int(syscall.MS_BIND), prog.Int(0))
	p.Setup("test", syscall.SYS_CHDIR, nil, prog.Str(root))
	p.Setup("test", syscall.SYS_MOUNT, nil, prog.Str("proc"), prog.Str("proc"), prog.Str("proc"), prog.Int(0), prog.Int(0))
	p.PivotRoot()
	p.Child("test", syscall.SYS_EXECVE, nil, prog.Str("/bin/sh"),
		prog.Vec([]string{"sh", "-c", `echo $$ $(echo /*) $(cat /proc/1/cmdline | tr '\0' ' ')`}), prog.Vec(nil))
	out, code, report := runProgram(t, &p)
	if want := "2 /bin /proc " + built + "\n"; out != want || code != 0 {
		t.Fatalf("exit %d (report %v), output %q, want %q", code, report, out, want)
	}
}
