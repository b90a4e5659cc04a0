package stack_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/local/testenv/core"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// countingRotations counts the rotation calls that reach moto.
type countingRotations struct {
	*secretsmanager.Client
	rotates, cancels atomic.Int32
}

func (c *countingRotations) RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error) {
	c.rotates.Add(1)
	return c.Client.RotateSecret(ctx, in, opts...)
}

func (c *countingRotations) CancelRotateSecret(ctx context.Context, in *secretsmanager.CancelRotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.CancelRotateSecretOutput, error) {
	c.cancels.Add(1)
	return c.Client.CancelRotateSecret(ctx, in, opts...)
}

// rotationFunction registers a function in moto's Lambda.
func rotationFunction(t *testing.T, name string) string {
	t.Helper()
	arn, err := core.Moto(t).RotationFunction(primary, name)
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

func RotationOf(t *testing.T, id string) (bool, string, types.RotationRulesType) {
	t.Helper()
	d := describe(t, id)
	var rules types.RotationRulesType
	if d.RotationRules != nil {
		rules = *d.RotationRules
	}
	return aws.ToBool(d.RotationEnabled), aws.ToString(d.RotationLambdaARN), rules
}

func TestCreateSwitchesRotationOn(t *testing.T) {
	ctx := context.Background()
	pg, team := rotationFunction(t, "rotate-pg"), rotationFunction(t, "team-rotate")
	l, calls := rotating(t, map[string]string{
		"ROTATION_FUNCTION_POSTGRESQL": pg,
		"ROTATION_FUNCTIONS_ALLOWED":   "arn:aws:lambda:" + primary + ":123456789012:function:team-*",
		"ROTATION_SCHEDULE":            "30",
	})
	for _, tc := range []struct {
		name     string
		request  string
		enabled  bool
		function string
		rules    types.RotationRulesType
	}{
		{"request function and schedule", `"engine": "postgres", "host": "db.internal", "rotationLambdaArn": "` + team + `",
			"rotationRules": {"scheduleExpression": "cron(0 2 ? * SUN *)", "duration": "3h"}`,
			true, team, types.RotationRulesType{ScheduleExpression: aws.String("cron(0 2 ? * SUN *)"), Duration: aws.String("3h")}},
		{"deployment function and schedule", `"engine": "aurora-postgresql", "host": "db.internal"`,
			true, pg, types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}},
		{"deployment function and request days as strings", `"Engine": "postgres", "Host": "db.internal", "RotationRules": {"AutomaticallyAfterDays": "7"}, "RotateImmediately": "false"`,
			true, pg, types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(7)}},
		{"opted out", `"engine": "postgres", "host": "db.internal", "rotationEnabled": false`, false, "", types.RotationRulesType{}},
		{"an engine without a default", `"engine": "mysql", "host": "db.internal"`, false, "", types.RotationRulesType{}},
		{"not a database secret", `"secretString": "s3cr3t", "rotationLambdaArn": "` + team + `", "rotationRules": {"scheduleExpression": "rate(12 hours)", "duration": "2h"}`,
			true, team, types.RotationRulesType{ScheduleExpression: aws.String("rate(12 hours)"), Duration: aws.String("2h")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := uniqueName(t)
			before := calls.rotates.Load()
			res, err := l.Create(ctx, resource(t, "create"), decode(t, `{"name": "`+name+`", `+tc.request+`}`))
			if err != nil {
				t.Fatal(err)
			}
			enabled, function, rules := RotationOf(t, name)
			if enabled != tc.enabled || function != tc.function ||
				aws.ToInt64(rules.AutomaticallyAfterDays) != aws.ToInt64(tc.rules.AutomaticallyAfterDays) ||
				aws.ToString(rules.ScheduleExpression) != aws.ToString(tc.rules.ScheduleExpression) || aws.ToString(rules.Duration) != aws.ToString(tc.rules.Duration) {
				t.Fatalf("secret rotates %v with %q and %+v; want %v with %q and %+v", enabled, function, rules, tc.enabled, tc.function, tc.rules)
			}
			if got := calls.rotates.Load() - before; got != map[bool]int32{true: 1, false: 0}[tc.enabled] {
				t.Fatalf("RotateSecret called %d times", got)
			}
			if !tc.enabled {
				if res.Rotation != nil {
					t.Fatalf("result says rotation %+v", res.Rotation)
				}
				return
			}
			if res.Rotation == nil || !res.Rotation.Enabled || res.Rotation.FunctionARN != tc.function || res.Rotation.Rules == nil {
				t.Fatalf("result's rotation %+v", res.Rotation)
			}
			if tc.rules.AutomaticallyAfterDays != nil && res.Rotation.NextRotationDate == nil {
				t.Fatalf("no next rotation date in %+v", res.Rotation)
			}
		})
	}
}

