package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/provision/provisiontest"
)

func loadEvent(t *testing.T) events.APIGatewayV2HTTPRequest {
	var e events.APIGatewayV2HTTPRequest
	provisiontest.Event(t, "http-api-create.json", &e)
	return e
}

var result = provision.Result{ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/payments/mysql-AbCdEf", Name: "app/payments/mysql", VersionID: "v-1", Username: "k3f9x0qz7m"}

func TestCreate(t *testing.T) {
	plain := loadEvent(t)
	encoded := loadEvent(t)
	encoded.Body = base64.StdEncoding.EncodeToString([]byte(encoded.Body))
	encoded.IsBase64Encoded = true
	for name, event := range map[string]events.APIGatewayV2HTTPRequest{"plain body": plain, "base64 body": encoded} {
		t.Run(name, func(t *testing.T) {
			var got provision.Request
			var gotKey string
			secrets := &provisiontest.Creator{CreateFunc: func(r provision.Request, key string) (provision.Result, error) {
				got, gotKey = r, key
				return result, nil
			}}
			resp, err := (&handler{secrets: secrets}).handle(context.Background(), event)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusCreated || resp.Headers["Content-Type"] != "application/json" {
				t.Fatalf("response %d %v: %s", resp.StatusCode, resp.Headers, resp.Body)
			}
			var body provision.Result
			if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body.ARN != result.ARN || body.VersionID != "v-1" {
				t.Fatalf("body %s", resp.Body)
			}
			if got.Name != "app/payments/mysql" || got.Engine != "mysql" || len(got.Tags) != 1 {
				t.Fatalf("the core got %+v", got)
			}
			wantKey := "arn:aws:sts::123456789012:assumed-role/payments-team/alice\x00" + event.Headers["idempotency-key"]
			if gotKey != wantKey {
				t.Fatalf("idempotency key %q, want it scoped to the caller: %q", gotKey, wantKey)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		err    error
		status int
		code   errcode.Code
		field  string
		hidden string
	}{
		{"malformed JSON", `{"name":`, nil, 400, errcode.Invalid, "", ""},
		{"wrong type names the field", `{"name": "app/x", "engine": "mysql", "host": "h", "port": "x"}`, nil, 400, errcode.Invalid, "port", ""},
		{"core rule", `{"name": "app/x", "secretString": "v"}`, errcode.Invalidf("name", "must not end with a hyphen"), 400, errcode.Invalid, "name", ""},
		{"outside the prefix", `{"name": "x", "secretString": "v"}`, &errcode.Error{Code: errcode.Forbidden, Field: "name", Message: "must start with the configured prefix"}, 403, errcode.Forbidden, "name", ""},
		{"exists", `{"name": "app/x", "secretString": "v"}`, errcode.New(errcode.Conflict, "exists"), 409, errcode.Conflict, "", ""},
		{"throttled", `{"name": "app/x", "secretString": "v"}`, errcode.New(errcode.Throttled, "slow down"), 429, errcode.Throttled, "", ""},
		{"upstream", `{"name": "app/x", "secretString": "v"}`, errcode.Wrap(errors.New("dial tcp 10.1.2.3:443"), errcode.Upstream, "Secrets Manager could not be reached"), 502, errcode.Upstream, "", "10.1.2.3"},
		{"a bug of ours", `{"name": "app/x", "secretString": "v"}`, errors.New("panic: index out of range in secretstore.go:42"), 500, errcode.Internal, "", "secretstore.go"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			event := loadEvent(t)
			event.Body = tt.body
			secrets := &provisiontest.Creator{CreateFunc: func(provision.Request, string) (provision.Result, error) {
				if tt.err == nil {
					t.Fatal("the core was called for a request that should not reach it")
				}
				return provision.Result{}, tt.err
			}}
			resp, err := (&handler{secrets: secrets}).handle(context.Background(), event)
			if err != nil {
				t.Fatal(err)
			}
			var body errorBody
			if jerr := json.Unmarshal([]byte(resp.Body), &body); jerr != nil {
				t.Fatalf("error body %q: %v", resp.Body, jerr)
			}
			if resp.StatusCode != tt.status || body.Error.Code != tt.code || body.Error.Field != tt.field || body.Error.Message == "" {
				t.Fatalf("got %d %s, want %d with code %s and field %q", resp.StatusCode, resp.Body, tt.status, tt.code, tt.field)
			}
			if tt.hidden != "" && strings.Contains(resp.Body, tt.hidden) {
				t.Fatalf("internal details in the response: %s", resp.Body)
			}
		})
	}
}

func TestUnknownRoute(t *testing.T) {
	event := loadEvent(t)
	event.RouteKey, event.RawPath = "GET /nothing", "/nothing"
	resp, _ := (&handler{secrets: &provisiontest.Creator{}}).handle(context.Background(), event)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(resp.Body, `"code":"not_found"`) {
		t.Fatalf("got %d %s", resp.StatusCode, resp.Body)
	}
}
