package initproc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The shim and the init exchange Messages in a compact binary form of
// their own rather than JSON. The init is a fresh process at every
// container start, and decoding the config with encoding/json cost it
// about 130 page faults of cold code, reflection caches and scattered
// heap spans: 2.5–4 ms on the virtual machines stack runs on (a fault
// costs ~15 µs there), on the critical path of every start. Decoding
// this form touches a few pages, and the init links neither
// encoding/json nor reflection-driven codecs at all.
//
// The form is a version byte, then the fields in a fixed order: strings
// and lists prefixed by their length as uvarints, integers as varints,
// optional parts behind a presence byte. It carries exactly what the init
// reads (see the field lists in wire_test.go, which fail when the
// runtime-spec gains a field nobody has decided about); the shim keeps the
// full spec.
//
// The shim and the init always come from one build, except that a
// restart policy can make a shim of an older build start the init binary
// installed since: a version mismatch is then an error naming both.
const wireVersion = 1

// MarshalBinary encodes m in the wire form.
func (m *Message) MarshalBinary() ([]byte, error) {
	e := &encoder{b: make([]byte, 0, 512)}
	e.b = append(e.b, wireVersion)
	e.str(string(m.Type))
	e.int(int64(m.Pid))
	e.str(m.Step)
	e.str(m.Error)
	e.str(m.ExecID)
	e.int(int64(m.Status))
	e.int(int64(m.Signal))
	if e.present(m.Config != nil) {
		e.config(m.Config)
	}
	if e.present(m.Process != nil) {
		e.process(m.Process)
	}
	return e.b, nil
}

// UnmarshalBinary decodes the wire form into m.
func (m *Message) UnmarshalBinary(b []byte) error {
	if len(b) == 0 {
		return errors.New("init message: empty")
	}
	if b[0] != wireVersion {
		return fmt.Errorf("init message: wire version %d, want %d (the shim and stack-init come from different builds of stack)", b[0], wireVersion)
	}
	d := &decoder{b: b[1:]}
	*m = Message{
		Type:   MsgType(d.str()),
		Pid:    d.intn(),
		Step:   d.str(),
		Error:  d.str(),
		ExecID: d.str(),
		Status: d.intn(),
		Signal: d.intn(),
	}
	if d.present() {
		m.Config = d.config()
	}
	if d.present() {
		m.Process = d.process()
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes left over", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("init message: %w", d.err)
	}
	return nil
}

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }

func (e *encoder) str(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// present writes a presence byte and returns ok, for
// `if e.present(x != nil) { encode x }`.
func (e *encoder) present(ok bool) bool {
	e.bool(ok)
	return ok
}

func (e *encoder) strs(v []string) {
	e.uint(uint64(len(v)))
	for _, s := range v {
		e.str(s)
	}
}

// strMap writes a map in key order, so equal maps encode alike.
func (e *encoder) strMap(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.uint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(m[k])
	}
}

func (e *encoder) config(c *Config) {
	e.str(c.ID)
	e.str(c.Rootfs)
	e.strs(c.Lower)
	e.str(c.Upper)
	e.str(c.Work)
	e.uint(uint64(len(c.CgroupV1)))
	for _, cm := range c.CgroupV1 {
		e.str(cm.Dir)
		e.str(cm.Options)
	}
	if e.present(c.Spec != nil) {
		e.spec(c.Spec)
	}
}

func (e *encoder) spec(s *specs.Spec) {
	e.str(s.Hostname)
	e.str(s.Domainname)
	e.strMap(s.Annotations)
	if e.present(s.Root != nil) {
		e.bool(s.Root.Readonly)
	}
	e.uint(uint64(len(s.Mounts)))
	for _, m := range s.Mounts {
		e.str(m.Destination)
		e.str(m.Type)
		e.str(m.Source)
		e.strs(m.Options)
	}
	if e.present(s.Linux != nil) {
		e.strMap(s.Linux.Sysctl)
		e.strs(s.Linux.MaskedPaths)
		e.strs(s.Linux.ReadonlyPaths)
	}
	if e.present(s.Process != nil) {
		e.process(s.Process)
	}
}

