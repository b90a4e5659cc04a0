package provision_test

// Integration tests against a real moto_server on a free loopback port,
// started by TestMain. The SDK finds it through its own
// AWS_ENDPOINT_URL_SECRETS_MANAGER variable, as a deployed function would
// find the real endpoint.

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/local/testenv/core"
	"github.com/dbcreds/provisioner/local/testenv/motoserver"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

func TestCreateWithReplicaReadBack(t *testing.T) {
	ctx := context.Background()
	name := uniqueName(t)
	req := decode(t, `{"Name": "`+name+`", "Description": "orders", "Engine": "postgres", "Host": "orders.internal",
		"DbName": "orders", "Ssl": "true", "Tags": [{"Key": "team", "Value": "orders"}], "ReplicaRegions": [{"Region": "`+replica+`"}]}`)
	got, err := service(t).Create(ctx, req, "cfn-request-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.ARN, "arn:aws:secretsmanager:"+primary+":") || got.Name != name || got.VersionID == "" {
		t.Fatalf("result %+v", got)
	}
	if len(got.ReplicationStatus) != 1 || got.ReplicationStatus[0].Region != replica || got.ReplicationStatus[0].Status == "" {
		t.Fatalf("replication status %+v", got.ReplicationStatus)
	}

	primaryClient := client(t, primary)
	value := secretValue(t, primaryClient, name)
	var secret map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(value.SecretString)), &secret); err != nil {
		t.Fatal(err)
	}
	if secret["engine"] != "postgres" || secret["host"] != "orders.internal" || secret["port"] != float64(5432) ||
		secret["dbname"] != "orders" || secret["ssl"] != true || secret["username"] != got.Username {
		t.Fatalf("stored secret %v", secret)
	}
	if pw, _ := secret["password"].(string); len(pw) != 32 || strings.ContainsAny(pw, `/@"'\:`) {
		t.Fatalf("stored password of length %d breaks the postgres policy", len(pw))
	}
	if aws.ToString(value.VersionId) != got.VersionID {
		t.Fatalf("current version %s, want %s", aws.ToString(value.VersionId), got.VersionID)
	}

	desc, err := primaryClient.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(desc.Description) != "orders" || len(desc.Tags) != 2 || tagValue(desc.Tags, "team") != "orders" || tagValue(desc.Tags, provision.TagEngine) != "postgres" {
		t.Fatalf("description %q, tags %+v", aws.ToString(desc.Description), desc.Tags)
	}

	replicaValue := secretValue(t, client(t, replica), name)
	if aws.ToString(replicaValue.SecretString) != aws.ToString(value.SecretString) {
		t.Fatal("the replica holds another value")
	}
	if !strings.HasPrefix(aws.ToString(replicaValue.ARN), "arn:aws:secretsmanager:"+replica+":") {
		t.Fatalf("replica ARN %s", aws.ToString(replicaValue.ARN))
	}
}

// TestRetryIsIdempotent: the same request with the same key, as a Lambda
// retry sends it, makes one secret with one version and the same answer,
// although the retry generates a different password.
func TestRetryIsIdempotent(t *testing.T) {
	ctx := context.Background()
	name := uniqueName(t)
	body := `{"name": "` + name + `", "engine": "mysql", "host": "h", "replicaRegions": ["` + replica + `"]}`
	svc := service(t)
	first, err := svc.Create(ctx, decode(t, body), "event-42")
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, primary)
	before := aws.ToString(secretValue(t, c, name).SecretString)
	second, err := svc.Create(ctx, decode(t, body), "event-42")
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if first.ARN != second.ARN || first.Name != second.Name || first.VersionID != second.VersionID || first.Username != second.Username ||
		!reflect.DeepEqual(regions(first), regions(second)) {
		t.Fatalf("answers differ:\nfirst  %+v\nsecond %+v", first, second)
	}
	versions, err := c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(name), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(versions.Versions) != 1 || aws.ToString(versions.Versions[0].VersionId) != first.VersionID {
		t.Fatalf("versions %+v, want exactly %s", versions.Versions, first.VersionID)
	}
	if after := aws.ToString(secretValue(t, c, name).SecretString); after != before {
		t.Fatal("the retry changed the stored value")
	}
}

