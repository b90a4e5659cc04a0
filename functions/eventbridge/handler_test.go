package main

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/provision/provisiontest"
)

func loadEvent(t *testing.T) events.EventBridgeEvent {
	var e events.EventBridgeEvent
	provisiontest.Event(t, "eventbridge-request.json", &e)
	return e
}

func TestCreate(t *testing.T) {
	event := loadEvent(t)
	want := provision.Result{ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/analytics/redshift-AbCdEf", Name: "app/analytics/redshift", VersionID: "v-1"}
	var got provision.Request
	var gotKey string
	secrets := &provisiontest.Creator{CreateFunc: func(r provision.Request, key string) (provision.Result, error) {
		got, gotKey = r, key
		return want, nil
	}}
	result, err := (&handler{secrets: secrets}).handle(context.Background(), event)
	if err != nil {
		t.Fatal(err)
	}
	if result.ARN != want.ARN || gotKey != event.ID {
		t.Fatalf("result %+v with key %q; want %+v with the event id", result, gotKey, want)
	}
	if got.Provenance != (provision.Provenance{By: "dbcreds.requests@123456789012", Via: "eventbridge"}) {
		t.Fatalf("provenance %+v", got.Provenance)
	}
	if got.Engine != "redshift" || got.Username != "loader" || len(got.ReplicaRegions) != 1 || got.ReplicaRegions[0].Region != "eu-west-1" {
		t.Fatalf("the core got %+v", got)
	}
}

// TestErrorsAreReturned: an error is never swallowed, so Lambda retries and
// a request that keeps failing reaches the failure destination.
func TestErrorsAreReturned(t *testing.T) {
	tests := []struct {
		name   string
		detail string
		err    error
		code   errcode.Code
		field  string
		calls  int
	}{
		{"malformed detail fails before any call", `{"name": "app/x", "port": "many"}`, nil, errcode.Invalid, "port", 0},
		{"missing detail", ``, nil, errcode.Invalid, "", 0},
		{"upstream failure", `{"name": "app/x", "secretString": "v"}`, errcode.New(errcode.Upstream, "Secrets Manager failed"), errcode.Upstream, "", 1},
		{"a bug of ours", `{"name": "app/x", "secretString": "v"}`, errors.New("boom"), errcode.Internal, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			event := loadEvent(t)
			event.Detail = json.RawMessage(tt.detail)
			secrets := &provisiontest.Creator{CreateFunc: func(provision.Request, string) (provision.Result, error) { return provision.Result{}, tt.err }}
			_, err := (&handler{secrets: secrets}).handle(context.Background(), event)
			if errcode.Of(err) != tt.code || errcode.FieldOf(err) != tt.field || secrets.Calls() != tt.calls {
				t.Fatalf("got %v after %d calls, want %s on %q after %d", err, secrets.Calls(), tt.code, tt.field, tt.calls)
			}
			if tt.code == errcode.Internal && err.Error() != "internal error" {
				t.Fatalf("internal details returned: %v", err)
			}
		})
	}
}
