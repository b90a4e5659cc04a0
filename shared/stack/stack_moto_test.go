package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/local/testenv/core"
	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/secretspec"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/stack"
)

// resource is the stack resource of the test: subtests share their
// parent's, so that they act on the secret it made.
func resource(t *testing.T, request string) stack.Resource {
	test, _, _ := strings.Cut(t.Name(), "/")
	return stack.Resource{NameBase: "stack-" + strings.ReplaceAll(t.Name(), "/", "-"), Account: account,
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
	if len(tags) != 3 {
		t.Fatalf("tags %+v, want the two provenance tags and the engine's", tags)
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
		if got.ARN != created.ARN || got.VersionID != secretstore.Token("update\x00cloudformation\x00"+resource(t, "update").IdempotencyKey) {
			t.Fatalf("attempt %d: %+v: want the same secret and a version from this request", attempt, got)
		}
	}
	after, version := stored(t, created.ARN)
	if after["host"] != "new.internal" || after["password"] != before["password"] || after["username"] != "app" {
		t.Fatalf("after the update: host %v, same password %v, username %v", after["host"], after["password"] == before["password"], after["username"])
	}
	if version != secretstore.Token("update\x00cloudformation\x00"+resource(t, "update").IdempotencyKey) || versionCount(t, created.ARN) != 2 {
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
	for label, res := range map[string]stack.Resource{"another stack": otherStack, "another trigger": viaAPI} {
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
	old.Tags = secretspec.Tags{{Key: provision.TagProvisionedVia, Value: "x"}, {Key: provision.TagProvisionedBy, Value: "x"}, {Key: "team", Value: "orders"}}
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

// TestDatabaseUserLifecycle: an update of the privileges takes effect, also
// on a table made afterwards; a move of the user is refused; Delete drops
// the user, its clone and the secret.
func TestDatabaseUserLifecycle(t *testing.T) {
	for _, engine := range []string{"postgres", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s := database(t, engine)
			l := lifecycle(t)
			oldBody := userRequest(t, engine, s, `, "privileges": "readonly"`)
			created, err := l.Create(ctx, resource(t, "create"), decode(t, oldBody))
			if err != nil {
				t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
			}
			table := "later_" + engine
			asMaster(t, s, "CREATE TABLE "+table+" (id int)")
			if err := login(t, engine, created.ARN, "INSERT INTO "+table+" VALUES (1)"); err == nil {
				t.Fatal("readonly can INSERT")
			}
			newBody := strings.Replace(oldBody, `"privileges": "readonly"`, `"privileges": "readwrite"`, 1)
			updated, err := l.Update(ctx, resource(t, "update"), created.ARN, decode(t, oldBody), decode(t, newBody))
			if err != nil || updated.DatabaseUser == nil || updated.DatabaseUser.Privileges != "readwrite" {
				t.Fatalf("update: %+v, %v", updated, err)
			}
			if err := login(t, engine, created.ARN, "INSERT INTO "+table+" VALUES (1)"); err != nil {
				t.Fatalf("after the update to readwrite: %v", err)
			}
			moved := strings.Replace(newBody, `"dbname": "app"`, `"dbname": "other"`, 1)
			if _, err := l.Update(ctx, resource(t, "move"), created.ARN, decode(t, newBody), decode(t, moved)); errcode.FieldOf(err) != "dbname" {
				t.Fatalf("a move of the user: %v", err)
			}
			clone := created.Username + "_clone"
			if engine == "mariadb" {
				asMaster(t, s, "CREATE USER '"+clone+"'@'%' IDENTIFIED BY 'Clone-Pa55word'")
			} else {
				asMaster(t, s, "ALTER ROLE "+clone+" PASSWORD 'Clone-Pa55word'") // made with the user
			}
			if skipped, err := l.Delete(ctx, resource(t, "delete"), created.ARN, provision.DeleteOptions{ForceDeleteWithoutRecovery: true}, decode(t, newBody)); err != nil || skipped != "" {
				t.Fatalf("delete: %q, %v (%v)", skipped, err, errcode.Public(err))
			}
			if _, err := client(t, primary).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(created.ARN)}); err == nil {
				t.Fatal("the secret is still there")
			}
			for _, user := range []string{created.Username, clone} {
				if exists, err := s.UserExists(user); err != nil || exists {
					t.Fatalf("%s is still there (%v)", user, err)
				}
			}
		})
	}
}

