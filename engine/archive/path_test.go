package archive

import "testing"

func TestParsePath(t *testing.T) {
	tests := []struct {
		in               string
		clean, dir, base string
		dot, slash       bool
	}{
		{in: "/", clean: "/", dir: "/", base: ""},
		{in: "", clean: "/", dir: "/", base: ""},
		{in: ".", clean: "/", dir: "/", base: "", dot: true},
		{in: "/etc", clean: "/etc", dir: "/", base: "etc"},
		{in: "etc/", clean: "/etc", dir: "/", base: "etc", slash: true},
		{in: "/etc/.", clean: "/etc", dir: "/", base: "etc", dot: true},
		{in: "/a/b/../c", clean: "/a/c", dir: "/a", base: "c"},
		{in: "/../../x", clean: "/x", dir: "/", base: "x"},
	}
	for _, tt := range tests {
		got := parsePath(tt.in)
		want := cpPath{clean: tt.clean, dir: tt.dir, base: tt.base, dot: tt.dot, slash: tt.slash}
		if got != want {
			t.Errorf("parsePath(%q) = %+v, want %+v", tt.in, got, want)
		}
	}
}
