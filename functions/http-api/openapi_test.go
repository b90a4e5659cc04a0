package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dbcreds/provisioner/local/testenv"
	"github.com/dbcreds/provisioner/local/testenv/openapi"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/selfservice"
)

type document struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

func loadDocument(t *testing.T) (document, string) {
	t.Helper()
	path := filepath.Join(testenv.Root(t), openapi.Document)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d document
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d, path
}

// reached answers every core call with a sentinel, so a probe can tell
// whether the handler served the route.
var errReached = errcode.New(errcode.Conflict, "reached")

func anyCore() *fakeSecrets {
	return &fakeSecrets{
		createFor: func(selfservice.Caller, provision.Request, string) (provision.Result, error) {
			return provision.Result{}, errReached
		},
		describeFor: func(selfservice.Caller, string) (selfservice.Description, error) {
			return selfservice.Description{}, errReached
		},
		deleteFor: func(selfservice.Caller, string, provision.DeleteOptions) (selfservice.Deletion, error) {
			return selfservice.Deletion{}, errReached
		},
		changeFor: func(selfservice.Caller, string, provision.ExpiryChange) (selfservice.Expiry, error) {
			return selfservice.Expiry{}, errReached
		},
	}
}

// TestDocumentHasEveryRouteAndNoOther probes the handler with every method
// on each path the document names, and on paths it does not: the routes the
// handler serves are exactly the document's operations.
func TestDocumentHasEveryRouteAndNoOther(t *testing.T) {
	doc, _ := loadDocument(t)
	var documented []string
	for path, item := range doc.Paths {
		for method := range item {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	samples := map[string]string{"/secrets": "/secrets", "/secrets/{name}": "/secrets/app/payments/mysql"}
	var served []string
	for _, template := range []string{"/secrets", "/secrets/{name}", "/", "/secret", "/openapi.json", "/secretsx"} {
		path := samples[template]
		if path == "" {
			path = template
		}
		for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
			event := loadEvent(t, "http-api-create.json")
			event.RequestContext.HTTP.Method, event.RawPath = method, path
			event.PathParameters = nil
			if method == "PATCH" {
				event.Body = `{"expiresAt": null}` // PATCH's body: the expiry
			}
			resp, body := serve(t, anyCore(), event)
			switch {
			case body.Error.Message == errReached.Message:
				served = append(served, method+" "+template)
			case resp.StatusCode != 405 && resp.StatusCode != 404 && resp.StatusCode != 415:
				t.Errorf("%s %s: %d %s, neither served nor refused as no route", method, path, resp.StatusCode, resp.Body)
			case resp.StatusCode == 415:
				served = append(served, method+" "+template) // POST refuses a non-JSON body before the core
			}
		}
	}
	sort.Strings(documented)
	sort.Strings(served)
	if !reflect.DeepEqual(documented, served) {
		t.Fatalf("the document has\n%v\nthe handler serves\n%v", documented, served)
	}
}

// TestRequestSchemaIsTheEventsOne: the API and EventBridge take one request
// model; the document's schema of it is the published event schema's.
func TestRequestSchemaIsTheEventsOne(t *testing.T) {
	doc, _ := loadDocument(t)
	raw, err := os.ReadFile(filepath.Join(testenv.Root(t), "events", "database-secret-requested.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	same := func(a, b json.RawMessage, refs bool) bool {
		var x, y map[string]any
		json.Unmarshal(a, &x)
		if refs {
			b = json.RawMessage(strings.ReplaceAll(string(b), "#/$defs/", "#/components/schemas/"))
		}
		json.Unmarshal(b, &y)
		delete(x, "title")
		delete(x, "description")
		delete(y, "description")
		return reflect.DeepEqual(x, y)
	}
	if !same(doc.Components.Schemas["CreateSecretRequest"], schema.Defs["request"], true) {
		t.Error("CreateSecretRequest differs from the event schema's request")
	}
	for _, name := range []string{"int", "bool"} {
		if !same(doc.Components.Schemas[name], schema.Defs[name], false) {
			t.Errorf("%s differs from the event schema's", name)
		}
	}
}

// TestErrorCodesAreTheHandlers: the document's error codes are the ones
// the handler maps to statuses.
func TestErrorCodesAreTheHandlers(t *testing.T) {
	doc, _ := loadDocument(t)
	var body struct {
		Properties struct {
			Error struct {
				Properties struct {
					Code struct {
						Enum []string `json:"enum"`
					} `json:"code"`
				} `json:"properties"`
			} `json:"error"`
		} `json:"properties"`
	}
	json.Unmarshal(doc.Components.Schemas["ErrorBody"], &body)
	var handler []string
	for code := range statusFor {
		handler = append(handler, string(code))
	}
	documented := body.Properties.Error.Properties.Code.Enum
	sort.Strings(documented)
	sort.Strings(handler)
	if !reflect.DeepEqual(documented, handler) {
		t.Fatalf("the document's codes\n%v\nthe handler's\n%v", documented, handler)
	}
}

// TestSamplesAndAnswersMatchTheDocument: the sample events' bodies, and the
// handler's answers of every status to them, are what the document says.
func TestSamplesAndAnswersMatchTheDocument(t *testing.T) {
	testenv.Integration(t, "Python's jsonschema")
	_, path := loadDocument(t)
	next := time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC)
	created := result
	created.ReplicationStatus = []secretstore.ReplicaStatus{{Region: "eu-west-1", Status: "InSync"}}
	created.DatabaseUser = &provision.DatabaseUser{Username: "k3f9x0qz7m", Privileges: "readwrite", MemberOf: []string{"reporting"}}
	created.Rotation = &rotation.Status{Enabled: true, FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:rotate",
		Rules: &rotation.Rules{ScheduleExpression: "rate(30 days)", Duration: "4h"}, NextRotationDate: &next}
	replayed := created
	replayed.Replayed = true
	ok := &fakeSecrets{
		createFor: func(_ selfservice.Caller, r provision.Request, _ string) (provision.Result, error) {
			if r.Name == "app/payments/replayed" {
				return replayed, nil
			}
			return created, nil
		},
		describeFor: func(_ selfservice.Caller, name string) (selfservice.Description, error) {
			return selfservice.Description{ARN: result.ARN, Name: name, Tags: map[string]string{"team": "payments"},
				ReplicationStatus: []secretstore.ReplicaStatus{}, CurrentVersionID: "v-1", CreatedDate: &next, Rotation: created.Rotation}, nil
		},
		deleteFor: func(_ selfservice.Caller, name string, _ provision.DeleteOptions) (selfservice.Deletion, error) {
			return selfservice.Deletion{ARN: result.ARN, Name: name, DeletionDate: next}, nil
		},
	}
	failing := func(err error) *fakeSecrets {
		return &fakeSecrets{
			createFor: func(selfservice.Caller, provision.Request, string) (provision.Result, error) {
				return provision.Result{}, err
			},
			describeFor: func(selfservice.Caller, string) (selfservice.Description, error) {
				return selfservice.Description{}, err
			},
			deleteFor: func(selfservice.Caller, string, provision.DeleteOptions) (selfservice.Deletion, error) {
				return selfservice.Deletion{}, err
			},
		}
	}
	coreErrors := []error{
		errcode.Invalidf("replicaRegions[0].region", "is not a Region name"),
		errcode.New(errcode.Unauthenticated, "no identity"),
		&errcode.Error{Code: errcode.Forbidden, Field: "name", Message: "outside the scope"},
		errcode.New(errcode.Conflict, "exists"),
		errcode.New(errcode.Throttled, "slow down"),
		errcode.New(errcode.Upstream, "failed"),
		errcode.New(errcode.Unavailable, "unreachable"),
		errors.New("a bug"),
	}
	files, _ := filepath.Glob(filepath.Join(testenv.Root(t), "events", "http-api-*.json"))
	var exchanges []openapi.Exchange
	// A sample's body must match the request schema; an edited one is
	// there to be refused.
	record := func(event events.APIGatewayV2HTTPRequest, f *fakeSecrets, sample bool) {
		resp, _ := serve(t, f, event)
		x := openapi.Exchange{Method: event.RequestContext.HTTP.Method, Path: event.RawPath, Status: resp.StatusCode, Headers: resp.Headers, Body: resp.Body}
		if x.Method == "POST" && sample {
			body := event.Body
			x.Request = &body
		}
		exchanges = append(exchanges, x)
	}
	for _, file := range files {
		event := loadEvent(t, filepath.Base(file))
		record(event, ok, true)
		for _, err := range coreErrors {
			if event.RequestContext.HTTP.Method == "POST" || errcode.Of(err) != errcode.Conflict || event.RequestContext.HTTP.Method == "DELETE" {
				record(event, failing(err), true)
			}
		}
		if event.RequestContext.HTTP.Method == "GET" || event.RequestContext.HTTP.Method == "DELETE" {
			record(event, failing(&errcode.Error{Code: errcode.NotFound, Field: "name", Message: "no secret"}), true)
		}
	}
	replay := loadEvent(t, "http-api-create.json")
	replay.Body = `{"name": "app/payments/replayed", "engine": "mysql", "host": "h"}`
	record(replay, ok, true)
	for _, edit := range []func(*events.APIGatewayV2HTTPRequest){
		func(e *events.APIGatewayV2HTTPRequest) { e.RequestContext.HTTP.Method = "PUT" },
		func(e *events.APIGatewayV2HTTPRequest) { e.RawPath = "/credentials" },
		func(e *events.APIGatewayV2HTTPRequest) { e.Headers["content-type"] = "text/plain" },
		func(e *events.APIGatewayV2HTTPRequest) {
			e.Body = `{"name": "app/x", "secretString": "` + strings.Repeat("a", maxBody) + `"}`
		},
	} {
		event := loadEvent(t, "http-api-create.json")
		edit(&event)
		record(event, ok, false)
	}
	problems, err := openapi.Check(path, exchanges)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	statuses := map[int]bool{}
	for _, x := range exchanges {
		statuses[x.Status] = true
	}
	for _, s := range []int{200, 201, 202, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 502, 503} {
		if !statuses[s] {
			t.Errorf("no exchange answered %d", s)
		}
	}
}
