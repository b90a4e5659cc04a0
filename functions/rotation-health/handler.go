package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/rotationhealth"
)

// handler decodes a rotation event and records it.
type handler struct {
	health interface {
		Record(ctx context.Context, e rotationhealth.Event) (rotationhealth.Observation, error)
	}
}

// handle records the event. One that is not a rotation outcome of this
// deployment's secrets is logged and dropped: retrying cannot make it one.
// A failure to describe the secret is returned, so that Lambda retries.
func (h *handler) handle(ctx context.Context, event events.EventBridgeEvent) error {
	o, err := h.health.Record(ctx, rotationhealth.Event{Source: event.Source, DetailType: event.DetailType,
		Account: event.AccountID, Region: event.Region, Detail: event.Detail})
	switch {
	case errcode.Of(err) == errcode.Invalid:
		slog.WarnContext(ctx, "not a rotation outcome of this deployment's secrets: dropped", "eventId", errcode.Clip(event.ID), "error", errcode.Public(err))
		return nil
	case err != nil:
		slog.ErrorContext(ctx, "rotation outcome not recorded", "eventId", errcode.Clip(event.ID), "error", errcode.Public(err))
		return errcode.Public(err)
	}
	log := slog.With("arn", o.SecretARN, "outcome", o.Outcome, "trigger", o.Trigger, "engine", o.Engine)
	if o.DescribeError != nil {
		log.WarnContext(ctx, "the secret's tags could not be read: recorded as of an unknown trigger and engine", "error", errcode.Public(o.DescribeError))
	}
	if o.Outcome == "Succeeded" {
		log.InfoContext(ctx, "rotation succeeded")
		return nil
	}
	log.ErrorContext(ctx, "rotation did not complete: the next one will fail until it is recovered (docs/rotation.md)", "rotationError", o.Message)
	return nil
}
