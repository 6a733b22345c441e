package network

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"stack/engine/errdefs"
	"stack/engine/state"
	"stack/network/ipam"
)

// Network is a user-defined bridge network.
type Network struct {
	ID         string            `json:"id"` // 64 hex, random
	Name       string            `json:"name"`
	Driver     string            `json:"driver"` // "bridge"
	Created    time.Time         `json:"created"`
	Labels     map[string]string `json:"labels,omitempty"`
	Options    map[string]string `json:"options,omitempty"` // compose driver_opts
	Internal   bool              `json:"internal,omitempty"`
	Attachable bool              `json:"attachable,omitempty"`
	Subnet     netip.Prefix      `json:"subnet"`
	IPRange    netip.Prefix      `json:"ipRange"`
	Gateway    netip.Addr        `json:"gateway"`
	// Bridge is the Linux bridge's name: "stk-" and the first 11 characters
	// of the ID, 15 bytes, the kernel's limit (IFNAMSIZ-1).
	Bridge string `json:"bridge"`
	MTU    int    `json:"mtu"`
}

// IPAM returns the network's addressing.
func (n *Network) IPAM() ipam.Config {
	return ipam.Config{Subnet: n.Subnet, IPRange: n.IPRange, Gateway: n.Gateway}
}

// BridgePrefix starts the name of every bridge stack creates.
const BridgePrefix = "stk-"

// DefaultMTU is Docker's MTU (DefaultNetworkMtu) when the caller knows no
// better one.
const DefaultMTU = 1500

// The option keys that set a network's MTU: Docker's, and the short one
// podman and netavark accept.
const (
	optMTU      = "com.docker.network.driver.mtu"
	optMTUShort = "mtu"
)

// CreateOptions describe a network to create.
type CreateOptions struct {
	Name   string
	Driver string // "" or "bridge"
	Labels map[string]string
	// Options are compose's driver_opts, kept as given; only the MTU keys
	// mean anything to Create.
	Options    map[string]string
	Internal   bool
	Attachable bool
	// Subnet, IPRange and Gateway are compose's ipam.config strings. With no
	// subnet, Create picks one from ipam.DefaultPools.
	Subnet, IPRange, Gateway string
	// MTU, when 0, comes from Options["com.docker.network.driver.mtu"] or
	// Options["mtu"] (68..65535), else DefaultMTU.
	MTU int
	// DefaultMTU is the MTU of the host's default-route interface, as
	// netavark uses; 0 means 1500.
	DefaultMTU int
}

// Store keeps network records and address allocations in a directory
// (<root>/networks):
//
//	.lock                 serialises every writer (flock)
//	<id>/network.json     the Network
//	<id>/ipam.json        owner → address, absent until the first Allocate
//	.tmp-<id>, .rm-<id>   a create or remove in progress, or killed halfway
//
// A record appears and disappears by one rename of its directory, so a
// crash never leaves half a network for List to trip over; leftovers are
// swept by the next Create or Remove. Each file is written atomically
// (state.WriteFile). Readers (Get, List, Allocations) take no lock.
//
// A Store is safe for concurrent use by goroutines and processes: writers
// take the lock file anew for each call, and flock excludes even two
// descriptors of one process.
type Store struct {
	dir string
}

const (
	recordFile = "network.json"
	ipamFile   = "ipam.json"
	lockName   = ".lock"
	tmpPrefix  = ".tmp-"
	rmPrefix   = ".rm-"
)