func regions(r provision.Result) []string {
	var out []string
	for _, s := range r.ReplicationStatus {
		out = append(out, s.Region)
	}
	return out
}

func TestConflict(t *testing.T) {
	ctx := context.Background()
	name := uniqueName(t)
	body := `{"name": "` + name + `", "engine": "mariadb", "host": "h"}`
	svc := service(t)
	if _, err := svc.Create(ctx, decode(t, body), "first"); err != nil {
		t.Fatal(err)
	}
	c := client(t, primary)
	before := aws.ToString(secretValue(t, c, name).SecretString)
	for _, key := range []string{"second", ""} {
		_, err := svc.Create(ctx, decode(t, body), key)
		if errcode.Of(err) != errcode.Conflict || errcode.FieldOf(err) != "name" || !strings.Contains(errcode.Message(err), "already exists") {
			t.Fatalf("key %q: got %v, want a conflict on name", key, err)
		}
	}
	if after := aws.ToString(secretValue(t, c, name).SecretString); after != before {
		t.Fatal("a conflicting request changed the secret")
	}
}

// TestSameKeyOtherRequester: another requester whose idempotency key reads
// the same (a stack author invoking the function can choose a key equal to
// an API caller's) gets a conflict, not the other's secret as its replay,
// and so can change nothing of it (its rotation, say).
func TestSameKeyOtherRequester(t *testing.T) {
	ctx := context.Background()
	name := uniqueName(t)
	body := `{"name": "` + name + `", "engine": "postgres", "host": "h", "rotationEnabled": false}`
	svc := service(t)
	key := "arn:aws:sts::123456789012:assumed-role/payments\x00deploy/42"
	api := decode(t, body)
	api.Provenance = provision.Provenance{By: "arn:aws:sts::123456789012:assumed-role/payments", Via: "http-api"}
	if _, err := svc.Create(ctx, api, key); err != nil {
		t.Fatal(err)
	}
	stack := decode(t, body)
	stack.Provenance = provision.Provenance{By: "arn:aws:cloudformation:us-east-1:123456789012:stack/x/1#Y", Via: "cloudformation"}
	if res, err := svc.Create(ctx, stack, key); errcode.Of(err) != errcode.Conflict {
		t.Fatalf("got %+v, %v; want a conflict", res, err)
	}
}

func TestScheduledForDeletionIsAConflict(t *testing.T) {
	ctx := context.Background()
	name := uniqueName(t)
	body := `{"name": "` + name + `", "secretString": "v1"}`
	svc := service(t)
	if _, err := svc.Create(ctx, decode(t, body), "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := client(t, primary).DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Create(ctx, decode(t, body), "k2")
	if errcode.Of(err) != errcode.Conflict || !strings.Contains(errcode.Message(err), "scheduled for deletion") {
		t.Fatalf("got %v, want a conflict saying the secret is scheduled for deletion", err)
	}
}

func TestOtherKindsReadBack(t *testing.T) {
	ctx := context.Background()
	c := client(t, primary)
	t.Run("supplied string", func(t *testing.T) {
		name := uniqueName(t)
		if _, err := service(t).Create(ctx, decode(t, `{"name": "`+name+`", "secretString": "caller value"}`), ""); err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(secretValue(t, c, name).SecretString); got != "caller value" {
			t.Fatalf("stored %q", got)
		}
	})
	t.Run("supplied binary", func(t *testing.T) {
		name := uniqueName(t)
		if _, err := service(t).Create(ctx, decode(t, `{"name": "`+name+`", "secretBinary": "AAEC/w=="}`), ""); err != nil {
			t.Fatal(err)
		}
		if got := secretValue(t, c, name).SecretBinary; !reflect.DeepEqual(got, []byte{0, 1, 2, 255}) {
			t.Fatalf("stored %v", got)
		}
	})
	t.Run("template", func(t *testing.T) {
		name := uniqueName(t)
		req := decode(t, `{"name": "`+name+`", "secretStringTemplate": "{\"user\":\"svc\"}", "generateStringKey": "token", "passwordLength": "20"}`)
		if _, err := service(t).Create(ctx, req, ""); err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(aws.ToString(secretValue(t, c, name).SecretString)), &got); err != nil {
			t.Fatal(err)
		}
		if got["user"] != "svc" || len(got["token"]) != 20 {
			t.Fatalf("stored %v", got)
		}
	})
}

