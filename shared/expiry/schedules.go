package expiry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	mathrand "math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/awslite/scheduler"
	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// The calls the schedules make, each copying the SDK's signature.
type (
	CreateScheduleAPI interface {
		CreateSchedule(ctx context.Context, params *scheduler.CreateScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error)
	}
	UpdateScheduleAPI interface {
		UpdateSchedule(ctx context.Context, params *scheduler.UpdateScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error)
	}
	DeleteScheduleAPI interface {
		DeleteSchedule(ctx context.Context, params *scheduler.DeleteScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error)
	}
)

// Scheduler is the part of the EventBridge Scheduler client used.
type Scheduler interface {
	CreateScheduleAPI
	UpdateScheduleAPI
	DeleteScheduleAPI
}

// Records is where expiries are recorded: userledger.Ledger.
type Records interface {
	Expiry(ctx context.Context, via, secretARN string) (userledger.Expiry, bool, error)
	PutExpiry(ctx context.Context, via, secretARN string, was *userledger.Expiry, e userledger.Expiry) error
	ForgetExpiry(ctx context.Context, via, secretARN string, was *userledger.Expiry) error
}

// Settings are the deployment's schedule settings, from the template.
type Settings struct {
	Group         string // the stack's schedule group
	RoleARN       string // the role the Scheduler invokes the function with
	DeadLetterARN string // the queue of invocations the Scheduler could not deliver
	// Target is the function to invoke: this one, which made the secret
	// and whose role may remove it.
	Target string
}

// Schedules sets, moves and cancels secrets' expiries. Build one at init.
type Schedules struct {
	client   Scheduler
	records  Records
	settings Settings
}

// New returns the schedules made through client and recorded in records;
// each part is required.
func New(client Scheduler, records Records, settings Settings) (*Schedules, error) {
	if client == nil || records == nil {
		return nil, errcode.New(errcode.Internal, "expiry needs a Scheduler client and the ledger")
	}
	if _, ok := awsname.ParseFunctionARN(settings.Target); !ok {
		return nil, errcode.New(errcode.Internal, "expiry needs the function's own ARN to schedule, got %q", settings.Target)
	}
	if settings.Group == "" || settings.RoleARN == "" || settings.DeadLetterARN == "" {
		return nil, errcode.New(errcode.Internal, "expiry needs the schedule group, the Scheduler's role and its dead-letter queue: the template sets %s, %s and %s", EnvGroup, EnvRole, EnvDeadLetter)
	}
	return &Schedules{client: client, records: records, settings: settings}, nil
}

// Plan is an expiry to set.
type Plan struct {
	Via, By, SecretARN string
	At                 time.Time
	Force              bool
}

// PayloadKey is the member of an invocation that carries an expiry's
// Payload. No event API Gateway, EventBridge or CloudFormation sends has
// it: only a direct invocation, the Scheduler's, can.
const PayloadKey = "dbcredsExpiry"

// Payload is what a schedule invokes the function with.
type Payload struct {
	SecretARN string `json:"secretArn"`
	Via       string `json:"via"`
	Token     string `json:"token"`
	// Attempt counts the expiry's own retries: each is a schedule of the
	// other of the secret's two names, never the one firing (the Scheduler
	// deletes that one once it has invoked). Not trusted: the token is.
	Attempt int `json:"attempt,omitempty"`
}

// Invocation is the schedule's whole input.
type Invocation struct {
	Expiry *Payload `json:"dbcredsExpiry"`
}

// Name is the schedule of the secret made through via: one per secret,
// so that a retry updates it and never makes a second. Prefixed with the
// trigger, so that IAM confines each function to its own schedules.
func Name(via, secretARN string) string {
	sum := sha256.Sum256([]byte(via + "\x00" + secretARN))
	return via + "-" + hex.EncodeToString(sum[:16])
}

// RetryName is the schedule of the odd retries of an expiry that failed.
func RetryName(via, secretARN string) string { return Name(via, secretARN) + "-r" }

