package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dbcreds/provisioner/local/testenv"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/selfservice"
)

// fakeSecrets stands in for the core; each method is a function field.
type fakeSecrets struct {
	createFor   func(selfservice.Caller, provision.Request, string) (provision.Result, error)
	describeFor func(selfservice.Caller, string) (selfservice.Description, error)
	deleteFor   func(selfservice.Caller, string, provision.DeleteOptions) (selfservice.Deletion, error)
	changeFor   func(selfservice.Caller, string, provision.ExpiryChange) (selfservice.Expiry, error)
}

func (f *fakeSecrets) ChangeExpiryFor(_ context.Context, c selfservice.Caller, via, name string, change provision.ExpiryChange) (selfservice.Expiry, error) {
	if via != "http-api" {
		return selfservice.Expiry{}, errors.New("wrong provenance " + via)
	}
	return f.changeFor(c, name, change)
}

func (f *fakeSecrets) DeleteFor(_ context.Context, c selfservice.Caller, via, name string, opts provision.DeleteOptions) (selfservice.Deletion, error) {
	if via != "http-api" {
		return selfservice.Deletion{}, errors.New("wrong provenance " + via)
	}
	return f.deleteFor(c, name, opts)
}

func (f *fakeSecrets) CreateFor(_ context.Context, c selfservice.Caller, via string, r provision.Request, k string) (provision.Result, error) {
	if via != "http-api" {
		return provision.Result{}, errors.New("wrong provenance " + via)
	}
	return f.createFor(c, r, k)
}

func (f *fakeSecrets) DescribeFor(_ context.Context, c selfservice.Caller, _, name string) (selfservice.Description, error) {
	return f.describeFor(c, name)
}

func loadEvent(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	var e events.APIGatewayV2HTTPRequest
	testenv.Event(t, name, &e)
	return e
}

var result = provision.Result{ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/payments/mysql-AbCdEf", Name: "app/payments/mysql", VersionID: "v-1", Username: "k3f9x0qz7m"}

func serve(t *testing.T, f *fakeSecrets, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, errorBody) {
	t.Helper()
	resp, err := (&handler{secrets: f}).handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var body errorBody
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatalf("error body %q: %v", resp.Body, err)
		}
	}
	return resp, body
}

func TestCreate(t *testing.T) {
	plain := loadEvent(t, "http-api-create.json")
	encoded := loadEvent(t, "http-api-create.json")
	encoded.Body = base64.StdEncoding.EncodeToString([]byte(encoded.Body))
	encoded.IsBase64Encoded = true
	respaced := loadEvent(t, "http-api-create.json")
	var m map[string]any
	json.Unmarshal([]byte(respaced.Body), &m)
	b, _ := json.MarshalIndent(m, "", "    ")
	respaced.Body = string(b)

	var fingerprints []string
	for name, event := range map[string]events.APIGatewayV2HTTPRequest{"plain body": plain, "base64 body": encoded, "same body, other spacing": respaced} {
		t.Run(name, func(t *testing.T) {
			f := &fakeSecrets{createFor: func(c selfservice.Caller, r provision.Request, k string) (provision.Result, error) {
				// The role, not the session: a caller stays one caller when its credentials refresh.
				if c.ID != "arn:aws:sts::123456789012:assumed-role/payments-team" || c.IAMName != "payments-team" || c.Session != "alice" {
					t.Errorf("caller %+v", c)
				}
				if r.Name != "app/payments/mysql" || r.Engine != "mysql" || len(r.Tags) != 1 {
					t.Errorf("request %+v", r)
				}
				if k != "2f6c1a9e-7d3b-4e8f-9a0b-1c2d3e4f5a6b" {
					t.Errorf("key %q", k)
				}
				fingerprints = append(fingerprints, selfservice.Fingerprint(r))
				return result, nil
			}}
			resp, _ := serve(t, f, event)
			var body provision.Result
			if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(resp.Body), &body) != nil || body.ARN != result.ARN ||
				resp.Headers["Location"] != "/secrets/app/payments/mysql" || resp.Headers["Idempotent-Replayed"] != "" {
				t.Fatalf("response %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
			}
			if strings.Contains(resp.Body, "password") {
				t.Fatalf("the response mentions a password: %s", resp.Body)
			}
		})
	}
	if len(fingerprints) != 3 || fingerprints[0] != fingerprints[1] || fingerprints[1] != fingerprints[2] {
		t.Fatalf("fingerprints %v: the same request must have one", fingerprints)
	}
}

