package rotation

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	smithy "github.com/aws/smithy-go"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// Settings are what RotateSecret is called with.
type Settings struct {
	FunctionARN string
	Rules       Rules
	// RotateImmediately rotates at once; otherwise the first rotation waits
	// for the schedule (Secrets Manager then only tests the function).
	RotateImmediately bool
}

// Status is a secret's rotation as DescribeSecret tells it.
type Status struct {
	Enabled          bool       `json:"enabled"`
	FunctionARN      string     `json:"rotationLambdaArn,omitempty"`
	Rules            *Rules     `json:"rules,omitempty"`
	NextRotationDate *time.Time `json:"nextRotationDate,omitempty"`
	LastRotatedDate  *time.Time `json:"lastRotatedDate,omitempty"`
	// Pending, where it was looked at (GET), says a version stands
	// AWSPENDING, not AWSCURRENT, past its rotation window: a rotation that
	// failed, which blocks the next ("A previous rotation isn't complete").
	Pending *bool `json:"pending,omitempty"`
}

// StatusOf reads a described secret's rotation.
func StatusOf(s secretstore.Secret) Status {
	st := Status{Enabled: s.RotationEnabled, FunctionARN: s.RotationLambdaARN, NextRotationDate: s.NextRotationDate, LastRotatedDate: s.LastRotatedDate}
	if r := s.RotationRules; r != nil {
		rules := Rules{AutomaticallyAfterDays: int(aws.ToInt64(r.AutomaticallyAfterDays)), ScheduleExpression: aws.ToString(r.ScheduleExpression), Duration: aws.ToString(r.Duration)}
		if rules != (Rules{}) {
			st.Rules = &rules
		}
	}
	return st
}

// Has reports whether the secret already rotates as want asks: enabled,
// with that function and every rule want sets. A rule want leaves out is
// not compared, since the service fills some in (days from a schedule, a
// default window).
func (s Status) Has(want Settings) bool {
	if !s.Enabled || s.FunctionARN != want.FunctionARN || s.Rules == nil {
		return false
	}
	w := want.Rules
	return (w.AutomaticallyAfterDays == 0 || s.Rules.AutomaticallyAfterDays == w.AutomaticallyAfterDays) &&
		(w.ScheduleExpression == "" || s.Rules.ScheduleExpression == w.ScheduleExpression) &&
		(w.Duration == "" || s.Rules.Duration == w.Duration)
}

// The operations, copying the SDK's signatures.
type (
	RotateSecretAPI interface {
		RotateSecret(ctx context.Context, params *secretsmanager.RotateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
	}
	CancelRotateSecretAPI interface {
		CancelRotateSecret(ctx context.Context, params *secretsmanager.CancelRotateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.CancelRotateSecretOutput, error)
	}
)

// Client is the part of the Secrets Manager client rotation uses.
type Client interface {
	RotateSecretAPI
	CancelRotateSecretAPI
}

// Rotator turns rotation on and changes it, and, when built with a
// client that can, turns it off.
type Rotator struct {
	client   RotateSecretAPI
	canceler CancelRotateSecretAPI
}

// New returns a rotator that turns rotation on, calling client, built
// once at init. Only what it calls is linked into a function.
func New(client RotateSecretAPI) *Rotator { return &Rotator{client: client} }

// NewWithCancel returns a rotator that also turns rotation off.
func NewWithCancel(client Client) *Rotator { return &Rotator{client: client, canceler: client} }

// Apply makes the secret id rotate as want asks, given its current status.
// When it already does, nothing is called: a retry neither rotates again
// nor sets the schedule twice. token, when not empty, is RotateSecret's
// ClientRequestToken (the new version's id), which keeps a retry whose
// first call was cut short from rotating twice. It reports whether it
// called RotateSecret.
func (r *Rotator) Apply(ctx context.Context, id string, current Status, want Settings, token string) (bool, error) {
	if current.Has(want) {
		return false, nil
	}
	in := &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(id),
		RotationLambdaARN: aws.String(want.FunctionARN),
		RotationRules:     &types.RotationRulesType{},
		RotateImmediately: aws.Bool(want.RotateImmediately),
	}
	if want.Rules.AutomaticallyAfterDays != 0 {
		in.RotationRules.AutomaticallyAfterDays = aws.Int64(int64(want.Rules.AutomaticallyAfterDays))
	}
	if want.Rules.ScheduleExpression != "" {
		in.RotationRules.ScheduleExpression = aws.String(want.Rules.ScheduleExpression)
	}
	if want.Rules.Duration != "" {
		in.RotationRules.Duration = aws.String(want.Rules.Duration)
	}
	if token != "" {
		in.ClientRequestToken = aws.String(token)
	}
	_, err := r.client.RotateSecret(ctx, in)
	return true, classify(err)
}

// Cancel turns the secret's rotation off, when it is on.
func (r *Rotator) Cancel(ctx context.Context, id string, current Status) error {
	if !current.Enabled {
		return nil
	}
	if r.canceler == nil {
		return errcode.New(errcode.Internal, "this rotator cannot turn rotation off")
	}
	_, err := r.canceler.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: aws.String(id)})
	return classify(err)
}

// classify names the rotation function where the service's answer is about
// it: a function that does not exist, or that Secrets Manager (or this
// function) may not invoke.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var notFound *types.ResourceNotFoundException
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &notFound) && strings.Contains(strings.ToLower(notFound.ErrorMessage()), "lambda"):
		return &errcode.Error{Code: errcode.Invalid, Field: "rotationLambdaArn", Err: err, Message: "the rotation function does not exist"}
	case errors.As(err, &apiErr) && (apiErr.ErrorCode() == "AccessDeniedException" || apiErr.ErrorCode() == "AccessDenied"):
		return &errcode.Error{Code: errcode.Forbidden, Field: "rotationLambdaArn", Err: err,
			Message: "the rotation function may not be used: RotateSecret needs lambda:InvokeFunction on it (the deployment's allowed rotation functions), and its resource policy must let secretsmanager.amazonaws.com invoke it"}
	}
	return secretstore.Classify(err)
}

// Stuck reports whether a version made at created and still AWSPENDING,
// not AWSCURRENT, at now has outlived the rotation window of rules: the
// window Duration sets; without one, an hour for a schedule in hours and
// the rest of the UTC day otherwise (RotationRulesType, Duration), so a
// day at the most. A rotation still inside its window is under way.
func Stuck(created time.Time, rules *Rules, now time.Time) bool {
	if created.IsZero() {
		return false
	}
	return now.After(created.Add(window(rules)))
}

func window(rules *Rules) time.Duration {
	if rules != nil {
		if hours, err := parseDuration(rules.Duration, "duration"); err == nil && rules.Duration != "" {
			return time.Duration(hours) * time.Hour
		}
		if strings.HasPrefix(rules.ScheduleExpression, "rate(") && strings.Contains(rules.ScheduleExpression, "hour") {
			return time.Hour
		}
	}
	return 24 * time.Hour
}
