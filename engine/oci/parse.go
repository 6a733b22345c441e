package oci

import (
	"math"
	"strconv"
	"strings"
	"syscall"
)

// ParseMemory parses a Docker memory size (mem_limit, shm_size, ...) into
// bytes, with Docker's RAMInBytes rules: a non-negative decimal number,
// optionally one space, then an optional unit b, k, m, g, t or p, each
// optionally followed by "i" and/or "b", case-insensitive, in binary units
// (1k = 1024). So "512m", "1g", "1.5g", "10KiB", "1 GB" and "1024" parse.
// The result is truncated to whole bytes.
func ParseMemory(s string) (int64, error) {
	num, unit := splitNumber(s)
	unit = strings.TrimPrefix(unit, " ")
	if num == "" {
		return 0, invalidf("invalid memory size %q", s)
	}
	mult := 1.0
	u := strings.ToLower(unit)
	if u != "" && strings.ContainsRune("kmgtp", rune(u[0])) {
		mult = math.Pow(1024, float64(strings.IndexByte("kmgtp", u[0])+1))
		u = strings.TrimPrefix(u[1:], "i")
	}
	if u != "" && u != "b" {
		return 0, invalidf("invalid memory size %q: unknown unit %q", s, unit)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, invalidf("invalid memory size %q", s)
	}
	b := f * mult
	if b >= math.MaxInt64 {
		return 0, invalidf("memory size %q is too large", s)
	}
	return int64(b), nil
}

// splitNumber splits s into a leading decimal number (digits, optionally a
// '.' and more digits) and the rest.
func splitNumber(s string) (num, rest string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i > 0 && i+1 < len(s) && s[i] == '.' && s[i+1] >= '0' && s[i+1] <= '9' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	return s[:i], s[i:]
}

// ParseCPUs parses compose cpus ("0.5", "2", "1.25") as Docker does: a
// non-negative decimal number with at most 9 decimal places (Docker counts
// in nano-CPUs). Range checks are [WithCPUs]'s.
func ParseCPUs(s string) (float64, error) {
	num, rest := splitNumber(s)
	if num == "" || rest != "" {
		return 0, invalidf("invalid cpus %q: want a decimal number such as \"1.5\"", s)
	}
	if _, frac, ok := strings.Cut(num, "."); ok && len(frac) > 9 {
		return 0, invalidf("invalid cpus %q: more than 9 decimal places", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, invalidf("invalid cpus %q", s)
	}
	return f, nil
}

// signals are Linux's signal names without "SIG" (Docker's SignalMap).
var signals = map[string]syscall.Signal{
	"ABRT":   syscall.SIGABRT,
	"ALRM":   syscall.SIGALRM,
	"BUS":    syscall.SIGBUS,
	"CHLD":   syscall.SIGCHLD,
	"CLD":    syscall.SIGCLD,
	"CONT":   syscall.SIGCONT,
	"FPE":    syscall.SIGFPE,
	"HUP":    syscall.SIGHUP,
	"ILL":    syscall.SIGILL,
	"INT":    syscall.SIGINT,
	"IO":     syscall.SIGIO,
	"IOT":    syscall.SIGIOT,
	"KILL":   syscall.SIGKILL,
	"PIPE":   syscall.SIGPIPE,
	"POLL":   syscall.SIGPOLL,
	"PROF":   syscall.SIGPROF,
	"PWR":    syscall.SIGPWR,
	"QUIT":   syscall.SIGQUIT,
	"SEGV":   syscall.SIGSEGV,
	"STOP":   syscall.SIGSTOP,
	"SYS":    syscall.SIGSYS,
	"TERM":   syscall.SIGTERM,
	"TRAP":   syscall.SIGTRAP,
	"TSTP":   syscall.SIGTSTP,
	"TTIN":   syscall.SIGTTIN,
	"TTOU":   syscall.SIGTTOU,
	"URG":    syscall.SIGURG,
	"USR1":   syscall.SIGUSR1,
	"USR2":   syscall.SIGUSR2,
	"VTALRM": syscall.SIGVTALRM,
	"WINCH":  syscall.SIGWINCH,
	"XCPU":   syscall.SIGXCPU,
	"XFSZ":   syscall.SIGXFSZ,
}

// Real-time signal bounds as user space sees them: glibc reserves 32 and 33,
// so SIGRTMIN is 34 (what Docker and kill(1) use); SIGRTMAX is 64.
const (
	sigRTMin = 34
	sigRTMax = 64
)

// ParseSignal parses a stop signal (compose stop_signal, docker kill -s) as
// Docker does: a name with or without "SIG", case-insensitive ("SIGTERM",
// "term"), a number from 1 to 64 ("15"), or a real-time signal as
// "RTMIN", "RTMIN+n" or "RTMAX-n" within 34..64.
func ParseSignal(s string) (syscall.Signal, error) {
	if isDigits(s) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > sigRTMax {
			return 0, invalidf("invalid signal %q: number out of range 1..%d", s, sigRTMax)
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if sig, ok := signals[name]; ok {
		return sig, nil
	}
	base, off, sign := "", "", 0
	if b, o, ok := strings.Cut(name, "+"); ok {
		base, off, sign = b, o, 1
	} else if b, o, ok := strings.Cut(name, "-"); ok {
		base, off, sign = b, o, -1
	} else {
		base = name
	}
	n := 0
	switch base {
	case "RTMIN":
		n = sigRTMin
	case "RTMAX":
		n = sigRTMax
	default:
		return 0, invalidf("unknown signal %q", s)
	}
	if sign != 0 {
		d, err := strconv.Atoi(off)
		if !isDigits(off) || err != nil {
			return 0, invalidf("invalid signal %q", s)
		}
		n += sign * d
	}
	if n < sigRTMin || n > sigRTMax {
		return 0, invalidf("invalid signal %q: outside SIGRTMIN..SIGRTMAX (%d..%d)", s, sigRTMin, sigRTMax)
	}
	return syscall.Signal(n), nil
}
