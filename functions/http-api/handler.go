package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/metrics"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/provision"
)

// secrets is the core as the API uses it.
type secrets interface {
	CreateFor(ctx context.Context, c provision.Caller, via string, r provision.Request, idempotencyKey string) (provision.Result, error)
	DescribeFor(ctx context.Context, c provision.Caller, name string) (provision.Description, error)
	DeleteFor(ctx context.Context, c provision.Caller, via, name string, opts provision.DeleteOptions) (provision.Deletion, error)
}

// via is the provenance tag of what the API makes, and what it may delete.
const via = "http-api"

type handler struct {
	secrets secrets
	// metrics receives each invocation's EMF line; nil writes none.
	metrics io.Writer
	// localCaller stands in for the caller of a request without an
	// identity under sam local start-api, which checks no authorizer; it
	// is empty everywhere else (see localCallerFromEnv).
	localCaller string
}

// maxBody bounds a request body: a 64 KiB secret value, base64-encoded,
// with room for the other fields.
const maxBody = 256 << 10

// Codes of the HTTP layer itself, beside the core's.
const (
	codeMethodNotAllowed     errcode.Code = "method_not_allowed"
	codePayloadTooLarge      errcode.Code = "payload_too_large"
	codeUnsupportedMediaType errcode.Code = "unsupported_media_type"
)

// statusFor maps an error code to its HTTP status, here at the edge.
var statusFor = map[errcode.Code]int{
	errcode.Invalid:          http.StatusBadRequest,
	errcode.Unauthenticated:  http.StatusUnauthorized,
	errcode.Forbidden:        http.StatusForbidden,
	errcode.NotFound:         http.StatusNotFound,
	codeMethodNotAllowed:     http.StatusMethodNotAllowed,
	errcode.Conflict:         http.StatusConflict,
	codePayloadTooLarge:      http.StatusRequestEntityTooLarge,
	codeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	errcode.Throttled:        http.StatusTooManyRequests,
	errcode.Upstream:         http.StatusBadGateway,
	errcode.Unavailable:      http.StatusServiceUnavailable,
	errcode.Internal:         http.StatusInternalServerError,
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

func (h *handler) handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := time.Now()
	resp, err := h.serve(ctx, req)
	if h.metrics != nil {
		inv := metrics.Invocation{Trigger: via, Created: resp.StatusCode == http.StatusCreated,
			Replayed: resp.Headers["Idempotent-Replayed"] == "true", Deleted: resp.StatusCode == http.StatusAccepted, Duration: time.Since(start)}
		if resp.StatusCode >= 400 {
			var body errorBody
			json.Unmarshal([]byte(resp.Body), &body)
			inv.ErrorCode = string(body.Error.Code)
		}
		metrics.Write(h.metrics, time.Now(), inv)
	}
	return resp, err
}

func (h *handler) serve(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	method, path := req.RequestContext.HTTP.Method, routePath(req)
	var resp events.APIGatewayV2HTTPResponse
	switch {
	case path == "/secrets":
		resp = route(ctx, method, map[string]func() events.APIGatewayV2HTTPResponse{
			http.MethodPost: func() events.APIGatewayV2HTTPResponse { return h.create(ctx, req) },
		})
	case strings.HasPrefix(path, "/secrets/"):
		resp = route(ctx, method, map[string]func() events.APIGatewayV2HTTPResponse{
			http.MethodGet:    func() events.APIGatewayV2HTTPResponse { return h.describe(ctx, req, path) },
			http.MethodDelete: func() events.APIGatewayV2HTTPResponse { return h.delete(ctx, req, path) },
		})
	default:
		resp = failure(ctx, errcode.New(errcode.NotFound, "no route %s %s; the API has POST /secrets, GET and DELETE /secrets/{name}", errcode.Clip(method), errcode.Clip(path)))
	}
	caller := h.callerOf(req)
	slog.InfoContext(ctx, "request", "method", errcode.Clip(method), "path", errcode.Clip(path), "status", resp.StatusCode,
		"caller", errcode.ClipTo(caller.ID, 2048), "session", errcode.ClipTo(caller.Session, 64))
	return resp, nil
}

// routePath is the request path without the stage, which API Gateway keeps
// in rawPath for any stage but $default.
func routePath(req events.APIGatewayV2HTTPRequest) string {
	path := req.RawPath
	if stage := req.RequestContext.Stage; stage != "" && stage != "$default" {
		path = strings.TrimPrefix(path, "/"+stage)
	}
	if path != "/" {
		path = strings.TrimSuffix(path, "/")
	}
	return path
}

// route serves the method's handler, or answers 405 with the methods the
// route takes.
func route(ctx context.Context, method string, methods map[string]func() events.APIGatewayV2HTTPResponse) events.APIGatewayV2HTTPResponse {
	if serve, ok := methods[method]; ok {
		return serve()
	}
	allowed := make([]string, 0, len(methods))
	for m := range methods {
		allowed = append(allowed, m)
	}
	sort.Strings(allowed)
	allow := strings.Join(allowed, ", ")
	resp := failure(ctx, errcode.New(codeMethodNotAllowed, "%s is not allowed here; use %s", errcode.Clip(method), allow))
	resp.Headers["Allow"] = allow
	return resp
}

