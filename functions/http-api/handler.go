package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
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
	"github.com/dbcreds/provisioner/shared/selfservice"
)

// secrets is the core as the API uses it.
type secrets interface {
	CreateFor(ctx context.Context, c selfservice.Caller, via string, r provision.Request, idempotencyKey string) (provision.Result, error)
	DescribeFor(ctx context.Context, c selfservice.Caller, via, name string) (selfservice.Description, error)
	DeleteFor(ctx context.Context, c selfservice.Caller, via, name string, opts provision.DeleteOptions) (selfservice.Deletion, error)
	ChangeExpiryFor(ctx context.Context, c selfservice.Caller, via, name string, change provision.ExpiryChange) (selfservice.Expiry, error)
}

// via is the provenance tag of what the API makes, and what it may delete.
const via = "http-api"

type handler struct {
	secrets secrets
	expirer expirer
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

// handle answers a request: each route returns its answer or its error,
// and an error becomes its answer here, once, and its metric.
func (h *handler) handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := time.Now()
	method, path := req.RequestContext.HTTP.Method, routePath(req)
	resp, err := h.serve(ctx, req, method, path)
	if err != nil {
		resp = failure(ctx, err)
		if allow, ok := allowed(err); ok {
			resp.Headers["Allow"] = allow
		}
	}
	caller := h.callerOf(req)
	slog.InfoContext(ctx, "request", "method", errcode.Clip(method), "path", errcode.Clip(path), "status", resp.StatusCode,
		"caller", errcode.ClipTo(caller.ID, 2048), "session", errcode.ClipTo(caller.Session, 64))
	if h.metrics != nil {
		inv := metrics.Invocation{Trigger: via, Created: resp.StatusCode == http.StatusCreated,
			Replayed: resp.Headers["Idempotent-Replayed"] == "true", Deleted: resp.StatusCode == http.StatusAccepted, Duration: time.Since(start)}
		if err != nil {
			inv.ErrorCode = string(errcode.Public(err).Code)
		}
		metrics.Write(h.metrics, time.Now(), inv)
	}
	return resp, nil
}

type answer = events.APIGatewayV2HTTPResponse

func (h *handler) serve(ctx context.Context, req events.APIGatewayV2HTTPRequest, method, path string) (answer, error) {
	switch {
	case path == "/secrets":
		return route(method, map[string]func() (answer, error){
			http.MethodPost: func() (answer, error) { return h.create(ctx, req) },
		})
	case strings.HasPrefix(path, "/secrets/"):
		return route(method, map[string]func() (answer, error){
			http.MethodGet:    func() (answer, error) { return h.describe(ctx, req, path) },
			http.MethodPatch:  func() (answer, error) { return h.changeExpiry(ctx, req, path) },
			http.MethodDelete: func() (answer, error) { return h.delete(ctx, req, path) },
		})
	}
	return answer{}, errcode.New(errcode.NotFound, "no route %s %s; the API has POST /secrets, GET, PATCH and DELETE /secrets/{name}", errcode.Clip(method), errcode.Clip(path))
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

// route serves the method's handler, or refuses with the methods the
// route takes (405, with Allow).
func route(method string, methods map[string]func() (answer, error)) (answer, error) {
	if serve, ok := methods[method]; ok {
		return serve()
	}
	names := make([]string, 0, len(methods))
	for m := range methods {
		names = append(names, m)
	}
	sort.Strings(names)
	return answer{}, methodNotAllowed{errcode.New(codeMethodNotAllowed, "%s is not allowed here; use %s", errcode.Clip(method), strings.Join(names, ", ")), names}
}

// methodNotAllowed is a 405's error, with the methods for its Allow.
type methodNotAllowed struct {
	err     *errcode.Error
	methods []string
}

func (m methodNotAllowed) Error() string { return m.err.Error() }
func (m methodNotAllowed) Unwrap() error { return m.err }

func allowed(err error) (string, bool) {
	var m methodNotAllowed
	if !errors.As(err, &m) {
		return "", false
	}
	return strings.Join(m.methods, ", "), true
}

func (h *handler) create(ctx context.Context, req events.APIGatewayV2HTTPRequest) (answer, error) {
	body, err := jsonBody(req)
	if err != nil {
		return answer{}, err
	}
	r, err := provision.DecodeRequest(body)
	if err != nil {
		return answer{}, err
	}
	key := req.Headers["idempotency-key"]
	if key != "" && !validKey(key) {
		return answer{}, &errcode.Error{Code: errcode.Invalid, Field: "Idempotency-Key", Message: "must be 1-255 visible ASCII characters"}
	}
	result, err := h.secrets.CreateFor(ctx, h.callerOf(req), via, r, key)
	if err != nil {
		return answer{}, err
	}
	resp := respond(http.StatusCreated, result)
	resp.Headers["Location"] = "/secrets/" + result.Name
	if result.Replayed {
		resp.Headers["Idempotent-Replayed"] = "true"
	}
	return resp, nil
}

// changeExpiry is PATCH /secrets/{name}: the one thing that changes is
// the expiry, {"expiresAfter": ...} or {"expiresAt": ...}, or
// {"expiresAt": null} for none.
func (h *handler) changeExpiry(ctx context.Context, req events.APIGatewayV2HTTPRequest, path string) (answer, error) {
	name, err := secretName(req, path)
	if err != nil {
		return answer{}, err
	}
	body, err := jsonBody(req)
	if err != nil {
		return answer{}, err
	}
	var change provision.ExpiryChange
	if err := props.DecodeFields(body, &change, nil); err != nil {
		return answer{}, err // an unknown field is named: only the expiry changes
	}
	var given map[string]json.RawMessage
	if json.Unmarshal(body, &given) != nil || len(given) == 0 {
		return answer{}, errcode.New(errcode.Invalid, "send the new expiry: {\"expiresAfter\": \"PT8H\"}, {\"expiresAt\": \"<RFC 3339>\"} or {\"expiresAt\": null}")
	}
	e, err := h.secrets.ChangeExpiryFor(ctx, h.callerOf(req), via, name, change)
	if err != nil {
		return answer{}, err
	}
	return respond(http.StatusOK, e), nil
}

// jsonBody is a request's JSON body, decoded from base64 when so marked.
func jsonBody(req events.APIGatewayV2HTTPRequest) ([]byte, error) {
	if media, _, err := mime.ParseMediaType(req.Headers["content-type"]); err != nil || media != "application/json" && !strings.HasSuffix(media, "+json") {
		return nil, errcode.New(codeUnsupportedMediaType, "send the request as JSON, with Content-Type: application/json")
	}
	if len(req.Body) > base64.StdEncoding.EncodedLen(maxBody) {
		return nil, errcode.New(codePayloadTooLarge, "the body must be at most %d bytes", maxBody)
	}
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return nil, errcode.New(errcode.Invalid, "the body is marked base64-encoded but is not")
		}
		body = decoded
	}
	if len(body) > maxBody {
		return nil, errcode.New(codePayloadTooLarge, "the body must be at most %d bytes", maxBody)
	}
	return body, nil
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

