package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/dbcreds/provisioner/local/testenv"
	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/stack"
)

// fakeLifecycle stands in for the core; each method is a function field.
type fakeLifecycle struct {
	create func(stack.Resource, provision.Request) (provision.Result, error)
	update func(stack.Resource, string, provision.Request, provision.Request) (provision.Result, error)
	delete func(stack.Resource, string, provision.DeleteOptions) (string, error)
}

func (f *fakeLifecycle) Create(_ context.Context, res stack.Resource, r provision.Request) (provision.Result, error) {
	return f.create(res, r)
}

func (f *fakeLifecycle) Update(_ context.Context, res stack.Resource, id string, old, now provision.Request) (provision.Result, error) {
	return f.update(res, id, old, now)
}

func (f *fakeLifecycle) Delete(_ context.Context, res stack.Resource, id string, opts provision.DeleteOptions, _ provision.Request) (string, error) {
	return f.delete(res, id, opts)
}

// receiver stands in for the presigned S3 URL and records what arrives.
type receiver struct {
	statuses []int // answered in turn; the last one repeats
	mu       sync.Mutex
	attempts int
	method   string
	ctype    string
	raw      []byte
	body     cfn.Response
}

func (rc *receiver) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.attempts++
		rc.method, rc.ctype = r.Method, r.Header.Get("Content-Type")
		rc.raw, _ = io.ReadAll(r.Body)
		if err := json.Unmarshal(rc.raw, &rc.body); err != nil {
			t.Errorf("the answer is not JSON: %s", rc.raw)
		}
		w.WriteHeader(rc.statuses[min(rc.attempts, len(rc.statuses))-1])
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/stack-response?X-Amz-Signature=SIGNATURE-SECRET"
}

func loadEvent(t *testing.T, name string, rc *receiver) event {
	var e event
	testenv.Event(t, name, &e)
	if rc != nil {
		e.ResponseURL = rc.start(t)
	}
	return e
}

const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/orders/postgres-AbCdEf"

var result = provision.Result{ARN: arn, Name: "app/orders/postgres", VersionID: "v-1", Username: "orders_app"}

// setProperties changes resource properties in the raw event.
func setProperties(t *testing.T, e *event, changes map[string]any) {
	t.Helper()
	var props map[string]any
	if err := json.Unmarshal(e.ResourceProperties, &props); err != nil {
		t.Fatal(err)
	}
	for k, v := range changes {
		props[k] = v
	}
	raw, err := json.Marshal(props)
	if err != nil {
		t.Fatal(err)
	}
	e.ResourceProperties = raw
}

func handle(t *testing.T, secrets lifecycle, event event) error {
	t.Helper()
	return (&handler{secrets: secrets, responder: http.DefaultClient}).handle(context.Background(), event)
}

func TestCreate(t *testing.T) {
	rc := &receiver{statuses: []int{200}}
	event := loadEvent(t, "custom-resource-create.json", rc)
	var gotRes stack.Resource
	var got provision.Request
	secrets := &fakeLifecycle{create: func(res stack.Resource, r provision.Request) (provision.Result, error) {
		gotRes, got = res, r
		return result, nil
	}}
	if err := handle(t, secrets, event); err != nil {
		t.Fatal(err)
	}
	if got.Name != "app/orders/postgres" || got.Engine != "postgres" || got.Port == nil || *got.Port != 5432 || len(got.ReplicaRegions) != 1 || len(got.Tags) != 2 {
		t.Fatalf("the core got %+v", got)
	}
	if gotRes.NameBase != "orders-OrdersDbSecret" || !strings.HasSuffix(gotRes.IdempotencyKey, event.RequestID) ||
		gotRes.Provenance != (provision.Provenance{By: event.StackID + "#OrdersDbSecret", Via: "cloudformation", Caller: dbgrants.Caller{Kind: dbgrants.KindStack, Name: "orders"}}) {
		t.Fatalf("resource %+v", gotRes)
	}
	if rc.method != http.MethodPut || rc.ctype != "" {
		t.Fatalf("answer sent as %s with content type %q; the presigned URL wants a PUT without one", rc.method, rc.ctype)
	}
	b := rc.body
	if b.Status != cfn.StatusSuccess || b.PhysicalResourceID != arn || !b.NoEcho || b.RequestID != event.RequestID ||
		b.StackID != event.StackID || b.LogicalResourceID != event.LogicalResourceID {
		t.Fatalf("answer %+v", b)
	}
	want := map[string]any{"Arn": arn, "Name": "app/orders/postgres", "VersionId": "v-1", "Username": "orders_app", "RotationEnabled": "false"}
	if len(b.Data) != len(want) {
		t.Fatalf("Data %v, want exactly %v", b.Data, want)
	}
	for k, v := range want {
		if b.Data[k] != v {
			t.Fatalf("Data %v, want %v", b.Data, want)
		}
	}
}

