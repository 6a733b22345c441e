package live

import (
	"strings"
	"testing"

	"stack/planner"
	"stack/spec"
)

// pid and ipc modes stack does not implement are refused by name, not
// silently replaced by namespaces of the container's own.
func TestNamespaceModes(t *testing.T) {
	for _, tc := range []struct {
		pid, ipc string
		err      string
	}{
		{},
		{ipc: "private"},
		{ipc: "shareable"},
		{pid: "host", err: `service "app": pid "host": not supported`},
		{pid: "service:db", err: `service "app": pid "service:db": not supported`},
		{ipc: "host", err: `service "app": ipc "host": not supported`},
		{ipc: "container:x", err: `service "app": ipc "container:x": not supported`},
	} {
		n := &planner.Node{Service: &spec.Service{Name: "app", Image: "busybox", PID: tc.pid, IPC: tc.ipc}}
		_, err := CreateOptions(n, "p-app-1", nil)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("pid %q ipc %q: %v", tc.pid, tc.ipc, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("pid %q ipc %q: %v, want %s", tc.pid, tc.ipc, err, tc.err)
		}
	}
}