// Everything a request could get wrong about rotation is refused before
// any call: no secret is made.
func TestInvalidRotationMakesNothing(t *testing.T) {
	ctx := context.Background()
	pg := rotationFunction(t, "rotate-pg")
	l, calls := rotating(t, map[string]string{"ROTATION_FUNCTION_POSTGRESQL": pg})
	for _, tc := range []struct {
		request string
		code    errcode.Code
		field   string
	}{
		{`"rotationRules": {"automaticallyAfterDays": 0}`, errcode.Invalid, "rotationRules.automaticallyAfterDays"},
		{`"rotationRules": {"automaticallyAfterDays": 1001}`, errcode.Invalid, "rotationRules.automaticallyAfterDays"},
		{`"rotationRules": {"automaticallyAfterDays": 7, "scheduleExpression": "rate(7 days)"}`, errcode.Invalid, "rotationRules.scheduleExpression"},
		{`"rotationRules": {"scheduleExpression": "rate(2 hours)"}`, errcode.Invalid, "rotationRules.scheduleExpression"},
		{`"rotationRules": {"scheduleExpression": "cron(15 2 * * ? *)"}`, errcode.Invalid, "rotationRules.scheduleExpression"},
		{`"rotationRules": {"scheduleExpression": "cron(0 22 * * ? *)", "duration": "3h"}`, errcode.Invalid, "rotationRules.duration"},
		{`"rotationRules": {"scheduleExpression": "rate(6 hours)", "duration": "90m"}`, errcode.Invalid, "rotationRules.duration"},
		{`"rotationRules": {"every": "week"}`, errcode.Invalid, "rotationRules.every"},
		{`"rotationRules": {}`, errcode.Invalid, "rotationRules"},
		{`"rotationLambdaArn": "rotate-pg"`, errcode.Invalid, "rotationLambdaArn"},
		{`"rotationLambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:someone-elses"`, errcode.Forbidden, "rotationLambdaArn"},
		{`"rotationEnabled": false, "rotationRules": {"automaticallyAfterDays": 7}`, errcode.Invalid, "rotationRules"},
		{`"rotationRules": {"automaticallyAfterDays": 7}, "engine": "mysql"`, errcode.Invalid, "rotationLambdaArn"},
	} {
		name := uniqueName(t)
		request := `{"name": "` + name + `", "engine": "postgres", "host": "db.internal", ` + tc.request + `}`
		if strings.Count(request, `"engine"`) == 2 {
			request = strings.Replace(request, `"engine": "postgres", `, "", 1)
		}
		r, err := provision.DecodeRequest([]byte(request))
		if err == nil {
			_, err = l.Create(ctx, resource(t, "create"), r)
		}
		if errcode.Of(err) != tc.code || errcode.FieldOf(err) != tc.field {
			t.Errorf("%s: got %v (%s, field %q), want %s on %q", tc.request, err, errcode.Of(err), errcode.FieldOf(err), tc.code, tc.field)
		}
		_, derr := client(t, primary).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
		var notFound *types.ResourceNotFoundException
		if !errors.As(derr, &notFound) {
			t.Errorf("%s: a secret was made (%v)", tc.request, derr)
		}
	}
	if n := calls.rotates.Load(); n != 0 {
		t.Fatalf("RotateSecret called %d times", n)
	}
}

// A function that does not exist is known only to the service: the secret
// exists, and the error names it so that a rollback deletes it.
func TestMissingRotationFunction(t *testing.T) {
	l, _ := rotating(t, map[string]string{"ROTATION_FUNCTIONS_ALLOWED": "arn:aws:lambda:*:123456789012:function:*"})
	name := uniqueName(t)
	res, err := l.Create(context.Background(), resource(t, "create"), decode(t, `{"name": "`+name+`", "engine": "postgres", "host": "db",
		"rotationLambdaArn": "arn:aws:lambda:`+primary+`:123456789012:function:never-made", "rotationRules": {"automaticallyAfterDays": 30}}`))
	if errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != "rotationLambdaArn" || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("got %v", err)
	}
	if res.ARN == "" || describe(t, name).ARN == nil {
		t.Fatalf("the result %+v does not name the secret made", res)
	}
}

// A retried request (Lambda's retry, a redelivered event) finds rotation
// on and changes nothing: one RotateSecret, one schedule.
func TestRetrySwitchesRotationOnOnce(t *testing.T) {
	ctx := context.Background()
	pg := rotationFunction(t, "rotate-pg")
	svcFor := func() (*provision.Service, *countingRotations) {
		defaults, _ := rotation.DefaultsFromEnv(func(k string) string {
			return map[string]string{"ROTATION_FUNCTION_POSTGRESQL": pg, "ROTATION_SCHEDULE": "rate(10 days)"}[k]
		})
		c := &countingRotations{Client: client(t, primary)}
		cfg := testConfig(t, testGrants)
		cfg.Rotation = defaults
		return core.ServiceWith(t, cfg, secretstore.New(c), rotation.NewWithCancel(c)), c
	}
	svc, calls := svcFor()
	name := uniqueName(t)
	r := decode(t, `{"name": "`+name+`", "engine": "postgres", "host": "db.internal", "rotateImmediately": true}`)
	first, err := svc.Create(ctx, r, "event-1")
	if err != nil {
		t.Fatal(err)
	}
	versions := versionCount(t, name)
	for i := 0; i < 2; i++ {
		again, err := svc.Create(ctx, r, "event-1")
		if err != nil {
			t.Fatal(err)
		}
		if !again.Replayed || again.ARN != first.ARN || again.Rotation == nil || !again.Rotation.Enabled {
			t.Fatalf("retry %+v", again)
		}
	}
	if n := calls.rotates.Load(); n != 1 {
		t.Fatalf("RotateSecret called %d times, want once", n)
	}
	if n := versionCount(t, name); n != versions {
		t.Fatalf("%d versions after the retries, %d before", n, versions)
	}
}

