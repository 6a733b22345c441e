package container

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fullConfig sets every field of Config and of what it holds.
func fullConfig() *Config {
	timeout, limit := 7, int64(64<<20)
	return &Config{
		ID:          "0123456789abcdef",
		Name:        "demo-web-1",
		Created:     time.Unix(1_700_000_000, 123456789),
		Image:       "sha256:abc",
		ImageName:   "busybox",
		Labels:      map[string]string{"com.docker.compose.project": "demo", "empty": ""},
		Spec:        &specs.Spec{Hostname: "web", Process: &specs.Process{Args: []string{"httpd", "-f"}}, Linux: &specs.Linux{Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}}},
		Lower:       []string{"/l/1", "/l/2"},
		Entrypoint:  []string{"/bin/sh", "-c"},
		Cmd:         []string{"echo ünïcode \x00"},
		Restart:     RestartPolicy{Name: "on-failure", MaxRetries: 3},
		StopSignal:  "SIGQUIT",
		StopTimeout: &timeout,
		AutoRemove:  true,
		OpenStdin:   true,
		LogOptions:  map[string]string{"max-size": "10m"},
		NetworkMode: NetworkBridge,
		Endpoints: []Endpoint{{
			NetworkID: "n1", NetworkName: "demo_default", Bridge: "stk-n1", Internal: true, MTU: 1500,
			Address: netip.MustParsePrefix("172.18.0.5/16"), Gateway: netip.MustParseAddr("172.18.0.1"),
			MAC: "02:42:ac:12:00:05", Aliases: []string{"web"}, DNSDir: "/run/stack/dns/n1",
		}, {NetworkID: "n2"}},
		Ports:        []PortBinding{{Proto: "udp", HostIP: "127.0.0.1", HostPort: 8080, HostPortEnd: 8082, ContainerPort: 80}},
		ExposedPorts: []string{"80/tcp"},
		DNS:          DNSConfig{Servers: []string{"10.0.0.2"}, Search: []string{"example.org"}, Options: []string{"ndots:2"}, Links: map[string]string{"db": "demo-db-1"}},
		Healthcheck: &Healthcheck{Test: []string{"CMD-SHELL", "true"}, Interval: time.Second, Timeout: 2 * time.Second,
			StartPeriod: 3 * time.Second, StartInterval: 4 * time.Second, Retries: 5},
		Mounts: []Mount{{Type: "volume", Name: "data", Source: "/v/data/_data", Target: "/data", ReadOnly: true, Propagation: "rprivate", Anonymous: true}},
	}
}

// fullState sets every field of State and of what it holds.
func fullState() *State {
	t0 := time.Unix(1_700_000_000, 5).UTC()
	return &State{
		Status: Running, Pid: 10, ShimPid: 9, StartedAt: t0, FinishedAt: t0.Add(time.Second),
		ExitCode: 137, OOMKilled: true, Error: "boom", RestartCount: 2, ManualStop: true,
		Health: &Health{Status: HealthUnhealthy, FailingStreak: 3, Log: []HealthProbe{{Start: t0, End: t0.Add(time.Millisecond), ExitCode: 1, Output: "no\n"}}},
		Ports:  []PortBinding{{Proto: "tcp", HostIP: "127.0.0.1", HostPort: 32768, HostPortEnd: 32770, ContainerPort: 80}},
	}
}

func TestLaunchRoundTrip(t *testing.T) {
	for name, in := range map[string]struct {
		c  *Config
		st *State
	}{"full": {fullConfig(), fullState()}, "empty": {&Config{}, &State{}}, "no state": {&Config{}, nil}} {
		c, st, err := DecodeLaunch(EncodeLaunch(in.c, in.st))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(c, in.c) {
			t.Errorf("%s: config round trip:\n got %+v\nwant %+v", name, c, in.c)
		}
		if !reflect.DeepEqual(st, in.st) {
			t.Errorf("%s: state round trip:\n got %+v\nwant %+v", name, st, in.st)
		}
	}
}

// A config read back from config.json launches the same as the one
// that was saved (times lose only their location).
func TestLaunchFromJSON(t *testing.T) {
	b, err := json.Marshal(fullConfig())
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	got, _, err := DecodeLaunch(EncodeLaunch(&c, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Created.Equal(c.Created) {
		t.Errorf("created %v, want %v", got.Created, c.Created)
	}
	got.Created = c.Created
	if !reflect.DeepEqual(got, &c) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
	}
}

func TestLaunchCorrupt(t *testing.T) {
	b := EncodeLaunch(fullConfig(), fullState())
	for i := range len(b) {
		if _, _, err := DecodeLaunch(b[:i]); err == nil {
			t.Fatalf("prefix of %d/%d bytes accepted", i, len(b))
		}
	}
	if _, _, err := DecodeLaunch(append(slices.Clone(b), 0)); err == nil {
		t.Error("trailing byte accepted")
	}
	bad := slices.Clone(b)
	bad[0]++
	if _, _, err := DecodeLaunch(bad); err == nil || !strings.Contains(err.Error(), "different builds") {
		t.Errorf("other version: %v", err)
	}
}

// Every field of Config, State and their parts is carried. A new field
// fails this until it is added to launch.go (and here to fullConfig or
// fullState).
func TestLaunchCarriesEveryField(t *testing.T) {
	var check func(v reflect.Value, path string)
	check = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() {
				t.Errorf("%s is not set in fullConfig or fullState", path)
				return
			}
			if path != "Config.Spec" { // wire's spec_test.go lists its fields
				check(v.Elem(), path)
			}
		case reflect.Struct:
			if v.Type().PkgPath() != reflect.TypeFor[Config]().PkgPath() {
				return // time.Time, netip
			}
			for i := range v.NumField() {
				check(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		case reflect.Slice:
			if v.Len() == 0 {
				t.Errorf("%s is empty in fullConfig or fullState", path)
				return
			}
			check(v.Index(0), path+"[0]")
		default:
			if v.IsZero() {
				t.Errorf("%s is zero in fullConfig or fullState: set it, and carry it in launch.go", path)
			}
		}
	}
	check(reflect.ValueOf(fullConfig()).Elem(), "Config")
	check(reflect.ValueOf(fullState()).Elem(), "State")
}
