package logs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"stack/engine/logs"
)

// The shim copies a container's stdout and stderr into the log; the CLI
// reads it back.
func Example() {
	dir, _ := os.MkdirTemp("", "logs-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "container.log")

	opts, err := logs.ParseOptions(map[string]string{"max-size": "10m", "max-file": "3"})
	if err != nil {
		panic(err)
	}
	opts.Now = func() time.Time { return time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC) }
	w, err := logs.NewWriter(path, opts)
	if err != nil {
		panic(err)
	}
	// In the shim these are the container's pipes, copied concurrently.
	w.Stream("stdout", strings.NewReader("hello\nworld\n"))
	w.Stream("stderr", strings.NewReader("oops <none>"))
	w.Close()

	data, _ := os.ReadFile(path)
	fmt.Print(string(data))

	err = logs.Read(context.Background(), path, logs.ReadOptions{Tail: 2}, func(e logs.Entry) error {
		fmt.Printf("%s %s %q partial=%v\n", e.Time.Format(time.RFC3339), e.Stream, e.Line, e.Partial)
		return nil
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// {"log":"hello\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}
	// {"log":"world\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}
	// {"log":"oops \u003cnone\u003e","stream":"stderr","time":"2024-05-01T10:00:00.123456789Z"}
	// 2024-05-01T10:00:00Z stdout "world\n" partial=false
	// 2024-05-01T10:00:00Z stderr "oops <none>" partial=true
}
