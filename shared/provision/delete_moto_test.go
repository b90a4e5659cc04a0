package provision_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/idempotency"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// deletingService is the HTTP API's service, which may delete.
func deletingService(t *testing.T, scope string) *provision.Service {
	svc := apiService(t, scope)
	svc.UseDeleter(secretstore.NewDeleter(client(t, primary)))
	return svc
}

func int7() *props.Int { n := props.Int(7); return &n }

// TestDeleteFor: each rule of DELETE /secrets/{name}, against moto.
func TestDeleteFor(t *testing.T) {
	ctx := context.Background()
	svc := deletingService(t, provision.ScopeIAMRole)
	payments := provision.IAMCaller("arn:aws:sts::123456789012:assumed-role/payments/alice")
	orders := provision.IAMCaller("arn:aws:sts::123456789012:assumed-role/orders/bob")
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
		if _, err := svc.DescribeFor(ctx, payments, name); errcode.Of(err) != errcode.NotFound {
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
		caller provision.Caller
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
		{"no caller", provision.Caller{}, ours, provision.DeleteOptions{}, errcode.Unauthenticated, ""},
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
	svc := deletingService(t, provision.ScopeNone)
	caller := provision.IAMCaller("arn:aws:iam::123456789012:user/alice")
	name := uniqueName(t)
	if _, err := svc.CreateFor(ctx, caller, "http-api", decode(t, `{"name": "`+name+`", "secretString": "v"}`), ""); err != nil {
		t.Fatal(err)
	}
	// Another process's create holds the name.
	dynamo := apiRecords(t)
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
	_, err := deletingService(t, provision.ScopeNone).CreateFor(context.Background(), provision.IAMCaller("arn:aws:iam::123456789012:user/a"), "http-api", decode(t, string(raw)), "")
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

func apiRecords(t *testing.T) *idempotency.Records {
	t.Helper()
	dynamo, err := idempotency.ClientFromEnvironment(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return idempotency.New(dynamo, idempotencyTable)
}
