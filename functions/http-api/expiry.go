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

// invocation is what the function is invoked with: an API Gateway
// request, or an expiry's schedule (its payload under expiry.PayloadKey,
// a member no request API Gateway sends has).
type invocation struct {
	events.APIGatewayV2HTTPRequest
	Expiry *expiry.Payload `json:"dbcredsExpiry"`
}

// invoke serves a request, or a schedule's expiry.
func (h *handler) invoke(ctx context.Context, inv invocation) (any, error) {
	if inv.Expiry != nil {
		return expire(ctx, h.expirer, *inv.Expiry)
	}
	return h.handle(ctx, inv.APIGatewayV2HTTPRequest)
}

// expire removes the credential an expiry names, when it is this API's
// and the payload is its schedule's. A failure is the invocation's error,
// for Lambda to retry and then send to the dead-letter queue.
func expire(ctx context.Context, e expirer, p expiry.Payload) (provision.Expired, error) {
	var err error
	out := provision.Expired{}
	if p.Via != via {
		err = errcode.New(errcode.Forbidden, "the expiry names a secret not made through this API")
	} else {
		out, err = e.Expire(ctx, p)
	}
	if err != nil {
		public := errcode.Public(err)
		slog.ErrorContext(ctx, "expiry failed", "arn", errcode.Clip(p.SecretARN), "error", public)
		return provision.Expired{}, messages.InvokeResponse_Error{Type: string(public.Code), Message: public.Error()}
	}
	return out, nil
}
