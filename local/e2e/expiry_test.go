package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/awslite/dynamodb"

	"github.com/dbcreds/provisioner/local/emulate/invoke"
	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/local/testenv/motoserver"
	"github.com/dbcreds/provisioner/shared/expiry"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// Expiry through the real bootstraps, against moto's Scheduler and a real
// PostgreSQL: the schedule made, moved and removed; its payload removing
// the credential; look-alike payloads refused.

// The template's resources as a local run names them (a Ref is the
// logical id).
const (
	scheduleGroup  = "ExpiryScheduleGroup"
	schedulerRole  = "arn:aws:iam::" + invoke.AccountID + ":role/ExpirySchedulerRole"
	expiryQueueARN = "arn:aws:sqs:us-east-1:" + invoke.AccountID + ":ExpiryFailuresQueue"
	usersTable     = "DatabaseUsersTable"
)

// scheduleOf is the schedule of the secret made through via; nil when
// there is none.
func scheduleOf(t *testing.T, via, arn string) *scheduler.GetScheduleOutput {
	t.Helper()
	out, err := motoserver.SchedulerClient(moto.Env(), "us-east-1").GetSchedule(context.Background(),
		&scheduler.GetScheduleInput{Name: aws.String(expiry.Name(via, arn)), GroupName: aws.String(scheduleGroup)})
	if err != nil {
		if strings.Contains(err.Error(), "ResourceNotFound") {
			return nil
		}
		t.Fatal(err)
	}
	return out
}

// checkSchedule checks what the Scheduler would run: once, at at, the
// function, with the Scheduler's role, deleting itself after, with the
// payload it returns.
func checkSchedule(t *testing.T, s *scheduler.GetScheduleOutput, function string, at time.Time) expiry.Payload {
	t.Helper()
	if s == nil {
		t.Fatal("no schedule")
	}
	if want := "at(" + at.UTC().Format("2006-01-02T15:04:05") + ")"; aws.ToString(s.ScheduleExpression) != want || aws.ToString(s.ScheduleExpressionTimezone) != "UTC" {
		t.Errorf("expression %s %s, want %s UTC", aws.ToString(s.ScheduleExpression), aws.ToString(s.ScheduleExpressionTimezone), want)
	}
	if s.ActionAfterCompletion != "DELETE" || s.FlexibleTimeWindow == nil || s.FlexibleTimeWindow.Mode != "OFF" {
		t.Errorf("after completion %q, window %+v", s.ActionAfterCompletion, s.FlexibleTimeWindow)
	}
	tg := s.Target
	if want := "arn:aws:lambda:us-east-1:" + invoke.AccountID + ":function:" + function; aws.ToString(tg.Arn) != want {
		t.Errorf("target %s, want %s", aws.ToString(tg.Arn), want)
	}
	if aws.ToString(tg.RoleArn) != schedulerRole || tg.DeadLetterConfig == nil || aws.ToString(tg.DeadLetterConfig.Arn) != expiryQueueARN {
		t.Errorf("role %s, dead letters %+v", aws.ToString(tg.RoleArn), tg.DeadLetterConfig)
	}
	if tg.RetryPolicy == nil || aws.ToInt32(tg.RetryPolicy.MaximumRetryAttempts) != 185 || aws.ToInt32(tg.RetryPolicy.MaximumEventAgeInSeconds) != 86400 {
		t.Errorf("retry policy %+v", tg.RetryPolicy)
	}
	var inv expiry.Invocation
	if err := json.Unmarshal([]byte(aws.ToString(tg.Input)), &inv); err != nil || inv.Expiry == nil || len(inv.Expiry.Token) != 64 {
		t.Fatalf("payload %s: %v", aws.ToString(tg.Input), err)
	}
	return *inv.Expiry
}

// expire invokes function with a schedule's payload, as the Scheduler
// does.
func expire(t *testing.T, function string, p expiry.Payload, overrides map[string]string) (map[string]any, string) {
	t.Helper()
	out, _ := runWith(t, invocation{function: function, event: "http-api-get.json", overrides: overrides, edit: func(e map[string]any) {
		for k := range e {
			delete(e, k)
		}
		e[expiry.PayloadKey] = map[string]any{"secretArn": p.SecretARN, "via": p.Via, "token": p.Token}
	}})
	if out.InitError != nil {
		t.Fatalf("init: %+v", out.InitError)
	}
	if out.Error != nil {
		return nil, out.Error.Type + ": " + out.Error.Message
	}
	var result map[string]any
	json.Unmarshal(out.Response, &result)
	return result, ""
}

