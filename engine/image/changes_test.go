package image

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stack/engine/errdefs"
)

func TestApplyChanges(t *testing.T) {
	tests := []struct {
		name    string
		base    ContainerConfig
		changes []string
		want    ContainerConfig
	}{
		{
			name:    "cmd exec form",
			changes: []string{`CMD ["nginx", "-g", "daemon off;"]`},
			want:    ContainerConfig{ImageConfig: ocispec.ImageConfig{Cmd: []string{"nginx", "-g", "daemon off;"}}},
		},
		{
			name:    "cmd shell form kept verbatim",
			changes: []string{`cmd echo "$HOME" && ls`},
			want:    ContainerConfig{ImageConfig: ocispec.ImageConfig{Cmd: []string{"/bin/sh", "-c", `echo "$HOME" && ls`}}},
		},
		{
			name:    "bad JSON is the shell form",
			changes: []string{`CMD [not json`},
			want:    ContainerConfig{ImageConfig: ocispec.ImageConfig{Cmd: []string{"/bin/sh", "-c", "[not json"}}},
		},
		{
			name:    "entrypoint resets an inherited cmd",
			base:    ContainerConfig{ImageConfig: ocispec.ImageConfig{Cmd: []string{"old"}}},
			changes: []string{`ENTRYPOINT ["/init"]`},
			want:    ContainerConfig{ImageConfig: ocispec.ImageConfig{Entrypoint: []string{"/init"}}},
		},
		{
			name:    "entrypoint keeps a cmd set before it",
			changes: []string{`CMD ["x"]`, `ENTRYPOINT /init`},
			want:    ContainerConfig{ImageConfig: ocispec.ImageConfig{Cmd: []string{"x"}, Entrypoint: []string{"/bin/sh", "-c", "/init"}}},
		},
		{
			name:    "env key=value forms",
			base:    ContainerConfig{ImageConfig: ocispec.ImageConfig{Env: []string{"PATH=/bin", "K=old"}}},
			changes: []string{`ENV k=v k2="v 2" K=new`, `ENV esc=a\ b single='$PATH' dq="x\"y" ref=$PATH:/sbin br=${K}-${MISSING:-def}`},
			want: ContainerConfig{ImageConfig: ocispec.ImageConfig{Env: []string{
				"PATH=/bin", "K=new", "k=v", "k2=v 2",
				"esc=a b", "single=$PATH", `dq=x"y`, "ref=/bin:/sbin", "br=new-def",
			}}},
		},
		{
			name:    "env legacy form",
			changes: []string{`ENV GREETING hello   big world`},
			want:    ContainerConfig{ImageConfig: ocispec.ImageConfig{Env: []string{"GREETING=hello   big world"}}},
		},
		{
			name:    "label",
			changes: []string{`LABEL org.opencontainers.image.title="my app" "quoted key"=1`, `LABEL legacy value here`},
			want: ContainerConfig{ImageConfig: ocispec.ImageConfig{Labels: map[string]string{
				"org.opencontainers.image.title": "my app", "quoted key": "1", "legacy": "value here",
			}}},
		},
		{
			name:    "expose",
			changes: []string{`EXPOSE 80 53/udp 8000-8002/TCP 9/sctp`},
			want: ContainerConfig{ImageConfig: ocispec.ImageConfig{ExposedPorts: map[string]struct{}{
				"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {}, "9/sctp": {},
			}}},
		},
		{
			name:    "user, workdir, stopsignal",
			changes: []string{`USER app:app`, `WORKDIR /srv`, `WORKDIR data/../www`, `STOPSIGNAL SIGQUIT`},
			want:    ContainerConfig{ImageConfig: ocispec.ImageConfig{User: "app:app", WorkingDir: "/srv/www", StopSignal: "SIGQUIT"}},
		},
		{
			name:    "workdir expands env",
			changes: []string{`ENV APP=/opt/app`, `WORKDIR $APP/bin`},
			want:    ContainerConfig{ImageConfig: ocispec.ImageConfig{Env: []string{"APP=/opt/app"}, WorkingDir: "/opt/app/bin"}},
		},
		{
			name:    "volume both forms",
			changes: []string{`VOLUME ["/data", "/var/log"]`, `VOLUME /cache /tmp/x`},
			want: ContainerConfig{ImageConfig: ocispec.ImageConfig{Volumes: map[string]struct{}{
				"/data": {}, "/var/log": {}, "/cache": {}, "/tmp/x": {},
			}}},
		},
		{
			name:    "stopsignal by number and short name",
			changes: []string{`STOPSIGNAL 9`, `STOPSIGNAL term`, `STOPSIGNAL SIGRTMIN+3`},
			want:    ContainerConfig{ImageConfig: ocispec.ImageConfig{StopSignal: "SIGRTMIN+3"}},
		},
		{
			name:    "healthcheck shell form with flags",
			changes: []string{`HEALTHCHECK --interval=5s --timeout=2s --start-period=1m --start-interval=500ms --retries=4 CMD curl -f http://localhost/ || exit 1`},
			want: ContainerConfig{Healthcheck: &HealthConfig{
				Test:     []string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"},
				Interval: 5 * time.Second, Timeout: 2 * time.Second, StartPeriod: time.Minute, StartInterval: 500 * time.Millisecond, Retries: 4,
			}},
		},
		{
			name:    "healthcheck exec form",
			changes: []string{`HEALTHCHECK CMD ["pg_isready", "-U", "postgres"]`},
			want:    ContainerConfig{Healthcheck: &HealthConfig{Test: []string{"CMD", "pg_isready", "-U", "postgres"}}},
		},
		{
			name:    "healthcheck none",
			changes: []string{`HEALTHCHECK CMD true`, `healthcheck none`},
			want:    ContainerConfig{Healthcheck: &HealthConfig{Test: []string{"NONE"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.base
			if err := ApplyChanges(&got, tt.changes); err != nil {
				t.Fatalf("ApplyChanges(%q): %v", tt.changes, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(tt.want)
				t.Errorf("ApplyChanges(%q) = %s, want %s", tt.changes, g, w)
			}
		})
	}
}

func TestApplyChangesErrors(t *testing.T) {
	tests := []struct {
		change string
		want   string
	}{
		{`RUN echo hi`, "RUN is not a valid change instruction"},
		{`FROM scratch`, "FROM is not a valid change instruction"},
		{`ONBUILD RUN make`, "ONBUILD is not supported"},
		{`CMD`, "CMD requires at least one argument"},
		{`ENV`, "ENV requires at least one argument"},
		{`ENV onlykey`, "ENV must have two arguments"},
		{`ENV a=1 b`, `can't find = in "b"`},
		{`ENV =x`, "names can not be blank"},
		{`ENV a="unterminated`, "matching double-quote"},
		{`ENV a='unterminated`, "matching single-quote"},
		{`ENV a=${b`, "missing '}'"},
		{`EXPOSE http`, `invalid port "http"`},
		{`EXPOSE 70000`, `invalid port "70000"`},
		{`EXPOSE 80/xyz`, `invalid protocol "xyz"`},
		{`EXPOSE 90-80`, "end before start"},
		{`USER a b`, "USER requires exactly one argument"},
		{`VOLUME [""]`, "can not be an empty string"},
		{`STOPSIGNAL SIGNOPE`, `invalid signal "SIGNOPE"`},
		{`STOPSIGNAL 0`, `invalid signal "0"`},
		{`HEALTHCHECK --interval=-1s CMD x`, "cannot be negative"},
		{`HEALTHCHECK --interval=10us CMD x`, "cannot be less than 1ms"},
		{`HEALTHCHECK --interval=soon CMD x`, `--interval "soon"`},
		{`HEALTHCHECK --retries=-2 CMD x`, "--retries cannot be negative"},
		{`HEALTHCHECK --bogus=1 CMD x`, `unknown flag "--bogus"`},
		{`HEALTHCHECK --interval CMD x`, "needs a value"},
		{`HEALTHCHECK NONE extra`, "takes no arguments"},
		{`HEALTHCHECK CMD`, "missing command"},
		{`HEALTHCHECK CMD []`, "missing command"},
		{`HEALTHCHECK RUN x`, `unknown type "RUN"`},
	}
	for _, tt := range tests {
		t.Run(tt.change, func(t *testing.T) {
			var cfg ContainerConfig
			err := ApplyChanges(&cfg, []string{tt.change})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ApplyChanges(%q) error = %v, want %q", tt.change, err, tt.want)
			}
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), `invalid change "`) {
				t.Errorf("error %q does not quote the instruction", err)
			}
		})
	}
}

// TestContainerConfigJSON pins the docker field names, so configs we write
// read the same in docker.
func TestContainerConfigJSON(t *testing.T) {
	cfg := ContainerConfig{
		ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}, Env: []string{"A=1"}},
		Healthcheck: &HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: time.Second, Retries: 3},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Env":["A=1"],"Cmd":["sh"],"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":1000000000,"Retries":3}}`
	if string(b) != want {
		t.Errorf("json.Marshal(ContainerConfig) = %s, want %s", b, want)
	}
}
