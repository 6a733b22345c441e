package shim

import (
	"fmt"

	"stack/engine/wire"
)

// The control socket's messages (Request, Response) and the ready report
// (Ready) travel in stack/engine/wire's binary form, not JSON: the shim is
// a fresh process at every container start, and encoding/json's first
// use of a type (the exec request's OCI process, reflection caches, cold
// code) cost it about a millisecond of CPU on the wait for a container's
// exit. An exec request carries the process in wire's subset: what
// initproc.Exec reads.
//
// protoVersion is the first byte of every message. A command of another
// build meets a shim of this one at a differently named socket
// (socketPath), and is told so (Dial).
const protoVersion = 1

func checkVersion(what string, b []byte) (*wire.Decoder, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%s: empty message", what)
	}
	if b[0] != protoVersion {
		return nil, fmt.Errorf("%s: protocol version %d, want %d (the shim and the stack command come from different builds)", what, b[0], protoVersion)
	}
	return wire.NewDecoder(b[1:]), nil
}

func finish(what string, d *wire.Decoder) error {
	if err := d.Finish(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// MarshalBinary encodes r in the wire form.
func (r Request) MarshalBinary() ([]byte, error) {
	e := wire.NewEncoder(protoVersion, 64+len(r.Data))
	e.Str(string(r.Type))
	if e.Present(r.Timeout != nil) {
		e.Int(int64(*r.Timeout))
	}
	e.Int(int64(r.Signal))
	if e.Present(r.Process != nil) {
		e.Process(r.Process)
	}
	e.Blob(r.Data)
	e.Str(r.Cond)
	e.Uint(uint64(r.Rows))
	e.Uint(uint64(r.Cols))
	e.Bool(r.Stdin)
	return e.Bytes(), nil
}

// UnmarshalBinary decodes the wire form into r.
func (r *Request) UnmarshalBinary(b []byte) error {
	d, err := checkVersion("shim request", b)
	if err != nil {
		return err
	}
	*r = Request{Type: ReqType(d.Str())}
	if d.Present() {
		t := d.Int()
		r.Timeout = &t
	}
	r.Signal = d.Int()
	if d.Present() {
		r.Process = d.Process()
	}
	r.Data = d.Blob()
	r.Cond = d.Str()
	r.Rows = d.Uint16()
	r.Cols = d.Uint16()
	r.Stdin = d.Bool()
	return finish("shim request", d)
}

// MarshalBinary encodes r in the wire form.
func (r Response) MarshalBinary() ([]byte, error) {
	e := wire.NewEncoder(protoVersion, 64+len(r.Data)+len(r.Error))
	e.Str(string(r.Type))
	e.Str(r.Stream)
	e.Blob(r.Data)
	e.Str(r.Error)
	e.Int(int64(r.ExitCode))
	e.Bool(r.NotRunning)
	e.Bool(r.OOMKilled)
	e.Int(int64(r.Pid))
	return e.Bytes(), nil
}

// UnmarshalBinary decodes the wire form into r.
func (r *Response) UnmarshalBinary(b []byte) error {
	d, err := checkVersion("shim response", b)
	if err != nil {
		return err
	}
	*r = Response{
		Type:       RespType(d.Str()),
		Stream:     d.Str(),
		Data:       d.Blob(),
		Error:      d.Str(),
		ExitCode:   d.Int(),
		NotRunning: d.Bool(),
		OOMKilled:  d.Bool(),
		Pid:        d.Int(),
	}
	return finish("shim response", d)
}

// MarshalBinary encodes r in the wire form.
func (r Ready) MarshalBinary() ([]byte, error) {
	e := wire.NewEncoder(protoVersion, 32+len(r.Error))
	e.Int(int64(r.Pid))
	e.Str(r.Step)
	e.Str(r.Error)
	e.Int(int64(r.ExitCode))
	return e.Bytes(), nil
}

// UnmarshalBinary decodes the wire form into r.
func (r *Ready) UnmarshalBinary(b []byte) error {
	d, err := checkVersion("shim status", b)
	if err != nil {
		return err
	}
	*r = Ready{Pid: d.Int(), Step: d.Str(), Error: d.Str(), ExitCode: d.Int()}
	return finish("shim status", d)
}