func (e *encoder) process(p *specs.Process) {
	e.bool(p.Terminal)
	if e.present(p.ConsoleSize != nil) {
		e.uint(uint64(p.ConsoleSize.Height))
		e.uint(uint64(p.ConsoleSize.Width))
	}
	e.uint(uint64(p.User.UID))
	e.uint(uint64(p.User.GID))
	if e.present(p.User.Umask != nil) {
		e.uint(uint64(*p.User.Umask))
	}
	e.uint(uint64(len(p.User.AdditionalGids)))
	for _, g := range p.User.AdditionalGids {
		e.uint(uint64(g))
	}
	e.str(p.User.Username)
	e.strs(p.Args)
	e.strs(p.Env)
	e.str(p.Cwd)
	if c := p.Capabilities; e.present(c != nil) {
		e.strs(c.Bounding)
		e.strs(c.Effective)
		e.strs(c.Inheritable)
		e.strs(c.Permitted)
		e.strs(c.Ambient)
	}
	e.uint(uint64(len(p.Rlimits)))
	for _, r := range p.Rlimits {
		e.str(r.Type)
		e.uint(r.Hard)
		e.uint(r.Soft)
	}
	e.bool(p.NoNewPrivileges)
}

// decoder reads the wire form. The first error sticks: later reads return
// zero values, and the caller checks err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("truncated or corrupt %s", what)
	}
	d.b = nil
}

func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) intn() int {
	v, n := binary.Varint(d.b)
	if n <= 0 || v < math.MinInt32 || v > math.MaxInt32 {
		d.fail("integer")
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *decoder) uint32() uint32 {
	v := d.uint()
	if v > math.MaxUint32 {
		d.fail("integer")
		return 0
	}
	return uint32(v)
}

// count reads a length and checks it against what is left (each element
// takes at least one byte), so corrupt input cannot make it allocate much.
func (d *decoder) count() int {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail("length")
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.count()
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) bool() bool {
	if len(d.b) == 0 || d.b[0] > 1 {
		d.fail("flag")
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *decoder) present() bool { return d.bool() }

func (d *decoder) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	v := make([]string, n)
	for i := range v {
		v[i] = d.str()
	}
	return v
}

func (d *decoder) strMap() map[string]string {
	n := d.count()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

func (d *decoder) config() *Config {
	c := &Config{
		ID:     d.str(),
		Rootfs: d.str(),
		Lower:  d.strs(),
		Upper:  d.str(),
		Work:   d.str(),
	}
	if n := d.count(); n > 0 {
		c.CgroupV1 = make([]CgroupMount, n)
		for i := range c.CgroupV1 {
			c.CgroupV1[i] = CgroupMount{Dir: d.str(), Options: d.str()}
		}
	}
	if d.present() {
		c.Spec = d.spec()
	}
	return c
}

func (d *decoder) spec() *specs.Spec {
	s := &specs.Spec{
		Hostname:    d.str(),
		Domainname:  d.str(),
		Annotations: d.strMap(),
	}
	if d.present() {
		s.Root = &specs.Root{Readonly: d.bool()}
	}
	if n := d.count(); n > 0 {
		s.Mounts = make([]specs.Mount, n)
		for i := range s.Mounts {
			s.Mounts[i] = specs.Mount{Destination: d.str(), Type: d.str(), Source: d.str(), Options: d.strs()}
		}
	}
	if d.present() {
		s.Linux = &specs.Linux{Sysctl: d.strMap(), MaskedPaths: d.strs(), ReadonlyPaths: d.strs()}
	}
	if d.present() {
		s.Process = d.process()
	}
	return s
}

func (d *decoder) process() *specs.Process {
	p := &specs.Process{Terminal: d.bool()}
	if d.present() {
		p.ConsoleSize = &specs.Box{Height: uint(d.uint()), Width: uint(d.uint())}
	}
	p.User.UID = d.uint32()
	p.User.GID = d.uint32()
	if d.present() {
		umask := d.uint32()
		p.User.Umask = &umask
	}
	if n := d.count(); n > 0 {
		p.User.AdditionalGids = make([]uint32, n)
		for i := range p.User.AdditionalGids {
			p.User.AdditionalGids[i] = d.uint32()
		}
	}
	p.User.Username = d.str()
	p.Args = d.strs()
	p.Env = d.strs()
	p.Cwd = d.str()
	if d.present() {
		p.Capabilities = &specs.LinuxCapabilities{
			Bounding:    d.strs(),
			Effective:   d.strs(),
			Inheritable: d.strs(),
			Permitted:   d.strs(),
			Ambient:     d.strs(),
		}
	}
	if n := d.count(); n > 0 {
		p.Rlimits = make([]specs.POSIXRlimit, n)
		for i := range p.Rlimits {
			p.Rlimits[i] = specs.POSIXRlimit{Type: d.str(), Hard: d.uint(), Soft: d.uint()}
		}
	}
	p.NoNewPrivileges = d.bool()
	return p
}
