package network

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"stack/engine/errdefs"
	"stack/network/ipam"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "networks"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustCreate(t *testing.T, s *Store, o CreateOptions, reserved ...netip.Prefix) *Network {
	t.Helper()
	n, err := s.Create(o, reserved)
	if err != nil {
		t.Fatalf("Create(%+v) = %v", o, err)
	}
	return n
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

// owner makes a container-like 64-hex owner ID.
func owner(i int) string { return fmt.Sprintf("%064x", i+1) }

func TestCreateGetListRemove(t *testing.T) {
	s := newStore(t)
	n := mustCreate(t, s, CreateOptions{
		Name:    "p_default",
		Labels:  map[string]string{"com.docker.compose.project": "p"},
		Options: map[string]string{"com.docker.network.bridge.enable_icc": "true"},
	})
	if !isID(n.ID) || n.Bridge != "stk-"+n.ID[:11] || len(n.Bridge) != 15 {
		t.Errorf("ID, Bridge = %q, %q", n.ID, n.Bridge)
	}
	want := ipam.Config{Subnet: pfx("172.17.0.0/16"), IPRange: pfx("172.17.0.0/16"), Gateway: ip("172.17.0.1")}
	if n.IPAM() != want || n.Driver != "bridge" || n.MTU != 1500 || n.Created.IsZero() {
		t.Errorf("Create = %+v", n)
	}
	for _, ref := range []string{"p_default", n.ID, n.ID[:1], n.ID[:12]} {
		got, err := s.Get(ref)
		if err != nil || !reflect.DeepEqual(got, n) {
			t.Errorf("Get(%q) = %+v, %v, want %+v", ref, got, err, n)
		}
	}
	for _, ref := range []string{"", "nope", "P_DEFAULT", "z", n.ID + "0", "../" + n.ID} {
		if _, err := s.Get(ref); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", ref, err)
		}
	}

	b := mustCreate(t, s, CreateOptions{Name: "a_net"})
	list, err := s.List()
	if err != nil || len(list) != 2 || list[0].Name != "a_net" || list[1].Name != "p_default" {
		t.Fatalf("List = %v, %v, want a_net, p_default", list, err)
	}

	if err := s.Remove(n.ID); err != nil {
		t.Fatalf("Remove = %v", err)
	}
	if _, err := s.Get(n.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Get after Remove = %v, want ErrNotFound", err)
	}
	if err := s.Remove(n.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second Remove = %v, want ErrNotFound", err)
	}
	if err := s.Remove("p_default"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Remove(name) = %v, want ErrNotFound (full IDs only)", err)
	}
	if list, err := s.List(); err != nil || len(list) != 1 || list[0].ID != b.ID {
		t.Errorf("List after Remove = %v, %v", list, err)
	}
	// The removed network's subnet is free again.
	if c := mustCreate(t, s, CreateOptions{Name: "c"}); c.Subnet != pfx("172.17.0.0/16") {
		t.Errorf("subnet after Remove = %s, want 172.17.0.0/16", c.Subnet)
	}
}

func TestGetAmbiguousPrefix(t *testing.T) {
	s := newStore(t)
	// 17 networks: two IDs must share a first hex digit.
	for i := range 17 {
		mustCreate(t, s, CreateOptions{Name: fmt.Sprintf("n%d", i)})
	}
	seen := map[byte]bool{}
	list, _ := s.List()
	var dup string
	for _, n := range list {
		if seen[n.ID[0]] {
			dup = n.ID[:1]
		}
		seen[n.ID[0]] = true
	}
	if _, err := s.Get(dup); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("Get(%q) = %v, want ambiguous ErrInvalid", dup, err)
	}
	// An exact name wins over an ID prefix.
	mustCreate(t, s, CreateOptions{Name: dup, Subnet: "10.99.0.0/24"})
	if n, err := s.Get(dup); err != nil || n.Name != dup {
		t.Errorf("Get(%q) = %v, %v, want the network named so", dup, n, err)
	}
}