// TestFailedReasons: every failure says which property and which rule, in
// the template's spelling, and never internal details.
func TestFailedReasons(t *testing.T) {
	tests := []struct {
		name       string
		properties map[string]any
		err        error
		reason     string
		hidden     string
	}{
		{"a rule the core enforces", nil, errcode.Invalidf("replicaRegions[0].region", "%q is not a Region name", "Europe"), `ReplicaRegions[0].Region: "Europe" is not a Region name`, ""},
		{"a property of the wrong form", map[string]any{"Port": "fifty"}, nil, "Port: must be a whole number", ""},
		{"an unknown property", map[string]any{"Colour": "blue"}, nil, "Colour: is not a known field", ""},
		{"dbname spelled as in templates", nil, errcode.Invalidf("dbname", "is required for oracle"), "DbName: is required for oracle", ""},
		{"a recovery window out of range", map[string]any{"RecoveryWindowInDays": "3"}, nil, "RecoveryWindowInDays: must be between 7 and 30", ""},
		{"recovery window and force together", map[string]any{"RecoveryWindowInDays": "7", "ForceDeleteWithoutRecovery": "true"}, nil, "ForceDeleteWithoutRecovery: cannot be true with recoveryWindowInDays", ""},
		{"a Secrets Manager error code", nil, errcode.New(errcode.Upstream, "Secrets Manager failed (InternalServiceError)"), "InternalServiceError", ""},
		{"a bug of ours", nil, errors.New("nil pointer at 0xdeadbeef in db.internal:5432"), "internal error", "0xdeadbeef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &receiver{statuses: []int{200}}
			event := loadEvent(t, "custom-resource-create.json", rc)
			setProperties(t, &event, tt.properties)
			secrets := &fakeLifecycle{create: func(stack.Resource, provision.Request) (provision.Result, error) {
				if tt.err == nil {
					return result, nil
				}
				return provision.Result{}, tt.err
			}}
			if err := handle(t, secrets, event); err != nil {
				t.Fatal(err)
			}
			b := rc.body
			if b.Status != cfn.StatusFailed || !strings.Contains(b.Reason, tt.reason) {
				t.Fatalf("answer %+v, want FAILED with a reason containing %q", b, tt.reason)
			}
			if tt.hidden != "" && strings.Contains(b.Reason, tt.hidden) {
				t.Fatalf("internal details reached CloudFormation: %q", b.Reason)
			}
			if b.PhysicalResourceID != event.RequestID || b.Data != nil {
				t.Fatalf("a failed Create answered physical id %q and data %v; want the request id and no data", b.PhysicalResourceID, b.Data)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	rc := &receiver{statuses: []int{200}}
	event := loadEvent(t, "custom-resource-update.json", rc)
	replaced := provision.Result{ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/orders/new-GhIjKl", Name: "app/orders/new", VersionID: "v-9"}
	secrets := &fakeLifecycle{update: func(res stack.Resource, id string, old, now provision.Request) (provision.Result, error) {
		if id != event.PhysicalResourceID || old.Host != "orders.cluster-c1x2y3z4.us-east-1.rds.amazonaws.com" || now.Host != "orders-v2.cluster-c1x2y3z4.us-east-1.rds.amazonaws.com" {
			t.Errorf("the core got id %q, old %+v, now %+v", id, old, now)
		}
		return replaced, nil
	}}
	if err := handle(t, secrets, event); err != nil {
		t.Fatal(err)
	}
	if rc.body.Status != cfn.StatusSuccess || rc.body.PhysicalResourceID != replaced.ARN || rc.body.Data["VersionId"] != "v-9" {
		t.Fatalf("answer %+v: want the id the core returned", rc.body)
	}

	// A failed update keeps the physical id, so CloudFormation rolls back
	// instead of replacing anything.
	rc = &receiver{statuses: []int{200}}
	event = loadEvent(t, "custom-resource-update.json", rc)
	secrets.update = func(stack.Resource, string, provision.Request, provision.Request) (provision.Result, error) {
		return provision.Result{}, errcode.Invalidf("kmsKeyId", "too long")
	}
	handle(t, secrets, event)
	if rc.body.Status != cfn.StatusFailed || rc.body.PhysicalResourceID != event.PhysicalResourceID {
		t.Fatalf("answer %+v", rc.body)
	}
}

func TestDelete(t *testing.T) {
	rc := &receiver{statuses: []int{200}}
	event := loadEvent(t, "custom-resource-delete.json", rc)
	var gotOpts provision.DeleteOptions
	secrets := &fakeLifecycle{delete: func(_ stack.Resource, id string, opts provision.DeleteOptions) (string, error) {
		gotOpts = opts
		return "", nil
	}}
	if err := handle(t, secrets, event); err != nil {
		t.Fatal(err)
	}
	if rc.body.Status != cfn.StatusSuccess || rc.body.PhysicalResourceID != event.PhysicalResourceID ||
		gotOpts.RecoveryWindowInDays == nil || *gotOpts.RecoveryWindowInDays != 7 {
		t.Fatalf("answer %+v, options %+v", rc.body, gotOpts)
	}
}

func TestPanicStillAnswers(t *testing.T) {
	rc := &receiver{statuses: []int{200}}
	event := loadEvent(t, "custom-resource-create.json", rc)
	secrets := &fakeLifecycle{create: func(stack.Resource, provision.Request) (provision.Result, error) {
		var m map[string]int
		m["boom"]++ // a nil map write panics
		return result, nil
	}}
	if err := handle(t, secrets, event); err != nil {
		t.Fatal(err)
	}
	if rc.body.Status != cfn.StatusFailed || rc.body.Reason != "internal error" {
		t.Fatalf("answer %+v, want FAILED: internal error", rc.body)
	}
}

// TestDeadline: a Secrets Manager call that never returns still ends in a
// FAILED answer, delivered before the Lambda deadline.
func TestDeadline(t *testing.T) {
	rc := &receiver{statuses: []int{200}}
	event := loadEvent(t, "custom-resource-create.json", rc)
	release := make(chan struct{})
	defer close(release)
	secrets := &fakeLifecycle{create: func(stack.Resource, provision.Request) (provision.Result, error) {
		<-release // ignores its context, as a stuck call might
		return result, nil
	}}
	deadline := time.Now().Add(3 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := (&handler{secrets: secrets, responder: http.DefaultClient}).handle(ctx, event); err != nil {
		t.Fatal(err)
	}
	if answered := time.Now(); answered.After(deadline) {
		t.Fatalf("answered %v after the deadline", answered.Sub(deadline))
	}
	if rc.body.Status != cfn.StatusFailed || !strings.Contains(rc.body.Reason, "deadline") {
		t.Fatalf("answer %+v", rc.body)
	}
}

func TestProperty(t *testing.T) {
	for field, want := range map[string]string{
		"port": "Port", "dbname": "DbName", "masterSecretArn": "MasterSecretArn",
		"replicaRegions[1].kmsKeyId": "ReplicaRegions[1].KmsKeyId", "tags.team": "Tags.Team", "": "",
	} {
		if got := property(field); got != want {
			t.Errorf("property(%q) = %q, want %q", field, got, want)
		}
	}
}

// Fn::GetAtt reads strings: whether the secret rotates, and when next.
func TestCreateAnswersRotation(t *testing.T) {
	rc := &receiver{statuses: []int{200}}
	event := loadEvent(t, "custom-resource-create.json", rc)
	next := time.Date(2026, 12, 24, 0, 0, 0, 0, time.FixedZone("CET", 3600))
	rotating := result
	rotating.Rotation = &rotation.Status{Enabled: true, FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:rotate",
		Rules: &rotation.Rules{AutomaticallyAfterDays: 30}, NextRotationDate: &next}
	secrets := &fakeLifecycle{create: func(stack.Resource, provision.Request) (provision.Result, error) { return rotating, nil }}
	if err := handle(t, secrets, event); err != nil {
		t.Fatal(err)
	}
	if d := rc.body.Data; d["RotationEnabled"] != "true" || d["NextRotationDate"] != "2026-12-23T23:00:00Z" {
		t.Fatalf("Data %v", d)
	}
}

// TestRetainDatabaseUserIsADeletionProperty: RetainDatabaseUser reaches
// the Delete and is no field of the request.
func TestRetainDatabaseUserIsADeletionProperty(t *testing.T) {
	properties := json.RawMessage(`{"ServiceToken": "x", "Name": "app/x", "Engine": "postgres", "Host": "h", "RetainDatabaseUser": "true"}`)
	opts, err := deletion(properties)
	if err != nil || !bool(opts.RetainDatabaseUser) {
		t.Fatalf("deletion: %+v, %v", opts, err)
	}
	if _, err := request(properties); err != nil {
		t.Fatalf("the request refuses RetainDatabaseUser: %v", err)
	}
}
