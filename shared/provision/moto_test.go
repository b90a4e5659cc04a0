package provision_test

// Integration tests against a real moto_server on a free loopback port,
// started by TestMain. The SDK finds it through its own
// AWS_ENDPOINT_URL_SECRETS_MANAGER variable, as a deployed function would
// find the real endpoint.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/dbserver"
	"github.com/dbcreds/provisioner/local/motoserver"
	"github.com/dbcreds/provisioner/local/rdsapi"
	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/idempotency"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/userledger"
)

const primary, replica = "us-east-1", "eu-west-1"

const idempotencyTable = "idempotency-records"

// motoServer is the one server of the package's tests.
var motoServer *motoserver.Server

func TestMain(m *testing.M) {
	server, err := motoserver.Start()
	motoServer = server
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	err = server.Setenv()
	if err == nil {
		err = os.Setenv("AWS_REGION", primary)
	}
	if err == nil {
		err = motoserver.CreateTable(context.Background(), server.Env(), primary, idempotencyTable, "id")
	}
	if err == nil {
		err = motoserver.CreateTable(context.Background(), server.Env(), primary, usersTable, "id")
	}
	if err == nil {
		rdsServer, err = rdsapi.Start(primary, account)
	}
	if err == nil {
		err = os.Setenv("AWS_ENDPOINT_URL_RDS", rdsServer.URL())
	}
	if err != nil {
		server.Stop()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	dbserver.StopShared()
	rdsServer.Close()
	server.Stop()
	os.Exit(code)
}

// usersTable is the ledger of database users; rdsServer answers for RDS.
const usersTable = "database-users"

var rdsServer *rdsapi.Server

// testGrants let every kind of caller make users with any master secret,
// so that tests of other things need not name grants.
const testGrants = `[{"caller":"stack:*","masterSecret":"*","databases":["*"],"schemas":["*"]},
 {"caller":"api:*","masterSecret":"*","databases":["*"],"schemas":["*"]},
 {"caller":"events:*","masterSecret":"*","databases":["*"],"schemas":["*"]}]`

// testConfig is the deployment the tests run under.
func testConfig(t *testing.T, grants string) provision.Config {
	t.Helper()
	policy, err := dbgrants.Parse(grants)
	if err != nil {
		t.Fatal(err)
	}
	return provision.Config{NamePrefix: "app/", Region: primary, DatabaseUserGrants: policy}
}

// withUsers gives svc what makes database users, as the functions build
// it: from the environment, with the tests' ledger table.
func withUsers(t *testing.T, svc *provision.Service, cfg provision.Config) *provision.Service {
	t.Helper()
	c, err := secretstore.ClientFromEnvironment(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	users, err := provision.DatabaseUsersFromEnv(func(k string) string {
		if k == userledger.EnvTable {
			return usersTable
		}
		return os.Getenv(k)
	}, cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	svc.UseDatabaseUsers(users)
	return svc
}

// client reads and checks what the service stored, in any Region, with the
// SDK's standard configuration.
func client(t *testing.T, region string) *secretsmanager.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(region))
	if err != nil {
		t.Fatal(err)
	}
	return secretsmanager.NewFromConfig(cfg)
}

// service is built as the functions build theirs: the client from the
// environment Lambda gives them.
func service(t *testing.T) *provision.Service {
	c, err := secretstore.ClientFromEnvironment(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, testGrants)
	return withUsers(t, provision.NewService(secretstore.New(c), cfg), cfg)
}

// uniqueName keeps tests apart on the one server.
func uniqueName(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	return "app/it/" + strings.ReplaceAll(t.Name(), "/", "_") + "_" + hex.EncodeToString(b)
}

func decode(t *testing.T, body string) provision.Request {
	t.Helper()
	r, err := provision.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func secretValue(t *testing.T, c *secretsmanager.Client, id string) *secretsmanager.GetSecretValueOutput {
	t.Helper()
	out, err := c.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCreateWithReplicaReadBack(t *testing.T) {
	ctx := context.Background()
	name := uniqueName(t)
	req := decode(t, `{"Name": "`+name+`", "Description": "orders", "Engine": "postgres", "Host": "orders.internal",
		"DbName": "orders", "Ssl": "true", "Tags": [{"Key": "team", "Value": "orders"}], "ReplicaRegions": [{"Region": "`+replica+`"}]}`)
	got, err := service(t).Create(ctx, req, "cfn-request-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.ARN, "arn:aws:secretsmanager:"+primary+":") || got.Name != name || got.VersionID != secretstore.Token("cfn-request-1") {
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
	if aws.ToString(desc.Description) != "orders" || len(desc.Tags) != 1 || aws.ToString(desc.Tags[0].Key) != "team" || aws.ToString(desc.Tags[0].Value) != "orders" {
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
	closed, err := motoserver.UnusedEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(primary), config.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	c := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(closed) })
	svc := provision.NewService(secretstore.New(c), provision.Config{NamePrefix: "app/", Region: primary})
	_, err = svc.Create(context.Background(), decode(t, `{"name": "app/x", "secretString": "v"}`), "k")
	if errcode.Of(err) != errcode.Unavailable || !strings.Contains(errcode.Message(err), "could not be reached") {
		t.Fatalf("got %v, want unavailable: could not be reached", err)
	}
	if strings.Contains(errcode.Message(err), "127.0.0.1") {
		t.Fatalf("the caller's message leaks the endpoint: %s", errcode.Message(err))
	}
}

// apiService is the HTTP API's service, with its Idempotency-Key records
// in moto's DynamoDB.
func apiService(t *testing.T, scope string) *provision.Service {
	cfg := testConfig(t, testGrants)
	cfg.CallerScope, cfg.CallerScopeClaim = scope, "team"
	svc := withUsers(t, provision.NewService(secretstore.New(client(t, primary)), cfg), cfg)
	dynamo, err := idempotency.ClientFromEnvironment(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	svc.UseIdempotencyRecords(records{idempotency.New(dynamo, idempotencyTable)})
	return svc
}

// records gives the core idempotency.Records in its own types, as the HTTP
// API function does.
type records struct{ *idempotency.Records }

func (r records) Claim(ctx context.Context, key, fingerprint string) (provision.IdempotencyClaim, error) {
	c, err := r.Records.Claim(ctx, key, fingerprint)
	return provision.IdempotencyClaim(c), err
}

// TestCreateForIdempotencyKey: the same key and request replays the first
// answer; the same key with another request is a conflict, even for another
// name; another caller's equal key is its own; the same role under a new
// session is the same caller.
func TestCreateForIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	svc := apiService(t, provision.ScopeNone)
	alice := provision.Caller{ID: "arn:aws:iam::123456789012:user/alice", IAMName: "alice"}
	bob := provision.Caller{ID: "arn:aws:iam::123456789012:user/bob", IAMName: "bob"}
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
	session1 := provision.IAMCaller("arn:aws:sts::123456789012:assumed-role/payments/session-1")
	session2 := provision.IAMCaller("arn:aws:sts::123456789012:assumed-role/payments/session-2")
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
	payments := provision.Caller{ID: "jwt:alice", Claims: map[string]string{"team": "payments"}}
	name := "app/payments/" + strings.TrimPrefix(uniqueName(t), "app/")
	created, err := svc.CreateFor(ctx, payments, "http-api", decode(t, `{"name": "`+name+`", "engine": "postgres", "host": "h", "replicaRegions": ["`+replica+`"]}`), "")
	if err != nil {
		t.Fatal(err)
	}
	d, err := svc.DescribeFor(ctx, payments, name)
	if err != nil || d.ARN != created.ARN || len(d.ReplicationStatus) != 1 || d.ReplicationStatus[0].Region != replica || d.Tags["provisioned-by"] != "jwt:alice" {
		t.Fatalf("describe: %+v, %v", d, err)
	}
	orders := provision.Caller{ID: "jwt:bob", Claims: map[string]string{"team": "orders"}}
	if _, err := svc.DescribeFor(ctx, orders, name); errcode.Of(err) != errcode.Forbidden {
		t.Fatalf("another team read it: %v", err)
	}
	if _, err := svc.CreateFor(ctx, orders, "http-api", decode(t, `{"name": "`+name+`_x", "secretString": "v"}`), ""); errcode.Of(err) != errcode.Forbidden {
		t.Fatalf("another team created under it: %v", err)
	}
	if _, err := svc.DescribeFor(ctx, payments, "app/payments/missing"); errcode.Of(err) != errcode.NotFound {
		t.Fatalf("missing secret: %v", err)
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