func TestCreateErrors(t *testing.T) {
	s := newStore(t)
	mustCreate(t, s, CreateOptions{Name: "p_front", Subnet: "172.20.0.0/16"})
	reserved := []netip.Prefix{pfx("10.0.0.0/8"), pfx("192.0.2.53/32")}
	tests := []struct {
		name string
		o    CreateOptions
		is   error
		want string
	}{
		{"name clash", CreateOptions{Name: "p_front"}, errdefs.ErrExists, `network with name "p_front" already exists`},
		{"no name", CreateOptions{}, errdefs.ErrInvalid, `create network "": a network needs a name`},
		{"bad name", CreateOptions{Name: "a/b"}, errdefs.ErrInvalid, `invalid network name "a/b"`},
		{"bad first char", CreateOptions{Name: "-a"}, errdefs.ErrInvalid, `invalid network name "-a"`},
		{"predefined", CreateOptions{Name: "host"}, errdefs.ErrInvalid, `network name "host" is reserved`},
		{"driver", CreateOptions{Name: "x", Driver: "overlay"}, errdefs.ErrInvalid, `create network "x": driver "overlay" is not supported`},
		{"ipam", CreateOptions{Name: "x", Subnet: "10.0.0.1/24"}, errdefs.ErrInvalid, `create network "x": ipam: subnet "10.0.0.1/24" has host bits set`},
		{"ipv6", CreateOptions{Name: "x", Subnet: "fd00::/64"}, errdefs.ErrInvalid, `only IPv4 is supported`},
		{"overlaps network", CreateOptions{Name: "q_back", Subnet: "172.20.0.0/16"}, errdefs.ErrInvalid, `create network "q_back": subnet 172.20.0.0/16 overlaps network "p_front" (172.20.0.0/16)`},
		{"inside network", CreateOptions{Name: "q_back", Subnet: "172.20.3.0/24"}, errdefs.ErrInvalid, `subnet 172.20.3.0/24 overlaps network "p_front" (172.20.0.0/16)`},
		{"overlaps host route", CreateOptions{Name: "x", Subnet: "10.1.0.0/16"}, errdefs.ErrInvalid, `create network "x": subnet 10.1.0.0/16 overlaps the host route 10.0.0.0/8`},
		{"covers nameserver", CreateOptions{Name: "x", Subnet: "192.0.2.0/24"}, errdefs.ErrInvalid, `subnet 192.0.2.0/24 overlaps the host route 192.0.2.53/32`},
		{"mtu", CreateOptions{Name: "x", MTU: 67}, errdefs.ErrInvalid, `mtu 67`},
		{"mtu option", CreateOptions{Name: "x", Options: map[string]string{"com.docker.network.driver.mtu": "big"}}, errdefs.ErrInvalid, `driver_opts com.docker.network.driver.mtu "big"`},
		{"mtu short option", CreateOptions{Name: "x", Options: map[string]string{"mtu": "70000"}}, errdefs.ErrInvalid, `driver_opts mtu "70000"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Create(tt.o, reserved)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Create = %v, want %v containing %q", err, tt.is, tt.want)
			}
		})
	}
	if list, _ := s.List(); len(list) != 1 {
		t.Errorf("after failed creates: %d networks, want 1", len(list))
	}
}

func TestCreateMTUAndOptions(t *testing.T) {
	s := newStore(t)
	tests := []struct {
		o    CreateOptions
		want int
	}{
		{CreateOptions{}, 1500},
		{CreateOptions{DefaultMTU: 1450}, 1450},
		{CreateOptions{DefaultMTU: 1450, MTU: 9000}, 9000},
		{CreateOptions{DefaultMTU: 1450, Options: map[string]string{"mtu": "1400"}}, 1400},
		{CreateOptions{Options: map[string]string{"com.docker.network.driver.mtu": "1380", "mtu": "1400"}}, 1380},
	}
	for i, tt := range tests {
		tt.o.Name = fmt.Sprintf("n%d", i)
		n := mustCreate(t, s, tt.o)
		if n.MTU != tt.want {
			t.Errorf("Create(%+v).MTU = %d, want %d", tt.o, n.MTU, tt.want)
		}
	}
	o := CreateOptions{Name: "full", Driver: "bridge", Internal: true, Attachable: true,
		Subnet: "10.5.0.0/16", IPRange: "10.5.1.0/24", Gateway: "10.5.0.254",
		Labels: map[string]string{"a": "b"}}
	n := mustCreate(t, s, o)
	o.Labels["a"] = "changed" // the record keeps its own copy
	got, err := s.Get("full")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Internal || !got.Attachable || got.Labels["a"] != "b" ||
		got.IPAM() != (ipam.Config{Subnet: pfx("10.5.0.0/16"), IPRange: pfx("10.5.1.0/24"), Gateway: ip("10.5.0.254")}) ||
		!reflect.DeepEqual(got, n) {
		t.Errorf("Get = %+v, want %+v", got, n)
	}
}

func TestPickedSubnets(t *testing.T) {
	s := newStore(t)
	// The host has docker0 on 172.17/16, a route on 172.19.5.0/24 and a
	// whole 172.20.0.0/14 on a VPN; a user network already sits on 172.18.
	reserved := []netip.Prefix{pfx("172.17.0.0/16"), pfx("172.19.5.0/24"), pfx("172.20.0.0/14")}
	mustCreate(t, s, CreateOptions{Name: "user", Subnet: "172.18.0.0/16"}, reserved...)
	var got []string
	for i := range 3 {
		n := mustCreate(t, s, CreateOptions{Name: fmt.Sprint("p", i)}, reserved...)
		got = append(got, n.Subnet.String())
	}
	want := []string{"172.24.0.0/16", "172.25.0.0/16", "172.26.0.0/16"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("picked %v, want %v", got, want)
	}
}

func TestSubnetsExhausted(t *testing.T) {
	s := newStore(t)
	_, err := s.Create(CreateOptions{Name: "x"}, []netip.Prefix{pfx("0.0.0.0/0")})
	if !errors.Is(err, ipam.ErrExhausted) {
		t.Errorf("Create with everything reserved = %v, want ErrExhausted", err)
	}
}

func TestAllocate(t *testing.T) {
	s := newStore(t)
	n := mustCreate(t, s, CreateOptions{Name: "n", Subnet: "10.1.0.0/24", IPRange: "10.1.0.0/25"})
	a, err := s.Allocate(n.ID, owner(0), netip.Addr{})
	if err != nil || a != ip("10.1.0.2") {
		t.Fatalf("Allocate = %v, %v, want 10.1.0.2", a, err)
	}
	// Idempotent, with or without asking for the address it has.
	for _, want := range []netip.Addr{{}, a} {
		if again, err := s.Allocate(n.ID, owner(0), want); err != nil || again != a {
			t.Errorf("Allocate again (want %v) = %v, %v, want %v", want, again, err, a)
		}
	}
	if _, err := s.Allocate(n.ID, owner(0), ip("10.1.0.9")); !errors.Is(err, errdefs.ErrExists) {
		t.Errorf("Allocate other static for same owner = %v, want ErrExists", err)
	}
	// A static address outside the ip_range but inside the subnet is fine.
	if b, err := s.Allocate(n.ID, owner(1), ip("10.1.0.200")); err != nil || b != ip("10.1.0.200") {
		t.Errorf("Allocate static = %v, %v", b, err)
	}
	if b, err := s.Allocate(n.ID, owner(2), ip("10.1.0.3")); err != nil || b != ip("10.1.0.3") {
		t.Errorf("Allocate static = %v, %v", b, err)
	}
	// The dynamic pick skips the static 10.1.0.3.
	if b, err := s.Allocate(n.ID, owner(3), netip.Addr{}); err != nil || b != ip("10.1.0.4") {
		t.Errorf("Allocate = %v, %v, want 10.1.0.4", b, err)
	}
	_, err = s.Allocate(n.ID, owner(4), ip("10.1.0.200"))
	if !errors.Is(err, errdefs.ErrExists) || !strings.Contains(err.Error(), "10.1.0.200") {
		t.Errorf("Allocate taken static = %v, want ErrExists naming the address", err)
	}
	for _, bad := range []string{"10.2.0.5", "10.1.0.1", "10.1.0.0", "10.1.0.255", "fd00::1"} {
		if _, err := s.Allocate(n.ID, owner(4), ip(bad)); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("Allocate(%s) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := s.Allocate(strings.Repeat("0", 64), owner(4), netip.Addr{}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Allocate on missing network = %v, want ErrNotFound", err)
	}
	if _, err := s.Allocate(n.ID, "", netip.Addr{}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("Allocate with no owner = %v, want ErrInvalid", err)
	}

	got, err := s.Allocations(n.ID)
	want := map[string]netip.Addr{owner(0): ip("10.1.0.2"), owner(1): ip("10.1.0.200"), owner(2): ip("10.1.0.3"), owner(3): ip("10.1.0.4")}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Allocations = %v, %v, want %v", got, err, want)
	}

	// Release frees the address; the lowest free one is handed out next.
	if err := s.Release(n.ID, owner(0)); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		s.Release(n.ID, owner(0)),                    // already released
		s.Release(n.ID, owner(99)),                   // never had one
		s.Release(strings.Repeat("0", 64), owner(1)), // no such network
		s.Release("garbage", owner(1)),
	} {
		if err != nil {
			t.Errorf("Release = %v, want nil", err)
		}
	}
	if b, err := s.Allocate(n.ID, owner(5), netip.Addr{}); err != nil || b != ip("10.1.0.2") {
		t.Errorf("Allocate after Release = %v, %v, want 10.1.0.2", b, err)
	}

	if err := s.Remove(n.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Allocations(n.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Allocations of removed network = %v, want ErrNotFound", err)
	}
	if err := s.Release(n.ID, owner(1)); err != nil {
		t.Errorf("Release on removed network = %v, want nil", err)
	}
}

func TestAllocationsEmpty(t *testing.T) {
	s := newStore(t)
	n := mustCreate(t, s, CreateOptions{Name: "n"})
	if got, err := s.Allocations(n.ID); err != nil || len(got) != 0 {
		t.Errorf("Allocations of a new network = %v, %v, want empty", got, err)
	}
}

func TestAllocateExhausted(t *testing.T) {
	s := newStore(t)
	n := mustCreate(t, s, CreateOptions{Name: "tiny", Subnet: "10.9.0.0/30"})
	if a, err := s.Allocate(n.ID, owner(0), netip.Addr{}); err != nil || a != ip("10.9.0.2") {
		t.Fatalf("Allocate = %v, %v, want 10.9.0.2", a, err)
	}
	_, err := s.Allocate(n.ID, owner(1), netip.Addr{})
	if !errors.Is(err, ipam.ErrExhausted) || !strings.Contains(err.Error(), `network "tiny"`) {
		t.Errorf("second Allocate on a /30 = %v, want ErrExhausted naming the network", err)
	}
}

func TestAllocateConcurrent(t *testing.T) {
	s := newStore(t)
	n := mustCreate(t, s, CreateOptions{Name: "n"})
	// A second Store on the same directory stands in for another process.
	s2, err := Open(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	const workers = 16
	got := make([]netip.Addr, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			st := s
			if i%2 == 1 {
				st = s2
			}
			got[i], errs[i] = st.Allocate(n.ID, owner(i), netip.Addr{})
		})
	}
	wg.Wait()
	seen := map[netip.Addr]int{}
	for i, a := range got {
		if errs[i] != nil {
			t.Fatalf("Allocate #%d = %v", i, errs[i])
		}
		if j, dup := seen[a]; dup {
			t.Errorf("owners %d and %d both got %v", j, i, a)
		}
		seen[a] = i
	}
	allocs, err := s.Allocations(n.ID)
	if err != nil || len(allocs) != workers {
		t.Errorf("Allocations = %d, %v, want %d", len(allocs), err, workers)
	}
}

func TestReleaseAll(t *testing.T) {
	s := newStore(t)
	a := mustCreate(t, s, CreateOptions{Name: "a"})
	b := mustCreate(t, s, CreateOptions{Name: "b"})
	for _, n := range []*Network{a, b} {
		for i := range 2 {
			if _, err := s.Allocate(n.ID, owner(i), netip.Addr{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.ReleaseAll(owner(0)); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseAll(owner(42)); err != nil {
		t.Errorf("ReleaseAll of an owner with nothing = %v", err)
	}
	for _, n := range []*Network{a, b} {
		got, err := s.Allocations(n.ID)
		if err != nil || len(got) != 1 || !got[owner(1)].IsValid() {
			t.Errorf("Allocations(%s) = %v, %v, want only owner 1", n.Name, got, err)
		}
	}
}

// TestCrashLeftovers: what a killed Create or Remove leaves neither shows in
// List nor survives the next write.
func TestCrashLeftovers(t *testing.T) {
	s := newStore(t)
	n := mustCreate(t, s, CreateOptions{Name: "n"})
	id := strings.Repeat("ab", 32)
	for _, d := range []string{tmpPrefix + id, rmPrefix + id, id} {
		// A half-made record of each kind: the last one is a directory
		// without network.json, which Create never leaves but a hand may.
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o711); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.dir, tmpPrefix+id, recordFile), []byte(`{"name":"half`), 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].ID != n.ID {
		t.Fatalf("List = %v, %v, want only %s", list, err, n.Name)
	}
	mustCreate(t, s, CreateOptions{Name: "m"})
	for _, d := range []string{tmpPrefix + id, rmPrefix + id} {
		if _, err := os.Stat(filepath.Join(s.dir, d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after Create: %v, want swept", d, err)
		}
	}
	// A corrupt record is reported, naming the file, not skipped.
	if err := os.WriteFile(filepath.Join(s.dir, id, recordFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(); err == nil || !strings.Contains(err.Error(), id) {
		t.Errorf("List with a corrupt record = %v, want an error naming it", err)
	}
}

func BenchmarkList50(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "networks"))
	if err != nil {
		b.Fatal(err)
	}
	for i := range 50 {
		// The default pools hold 31 subnets, so these bring their own.
		o := CreateOptions{Name: fmt.Sprint("n", i), Subnet: fmt.Sprintf("10.%d.0.0/16", i), Labels: map[string]string{"com.docker.compose.project": "p"}}
		if _, err := s.Create(o, nil); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if list, err := s.List(); err != nil || len(list) != 50 {
			b.Fatal(len(list), err)
		}
	}
}
