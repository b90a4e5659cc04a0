package main

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/metrics"
	"github.com/dbcreds/provisioner/shared/provision"
)

// secretCreator is the core's Create.
type secretCreator interface {
	Create(ctx context.Context, r provision.Request, idempotencyKey string) (provision.Result, error)
}

// via is the provenance tag of what events make.
const via = "eventbridge"

type handler struct {
	secrets secretCreator
	expirer expirer
	trust   trust
	// metrics receives each invocation's EMF line; nil writes none.
	metrics io.Writer
}

// Error types the failure destination shows: a permanent error comes back
// the same on every attempt and needs a corrected event; a retryable one may
// pass on a later attempt.
const (
	permanent = "Permanent."
	retryable = "Retryable."
)

// handle creates the secret an event asks for. The event id, scoped by its
// source and account, is the idempotency key, so every delivery of one
// event creates one secret and gives the same result, and no other source
// that learnt the id can claim that secret as its replay. An error is returned, never swallowed: Lambda then
// retries, and a request that keeps failing reaches the failure destination
// and the dead-letter queue. Invalid input fails before any Secrets Manager
// call, so its retries cost nothing.
func (h *handler) handle(ctx context.Context, event events.EventBridgeEvent) (provision.Result, error) {
	start := time.Now()
	result, err := h.serve(ctx, event)
	var public *errcode.Error
	if err != nil {
		public = errcode.Public(err)
	}
	if h.metrics != nil {
		inv := metrics.Invocation{Trigger: "eventbridge", Created: err == nil, Replayed: result.Replayed, Duration: time.Since(start)}
		if public != nil {
			inv.ErrorCode = string(public.Code)
		}
		metrics.Write(h.metrics, time.Now(), inv)
	}
	if public != nil {
		return provision.Result{}, messages.InvokeResponse_Error{Type: errorType(public.Code), Message: public.Error()}
	}
	return result, nil
}

func (h *handler) serve(ctx context.Context, event events.EventBridgeEvent) (provision.Result, error) {
	log := slog.With("eventId", errcode.Clip(event.ID), "source", errcode.Clip(event.Source),
		"account", errcode.Clip(event.AccountID), "detailType", errcode.Clip(event.DetailType))
	if why := h.trust.allows(event.Source, event.AccountID, event.DetailType); why != "" {
		// Nothing is created, and the event's contents are not read.
		err := errcode.New(errcode.Forbidden, "%s", why)
		log.ErrorContext(ctx, "event refused", "error", err)
		return provision.Result{}, err
	}
	r, err := provision.DecodeRequest(event.Detail)
	r.Provenance = provision.Provenance{By: event.Source + "@" + event.AccountID, Via: via,
		Caller: dbgrants.Caller{Kind: dbgrants.KindEvents, Name: event.Source, Account: event.AccountID}}
	if err == nil {
		var result provision.Result
		if result, err = h.createPatiently(ctx, r, idempotencyKey(event)); err == nil {
			log.InfoContext(ctx, "secret created", "arn", result.ARN, "versionId", result.VersionID, "replayed", result.Replayed)
			return result, nil
		}
	}
	log.ErrorContext(ctx, "request failed", "error", errcode.Public(err))
	return provision.Result{}, err
}

func errorType(code errcode.Code) string {
	switch code {
	case errcode.Throttled, errcode.Upstream, errcode.Unavailable:
		return retryable + string(code)
	case errcode.Internal:
		return "Internal"
	}
	return permanent + string(code)
}

// idempotencyKey is the event's id within its source and account; none
// without an id.
func idempotencyKey(event events.EventBridgeEvent) string {
	if event.ID == "" {
		return ""
	}
	return event.Source + "@" + event.AccountID + "\x00" + event.ID
}

// throttleReserve is the time a throttled event keeps for answering: it
// waits and tries again only while more than this is left.
const throttleReserve = 5 * time.Second

// createPatiently creates, and when Secrets Manager throttles (the SDK's own
// attempts spent, as in a burst at the quota) waits and tries again while
// the invocation has time: an event has no caller waiting, and a delivery
// that fails on throttling only comes back later to press on the same
// quota. The key makes every try one request. Without a key, one try.
func (h *handler) createPatiently(ctx context.Context, r provision.Request, key string) (provision.Result, error) {
	wait := 250 * time.Millisecond
	for {
		result, err := h.secrets.Create(ctx, r, key)
		if errcode.Of(err) != errcode.Throttled || key == "" {
			return result, err
		}
		deadline, ok := ctx.Deadline()
		if !ok || time.Until(deadline) < throttleReserve+wait {
			return result, err
		}
		// Jittered, so that instances throttled together do not return together.
		pause := wait/2 + time.Duration(rand.Int64N(int64(wait)))
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return result, err
		}
		wait = min(2*wait, 2*time.Second)
	}
}
