package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"

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

// errorBody is every error response: {"error": {"code", "message", "field"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    errcode.Code `json:"code"`
	Message string       `json:"message"`
	Field   string       `json:"field,omitempty"`
}

// statusFor maps an error code to its HTTP status, here at the edge.
var statusFor = map[errcode.Code]int{
	errcode.Invalid:   http.StatusBadRequest,
	errcode.Forbidden: http.StatusForbidden,
	errcode.NotFound:  http.StatusNotFound,
	errcode.Conflict:  http.StatusConflict,
	errcode.Throttled: http.StatusTooManyRequests,
	errcode.Upstream:  http.StatusBadGateway,
	errcode.Internal:  http.StatusInternalServerError,
}

func (h *handler) handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	switch req.RouteKey {
	case "POST /secrets":
		return h.create(ctx, req), nil
	}
	return failure(ctx, errcode.New(errcode.NotFound, "no route %s %s", req.RequestContext.HTTP.Method, req.RawPath)), nil
}

func (h *handler) create(ctx context.Context, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return failure(ctx, errcode.New(errcode.Invalid, "the body is marked base64-encoded but is not"))
		}
		body = decoded
	}
	r, err := provision.DecodeRequest(body)
	if err != nil {
		return failure(ctx, err)
	}
	// An Idempotency-Key is the caller's: two callers may pick the same one.
	key := ""
	if k := req.Headers["idempotency-key"]; k != "" {
		key = callerOf(req) + "\x00" + k
	}
	result, err := h.secrets.Create(ctx, r, key)
	if err != nil {
		return failure(ctx, err)
	}
	slog.InfoContext(ctx, "secret created", "arn", result.ARN, "versionId", result.VersionID, "caller", callerOf(req))
	return respond(http.StatusCreated, result)
}

// callerOf names who called: the IAM principal, or the JWT subject.
func callerOf(req events.APIGatewayV2HTTPRequest) string {
	if a := req.RequestContext.Authorizer; a != nil {
		if a.IAM != nil && a.IAM.UserARN != "" {
			return a.IAM.UserARN
		}
		if a.JWT != nil && a.JWT.Claims["sub"] != "" {
			return "jwt:" + a.JWT.Claims["sub"]
		}
	}
	return ""
}

func failure(ctx context.Context, err error) events.APIGatewayV2HTTPResponse {
	public := errcode.Public(err)
	status, ok := statusFor[public.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	slog.WarnContext(ctx, "request failed", "status", status, "error", public)
	return respond(status, errorBody{Error: errorDetail{Code: public.Code, Message: public.Message, Field: public.Field}})
}

func respond(status int, v any) events.APIGatewayV2HTTPResponse {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(body),
	}
}
