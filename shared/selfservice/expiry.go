package selfservice

import (
	"context"
	"errors"
	"time"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/expiry"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/secretspec"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// Expiry is a secret's expiry after a change.
type Expiry struct {
	ARN       string     `json:"arn"`
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expiresAt"` // null: it does not expire
}

// ChangeExpiryFor sets, moves or removes the expiry of a secret for an API
// caller: inside the caller's scope, and only one made through via, as
// DeleteFor deletes.
func (a *API) ChangeExpiryFor(ctx context.Context, c Caller, via, name string, change provision.ExpiryChange) (Expiry, error) {
	if err := secretspec.ValidateName(name); err != nil {
		return Expiry{}, err
	}
	if err := a.confine(c, name); err != nil {
		return Expiry{}, err
	}
	unlock, err := a.lockName(ctx, name)
	if err != nil {
		return Expiry{}, err
	}
	defer unlock()
	sec, err := a.svc.Store().Describe(ctx, name)
	switch {
	case errors.Is(err, secretstore.ErrNotFound):
		return Expiry{}, &errcode.Error{Code: errcode.NotFound, Field: "name", Message: "no secret named " + errcode.Quote(name)}
	case err != nil:
		return Expiry{}, err
	case sec.Tags[provision.TagProvisionedVia] != via:
		return Expiry{}, &errcode.Error{Code: errcode.Forbidden, Field: "name",
			Message: "was not made through this API (its " + provision.TagProvisionedVia + " tag), so its expiry may not be changed through it"}
	}
	at, err := a.svc.ChangeExpiry(ctx, sec, via, sec.Tags[provision.TagProvisionedBy], change)
	if err != nil {
		return Expiry{}, err
	}
	return Expiry{ARN: sec.ARN, Name: sec.Name, ExpiresAt: at}, nil
}

// Expire removes the credential an expiry's schedule names.
func (a *API) Expire(ctx context.Context, p expiry.Payload) (provision.Expired, error) {
	return a.svc.Expire(ctx, p)
}
