package initproc

import (
	"errors"
	"fmt"

	"stack/engine/wire"
)

// The shim and the init exchange Messages in stack/engine/wire's compact
// binary form rather than JSON. The init is a fresh process at every
// container start, and decoding the config with encoding/json cost it
// about 130 page faults of cold code, reflection caches and scattered
// heap spans: 2.5–4 ms on the virtual machines stack runs on (a fault
// costs ~15 µs there), on the critical path of every start. The init
// links neither encoding/json nor reflection-driven codecs at all.
//
// A Message carries the spec in wire's subset (wire.Encoder.Spec): what
// the shim and the init read; the shim keeps the full spec.
//
// The shim and the init always come from one build, except that a
// restart policy can make a shim of an older build start the init binary
// installed since: a version mismatch is then an error naming both.
// Version 2 added the spec's namespaces and resources.
const wireVersion = 2

// MarshalBinary encodes m in the wire form.
func (m *Message) MarshalBinary() ([]byte, error) {
	e := wire.NewEncoder(wireVersion, 512)
	e.Str(string(m.Type))
	e.Int(int64(m.Pid))
	e.Str(m.Step)
	e.Str(m.Error)
	e.Str(m.ExecID)
	e.Int(int64(m.Status))
	e.Int(int64(m.Signal))
	if c := m.Config; e.Present(c != nil) {
		e.Str(c.ID)
		e.Str(c.Rootfs)
		e.Strs(c.Lower)
		e.Str(c.Upper)
		e.Str(c.Work)
		e.Uint(uint64(len(c.CgroupV1)))
		for _, cm := range c.CgroupV1 {
			e.Str(cm.Dir)
			e.Str(cm.Options)
		}
		if e.Present(c.Spec != nil) {
			e.Spec(c.Spec)
		}
	}
	if e.Present(m.Process != nil) {
		e.Process(m.Process)
	}
	return e.Bytes(), nil
}

// UnmarshalBinary decodes the wire form into m.
func (m *Message) UnmarshalBinary(b []byte) error {
	if len(b) == 0 {
		return errors.New("init message: empty")
	}
	if b[0] != wireVersion {
		return fmt.Errorf("init message: wire version %d, want %d (the shim and stack-init come from different builds of stack)", b[0], wireVersion)
	}
	d := wire.NewDecoder(b[1:])
	*m = Message{
		Type:   MsgType(d.Str()),
		Pid:    d.Int(),
		Step:   d.Str(),
		Error:  d.Str(),
		ExecID: d.Str(),
		Status: d.Int(),
		Signal: d.Int(),
	}
	if d.Present() {
		m.Config = decodeConfig(d)
	}
	if d.Present() {
		m.Process = d.Process()
	}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("init message: %w", err)
	}
	return nil
}

func decodeConfig(d *wire.Decoder) *Config {
	c := &Config{
		ID:     d.Str(),
		Rootfs: d.Str(),
		Lower:  d.Strs(),
		Upper:  d.Str(),
		Work:   d.Str(),
	}
	if n := d.Count(); n > 0 {
		c.CgroupV1 = make([]CgroupMount, n)
		for i := range c.CgroupV1 {
			c.CgroupV1[i] = CgroupMount{Dir: d.Str(), Options: d.Str()}
		}
	}
	if d.Present() {
		c.Spec = d.Spec()
	}
	return c
}
