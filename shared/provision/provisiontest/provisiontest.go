// Package provisiontest provides what the triggers' tests share: a stand-in
// for the core's Create and the sample events in events/.
package provisiontest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/dbcreds/provisioner/shared/provision"
)

// Creator stands in for provision.Service: CreateFunc answers, Calls counts.
type Creator struct {
	CreateFunc func(r provision.Request, idempotencyKey string) (provision.Result, error)

	mu    sync.Mutex
	calls int
}

func (c *Creator) Create(_ context.Context, r provision.Request, idempotencyKey string) (provision.Result, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	if c.CreateFunc == nil {
		return provision.Result{}, errors.New("provisiontest: Create was not expected")
	}
	return c.CreateFunc(r, idempotencyKey)
}

// Calls says how often Create was called.
func (c *Creator) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
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
