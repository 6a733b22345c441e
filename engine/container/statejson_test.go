package container

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestStateJSON: the hand-written encoder gives the bytes encoding/json
// would, for states with every field set, none, and strings that need
// escaping.
func TestStateJSON(t *testing.T) {
	at := time.Date(2026, 11, 24, 4, 11, 37, 251927123, time.UTC)
	states := []*State{
		{},
		{Status: Created},
		{Status: Exited, ExitCode: -1, FinishedAt: at},
		{
			Status: Running, Pid: 123, ShimPid: 45, StartedAt: at.In(time.FixedZone("X", 3600)),
			FinishedAt: at.Add(time.Second), ExitCode: 137, OOMKilled: true,
			Error:        "init: \"pivot_root\" <failed> & \x01\t\n\r\b\f\\ \u2028\u2029 \xff é 日本",
			RestartCount: 3, ManualStop: true,
			Health: &Health{Status: "unhealthy", FailingStreak: 2, Log: []HealthProbe{
				{Start: at, End: at.Add(time.Millisecond), ExitCode: 1, Output: "line1\nline2\x00"},
				{Start: at, End: at, Output: ""},
			}},
			Ports: []PortBinding{
				{Proto: "tcp", HostIP: "127.0.0.1", HostPort: 8080, HostPortEnd: 8082, ContainerPort: 80},
				{Proto: "udp", ContainerPort: 53},
			},
		},
		{Status: Running, Health: &Health{Status: "starting"}},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		b := make([]byte, r.IntN(20))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		states = append(states, &State{Status: Status(b), Error: string(b) + "\u2029"})
	}
	for _, s := range states {
		want, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if got := appendStateJSON(nil, s); string(got) != string(want) {
			t.Errorf("appendStateJSON(%+v) =\n%s\nwant\n%s", s, got, want)
		}
	}
}

// TestStateJSONFields fails when State gains a field the encoder does not
// write: a state with every field set must read back whole.
func TestStateJSONFields(t *testing.T) {
	var s State
	fillAll(reflect.ValueOf(&s).Elem())
	var back State
	if err := json.Unmarshal(appendStateJSON(nil, &s), &back); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(&s)
	got, _ := json.Marshal(&back)
	if string(got) != string(want) {
		t.Errorf("read back %s\nwant %s\n(a field of State that appendStateJSON does not write?)", got, want)
	}
}

// fillAll sets every field reachable from v to a value that is not zero.
func fillAll(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint16:
		v.SetUint(7)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillAll(v.Index(0))
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)))
			return
		}
		for i := range v.NumField() {
			fillAll(v.Field(i))
		}
	default:
		panic("fillAll: add a case for " + v.Type().String())
	}
}
