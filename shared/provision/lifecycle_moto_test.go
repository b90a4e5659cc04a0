package provision_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

const account = "123456789012"

func lifecycle(t *testing.T) *provision.Lifecycle {
	c := client(t, primary)
	cfg := testConfig(t, testGrants)
	return provision.NewLifecycle(withUsers(t, provision.NewService(secretstore.New(c), cfg), cfg), secretstore.NewManager(c))
}

// resource is the stack resource of the test: subtests share their
// parent's, so that they act on the secret it made.
func resource(t *testing.T, request string) provision.Resource {
	test, _, _ := strings.Cut(t.Name(), "/")
	return provision.Resource{NameBase: "stack-" + strings.ReplaceAll(t.Name(), "/", "-"), Account: account,
		IdempotencyKey: t.Name() + "/" + request, Provenance: provision.Provenance{By: "stack#" + test, Via: "cloudformation", Caller: dbgrants.Caller{Kind: dbgrants.KindStack, Name: test}}}
}

// stored reads the current secret JSON.
func stored(t *testing.T, id string) (map[string]any, string) {
	t.Helper()
	out := secretValue(t, client(t, primary), id)
	var m map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &m); err != nil {
		t.Fatal(err)
	}
	return m, aws.ToString(out.VersionId)
}

func describe(t *testing.T, id string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	out, err := client(t, primary).DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func versionCount(t *testing.T, id string) int {
	out, err := client(t, primary).ListSecretVersionIds(context.Background(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(id), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Versions)
}

func TestCreateGeneratesAName(t *testing.T) {
	ctx := context.Background()
	l := lifecycle(t)
	req := decode(t, `{"Engine": "postgres", "Host": "h"}`)
	first, err := l.Create(ctx, resource(t, "create"), req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first.Name, "app/stack-TestCreateGeneratesAName-") || len(first.Name) != len("app/stack-TestCreateGeneratesAName-")+12 {
		t.Fatalf("generated name %q", first.Name)
	}
	again, err := l.Create(ctx, resource(t, "create"), req)
	if err != nil || again.ARN != first.ARN || again.VersionID != first.VersionID || versionCount(t, first.ARN) != 1 {
		t.Fatalf("retry: %+v, %v; want %+v and one version", again, err, first)
	}
	tags := describe(t, first.ARN).Tags
	if len(tags) != 2 {
		t.Fatalf("tags %+v, want the two provenance tags", tags)
	}
}

func TestUpdateInPlace(t *testing.T) {
	ctx := context.Background()
	l := lifecycle(t)
	name := uniqueName(t)
	oldBody := `{"Name": "` + name + `", "Description": "v1", "Engine": "postgres", "Host": "old.internal", "Username": "app",
		"Tags": [{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "test"}], "ReplicaRegions": [{"Region": "eu-west-1"}]}`
	created, err := l.Create(ctx, resource(t, "create"), decode(t, oldBody))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := stored(t, created.ARN)
	// Someone else's tag, which the stack never set, must survive.
	client(t, primary).TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(created.ARN),
		Tags: []types.Tag{{Key: aws.String("backup"), Value: aws.String("daily")}}})

	newBody := `{"Name": "` + name + `", "Description": "v2", "Engine": "postgres", "Host": "new.internal", "Username": "app", "PasswordLength": "40",
		"Tags": [{"Key": "team", "Value": "b"}, {"Key": "owner", "Value": "c"}], "ReplicaRegions": [{"Region": "eu-central-1"}]}`
	for attempt := 0; attempt < 2; attempt++ { // the second is Lambda's retry of the same request
		got, err := l.Update(ctx, resource(t, "update"), created.ARN, decode(t, oldBody), decode(t, newBody))
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		if got.ARN != created.ARN || got.VersionID != secretstore.Token(resource(t, "update").IdempotencyKey) {
			t.Fatalf("attempt %d: %+v: want the same secret and a version from this request", attempt, got)
		}
	}
	after, version := stored(t, created.ARN)
	if after["host"] != "new.internal" || after["password"] != before["password"] || after["username"] != "app" {
		t.Fatalf("after the update: host %v, same password %v, username %v", after["host"], after["password"] == before["password"], after["username"])
	}
	if version != secretstore.Token(resource(t, "update").IdempotencyKey) || versionCount(t, created.ARN) != 2 {
		t.Fatalf("current version %s of %d; want this update's, of 2", version, versionCount(t, created.ARN))
	}
	desc := describe(t, created.ARN)
	if aws.ToString(desc.Description) != "v2" {
		t.Fatalf("description %q", aws.ToString(desc.Description))
	}
	tags := map[string]string{}
	for _, tag := range desc.Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	if tags["team"] != "b" || tags["owner"] != "c" || tags["env"] != "" || tags["backup"] != "daily" || tags["provisioned-via"] != "cloudformation" {
		t.Fatalf("tags %v", tags)
	}
	var regions []string
	for _, r := range desc.ReplicationStatus {
		regions = append(regions, aws.ToString(r.Region))
	}
	if strings.Join(regions, ",") != "eu-central-1" {
		t.Fatalf("replicas %v, want eu-central-1 only", regions)
	}
}

