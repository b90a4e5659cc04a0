package motoserver

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAtomicWrites: writes whose check moto does not lock reach it one at
// a time; reads still overlap.
func TestAtomicWrites(t *testing.T) {
	tests := []struct {
		target  string
		overlap bool
	}{
		{"secretsmanager.CreateSecret", false},
		{"DynamoDB_20120810.PutItem", false},
		{"DynamoDB_20120810.UpdateItem", false},
		{"DynamoDB_20120810.TransactWriteItems", false},
		{"secretsmanager.GetSecretValue", true},
		{"DynamoDB_20120810.GetItem", true},
	}
	for _, tt := range tests {
		var inFlight, most atomic.Int32
		front := atomicWrites(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := inFlight.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(50 * time.Millisecond) // long enough for the others to arrive
			inFlight.Add(-1)
		}))
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := httptest.NewRequest(http.MethodPost, "/", nil)
				r.Header.Set("X-Amz-Target", tt.target)
				front.ServeHTTP(httptest.NewRecorder(), r)
			}()
		}
		wg.Wait()
		if got := most.Load() > 1; got != tt.overlap {
			t.Errorf("%s: at most %d at once, want overlapping %v", tt.target, most.Load(), tt.overlap)
		}
	}
}
