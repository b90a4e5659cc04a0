package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
)

// secretCreator is the core's Create.
type secretCreator interface {
	Create(ctx context.Context, r provision.Request, idempotencyKey string) (provision.Result, error)
}

type handler struct {
	secrets secretCreator
}

// handle creates the secret an event asks for. The event id is the
// idempotency key, so every delivery of one event creates one secret. An
// error is returned, never swallowed: Lambda then retries, and a request
// that keeps failing reaches the failure destination.
func (h *handler) handle(ctx context.Context, event events.EventBridgeEvent) (provision.Result, error) {
	log := slog.With("eventId", event.ID, "source", event.Source, "detailType", event.DetailType)
	r, err := provision.DecodeRequest(event.Detail)
	r.Provenance = provision.Provenance{By: event.Source + "@" + event.AccountID, Via: "eventbridge"}
	if err == nil {
		var result provision.Result
		if result, err = h.secrets.Create(ctx, r, event.ID); err == nil {
			log.InfoContext(ctx, "secret created", "arn", result.ARN, "versionId", result.VersionID)
			return result, nil
		}
	}
	public := errcode.Public(err)
	log.ErrorContext(ctx, "request failed", "error", public)
	return provision.Result{}, public
}