// timePasses moves the recorded expiry of the secret made through via to
// a minute ago, as if its time had come.
func timePasses(t *testing.T, via, arn string) {
	t.Helper()
	_, err := ledgerClient(t).UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName:                 aws.String(usersTable),
		Key:                       map[string]dbtypes.AttributeValue{"id": &dbtypes.AttributeValueMemberS{Value: via + "#expiry#" + arn}},
		UpdateExpression:          aws.String("SET #at = :at"),
		ConditionExpression:       aws.String("attribute_exists(id)"),
		ExpressionAttributeNames:  map[string]string{"#at": "at"},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":at": &dbtypes.AttributeValueMemberS{Value: time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ledgerClient is a DynamoDB client of moto's, for the tests' own reads
// and writes of DatabaseUsersTable.
func ledgerClient(t *testing.T) *dynamodb.Client {
	t.Helper()
	client, err := userledger.ClientFromEnvironment(func(k string) string {
		if k == "AWS_REGION" {
			return "us-east-1"
		}
		return moto.Env()[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// apiSend is an HTTP API request with a JSON body on /secrets/name.
func apiSend(t *testing.T, method, name, body string) apiAnswer {
	t.Helper()
	return apiCall(t, invocation{overrides: openGrants, edit: func(e map[string]any) {
		e["body"] = body
		e["headers"].(map[string]any)["content-type"] = "application/json"
	}}, method, name, "payments-team", "", nil)
}

// TestExpiryThroughTheApi: a PostgreSQL user whose secret expires after
// two hours; the schedule, a retry, GET, PATCH, forged payloads, and the
// expiry itself.
func TestExpiryThroughTheApi(t *testing.T) {
	s := dbServer(t, "postgres")
	master := masterSecretFor(t, "masters/expiry/master_api", s)
	name := "app/payments/expiring"
	body := fmt.Sprintf(`{"name": %q, "engine": "postgres", "host": %q, "port": %d, "dbname": %q, "username": "expiring_ci", "masterSecretArn": %q, "createDatabaseUser": true, "expiresAfter": "PT2H"}`,
		name, s.Host, s.Port, dbserver.Database, master)
	post := func() apiAnswer {
		return apiCall(t, invocation{overrides: openGrants, edit: func(e map[string]any) {
			e["headers"].(map[string]any)["idempotency-key"] = "expiry-api-1"
		}}, "POST", "", "payments-team", body, nil)
	}
	before := time.Now()
	a := post()
	var created struct {
		ARN       string    `json:"arn"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	json.Unmarshal([]byte(a.Body), &created)
	if a.Status != 201 || created.ExpiresAt.Before(before.Add(2*time.Hour)) || created.ExpiresAt.After(time.Now().Add(2*time.Hour+time.Second)) {
		t.Fatalf("create: %+v", a)
	}
	payload := checkSchedule(t, scheduleOf(t, "http-api", created.ARN), "HttpApiFunction", created.ExpiresAt)
	if payload.SecretARN != created.ARN || payload.Via != "http-api" {
		t.Fatalf("payload %+v", payload)
	}
	if again := post(); again.Status != 201 || again.Body != a.Body {
		t.Fatalf("the retry: %+v, want %+v", again, a)
	}
	if got := checkSchedule(t, scheduleOf(t, "http-api", created.ARN), "HttpApiFunction", created.ExpiresAt); got != payload {
		t.Fatalf("the retry changed the payload: %+v", got)
	}
	if g := apiCall(t, invocation{}, "GET", name, "payments-team", "", nil); g.Status != 200 || !strings.Contains(g.Body, `"expiresAt":"`+created.ExpiresAt.Format(time.RFC3339)+`"`) {
		t.Fatalf("GET: %+v", g)
	}

	// Moved a day out: the same schedule and token, a later time.
	p := apiSend(t, "PATCH", name, `{"expiresAfter": "P1D"}`)
	var moved struct {
		ExpiresAt time.Time `json:"expiresAt"`
	}
	json.Unmarshal([]byte(p.Body), &moved)
	if p.Status != 200 || moved.ExpiresAt.Sub(created.ExpiresAt) < 21*time.Hour {
		t.Fatalf("PATCH: %+v", p)
	}
	if got := checkSchedule(t, scheduleOf(t, "http-api", created.ARN), "HttpApiFunction", moved.ExpiresAt); got != payload {
		t.Fatalf("moving changed the payload: %+v", got)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"expiresAfter": "PT10M"}`, "expiresAfter"},
		{`{"expiresAfter": "P1Y"}`, "expiresAfter"},
		{`{"expiresAt": "2020-01-01T00:00:00Z"}`, "expiresAt"},
		{`{"expiresAfter": "PT1H", "expiresAt": "2099-01-01T00:00:00Z"}`, "expiresAt"},
		{`{"name": "app/payments/other"}`, "name"},
		{`{}`, ""},
	} {
		if r := apiSend(t, "PATCH", name, tc.body); r.Status != 400 || !strings.Contains(r.Body, `"field":"`+tc.field+`"`) && tc.field != "" {
			t.Errorf("PATCH %s: %+v", tc.body, r)
		}
	}

	// The old schedule firing late finds the expiry not yet due.
	if out, failed := expire(t, "HttpApiFunction", payload, openGrants); failed != "" || out["outcome"] != "not-due" {
		t.Fatalf("an early expiry: %v %s", out, failed)
	}
	// Look-alikes: another token, another trigger's via, another secret.
	forged := payload
	forged.Token = strings.Repeat("0", 64)
	other := payload
	other.Via = "eventbridge"
	elsewhere := payload
	elsewhere.SecretARN = master
	for _, p := range []expiry.Payload{forged, other, elsewhere, {SecretARN: payload.SecretARN, Via: "http-api"}} {
		if _, failed := expire(t, "HttpApiFunction", p, openGrants); !strings.Contains(failed, "forbidden") {
			t.Errorf("payload %+v: %q, want forbidden", p, failed)
		}
	}
	timePasses(t, "http-api", created.ARN)
	if _, failed := expire(t, "HttpApiFunction", forged, openGrants); !strings.Contains(failed, "forbidden") {
		t.Fatalf("a forged payload when due: %q", failed)
	}
	if userCount(t, s, "expiring_ci") != 1 || describeSecret(t, created.ARN).DeletedDate != nil {
		t.Fatal("a refused payload removed something")
	}

	// Its time: the user is dropped, the secret recoverable for 7 days.
	out, failed := expire(t, "HttpApiFunction", payload, openGrants)
	if failed != "" || out["outcome"] != "expired" {
		t.Fatalf("the expiry: %v %s", out, failed)
	}
	if userCount(t, s, "expiring_ci") != 0 || userCount(t, s, "expiring_ci_clone") != 0 {
		t.Fatal("the user outlived its expiry")
	}
	d := describeSecret(t, created.ARN)
	if d.DeletedDate == nil || d.DeletedDate.Sub(time.Now()) < 7*24*time.Hour-time.Hour || d.DeletedDate.Sub(time.Now()) > 7*24*time.Hour+time.Hour {
		t.Fatalf("deleted %v, want in 7 days", d.DeletedDate)
	}
	if scheduleOf(t, "http-api", created.ARN) != nil {
		t.Fatal("the schedule outlived the expiry")
	}
	// A second delivery of the same invocation succeeds and does nothing.
	if out, failed := expire(t, "HttpApiFunction", payload, openGrants); failed != "" || out["outcome"] != "done" {
		t.Fatalf("a second delivery: %v %s", out, failed)
	}
}

// TestExpiryLifecycle: PATCH null removes the schedule, DELETE removes a
// schedule with its secret, and events make expiring secrets whose
// expiry is a success when the secret is already gone.
func TestExpiryLifecycle(t *testing.T) {
	mk := func(name, extra string) string {
		a := apiCall(t, invocation{}, "POST", "", "payments-team", `{"name": "`+name+`", "engine": "mysql", "host": "h"`+extra+`}`, nil)
		var r struct {
			ARN string `json:"arn"`
		}
		json.Unmarshal([]byte(a.Body), &r)
		if a.Status != 201 || scheduleOf(t, "http-api", r.ARN) == nil {
			t.Fatalf("create %s: %+v", name, a)
		}
		return r.ARN
	}
	at := time.Now().Add(3 * time.Hour).UTC().Format(time.RFC3339)
	kept := mk("app/payments/expiry-removed", `, "expiresAt": "`+at+`"`)
	if p := apiSend(t, "PATCH", "app/payments/expiry-removed", `{"expiresAt": null}`); p.Status != 200 || !strings.Contains(p.Body, `"expiresAt":null`) {
		t.Fatalf("PATCH null: %+v", p)
	}
	if scheduleOf(t, "http-api", kept) != nil {
		t.Fatal("the schedule outlived its removal")
	}
	if g := apiCall(t, invocation{}, "GET", "app/payments/expiry-removed", "payments-team", "", nil); g.Status != 200 || strings.Contains(g.Body, "expiresAt") {
		t.Fatalf("GET after the removal: %+v", g)
	}

	deleted := mk("app/payments/expiry-deleted", `, "expiresAfter": "PT30M"`)
	if d := apiCall(t, invocation{}, "DELETE", "app/payments/expiry-deleted", "payments-team", "", nil); d.Status != 202 {
		t.Fatalf("DELETE: %+v", d)
	}
	if scheduleOf(t, "http-api", deleted) != nil {
		t.Fatal("DELETE left the schedule")
	}

	// Events: forced at expiry; the secret is gone before its time.
	result, errType, msg, _ := deliver(t, "eventbridge-request.json", func(e map[string]any) {
		e["id"] = "expiry-event-1"
		e["detail"] = map[string]any{"name": "app/analytics/expiring", "engine": "mysql", "host": "h", "expiresAt": at, "forceDeleteOnExpiry": true}
	}, nil)
	if errType != "" {
		t.Fatalf("%s %s", errType, msg)
	}
	arn, _ := result["arn"].(string)
	payload := checkSchedule(t, scheduleOf(t, "eventbridge", arn), "EventBridgeFunction", mustTime(t, at))
	if _, failed := expire(t, "HttpApiFunction", payload, nil); !strings.Contains(failed, "forbidden") {
		t.Fatalf("another trigger's function took the expiry: %q", failed)
	}
	timePasses(t, "eventbridge", arn)
	out, failed := expire(t, "EventBridgeFunction", payload, nil)
	if failed != "" || out["outcome"] != "expired" {
		t.Fatalf("the expiry: %v %s", out, failed)
	}
	if _, err := secretsClient(t, "us-east-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)}); err == nil {
		t.Fatal("forceDeleteOnExpiry left the secret")
	}

	result, _, _, _ = deliver(t, "eventbridge-request.json", func(e map[string]any) {
		e["id"] = "expiry-event-2"
		e["detail"] = map[string]any{"name": "app/analytics/expiring-gone", "engine": "mysql", "host": "h", "expiresAfter": "PT1H"}
	}, nil)
	arn, _ = result["arn"].(string)
	payload = checkSchedule(t, scheduleOf(t, "eventbridge", arn), "EventBridgeFunction", mustTime(t, result["expiresAt"].(string)))
	if _, err := secretsClient(t, "us-east-1").DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(arn), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	timePasses(t, "eventbridge", arn)
	if out, failed := expire(t, "EventBridgeFunction", payload, nil); failed != "" || out["outcome"] != "gone" {
		t.Fatalf("a gone secret's expiry: %v %s", out, failed)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestExpiryRefused: bad expiries are refused with the field named, and
// nothing is made; a stack may not ask for one.
func TestExpiryRefused(t *testing.T) {
	for i, tc := range []struct{ extra, field string }{
		{`"expiresAfter": "PT14M"`, "expiresAfter"},
		{`"expiresAfter": "P366D"`, "expiresAfter"},
		{`"expiresAfter": "P1M"`, "expiresAfter"},
		{`"expiresAfter": "8h"`, "expiresAfter"},
		{`"expiresAt": "` + time.Now().Add(10*time.Minute).UTC().Format(time.RFC3339) + `"`, "expiresAt"},
		{`"expiresAt": "` + time.Now().AddDate(1, 0, 2).UTC().Format(time.RFC3339) + `"`, "expiresAt"},
		{`"expiresAt": "tomorrow"`, "expiresAt"},
		{`"expiresAfter": "PT1H", "expiresAt": "` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"`, "expiresAt"},
		{`"forceDeleteOnExpiry": true`, "forceDeleteOnExpiry"},
	} {
		name := fmt.Sprintf("app/payments/expiry-refused-%d", i)
		a := apiCall(t, invocation{}, "POST", "", "payments-team", `{"name": "`+name+`", "engine": "mysql", "host": "h", `+tc.extra+`}`, nil)
		if a.Status != 400 || !strings.Contains(a.Body, `"field":"`+tc.field+`"`) {
			t.Errorf("%s: %+v", tc.extra, a)
		}
		notCreated(t, name)
	}
	cfn := customResource(t, "custom-resource-create.json", "eeeeeeee-0000-4000-8000-000000000001", "app/payments/expiry-by-stack", "", func(p map[string]any) {
		p["ExpiresAfter"] = "PT1H"
	})
	if cfn.Status != "FAILED" || !strings.Contains(cfn.Reason, "not for stacks") {
		t.Fatalf("a stack's expiry: %+v", cfn)
	}
	notCreated(t, "app/payments/expiry-by-stack")
}
