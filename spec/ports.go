package spec

import (
	"fmt"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/types"
)

// ParsePorts parses one port in docker's short syntax, as `docker run -p`
// and compose's ports: take it: "8080:80", "127.0.0.1:8080:80/udp",
// "8080-8082:80-82" (one Port per pair), "80" (an ephemeral host port).
func ParsePorts(s string) ([]Port, error) {
	pcs, err := types.ParsePortConfig(s)
	if err != nil {
		return nil, fmt.Errorf("invalid port %q: %w", s, err)
	}
	var out []Port
	for _, p := range pcs {
		if !supportedProtocol(p.Protocol) {
			return nil, fmt.Errorf("invalid port %q: protocol %q is not supported (tcp or udp)", s, p.Protocol)
		}
		if p.Target == 0 || p.Target > 65535 {
			return nil, fmt.Errorf("invalid port %q: container port out of range", s)
		}
		out = append(out, Port{Mode: p.Mode, HostIP: p.HostIP, Target: uint16(p.Target), Published: p.Published, Protocol: p.Protocol})
	}
	return out, nil
}

// ParseVolume parses one volume in docker's short syntax, as `docker run
// -v` and compose's volumes: take it: "NAME:/path[:ro]", "/host:/path[:ro]",
// "/path" (an anonymous volume). A relative host path is made absolute
// against dir.
func ParseVolume(s, dir string) (Mount, error) {
	v, err := format.ParseVolume(s)
	if err != nil {
		return Mount{}, fmt.Errorf("invalid volume %q: %w", s, err)
	}
	if v.Type == MountBind && !filepath.IsAbs(v.Source) {
		v.Source = filepath.Join(dir, v.Source)
	}
	if v.Target == "" || !filepath.IsAbs(v.Target) {
		return Mount{}, fmt.Errorf("invalid volume %q: the container path must be absolute", s)
	}
	m, ok := convertMount(v)
	if !ok {
		return Mount{}, fmt.Errorf("invalid volume %q: type %q is not supported", s, v.Type)
	}
	if m.Type == MountVolume {
		m.Name = m.Source
	}
	m.Target = filepath.Clean(m.Target)
	return m, nil
}
