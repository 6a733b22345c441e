package dns

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestReadResolvConf(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := write("plain", `# comment
; also a comment
nameserver 192.168.1.1
nameserver   fd00::53
nameserver not-an-ip
nameserver
domain old.example
search corp.example example.com
options ndots:2 edns0
options trust-ad
sortlist 10.0.0.0
`)
	stub := write("stub", "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n")
	stubPlus := write("stubplus", "nameserver 127.0.0.53\nnameserver 1.1.1.1\n")
	systemd := write("systemd", "nameserver 10.0.0.53\nnameserver 10.0.1.53\nsearch lan\n")

	tests := []struct {
		name, path, systemd string
		want                ResolvConf
		wantErr             bool
	}{
		{name: "plain", path: plain, systemd: systemd, want: ResolvConf{
			Nameservers: []string{"192.168.1.1", "fd00::53"},
			Search:      []string{"corp.example", "example.com"},
			Options:     []string{"ndots:2", "edns0", "trust-ad"},
		}},
		{name: "systemd stub", path: stub, systemd: systemd, want: ResolvConf{
			Nameservers: []string{"10.0.0.53", "10.0.1.53"},
			Search:      []string{"lan"},
		}},
		{name: "systemd stub, no systemd file", path: stub, systemd: filepath.Join(dir, "missing"), want: ResolvConf{
			Nameservers: []string{"127.0.0.53"},
			Search:      []string{"lan"},
			Options:     []string{"edns0", "trust-ad"},
		}},
		{name: "stub and another", path: stubPlus, systemd: systemd, want: ResolvConf{
			Nameservers: []string{"127.0.0.53", "1.1.1.1"},
		}},
		{name: "missing", path: filepath.Join(dir, "missing"), systemd: systemd, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readResolvConf(tt.path, tt.systemd)
			if (err != nil) != tt.wantErr {
				t.Fatalf("readResolvConf: %v, want error %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("readResolvConf = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestContainerResolvConf(t *testing.T) {
	host := ResolvConf{
		Nameservers: []string{"127.0.0.53"},
		Search:      []string{"corp.example"},
		Options:     []string{"edns0", "trust-ad"},
	}
	tests := []struct {
		name              string
		host              ResolvConf
		dnsSearch, dnsOpt []string
		want              string
	}{
		{name: "host", host: host, want: "nameserver 127.0.0.11\nsearch corp.example\noptions edns0 trust-ad ndots:0\n"},
		{name: "empty host", want: "nameserver 127.0.0.11\noptions ndots:0\n"},
		{name: "overrides", host: host, dnsSearch: []string{"a.example", "b.example"}, dnsOpt: []string{"ndots:3", "timeout:1"},
			want: "nameserver 127.0.0.11\nsearch a.example b.example\noptions ndots:3 timeout:1\n"},
		{name: "no search", host: host, dnsSearch: []string{"."}, want: "nameserver 127.0.0.11\noptions edns0 trust-ad ndots:0\n"},
		{name: "host ndots kept", host: ResolvConf{Options: []string{"ndots:1"}}, want: "nameserver 127.0.0.11\noptions ndots:1\n"},
		{name: "invalid ndots", host: ResolvConf{Options: []string{"ndots:x", "rotate"}}, want: "nameserver 127.0.0.11\noptions rotate ndots:0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(ContainerResolvConf(tt.host, tt.dnsSearch, tt.dnsOpt)); got != tt.want {
				t.Errorf("ContainerResolvConf =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestUpstreams(t *testing.T) {
	if got, want := (ResolvConf{}).Upstreams(), []string{"8.8.8.8", "8.8.4.4"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Upstreams() = %v, want %v", got, want)
	}
	rc := ResolvConf{Nameservers: []string{"127.0.0.53"}}
	if got := rc.Upstreams(); !reflect.DeepEqual(got, rc.Nameservers) {
		t.Errorf("Upstreams() = %v, want %v", got, rc.Nameservers)
	}
	u, err := parseUpstreams([]string{"10.0.0.1", "10.0.0.2:5353", "[fd00::1]:53", "fd00::2"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.addrs; len(got) != 3 || got[0].String() != "10.0.0.1:53" || got[1].String() != "10.0.0.2:5353" || got[2].String() != "[fd00::1]:53" {
		t.Errorf("parseUpstreams = %v, want the first three, port 53 by default", got)
	}
	if u.timeout != DefaultTimeout {
		t.Errorf("timeout = %v, want %v", u.timeout, DefaultTimeout)
	}
	if _, err := parseUpstreams([]string{"dns.example"}, 0); err == nil {
		t.Error("parseUpstreams(a host name) succeeded, want an error")
	}
}