func nameFor(via, secretARN string, attempt int) string {
	if attempt%2 == 1 {
		return RetryName(via, secretARN)
	}
	return Name(via, secretARN)
}

// Set records p and makes or moves its schedule. The record comes first
// and keeps its token: a schedule left behind by a failure on the way
// fires either when the record says (it is then the one) or before (then
// it finds the expiry not yet due and makes the record's schedule again),
// never with a token the record lacks. When the Scheduler refuses, the
// record is put back, so that it keeps saying what the Scheduler holds.
func (s *Schedules) Set(ctx context.Context, p Plan) error {
	var token string
	var was *userledger.Expiry
	next := userledger.Expiry{By: p.By, At: p.At, Force: p.Force}
	for attempt := 0; ; attempt++ {
		rec, found, err := s.records.Expiry(ctx, p.Via, p.SecretARN)
		if err != nil {
			return err
		}
		was = nil
		if found {
			if underWay(rec, time.Now()) || rec.Expired {
				return errExpiring()
			}
			was, token = &rec, rec.Token
		}
		if token == "" {
			if token, err = newToken(); err != nil {
				return err
			}
		}
		next.Token = token
		err = s.records.PutExpiry(ctx, p.Via, p.SecretARN, was, next)
		if err == nil {
			break
		}
		if !errors.Is(err, userledger.ErrExpiryChanged) || attempt == 9 {
			return err
		}
		// Another request wrote it first: read it again, a little later.
		select {
		case <-time.After(time.Duration(5+mathrand.IntN(20)) * time.Millisecond):
		case <-ctx.Done():
			return errcode.Wrap(ctx.Err(), errcode.Unavailable, "gave up writing the expiry record")
		}
	}
	err := s.schedule(ctx, Payload{SecretARN: p.SecretARN, Via: p.Via, Token: token}, p.At)
	if err == nil || !refused(err) {
		// Done, or perhaps done (no answer): the record stays as the
		// request asked. A schedule left at the old time fires early and
		// makes the record's again.
		return err
	}
	undo := context.WithoutCancel(ctx)
	var restore error
	if was != nil {
		restore = s.records.PutExpiry(undo, p.Via, p.SecretARN, &next, *was)
	} else {
		restore = s.records.ForgetExpiry(undo, p.Via, p.SecretARN, &next)
	}
	if restore != nil && !errors.Is(restore, userledger.ErrExpiryChanged) {
		slog.WarnContext(ctx, "could not put the expiry record back after the Scheduler refused; its old schedule makes it again when it fires",
			"arn", p.SecretARN, "error", errcode.Public(restore))
	}
	return err
}

// ErrExpiring is under the conflict answered for a secret whose expiry is
// removing it.
var ErrExpiring = errors.New("the expiry is under way")

// refused says the Scheduler certainly did not make the change: it
// answered with a refusal, not a failure or nothing.
func refused(err error) bool {
	switch errcode.Of(err) {
	case errcode.Invalid, errcode.Forbidden, errcode.NotFound, errcode.Conflict, errcode.Throttled:
		return true
	}
	return false
}

func errExpiring() error {
	return &errcode.Error{Code: errcode.Conflict, Field: "name", Err: ErrExpiring,
		Message: "is being removed by its expiry now; wait for it, or make a new secret"}
}

