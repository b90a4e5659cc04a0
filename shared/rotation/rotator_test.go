package rotation

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	smithy "github.com/aws/smithy-go"

	"github.com/dbcreds/provisioner/shared/errcode"
)

type fakeClient struct {
	rotate func(*secretsmanager.RotateSecretInput) error
	cancel func(*secretsmanager.CancelRotateSecretInput) error
}

func (f fakeClient) RotateSecret(_ context.Context, in *secretsmanager.RotateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error) {
	return &secretsmanager.RotateSecretOutput{}, f.rotate(in)
}

func (f fakeClient) CancelRotateSecret(_ context.Context, in *secretsmanager.CancelRotateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.CancelRotateSecretOutput, error) {
	return &secretsmanager.CancelRotateSecretOutput{}, f.cancel(in)
}

const fn = "arn:aws:lambda:us-east-1:123456789012:function:rotate-pg"

func TestApply(t *testing.T) {
	weekly := Settings{FunctionARN: fn, Rules: Rules{ScheduleExpression: "rate(7 days)", Duration: "2h"}}
	for _, tc := range []struct {
		name    string
		current Status
		want    Settings
		token   string
		call    *secretsmanager.RotateSecretInput // nil: no call
	}{
		{name: "off: turned on, waiting for the schedule", want: weekly, token: "tok-1",
			call: &secretsmanager.RotateSecretInput{SecretId: aws.String("s"), RotationLambdaARN: aws.String(fn), RotateImmediately: aws.Bool(false), ClientRequestToken: aws.String("tok-1"),
				RotationRules: &types.RotationRulesType{ScheduleExpression: aws.String("rate(7 days)"), Duration: aws.String("2h")}}},
		{name: "already so: nothing", want: weekly,
			current: Status{Enabled: true, FunctionARN: fn, Rules: &Rules{ScheduleExpression: "rate(7 days)", Duration: "2h", AutomaticallyAfterDays: 7}}},
		{name: "the service's own days beside a schedule are not a difference", want: Settings{FunctionARN: fn, Rules: Rules{ScheduleExpression: "rate(7 days)"}},
			current: Status{Enabled: true, FunctionARN: fn, Rules: &Rules{ScheduleExpression: "rate(7 days)", Duration: "24h", AutomaticallyAfterDays: 7}}},
		{name: "turned off by hand: on again", want: weekly,
			current: Status{Enabled: false, FunctionARN: fn, Rules: &Rules{ScheduleExpression: "rate(7 days)", Duration: "2h"}},
			call: &secretsmanager.RotateSecretInput{SecretId: aws.String("s"), RotationLambdaARN: aws.String(fn), RotateImmediately: aws.Bool(false),
				RotationRules: &types.RotationRulesType{ScheduleExpression: aws.String("rate(7 days)"), Duration: aws.String("2h")}}},
		{name: "another function", want: Settings{FunctionARN: fn + "-v2", Rules: Rules{AutomaticallyAfterDays: 30}, RotateImmediately: true},
			current: Status{Enabled: true, FunctionARN: fn, Rules: &Rules{AutomaticallyAfterDays: 30}},
			call: &secretsmanager.RotateSecretInput{SecretId: aws.String("s"), RotationLambdaARN: aws.String(fn + "-v2"), RotateImmediately: aws.Bool(true),
				RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}}},
		{name: "other rules", want: Settings{FunctionARN: fn, Rules: Rules{AutomaticallyAfterDays: 30}},
			current: Status{Enabled: true, FunctionARN: fn, Rules: &Rules{AutomaticallyAfterDays: 7, ScheduleExpression: "rate(7 days)"}},
			call: &secretsmanager.RotateSecretInput{SecretId: aws.String("s"), RotationLambdaARN: aws.String(fn), RotateImmediately: aws.Bool(false),
				RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *secretsmanager.RotateSecretInput
			r := New(fakeClient{rotate: func(in *secretsmanager.RotateSecretInput) error { got = in; return nil }})
			called, err := r.Apply(context.Background(), "s", tc.current, tc.want, tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if called != (tc.call != nil) || !reflect.DeepEqual(got, tc.call) {
				t.Fatalf("called %v with %+v, want %+v", called, got, tc.call)
			}
		})
	}
}

func TestCancelOnlyWhenOn(t *testing.T) {
	calls := 0
	r := NewWithCancel(fakeClient{cancel: func(in *secretsmanager.CancelRotateSecretInput) error {
		calls++
		if aws.ToString(in.SecretId) != "s" {
			t.Errorf("cancelled %q", aws.ToString(in.SecretId))
		}
		return nil
	}})
	for _, on := range []bool{false, true} {
		if err := r.Cancel(context.Background(), "s", Status{Enabled: on, FunctionARN: fn}); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 {
		t.Fatalf("CancelRotateSecret called %d times, want once (only when on)", calls)
	}
}

func TestErrorsNameTheFunction(t *testing.T) {
	for _, tc := range []struct {
		err   error
		code  errcode.Code
		field string
	}{
		{&types.ResourceNotFoundException{Message: aws.String("Resource not found for ARN 'arn:aws:lambda:us-east-1:123456789012:function:nope'.")}, errcode.Invalid, "rotationLambdaArn"},
		{&smithy.GenericAPIError{Code: "AccessDeniedException", Message: "Secrets Manager cannot invoke the specified Lambda function."}, errcode.Forbidden, "rotationLambdaArn"},
		{&types.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}, errcode.NotFound, ""},
		{&types.InvalidRequestException{Message: aws.String("A previous rotation isn't complete.")}, errcode.Invalid, ""},
	} {
		r := New(fakeClient{rotate: func(*secretsmanager.RotateSecretInput) error { return tc.err }})
		_, err := r.Apply(context.Background(), "s", Status{}, Settings{FunctionARN: fn, Rules: Rules{AutomaticallyAfterDays: 1}}, "")
		if errcode.Of(err) != tc.code || errcode.FieldOf(err) != tc.field {
			t.Errorf("%v: got %v (%s, field %q), want %s on %q", tc.err, err, errcode.Of(err), errcode.FieldOf(err), tc.code, tc.field)
		}
	}
}
