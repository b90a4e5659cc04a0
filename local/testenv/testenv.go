// Package testenv is what the tests' servers and fixtures share: a free
// loopback port, the module's root, and the sample events. Its
// subpackages are the servers tests start: moto (motoserver), PostgreSQL
// and MariaDB (dbserver), hostile ones (fakedb), the RDS API (rdsapi), a
// fault proxy (faultproxy) and the OpenAPI checker (openapi).
//
// Test support sits above what it tests: testenv and its subpackages may
// import shared/, and nothing in shared/ or functions/ imports them but
// tests.
package testenv

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// FreePort is a loopback TCP port free a moment ago, for a server that
// takes its port on its command line.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Root is the module's root, found from the test's working directory.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// Event decodes the sample event events/<name> into v.
func Event(t testing.TB, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(Root(t), "events", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("events/%s: %v", name, err)
	}
}

// Integration skips t under go test -short, which runs the pure unit
// tests alone: t needs what is not Go, named by needs (a server, Python's
// SAM translator, cfn-lint, Node.js).
func Integration(t testing.TB, needs string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs " + needs + "; not in -short")
	}
}