func TestReplayIsMarked(t *testing.T) {
	replayed := result
	replayed.Replayed = true
	f := &fakeSecrets{createFor: func(selfservice.Caller, provision.Request, string) (provision.Result, error) {
		return replayed, nil
	}}
	resp, _ := serve(t, f, loadEvent(t, "http-api-create.json"))
	if resp.StatusCode != http.StatusCreated || resp.Headers["Idempotent-Replayed"] != "true" {
		t.Fatalf("response %d %v", resp.StatusCode, resp.Headers)
	}
}

func TestJWTCaller(t *testing.T) {
	var got selfservice.Caller
	f := &fakeSecrets{createFor: func(c selfservice.Caller, _ provision.Request, _ string) (provision.Result, error) {
		got = c
		return result, nil
	}}
	serve(t, f, loadEvent(t, "http-api-create-jwt.json"))
	if got.ID != "jwt:alice" || got.Claims["team"] != "payments" {
		t.Fatalf("caller %+v", got)
	}
}

func TestGet(t *testing.T) {
	f := &fakeSecrets{describeFor: func(c selfservice.Caller, name string) (selfservice.Description, error) {
		if name != "app/payments/mysql" || c.ID == "" {
			t.Errorf("describe %q for %+v", name, c)
		}
		return selfservice.Description{ARN: result.ARN, Name: name}, nil
	}}
	resp, _ := serve(t, f, loadEvent(t, "http-api-get.json"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, `"arn":"`+result.ARN) {
		t.Fatalf("response %d %s", resp.StatusCode, resp.Body)
	}
	// Without the path parameter (a $default route), the raw path is decoded.
	event := loadEvent(t, "http-api-get.json")
	event.PathParameters, event.RawPath = nil, "/secrets/app%2Fpayments%2Fmysql"
	if resp, _ := serve(t, f, event); resp.StatusCode != http.StatusOK {
		t.Fatalf("encoded path: %d %s", resp.StatusCode, resp.Body)
	}
}

func TestDelete(t *testing.T) {
	when := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		query map[string]string
		want  provision.DeleteOptions
	}{
		{map[string]string{"recoveryWindowInDays": "7"}, provision.DeleteOptions{RecoveryWindowInDays: ptr(props.Int(7))}},
		{map[string]string{"forceDeleteWithoutRecovery": "true"}, provision.DeleteOptions{ForceDeleteWithoutRecovery: true}},
		{map[string]string{"retainDatabaseUser": "true"}, provision.DeleteOptions{RetainDatabaseUser: true}},
		{nil, provision.DeleteOptions{}},
	} {
		f := &fakeSecrets{deleteFor: func(c selfservice.Caller, name string, opts provision.DeleteOptions) (selfservice.Deletion, error) {
			if name != "app/payments/mysql" || c.ID != "arn:aws:sts::123456789012:assumed-role/payments-team" || !reflect.DeepEqual(opts, tt.want) {
				t.Errorf("delete %q for %+v with %+v, want %+v", name, c, opts, tt.want)
			}
			return selfservice.Deletion{ARN: result.ARN, Name: name, DeletionDate: when}, nil
		}}
		event := loadEvent(t, "http-api-delete.json")
		event.QueryStringParameters = tt.query
		resp, _ := serve(t, f, event)
		if resp.StatusCode != http.StatusAccepted || resp.Body != `{"arn":"`+result.ARN+`","name":"app/payments/mysql","deletionDate":"2026-12-01T18:00:00Z"}` {
			t.Fatalf("%v: response %d %s", tt.query, resp.StatusCode, resp.Body)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestStatuses: every status of the contract, with the code and field the
// body names, and nothing internal in it.
func TestStatuses(t *testing.T) {
	tooBig := `{"name": "app/x", "secretString": "` + strings.Repeat("a", maxBody) + `"}`
	tests := []struct {
		name   string
		event  string
		edit   func(*events.APIGatewayV2HTTPRequest)
		err    error // what the core answers, when it is reached
		status int
		code   errcode.Code
		field  string
		hidden string
	}{
		{"malformed JSON", "http-api-create.json", func(e *events.APIGatewayV2HTTPRequest) { e.Body = `{"name":` }, nil, 400, errcode.Invalid, "", ""},
		{"unknown field", "http-api-create.json", func(e *events.APIGatewayV2HTTPRequest) { e.Body = `{"name": "app/x", "colour": "blue"}` }, nil, 400, errcode.Invalid, "colour", ""},
		{"wrong type", "http-api-create.json", func(e *events.APIGatewayV2HTTPRequest) { e.Body = `{"name": "app/x", "port": [1]}` }, nil, 400, errcode.Invalid, "port", ""},
		{"a core rule", "http-api-create.json", nil, errcode.Invalidf("replicaRegions[0].region", "is not a Region name"), 400, errcode.Invalid, "replicaRegions[0].region", ""},
		{"bad base64", "http-api-create.json", func(e *events.APIGatewayV2HTTPRequest) { e.IsBase64Encoded = true; e.Body = "%%%" }, nil, 400, errcode.Invalid, "", ""},
		{"bad idempotency key", "http-api-create.json", func(e *events.APIGatewayV2HTTPRequest) { e.Headers["idempotency-key"] = "has space" }, nil, 400, errcode.Invalid, "Idempotency-Key", ""},
		{"no caller identity", "http-api-create.json", nil, errcode.New(errcode.Unauthenticated, "the request carries no caller identity"), 401, errcode.Unauthenticated, "", ""},
		{"outside the caller's prefix", "http-api-create.json", nil, &errcode.Error{Code: errcode.Forbidden, Field: "name", Message: "must start with \"app/payments/\""}, 403, errcode.Forbidden, "name", ""},
		{"unknown route", "http-api-create.json", func(e *events.APIGatewayV2HTTPRequest) { e.RawPath = "/credentials" }, nil, 404, errcode.NotFound, "", ""},
		{"unknown secret", "http-api-get.json", nil, &errcode.Error{Code: errcode.NotFound, Field: "name", Message: "no secret named \"app/payments/mysql\""}, 404, errcode.NotFound, "name", ""},
		{"GET on the collection", "http-api-create.json", func(e *events.APIGatewayV2HTTPRequest) { e.RequestContext.HTTP.Method = "GET" }, nil, 405, codeMethodNotAllowed, "", ""},
		{"PUT on a secret", "http-api-get.json", func(e *events.APIGatewayV2HTTPRequest) { e.RequestContext.HTTP.Method = "PUT" }, nil, 405, codeMethodNotAllowed, "", ""},
		{"DELETE with an unknown query parameter", "http-api-delete.json", func(e *events.APIGatewayV2HTTPRequest) {
			e.QueryStringParameters = map[string]string{"force": "true"}
		}, nil, 400, errcode.Invalid, "force", ""},
		{"DELETE with a window that is no number", "http-api-delete.json", func(e *events.APIGatewayV2HTTPRequest) {
			e.QueryStringParameters = map[string]string{"recoveryWindowInDays": "week"}
		}, nil, 400, errcode.Invalid, "recoveryWindowInDays", ""},
		{"DELETE of a secret another trigger made", "http-api-delete.json", nil, &errcode.Error{Code: errcode.Forbidden, Field: "name", Message: "was not made through this API"}, 403, errcode.Forbidden, "name", ""},
		{"DELETE racing a create", "http-api-delete.json", nil, &errcode.Error{Code: errcode.Conflict, Field: "name", Message: "another request is creating or deleting"}, 409, errcode.Conflict, "name", ""},
		{"exists", "http-api-create.json", nil, errcode.New(errcode.Conflict, "secret exists"), 409, errcode.Conflict, "", ""},
		{"key reused", "http-api-create.json", nil, errcode.New(errcode.Conflict, "this Idempotency-Key was already used for a different request"), 409, errcode.Conflict, "", ""},
		{"too large", "http-api-create.json", func(e *events.APIGatewayV2HTTPRequest) { e.Body = tooBig }, nil, 413, codePayloadTooLarge, "", ""},
		{"not JSON", "http-api-create.json", func(e *events.APIGatewayV2HTTPRequest) {
			e.Headers["content-type"] = "application/x-www-form-urlencoded"
		}, nil, 415, codeUnsupportedMediaType, "", ""},
		{"no content type", "http-api-create.json", func(e *events.APIGatewayV2HTTPRequest) { delete(e.Headers, "content-type") }, nil, 415, codeUnsupportedMediaType, "", ""},
		{"throttled", "http-api-create.json", nil, errcode.New(errcode.Throttled, "Secrets Manager is throttling requests (ThrottlingException)"), 429, errcode.Throttled, "", ""},
		{"Secrets Manager failed", "http-api-create.json", nil, errcode.Wrap(errors.New("StatusCode: 500, RequestID: 1234"), errcode.Upstream, "Secrets Manager failed (InternalServiceError)"), 502, errcode.Upstream, "", "RequestID"},
		{"Secrets Manager unreachable", "http-api-get.json", nil, errcode.Wrap(errors.New("dial tcp 10.0.0.1:443"), errcode.Unavailable, "Secrets Manager could not be reached"), 503, errcode.Unavailable, "", "10.0.0.1"},
		{"a bug of ours", "http-api-create.json", nil, errors.New("index out of range in secretstore.go:42"), 500, errcode.Internal, "", "secretstore.go"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			event := loadEvent(t, tt.event)
			if tt.edit != nil {
				tt.edit(&event)
			}
			answer := func() error {
				if tt.err == nil {
					t.Error("the core was reached by a request the handler should have refused")
					return errors.New("unexpected")
				}
				return tt.err
			}
			f := &fakeSecrets{
				createFor: func(selfservice.Caller, provision.Request, string) (provision.Result, error) {
					return provision.Result{}, answer()
				},
				describeFor: func(selfservice.Caller, string) (selfservice.Description, error) {
					return selfservice.Description{}, answer()
				},
				deleteFor: func(selfservice.Caller, string, provision.DeleteOptions) (selfservice.Deletion, error) {
					return selfservice.Deletion{}, answer()
				},
			}
			resp, body := serve(t, f, event)
			if resp.StatusCode != tt.status || body.Error.Code != tt.code || body.Error.Field != tt.field || body.Error.Message == "" {
				t.Fatalf("got %d %s, want %d %s on %q", resp.StatusCode, resp.Body, tt.status, tt.code, tt.field)
			}
			if tt.hidden != "" && strings.Contains(resp.Body, tt.hidden) {
				t.Fatalf("internal details in the response: %s", resp.Body)
			}
			if want := map[string]string{"http-api-create.json": "POST", "http-api-get.json": "DELETE, GET, PATCH"}[tt.event]; tt.status == 405 && resp.Headers["Allow"] != want {
				t.Fatalf("405 with Allow %q, want %q", resp.Headers["Allow"], want)
			}
			if (tt.status == 429 || tt.status == 503) && resp.Headers["Retry-After"] == "" {
				t.Fatalf("%d without Retry-After", tt.status)
			}
		})
	}
}

// TestLocalCaller: under sam local start-api (AWS_SAM_LOCAL=true) a
// request without an identity comes from LOCAL_CALLER; anywhere else, and
// with no LOCAL_CALLER, it is 401; a request with an identity is always its
// own.
func TestLocalCaller(t *testing.T) {
	anonymous := loadEvent(t, "http-api-get.json")
	anonymous.RequestContext.Authorizer = nil
	signed := loadEvent(t, "http-api-get.json")
	for _, tt := range []struct {
		name   string
		env    map[string]string
		event  events.APIGatewayV2HTTPRequest
		caller string // "" for 401
	}{
		{"sam local with a local caller", map[string]string{"AWS_SAM_LOCAL": "true", "LOCAL_CALLER": "arn:aws:iam::123456789012:user/dev"}, anonymous, "arn:aws:iam::123456789012:user/dev"},
		{"deployed, the variable set all the same", map[string]string{"LOCAL_CALLER": "arn:aws:iam::123456789012:user/dev"}, anonymous, ""},
		{"sam local, no local caller", map[string]string{"AWS_SAM_LOCAL": "true"}, anonymous, ""},
		{"sam local, AWS_SAM_LOCAL not true", map[string]string{"AWS_SAM_LOCAL": "1", "LOCAL_CALLER": "arn:aws:iam::123456789012:user/dev"}, anonymous, ""},
		{"an identity wins", map[string]string{"AWS_SAM_LOCAL": "true", "LOCAL_CALLER": "arn:aws:iam::123456789012:user/dev"}, signed, "arn:aws:sts::123456789012:assumed-role/payments-team"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			f := &fakeSecrets{describeFor: func(c selfservice.Caller, name string) (selfservice.Description, error) {
				got = c.ID
				if c.ID == "" {
					return selfservice.Description{}, errcode.New(errcode.Unauthenticated, "no identity")
				}
				return selfservice.Description{Name: name}, nil
			}}
			h := &handler{secrets: f, localCaller: localCallerFromEnv(func(k string) string { return tt.env[k] })}
			resp, err := h.handle(context.Background(), tt.event)
			if err != nil || got != tt.caller || (tt.caller == "") != (resp.StatusCode == 401) {
				t.Fatalf("caller %q status %d, want %q", got, resp.StatusCode, tt.caller)
			}
		})
	}
}
