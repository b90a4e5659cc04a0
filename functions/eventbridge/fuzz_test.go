package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/dbcreds/provisioner/shared/provision"
)

// FuzzEvent: any event creates a secret or fails with a typed error the
// failure destination can read, and never panics.
func FuzzEvent(f *testing.F) {
	for _, name := range []string{"eventbridge-request.json", "eventbridge-request-invalid.json"} {
		data, err := os.ReadFile("../../events/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"id": "1", "detail": "not an object"}`))
	f.Add([]byte(`{"id": "1", "detail": {"name": "app/x", "replicaRegions": [null]}}`))
	secrets := &fakeCreator{CreateFunc: func(r provision.Request, key string) (provision.Result, error) {
		return provision.Result{ARN: "arn", Name: r.Name}, nil
	}}
	// Fuzz workers share their output pipe with the coordinator: a handler
	// logging every input can fill it and stall the worker.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewJSONHandler(io.Discard, nil)))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e events.EventBridgeEvent
		if json.Unmarshal(data, &e) != nil {
			return
		}
		_, err := (&handler{secrets: secrets, trust: sampleTrust}).handle(context.Background(), e)
		if err == nil {
			return
		}
		var ie messages.InvokeResponse_Error
		if !errors.As(err, &ie) || ie.Message == "" || !(strings.HasPrefix(ie.Type, permanent) || strings.HasPrefix(ie.Type, retryable) || ie.Type == "Internal") {
			t.Fatalf("error %#v", err)
		}
	})
}
