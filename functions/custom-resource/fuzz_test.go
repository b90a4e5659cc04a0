package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/stack"
)

// recorder stands in for the ResponseURL and keeps what it was sent.
type recorder struct{ body []byte }

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.body, _ = io.ReadAll(req.Body)
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(""))}, nil
}

// FuzzEvent: whatever CloudFormation (or an attacker able to invoke the
// function) sends, the function answers SUCCESS or FAILED within 4096
// bytes, with a reason when it fails, and never panics.
func FuzzEvent(f *testing.F) {
	for _, name := range []string{"custom-resource-create.json", "custom-resource-update.json", "custom-resource-delete.json",
		"custom-resource-create-invalid.json", "custom-resource-create-oversized.json"} {
		data, err := os.ReadFile("../../events/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"RequestType": "Create", "ResponseURL": "http://x/", "ResourceProperties": {"Port": {"a": []}}}`))
	f.Add([]byte(`{"RequestType": "Explode", "ResponseURL": "http://x/"}`))
	f.Add([]byte("{\"RequestType\": \"Create\", \"ResponseURL\": \"http://x/\", \"ResourceProperties\": {\"Name\": \"\xff\"}}"))
	ok := provision.Result{ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/x-AbCdEf", Name: "app/x", VersionID: "v"}
	secrets := &fakeLifecycle{
		create: func(stack.Resource, provision.Request) (provision.Result, error) { return ok, nil },
		update: func(stack.Resource, string, provision.Request, provision.Request) (provision.Result, error) {
			return ok, nil
		},
		delete: func(stack.Resource, string, provision.DeleteOptions) (string, error) { return "", nil },
	}
	// Fuzz workers share their output pipe with the coordinator: a handler
	// logging every input can fill it and stall the worker.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewJSONHandler(io.Discard, nil)))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e event
		if json.Unmarshal(data, &e) != nil {
			return // the Lambda runtime refuses what does not decode
		}
		e.ResponseURL = "http://cloudformation.invalid/response"
		rec := &recorder{}
		if err := (&handler{secrets: secrets, responder: rec}).handle(context.Background(), e); err != nil {
			t.Fatalf("no answer delivered: %v", err)
		}
		var answer cfn.Response
		if err := json.Unmarshal(rec.body, &answer); err != nil {
			t.Fatalf("the answer is not JSON: %q", rec.body)
		}
		// The identifiers are echoed verbatim, or CloudFormation cannot match
		// the answer; CloudFormation's own are far below the limit together.
		echoed := len(e.StackID) + len(e.RequestID) + len(e.LogicalResourceID) + len(e.PhysicalResourceID)
		if len(rec.body) > maxResponseBytes && echoed < maxResponseBytes/2 || answer.PhysicalResourceID == "" && e.RequestID != "" ||
			answer.Status != cfn.StatusSuccess && answer.Status != cfn.StatusFailed ||
			answer.Status == cfn.StatusFailed && answer.Reason == "" {
			t.Fatalf("answer %s", rec.body)
		}
	})
}