func TestUpdateWithoutValueChangeMakesNoVersion(t *testing.T) {
	ctx := context.Background()
	l := lifecycle(t)
	name := uniqueName(t)
	old := `{"Name": "` + name + `", "Engine": "mysql", "Host": "h"}`
	created, err := l.Create(ctx, resource(t, "create"), decode(t, old))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := stored(t, created.ARN)
	// A policy change and an omitted, generated username: nothing to store.
	now := `{"Name": "` + name + `", "Engine": "mysql", "Host": "h", "PasswordLength": "20", "ExcludePunctuation": "true"}`
	got, err := l.Update(ctx, resource(t, "update"), created.ARN, decode(t, old), decode(t, now))
	if err != nil {
		t.Fatal(err)
	}
	after, _ := stored(t, created.ARN)
	if got.VersionID != created.VersionID || versionCount(t, created.ARN) != 1 || after["password"] != before["password"] || got.Username != created.Username {
		t.Fatalf("got %+v; a policy change must keep the password, the username and the version", got)
	}
}

// TestUpdateKeepsTheRotatedCredentials: after an alternating-users rotation
// the live user is the clone; an update keeps it, and keeps the rotated
// password, rather than writing the template's username back.
func TestUpdateKeepsTheRotatedCredentials(t *testing.T) {
	ctx := context.Background()
	l := lifecycle(t)
	name := uniqueName(t)
	old := `{"Name": "` + name + `", "Engine": "postgres", "Host": "h", "Username": "app"}`
	created, err := l.Create(ctx, resource(t, "create"), decode(t, old))
	if err != nil {
		t.Fatal(err)
	}
	rotated := `{"engine":"postgres","host":"h","username":"app_clone","password":"Rotated-Pass-123","dbname":"postgres","port":5432}`
	client(t, primary).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(created.ARN), SecretString: aws.String(rotated)})
	now := `{"Name": "` + name + `", "Engine": "postgres", "Host": "h2", "Username": "app"}`
	got, err := l.Update(ctx, resource(t, "update"), created.ARN, decode(t, old), decode(t, now))
	if err != nil {
		t.Fatal(err)
	}
	after, _ := stored(t, created.ARN)
	if after["username"] != "app_clone" || after["password"] != "Rotated-Pass-123" || after["host"] != "h2" || got.Username != "app_clone" {
		t.Fatalf("stored %v, result %+v", after, got)
	}
}

