package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/selfservice"
)

// FuzzEvent: any request gets a status of the contract and a JSON body,
// and never a panic.
func FuzzEvent(f *testing.F) {
	for _, name := range []string{"http-api-create.json", "http-api-get.json", "http-api-create-jwt.json"} {
		data, err := os.ReadFile("../../events/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"rawPath": "/secrets", "requestContext": {"http": {"method": "POST"}}, "headers": {"content-type": "application/json"}, "body": "{\"tags\": {\"a\": 1}}"}`))
	f.Add([]byte(`{"rawPath": "/secrets/%zz", "requestContext": {"http": {"method": "GET"}}}`))
	f.Add([]byte(`{"rawPath": "/secrets", "isBase64Encoded": true, "body": "!!", "requestContext": {"http": {"method": "POST"}}, "headers": {"content-type": "application/json"}}`))
	allowed := map[int]bool{}
	for _, status := range statusFor {
		allowed[status] = true
	}
	allowed[http.StatusCreated], allowed[http.StatusOK] = true, true
	secrets := &fakeSecrets{
		createFor: func(c selfservice.Caller, r provision.Request, k string) (provision.Result, error) {
			return provision.Result{ARN: "arn", Name: r.Name}, nil
		},
		describeFor: func(selfservice.Caller, string) (selfservice.Description, error) {
			return selfservice.Description{}, nil
		},
	}
	// Fuzz workers share their output pipe with the coordinator: a handler
	// logging every input can fill it and stall the worker.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewJSONHandler(io.Discard, nil)))
	f.Fuzz(func(t *testing.T, data []byte) {
		var req events.APIGatewayV2HTTPRequest
		if json.Unmarshal(data, &req) != nil {
			return
		}
		resp, err := (&handler{secrets: secrets}).handle(context.Background(), req)
		if err != nil || !allowed[resp.StatusCode] || !json.Valid([]byte(resp.Body)) {
			t.Fatalf("got %d %q, %v", resp.StatusCode, resp.Body, err)
		}
	})
}
