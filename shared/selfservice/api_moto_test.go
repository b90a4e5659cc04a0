package selfservice_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/local/testenv/core"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/selfservice"
)

func int7() *props.Int { n := props.Int(7); return &n }

// TestDeleteFor: each rule of DELETE /secrets/{name}, against moto.
func TestDeleteFor(t *testing.T) {
	ctx := context.Background()
	svc := apiService(t, provision.ScopeIAMRole)
	payments := selfservice.IAMCaller("arn:aws:sts::123456789012:assumed-role/payments/alice")
	orders := selfservice.IAMCaller("arn:aws:sts::123456789012:assumed-role/orders/bob")
	made := func(t *testing.T, name, extra string) provision.Result {
		t.Helper()
		res, err := svc.CreateFor(ctx, payments, "http-api", decode(t, `{"name": "`+name+`", "engine": "mysql", "host": "h"`+extra+`}`), "")
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	t.Run("with its replicas and a window", func(t *testing.T) {
		name := "app/payments/" + strings.ReplaceAll(uniqueName(t), "/", "-")
		made(t, name, `, "replicaRegions": ["`+replica+`"]`)
		before := time.Now()
		d, err := svc.DeleteFor(ctx, payments, "http-api", name, provision.DeleteOptions{RecoveryWindowInDays: int7()})
		if err != nil {
			t.Fatal(err)
		}
		if d.Name != name || d.DeletionDate.Before(before.Add(7*24*time.Hour-time.Minute)) || d.DeletionDate.After(before.Add(7*24*time.Hour+time.Minute)) {
			t.Fatalf("deletion %+v, want in 7 days", d)
		}
		desc := describe(t, name)
		if desc.DeletedDate == nil || len(desc.ReplicationStatus) != 0 {
			t.Fatalf("after delete: deleted %v, replicas %+v", desc.DeletedDate, desc.ReplicationStatus)
		}
		again, err := svc.DeleteFor(ctx, payments, "http-api", name, provision.DeleteOptions{})
		if err != nil || !again.DeletionDate.Equal(d.DeletionDate) || again.ARN != d.ARN {
			t.Fatalf("again: %+v, %v; want the same date as %+v", again, err, d)
		}
	})
	t.Run("forced", func(t *testing.T) {
		name := "app/payments/" + strings.ReplaceAll(uniqueName(t), "/", "-")
		made(t, name, "")
		if _, err := svc.DeleteFor(ctx, payments, "http-api", name, provision.DeleteOptions{ForceDeleteWithoutRecovery: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.DescribeFor(ctx, payments, "http-api", name); errcode.Of(err) != errcode.NotFound {
			t.Fatalf("a forced delete left the secret: %v", err)
		}
	})

	other := "app/payments/" + strings.ReplaceAll(uniqueName(t), "/", "-") + "-cfn"
	if _, err := client(t, primary).CreateSecret(ctx, secretInput(other, map[string]string{provision.TagProvisionedVia: "cloudformation"})); err != nil {
		t.Fatal(err)
	}
	byHand := "app/payments/" + strings.ReplaceAll(uniqueName(t), "/", "-") + "-hand"
	if _, err := client(t, primary).CreateSecret(ctx, secretInput(byHand, nil)); err != nil {
		t.Fatal(err)
	}
	ours := "app/payments/" + strings.ReplaceAll(uniqueName(t), "/", "-") + "-ours"
	made(t, ours, "")
	for _, tc := range []struct {
		name   string
		caller selfservice.Caller
		secret string
		opts   provision.DeleteOptions
		code   errcode.Code
		field  string
	}{
		{"outside the caller's scope", orders, ours, provision.DeleteOptions{}, errcode.Forbidden, "name"},
		{"made by a stack", payments, other, provision.DeleteOptions{}, errcode.Forbidden, "name"},
		{"made by hand", payments, byHand, provision.DeleteOptions{}, errcode.Forbidden, "name"},
		{"missing", payments, "app/payments/never-made", provision.DeleteOptions{}, errcode.NotFound, "name"},
		{"a window too short", payments, ours, provision.DeleteOptions{RecoveryWindowInDays: func() *props.Int { n := props.Int(6); return &n }()}, errcode.Invalid, "recoveryWindowInDays"},
		{"a window and force", payments, ours, provision.DeleteOptions{RecoveryWindowInDays: int7(), ForceDeleteWithoutRecovery: true}, errcode.Invalid, "forceDeleteWithoutRecovery"},
		{"a bad name", payments, "app/payments/../x", provision.DeleteOptions{}, errcode.Invalid, "name"},
		{"no caller", selfservice.Caller{}, ours, provision.DeleteOptions{}, errcode.Unauthenticated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.DeleteFor(ctx, tc.caller, "http-api", tc.secret, tc.opts)
			if errcode.Of(err) != tc.code || errcode.FieldOf(err) != tc.field {
				t.Fatalf("got %v (%s on %q), want %s on %q", err, errcode.Of(err), errcode.FieldOf(err), tc.code, tc.field)
			}
		})
	}
	for _, name := range []string{other, byHand, ours} {
		if describe(t, name).DeletedDate != nil {
			t.Fatalf("%s was deleted by a refused request", name)
		}
	}
}

// TestDeleteWaitsForTheCreateOfItsName: while a create holds the name, a
// delete waits; one that cannot get it in time is a conflict that does
// nothing.
func TestDeleteWaitsForTheCreateOfItsName(t *testing.T) {
	ctx := context.Background()
	svc := apiService(t, provision.ScopeNone)
	caller := selfservice.IAMCaller("arn:aws:iam::123456789012:user/alice")
	name := uniqueName(t)
	if _, err := svc.CreateFor(ctx, caller, "http-api", decode(t, `{"name": "`+name+`", "secretString": "v"}`), ""); err != nil {
		t.Fatal(err)
	}
	// Another process's create holds the name.
	dynamo := core.Records(t)
	held, err := dynamo.Claim(ctx, "secret-name:"+name, "another-request")
	if err != nil || !held.Won {
		t.Fatalf("holding the name: %+v %v", held, err)
	}
	start := time.Now()
	_, err = svc.DeleteFor(ctx, caller, "http-api", name, provision.DeleteOptions{})
	if errcode.Of(err) != errcode.Conflict || time.Since(start) < 5*time.Second {
		t.Fatalf("got %v after %v, want a conflict after waiting", err, time.Since(start))
	}
	if describe(t, name).DeletedDate != nil {
		t.Fatal("deleted while another request held the name")
	}
	// Released during the wait: the delete goes ahead.
	go func() {
		time.Sleep(time.Second)
		dynamo.Release(ctx, "secret-name:"+name, "another-request")
	}()
	if _, err := svc.DeleteFor(ctx, caller, "http-api", name, provision.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if describe(t, name).DeletedDate == nil {
		t.Fatal("not deleted once the name was free")
	}
}

// The secret's own tags: the provisioner's mark of a user it made.
func TestDatabaseUserMarkTag(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"tags": map[string]string{provision.TagDatabaseUser: "true"}, "name": "app/x", "secretString": "v"})
	_, err := apiService(t, provision.ScopeNone).CreateFor(context.Background(), selfservice.IAMCaller("arn:aws:iam::123456789012:user/a"), "http-api", decode(t, string(raw)), "")
	if errcode.Of(err) != errcode.Invalid || !strings.Contains(err.Error(), "set by the provisioner itself") {
		t.Fatalf("a caller set the mark: %v", err)
	}
}

func secretInput(name string, tags map[string]string) *secretsmanager.CreateSecretInput {
	in := &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v")}
	for k, v := range tags {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return in
}

// TestCreateForIdempotencyKey: the same key and request replays the first
// answer; the same key with another request is a conflict, even for another
// name; another caller's equal key is its own; the same role under a new
// session is the same caller.
func TestCreateForIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	svc := apiService(t, provision.ScopeNone)
	alice := selfservice.Caller{ID: "arn:aws:iam::123456789012:user/alice", IAMName: "alice"}
	bob := selfservice.Caller{ID: "arn:aws:iam::123456789012:user/bob", IAMName: "bob"}
	name := uniqueName(t)
	body := `{"name": "` + name + `", "engine": "mysql", "host": "h"}`
	first, err := svc.CreateFor(ctx, alice, "http-api", decode(t, body), "key-1")
	if err != nil || first.Replayed {
		t.Fatalf("first: %+v, %v", first, err)
	}
	// The same request spelled otherwise is the same request.
	for _, same := range []string{body, `{"Name": "` + name + `", "ENGINE": "mysql",  "host": "h"}`} {
		again, err := svc.CreateFor(ctx, alice, "http-api", decode(t, same), "key-1")
		if err != nil || !again.Replayed || again.ARN != first.ARN || again.VersionID != first.VersionID || again.Username != first.Username {
			t.Fatalf("replay of %s: %+v, %v; want %+v replayed", same, again, err, first)
		}
	}
	for _, other := range []string{
		`{"name": "` + name + `", "engine": "mysql", "host": "other"}`,   // same name, another request
		`{"name": "` + name + `_other", "engine": "mysql", "host": "h"}`, // another name too
	} {
		if _, err := svc.CreateFor(ctx, alice, "http-api", decode(t, other), "key-1"); errcode.Of(err) != errcode.Conflict ||
			!strings.Contains(errcode.Message(err), "Idempotency-Key was already used") {
			t.Fatalf("key reused for %s: got %v, want a conflict", other, err)
		}
	}
	if _, err := client(t, primary).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name + "_other")}); err == nil {
		t.Fatal("a reused key created a second secret")
	}
	theirs, err := svc.CreateFor(ctx, bob, "http-api", decode(t, `{"name": "`+name+`_bob", "engine": "mysql", "host": "h"}`), "key-1")
	if err != nil || theirs.Replayed {
		t.Fatalf("another caller's key: %+v, %v", theirs, err)
	}
	tags := map[string]string{}
	for _, tag := range describeOut(t, first.ARN).Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	if tags["provisioned-by"] != alice.ID || tags["provisioned-via"] != "http-api" {
		t.Fatalf("tags %v", tags)
	}

	// A role's new session is the same caller: its retry replays.
	session1 := selfservice.IAMCaller("arn:aws:sts::123456789012:assumed-role/payments/session-1")
	session2 := selfservice.IAMCaller("arn:aws:sts::123456789012:assumed-role/payments/session-2")
	roleBody := `{"name": "` + name + `_role", "engine": "mysql", "host": "h"}`
	made, err := svc.CreateFor(ctx, session1, "http-api", decode(t, roleBody), "key-2")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := svc.CreateFor(ctx, session2, "http-api", decode(t, roleBody), "key-2"); err != nil || !again.Replayed || again.ARN != made.ARN {
		t.Fatalf("a new session's retry: %+v, %v; want a replay of %s", again, err, made.ARN)
	}
}

