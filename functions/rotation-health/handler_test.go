package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/rotationhealth"
)

type recorder func(rotationhealth.Event) (rotationhealth.Observation, error)

func (r recorder) Record(_ context.Context, e rotationhealth.Event) (rotationhealth.Observation, error) {
	return r(e)
}

// TestHandle: the fixture reaches the core whole; an event that is no
// rotation outcome is dropped (retrying cannot help); a failure to record
// is returned, so that Lambda retries.
func TestHandle(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "secretsmanager-rotation-failed.json"))
	if err != nil {
		t.Fatal(err)
	}
	var event events.EventBridgeEvent
	if err := json.Unmarshal(raw, &event); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		answer  error
		wantErr bool
	}{
		{"recorded", nil, false},
		{"not a rotation outcome", errcode.Invalidf("detail.eventName", "is not a rotation outcome"), false},
		{"Secrets Manager did not answer", errcode.New(errcode.Unavailable, "no answer"), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got rotationhealth.Event
			h := &handler{health: recorder(func(e rotationhealth.Event) (rotationhealth.Observation, error) {
				got = e
				return rotationhealth.Observation{Outcome: "Failed", SecretARN: "arn"}, tt.answer
			})}
			err := h.handle(context.Background(), event)
			if (err != nil) != tt.wantErr {
				t.Fatalf("handle: %v, want an error %v", err, tt.wantErr)
			}
			if got.Source != "aws.secretsmanager" || got.DetailType != "AWS Service Event via CloudTrail" || got.Account != "123456789012" || len(got.Detail) == 0 {
				t.Fatalf("the core got %+v", got)
			}
		})
	}
}
