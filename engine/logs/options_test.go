package logs

import (
	"errors"
	"strings"
	"testing"

	"stack/engine/errdefs"
)

func TestParseOptions(t *testing.T) {
	def := Options{MaxSize: 10 << 20, MaxFiles: 5}
	tests := []struct {
		name    string
		in      map[string]string
		want    Options
		wantErr string // substring; "" = no error
	}{
		{name: "nil", in: nil, want: def},
		{name: "empty", in: map[string]string{}, want: def},
		{name: "max-size m", in: map[string]string{"max-size": "10m"}, want: Options{MaxSize: 10 << 20, MaxFiles: 5}},
		{name: "max-size k", in: map[string]string{"max-size": "500k"}, want: Options{MaxSize: 500 << 10, MaxFiles: 5}},
		{name: "max-size g", in: map[string]string{"max-size": "1g"}, want: Options{MaxSize: 1 << 30, MaxFiles: 5}},
		{name: "max-size upper MB", in: map[string]string{"max-size": "2MB"}, want: Options{MaxSize: 2 << 20, MaxFiles: 5}},
		{name: "max-size KiB", in: map[string]string{"max-size": "32KiB"}, want: Options{MaxSize: 32 << 10, MaxFiles: 5}},
		{name: "max-size bytes", in: map[string]string{"max-size": "2048"}, want: Options{MaxSize: 2048, MaxFiles: 5}},
		{name: "max-size b", in: map[string]string{"max-size": "32b"}, want: Options{MaxSize: 32, MaxFiles: 5}},
		{name: "max-size fraction", in: map[string]string{"max-size": "1.5m"}, want: Options{MaxSize: 3 << 19, MaxFiles: 5}},
		{name: "max-size space", in: map[string]string{"max-size": "32.3 mb"}, want: Options{MaxSize: 33869004, MaxFiles: 5}},
		{name: "max-size leading dot", in: map[string]string{"max-size": ".5k"}, want: Options{MaxSize: 512, MaxFiles: 5}},
		{name: "max-file", in: map[string]string{"max-file": "3"}, want: Options{MaxSize: 10 << 20, MaxFiles: 3}},
		{name: "both", in: map[string]string{"max-size": "1k", "max-file": "1"}, want: Options{MaxSize: 1024, MaxFiles: 1}},

		{name: "bad suffix", in: map[string]string{"max-size": "10x"}, wantErr: `json-file log option max-size="10x": invalid suffix "x"`},
		{name: "suffix too long", in: map[string]string{"max-size": "10kibb"}, wantErr: `invalid suffix "kibb"`},
		{name: "suffix kx", in: map[string]string{"max-size": "10kx"}, wantErr: `invalid suffix "kx"`},
		{name: "suffix bm", in: map[string]string{"max-size": "32bm"}, wantErr: `invalid suffix "bm"`},
		{name: "no digits", in: map[string]string{"max-size": "hello"}, wantErr: `invalid size "hello"`},
		{name: "empty size", in: map[string]string{"max-size": ""}, wantErr: `invalid size ""`},
		{name: "spaces", in: map[string]string{"max-size": " 32 "}, wantErr: `max-size=" 32 "`},
		{name: "negative", in: map[string]string{"max-size": "-1"}, wantErr: `invalid size "-1"`},
		{name: "zero", in: map[string]string{"max-size": "0"}, wantErr: `max-size="0": must be a positive number`},
		{name: "too large", in: map[string]string{"max-size": "99999999p"}, wantErr: `too large`},
		{name: "max-file zero", in: map[string]string{"max-file": "0"}, wantErr: `max-file="0": cannot be less than 1`},
		{name: "max-file negative", in: map[string]string{"max-file": "-2"}, wantErr: `cannot be less than 1`},
		{name: "max-file word", in: map[string]string{"max-file": "three"}, wantErr: `max-file="three": not an integer`},
		{name: "compress", in: map[string]string{"compress": "true"}, wantErr: `compress="true": option not supported by stack`},
		{name: "tag", in: map[string]string{"tag": "{{.Name}}"}, wantErr: `option tag="{{.Name}}": option not supported`},
		{name: "unknown", in: map[string]string{"max-sizes": "1m"}, wantErr: `json-file log option max-sizes="1m": unknown option`},
		{name: "first bad key in order", in: map[string]string{"zz": "1", "aa": "2"}, wantErr: `option aa="2": unknown option`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOptions(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseOptions(%v) = %+v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				if !errors.Is(err, errdefs.ErrInvalid) {
					t.Errorf("ParseOptions(%v) error %v does not match errdefs.ErrInvalid", tt.in, err)
				}
				return
			}
			if err != nil || got.MaxSize != tt.want.MaxSize || got.MaxFiles != tt.want.MaxFiles || got.Now != nil {
				t.Fatalf("ParseOptions(%v) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}