// Open opens the store in dir, creating the directory (0o711) if needed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("open network store: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Create records a new network and returns it. It creates no bridge.
//
// Names are unique. A picked subnet (o.Subnet == "") avoids every other
// network's subnet and every prefix in reserved: the host's on-link routes
// and nameservers, which the caller reads. A user subnet that overlaps one
// of those is refused. Errors wrap errdefs.ErrExists (name taken),
// errdefs.ErrInvalid (bad options, overlapping subnet) or ipam.ErrExhausted
// (no subnet left in the pools).
func (s *Store) Create(o CreateOptions, reserved []netip.Prefix) (*Network, error) {
	n, err := newNetwork(o)
	if err != nil {
		return nil, fmt.Errorf("create network %q: %w", o.Name, err)
	}
	l, err := s.lock()
	if err != nil {
		return nil, fmt.Errorf("create network %q: %w", o.Name, err)
	}
	defer l.Unlock()
	s.sweep()
	nets, err := s.List()
	if err != nil {
		return nil, fmt.Errorf("create network %q: %w", o.Name, err)
	}
	for _, other := range nets {
		if other.Name == n.Name {
			return nil, fmt.Errorf("network with name %q %w", n.Name, errdefs.ErrExists)
		}
	}
	if err := pickSubnet(n, nets, reserved); err != nil {
		return nil, fmt.Errorf("create network %q: %w", n.Name, err)
	}
	for {
		n.ID = newID()
		n.Bridge = BridgePrefix + n.ID[:11]
		if !slices.ContainsFunc(nets, func(o *Network) bool { return o.ID == n.ID || o.Bridge == n.Bridge }) {
			break
		}
	}
	if err := s.writeNew(n); err != nil {
		return nil, fmt.Errorf("create network %q: %w", n.Name, err)
	}
	return n, nil
}

// newNetwork checks o and fills in everything but the ID, the bridge name
// and a picked subnet.
func newNetwork(o CreateOptions) (*Network, error) {
	if err := checkName(o.Name); err != nil {
		return nil, err
	}
	if o.Driver != "" && o.Driver != "bridge" {
		return nil, invalid(fmt.Errorf("driver %q is not supported: stack has only the bridge driver", o.Driver))
	}
	mtu, err := pickMTU(o)
	if err != nil {
		return nil, err
	}
	c, err := ipam.ParseConfig(o.Subnet, o.IPRange, o.Gateway)
	if err != nil {
		return nil, invalid(err)
	}
	return &Network{
		Name:       o.Name,
		Driver:     "bridge",
		Created:    time.Now().UTC().Round(0),
		Labels:     maps.Clone(o.Labels),
		Options:    maps.Clone(o.Options),
		Internal:   o.Internal,
		Attachable: o.Attachable,
		Subnet:     c.Subnet,
		IPRange:    c.IPRange,
		Gateway:    c.Gateway,
		MTU:        mtu,
	}, nil
}

