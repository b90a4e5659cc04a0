package expiry_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/dbcreds/provisioner/shared/awslite/scheduler"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/expiry"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// hookedRecords runs onRead once, right after the next read of a record
// returns: what another request does between a read and the write that
// acts on it.
type hookedRecords struct {
	expiry.Records
	onRead func()
}

func (h *hookedRecords) Expiry(ctx context.Context, via, arn string) (userledger.Expiry, bool, error) {
	rec, found, err := h.Records.Expiry(ctx, via, arn)
	if f := h.onRead; f != nil {
		h.onRead = nil
		f()
	}
	return rec, found, err
}

// twoSides are the schedules as two Lambda invocations see them: one
// (a PATCH's) whose reads can be interleaved with, one (the expiry's)
// plain; both on the same table and Scheduler.
func twoSides(t *testing.T, sched expiry.Scheduler) (patch *expiry.Schedules, hook *hookedRecords, exp *expiry.Schedules, ledger *userledger.Ledger, client *scheduler.Client) {
	t.Helper()
	exp, ledger, client = schedules(t)
	dynamo, err := userledger.ClientFromEnvironment(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	hook = &hookedRecords{Records: userledger.New(dynamo, table)}
	if sched == nil {
		sched = client
	}
	patch, err = expiry.New(sched, hook, expiry.Settings{Group: group, RoleARN: "arn:aws:iam::123456789012:role/sched",
		DeadLetterARN: "arn:aws:sqs:us-east-1:123456789012:dlq", Target: target})
	if err != nil {
		t.Fatal(err)
	}
	return patch, hook, exp, ledger, client
}

// TestCancelRacesAnExpiryThatBeganReviewE3: PATCH {"expiresAt": null}
// (Cancel) checks the record is not under way, then deletes both
// schedules and the record unconditionally. An expiry that begins
// between the check and the delete (its Begin is a conditional write
// the PATCH never conditions on) goes on removing the credential,
// while the PATCH answers 200 with no expiry: the opposite of "PATCH
// answers 409 while it is, and a PATCH that came first wins".
// Its own retry schedule then carries a token no record holds.
func TestCancelRacesAnExpiryThatBeganReviewE3(t *testing.T) {
	patch, hook, exp, ledger, _ := twoSides(t, nil)
	ctx := context.Background()
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/cancel-race-E3AbCd"
	at := time.Now().Add(20 * time.Minute).UTC().Truncate(time.Second)
	if err := exp.Set(ctx, expiry.Plan{Via: "http-api", By: "alice", SecretARN: arn, At: at}); err != nil {
		t.Fatal(err)
	}
	rec, _, _ := ledger.Expiry(ctx, "http-api", arn)
	p := expiry.Payload{SecretARN: arn, Via: "http-api", Token: rec.Token}

	// The schedule fires at its time: the expiry proves the payload.
	due, err := exp.Verify(ctx, p, at)
	if err != nil || due.Early {
		t.Fatalf("verify: %+v %v", due, err)
	}
	// The PATCH reads the record (not under way), and before it deletes,
	// the expiry begins.
	var moved bool
	var beginErr error
	hook.onRead = func() { moved, beginErr = exp.Begin(ctx, "http-api", arn, due.Expiry, at) }
	cancelErr := patch.Cancel(ctx, "http-api", arn)
	if beginErr != nil || moved {
		t.Fatalf("the expiry did not begin: moved %v, %v", moved, beginErr)
	}
	// The expiry is now past its last check: Expire goes on to remove the
	// credential (expireDue), retrying on its own schedule if that fails.
	due.Expiring, due.Began = true, at
	retryAt, retried, rerr := exp.Retry(ctx, p, due.Expiry, at.Add(time.Minute))
	_, found, _ := ledger.Expiry(ctx, "http-api", arn)
	next := expiry.Payload{SecretARN: arn, Via: "http-api", Token: rec.Token, Attempt: 1}
	_, verr := exp.Verify(ctx, next, retryAt)

	if !errors.Is(cancelErr, expiry.ErrExpiring) {
		t.Errorf("PATCH {expiresAt: null} answered %v (200, no expiry) although the expiry had begun removing the credential; "+
			"record left: %v; the expiry's retry scheduled: %v (%v) and, when it fires, is %s",
			cancelErr, found, retried, rerr, errcode.Of(verr))
	}
	if !found {
		t.Errorf("the record of an expiry under way was deleted by a PATCH")
	}
}

// TestRearmOverwritesAMoveReviewE3: an early invocation's Rearm makes the
// schedule from the record it read in Verify, unconditionally. A PATCH
// (Set) that moves the expiry earlier between the two is undone on the
// Scheduler: the record (and GET) say the new time, the schedule the old
// one, and the credential outlives what the owner set.
func TestRearmOverwritesAMoveReviewE3(t *testing.T) {
	patch, _, exp, ledger, _ := twoSides(t, nil)
	ctx := context.Background()
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/rearm-race-E3AbCd"
	now := time.Now().UTC().Truncate(time.Second)
	later := now.Add(30 * 24 * time.Hour)
	if err := patch.Set(ctx, expiry.Plan{Via: "http-api", By: "alice", SecretARN: arn, At: later}); err != nil {
		t.Fatal(err)
	}
	rec, _, _ := ledger.Expiry(ctx, "http-api", arn)
	p := expiry.Payload{SecretARN: arn, Via: "http-api", Token: rec.Token}
	// An old schedule (or anyone holding the token) invokes early.
	due, err := exp.Verify(ctx, p, now)
	if err != nil || !due.Early {
		t.Fatalf("verify: %+v %v", due, err)
	}
	// Meanwhile the owner shortens the expiry to an hour from now.
	sooner := now.Add(time.Hour)
	if err := patch.Set(ctx, expiry.Plan{Via: "http-api", By: "alice", SecretARN: arn, At: sooner}); err != nil {
		t.Fatal(err)
	}
	// The early invocation goes on: Rearm with what it read.
	if err := exp.Rearm(ctx, "http-api", arn, due.Expiry); err != nil {
		t.Fatal(err)
	}
	rec, _, _ = ledger.Expiry(ctx, "http-api", arn)
	_, expr := payloadOf(t, "http-api", arn)
	want := "at(" + rec.At.Format("2006-01-02T15:04:05") + ")"
	if expr != want {
		t.Errorf("record and schedule out of step: the record says %s (what GET shows), the schedule fires %s: the credential lives %v longer",
			want, expr, later.Sub(sooner))
	}
}

// appliedThenLost applies UpdateSchedule and then answers as if the
// answer were lost: a timeout after the Scheduler made the change.
type appliedThenLost struct{ *scheduler.Client }

func (a appliedThenLost) UpdateSchedule(ctx context.Context, in *scheduler.UpdateScheduleInput, opt ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error) {
	if _, err := a.Client.UpdateSchedule(ctx, in, opt...); err != nil {
		return nil, err
	}
	return nil, context.DeadlineExceeded
}

// TestSetUndoesAMoveTheSchedulerMadeReviewE3: Set puts the record back
// whenever the Scheduler's call errs, including when the error says
// nothing about whether the change was made (a timeout, "unavailable").
// A move later whose answer was lost leaves the record at the old time
// and the one schedule at the new: at the old time nothing fires, GET
// shows a time that has passed, and the credential lives until the new
// one.
func TestSetUndoesAMoveTheSchedulerMadeReviewE3(t *testing.T) {
	_, _, exp, ledger, client := twoSides(t, nil)
	lossy, _, _, _, _ := twoSides(t, appliedThenLost{client})
	ctx := context.Background()
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/lost-answer-E3AbCd"
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if err := exp.Set(ctx, expiry.Plan{Via: "http-api", By: "alice", SecretARN: arn, At: at}); err != nil {
		t.Fatal(err)
	}
	moved := at.Add(300 * 24 * time.Hour)
	err := lossy.Set(ctx, expiry.Plan{Via: "http-api", By: "alice", SecretARN: arn, At: moved})
	if errcode.Of(err) != errcode.Unavailable {
		t.Fatalf("the move: %v, want unavailable", err)
	}
	rec, _, _ := ledger.Expiry(ctx, "http-api", arn)
	_, expr := payloadOf(t, "http-api", arn)
	want := "at(" + rec.At.Format("2006-01-02T15:04:05") + ")"
	if expr != want {
		t.Errorf("record and schedule out of step after an ambiguous Scheduler error: the record (and GET) say %s, the schedule fires %s; "+
			"nothing fires at the recorded time and the credential lives %v past it",
			want, expr, moved.Sub(at))
	}
}

// failsAfter runs before (once) and then refuses CreateSchedule: the
// Scheduler throttling one of two requests.
type failsAfter struct {
	*scheduler.Client
	before func()
}

func (f *failsAfter) CreateSchedule(ctx context.Context, in *scheduler.CreateScheduleInput, opt ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error) {
	if b := f.before; b != nil {
		f.before = nil
		b()
	}
	return nil, context.DeadlineExceeded
}

// TestSetUndoForgetsAnotherRequestsRecordReviewE3: a Set that made the
// record (none before) and then met a Scheduler failure deletes the record
// unconditionally. Two deliveries of one event (at least once) make the
// same secret's expiry at once: the second reads the first's record,
// writes its own and makes the schedule (success, expiresAt answered);
// the first's undo then deletes that record. The schedule fires with a
// token no record holds: forbidden, and the credential never expires.
func TestSetUndoForgetsAnotherRequestsRecordReviewE3(t *testing.T) {
	_, _, exp, ledger, client := twoSides(t, nil)
	ctx := context.Background()
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/twin-undo-E3AbCd"
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	var twinErr error
	flaky := &failsAfter{Client: client, before: func() {
		twinErr = exp.Set(ctx, expiry.Plan{Via: "eventbridge", SecretARN: arn, At: at.Add(time.Second)})
	}}
	first, _, _, _, _ := twoSides(t, flaky)
	err := first.Set(ctx, expiry.Plan{Via: "eventbridge", SecretARN: arn, At: at})
	if twinErr != nil || err == nil {
		t.Fatalf("twin: %v; first: %v", twinErr, err)
	}
	_, found, _ := ledger.Expiry(ctx, "eventbridge", arn)
	p, expr := payloadOf(t, "eventbridge", arn)
	if expr != "" && !found {
		_, verr := exp.Verify(ctx, p, at.Add(time.Second))
		t.Errorf("the twin's Set succeeded and its schedule fires %s, but the first's undo deleted the record: the schedule's invocation is %s and the credential never expires",
			expr, errcode.Of(verr))
	}
}

// TestDeleteCheckIsNoClaimReviewE3: DELETE's guard (CheckNotExpiring,
// shared/provision/delete.go:73) is a read, not a claim. A DELETE that
// passes it a moment before the schedule fires (retainDatabaseUser, say)
// goes on releasing the user and deleting the secret for seconds while
// the expiry begins and drops the user beside it: both act at once, and
// the DELETE's final Cancel conflict is swallowed (delete.go:91).
func TestDeleteCheckIsNoClaimReviewE3(t *testing.T) {
	_, _, exp, ledger, _ := twoSides(t, nil)
	ctx := context.Background()
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/delete-race-E3AbCd"
	at := time.Now().Add(20 * time.Minute).UTC().Truncate(time.Second)
	if err := exp.Set(ctx, expiry.Plan{Via: "http-api", By: "alice", SecretARN: arn, At: at}); err != nil {
		t.Fatal(err)
	}
	rec, _, _ := ledger.Expiry(ctx, "http-api", arn)
	due, err := exp.Verify(ctx, expiry.Payload{SecretARN: arn, Via: "http-api", Token: rec.Token}, at)
	if err != nil {
		t.Fatal(err)
	}
	// A DELETE cancels the expiry first, before it releases the user.
	if err := exp.Cancel(ctx, "http-api", arn); err != nil {
		t.Fatalf("the DELETE's cancel: %v", err)
	}
	// The DELETE is now releasing the user; the expiry begins.
	moved, err := exp.Begin(ctx, "http-api", arn, due.Expiry, at)
	if err != nil {
		t.Fatal(err)
	}
	if !moved {
		cancelErr := exp.Cancel(ctx, "http-api", arn)
		t.Errorf("an expiry began while a DELETE that passed its check was removing the credential: both act at once; the DELETE's closing Cancel gets %v, which remove() ignores", cancelErr)
	}
}
