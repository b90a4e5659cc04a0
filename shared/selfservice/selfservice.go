// Package selfservice is the HTTP API's use cases: create, describe and
// delete a secret for a caller, confined to the caller's scope, with
// Idempotency-Keys that hold however requests race, and one secret name
// never created and deleted at once. It is the core (provision) seen from
// a caller; it knows nothing of API Gateway's events.
//
// It must not import stack or a function; only the HTTP API function
// imports it.
package selfservice

import (
	"context"
	"time"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/idempotency"
	"github.com/dbcreds/provisioner/shared/provision"
)

// Records keeps one record per key (idempotency.Records, a DynamoDB
// table), so that exactly one request with a key does the work.
type Records interface {
	Claim(ctx context.Context, key, fingerprint string) (idempotency.Claim, error)
	Complete(ctx context.Context, key, fingerprint string, result []byte) error
	Release(ctx context.Context, key, fingerprint string) error
}

// API is the HTTP API's use cases over the core. Build one at init.
type API struct {
	svc     *provision.Service
	config  provision.Config
	records Records
}

// New returns the API's use cases over svc, with Idempotency-Keys and name
// locks in records; both are required.
func New(svc *provision.Service, records Records) (*API, error) {
	if svc == nil || records == nil {
		return nil, errcode.New(errcode.Internal, "the HTTP API needs the service and the idempotency records")
	}
	return &API{svc: svc, config: svc.Config(), records: records}, nil
}

// inProgressWait bounds how long a request waits for another request with
// its key and body, or on its secret name, before it answers that the key
// or the name is busy; well inside API Gateway's 30 seconds.
const inProgressWait = 10 * time.Second

// inProgressPoll is how often it looks meanwhile.
const inProgressPoll = 250 * time.Millisecond
