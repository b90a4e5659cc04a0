package selfservice

import (
	"context"
	"errors"
	"time"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/secretspec"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// Deletion is what deleting a secret through the API did.
type Deletion struct {
	ARN          string    `json:"arn"`
	Name         string    `json:"name"`
	DeletionDate time.Time `json:"deletionDate"`
}

// DeleteFor deletes a secret for an API caller: inside the caller's scope,
// and only one made through via (its provenance tag), as
// provision.Service.Remove deletes: its database user, its replicas, the
// secret. A secret already scheduled for deletion answers its date (its
// user is dropped all the same); one that does not exist is not_found.
func (a *API) DeleteFor(ctx context.Context, c Caller, via, name string, opts provision.DeleteOptions) (Deletion, error) {
	if err := secretspec.ValidateName(name); err != nil {
		return Deletion{}, err
	}
	if err := a.confine(c, name); err != nil {
		return Deletion{}, err
	}
	if err := opts.Check(); err != nil {
		return Deletion{}, err
	}
	unlock, err := a.lockName(ctx, name)
	if err != nil {
		return Deletion{}, err
	}
	defer unlock()
	sec, err := a.svc.Store().Describe(ctx, name)
	switch {
	case errors.Is(err, secretstore.ErrNotFound):
		return Deletion{}, &errcode.Error{Code: errcode.NotFound, Field: "name", Message: "no secret named " + errcode.Quote(name)}
	case err != nil:
		return Deletion{}, err
	case sec.Tags[provision.TagProvisionedVia] != via:
		return Deletion{}, &errcode.Error{Code: errcode.Forbidden, Field: "name",
			Message: "was not made through this API (its " + provision.TagProvisionedVia + " tag), so it may not be deleted through it"}
	}
	when, err := a.svc.Remove(ctx, sec, via, opts)
	if err != nil {
		return Deletion{}, err
	}
	return Deletion{ARN: sec.ARN, Name: sec.Name, DeletionDate: when}, nil
}
