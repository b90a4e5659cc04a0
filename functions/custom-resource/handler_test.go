package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/provision/provisiontest"
)

// receiver stands in for the presigned S3 URL and records what arrives.
type receiver struct {
	status      int
	method      string
	contentType string
	body        cfn.Response
}

func (rc *receiver) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.method, rc.contentType = r.Method, r.Header.Get("Content-Type")
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &rc.body); err != nil {
			t.Errorf("the answer is not JSON: %s", raw)
		}
		w.WriteHeader(rc.status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/stack-response?X-Amz-Signature=SIGNATURE-SECRET"
}

func loadEvent(t *testing.T, name string) cfn.Event {
	var e cfn.Event
	provisiontest.Event(t, name, &e)
	return e
}

const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/orders/postgres-AbCdEf"

func created(provision.Request, string) (provision.Result, error) {
	return provision.Result{ARN: arn, Name: "app/orders/postgres", VersionID: "v-1", Username: "orders_app"}, nil
}

func TestCreate(t *testing.T) {
	event := loadEvent(t, "custom-resource-create.json")
	rc := &receiver{status: http.StatusOK}
	event.ResponseURL = rc.start(t)
	var got provision.Request
	var gotKey string
	secrets := &provisiontest.Creator{CreateFunc: func(r provision.Request, key string) (provision.Result, error) {
		got, gotKey = r, key
		return created(r, key)
	}}
	if err := (&handler{secrets: secrets, responder: http.DefaultClient}).handle(context.Background(), event); err != nil {
		t.Fatal(err)
	}
	if got.Name != "app/orders/postgres" || got.Engine != "postgres" || got.Port == nil || *got.Port != 5432 || len(got.ReplicaRegions) != 1 || len(got.Tags) != 2 {
		t.Fatalf("the core got %+v", got)
	}
	if !strings.Contains(gotKey, event.RequestID) {
		t.Fatalf("idempotency key %q does not follow the request id", gotKey)
	}
	if rc.method != http.MethodPut || rc.contentType != "" {
		t.Fatalf("answer sent as %s with content type %q; the presigned URL wants a PUT without one", rc.method, rc.contentType)
	}
	b := rc.body
	if b.Status != cfn.StatusSuccess || b.PhysicalResourceID != arn || !b.NoEcho || b.RequestID != event.RequestID ||
		b.StackID != event.StackID || b.LogicalResourceID != event.LogicalResourceID {
		t.Fatalf("answer %+v", b)
	}
	want := map[string]any{"Arn": arn, "Name": "app/orders/postgres", "VersionId": "v-1", "Username": "orders_app"}
	if len(b.Data) != len(want) {
		t.Fatalf("Data %v, want exactly %v", b.Data, want)
	}
	for k, v := range want {
		if b.Data[k] != v {
			t.Fatalf("Data %v, want %v", b.Data, want)
		}
	}
}

func TestCreateFailures(t *testing.T) {
	tests := []struct {
		name       string
		properties map[string]any
		err        error
		reason     string
		hidden     string
	}{
		{"a rule the core enforces", nil, errcode.Invalidf("replicaRegions[0].region", "%q is not a Region name", "Europe"), "replicaRegions[0].region", ""},
		{"a property of the wrong form", map[string]any{"Port": "fifty"}, nil, "port: must be a whole number", ""},
		{"an unknown property", map[string]any{"Colour": "blue"}, nil, "Colour: is not a known field", ""},
		{"a conflict", nil, errcode.New(errcode.Conflict, "secret %q already exists", "app/orders/postgres"), "already exists", ""},
		{"a bug of ours", nil, errors.New("nil pointer at 0xdeadbeef in db.internal:5432"), "internal error", "0xdeadbeef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			event := loadEvent(t, "custom-resource-create.json")
			rc := &receiver{status: http.StatusOK}
			event.ResponseURL = rc.start(t)
			for k, v := range tt.properties {
				event.ResourceProperties[k] = v
			}
			secrets := &provisiontest.Creator{CreateFunc: func(r provision.Request, key string) (provision.Result, error) {
				if tt.err != nil {
					return provision.Result{}, tt.err
				}
				return created(r, key)
			}}
			if err := (&handler{secrets: secrets, responder: http.DefaultClient}).handle(context.Background(), event); err != nil {
				t.Fatal(err)
			}
			b := rc.body
			if b.Status != cfn.StatusFailed || !strings.Contains(b.Reason, tt.reason) {
				t.Fatalf("answer %+v, want FAILED with a reason containing %q", b, tt.reason)
			}
			if tt.hidden != "" && strings.Contains(b.Reason, tt.hidden) {
				t.Fatalf("internal details reached CloudFormation: %q", b.Reason)
			}
			if b.PhysicalResourceID != event.RequestID || b.Data != nil {
				t.Fatalf("a failed Create answered physical id %q and data %v; want the request id and no data", b.PhysicalResourceID, b.Data)
			}
		})
	}
}

// TestUpdateAndDeleteKeepTheSecret: until the lifecycle work lands they
// change nothing, call nothing, and answer with the same physical id.
func TestUpdateAndDeleteKeepTheSecret(t *testing.T) {
	for _, name := range []string{"custom-resource-update.json", "custom-resource-delete.json"} {
		t.Run(name, func(t *testing.T) {
			event := loadEvent(t, name)
			rc := &receiver{status: http.StatusOK}
			event.ResponseURL = rc.start(t)
			secrets := &provisiontest.Creator{CreateFunc: created}
			if err := (&handler{secrets: secrets, responder: http.DefaultClient}).handle(context.Background(), event); err != nil {
				t.Fatal(err)
			}
			if rc.body.Status != cfn.StatusSuccess || rc.body.PhysicalResourceID != event.PhysicalResourceID || secrets.Calls() != 0 {
				t.Fatalf("answer %+v after %d core calls", rc.body, secrets.Calls())
			}
		})
	}
}

// TestDeliveryFailureIsRetriedAndHidesTheURL: an undelivered answer is an
// error, so Lambda retries, and its text holds no part of the presigned
// query string.
func TestDeliveryFailureIsRetriedAndHidesTheURL(t *testing.T) {
	rejecting := &receiver{status: http.StatusForbidden}
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL + "/stack-response?X-Amz-Signature=SIGNATURE-SECRET"
	closed.Close()
	for name, url := range map[string]string{"rejected": rejecting.start(t), "unreachable": closedURL} {
		t.Run(name, func(t *testing.T) {
			event := loadEvent(t, "custom-resource-create.json")
			event.ResponseURL = url
			err := (&handler{secrets: &provisiontest.Creator{CreateFunc: created}, responder: http.DefaultClient}).handle(context.Background(), event)
			if err == nil {
				t.Fatal("an undelivered answer must be an error")
			}
			if strings.Contains(err.Error(), "SIGNATURE-SECRET") || strings.Contains(err.Error(), "X-Amz") {
				t.Fatalf("the error shows the presigned URL: %v", err)
			}
		})
	}
}
