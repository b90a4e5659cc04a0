package provision_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/dbserver"
	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// database is a real PostgreSQL or MariaDB, started once for the tests
// that need them.
func database(t *testing.T, engine string) *dbserver.Server {
	t.Helper()
	s, err := dbserver.Shared(engine)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// masterSecret stores the server's master credentials with its host and
// port, outside the provisioner's prefix, as a self-managed database's
// master secret, and returns its ARN.
func masterSecret(t *testing.T, s *dbserver.Server) string {
	t.Helper()
	return storeMaster(t, s.Host, s.Port)
}

func storeMaster(t *testing.T, host string, port int) string {
	t.Helper()
	out, err := client(t, primary).CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String("masters/" + strings.TrimPrefix(uniqueName(t), "app/")),
		SecretString: aws.String(fmt.Sprintf(`{"username": %q, "password": %q, "host": %q, "port": %d}`,
			dbserver.MasterUser, dbserver.MasterPassword, host, port)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// userRequest is a request for a secret with its database user, at the
// master's own database (no host or port of its own).
func userRequest(t *testing.T, engine string, s *dbserver.Server, extra string) string {
	return fmt.Sprintf(`{"name": %q, "engine": %q, "dbname": %q, "masterSecretArn": %q, "createDatabaseUser": true%s}`,
		uniqueName(t), engine, dbserver.Database, masterSecret(t, s), extra)
}

// byStack is r as a stack's custom resource asks for it.
func byStack(r provision.Request) provision.Request {
	r.Provenance = provision.Provenance{By: "stack#Db", Via: "cloudformation", Caller: dbgrants.Caller{Kind: dbgrants.KindStack, Name: "tests"}}
	return r
}

// login runs statements as the user the secret holds and returns the first
// error.
func login(t *testing.T, engine, arn string, statements ...string) error {
	t.Helper()
	out := secretValue(t, client(t, primary), arn)
	var v struct {
		Username, Password, Host, Dbname string
		Port                             int
	}
	json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v)
	db := dbserver.Open(engine, v.Host, v.Port, v.Dbname, v.Username, v.Password)
	defer db.Close()
	return dbserver.Run(db, statements...)
}

func asMaster(t *testing.T, s *dbserver.Server, statement string) {
	t.Helper()
	if err := s.AsMaster(statement); err != nil {
		t.Fatal(err)
	}
}

// TestCreateDatabaseUser: the secret's credentials log in at once, with the
// privileges asked for; the same request again gives one secret and one
// user; a user that existed before is a conflict that makes nothing.
func TestCreateDatabaseUser(t *testing.T) {
	for _, engine := range []string{"postgres", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s := database(t, engine)
			table := "t_" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_")
			asMaster(t, s, "CREATE TABLE "+table+" (id int)")
			svc := service(t)
			body := userRequest(t, engine, s, `, "privileges": "readonly"`)
			first, err := svc.Create(ctx, byStack(decode(t, body)), "request-1")
			if err != nil {
				t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
			}
			if first.DatabaseUser == nil || first.DatabaseUser.Privileges != "readonly" || first.DatabaseUser.Username != first.Username {
				t.Fatalf("result %+v", first)
			}
			if err := login(t, engine, first.ARN, "SELECT count(*) FROM "+table); err != nil {
				t.Fatalf("readonly cannot log in and SELECT: %v", err)
			}
			if err := login(t, engine, first.ARN, "INSERT INTO "+table+" VALUES (1)"); err == nil {
				t.Fatal("readonly can INSERT")
			}
			again, err := svc.Create(ctx, byStack(decode(t, body)), "request-1")
			if err != nil || again.ARN != first.ARN || !again.Replayed || again.DatabaseUser == nil {
				t.Fatalf("the retry: %+v, %v", again, err)
			}
			if versionCount(t, first.ARN) != 1 {
				t.Fatal("the retry made a second version")
			}
			// Another request for the same user: it exists, it is not its.
			var taken map[string]any
			json.Unmarshal([]byte(body), &taken)
			taken["name"] = uniqueName(t) + "_taken"
			taken["username"] = first.Username
			b, _ := json.Marshal(taken)
			if _, err := svc.Create(ctx, byStack(decode(t, string(b))), "request-2"); errcode.Of(err) != errcode.Conflict || errcode.FieldOf(err) != "username" {
				t.Fatalf("a user that exists: %v", err)
			}
			if _, err := client(t, primary).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(taken["name"].(string))}); err == nil {
				t.Fatal("the conflict left a secret behind")
			}
		})
	}
}

