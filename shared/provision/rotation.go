package provision

import (
	"context"

	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// RotationOf is the rotation r asks for, filled in from the deployment's
// defaults, or nil for none. Every rule is applied here, before any call.
func (s *Service) RotationOf(r Request, k Kind) (*rotation.Settings, error) {
	d := s.config.Rotation
	immediately := r.RotateImmediately != nil && bool(*r.RotateImmediately)
	if r.RotationEnabled != nil && !*r.RotationEnabled {
		for _, f := range []struct {
			field string
			given bool
		}{{"rotationLambdaArn", r.RotationLambdaARN != ""}, {"rotationRules", r.RotationRules != nil}, {"rotateImmediately", immediately}} {
			if f.given {
				return nil, errcode.Invalidf(f.field, "cannot be given with rotationEnabled false")
			}
		}
		return nil, nil
	}
	arn := r.RotationLambdaARN
	if arn == "" && k == KindDatabase {
		arn = d.FunctionFor(r.Engine)
	}
	if arn == "" {
		if r.RotationEnabled == nil && r.RotationRules == nil && !immediately {
			return nil, nil
		}
		if k == KindDatabase {
			return nil, errcode.Invalidf("rotationLambdaArn", "is required to rotate: this deployment has no default rotation function for engine %s", errcode.Quote(r.Engine))
		}
		return nil, errcode.Invalidf("rotationLambdaArn", "is required to rotate a secret that is not a database secret")
	}
	if r.RotationLambdaARN != "" {
		if _, ok := awsname.ParseFunctionARN(arn); !ok {
			return nil, errcode.Invalidf("rotationLambdaArn", "must be a Lambda function ARN, like arn:aws:lambda:us-east-1:123456789012:function:NAME, got %s", errcode.Quote(arn))
		}
		if !d.Allows(arn) {
			return nil, &errcode.Error{Code: errcode.Forbidden, Field: "rotationLambdaArn",
				Message: "is not a rotation function this deployment allows (its RotationFunction* and AllowedRotationFunctions parameters)"}
		}
	}
	rules := d.Rules
	if rr := r.RotationRules; rr != nil {
		rules = rotation.Rules{ScheduleExpression: rr.ScheduleExpression, Duration: rr.Duration}
		if rr.AutomaticallyAfterDays != nil {
			if rules.AutomaticallyAfterDays = int(*rr.AutomaticallyAfterDays); rules.AutomaticallyAfterDays == 0 {
				return nil, errcode.Invalidf("rotationRules.automaticallyAfterDays", "must be between 1 and %d, got 0", rotation.MaxAutomaticallyAfterDays)
			}
		}
	}
	if r.RotationRules == nil && rules == (rotation.Rules{}) {
		return nil, errcode.Invalidf("rotationRules", "is required to rotate: this deployment sets no default schedule")
	}
	if err := rules.Check("rotationRules"); err != nil {
		return nil, err
	}
	return &rotation.Settings{FunctionARN: arn, Rules: rules, RotateImmediately: immediately}, nil
}

// rotate switches on the rotation r asks for, once its secret (and user)
// exists, and adds the secret's rotation to the result. A failure keeps
// the result, which names the secret, so that a CloudFormation rollback
// deletes it; a retry of the same request completes it.
func (s *Service) rotate(ctx context.Context, r Request, res Result, idempotencyKey string) (Result, error) {
	k, _ := r.Kind()
	want, err := s.RotationOf(r, k)
	if err != nil || want == nil {
		return res, err
	}
	var current rotation.Status
	if res.Replayed { // an earlier attempt may have switched it on
		sec, err := s.store.Describe(ctx, res.ARN)
		if err != nil {
			return res, err
		}
		current = rotation.StatusOf(sec)
	}
	return s.ApplyRotation(ctx, res, current, *want, idempotencyKey)
}

// ApplyRotation brings the secret's rotation from current to want, and
// reads back what the secret then does.
func (s *Service) ApplyRotation(ctx context.Context, res Result, current rotation.Status, want rotation.Settings, idempotencyKey string) (Result, error) {
	called, err := s.rotator.Apply(ctx, res.ARN, current, want, rotationToken(idempotencyKey))
	if err != nil {
		return res, err
	}
	if !called {
		res.Rotation = &current
		return res, nil
	}
	return s.RotationNow(ctx, res)
}

// RotationNow adds what the secret's rotation is now to res.
func (s *Service) RotationNow(ctx context.Context, res Result) (Result, error) {
	sec, err := s.store.Describe(ctx, res.ARN)
	if err != nil {
		return res, err
	}
	st := rotation.StatusOf(sec)
	res.Rotation = &st
	return res, nil
}

// rotationToken is RotateSecret's ClientRequestToken for a request: its
// own, never the version token CreateSecret or PutSecretValue used, which
// would name an existing version.
func rotationToken(idempotencyKey string) string {
	if idempotencyKey == "" {
		return ""
	}
	return secretstore.Token(idempotencyKey + "\x00rotation")
}

// CancelRotation turns the secret's rotation off (only the custom
// resource's rotator may) and reads back what it then does.
func (s *Service) CancelRotation(ctx context.Context, res Result, status rotation.Status) (Result, error) {
	if err := s.rotator.Cancel(ctx, res.ARN, status); err != nil {
		return res, err
	}
	return s.RotationNow(ctx, res)
}