// schedule makes or moves the schedule that invokes with p at at.
func (s *Schedules) schedule(ctx context.Context, p Payload, at time.Time) error {
	input, err := json.Marshal(Invocation{Expiry: &p})
	if err != nil {
		return errcode.Wrap(err, errcode.Internal, "writing the schedule's payload")
	}
	name := nameFor(p.Via, p.SecretARN, p.Attempt)
	expression := "at(" + at.UTC().Format("2006-01-02T15:04:05") + ")"
	description := "dbcreds-provisioner: the expiry of a secret (" + p.Via + ")"
	t := &types.Target{
		Arn:              aws.String(s.settings.Target),
		RoleArn:          aws.String(s.settings.RoleARN),
		Input:            aws.String(string(input)),
		RetryPolicy:      &types.RetryPolicy{MaximumEventAgeInSeconds: aws.Int32(86400), MaximumRetryAttempts: aws.Int32(185)},
		DeadLetterConfig: &types.DeadLetterConfig{Arn: aws.String(s.settings.DeadLetterARN)},
	}
	window := &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff}
	_, err = s.client.CreateSchedule(ctx, &scheduler.CreateScheduleInput{
		Name: aws.String(name), GroupName: aws.String(s.settings.Group), Description: aws.String(description),
		ScheduleExpression: aws.String(expression), ScheduleExpressionTimezone: aws.String("UTC"),
		FlexibleTimeWindow: window, Target: t, ActionAfterCompletion: types.ActionAfterCompletionDelete,
	})
	var exists *types.ConflictException
	if errors.As(err, &exists) {
		// Update replaces the whole schedule: every part again.
		_, err = s.client.UpdateSchedule(ctx, &scheduler.UpdateScheduleInput{
			Name: aws.String(name), GroupName: aws.String(s.settings.Group), Description: aws.String(description),
			ScheduleExpression: aws.String(expression), ScheduleExpressionTimezone: aws.String("UTC"),
			FlexibleTimeWindow: window, Target: t, ActionAfterCompletion: types.ActionAfterCompletionDelete,
		})
	}
	return classify(err)
}

// Rearm makes the schedule the record says, for an invocation that came
// before its time: the record was moved and its schedule may not have
// been (the Scheduler failed or the function stopped between the two).
func (s *Schedules) Rearm(ctx context.Context, via, secretARN string, rec userledger.Expiry) error {
	for range 3 {
		if err := s.schedule(ctx, Payload{SecretARN: secretARN, Via: via, Token: rec.Token}, rec.At); err != nil {
			return err
		}
		// A PATCH between the read and this schedule moved the record:
		// the schedule follows the record, not the read.
		now, found, err := s.records.Expiry(ctx, via, secretARN)
		if err != nil || !found || now.Expiring || now.Expired || now.At.Equal(rec.At) && now.Token == rec.Token {
			return err
		}
		rec = now
	}
	return nil
}

// RetryFor is how long an expiry that fails (a database out of reach)
// retries itself, on its own schedules, from its first attempt. Lambda's
// own retries of a function error last about three minutes.
const RetryFor = 24 * time.Hour