func (h *handler) describe(ctx context.Context, req events.APIGatewayV2HTTPRequest, path string) (answer, error) {
	name, err := secretName(req, path)
	if err != nil {
		return answer{}, err
	}
	d, err := h.secrets.DescribeFor(ctx, h.callerOf(req), via, name)
	if err != nil {
		return answer{}, err
	}
	return respond(http.StatusOK, d), nil
}

// deleteParameters are DELETE's query parameters, as DeleteSecret's.
var deleteParameters = map[string]bool{"recoveryWindowInDays": true, "forceDeleteWithoutRecovery": true, "retainDatabaseUser": true}

func (h *handler) delete(ctx context.Context, req events.APIGatewayV2HTTPRequest, path string) (answer, error) {
	name, err := secretName(req, path)
	if err != nil {
		return answer{}, err
	}
	query := map[string]json.RawMessage{}
	for k, v := range req.QueryStringParameters {
		if !deleteParameters[k] {
			return answer{}, errcode.Invalidf(errcode.Clip(k), "is not a query parameter of DELETE; it takes recoveryWindowInDays, forceDeleteWithoutRecovery or retainDatabaseUser")
		}
		query[k], _ = json.Marshal(v)
	}
	body, _ := json.Marshal(query)
	var opts provision.DeleteOptions
	if err := props.DecodeFields(body, &opts, nil); err != nil {
		return answer{}, err
	}
	d, err := h.secrets.DeleteFor(ctx, h.callerOf(req), via, name, opts)
	if err != nil {
		return answer{}, err
	}
	return respond(http.StatusAccepted, d), nil
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
func (h *handler) callerOf(req events.APIGatewayV2HTTPRequest) selfservice.Caller {
	a := req.RequestContext.Authorizer
	switch {
	case a == nil:
	case a.IAM != nil && a.IAM.UserARN != "":
		return selfservice.IAMCaller(a.IAM.UserARN)
	case a.JWT != nil && a.JWT.Claims["sub"] != "":
		return selfservice.Caller{ID: "jwt:" + a.JWT.Claims["sub"], Claims: a.JWT.Claims}
	}
	if h.localCaller != "" {
		return selfservice.IAMCaller(h.localCaller)
	}
	return selfservice.Caller{}
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