func TestUpdateRefusals(t *testing.T) {
	ctx := context.Background()
	l := lifecycle(t)
	name := uniqueName(t)
	old := `{"Name": "` + name + `", "Engine": "mysql", "Host": "h"}`
	created, err := l.Create(ctx, resource(t, "create"), decode(t, old))
	if err != nil {
		t.Fatal(err)
	}
	// A password mysql allows but postgres's rotation never generates.
	client(t, primary).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(created.ARN),
		SecretString: aws.String(`{"engine":"mysql","host":"h","username":"u","password":"has:colon","port":3306}`)})
	tests := []struct {
		name, id, now, field string
		code                 errcode.Code
	}{
		{"engine whose rules the password breaks", created.ARN, `{"Name": "` + name + `", "Engine": "postgres", "Host": "h"}`, "engine", errcode.Invalid},
		{"another kind under the same name", created.ARN, `{"Name": "` + name + `", "SecretString": "x"}`, "name", errcode.Invalid},
		{"an invalid new property", created.ARN, `{"Name": "` + name + `", "Engine": "mysql", "Host": "h", "Port": "0"}`, "port", errcode.Invalid},
		{"not a secret of ours", "6f3a2b1e-4c5d-4e6f-8a9b-0c1d2e3f4a5b", `{"Name": "` + name + `", "Engine": "mysql", "Host": "h"}`, "", errcode.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.Update(ctx, resource(t, "update"), tt.id, decode(t, old), decode(t, tt.now))
			if errcode.Of(err) != tt.code || errcode.FieldOf(err) != tt.field {
				t.Fatalf("got %v, want %s on %q", err, tt.code, tt.field)
			}
		})
	}
	if v, _ := stored(t, created.ARN); v["password"] != "has:colon" {
		t.Fatal("a refused update changed the secret")
	}
}

// TestReplacementAndItsRollback: a new name is a new secret; rolling the
// update back (the old properties sent to the new id) adopts the old secret
// rather than failing on a name that exists.
func TestReplacementAndItsRollback(t *testing.T) {
	ctx := context.Background()
	l := lifecycle(t)
	oldName, newName := uniqueName(t)+"_a", uniqueName(t)+"_b"
	oldBody := `{"Name": "` + oldName + `", "Engine": "mysql", "Host": "h"}`
	newBody := `{"Name": "` + newName + `", "Engine": "mysql", "Host": "h"}`
	created, err := l.Create(ctx, resource(t, "create"), decode(t, oldBody))
	if err != nil {
		t.Fatal(err)
	}
	replaced, err := l.Update(ctx, resource(t, "update"), created.ARN, decode(t, oldBody), decode(t, newBody))
	if err != nil {
		t.Fatal(err)
	}
	if replaced.ARN == created.ARN || replaced.Name != newName {
		t.Fatalf("replacement %+v", replaced)
	}
	if describe(t, created.ARN).DeletedDate != nil {
		t.Fatal("the old secret is CloudFormation's to delete, not the update's")
	}
	back, err := l.Update(ctx, resource(t, "rollback"), replaced.ARN, decode(t, newBody), decode(t, oldBody))
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if back.ARN != created.ARN {
		t.Fatalf("rollback answered %s, want the old secret %s", back.ARN, created.ARN)
	}
	// Another stack's resource with the same old name is not adopted.
	other := resource(t, "rollback")
	other.Provenance.By = "another-stack#Db"
	if _, err := l.Update(ctx, other, replaced.ARN, decode(t, newBody), decode(t, oldBody)); errcode.Of(err) != errcode.Forbidden {
		t.Fatalf("got %v, want forbidden for a secret this resource did not make", err)
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	l := lifecycle(t)
	name := uniqueName(t)
	created, err := l.Create(ctx, resource(t, "create"), decode(t, `{"Name": "`+name+`", "Engine": "mysql", "Host": "h", "ReplicaRegions": ["eu-west-1", "eu-central-1"]}`))
	if err != nil {
		t.Fatal(err)
	}
	days := props.Int(7)
	skipped, err := l.Delete(ctx, resource(t, "delete"), created.ARN, provision.DeleteOptions{RecoveryWindowInDays: &days}, provision.Request{})
	if err != nil || skipped != "" {
		t.Fatalf("skipped %q, %v", skipped, err)
	}
	desc := describe(t, created.ARN)
	if desc.DeletedDate == nil || len(desc.ReplicationStatus) != 0 {
		t.Fatalf("after delete: deleted %v, replicas %+v", desc.DeletedDate, desc.ReplicationStatus)
	}
	if skipped, err := l.Delete(ctx, resource(t, "delete"), created.ARN, provision.DeleteOptions{}, provision.Request{}); err != nil || skipped == "" {
		t.Fatalf("a repeated delete: skipped %q, %v; want nothing done", skipped, err)
	}
}

// TestDeleteTouchesOnlyOurs: ids that are not a secret this deployment
// could have created are answered with no action, and the secrets they
// might point at are left alone.
func TestDeleteTouchesOnlyOurs(t *testing.T) {
	ctx := context.Background()
	l := lifecycle(t)
	outside, err := client(t, primary).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("other/" + strings.TrimPrefix(uniqueName(t), "app/")), SecretString: aws.String("x")})
	if err != nil {
		t.Fatal(err)
	}
	mine, err := l.Create(ctx, resource(t, "create"), decode(t, `{"Name": "`+uniqueName(t)+`", "SecretString": "x"}`))
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{
		"6f3a2b1e-4c5d-4e6f-8a9b-0c1d2e3f4a5b", // a failed create's request id
		"",
		aws.ToString(outside.ARN), // outside the prefix
		strings.Replace(mine.ARN, ":"+primary+":", ":eu-west-1:", 1),    // another Region
		strings.Replace(mine.ARN, ":"+account+":", ":210987654321:", 1), // another account
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/missing-AbCdEf",
		strings.TrimSuffix(mine.ARN, mine.ARN[len(mine.ARN)-7:]), // a name, not an ARN
	}
	for _, id := range ids {
		skipped, err := l.Delete(ctx, resource(t, "delete"), id, provision.DeleteOptions{ForceDeleteWithoutRecovery: true}, provision.Request{})
		if err != nil || skipped == "" {
			t.Fatalf("%q: skipped %q, %v; want no action", id, skipped, err)
		}
	}
	for _, id := range []string{aws.ToString(outside.ARN), mine.ARN} {
		if describe(t, id).DeletedDate != nil {
			t.Fatalf("%s was deleted", id)
		}
	}
}