// TestDatabaseUnreachable: a database that does not answer fails cleanly,
// as unavailable, and makes nothing; the same request then completes.
func TestDatabaseUnreachable(t *testing.T) {
	ctx := context.Background()
	s := database(t, "postgres")
	svc := service(t)
	master := storeMaster(t, s.Host, 1)
	body := fmt.Sprintf(`{"name": %q, "engine": "postgres", "dbname": %q, "masterSecretArn": %q, "createDatabaseUser": true}`, uniqueName(t), dbserver.Database, master)
	r := byStack(decode(t, body))
	if _, err := svc.Create(ctx, r, "unreachable-1"); errcode.Of(err) != errcode.Unavailable {
		t.Fatalf("got %v", err)
	}
	if _, err := client(t, primary).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(r.Name)}); err == nil {
		t.Fatal("the failure left a secret")
	}
	// The database answers again where its master secret says.
	if _, err := client(t, primary).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(master),
		SecretString: aws.String(fmt.Sprintf(`{"username": %q, "password": %q, "host": %q, "port": %d}`, dbserver.MasterUser, dbserver.MasterPassword, s.Host, s.Port))}); err != nil {
		t.Fatal(err)
	}
	if created, err := svc.Create(ctx, r, "unreachable-1"); err != nil || login(t, "postgres", created.ARN) != nil {
		t.Fatalf("the retry: %+v, %v", created, err)
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
				asMaster(t, s, "CREATE ROLE "+clone+" LOGIN PASSWORD 'Clone-Pa55word'")
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

func TestDatabaseUserRules(t *testing.T) {
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCdEf"
	for _, tt := range []struct{ name, body, field string }{
		{"an engine without users", `{"name": "app/x", "engine": "oracle", "host": "h", "dbname": "ORCL", "masterSecretArn": "` + arn + `", "createDatabaseUser": true}`, "createDatabaseUser"},
		{"no master secret", `{"name": "app/x", "engine": "postgres", "host": "h", "createDatabaseUser": true}`, "masterSecretArn"},
		{"mysql without a database", `{"name": "app/x", "engine": "mysql", "host": "h", "masterSecretArn": "` + arn + `", "createDatabaseUser": true}`, "dbname"},
		{"schemas on mariadb", `{"name": "app/x", "engine": "mariadb", "host": "h", "dbname": "d", "masterSecretArn": "` + arn + `", "createDatabaseUser": true, "schemas": ["s"]}`, "schemas"},
		{"privileges unknown", `{"name": "app/x", "engine": "postgres", "host": "h", "masterSecretArn": "` + arn + `", "createDatabaseUser": true, "privileges": "admin"}`, "privileges"},
		{"a schema that is no name", `{"name": "app/x", "engine": "postgres", "host": "h", "masterSecretArn": "` + arn + `", "createDatabaseUser": true, "schemas": ["a;b"]}`, "schemas[0]"},
		{"privileges without a user", `{"name": "app/x", "engine": "postgres", "host": "h", "privileges": "readonly"}`, "privileges"},
		{"a short password for a login", `{"name": "app/x", "engine": "postgres", "masterSecretArn": "` + arn + `", "createDatabaseUser": true, "passwordLength": 15}`, "passwordLength"},
		{"another user's clone", `{"name": "app/x", "engine": "postgres", "masterSecretArn": "` + arn + `", "createDatabaseUser": true, "username": "master_clone"}`, "username"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := service(t).Create(context.Background(), decode(t, tt.body), "")
			if errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != tt.field {
				t.Fatalf("got %v, want invalid %s", err, tt.field)
			}
		})
	}
}

