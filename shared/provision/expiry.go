package provision

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/expiry"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// ExpiryRecoveryWindowInDays is how long an expired secret stays
// recoverable, unless the request asked for a force delete: the shortest
// window Secrets Manager takes.
const ExpiryRecoveryWindowInDays = 7

// expiresAt is when r's credential expires (zero: never), checked. A
// stack's secret never expires: its resource would go on naming a
// deleted secret, which CloudFormation's drift detection does not see for
// a custom resource, and its next Update would fail; a stack that should
// end is deleted.
func expiresAt(r Request, now time.Time) (time.Time, error) {
	if r.ExpiresAfter == "" && r.ExpiresAt == "" {
		if r.ForceDeleteOnExpiry {
			return time.Time{}, errcode.Invalidf("forceDeleteOnExpiry", "needs expiresAfter or expiresAt")
		}
		return time.Time{}, nil
	}
	if r.Provenance.Caller.Kind == dbgrants.KindStack {
		field := "expiresAfter"
		if r.ExpiresAfter == "" {
			field = "expiresAt"
		}
		return time.Time{}, errcode.Invalidf(field, "is not for stacks: a stack's secret lives as long as its resource, and one that removed itself would leave the stack naming a deleted secret; delete the resource or the stack instead")
	}
	return expiry.When(r.ExpiresAfter, r.ExpiresAt, now)
}

// ExpiryChange is a new expiry for a secret: expiresAfter or expiresAt,
// or neither to remove it.
type ExpiryChange struct {
	ExpiresAfter        string     `json:"expiresAfter"`
	ExpiresAt           *string    `json:"expiresAt"`
	ForceDeleteOnExpiry props.Bool `json:"forceDeleteOnExpiry"`
}

// ChangeExpiry sets, moves or removes the expiry of sec, made through via
// for by, and answers the new time (nil: none).
func (s *Service) ChangeExpiry(ctx context.Context, sec secretstore.Secret, via, by string, c ExpiryChange) (*time.Time, error) {
	at := ""
	if c.ExpiresAt != nil {
		at = *c.ExpiresAt
	}
	when, err := expiry.When(c.ExpiresAfter, at, time.Now())
	if err != nil {
		return nil, err
	}
	if sec.Deleted {
		return nil, &errcode.Error{Code: errcode.Conflict, Field: "name", Message: "is scheduled for deletion; its expiry cannot change"}
	}
	if when.IsZero() {
		if c.ForceDeleteOnExpiry {
			return nil, errcode.Invalidf("forceDeleteOnExpiry", "needs expiresAfter or expiresAt")
		}
		return nil, s.expiry.Cancel(ctx, via, sec.ARN)
	}
	plan := expiry.Plan{Via: via, By: by, SecretARN: sec.ARN, At: when, Force: bool(c.ForceDeleteOnExpiry)}
	if err := s.expiry.Set(ctx, plan); err != nil {
		return nil, err
	}
	return &when, nil
}

// ExpiresAt is when the secret made through via expires; nil: never.
func (s *Service) ExpiresAt(ctx context.Context, via, secretARN string) (*time.Time, error) {
	return s.expiry.At(ctx, via, secretARN)
}

// Expired is what an expiry invocation did.
type Expired struct {
	SecretARN string `json:"secretArn"`
	// Outcome: expired (removed now), gone (removed before), done (a
	// second delivery), not-due (the expiry was moved later) or cancelled
	// (removed while this invocation was on its way), or retrying (it
	// failed, and its own schedule tries again at RetryAt).
	Outcome      string     `json:"outcome"`
	DeletionDate *time.Time `json:"deletionDate,omitempty"`
	RetryAt      *time.Time `json:"retryAt,omitempty"`
}