// retryDelay is the wait before retry n (from 1): 5 minutes, doubling, at
// most an hour.
func retryDelay(n int) time.Duration {
	d := 5 * time.Minute
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Retry schedules the next attempt of the expiry p, begun as rec, and says
// when; ok is false once RetryFor has passed: the failure is then the
// function's, for Lambda's retries and the dead-letter queue.
func (s *Schedules) Retry(ctx context.Context, p Payload, rec userledger.Expiry, now time.Time) (at time.Time, ok bool, err error) {
	if !rec.Expiring || now.Sub(rec.Began) >= RetryFor {
		return time.Time{}, false, nil
	}
	next := Payload{SecretARN: p.SecretARN, Via: p.Via, Token: rec.Token, Attempt: max(p.Attempt, 0) + 1}
	at = now.Add(retryDelay(next.Attempt)).Truncate(time.Second)
	if err := s.schedule(ctx, next, at); err != nil {
		return time.Time{}, false, err
	}
	return at, true, nil
}

// Begin marks a verified, due expiry as under way, so that no PATCH or
// DELETE acts on it from now on. moved is set when the record changed
// since it was read: moved, removed or begun by another delivery.
func (s *Schedules) Begin(ctx context.Context, via, secretARN string, rec userledger.Expiry, now time.Time) (moved bool, err error) {
	if rec.Expiring {
		return false, nil
	}
	next := rec
	next.Expiring, next.Began = true, now.UTC().Truncate(time.Second)
	err = s.records.PutExpiry(ctx, via, secretARN, &rec, next)
	if errors.Is(err, userledger.ErrExpiryChanged) {
		return true, nil
	}
	return false, err
}

// underWay: the expiry began and has not finished or given up (its last
// retry may still be running for a while after RetryFor).
func underWay(rec userledger.Expiry, now time.Time) bool {
	return rec.Expiring && !rec.Expired && now.Sub(rec.Began) < RetryFor+time.Hour
}

// At is when the secret made through via expires; nil when it does not.
func (s *Schedules) At(ctx context.Context, via, secretARN string) (*time.Time, error) {
	rec, found, err := s.records.Expiry(ctx, via, secretARN)
	if err != nil || !found || rec.Expired {
		return nil, err
	}
	return &rec.At, nil
}

// Cancel removes the secret's expiry: its schedules, then its record, on
// the condition that the record is as read, so that an expiry that begins
// meanwhile is never cancelled under it (a conflict, as for one under way
// already). DELETE cancels first: an expiry that fires after finds no
// record and does nothing.
func (s *Schedules) Cancel(ctx context.Context, via, secretARN string) error {
	for range 5 {
		rec, found, err := s.records.Expiry(ctx, via, secretARN)
		if err != nil || !found {
			return err
		}
		if underWay(rec, time.Now()) {
			return errExpiring()
		}
		if err := s.deleteSchedule(ctx, via, secretARN); err != nil {
			return err
		}
		if err := s.records.ForgetExpiry(ctx, via, secretARN, &rec); !errors.Is(err, userledger.ErrExpiryChanged) {
			return err
		}
	}
	return errcode.New(errcode.Unavailable, "the expiry record kept changing; retry")
}

// Due is an expiry an invocation proved: its record.
type Due struct {
	userledger.Expiry
	// Early is set when the record says a later time (the expiry was
	// moved, and this is the old schedule firing): nothing is to be done.
	Early bool
}

// early is how much sooner than recorded a schedule may fire and still
// be the one: clocks differ.
const early = time.Minute

// Verify checks an invocation's payload against the record: the secret's
// expiry, with the same token. Anything else is forbidden, and names no
// detail of what was recorded.
func (s *Schedules) Verify(ctx context.Context, p Payload, now time.Time) (Due, error) {
	refused := errcode.New(errcode.Forbidden, "the expiry payload matches no expiry the provisioner scheduled")
	if p.SecretARN == "" || p.Via == "" || len(p.Token) != 64 || strings.ContainsAny(p.Via, "#") {
		return Due{}, refused
	}
	rec, found, err := s.records.Expiry(ctx, p.Via, p.SecretARN)
	if err != nil {
		return Due{}, err
	}
	if !found || subtle.ConstantTimeCompare([]byte(rec.Token), []byte(p.Token)) != 1 {
		return Due{}, refused
	}
	return Due{Expiry: rec, Early: now.Add(early).Before(rec.At)}, nil
}

// Finish marks the secret's expiry done and removes its schedule (the
// Scheduler deletes a one-time schedule once it invoked, but a moved
// one may remain). The record stays, so a second delivery is a success.
func (s *Schedules) Finish(ctx context.Context, via, secretARN string, rec userledger.Expiry) error {
	if !rec.Expired {
		done := rec
		done.Expired = true
		if err := s.records.PutExpiry(ctx, via, secretARN, &rec, done); err != nil && !errors.Is(err, userledger.ErrExpiryChanged) {
			return err
		}
	}
	return s.deleteSchedule(ctx, via, secretARN)
}

// deleteSchedule deletes both of the secret's schedules.
func (s *Schedules) deleteSchedule(ctx context.Context, via, secretARN string) error {
	for _, name := range []string{Name(via, secretARN), RetryName(via, secretARN)} {
		_, err := s.client.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String(name), GroupName: aws.String(s.settings.Group)})
		var gone *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &gone) {
			return classify(err)
		}
	}
	return nil
}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", errcode.Wrap(err, errcode.Internal, "making an expiry token")
	}
	return hex.EncodeToString(b), nil
}

func classify(err error) error {
	if err == nil {
		return nil
	}
	return awsclient.Classify(err, "EventBridge Scheduler")
}
