package oci

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const inf = math.MaxUint64

func TestWithUlimits(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]Ulimit
		want    []specs.POSIXRlimit
		wantErr string
	}{
		{name: "replace default nofile in place, append others in name order",
			in: map[string]Ulimit{"nproc": {Soft: 65535, Hard: 65535}, "nofile": {Soft: 20000, Hard: 40000}, "core": {Soft: 0, Hard: 0}},
			want: []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Soft: 20000, Hard: 40000},
				{Type: "RLIMIT_CORE", Soft: 0, Hard: 0},
				{Type: "RLIMIT_NPROC", Soft: 65535, Hard: 65535},
			}},
		{name: "unlimited", in: map[string]Ulimit{"memlock": {Soft: -1, Hard: -1}, "STACK": {Soft: 8 << 20, Hard: -1}},
			want: []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 524288},
				{Type: "RLIMIT_STACK", Soft: 8 << 20, Hard: inf},
				{Type: "RLIMIT_MEMLOCK", Soft: inf, Hard: inf},
			}},
		{name: "all names", in: map[string]Ulimit{
			"core": {}, "cpu": {}, "data": {}, "fsize": {}, "locks": {}, "memlock": {}, "msgqueue": {}, "nice": {},
			"nofile": {}, "nproc": {}, "rss": {}, "rtprio": {}, "rttime": {}, "sigpending": {}, "stack": {},
		}, want: []specs.POSIXRlimit{
			{Type: "RLIMIT_NOFILE"}, {Type: "RLIMIT_CORE"}, {Type: "RLIMIT_CPU"}, {Type: "RLIMIT_DATA"},
			{Type: "RLIMIT_FSIZE"}, {Type: "RLIMIT_LOCKS"}, {Type: "RLIMIT_MEMLOCK"}, {Type: "RLIMIT_MSGQUEUE"},
			{Type: "RLIMIT_NICE"}, {Type: "RLIMIT_NPROC"}, {Type: "RLIMIT_RSS"}, {Type: "RLIMIT_RTPRIO"},
			{Type: "RLIMIT_RTTIME"}, {Type: "RLIMIT_SIGPENDING"}, {Type: "RLIMIT_STACK"},
		}},
		{name: "none", want: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 524288}}},
		{name: "soft above hard", in: map[string]Ulimit{"nofile": {Soft: 2, Hard: 1}}, wantErr: `ulimit "nofile": soft limit 2 is above hard limit 1`},
		{name: "unlimited soft above hard", in: map[string]Ulimit{"nofile": {Soft: -1, Hard: 1}}, wantErr: `ulimit "nofile": soft limit -1 is above hard limit 1`},
		{name: "negative soft", in: map[string]Ulimit{"nproc": {Soft: -2, Hard: 1}}, wantErr: `ulimit "nproc": value -2 is negative (use -1 for unlimited)`},
		{name: "negative hard", in: map[string]Ulimit{"nproc": {Soft: 1, Hard: -5}}, wantErr: `ulimit "nproc": value -5 is negative (use -1 for unlimited)`},
		{name: "unknown", in: map[string]Ulimit{"as": {Soft: 1, Hard: 1}}, wantErr: `unknown ulimit "as"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Default()
			err := WithUlimits(tt.in)(s)
			checkErr(t, err, tt.wantErr)
			if err == nil && !reflect.DeepEqual(s.Process.Rlimits, tt.want) {
				t.Errorf("Rlimits =\n%+v\nwant\n%+v", s.Process.Rlimits, tt.want)
			}
		})
	}
}

// resourcesJSON renders one part of Linux.Resources for comparison.
func resourcesJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWithMemory(t *testing.T) {
	const g = 1 << 30
	tests := []struct {
		name                     string
		opts                     []SpecOpt
		limit, reservation, swap int64
		want, wantErr            string
	}{
		{name: "limit, swap doubled", limit: g, want: `{"limit":1073741824,"swap":2147483648}`},
		{name: "limit and swap", limit: g, swap: 2 * g, want: `{"limit":1073741824,"swap":2147483648}`},
		{name: "swap equal to limit", limit: g, swap: g, want: `{"limit":1073741824,"swap":1073741824}`},
		{name: "unlimited swap", limit: g, swap: -1, want: `{"limit":1073741824,"swap":-1}`},
		{name: "limit and reservation", limit: g, reservation: g / 2, want: `{"limit":1073741824,"reservation":536870912,"swap":2147483648}`},
		{name: "reservation only", reservation: g, want: `{"reservation":1073741824}`},
		{name: "huge limit", limit: math.MaxInt64, want: `{"limit":9223372036854775807,"swap":-1}`},
		{name: "unset", opts: []SpecOpt{WithMemory(g, 0, 0)}, want: `null`},
		{name: "minimum", limit: 6 << 20, want: `{"limit":6291456,"swap":12582912}`},
		{name: "below minimum", limit: 1024, wantErr: `memory limit 1024 is below the minimum of 6291456 (6MiB)`},
		{name: "negative", limit: -1, wantErr: `memory limit -1 is negative`},
		{name: "negative reservation", reservation: -1, wantErr: `memory reservation -1 is negative`},
		{name: "small reservation", reservation: 1, wantErr: `memory reservation 1 is below the minimum of 6291456 (6MiB)`},
		{name: "reservation above limit", limit: g, reservation: 2 * g, wantErr: `memory reservation 2147483648 is above the memory limit 1073741824`},
		{name: "swap below -1", limit: g, swap: -2, wantErr: `memory swap limit -2 is negative (use -1 for unlimited)`},
		{name: "swap without limit", swap: g, wantErr: `memory swap limit 1073741824 needs a memory limit`},
		{name: "unlimited swap without limit", swap: -1, wantErr: `memory swap limit -1 needs a memory limit`},
		{name: "swap below limit", limit: 2 * g, swap: g, wantErr: `memory swap limit 1073741824 is below the memory limit 2147483648`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.opts...)
			err := WithMemory(tt.limit, tt.reservation, tt.swap)(s)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if got := resourcesJSON(t, s.Linux.Resources.Memory); got != tt.want {
				t.Errorf("Memory = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestWithCPUs(t *testing.T) {
	tests := []struct {
		name          string
		opts          []SpecOpt
		cpus          float64
		want, wantErr string
	}{
		{name: "one and a half", cpus: 1.5, want: `{"quota":150000,"period":100000}`},
		{name: "half", cpus: 0.5, want: `{"quota":50000,"period":100000}`},
		{name: "minimum", cpus: 0.01, want: `{"quota":1000,"period":100000}`},
		{name: "rounds", cpus: 0.333333, want: `{"quota":33333,"period":100000}`},
		{name: "keeps shares", opts: []SpecOpt{WithCPUShares(512)}, cpus: 2, want: `{"shares":512,"quota":200000,"period":100000}`},
		{name: "zero removes", opts: []SpecOpt{WithCPUShares(512), WithCPUs(2)}, cpus: 0, want: `{"shares":512}`},
		{name: "zero on nothing", cpus: 0, want: `null`},
		{name: "too small", cpus: 0.001, wantErr: `cpus 0.001 is out of range: want 0 (no limit) or at least 0.01`},
		{name: "negative", cpus: -1, wantErr: `cpus -1 is out of range: want 0 (no limit) or at least 0.01`},
		{name: "NaN", cpus: math.NaN(), wantErr: `cpus NaN is out of range: want 0 (no limit) or at least 0.01`},
		{name: "Inf", cpus: math.Inf(1), wantErr: `cpus +Inf is out of range: want 0 (no limit) or at least 0.01`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.opts...)
			err := WithCPUs(tt.cpus)(s)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if got := resourcesJSON(t, s.Linux.Resources.CPU); got != tt.want {
				t.Errorf("CPU = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestWithCPUShares(t *testing.T) {
	tests := []struct {
		name          string
		opts          []SpecOpt
		shares        int64
		want, wantErr string
	}{
		{name: "set", shares: 512, want: `{"shares":512}`},
		{name: "clamp low", shares: 1, want: `{"shares":2}`},
		{name: "clamp high", shares: 1 << 20, want: `{"shares":262144}`},
		{name: "zero removes", opts: []SpecOpt{WithCPUShares(100), WithCPUs(1)}, shares: 0, want: `{"quota":100000,"period":100000}`},
		{name: "zero on nothing", shares: 0, want: `null`},
		{name: "negative", shares: -1, wantErr: `cpu shares -1 is negative`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.opts...)
			err := WithCPUShares(tt.shares)(s)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if got := resourcesJSON(t, s.Linux.Resources.CPU); got != tt.want {
				t.Errorf("CPU = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestWithCpuset(t *testing.T) {
	tests := []struct {
		name, cpus, mems, want, wantErr string
	}{
		{name: "both", cpus: "0-3,5", mems: "0", want: `{"cpus":"0-3,5","mems":"0"}`},
		{name: "cpus only", cpus: "1", want: `{"cpus":"1"}`},
		{name: "empty", want: `{}`},
		{name: "equal range", cpus: "2-2", want: `{"cpus":"2-2"}`},
		{name: "reversed", cpus: "3-1", wantErr: `invalid cpuset cpus "3-1": want a list such as "0-3,5"`},
		{name: "trailing comma", cpus: "1,", wantErr: `invalid cpuset cpus "1,": want a list such as "0-3,5"`},
		{name: "word", cpus: "all", wantErr: `invalid cpuset cpus "all": want a list such as "0-3,5"`},
		{name: "open range", cpus: "1-", wantErr: `invalid cpuset cpus "1-": want a list such as "0-3,5"`},
		{name: "huge", cpus: "99999999999", wantErr: `invalid cpuset cpus "99999999999": want a list such as "0-3,5"`},
		{name: "huge hi", cpus: "1-99999999999", wantErr: `invalid cpuset cpus "1-99999999999": want a list such as "0-3,5"`},
		{name: "bad mems", cpus: "0", mems: "x", wantErr: `invalid cpuset mems "x": want a list such as "0-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Default()
			err := WithCpuset(tt.cpus, tt.mems)(s)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if got := resourcesJSON(t, s.Linux.Resources.CPU); got != tt.want {
				t.Errorf("CPU = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestWithPidsLimit(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{n: 100, want: `{"limit":100}`},
		{n: 0, want: `null`},
		{n: -1, want: `null`},
	}
	for _, tt := range tests {
		s := mustNew(t, WithPidsLimit(5))
		if err := WithPidsLimit(tt.n)(s); err != nil {
			t.Fatal(err)
		}
		if got := resourcesJSON(t, s.Linux.Resources.Pids); got != tt.want {
			t.Errorf("WithPidsLimit(%d): Pids = %s, want %s", tt.n, got, tt.want)
		}
	}
}