// TestNoUserWithoutItsSecret: when the secret cannot be made (its name is
// another's), the user made alongside it is undone.
func TestNoUserWithoutItsSecret(t *testing.T) {
	for _, engine := range []string{"postgres", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s := database(t, engine)
			var r map[string]any
			json.Unmarshal([]byte(userRequest(t, engine, s, `, "username": "orphan_`+engine+`"`)), &r)
			if _, err := client(t, primary).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(r["name"].(string)), SecretString: aws.String("theirs")}); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(r)
			if _, err := service(t).Create(ctx, byStack(decode(t, string(b))), "orphan-1"); errcode.Of(err) != errcode.Conflict {
				t.Fatalf("got %v, want the secret's conflict", err)
			}
			if exists, err := s.UserExists("orphan_" + engine); err != nil || exists {
				t.Fatalf("a user was made without its secret (%v)", err)
			}
		})
	}
}

// TestSameKeyAnotherRequest: a request that shares an earlier one's key
// but asks for another user, or other privileges, is no retry of it: a
// conflict that changes and removes nothing of the earlier secret.
func TestSameKeyAnotherRequest(t *testing.T) {
	for _, engine := range []string{"postgres", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s := database(t, engine)
			svc := service(t)
			var r map[string]any
			json.Unmarshal([]byte(userRequest(t, engine, s, `, "privileges": "readonly", "username": "first_`+engine+`"`)), &r)
			first := func() provision.Request {
				b, _ := json.Marshal(r)
				return byStack(decode(t, string(b)))
			}
			made, err := svc.Create(ctx, first(), "shared-key-"+engine)
			if err != nil {
				t.Fatal(err)
			}
			for _, change := range []func(){
				func() { r["privileges"] = "readwrite" },
				func() { r["privileges"], r["username"] = "readonly", "second_"+engine },
			} {
				change()
				if _, err := svc.Create(ctx, first(), "shared-key-"+engine); errcode.Of(err) != errcode.Conflict {
					t.Fatalf("got %v, want a conflict", err)
				}
				if login(t, engine, made.ARN, "SELECT 1") != nil {
					t.Fatal("the earlier secret or its user was changed or removed")
				}
			}
			if exists, _ := s.UserExists("second_" + engine); exists {
				t.Fatal("the other request's user was made")
			}
			asMaster(t, s, "CREATE TABLE t_shared_"+engine+" (id int)")
			if err := login(t, engine, made.ARN, "SELECT count(*) FROM t_shared_"+engine); err != nil {
				t.Fatal(err)
			}
			if err := login(t, engine, made.ARN, "INSERT INTO t_shared_"+engine+" VALUES (1)"); err == nil {
				t.Fatal("the earlier user was given readwrite")
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

// TestRequireTLS: with the deployment's RequireTLS, a request cannot turn
// TLS off, and a database without it is refused, never reached in plain.
func TestRequireTLS(t *testing.T) {
	ctx := context.Background()
	s := database(t, "postgres")
	ca, err := dbserver.NewTestCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DB_CA_BUNDLE", ca.CAFile)
	cfg := testConfig(t, testGrants)
	cfg.RequireTLS = true
	c, _ := secretstore.ClientFromEnvironment(os.Getenv)
	svc := withUsers(t, provision.NewService(secretstore.New(c), cfg), cfg)
	for _, tt := range []struct {
		extra string
		code  errcode.Code
		field string
	}{
		{`, "ssl": false`, errcode.Invalid, "ssl"},
		{"", errcode.Upstream, ""}, // this server offers no TLS
	} {
		r := byStack(decode(t, userRequest(t, "postgres", s, tt.extra)))
		if _, err := svc.Create(ctx, r, ""); errcode.Of(err) != tt.code || errcode.FieldOf(err) != tt.field {
			t.Fatalf("%q: got %v", tt.extra, err)
		}
		if _, err := client(t, primary).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(r.Name)}); err == nil {
			t.Fatal("a secret was made")
		}
	}
}