func TestUnreachable(t *testing.T) {
	core.Require(t)
	closed, err := motoserver.UnusedEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(primary), config.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	c := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(closed) })
	svc := core.ServiceWith(t, testConfig(t, testGrants), secretstore.New(c), nil)
	_, err = svc.Create(context.Background(), decode(t, `{"name": "app/x", "secretString": "v"}`), "k")
	if errcode.Of(err) != errcode.Unavailable || !strings.Contains(errcode.Message(err), "could not be reached") {
		t.Fatalf("got %v, want unavailable: could not be reached", err)
	}
	if strings.Contains(errcode.Message(err), "127.0.0.1") {
		t.Fatalf("the caller's message leaks the endpoint: %s", errcode.Message(err))
	}
}

// TestConcurrentCreatesOfOneName: 50 requests for one name, each with its
// own key, at once: exactly one creates the secret, the others are clean
// conflicts, and the secret has one version.
func TestConcurrentCreatesOfOneName(t *testing.T) {
	ctx := context.Background()
	svc := service(t)
	name := uniqueName(t)
	const n = 50
	errs := make(chan error, n)
	results := make(chan provision.Result, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			r, err := svc.Create(ctx, decode(t, `{"name": "`+name+`", "engine": "postgres", "host": "h"}`), fmt.Sprintf("key-%d", i))
			if err == nil {
				results <- r
			}
			errs <- err
		}(i)
	}
	created, conflicts := 0, 0
	for i := 0; i < n; i++ {
		switch err := <-errs; {
		case err == nil:
			created++
		case errcode.Of(err) == errcode.Conflict && errcode.FieldOf(err) == "name":
			conflicts++
		default:
			t.Errorf("not a clean conflict: %v", err)
		}
	}
	if created != 1 || conflicts != n-1 {
		t.Fatalf("%d created, %d conflicts; want 1 and %d", created, conflicts, n-1)
	}
	winner := <-results
	versions, err := client(t, primary).ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(name), IncludeDeprecated: aws.Bool(true)})
	if err != nil || len(versions.Versions) != 1 || aws.ToString(versions.Versions[0].VersionId) != winner.VersionID {
		t.Fatalf("versions %+v, %v; want only the winner's %s", versions, err, winner.VersionID)
	}
}

// TestConcurrentRetriesOfOneRequest: one request delivered 20 times at once
// (one key): one secret, one version, the same answer every time.
func TestConcurrentRetriesOfOneRequest(t *testing.T) {
	ctx := context.Background()
	svc := service(t)
	name := uniqueName(t)
	const n = 20
	type outcome struct {
		r   provision.Result
		err error
	}
	out := make(chan outcome, n)
	for i := 0; i < n; i++ {
		go func() {
			r, err := svc.Create(ctx, decode(t, `{"name": "`+name+`", "engine": "mysql", "host": "h", "replicaRegions": ["`+replica+`"]}`), "the-one-key")
			out <- outcome{r, err}
		}()
	}
	var first provision.Result
	for i := 0; i < n; i++ {
		o := <-out
		if o.err != nil {
			t.Fatalf("delivery failed: %v", o.err)
		}
		if i == 0 {
			first = o.r
		} else if o.r.ARN != first.ARN || o.r.VersionID != first.VersionID || o.r.Username != first.Username {
			t.Fatalf("answers differ: %+v and %+v", o.r, first)
		}
	}
	versions, err := client(t, primary).ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(name), IncludeDeprecated: aws.Bool(true)})
	if err != nil || len(versions.Versions) != 1 {
		t.Fatalf("versions %+v, %v", versions, err)
	}
}

func tagValue(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}
