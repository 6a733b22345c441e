package shim

import (
	"encoding"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"stack/engine/container"
	"stack/engine/state"
)

func TestProtoRoundTrip(t *testing.T) {
	timeout := 3
	msgs := []struct {
		in  encoding.BinaryMarshaler
		out interface {
			encoding.BinaryUnmarshaler
		}
	}{
		{Request{Type: ReqExec, Timeout: &timeout, Signal: 15, Process: &specs.Process{Args: []string{"sh", "-c", "ünï \x00"}, Env: []string{"A=1"}, Terminal: true, ConsoleSize: &specs.Box{Height: 2, Width: 3}},
			Data: []byte{0, 1, 2}, Cond: CondHealthy, Rows: 24, Cols: 80, Stdin: true}, &Request{}},
		{Request{}, &Request{}},
		{Response{Type: RespOutput, Stream: "stderr", Data: []byte("x\n"), Error: "e", ExitCode: -1, NotRunning: true, OOMKilled: true, Pid: 42}, &Response{}},
		{Response{}, &Response{}},
		{Ready{Pid: 7, Step: "exec", Error: "not found", ExitCode: 127}, &Ready{}},
		{Ready{}, &Ready{}},
	}
	for _, m := range msgs {
		b, err := m.in.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := m.out.UnmarshalBinary(b); err != nil {
			t.Fatalf("%T: %v", m.in, err)
		}
		if got := reflect.ValueOf(m.out).Elem().Interface(); !reflect.DeepEqual(got, m.in) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, m.in)
		}
		// Every prefix is refused, as is another version.
		for i := range len(b) {
			if err := m.out.UnmarshalBinary(b[:i]); err == nil {
				t.Fatalf("%T: prefix of %d/%d bytes accepted", m.in, i, len(b))
			}
		}
		bad := slices.Clone(b)
		bad[0]++
		if err := m.out.UnmarshalBinary(bad); err == nil || !strings.Contains(err.Error(), "different builds") {
			t.Errorf("%T: other version: %v", m.in, err)
		}
	}
}

// Every field of the messages is carried: a new one fails this until it
// is added to wire.go and to the round trip above.
func TestProtoFields(t *testing.T) {
	for typ, fields := range map[reflect.Type][]string{
		reflect.TypeFor[Request]():  {"Type", "Timeout", "Signal", "Process", "Data", "Cond", "Rows", "Cols", "Stdin"},
		reflect.TypeFor[Response](): {"Type", "Stream", "Data", "Error", "ExitCode", "NotRunning", "OOMKilled", "Pid"},
		reflect.TypeFor[Ready]():    {"Pid", "Step", "Error", "ExitCode"},
	} {
		for i := range typ.NumField() {
			if f := typ.Field(i).Name; !slices.Contains(fields, f) {
				t.Errorf("%s.%s is new: carry it in wire.go", typ.Name(), f)
			}
		}
	}
}

// A shim listening at another protocol's socket name is reported as
// such while it lives, never as a container that is not running.
func TestDialOtherBuild(t *testing.T) {
	dir := t.TempDir()
	p := container.Paths{Dir: dir, RunDir: dir, ID: "c1"}
	if _, err := Dial(p); err != ErrNotRunning {
		t.Fatalf("no shim: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "shim.sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(p); err != ErrNotRunning {
		t.Fatalf("stale socket of a dead shim: %v", err)
	}
	l, err := state.LockFile(p.ShimLock())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if _, err := Dial(p); err == nil || !strings.Contains(err.Error(), "another build") {
		t.Fatalf("shim of another build: %v", err)
	}
}