// TestUpdateHeldToTheRecord: an update, or the adoption of a secret this
// resource made (which compares the request with itself), cannot move the
// recorded user to another engine, master, database, name or host, nor
// stop managing it; the engine and schemas a grant is checked against are
// the record's.
func TestUpdateHeldToTheRecord(t *testing.T) {
	ctx := context.Background()
	s := database(t, "postgres")
	l := lifecycle(t)
	body := userRequest(t, "postgres", s, `, "username": "held_user"`)
	created, err := l.Create(ctx, resource(t, "create"), decode(t, body))
	if err != nil {
		t.Fatal(err)
	}
	other := masterSecret(t, s)
	for _, tt := range []struct{ field, from, to string }{
		{"engine", `"engine": "postgres"`, `"engine": "mariadb"`},
		{"masterSecretArn", `"masterSecretArn": "`, `"masterSecretArn": "` + other + `", "x": "`},
		{"dbname", `"dbname": "app"`, `"dbname": "postgres"`},
		{"username", `"username": "held_user"`, `"username": "other_user"`},
		{"host", `"createDatabaseUser": true`, `"createDatabaseUser": true, "host": "elsewhere.example"`},
		{"createDatabaseUser", `"createDatabaseUser": true`, `"createDatabaseUser": false`},
	} {
		t.Run(tt.field, func(t *testing.T) {
			moved := strings.Replace(body, tt.from, tt.to, 1)
			if tt.field == "masterSecretArn" {
				var m map[string]any
				json.Unmarshal([]byte(body), &m)
				m["masterSecretArn"] = other
				b, _ := json.Marshal(m)
				moved = string(b)
			}
			if tt.field == "engine" {
				moved = strings.Replace(moved, `"dbname"`, `"schemas": null, "dbname"`, 1)
			}
			if tt.field == "createDatabaseUser" {
				// Without its user, a secret names no master (only anyUser
				// grants may): what is refused is giving the user up.
				var m map[string]any
				json.Unmarshal([]byte(moved), &m)
				delete(m, "masterSecretArn")
				b, _ := json.Marshal(m)
				moved = string(b)
			}
			r, err := provision.DecodeRequest([]byte(moved))
			if err != nil {
				t.Fatal(err)
			}
			// As an adoption: the old request is the new one.
			if _, err := l.Update(ctx, resource(t, "adopt-"+tt.field), created.ARN, r, r); errcode.FieldOf(err) != tt.field {
				t.Fatalf("got %v, want the field %s", err, tt.field)
			}
		})
	}
	if err := login(t, "postgres", created.ARN, "SELECT 1"); err != nil {
		t.Fatalf("the user no longer logs in: %v", err)
	}
}

// TestDeleteAfterOutsideDeletion: a secret scheduled for deletion, or
// deleted for good, outside the provisioner still has its recorded user
// dropped by the Delete of the stack that made it, and only by that one.
func TestDeleteAfterOutsideDeletion(t *testing.T) {
	ctx := context.Background()
	s := database(t, "mariadb")
	l := lifecycle(t)
	for _, force := range []bool{false, true} {
		username := fmt.Sprintf("outside_%v", force)
		created, err := l.Create(ctx, resource(t, "create"), decode(t, userRequest(t, "mariadb", s, `, "username": "`+username+`"`)))
		if err != nil {
			t.Fatal(err)
		}
		in := &secretsmanager.DeleteSecretInput{SecretId: aws.String(created.ARN), RecoveryWindowInDays: aws.Int64(7)}
		if force {
			in = &secretsmanager.DeleteSecretInput{SecretId: aws.String(created.ARN), ForceDeleteWithoutRecovery: aws.Bool(true)}
		}
		if _, err := client(t, primary).DeleteSecret(ctx, in); err != nil {
			t.Fatal(err)
		}
		if force {
			// Another stack's Delete naming the ARN drops nothing.
			other := resource(t, "other")
			other.Provenance.By = "another-stack#Db"
			if _, err := l.Delete(ctx, other, created.ARN, provision.DeleteOptions{}, provision.Request{}); err != nil {
				t.Fatal(err)
			}
			if exists, _ := s.UserExists(username); !exists {
				t.Fatal("another stack's Delete dropped the user")
			}
		}
		if _, err := l.Delete(ctx, resource(t, "delete"), created.ARN, provision.DeleteOptions{}, provision.Request{}); err != nil {
			t.Fatal(err)
		}
		if exists, err := s.UserExists(username); err != nil || exists {
			t.Fatalf("force %v: the user is left (%v)", force, err)
		}
	}
}

// TestUpdateRefusesAnExtensionsSchema: an update of Schemas is held to
// what a create is: a schema an extension made (whose tables steer the
// extension) is refused, and the user gains nothing there.
func TestUpdateRefusesAnExtensionsSchema(t *testing.T) {
	ctx := context.Background()
	s := database(t, "postgres")
	if err := s.AsAdministrator("CREATE EXTENSION IF NOT EXISTS citext", "CREATE SCHEMA IF NOT EXISTS steers_ext",
		"CREATE TABLE IF NOT EXISTS steers_ext.jobs (job text)", "ALTER SCHEMA steers_ext OWNER TO "+dbserver.MasterUser,
		"ALTER TABLE steers_ext.jobs OWNER TO "+dbserver.MasterUser, "ALTER EXTENSION citext ADD SCHEMA steers_ext"); err != nil {
		t.Fatal(err)
	}
	l := lifecycle(t)
	oldBody := userRequest(t, "postgres", s, `, "schemas": ["public"]`)
	created, err := l.Create(ctx, resource(t, "create"), decode(t, oldBody))
	if err != nil {
		t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
	}
	newBody := strings.Replace(oldBody, `"schemas": ["public"]`, `"schemas": ["public", "steers_ext"]`, 1)
	if _, err := l.Update(ctx, resource(t, "update"), created.ARN, decode(t, oldBody), decode(t, newBody)); errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != "schemas[1]" {
		t.Fatalf("an update onto an extension's schema: %v", err)
	}
	if err := login(t, "postgres", created.ARN, "INSERT INTO steers_ext.jobs VALUES ('x')"); err == nil {
		t.Fatal("the user writes the extension's table")
	}
}

