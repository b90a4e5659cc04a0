package selfservice

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"

	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/idempotency"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/secretspec"
)

// CreateFor creates r for an API caller: inside the caller's scope, tagged
// with who asked and through what, and, with a key, at most once per caller
// and key. Of any number of requests with one key, however they race, one
// creates; the others with the same request get its answer
// (Result.Replayed), those with another request a conflict, whatever name
// they ask for.
func (a *API) CreateFor(ctx context.Context, c Caller, via string, r provision.Request, key string) (provision.Result, error) {
	if err := secretspec.ValidateName(r.Name); err != nil {
		return provision.Result{}, err
	}
	if err := a.confine(c, r.Name); err != nil {
		return provision.Result{}, err
	}
	scope, err := a.scopeName(c)
	if err != nil {
		return provision.Result{}, err
	}
	r.Provenance = provision.Provenance{By: c.ID, Via: via, Caller: dbgrants.Caller{Kind: dbgrants.KindAPI, Name: scope}}
	if key == "" {
		prepared, err := a.svc.Prepare(r, "")
		if err != nil {
			return provision.Result{}, err
		}
		unlock, err := a.lockName(ctx, r.Name)
		if err != nil {
			return provision.Result{}, err
		}
		defer unlock()
		return a.svc.CreatePrepared(ctx, prepared)
	}
	// The caller's role, not its session, owns the key: a retry after the
	// credentials refreshed is the same request.
	scoped := c.ID + "\x00" + key
	prepared, err := a.svc.Prepare(r, scoped) // an invalid request never holds a key
	if err != nil {
		return provision.Result{}, err
	}
	sum := sha256.Sum256([]byte(scoped))
	recordKey, fingerprint := hex.EncodeToString(sum[:]), Fingerprint(r)
	var replayed provision.Result
	other := func(claim idempotency.Claim) (bool, error) {
		switch {
		case claim.Fingerprint != fingerprint:
			return true, errcode.New(errcode.Conflict, "this Idempotency-Key was already used for a different request; use a new key for a new request")
		case claim.Completed:
			if err := json.Unmarshal(claim.Result, &replayed); err != nil {
				return true, errcode.Wrap(err, errcode.Internal, "reading the idempotency record")
			}
			replayed.Replayed = true
			return true, nil
		}
		return false, nil
	}
	busy := errcode.New(errcode.Conflict, "a request with this Idempotency-Key is still in progress; retry it in a few seconds")
	won, err := a.claim(ctx, recordKey, fingerprint, other, busy)
	switch {
	case err != nil:
		return provision.Result{}, err
	case !won:
		return replayed, nil
	}
	return a.createClaimed(ctx, r.Name, prepared, recordKey, fingerprint)
}

// createClaimed creates the secret for the request that holds the key, and
// records the answer for the others; a failure frees the key for a retry.
func (a *API) createClaimed(ctx context.Context, name string, prepared *provision.Prepared, recordKey, fingerprint string) (provision.Result, error) {
	unlock, err := a.lockName(ctx, name)
	var result provision.Result
	if err == nil {
		result, err = a.svc.CreatePrepared(ctx, prepared)
		unlock()
	}
	if err != nil {
		if rerr := a.records.Release(ctx, recordKey, fingerprint); rerr != nil {
			// The lease frees it later.
			slog.WarnContext(ctx, "could not release the Idempotency-Key", "error", errcode.Public(rerr))
		}
		return provision.Result{}, err
	}
	answer, err := json.Marshal(result)
	if err == nil {
		err = a.records.Complete(ctx, recordKey, fingerprint, answer)
	}
	if err != nil {
		// The secret exists: answer. A retry with the key waits out the
		// lease, then finds the secret by its ClientRequestToken.
		slog.WarnContext(ctx, "could not record the answer for the Idempotency-Key", "error", errcode.Public(err))
	}
	return result, nil
}
