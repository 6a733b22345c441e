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

func TestLaunchRoundTrip(t *testing.T) {
	for name, c := range map[string]*Config{"full": fullConfig(), "empty": {}} {
		got, err := DecodeLaunch(EncodeLaunch(c))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s: round trip:\n got %+v\nwant %+v", name, got, c)
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
	got, err := DecodeLaunch(EncodeLaunch(&c))
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
	b := EncodeLaunch(fullConfig())
	for i := range len(b) {
		if _, err := DecodeLaunch(b[:i]); err == nil {
			t.Fatalf("prefix of %d/%d bytes accepted", i, len(b))
		}
	}
	if _, err := DecodeLaunch(append(slices.Clone(b), 0)); err == nil {
		t.Error("trailing byte accepted")
	}
	bad := slices.Clone(b)
	bad[0]++
	if _, err := DecodeLaunch(bad); err == nil || !strings.Contains(err.Error(), "different builds") {
		t.Errorf("other version: %v", err)
	}
}

// Every field of Config and its parts is carried. A new field fails this
// until it is added to launch.go (and here to fullConfig).
func TestLaunchCarriesEveryField(t *testing.T) {
	full := reflect.ValueOf(fullConfig()).Elem()
	var check func(v reflect.Value, path string)
	check = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() {
				t.Errorf("%s is not set in fullConfig", path)
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
				t.Errorf("%s is empty in fullConfig", path)
				return
			}
			check(v.Index(0), path+"[0]")
		default:
			if v.IsZero() {
				t.Errorf("%s is zero in fullConfig: set it, and carry it in launch.go", path)
			}
		}
	}
	check(full, "Config")
}
