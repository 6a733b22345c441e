package oci

import (
	"strings"
	"syscall"
	"testing"
)

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "1024", want: 1024},
		{in: "0", want: 0},
		{in: "512m", want: 512 << 20},
		{in: "512M", want: 512 << 20},
		{in: "1g", want: 1 << 30},
		{in: "1.5g", want: 3 << 29},
		{in: "1.5G", want: 3 << 29},
		{in: "10k", want: 10 << 10},
		{in: "10KB", want: 10 << 10},
		{in: "10KiB", want: 10 << 10},
		{in: "10kib", want: 10 << 10},
		{in: "10ki", want: 10 << 10},
		{in: "1 GB", want: 1 << 30},
		{in: "2t", want: 2 << 40},
		{in: "1p", want: 1 << 50},
		{in: "100b", want: 100},
		{in: "100B", want: 100},
		{in: "1.0000001k", want: 1024},
		{in: "", wantErr: `invalid memory size ""`},
		{in: "m", wantErr: `invalid memory size "m"`},
		{in: "-1", wantErr: `invalid memory size "-1"`},
		{in: ".5g", wantErr: `invalid memory size ".5g"`},
		{in: "1.g", wantErr: `invalid memory size "1.g": unknown unit ".g"`},
		{in: "12x", wantErr: `invalid memory size "12x": unknown unit "x"`},
		{in: "1gg", wantErr: `invalid memory size "1gg": unknown unit "gg"`},
		{in: "1  g", wantErr: `invalid memory size "1  g": unknown unit " g"`},
		{in: "1e3", wantErr: `invalid memory size "1e3": unknown unit "e3"`},
		{in: "8192p", wantErr: `memory size "8192p" is too large`},
		{in: strings.Repeat("9", 300), wantErr: `memory size "` + strings.Repeat("9", 300) + `" is too large`},
		{in: strings.Repeat("9", 400), wantErr: `invalid memory size "` + strings.Repeat("9", 400) + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMemory(tt.in)
			checkErr(t, err, tt.wantErr)
			if err == nil && got != tt.want {
				t.Errorf("ParseMemory(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseCPUs(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr string
	}{
		{in: "0.5", want: 0.5},
		{in: "2", want: 2},
		{in: "1.25", want: 1.25},
		{in: "0", want: 0},
		{in: "0.000000001", want: 1e-9},
		{in: "0.0000000001", wantErr: `invalid cpus "0.0000000001": more than 9 decimal places`},
		{in: "", wantErr: `invalid cpus "": want a decimal number such as "1.5"`},
		{in: "-1", wantErr: `invalid cpus "-1": want a decimal number such as "1.5"`},
		{in: "1/2", wantErr: `invalid cpus "1/2": want a decimal number such as "1.5"`},
		{in: "1e3", wantErr: `invalid cpus "1e3": want a decimal number such as "1.5"`},
		{in: "two", wantErr: `invalid cpus "two": want a decimal number such as "1.5"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCPUs(tt.in)
			checkErr(t, err, tt.wantErr)
			if err == nil && got != tt.want {
				t.Errorf("ParseCPUs(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// ParseCPUs cannot fail in strconv after splitNumber, except on a number
// too large for a float64.
func TestParseCPUsHuge(t *testing.T) {
	huge := "1" + strings.Repeat("0", 400)
	_, err := ParseCPUs(huge)
	checkErr(t, err, `invalid cpus "`+huge+`"`)
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in      string
		want    syscall.Signal
		wantErr string
	}{
		{in: "SIGTERM", want: syscall.SIGTERM},
		{in: "TERM", want: syscall.SIGTERM},
		{in: "term", want: syscall.SIGTERM},
		{in: "sigquit", want: syscall.SIGQUIT},
		{in: "SIGINT", want: syscall.SIGINT},
		{in: "SIGKILL", want: syscall.SIGKILL},
		{in: "SIGUSR1", want: syscall.SIGUSR1},
		{in: "SIGWINCH", want: syscall.SIGWINCH},
		{in: "SIGPWR", want: syscall.SIGPWR},
		{in: "15", want: 15},
		{in: "9", want: 9},
		{in: "64", want: 64},
		{in: "SIGRTMIN", want: 34},
		{in: "SIGRTMIN+3", want: 37},
		{in: "rtmin+30", want: 64},
		{in: "SIGRTMAX", want: 64},
		{in: "SIGRTMAX-1", want: 63},
		{in: "RTMAX-30", want: 34},
		{in: "0", wantErr: `invalid signal "0": number out of range 1..64`},
		{in: "65", wantErr: `invalid signal "65": number out of range 1..64`},
		{in: "99999999999999999999", wantErr: `invalid signal "99999999999999999999": number out of range 1..64`},
		{in: "-9", wantErr: `unknown signal "-9"`},
		{in: "SIGFOO", wantErr: `unknown signal "SIGFOO"`},
		{in: "", wantErr: `unknown signal ""`},
		{in: "SIG", wantErr: `unknown signal "SIG"`},
		{in: "FOO+1", wantErr: `unknown signal "FOO+1"`},
		{in: "SIGRTMIN+31", wantErr: `invalid signal "SIGRTMIN+31": outside SIGRTMIN..SIGRTMAX (34..64)`},
		{in: "SIGRTMIN-1", wantErr: `invalid signal "SIGRTMIN-1": outside SIGRTMIN..SIGRTMAX (34..64)`},
		{in: "SIGRTMAX+1", wantErr: `invalid signal "SIGRTMAX+1": outside SIGRTMIN..SIGRTMAX (34..64)`},
		{in: "SIGRTMIN+", wantErr: `invalid signal "SIGRTMIN+"`},
		{in: "SIGRTMIN+x", wantErr: `invalid signal "SIGRTMIN+x"`},
		{in: "SIGRTMIN+-1", wantErr: `invalid signal "SIGRTMIN+-1"`},
		{in: "SIGRTMIN+99999999999999999999", wantErr: `invalid signal "SIGRTMIN+99999999999999999999"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSignal(tt.in)
			checkErr(t, err, tt.wantErr)
			if err == nil && got != tt.want {
				t.Errorf("ParseSignal(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

// TestSignalTable checks every name maps to a distinct, valid number, or a
// documented alias.
func TestSignalTable(t *testing.T) {
	aliases := map[string]string{"CLD": "CHLD", "IOT": "ABRT", "POLL": "IO"}
	seen := map[syscall.Signal]string{}
	for name, sig := range signals {
		if sig < 1 || sig > 31 {
			t.Errorf("%s = %d, want 1..31", name, sig)
		}
		if a, ok := aliases[name]; ok {
			if signals[a] != sig {
				t.Errorf("%s = %d, want alias of %s = %d", name, sig, a, signals[a])
			}
			continue
		}
		if prev, ok := seen[sig]; ok {
			t.Errorf("%s and %s are both %d", name, prev, sig)
		}
		seen[sig] = name
	}
}
