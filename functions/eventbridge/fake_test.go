package main

import (
	"context"
	"errors"
	"sync"

	"github.com/dbcreds/provisioner/shared/provision"
)

// fakeCreator stands in for the core: CreateFunc answers, Calls counts.
type fakeCreator struct {
	CreateFunc func(r provision.Request, idempotencyKey string) (provision.Result, error)

	mu    sync.Mutex
	calls int
}

func (c *fakeCreator) Create(_ context.Context, r provision.Request, idempotencyKey string) (provision.Result, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	if c.CreateFunc == nil {
		return provision.Result{}, errors.New("Create was not expected")
	}
	return c.CreateFunc(r, idempotencyKey)
}

// Calls says how often Create was called.
func (c *fakeCreator) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}