// checkName applies Docker's rule for object names
// ([a-zA-Z0-9][a-zA-Z0-9_.-]*), which also keeps names safe as DNS labels'
// neighbours and in file names, and refuses Docker's predefined networks.
func checkName(name string) error {
	if name == "" {
		return invalid(errors.New("a network needs a name"))
	}
	for i, r := range name {
		alnum := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
		if !alnum && (i == 0 || r != '_' && r != '.' && r != '-') {
			return invalid(fmt.Errorf("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name))
		}
	}
	switch name {
	case "bridge", "host", "none":
		return invalid(fmt.Errorf("network name %q is reserved for Docker's predefined network", name))
	}
	return nil
}

func pickMTU(o CreateOptions) (int, error) {
	const lo, hi = 68, 65535 // IPv4's minimum (RFC 791) and the largest a bridge takes
	if o.MTU != 0 {
		if o.MTU < lo || o.MTU > hi {
			return 0, invalid(fmt.Errorf("mtu %d: want %d..%d", o.MTU, lo, hi))
		}
		return o.MTU, nil
	}
	for _, k := range []string{optMTU, optMTUShort} {
		v, ok := o.Options[k]
		if !ok {
			continue
		}
		m, err := strconv.Atoi(v)
		if err != nil || m < lo || m > hi {
			return 0, invalid(fmt.Errorf("driver_opts %s %q: want an MTU %d..%d", k, v, lo, hi))
		}
		return m, nil
	}
	if o.DefaultMTU >= lo && o.DefaultMTU <= hi {
		return o.DefaultMTU, nil
	}
	return DefaultMTU, nil
}

// pickSubnet checks n's user subnet against the other networks and the
// reserved prefixes, or picks one that avoids them all.
func pickSubnet(n *Network, nets []*Network, reserved []netip.Prefix) error {
	if n.Subnet.IsValid() {
		for _, o := range nets {
			if ipam.Overlaps(n.Subnet, o.Subnet) {
				return invalid(fmt.Errorf("subnet %s overlaps network %q (%s)", n.Subnet, o.Name, o.Subnet))
			}
		}
		for _, r := range reserved {
			if ipam.Overlaps(n.Subnet, r) {
				return invalid(fmt.Errorf("subnet %s overlaps the host route %s", n.Subnet, r))
			}
		}
		return nil
	}
	taken := slices.Clone(reserved)
	for _, o := range nets {
		taken = append(taken, o.Subnet)
	}
	p, err := ipam.NextSubnet(ipam.DefaultPools(), taken)
	if err != nil {
		return err
	}
	c := ipam.ForSubnet(p)
	n.Subnet, n.IPRange, n.Gateway = c.Subnet, c.IPRange, c.Gateway
	return nil
}

// writeNew lays out a network directory under a temporary name and renames
// it into place: the rename is the commit.
func (s *Store) writeNew(n *Network) error {
	data, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, tmpPrefix+n.ID)
	if err := os.Mkdir(tmp, 0o711); err != nil {
		return err
	}
	err = state.WriteFile(filepath.Join(tmp, recordFile), data, 0o644)
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, n.ID))
	}
	if err != nil {
		return errors.Join(err, os.RemoveAll(tmp))
	}
	return syncDir(s.dir)
}

// Get finds a network by full ID, exact name, or unique ID prefix, in that
// order, as Docker does. An ambiguous prefix wraps errdefs.ErrInvalid, no
// match errdefs.ErrNotFound.
func (s *Store) Get(ref string) (*Network, error) {
	if isID(ref) {
		n, err := s.read(ref)
		if err == nil || !errors.Is(err, errdefs.ErrNotFound) {
			return n, err
		}
	}
	nets, err := s.List()
	if err != nil {
		return nil, err
	}
	var byPrefix []*Network
	for _, n := range nets {
		if n.Name == ref {
			return n, nil
		}
		if ref != "" && strings.HasPrefix(n.ID, ref) {
			byPrefix = append(byPrefix, n)
		}
	}
	switch len(byPrefix) {
	case 0:
		return nil, fmt.Errorf("network %q: %w", ref, errdefs.ErrNotFound)
	case 1:
		return byPrefix[0], nil
	}
	return nil, invalid(fmt.Errorf("network %q is ambiguous: it prefixes the IDs of %d networks", ref, len(byPrefix)))
}

// List returns every network, sorted by name. It reads one small file per
// network and skips directories that are not records (leftovers of a create
// or remove that was killed).
func (s *Store) List() ([]*Network, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	var nets []*Network
	for _, e := range ents {
		if !e.IsDir() || !isID(e.Name()) {
			continue
		}
		n, err := s.read(e.Name())
		if errors.Is(err, errdefs.ErrNotFound) {
			continue // removed since ReadDir
		}
		if err != nil {
			return nil, fmt.Errorf("list networks: %w", err)
		}
		nets = append(nets, n)
	}
	slices.SortFunc(nets, func(a, b *Network) int { return strings.Compare(a.Name, b.Name) })
	return nets, nil
}

