package spec

import (
	"fmt"

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
