package selfservice

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/idempotency"
)

// claim takes key for holder. While another request holds it, other says
// what its record means for this one: done, with the error to answer (nil
// when other has set the answer itself), or not yet, to wait for it. After
// inProgressWait the key is busy: a conflict saying busy.
func (a *API) claim(ctx context.Context, key, holder string, other func(idempotency.Claim) (done bool, err error), busy *errcode.Error) (won bool, err error) {
	deadline := time.Now().Add(inProgressWait)
	for {
		claim, err := a.records.Claim(ctx, key, holder)
		if err != nil {
			return false, err
		}
		if claim.Won {
			return true, nil
		}
		if done, err := other(claim); done {
			return false, err
		}
		if time.Now().After(deadline) {
			return false, busy
		}
		select {
		case <-time.After(inProgressPoll):
		case <-ctx.Done():
			return false, errcode.Wrap(ctx.Err(), errcode.Unavailable, "gave up waiting for the request in progress: %s", busy.Message)
		}
	}
}

// nameLockKey is the record that serialises the API's creates and deletes
// of one secret name; no Idempotency-Key record (a hash) looks like it.
func nameLockKey(name string) string { return "secret-name:" + name }

// lockName holds the secret name for one create or delete through the API,
// so that a delete never runs between a create's secret and its user or
// rotation: the other waits (up to inProgressWait), then is told to retry.
// The record's lease frees a name whose holder died.
func (a *API) lockName(ctx context.Context, name string) (unlock func(), err error) {
	var token [16]byte
	rand.Read(token[:])
	key, holder := nameLockKey(name), hex.EncodeToString(token[:])
	wait := func(idempotency.Claim) (bool, error) { return false, nil }
	busy := &errcode.Error{Code: errcode.Conflict, Field: "name",
		Message: "another request is creating or deleting " + errcode.Quote(name) + "; retry in a few seconds"}
	if _, err := a.claim(ctx, key, holder, wait, busy); err != nil {
		return nil, err
	}
	return func() {
		if err := a.records.Release(context.WithoutCancel(ctx), key, holder); err != nil {
			slog.WarnContext(ctx, "could not release the secret name; its lease frees it", "error", errcode.Public(err))
		}
	}, nil
}