func TestUpdateChangesOrStopsRotation(t *testing.T) {
	ctx := context.Background()
	pg, v2 := rotationFunction(t, "rotate-pg"), rotationFunction(t, "rotate-pg-v2")
	env := map[string]string{"ROTATION_FUNCTIONS_ALLOWED": "arn:aws:lambda:" + primary + ":123456789012:function:rotate-*"}
	l, calls := rotating(t, env)
	name := uniqueName(t)
	props := func(rotation string) provision.Request {
		return decode(t, `{"name": "`+name+`", "engine": "postgres", "host": "db.internal"`+rotation+`}`)
	}
	weekly := props(`, "rotationLambdaArn": "` + pg + `", "rotationRules": {"scheduleExpression": "rate(7 days)", "duration": "4h"}`)
	res, err := l.Create(ctx, resource(t, "create"), weekly)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name        string
		old, now    provision.Request
		rotates     int32
		cancels     int32
		enabled     bool
		function    string
		expression  string
		description string
	}{
		{"nothing about rotation changed", weekly, weekly, 0, 0, true, pg, "rate(7 days)", ""},
		{"a new schedule", weekly, props(`, "rotationLambdaArn": "` + pg + `", "rotationRules": {"scheduleExpression": "cron(0 3 ? * MON *)"}`), 1, 0, true, pg, "cron(0 3 ? * MON *)", ""},
		{"a new function", props(`, "rotationLambdaArn": "` + pg + `", "rotationRules": {"scheduleExpression": "cron(0 3 ? * MON *)"}`),
			props(`, "rotationLambdaArn": "` + v2 + `", "rotationRules": {"scheduleExpression": "cron(0 3 ? * MON *)"}`), 1, 0, true, v2, "cron(0 3 ? * MON *)", ""},
		{"rotation properties removed", props(`, "rotationLambdaArn": "` + v2 + `", "rotationRules": {"scheduleExpression": "cron(0 3 ? * MON *)"}`), props(``), 0, 1, false, v2, "cron(0 3 ? * MON *)", ""},
		{"still removed", props(``), props(`, "description": "x"`), 0, 0, false, v2, "cron(0 3 ? * MON *)", ""},
		{"back on", props(``), weekly, 1, 0, true, pg, "rate(7 days)", ""},
		{"opted out", weekly, props(`, "rotationEnabled": false`), 0, 1, false, pg, "rate(7 days)", ""},
	}
	for i, step := range steps {
		r0, c0 := calls.rotates.Load(), calls.cancels.Load()
		got, err := l.Update(ctx, resource(t, "update"+string(rune('a'+i))), res.ARN, step.old, step.now)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if r, c := calls.rotates.Load()-r0, calls.cancels.Load()-c0; r != step.rotates || c != step.cancels {
			t.Fatalf("%s: %d RotateSecret and %d CancelRotateSecret, want %d and %d", step.name, r, c, step.rotates, step.cancels)
		}
		enabled, function, rules := RotationOf(t, res.ARN)
		if enabled != step.enabled || function != step.function || aws.ToString(rules.ScheduleExpression) != step.expression {
			t.Fatalf("%s: secret rotates %v with %s on %s", step.name, enabled, function, aws.ToString(rules.ScheduleExpression))
		}
		if got.Rotation == nil && step.enabled || got.Rotation != nil && got.Rotation.Enabled != step.enabled {
			t.Fatalf("%s: result's rotation %+v", step.name, got.Rotation)
		}
	}
}

// Without deployment defaults nothing changes for a request that does not
// ask for rotation: no call, no rotation.
func TestNoRotationAskedNoCall(t *testing.T) {
	l, calls := rotating(t, nil)
	name := uniqueName(t)
	if _, err := l.Create(context.Background(), resource(t, "create"), decode(t, `{"name": "`+name+`", "engine": "postgres", "host": "db"}`)); err != nil {
		t.Fatal(err)
	}
	if calls.rotates.Load() != 0 || describe(t, name).RotationEnabled != nil && *describe(t, name).RotationEnabled {
		t.Fatal("rotation was switched on")
	}
}
