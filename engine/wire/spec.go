package wire

import specs "github.com/opencontainers/runtime-spec/specs-go"

// Spec writes the part of an OCI spec that the shim and the init read:
// the process, root, hostname, mounts, annotations, and of Linux the
// sysctls, masked and read-only paths, namespaces and the resources the
// shim turns into cgroup limits. The rest is dropped (see the field lists
// in spec_test.go, which fail when the runtime-spec gains a field nobody
// has decided about): a decoded spec is for running a container, never
// for saving.
func (e *Encoder) Spec(s *specs.Spec) {
	e.Str(s.Hostname)
	e.Str(s.Domainname)
	e.StrMap(s.Annotations)
	if e.Present(s.Root != nil) {
		e.Bool(s.Root.Readonly)
	}
	e.Uint(uint64(len(s.Mounts)))
	for _, m := range s.Mounts {
		e.Str(m.Destination)
		e.Str(m.Type)
		e.Str(m.Source)
		e.Strs(m.Options)
	}
	if l := s.Linux; e.Present(l != nil) {
		e.StrMap(l.Sysctl)
		e.Strs(l.MaskedPaths)
		e.Strs(l.ReadonlyPaths)
		e.Uint(uint64(len(l.Namespaces)))
		for _, ns := range l.Namespaces {
			e.Str(string(ns.Type))
			e.Str(ns.Path)
		}
		if r := l.Resources; e.Present(r != nil) {
			e.resources(r)
		}
	}
	if e.Present(s.Process != nil) {
		e.Process(s.Process)
	}
}

func (e *Encoder) resources(r *specs.LinuxResources) {
	if m := r.Memory; e.Present(m != nil) {
		e.OptInt64(m.Limit)
		e.OptInt64(m.Swap)
		e.OptInt64(m.Reservation)
	}
	if c := r.CPU; e.Present(c != nil) {
		e.OptUint64(c.Shares)
		e.OptInt64(c.Quota)
		e.OptUint64(c.Period)
		e.Str(c.Cpus)
		e.Str(c.Mems)
	}
	if p := r.Pids; e.Present(p != nil) {
		e.OptInt64(p.Limit)
	}
}

// Process writes the part of an OCI process the init reads.
func (e *Encoder) Process(p *specs.Process) {
	e.Bool(p.Terminal)
	if e.Present(p.ConsoleSize != nil) {
		e.Uint(uint64(p.ConsoleSize.Height))
		e.Uint(uint64(p.ConsoleSize.Width))
	}
	e.Uint(uint64(p.User.UID))
	e.Uint(uint64(p.User.GID))
	if e.Present(p.User.Umask != nil) {
		e.Uint(uint64(*p.User.Umask))
	}
	e.Uint(uint64(len(p.User.AdditionalGids)))
	for _, g := range p.User.AdditionalGids {
		e.Uint(uint64(g))
	}
	e.Str(p.User.Username)
	e.Strs(p.Args)
	e.Strs(p.Env)
	e.Str(p.Cwd)
	if c := p.Capabilities; e.Present(c != nil) {
		e.Strs(c.Bounding)
		e.Strs(c.Effective)
		e.Strs(c.Inheritable)
		e.Strs(c.Permitted)
		e.Strs(c.Ambient)
	}
	e.Uint(uint64(len(p.Rlimits)))
	for _, r := range p.Rlimits {
		e.Str(r.Type)
		e.Uint(r.Hard)
		e.Uint(r.Soft)
	}
	e.Bool(p.NoNewPrivileges)
}

// Spec reads what Encoder.Spec wrote.
func (d *Decoder) Spec() *specs.Spec {
	s := &specs.Spec{
		Hostname:    d.Str(),
		Domainname:  d.Str(),
		Annotations: d.StrMap(),
	}
	if d.Present() {
		s.Root = &specs.Root{Readonly: d.Bool()}
	}
	if n := d.Count(); n > 0 {
		s.Mounts = make([]specs.Mount, n)
		for i := range s.Mounts {
			s.Mounts[i] = specs.Mount{Destination: d.Str(), Type: d.Str(), Source: d.Str(), Options: d.Strs()}
		}
	}
	if d.Present() {
		l := &specs.Linux{Sysctl: d.StrMap(), MaskedPaths: d.Strs(), ReadonlyPaths: d.Strs()}
		if n := d.Count(); n > 0 {
			l.Namespaces = make([]specs.LinuxNamespace, n)
			for i := range l.Namespaces {
				l.Namespaces[i] = specs.LinuxNamespace{Type: specs.LinuxNamespaceType(d.Str()), Path: d.Str()}
			}
		}
		if d.Present() {
			l.Resources = d.resources()
		}
		s.Linux = l
	}
	if d.Present() {
		s.Process = d.Process()
	}
	return s
}

func (d *Decoder) resources() *specs.LinuxResources {
	r := &specs.LinuxResources{}
	if d.Present() {
		r.Memory = &specs.LinuxMemory{Limit: d.OptInt64(), Swap: d.OptInt64(), Reservation: d.OptInt64()}
	}
	if d.Present() {
		r.CPU = &specs.LinuxCPU{Shares: d.OptUint64(), Quota: d.OptInt64(), Period: d.OptUint64(), Cpus: d.Str(), Mems: d.Str()}
	}
	if d.Present() {
		r.Pids = &specs.LinuxPids{Limit: d.OptInt64()}
	}
	return r
}

// Process reads what Encoder.Process wrote.
func (d *Decoder) Process() *specs.Process {
	p := &specs.Process{Terminal: d.Bool()}
	if d.Present() {
		p.ConsoleSize = &specs.Box{Height: uint(d.Uint()), Width: uint(d.Uint())}
	}
	p.User.UID = d.Uint32()
	p.User.GID = d.Uint32()
	if d.Present() {
		umask := d.Uint32()
		p.User.Umask = &umask
	}
	if n := d.Count(); n > 0 {
		p.User.AdditionalGids = make([]uint32, n)
		for i := range p.User.AdditionalGids {
			p.User.AdditionalGids[i] = d.Uint32()
		}
	}
	p.User.Username = d.Str()
	p.Args = d.Strs()
	p.Env = d.Strs()
	p.Cwd = d.Str()
	if d.Present() {
		p.Capabilities = &specs.LinuxCapabilities{
			Bounding:    d.Strs(),
			Effective:   d.Strs(),
			Inheritable: d.Strs(),
			Permitted:   d.Strs(),
			Ambient:     d.Strs(),
		}
	}
	if n := d.Count(); n > 0 {
		p.Rlimits = make([]specs.POSIXRlimit, n)
		for i := range p.Rlimits {
			p.Rlimits[i] = specs.POSIXRlimit{Type: d.Str(), Hard: d.Uint(), Soft: d.Uint()}
		}
	}
	p.NoNewPrivileges = d.Bool()
	return p
}
