package image

import (
	"errors"
	"strings"
	"testing"

	"stack/engine/errdefs"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseReference(t *testing.T) {
	tests := []struct {
		in       string
		want     string // normalised
		familiar string
		wantErr  string
	}{
		{in: "busybox", want: "docker.io/library/busybox:latest", familiar: "busybox:latest"},
		{in: "busybox:1.36", want: "docker.io/library/busybox:1.36", familiar: "busybox:1.36"},
		{in: "library/busybox", want: "docker.io/library/busybox:latest", familiar: "busybox:latest"},
		{in: "docker.io/busybox", want: "docker.io/library/busybox:latest", familiar: "busybox:latest"},
		{in: "index.docker.io/library/busybox:x", want: "docker.io/library/busybox:x", familiar: "busybox:x"},
		{in: "foo/bar", want: "docker.io/foo/bar:latest", familiar: "foo/bar:latest"},
		{in: "foo/bar/baz:v1.2-rc_3", want: "docker.io/foo/bar/baz:v1.2-rc_3", familiar: "foo/bar/baz:v1.2-rc_3"},
		{in: "localhost/x", want: "localhost/x:latest", familiar: "localhost/x:latest"},
		{in: "localhost:5000/x:y", want: "localhost:5000/x:y", familiar: "localhost:5000/x:y"},
		{in: "ghcr.io/owner/app:2", want: "ghcr.io/owner/app:2", familiar: "ghcr.io/owner/app:2"},
		{in: "my-registry.example.com:443/a/b", want: "my-registry.example.com:443/a/b:latest", familiar: "my-registry.example.com:443/a/b:latest"},
		{in: "[::1]:5000/x", want: "[::1]:5000/x:latest", familiar: "[::1]:5000/x:latest"},
		{in: "Foo/bar", want: "Foo/bar:latest", familiar: "Foo/bar:latest"}, // upper case first part: a registry
		{in: "a__b.c-d---e", want: "docker.io/library/a__b.c-d---e:latest", familiar: "a__b.c-d---e:latest"},
		{in: "busybox@" + testDigest, want: "docker.io/library/busybox@" + testDigest, familiar: "busybox@" + testDigest},
		{in: "busybox:1@" + testDigest, want: "docker.io/library/busybox:1@" + testDigest, familiar: "busybox:1@" + testDigest},
		{in: "Busybox", wantErr: `invalid reference "Busybox": repository name must be lowercase`},
		{in: "foo/Bar", wantErr: "must be lowercase"},
		{in: "", wantErr: "empty"},
		{in: ":tag", wantErr: "missing repository name"},
		{in: "busybox:", wantErr: "bad tag"},
		{in: "busybox:-x", wantErr: "bad tag"},
		{in: "busybox:" + strings.Repeat("a", 129), wantErr: "bad tag"},
		{in: "busybox@sha256:abc", wantErr: "bad digest"},
		{in: "a//b", wantErr: "empty path component"},
		{in: "-a", wantErr: "must start and end"},
		{in: "a-", wantErr: "must start and end"},
		{in: "a..b", wantErr: "invalid characters"},
		{in: "a___b", wantErr: "invalid characters"},
		{in: "a b", wantErr: "invalid characters"},
		{in: "bad_host.com:port/x", wantErr: "bad registry"},
		{in: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", wantErr: "64-byte hexadecimal"},
		{in: "x/" + strings.Repeat("a", 260), wantErr: "longer than 255"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseReference(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseReference(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				if !errors.Is(err, errdefs.ErrInvalid) {
					t.Errorf("ParseReference(%q) error %v does not wrap ErrInvalid", tt.in, err)
				}
				if !strings.Contains(err.Error(), "\""+tt.in+"\"") && tt.in != "" {
					t.Errorf("ParseReference(%q) error %q does not quote the input", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseReference(%q): %v", tt.in, err)
			}
			if got.String() != tt.want {
				t.Errorf("ParseReference(%q) = %q, want %q", tt.in, got.String(), tt.want)
			}
			if got.Familiar() != tt.familiar {
				t.Errorf("ParseReference(%q).Familiar() = %q, want %q", tt.in, got.Familiar(), tt.familiar)
			}
			// Normalising is idempotent.
			again, err := ParseReference(got.String())
			if err != nil || again != got {
				t.Errorf("ParseReference(%q) = %+v, %v, want %+v", got.String(), again, err, got)
			}
		})
	}
}

func TestFamiliarName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"docker.io/library/busybox:latest", "busybox:latest"},
		{"docker.io/library/busybox", "busybox"},
		{"docker.io/foo/bar:1", "foo/bar:1"},
		{"localhost:5000/x:y", "localhost:5000/x:y"},
		{"ghcr.io/a/b", "ghcr.io/a/b"},
		{"not a ref", "not a ref"},
	}
	for _, tt := range tests {
		if got := FamiliarName(tt.in); got != tt.want {
			t.Errorf("FamiliarName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