// read loads the record of network id.
func (s *Store) read(id string) (*Network, error) {
	path := filepath.Join(s.dir, id, recordFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("network %q: %w", id, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var n Network
	if err := json.Unmarshal(data, &n); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &n, nil
}

// Remove deletes the record of network id (the full ID) and its
// allocations. It wraps errdefs.ErrNotFound when there is none. It checks
// no use and removes no bridge: the caller does both first.
func (s *Store) Remove(id string) error {
	if !isID(id) {
		return fmt.Errorf("remove network %q: %w", id, errdefs.ErrNotFound)
	}
	l, err := s.lock()
	if err != nil {
		return fmt.Errorf("remove network %q: %w", id, err)
	}
	defer l.Unlock()
	s.sweep()
	rm := filepath.Join(s.dir, rmPrefix+id)
	if err := os.Rename(filepath.Join(s.dir, id), rm); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove network %q: %w", id, errdefs.ErrNotFound)
		}
		return fmt.Errorf("remove network %q: %w", id, err)
	}
	// The rename removed the record; what is left is garbage, swept next
	// time if this fails.
	if err := os.RemoveAll(rm); err != nil {
		return fmt.Errorf("remove network %q: %w", id, err)
	}
	return nil
}

// sweep removes what a killed Create or Remove left. The caller holds the
// lock, so no other writer is mid-way.
func (s *Store) sweep() {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, tmpPrefix) || strings.HasPrefix(n, rmPrefix) {
			os.RemoveAll(filepath.Join(s.dir, n)) // best effort: tried again next time
		}
	}
}

// allocFile is the content of ipam.json.
type allocFile struct {
	Addresses map[string]netip.Addr `json:"addresses"` // owner → address
}

// Allocate gives owner (a container ID) an address on network netID (the
// full ID). It is idempotent: an owner that has an address gets it back.
//
// want, unless zero, asks for that static address (compose ipv4_address):
// one outside the subnet, or the network, broadcast or gateway address,
// wraps errdefs.ErrInvalid; one held by another owner, or a want different
// from the owner's current address, wraps errdefs.ErrExists. Otherwise the
// lowest free address of the network's ip_range is picked; none left wraps
// ipam.ErrExhausted. A missing network wraps errdefs.ErrNotFound.
func (s *Store) Allocate(netID, owner string, want netip.Addr) (netip.Addr, error) {
	if owner == "" {
		return netip.Addr{}, invalid(fmt.Errorf("allocate address on network %q: no owner", netID))
	}
	if !isID(netID) {
		return netip.Addr{}, fmt.Errorf("allocate address: network %q: %w", netID, errdefs.ErrNotFound)
	}
	l, err := s.lock()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("allocate address on network %q: %w", netID, err)
	}
	defer l.Unlock()
	n, err := s.read(netID)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("allocate address: %w", err)
	}
	allocs, err := s.readAllocs(netID)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("allocate address on network %q: %w", n.Name, err)
	}
	if a, ok := allocs[owner]; ok {
		if !want.IsValid() || want == a {
			return a, nil
		}
		return netip.Addr{}, exists(fmt.Errorf("network %q: %s already has address %s, not %s", n.Name, state.ShortID(owner), a, want))
	}
	var a netip.Addr
	if want.IsValid() {
		if err := ipam.CheckAddr(n.IPAM(), want); err != nil {
			return netip.Addr{}, invalid(fmt.Errorf("network %q: %w", n.Name, err))
		}
		for o, held := range allocs {
			if held == want {
				return netip.Addr{}, exists(fmt.Errorf("network %q: address %s is already in use by %s", n.Name, want, state.ShortID(o)))
			}
		}
		a = want
	} else {
		used := make(map[netip.Addr]bool, len(allocs))
		for _, held := range allocs {
			used[held] = true
		}
		a, err = ipam.NextAddr(n.IPAM(), func(a netip.Addr) bool { return used[a] })
		if err != nil {
			return netip.Addr{}, fmt.Errorf("network %q: %w", n.Name, err)
		}
	}
	allocs[owner] = a
	if err := s.writeAllocs(netID, allocs); err != nil {
		return netip.Addr{}, fmt.Errorf("allocate address on network %q: %w", n.Name, err)
	}
	return a, nil
}