// TestNoMasterSmuggledIntoAValue: a stack cannot make a secret's stored
// value name a master through an update: not by turning a secret whose
// user it made into a template (the old properties, which a direct invoke
// may forge, say what it was), and not through generateStringKey, which
// would copy a kept value (the master's ARN) under masterarn.
func TestNoMasterSmuggledIntoAValue(t *testing.T) {
	ctx := context.Background()
	s := database(t, "postgres")
	l := lifecycle(t)
	body := userRequest(t, "postgres", s, `, "username": "smuggler"`)
	var m map[string]any
	json.Unmarshal([]byte(body), &m)
	created, err := l.Create(ctx, resource(t, "create"), decode(t, body))
	if err != nil {
		t.Fatal(err)
	}
	template := func(name, key string) string {
		return `{"name": "` + name + `", "secretStringTemplate": "{\"engine\": \"postgres\", \"username\": \"postgres\"}", "generateStringKey": "` + key + `"}`
	}
	// As a direct invoke would send it: old and new the same template.
	now := decode(t, template(m["name"].(string), "masterarn"))
	if _, err := l.Update(ctx, resource(t, "update"), created.ARN, now, now); err == nil {
		t.Fatal("a secret whose user the provisioner made became a template naming the master")
	}
	now = decode(t, template(m["name"].(string), "password"))
	if _, err := l.Update(ctx, resource(t, "update"), created.ARN, now, now); errcode.FieldOf(err) != "createDatabaseUser" {
		t.Fatalf("turning it into a template: %v, want the field createDatabaseUser", err)
	}
	v, _ := stored(t, created.ARN)
	if v["masterarn"] != m["masterSecretArn"] || v["username"] != "smuggler" {
		t.Fatalf("the stored secret changed: %v", v)
	}
	// A template secret of its own: generateStringKey may not be masterarn.
	plain := decode(t, template(uniqueName(t), "password"))
	made, err := l.Create(ctx, resource(t, "plain"), plain)
	if err != nil {
		t.Fatal(err)
	}
	now = decode(t, template(plain.Name, "MasterArn"))
	if _, err := l.Update(ctx, resource(t, "plain"), made.ARN, plain, now); errcode.Of(err) != errcode.Forbidden || errcode.FieldOf(err) != "generateStringKey" {
		t.Fatalf("generateStringKey MasterArn: %v", err)
	}
}

// TestUpdateKeepsTLS: the stored secret tells rotation functions and
// applications how to reach the user, so an update never says less TLS
// than the user was made with or the deployment requires: an update that
// leaves ssl out keeps ssl true, and one with ssl false is refused.
func TestUpdateKeepsTLS(t *testing.T) {
	core.Require(t)
	ctx := context.Background()
	ca, err := dbserver.NewTestCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := dbserver.StartPostgresWith(dbserver.Options{TLS: &ca})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	t.Setenv("DB_CA_BUNDLE", ca.CAFile)
	for _, tt := range []struct {
		name       string
		requireTLS bool
		ssl        string // the create's ssl member
	}{
		{"the deployment requires TLS", true, ``},
		{"the user was made over TLS", false, `, "ssl": true`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, testGrants)
			cfg.RequireTLS = tt.requireTLS
			l := lifecycleOf(t, core.ServiceWith(t, cfg, nil, nil), core.SecretsClient(t))
			body := strings.Replace(userRequest(t, "postgres", s, `, "privileges": "readonly"`), `"createDatabaseUser": true`, `"createDatabaseUser": true`+tt.ssl, 1)
			created, err := l.Create(ctx, resource(t, "create"), decode(t, body))
			if err != nil {
				t.Fatal(err)
			}
			now := strings.Replace(strings.Replace(body, `"readonly"`, `"readwrite"`, 1), `, "ssl": true`, ``, 1)
			if _, err := l.Update(ctx, resource(t, "update"), created.ARN, decode(t, body), decode(t, now)); err != nil {
				t.Fatalf("update: %v", err)
			}
			if v, _ := stored(t, created.ARN); v["ssl"] != true {
				t.Fatalf("an update without ssl stored ssl %v", v["ssl"])
			}
			off := strings.Replace(now, `"createDatabaseUser": true`, `"createDatabaseUser": true, "ssl": false`, 1)
			if _, err := l.Update(ctx, resource(t, "off"), created.ARN, decode(t, now), decode(t, off)); errcode.FieldOf(err) != "ssl" {
				t.Fatalf("ssl false: %v, want refused on the field ssl", err)
			}
			if v, _ := stored(t, created.ARN); v["ssl"] != true {
				t.Fatalf("after ssl false the secret says ssl %v", v["ssl"])
			}
		})
	}
}
