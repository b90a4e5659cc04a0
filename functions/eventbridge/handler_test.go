package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/dbcreds/provisioner/local/testenv"
	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
)

func loadEvent(t *testing.T, name string) events.EventBridgeEvent {
	var e events.EventBridgeEvent
	testenv.Event(t, name, &e)
	return e
}

func TestCreate(t *testing.T) {
	event := loadEvent(t, "eventbridge-request.json")
	want := provision.Result{ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/analytics/redshift-AbCdEf", Name: "app/analytics/redshift", VersionID: "v-1"}
	var got provision.Request
	var gotKey string
	secrets := &fakeCreator{CreateFunc: func(r provision.Request, key string) (provision.Result, error) {
		got, gotKey = r, key
		return want, nil
	}}
	result, err := (&handler{secrets: secrets, trust: sampleTrust}).handle(context.Background(), event)
	if err != nil {
		t.Fatal(err)
	}
	// The id within its source and account: another source that learnt
	// the id claims nothing of this event's secret.
	if result.ARN != want.ARN || gotKey != "dbcreds.requests@123456789012\x00"+event.ID {
		t.Fatalf("result %+v with key %q; want %+v with the event id in its source and account", result, gotKey, want)
	}
	if got.Provenance != (provision.Provenance{By: "dbcreds.requests@123456789012", Via: "eventbridge",
		Caller: dbgrants.Caller{Kind: dbgrants.KindEvents, Name: "dbcreds.requests", Account: "123456789012"}}) {
		t.Fatalf("provenance %+v", got.Provenance)
	}
	if got.Engine != "redshift" || got.Username != "loader" || len(got.ReplicaRegions) != 1 || got.ReplicaRegions[0].Region != "eu-west-1" {
		t.Fatalf("the core got %+v", got)
	}
}

// TestErrorsAreReturned: an error is never swallowed, so Lambda retries and
// a request that keeps failing reaches the failure destination; its type
// says whether a retry can help.
func TestErrorsAreReturned(t *testing.T) {
	invalid := loadEvent(t, "eventbridge-request-invalid.json")
	tests := []struct {
		name    string
		detail  json.RawMessage
		err     error
		errType string
		message string
		calls   int
	}{
		{"malformed detail fails before any call", invalid.Detail, nil, "Permanent.invalid", "port: must be a whole number", 0},
		{"missing detail", json.RawMessage(``), nil, "Permanent.invalid", "not valid JSON", 0},
		{"a secret this event did not create", nil, errcode.New(errcode.Conflict, "secret \"app/x\" already exists and was not created by this request"), "Permanent.conflict", "already exists", 1},
		{"throttled", nil, errcode.New(errcode.Throttled, "Secrets Manager is throttling requests"), "Retryable.throttled", "throttling", 1},
		{"unreachable", nil, errcode.Wrap(errors.New("dial tcp 10.0.0.1:443"), errcode.Unavailable, "Secrets Manager could not be reached"), "Retryable.unavailable", "could not be reached", 1},
		{"a bug of ours", nil, errors.New("boom at handler.go:12"), "Internal", "internal error", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			event := loadEvent(t, "eventbridge-request.json")
			if tt.detail != nil || tt.err == nil {
				event.Detail = tt.detail
			}
			secrets := &fakeCreator{CreateFunc: func(provision.Request, string) (provision.Result, error) { return provision.Result{}, tt.err }}
			_, err := (&handler{secrets: secrets, trust: sampleTrust}).handle(context.Background(), event)
			var ie messages.InvokeResponse_Error
			if !errors.As(err, &ie) || ie.Type != tt.errType || !strings.Contains(ie.Message, tt.message) || secrets.Calls() != tt.calls {
				t.Fatalf("got %#v after %d calls, want %s with %q after %d", err, secrets.Calls(), tt.errType, tt.message, tt.calls)
			}
			if strings.Contains(ie.Message, "10.0.0.1") || strings.Contains(ie.Message, "handler.go") {
				t.Fatalf("internal details in the error: %q", ie.Message)
			}
		})
	}
}

