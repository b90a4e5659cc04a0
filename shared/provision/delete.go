package provision

import (
	"context"
	"time"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// DeleteOptions are the CloudFormation deletion properties.
type DeleteOptions struct {
	RecoveryWindowInDays       *props.Int `json:"recoveryWindowInDays"`
	ForceDeleteWithoutRecovery props.Bool `json:"forceDeleteWithoutRecovery"`
	// RetainDatabaseUser keeps the secret's database user (and its
	// rotation clone), with its password, for a team that moves it to
	// another tool; the provisioner forgets it.
	RetainDatabaseUser props.Bool `json:"retainDatabaseUser"`
}

// DefaultRecoveryWindowInDays is Secrets Manager's own default.
const DefaultRecoveryWindowInDays = 30

// Check applies DeleteSecret's rules, so a create or update can refuse what
// would otherwise fail only when the stack is deleted.
func (o DeleteOptions) Check() error {
	if o.RecoveryWindowInDays != nil {
		if o.ForceDeleteWithoutRecovery {
			return errcode.Invalidf("forceDeleteWithoutRecovery", "cannot be true with recoveryWindowInDays: a secret is either recoverable or not")
		}
		if days := int(*o.RecoveryWindowInDays); days < 7 || days > 30 {
			return errcode.Invalidf("recoveryWindowInDays", "must be between 7 and 30, got %d", days)
		}
	}
	return nil
}

// window is the recovery window in days, or force. Options that break the
// rules were refused before; should they reach here anyway, the
// recoverable default is the safe reading.
func (o DeleteOptions) window() (days int, force bool) {
	if o.Check() != nil {
		return DefaultRecoveryWindowInDays, false
	}
	if o.RecoveryWindowInDays != nil {
		return int(*o.RecoveryWindowInDays), false
	}
	return DefaultRecoveryWindowInDays, bool(o.ForceDeleteWithoutRecovery)
}

// Remove deletes sec, a secret made through via, the one way both the
// HTTP API and a stack do: the database user recorded for it first (it
// goes with its record, which names the secret; with RetainDatabaseUser
// it stays, and only the record goes), then its replicas
// (Secrets Manager refuses to delete a primary that has any), then the
// secret, recoverable for the window unless forced. A secret already
// scheduled for deletion (outside the provisioner, say) keeps its date,
// and its user is dropped all the same.
func (s *Service) Remove(ctx context.Context, sec secretstore.Secret, via string, opts DeleteOptions) (time.Time, error) {
	return s.remove(ctx, sec, via, opts, true)
}

// remove is Remove; cancel also cancels the secret's expiry (its schedules
// and record) first, which an expiry itself leaves to expiry.Finish.
func (s *Service) remove(ctx context.Context, sec secretstore.Secret, via string, opts DeleteOptions, cancel bool) (time.Time, error) {
	if cancel {
		// The expiry goes first, on the condition that none has begun: an
		// expiry under way removes the secret as it was asked to, and one
		// that fires after finds nothing to act on. A DELETE that fails
		// below leaves the secret without its expiry, for the caller's retry.
		if err := s.expiry.Cancel(ctx, via, sec.ARN); err != nil {
			return time.Time{}, err
		}
	}
	release := s.users.Drop
	if opts.RetainDatabaseUser {
		release = s.users.Release
	}
	if err := release(ctx, via, "", sec.ARN, sec.Tags[TagDatabaseUser] == "true"); err != nil {
		return time.Time{}, err
	}
	if err := s.RetireReaders(ctx, sec, via); err != nil {
		return time.Time{}, err
	}
	return s.deleteSecret(ctx, sec, opts)
}

func (s *Service) deleteSecret(ctx context.Context, sec secretstore.Secret, opts DeleteOptions) (time.Time, error) {
	if sec.Deleted {
		return *sec.DeletedDate, nil
	}
	regions := make([]string, 0, len(sec.Replicas))
	for _, r := range sec.Replicas {
		regions = append(regions, r.Region)
	}
	if err := s.deleter.RemoveReplicas(ctx, sec.ARN, regions); err != nil {
		return time.Time{}, err
	}
	days, force := opts.window()
	return s.deleter.Delete(ctx, sec.ARN, days, force)
}

// RemoveUserOfGone drops the database user recorded for a secret that no
// longer exists, when the record says by asked for it: no tag is left to
// say whose the secret was.
func (s *Service) RemoveUserOfGone(ctx context.Context, via, by, arn string, opts DeleteOptions) error {
	release := s.users.Drop
	if opts.RetainDatabaseUser {
		release = s.users.Release
	}
	return release(ctx, via, by, arn, false)
}

// CancelExpiry removes the expiry of a secret made through via that is
// gone: what a DELETE of it leaves.
func (s *Service) CancelExpiry(ctx context.Context, via, arn string) error {
	return s.expiry.Cancel(ctx, via, arn)
}