// Expire removes the credential a schedule's payload names, as DELETE
// does, once the payload proves to be that schedule's: its secret and
// token are recorded. A secret already gone is a success; an error (a
// database out of reach) is returned, for the invocation to be retried.
func (s *Service) Expire(ctx context.Context, p expiry.Payload) (Expired, error) {
	out := Expired{SecretARN: p.SecretARN}
	log := slog.With("arn", p.SecretARN, "via", p.Via)
	var due expiry.Due
	for attempt := 0; ; attempt++ {
		var err error
		due, err = s.expiry.Verify(ctx, p, time.Now())
		switch {
		case err != nil && attempt > 0 && errcode.Of(err) == errcode.Forbidden:
			// Proven once, then gone: a PATCH or DELETE removed the expiry.
			out.Outcome = "cancelled"
			return out, nil
		case err != nil:
			return Expired{}, err
		case due.Expired:
			out.Outcome = "done"
			return out, s.expiry.Finish(ctx, p.Via, p.SecretARN, due.Expiry)
		case due.Early:
			// The record was moved later; its schedule is made again, in case
			// the move stopped between the record and the Scheduler.
			log.InfoContext(ctx, "an expiry fired before its time: it was moved", "at", due.At)
			out.Outcome = "not-due"
			return out, s.expiry.Rearm(ctx, p.Via, p.SecretARN, due.Expiry)
		}
		// From here on no PATCH or DELETE acts on it.
		now := time.Now()
		moved, err := s.expiry.Begin(ctx, p.Via, p.SecretARN, due.Expiry, now)
		if err != nil {
			return Expired{}, err
		}
		if !moved {
			if !due.Expiring {
				due.Expiring, due.Began = true, now.UTC().Truncate(time.Second)
			}
			break
		}
		if attempt == 2 {
			return Expired{}, errcode.New(errcode.Unavailable, "the expiry record kept changing; retried by the Scheduler")
		}
	}
	if err := s.expireDue(ctx, p, due, &out); err != nil {
		// Lambda retries a function error only twice, within minutes: the
		// expiry retries itself, on its own schedule, for a day.
		if c := errcode.Of(err); c == errcode.Forbidden || c == errcode.Invalid {
			return Expired{}, err // no retry can help
		}
		at, ok, rerr := s.expiry.Retry(ctx, p, due.Expiry, time.Now())
		if rerr != nil || !ok {
			if rerr != nil {
				log.WarnContext(ctx, "could not schedule the expiry's retry", "error", errcode.Public(rerr))
			}
			return Expired{}, err
		}
		log.WarnContext(ctx, "the expiry failed; it retries on its own schedule", "retryAt", at, "attempt", p.Attempt+1, "error", errcode.Public(err))
		return Expired{SecretARN: p.SecretARN, Outcome: "retrying", RetryAt: &at}, nil
	}
	log.InfoContext(ctx, "credential expired", "outcome", out.Outcome)
	return out, nil
}

// expireDue removes the credential of an expiry that began.
func (s *Service) expireDue(ctx context.Context, p expiry.Payload, due expiry.Due, out *Expired) error {
	opts := DeleteOptions{ForceDeleteWithoutRecovery: props.Bool(due.Force)}
	if !due.Force {
		days := props.Int(ExpiryRecoveryWindowInDays)
		opts.RecoveryWindowInDays = &days
	}
	sec, err := s.store.Describe(ctx, p.SecretARN)
	switch {
	case errors.Is(err, secretstore.ErrNotFound):
		if err := s.RemoveUserOfGone(ctx, p.Via, due.By, p.SecretARN, opts); err != nil {
			return err
		}
		if err := s.RetireReadersOfGone(ctx, p.Via, p.SecretARN); err != nil {
			return err
		}
		out.Outcome = "gone"
	case err != nil:
		return err
	case sec.Tags[TagProvisionedVia] != p.Via:
		// The record is the function's own, so this cannot be; refuse all
		// the same rather than delete what another trigger made.
		return errcode.New(errcode.Forbidden, "the secret was not made through %s", p.Via)
	default:
		when, err := s.remove(ctx, sec, p.Via, opts, false)
		if err != nil {
			return err
		}
		out.Outcome, out.DeletionDate = "expired", &when
	}
	return s.expiry.Finish(ctx, p.Via, p.SecretARN, due.Expiry)
}