// sampleTrust trusts what the template's defaults do for the sample events:
// the source dbcreds.requests, from the stack's own account.
var sampleTrust = trust{sources: map[string]bool{"dbcreds.requests": true}, accounts: map[string]bool{"123456789012": true}}

// TestOnlyTrustedEvents: an event from another source, another account or
// of another detail-type is Permanent.forbidden and reaches nothing.
func TestOnlyTrustedEvents(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*events.EventBridgeEvent)
	}{
		{"another source", func(e *events.EventBridgeEvent) { e.Source = "aws.evil" }},
		{"another account", func(e *events.EventBridgeEvent) { e.AccountID = "999999999999" }},
		{"both", func(e *events.EventBridgeEvent) { e.Source, e.AccountID = "aws.evil", "999999999999" }},
		{"no source", func(e *events.EventBridgeEvent) { e.Source = "" }},
		{"another detail-type", func(e *events.EventBridgeEvent) { e.DetailType = "Database Secret Deleted" }},
		{"a source in another case", func(e *events.EventBridgeEvent) { e.Source = "DBCREDS.requests" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			event := loadEvent(t, "eventbridge-request.json")
			tt.edit(&event)
			secrets := &fakeCreator{CreateFunc: func(provision.Request, string) (provision.Result, error) { return provision.Result{}, nil }}
			_, err := (&handler{secrets: secrets, trust: sampleTrust}).handle(context.Background(), event)
			var ie messages.InvokeResponse_Error
			if !errors.As(err, &ie) || ie.Type != "Permanent.forbidden" || secrets.Calls() != 0 {
				t.Fatalf("got %#v after %d calls, want Permanent.forbidden and no call", err, secrets.Calls())
			}
		})
	}
}

func TestTrustFromEnv(t *testing.T) {
	for _, tt := range []struct {
		name     string
		env      map[string]string
		accounts []string
		err      bool
	}{
		{"own account", map[string]string{envSources: "dbcreds.requests", envOwnAccount: "123456789012"}, []string{"123456789012"}, false},
		{"a list", map[string]string{envSources: "a, b", envAccounts: "111111111111,222222222222", envOwnAccount: "123456789012"}, []string{"111111111111", "222222222222"}, false},
		{"no sources", map[string]string{envOwnAccount: "123456789012"}, nil, true},
		{"no account at all", map[string]string{envSources: "a"}, nil, true},
		{"a bad account", map[string]string{envSources: "a", envAccounts: "12345"}, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := trustFromEnv(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.err {
				t.Fatalf("error %v", err)
			}
			if err == nil && len(got.accounts) != len(tt.accounts) {
				t.Fatalf("accounts %v, want %v", got.accounts, tt.accounts)
			}
			for _, a := range tt.accounts {
				if err == nil && !got.accounts[a] {
					t.Fatalf("accounts %v, want %v", got.accounts, tt.accounts)
				}
			}
		})
	}
}

// TestThrottledEventsWait: an event throttled after the SDK's attempts
// waits and tries again, with the same key, while the invocation has time;
// near its deadline it answers throttled (retryable) at once.
func TestThrottledEventsWait(t *testing.T) {
	event := loadEvent(t, "eventbridge-request.json")
	for _, tt := range []struct {
		name      string
		timeout   time.Duration
		calls     int
		wantError bool
	}{
		{"time left", 30 * time.Second, 3, false},
		{"near the deadline", 4 * time.Second, 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var keys []string
			secrets := &fakeCreator{CreateFunc: func(_ provision.Request, key string) (provision.Result, error) {
				keys = append(keys, key)
				if len(keys) < 3 {
					return provision.Result{}, errcode.New(errcode.Throttled, "Secrets Manager is throttling requests")
				}
				return provision.Result{ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/x-AbCdEf"}, nil
			}}
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			_, err := (&handler{secrets: secrets, trust: sampleTrust}).handle(ctx, event)
			if len(keys) != tt.calls || (err != nil) != tt.wantError {
				t.Fatalf("%d calls, %v; want %d calls, error %v", len(keys), err, tt.calls, tt.wantError)
			}
			for _, k := range keys {
				if k != keys[0] {
					t.Fatalf("the tries used different keys: %q", keys)
				}
			}
		})
	}
}
