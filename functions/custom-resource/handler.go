package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
)

// secretCreator is the core's Create.
type secretCreator interface {
	Create(ctx context.Context, r provision.Request, idempotencyKey string) (provision.Result, error)
}

// responder sends the answer to CloudFormation's presigned URL.
type responder interface {
	Do(*http.Request) (*http.Response, error)
}

type handler struct {
	secrets   secretCreator
	responder responder
}

// notProperties are the properties CloudFormation or the delete path reads,
// not part of the secret's request.
var notProperties = []string{"ServiceToken", "RecoveryWindowInDays", "ForceDeleteWithoutRecovery"}

// handle answers one CloudFormation request. It returns an error only when
// the answer could not be delivered, so that Lambda retries the invocation;
// the retry is idempotent and delivers the same answer.
func (h *handler) handle(ctx context.Context, event cfn.Event) error {
	resp := h.respond(ctx, event)
	log := slog.With("requestType", event.RequestType, "stackId", event.StackID,
		"logicalResourceId", event.LogicalResourceID, "cfnRequestId", event.RequestID)
	log.InfoContext(ctx, "answering CloudFormation", "status", resp.Status,
		"physicalResourceId", resp.PhysicalResourceID, "reason", resp.Reason)
	if err := h.send(ctx, event.ResponseURL, resp); err != nil {
		log.ErrorContext(ctx, "could not deliver the answer to CloudFormation", "error", err)
		return err
	}
	return nil
}

func (h *handler) respond(ctx context.Context, event cfn.Event) *cfn.Response {
	resp := cfn.NewResponse(&event)
	resp.NoEcho = true // Data names the secret; keep it out of console output all the same
	resp.Status = cfn.StatusSuccess
	resp.PhysicalResourceID = event.PhysicalResourceID

	switch event.RequestType {
	case cfn.RequestCreate:
		result, err := h.create(ctx, event)
		if err != nil {
			fail(ctx, resp, err)
			// Not an ARN: a Delete for it (after the rollback) touches nothing.
			resp.PhysicalResourceID = event.RequestID
			return resp
		}
		resp.PhysicalResourceID = result.ARN
		resp.Data = map[string]any{
			"Arn":       result.ARN,
			"Name":      result.Name,
			"VersionId": result.VersionID,
			"Username":  result.Username,
		}
	case cfn.RequestUpdate, cfn.RequestDelete:
		// Updates and deletes arrive with the custom-resource lifecycle work;
		// until then they change nothing and keep the secret.
		slog.WarnContext(ctx, "request type not yet acted on; the secret is kept as it is", "requestType", event.RequestType)
	default:
		fail(ctx, resp, errcode.Invalidf("RequestType", "must be Create, Update or Delete, got %q", event.RequestType))
	}
	return resp
}

func (h *handler) create(ctx context.Context, event cfn.Event) (provision.Result, error) {
	properties := make(map[string]any, len(event.ResourceProperties))
	for k, v := range event.ResourceProperties {
		if !isNotProperty(k) {
			properties[k] = v
		}
	}
	raw, err := json.Marshal(properties)
	if err != nil {
		return provision.Result{}, errcode.Wrap(err, errcode.Invalid, "ResourceProperties could not be read")
	}
	req, err := provision.DecodeRequest(raw)
	if err != nil {
		return provision.Result{}, err
	}
	// The request id is unique per CloudFormation request and repeated on
	// Lambda's retries of it.
	return h.secrets.Create(ctx, req, event.StackID+"/"+event.LogicalResourceID+"/"+event.RequestID)
}

func isNotProperty(key string) bool {
	for _, p := range notProperties {
		if strings.EqualFold(key, p) {
			return true
		}
	}
	return false
}

// fail marks resp FAILED with a reason CloudFormation shows to the stack's
// operator: the caller-safe message, never internal details.
func fail(ctx context.Context, resp *cfn.Response, err error) {
	public := errcode.Public(err)
	slog.ErrorContext(ctx, "request failed", "error", public)
	resp.Status = cfn.StatusFailed
	resp.Reason = public.Error()
	if public.Code == errcode.Internal {
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			resp.Reason += " (see the function's log, request " + lc.AwsRequestID + ")"
		}
	}
}

// send PUTs the answer to the presigned URL. The URL's query string is a
// credential, so no error or log line may carry it.
func (h *handler) send(ctx context.Context, responseURL string, resp *cfn.Response) error {
	body, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encoding the answer: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, responseURL, bytes.NewReader(body))
	if err != nil {
		return errors.New("the ResponseURL is not a valid URL")
	}
	// The URL is presigned without a content type; sending one breaks the signature.
	req.Header.Del("Content-Type")
	res, err := h.responder.Do(req)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // url.Error's text holds the whole URL
		}
		return fmt.Errorf("sending the answer: %w", err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("sending the answer: the ResponseURL answered %d", res.StatusCode)
	}
	return nil
}