// Release frees owner's address on network netID. It is not an error when
// owner has none or the network is gone.
func (s *Store) Release(netID, owner string) error {
	if !isID(netID) {
		return nil
	}
	l, err := s.lock()
	if err != nil {
		return fmt.Errorf("release address on network %q: %w", netID, err)
	}
	defer l.Unlock()
	if err := s.release(netID, owner); err != nil {
		return fmt.Errorf("release address on network %q: %w", netID, err)
	}
	return nil
}

// release frees owner's address on netID; the caller holds the lock.
func (s *Store) release(netID, owner string) error {
	allocs, err := s.readAllocs(netID)
	if err != nil || allocs == nil {
		return err
	}
	if _, ok := allocs[owner]; !ok {
		return nil
	}
	delete(allocs, owner)
	return s.writeAllocs(netID, allocs)
}

// ReleaseAll frees owner's addresses on every network, as when a container
// is removed. Owners with no address are not an error.
func (s *Store) ReleaseAll(owner string) error {
	l, err := s.lock()
	if err != nil {
		return fmt.Errorf("release addresses of %s: %w", state.ShortID(owner), err)
	}
	defer l.Unlock()
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("release addresses of %s: %w", state.ShortID(owner), err)
	}
	var errs []error
	for _, e := range ents {
		if e.IsDir() && isID(e.Name()) {
			errs = append(errs, s.release(e.Name(), owner))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("release addresses of %s: %w", state.ShortID(owner), err)
	}
	return nil
}

// Allocations returns the addresses held on network netID (the full ID), by
// owner. A missing network wraps errdefs.ErrNotFound.
func (s *Store) Allocations(netID string) (map[string]netip.Addr, error) {
	if !isID(netID) {
		return nil, fmt.Errorf("network %q: %w", netID, errdefs.ErrNotFound)
	}
	allocs, err := s.readAllocs(netID)
	if err != nil {
		return nil, fmt.Errorf("network %q: addresses: %w", netID, err)
	}
	if allocs == nil {
		return nil, fmt.Errorf("network %q: %w", netID, errdefs.ErrNotFound)
	}
	return allocs, nil
}

// readAllocs reads the allocations of netID: nil (and no error) when the
// network does not exist, an empty map when it has none.
func (s *Store) readAllocs(netID string) (map[string]netip.Addr, error) {
	dir := filepath.Join(s.dir, netID)
	data, err := os.ReadFile(filepath.Join(dir, ipamFile))
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, recordFile)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil
			}
			return nil, err
		}
		return map[string]netip.Addr{}, nil
	}
	if err != nil {
		return nil, err
	}
	var f allocFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ipamFile), err)
	}
	if f.Addresses == nil {
		f.Addresses = map[string]netip.Addr{}
	}
	return f.Addresses, nil
}

func (s *Store) writeAllocs(netID string, allocs map[string]netip.Addr) error {
	data, err := json.MarshalIndent(allocFile{Addresses: allocs}, "", "  ")
	if err != nil {
		return err
	}
	return state.WriteFile(filepath.Join(s.dir, netID, ipamFile), data, 0o644)
}

func (s *Store) lock() (*state.Lock, error) {
	return state.LockFile(filepath.Join(s.dir, lockName))
}

// newID returns 64 random hex characters, as Docker's network IDs.
func newID() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}

// isID reports whether s is a full network ID. It also keeps references
// such as "../x" out of file paths.
func isID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// classed is an error that keeps its own text but also matches a sentinel
// of errdefs, so messages read "network "x": address ... is in use" rather
// than ending in the sentinel's words.
type classed struct {
	err, class error
}

func (e *classed) Error() string   { return e.err.Error() }
func (e *classed) Unwrap() []error { return []error{e.err, e.class} }

func invalid(err error) error { return &classed{err, errdefs.ErrInvalid} }
func exists(err error) error  { return &classed{err, errdefs.ErrExists} }
