package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/expiry"
	"github.com/dbcreds/provisioner/shared/provision"
)

// expirer removes a credential at its expiry.
type expirer interface {
	Expire(ctx context.Context, p expiry.Payload) (provision.Expired, error)
}

// invocation is what the function is invoked with: an EventBridge event,
// or an expiry's schedule (its payload under expiry.PayloadKey, a member
// EventBridge puts in no event: a publisher chooses only the detail).
type invocation struct {
	events.EventBridgeEvent
	Expiry *expiry.Payload `json:"dbcredsExpiry"`
}

// invoke serves an event, or a schedule's expiry.
func (h *handler) invoke(ctx context.Context, inv invocation) (any, error) {
	if inv.Expiry != nil {
		return h.expire(ctx, *inv.Expiry)
	}
	return h.handle(ctx, inv.EventBridgeEvent)
}

// expire removes the credential an expiry names, when events made it and
// the payload is its schedule's. A failure is the invocation's error, for
// Lambda to retry and then send to the failure destination and queue.
func (h *handler) expire(ctx context.Context, p expiry.Payload) (provision.Expired, error) {
	var err error
	out := provision.Expired{}
	if p.Via != via {
		err = errcode.New(errcode.Forbidden, "the expiry names a secret not made through events")
	} else {
		out, err = h.expirer.Expire(ctx, p)
	}
	if err != nil {
		public := errcode.Public(err)
		slog.ErrorContext(ctx, "expiry failed", "arn", errcode.Clip(p.SecretARN), "error", public)
		return provision.Expired{}, messages.InvokeResponse_Error{Type: errorType(public.Code), Message: public.Error()}
	}
	return out, nil
}