func (h *handler) create(ctx context.Context, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	if media, _, err := mime.ParseMediaType(req.Headers["content-type"]); err != nil || media != "application/json" && !strings.HasSuffix(media, "+json") {
		return failure(ctx, errcode.New(codeUnsupportedMediaType, "send the request as JSON, with Content-Type: application/json"))
	}
	if len(req.Body) > base64.StdEncoding.EncodedLen(maxBody) {
		return failure(ctx, errcode.New(codePayloadTooLarge, "the body must be at most %d bytes", maxBody))
	}
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return failure(ctx, errcode.New(errcode.Invalid, "the body is marked base64-encoded but is not"))
		}
		body = decoded
	}
	if len(body) > maxBody {
		return failure(ctx, errcode.New(codePayloadTooLarge, "the body must be at most %d bytes", maxBody))
	}
	r, err := provision.DecodeRequest(body)
	if err != nil {
		return failure(ctx, err)
	}
	key := req.Headers["idempotency-key"]
	if key != "" && !validKey(key) {
		return failure(ctx, &errcode.Error{Code: errcode.Invalid, Field: "Idempotency-Key", Message: "must be 1-255 visible ASCII characters"})
	}
	result, err := h.secrets.CreateFor(ctx, h.callerOf(req), via, r, key)
	if err != nil {
		return failure(ctx, err)
	}
	resp := respond(http.StatusCreated, result)
	resp.Headers["Location"] = "/secrets/" + result.Name
	if result.Replayed {
		resp.Headers["Idempotent-Replayed"] = "true"
	}
	return resp
}

// secretName is the {name+} of /secrets/{name+}.
func secretName(req events.APIGatewayV2HTTPRequest, path string) (string, error) {
	if name := req.PathParameters["name"]; name != "" { // API Gateway decodes the greedy parameter
		return name, nil
	}
	name, err := url.PathUnescape(strings.TrimPrefix(path, "/secrets/"))
	if err != nil {
		return "", &errcode.Error{Code: errcode.Invalid, Field: "name", Message: "is not a valid URL path"}
	}
	return name, nil
}

func (h *handler) describe(ctx context.Context, req events.APIGatewayV2HTTPRequest, path string) events.APIGatewayV2HTTPResponse {
	name, err := secretName(req, path)
	if err != nil {
		return failure(ctx, err)
	}
	d, err := h.secrets.DescribeFor(ctx, h.callerOf(req), name)
	if err != nil {
		return failure(ctx, err)
	}
	return respond(http.StatusOK, d)
}

// deleteParameters are DELETE's query parameters, as DeleteSecret's.
var deleteParameters = map[string]bool{"recoveryWindowInDays": true, "forceDeleteWithoutRecovery": true}

func (h *handler) delete(ctx context.Context, req events.APIGatewayV2HTTPRequest, path string) events.APIGatewayV2HTTPResponse {
	name, err := secretName(req, path)
	if err != nil {
		return failure(ctx, err)
	}
	query := map[string]json.RawMessage{}
	for k, v := range req.QueryStringParameters {
		if !deleteParameters[k] {
			return failure(ctx, errcode.Invalidf(errcode.Clip(k), "is not a query parameter of DELETE; it takes recoveryWindowInDays or forceDeleteWithoutRecovery"))
		}
		query[k], _ = json.Marshal(v)
	}
	body, _ := json.Marshal(query)
	var opts provision.DeleteOptions
	if err := props.DecodeFields(body, &opts, nil); err != nil {
		return failure(ctx, err)
	}
	d, err := h.secrets.DeleteFor(ctx, h.callerOf(req), via, name, opts)
	if err != nil {
		return failure(ctx, err)
	}
	return respond(http.StatusAccepted, d)
}

func validKey(k string) bool {
	if len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// callerOf is who called, as the API's authorizer established it: the IAM
// principal, or the JWT subject and claims.
func (h *handler) callerOf(req events.APIGatewayV2HTTPRequest) provision.Caller {
	a := req.RequestContext.Authorizer
	switch {
	case a == nil:
	case a.IAM != nil && a.IAM.UserARN != "":
		return provision.IAMCaller(a.IAM.UserARN)
	case a.JWT != nil && a.JWT.Claims["sub"] != "":
		return provision.Caller{ID: "jwt:" + a.JWT.Claims["sub"], Claims: a.JWT.Claims}
	}
	if h.localCaller != "" {
		return provision.IAMCaller(h.localCaller)
	}
	return provision.Caller{}
}

// localCallerFromEnv is LOCAL_CALLER when the function runs under the SAM
// CLI (AWS_SAM_LOCAL=true, which Lambda never sets), else "": a deployed
// function never takes a request without an identity for anyone's.
func localCallerFromEnv(getenv func(string) string) string {
	if getenv("AWS_SAM_LOCAL") != "true" {
		return ""
	}
	return getenv("LOCAL_CALLER")
}

func failure(ctx context.Context, err error) events.APIGatewayV2HTTPResponse {
	public := errcode.Public(err)
	status, ok := statusFor[public.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	slog.WarnContext(ctx, "request failed", "status", status, "error", public)
	resp := respond(status, errorBody{Error: errorDetail{Code: public.Code, Message: public.Message, Field: public.Field}})
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		resp.Headers["Retry-After"] = "1"
	}
	return resp
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
