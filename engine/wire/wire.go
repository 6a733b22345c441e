// Package wire is the compact binary form in which stack's processes hand
// each other configs at every container start, and talk afterwards: the
// engine to the shim (container.EncodeLaunch, and the control socket's
// messages, engine/shim) and the shim to the init (initproc.Message).
//
// Both receivers are fresh processes at every start. Decoding their
// configs with encoding/json cost them thousands of microseconds: its
// first use of a type builds encoders and field tables for everything the
// type reaches (for an OCI spec, the Windows, Solaris and VM sections
// too), in cold code and freshly faulted heap, and on the virtual machines
// stack runs on a page fault costs ~15 µs. Decoding this form touches a
// few pages, and neither receiver runs encoding/json at start.
//
// A form is a version byte chosen by its user, then fields in a fixed
// order: strings and lists prefixed by their length as uvarints, integers
// as varints, optional parts behind a presence byte. Lengths are checked
// against what is left, so corrupt input cannot make a decoder allocate
// much; the first error sticks, and Finish reports it.
package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Encoder appends fields to a buffer.
type Encoder struct{ b []byte }

// NewEncoder starts a form of the given version, with room for size
// bytes.
func NewEncoder(version byte, size int) *Encoder {
	e := &Encoder{b: make([]byte, 0, size)}
	e.b = append(e.b, version)
	return e
}

// Bytes returns the form so far.
func (e *Encoder) Bytes() []byte { return e.b }

func (e *Encoder) Uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *Encoder) Int(v int64)   { e.b = binary.AppendVarint(e.b, v) }

func (e *Encoder) Str(s string) {
	e.Uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

// Blob writes bytes; Decoder.Blob reads them back as a copy.
func (e *Encoder) Blob(b []byte) {
	e.Uint(uint64(len(b)))
	e.b = append(e.b, b...)
}

func (e *Encoder) Bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// Present writes a presence byte and returns ok, for
// `if e.Present(x != nil) { encode x }`.
func (e *Encoder) Present(ok bool) bool {
	e.Bool(ok)
	return ok
}

func (e *Encoder) Strs(v []string) {
	e.Uint(uint64(len(v)))
	for _, s := range v {
		e.Str(s)
	}
}

// StrMap writes a map in key order, so equal maps encode alike.
func (e *Encoder) StrMap(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.Uint(uint64(len(keys)))
	for _, k := range keys {
		e.Str(k)
		e.Str(m[k])
	}
}

// OptInt64 writes an optional integer (a *int64 of the runtime-spec).
func (e *Encoder) OptInt64(p *int64) {
	if e.Present(p != nil) {
		e.Int(*p)
	}
}

// OptUint64 writes an optional unsigned integer.
func (e *Encoder) OptUint64(p *uint64) {
	if e.Present(p != nil) {
		e.Uint(*p)
	}
}

// Decoder reads a form. The first error sticks: later reads return zero
// values, and the caller checks Finish once at the end.
type Decoder struct {
	b   []byte
	err error
	// s is b as one string, which the strings read are cut from: one
	// allocation for all of them rather than one each. In a fresh
	// process every allocation of a new size class touches a new page,
	// and the caller may reuse b.
	s string
}

// NewDecoder reads b, whose version byte the caller has checked and
// stripped. The decoder does not keep b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b, s: string(b)} }

// Fail records that what could not be read, unless an error is already
// recorded, and stops the decoding.
func (d *Decoder) Fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("truncated or corrupt %s", what)
	}
	d.b = nil
}

// Finish returns the first error, or one for bytes left over.
func (d *Decoder) Finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes left over", len(d.b))
	}
	return d.err
}

func (d *Decoder) Uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.Fail("integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *Decoder) Int64() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.Fail("integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Int reads an integer that must fit 32 bits (pids, exit codes, counts).
func (d *Decoder) Int() int {
	v := d.Int64()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.Fail("integer")
		return 0
	}
	return int(v)
}

func (d *Decoder) Uint32() uint32 { return uint32(d.uintUpTo(math.MaxUint32)) }
func (d *Decoder) Uint16() uint16 { return uint16(d.uintUpTo(math.MaxUint16)) }

// uintUpTo reads an unsigned integer that must not exceed max.
func (d *Decoder) uintUpTo(max uint64) uint64 {
	v := d.Uint()
	if v > max {
		d.Fail("integer")
		return 0
	}
	return v
}

// Count reads a length and checks it against what is left (each element
// takes at least one byte), so corrupt input cannot make it allocate much.
func (d *Decoder) Count() int {
	n := d.Uint()
	if n > uint64(len(d.b)) {
		d.Fail("length")
		return 0
	}
	return int(n)
}

func (d *Decoder) Str() string {
	n := d.Count()
	off := len(d.s) - len(d.b)
	d.b = d.b[n:]
	return d.s[off : off+n]
}

// Blob reads bytes written by Encoder.Blob, copied (nil when empty).
func (d *Decoder) Blob() []byte {
	n := d.Count()
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	copy(b, d.b)
	d.b = d.b[n:]
	return b
}

func (d *Decoder) Bool() bool {
	if len(d.b) == 0 || d.b[0] > 1 {
		d.Fail("flag")
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *Decoder) Present() bool { return d.Bool() }

// Strs reads a list; an empty one reads as nil.
func (d *Decoder) Strs() []string {
	n := d.Count()
	if n == 0 {
		return nil
	}
	v := make([]string, n)
	for i := range v {
		v[i] = d.Str()
	}
	return v
}

// StrMap reads a map; an empty one reads as nil.
func (d *Decoder) StrMap() map[string]string {
	n := d.Count()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.Str()
		m[k] = d.Str()
	}
	return m
}

func (d *Decoder) OptInt64() *int64 {
	if !d.Present() {
		return nil
	}
	v := d.Int64()
	return &v
}

func (d *Decoder) OptUint64() *uint64 {
	if !d.Present() {
		return nil
	}
	v := d.Uint()
	return &v
}
