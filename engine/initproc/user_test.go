package initproc

import (
	"reflect"
	"strings"
	"testing"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:1001::/home/bob:/bin/sh
`

const testGroup = `root:x:0:
staff:x:50:alice,bob
alice:x:1000:
wheel:x:10:alice
`

func TestResolveUser(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		extra   []string
		want    ExecUser
		wantErr string
	}{
		{name: "empty is root", spec: "", want: ExecUser{UID: 0, GID: 0, Groups: []uint32{0}, Home: "/root"}},
		{name: "by name", spec: "alice", want: ExecUser{UID: 1000, GID: 1000, Groups: []uint32{1000, 50, 10}, Home: "/home/alice"}},
		{name: "by uid", spec: "1001", want: ExecUser{UID: 1001, GID: 1001, Groups: []uint32{1001, 50}, Home: "/home/bob"}},
		{name: "unknown uid", spec: "4242", want: ExecUser{UID: 4242, GID: 0, Groups: []uint32{0}, Home: "/"}},
		{name: "uid:gid", spec: "4242:50", want: ExecUser{UID: 4242, GID: 50, Groups: []uint32{50}, Home: "/"}},
		{name: "name:group", spec: "alice:staff", want: ExecUser{UID: 1000, GID: 50, Groups: []uint32{50}, Home: "/home/alice"}},
		{name: "group_add", spec: "bob", extra: []string{"wheel", "77"}, want: ExecUser{UID: 1001, GID: 1001, Groups: []uint32{1001, 50, 10, 77}, Home: "/home/bob"}},
		{name: "unknown name", spec: "mallory", wantErr: "unable to find user mallory: no matching entries in passwd file"},
		{name: "unknown group", spec: "alice:nogroup", wantErr: "unable to find group nogroup"},
		{name: "uid too large", spec: "4294967295", wantErr: "uid out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveUser(tt.spec, strings.NewReader(testPasswd), strings.NewReader(testGroup), tt.extra)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ResolveUser(%q) error = %v, want %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveUser(%q): %v", tt.spec, err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("ResolveUser(%q) = %+v, want %+v", tt.spec, *got, tt.want)
			}
		})
	}
}

func TestResolveUserNoFiles(t *testing.T) {
	got, err := ResolveUser("123:456", nil, nil, nil)
	if err != nil || got.UID != 123 || got.GID != 456 {
		t.Fatalf("ResolveUser without passwd = %+v, %v", got, err)
	}
	if _, err := ResolveUser("alice", nil, nil, nil); err == nil {
		t.Fatal("a name without a passwd file must fail")
	}
}