func describeOut(t *testing.T, id string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	out, err := client(t, primary).DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestScopedCreateAndDescribe(t *testing.T) {
	ctx := context.Background()
	svc := apiService(t, provision.ScopeJWTClaim)
	payments := selfservice.Caller{ID: "jwt:alice", Claims: map[string]string{"team": "payments"}}
	name := "app/payments/" + strings.TrimPrefix(uniqueName(t), "app/")
	created, err := svc.CreateFor(ctx, payments, "http-api", decode(t, `{"name": "`+name+`", "engine": "postgres", "host": "h", "replicaRegions": ["`+replica+`"]}`), "")
	if err != nil {
		t.Fatal(err)
	}
	d, err := svc.DescribeFor(ctx, payments, "http-api", name)
	if err != nil || d.ARN != created.ARN || len(d.ReplicationStatus) != 1 || d.ReplicationStatus[0].Region != replica || d.Tags["provisioned-by"] != "jwt:alice" {
		t.Fatalf("describe: %+v, %v", d, err)
	}
	orders := selfservice.Caller{ID: "jwt:bob", Claims: map[string]string{"team": "orders"}}
	if _, err := svc.DescribeFor(ctx, orders, "http-api", name); errcode.Of(err) != errcode.Forbidden {
		t.Fatalf("another team read it: %v", err)
	}
	if _, err := svc.CreateFor(ctx, orders, "http-api", decode(t, `{"name": "`+name+`_x", "secretString": "v"}`), ""); errcode.Of(err) != errcode.Forbidden {
		t.Fatalf("another team created under it: %v", err)
	}
	if _, err := svc.DescribeFor(ctx, payments, "http-api", "app/payments/missing"); errcode.Of(err) != errcode.NotFound {
		t.Fatalf("missing secret: %v", err)
	}
}

// TestDescribeRotationHealth: GET reports when the secret last rotated and
// whether a version stands AWSPENDING: one just staged is a rotation under
// way (pending false); rotation.Stuck says when its window has passed.
func TestDescribeRotationHealth(t *testing.T) {
	ctx := context.Background()
	svc := apiService(t, provision.ScopeNone)
	caller := selfservice.IAMCaller("arn:aws:sts::123456789012:assumed-role/payments/alice")
	name := "app/payments/" + strings.ReplaceAll(uniqueName(t), "/", "-")
	if _, err := svc.CreateFor(ctx, caller, "http-api", decode(t, `{"name": "`+name+`", "engine": "mysql", "host": "h", "replicaRegions": []}`), ""); err != nil {
		t.Fatal(err)
	}
	d, err := svc.DescribeFor(ctx, caller, "http-api", name)
	if err != nil || d.Rotation != nil {
		t.Fatalf("a secret that does not rotate: %+v, %v", d.Rotation, err)
	}
	// A rotation's first step: a new version, staged AWSPENDING only.
	if _, err := client(t, primary).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name),
		SecretString: aws.String(`{"engine": "mysql"}`), VersionStages: []string{"AWSPENDING"}}); err != nil {
		t.Fatal(err)
	}
	d, err = svc.DescribeFor(ctx, caller, "http-api", name)
	if err != nil || d.Rotation == nil || d.Rotation.Pending == nil || *d.Rotation.Pending {
		t.Fatalf("a version staged AWSPENDING just now: %+v, %v; want rotation shown, pending false (inside its window)", d.Rotation, err)
	}
	raw, _ := json.Marshal(d)
	if !strings.Contains(string(raw), `"pending":false`) {
		t.Fatalf("GET's body %s does not say pending false", raw)
	}
}