// TestOnlyWhatTheResourceMade: Update and Delete of a secret under the
// prefix that another stack's resource, another trigger or nobody of ours
// made are refused (Update) or skipped (Delete), leaving it as it was.
func TestOnlyWhatTheResourceMade(t *testing.T) {
	ctx := context.Background()
	l := lifecycle(t)
	body := func(name string) string { return `{"Name": "` + name + `", "Engine": "mysql", "Host": "h"}` }
	attack := func(name string) string {
		return `{"Name": "` + name + `", "Engine": "mysql", "Host": "attacker.example.com"}`
	}

	otherStack := resource(t, "create")
	otherStack.Provenance.By = "arn:aws:cloudformation:us-east-1:123456789012:stack/payments/1#Db"
	viaAPI := resource(t, "create")
	viaAPI.Provenance.Via = "http-api"
	made := map[string]string{}
	for label, res := range map[string]provision.Resource{"another stack": otherStack, "another trigger": viaAPI} {
		name := uniqueName(t) + "_" + strings.ReplaceAll(label, " ", "_")
		created, err := l.Create(ctx, res, decode(t, body(name)))
		if err != nil {
			t.Fatal(err)
		}
		made[label] = created.ARN
	}
	untagged, err := client(t, primary).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(uniqueName(t) + "_untagged"),
		SecretString: aws.String(`{"engine":"mysql","host":"h","username":"u","password":"p"}`)})
	if err != nil {
		t.Fatal(err)
	}
	made["nobody of ours"] = aws.ToString(untagged.ARN)

	for label, arn := range made {
		t.Run(label, func(t *testing.T) {
			name := aws.ToString(describe(t, arn).Name)
			before, _ := stored(t, arn)
			if _, err := l.Update(ctx, resource(t, "update"), arn, decode(t, body(name)), decode(t, attack(name))); errcode.Of(err) != errcode.Forbidden ||
				!strings.Contains(errcode.Message(err), "not made by this stack's resource") {
				t.Fatalf("update: got %v, want forbidden", err)
			}
			if skipped, err := l.Delete(ctx, resource(t, "delete"), arn, provision.DeleteOptions{ForceDeleteWithoutRecovery: true}, provision.Request{}); err != nil || !strings.Contains(skipped, "not made by this stack's resource") {
				t.Fatalf("delete: skipped %q, %v", skipped, err)
			}
			after, _ := stored(t, arn)
			if after["host"] != before["host"] || describe(t, arn).DeletedDate != nil {
				t.Fatalf("the secret was changed: %v, deleted %v", after["host"], describe(t, arn).DeletedDate)
			}
		})
	}

	// The resource's own secret: updated in place and deleted as ever.
	mine := uniqueName(t) + "_mine"
	created, err := l.Create(ctx, resource(t, "create"), decode(t, body(mine)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Update(ctx, resource(t, "update"), created.ARN, decode(t, body(mine)), decode(t, attack(mine))); err != nil {
		t.Fatalf("own update: %v", err)
	}
	if v, _ := stored(t, created.ARN); v["host"] != "attacker.example.com" {
		t.Fatalf("own update stored host %v", v["host"])
	}
	if skipped, err := l.Delete(ctx, resource(t, "delete"), created.ARN, provision.DeleteOptions{ForceDeleteWithoutRecovery: true}, provision.Request{}); err != nil || skipped != "" {
		t.Fatalf("own delete: skipped %q, %v", skipped, err)
	}
}

func TestDeleteOptionsCheck(t *testing.T) {
	seven, three, thirtyOne := props.Int(7), props.Int(3), props.Int(31)
	tests := []struct {
		opts  provision.DeleteOptions
		field string
	}{
		{provision.DeleteOptions{}, ""},
		{provision.DeleteOptions{RecoveryWindowInDays: &seven}, ""},
		{provision.DeleteOptions{ForceDeleteWithoutRecovery: true}, ""},
		{provision.DeleteOptions{RecoveryWindowInDays: &three}, "recoveryWindowInDays"},
		{provision.DeleteOptions{RecoveryWindowInDays: &thirtyOne}, "recoveryWindowInDays"},
		{provision.DeleteOptions{RecoveryWindowInDays: &seven, ForceDeleteWithoutRecovery: true}, "forceDeleteWithoutRecovery"},
	}
	for _, tt := range tests {
		if err := tt.opts.Check(); errcode.FieldOf(err) != tt.field || (tt.field == "") != (err == nil) {
			t.Errorf("%+v: got %v, want field %q", tt.opts, err, tt.field)
		}
	}
}

// TestRollbackKeepsProvenance: CloudFormation's rollback replays an update
// that failed as the old properties, unvalidated; reserved tags named there
// are never removed, so the stack keeps its secret (and can delete it).
func TestRollbackKeepsProvenance(t *testing.T) {
	ctx := context.Background()
	l := lifecycle(t)
	name := uniqueName(t)
	now := decode(t, `{"name": "`+name+`", "engine": "postgres", "host": "db.internal"}`)
	created, err := l.Create(ctx, resource(t, "create"), now)
	if err != nil {
		t.Fatal(err)
	}
	old := now
	old.Tags = provision.Tags{{Key: provision.TagProvisionedVia, Value: "x"}, {Key: provision.TagProvisionedBy, Value: "x"}, {Key: "team", Value: "orders"}}
	if _, err := l.Update(ctx, resource(t, "rollback"), created.ARN, old, now); err != nil {
		t.Fatal(err)
	}
	out, err := client(t, primary).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(created.ARN)})
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	for _, tag := range out.Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	if tags[provision.TagProvisionedVia] != "cloudformation" || tags[provision.TagProvisionedBy] == "" {
		t.Fatalf("the provisioner's tags were removed: %v", tags)
	}
	if skipped, err := l.Delete(ctx, resource(t, "delete"), created.ARN, provision.DeleteOptions{}, now); err != nil || skipped != "" {
		t.Fatalf("the stack can no longer delete its secret: %q %v", skipped, err)
	}
}
