package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// postgresTar is the PostgreSQL image's root filesystem, built from
// Debian's packages by `make test-images`.
func postgresTar(t *testing.T) string {
	t.Helper()
	p := os.Getenv("STACK_TEST_POSTGRES_TAR")
	if _, err := os.Stat(p); p == "" || err != nil {
		if os.Getenv("STACK_TEST_ROOT") == "1" {
			t.Fatalf("STACK_TEST_POSTGRES_TAR=%q: no PostgreSQL image (make test-images builds it)", p)
		}
		t.Skip("no PostgreSQL image: set STACK_TEST_POSTGRES_TAR (make test-images builds it)")
	}
	if _, err := exec.LookPath("psql"); err != nil {
		t.Fatalf("psql is not installed (make deps installs postgresql-client)")
	}
	return p
}

const postgresProject = `
name: pg
services:
  db:
    image: test/postgres:15
    user: postgres
    environment:
      PGDATA: /var/lib/postgresql/data
    command:
      - sh
      - -c
      - |
        if [ ! -s "$$PGDATA/PG_VERSION" ]; then
          /usr/lib/postgresql/15/bin/initdb -D "$$PGDATA" --auth=trust -U postgres >/dev/null &&
          echo "host all all 0.0.0.0/0 trust" >> "$$PGDATA/pg_hba.conf"
        fi
        exec /usr/lib/postgresql/15/bin/postgres -D "$$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp
    volumes: ["pgdata:/var/lib/postgresql"]
    ports: ["127.0.0.1:15432:5432"]
    healthcheck:
      test: ["CMD", "/usr/lib/postgresql/15/bin/pg_isready", "-h", "127.0.0.1", "-U", "postgres"]
      interval: 2s
      start_period: 60s
      start_interval: 200ms
volumes:
  pgdata: {}
`

// TestPostgresKeepsRows: a real database in a named volume keeps its rows
// across down and up, checked with psql from the host through the
// published port.
func TestPostgresKeepsRows(t *testing.T) {
	tarball := postgresTar(t)
	c := newCLI(t)
	c.ok("image", "import", tarball, "test/postgres:15")
	_, run := c.project(postgresProject)
	psql := func(sql string) string {
		t.Helper()
		var out []byte
		var err error
		for range 50 { // healthy inside is not always accepting yet outside
			cmd := exec.Command("psql", "-h", "127.0.0.1", "-p", "15432", "-U", "postgres", "-At", "-c", sql)
			cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=5")
			if out, err = cmd.CombinedOutput(); err == nil {
				return strings.TrimSpace(string(out))
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
		return ""
	}
	run.must(t, "up", "-d", "--wait")
	psql("CREATE TABLE kept (n int); INSERT INTO kept SELECT generate_series(1, 1000)")
	run.must(t, "down")
	run.must(t, "up", "-d", "--wait")
	if got := psql("SELECT count(*), sum(n) FROM kept"); got != "1000|500500" {
		t.Errorf("after down and up: %q, want 1000|500500", got)
	}
	run.must(t, "down", "-v")
}
