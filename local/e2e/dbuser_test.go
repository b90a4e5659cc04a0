package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
)

// Database users made through each trigger's real bootstrap, against real
// PostgreSQL and MariaDB.

func dbServer(t *testing.T, engine string) *dbserver.Server {
	t.Helper()
	s, err := dbserver.Shared(engine)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// masterSecretFor stores a server's master credentials with its host and
// port, as a self-managed database's master secret: outside the
// provisioner's prefix, where only the platform team writes.
func masterSecretFor(t *testing.T, name string, s *dbserver.Server) string {
	t.Helper()
	return masterSecretAt(t, name, s.Host, s.Port)
}

func masterSecretAt(t *testing.T, name, host string, port int) string {
	t.Helper()
	out, err := secretsClient(t, "us-east-1").CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(fmt.Sprintf(`{"username": %q, "password": %q, "host": %q, "port": %d}`,
			dbserver.MasterUser, dbserver.MasterPassword, host, port))})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// userProps makes a custom resource's properties those of a database
// user named name on s, made with master, at privileges, on schema (none
// for MySQL), member of roles.
func userProps(s *dbserver.Server, engine, name, master, privileges, schema string, roles ...string) func(map[string]any) {
	return func(p map[string]any) {
		for k := range p {
			if k != "ServiceToken" {
				delete(p, k)
			}
		}
		p["Name"], p["Engine"], p["Host"], p["Port"], p["DbName"] = name, engine, s.Host, strconv.Itoa(s.Port), dbserver.Database
		p["MasterSecretArn"], p["CreateDatabaseUser"], p["Privileges"] = master, "true", privileges
		if schema != "" {
			p["Schemas"] = []any{schema}
		}
		if roles != nil {
			list := make([]any, len(roles))
			for i, r := range roles {
				list[i] = r
			}
			p["MemberOf"] = list
		}
	}
}

// openGrants let API callers and event sources make users with any master
// secret: the deployment's default lets only stacks.
var openGrants = map[string]string{"DatabaseUserGrants": `[{"caller":"stack:*","masterSecret":"*","databases":["*"],"schemas":["*"]},` +
	`{"caller":"api:*","masterSecret":"*","databases":["*"],"schemas":["*"]},{"caller":"events:*","masterSecret":"*","databases":["*"],"schemas":["*"]}]`}

// asSecret runs statements as the user whose credentials the secret holds.
func asSecret(t *testing.T, engine, arn string, statements ...string) error {
	t.Helper()
	v, _ := storedSecret(t, "us-east-1", arn)
	db := dbserver.Open(engine, v["host"].(string), int(v["port"].(float64)), v["dbname"].(string), v["username"].(string), v["password"].(string))
	defer db.Close()
	return dbserver.Run(db, statements...)
}

func asMasterOf(t *testing.T, s *dbserver.Server, statements ...string) {
	t.Helper()
	if err := s.AsMaster(statements...); err != nil {
		t.Fatal(err)
	}
}

func userCount(t *testing.T, s *dbserver.Server, user string) int {
	t.Helper()
	exists, err := s.UserExists(user)
	if err != nil {
		t.Fatal(err)
	}
	if exists {
		return 1
	}
	return 0
}

// TestCustomResourceDatabaseUser: Create makes a user whose credentials
// log in at once with readonly privileges; an Update to readwrite takes
// effect, on a table the master user makes afterwards too; Delete drops the
// user, its clone and the secret.
func TestCustomResourceDatabaseUser(t *testing.T) {
	for _, engine := range []string{"postgres", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			s := dbServer(t, engine)
			name := "app/dbuser/cfn_" + engine
			master := masterSecretFor(t, "masters/dbuser/master_cfn_"+engine, s)
			props := func(privileges string) func(map[string]any) {
				return func(p map[string]any) {
					for k := range p {
						if k != "ServiceToken" {
							delete(p, k)
						}
					}
					p["Name"], p["Engine"], p["Host"], p["Port"], p["DbName"] = name, engine, s.Host, strconv.Itoa(s.Port), dbserver.Database
					p["MasterSecretArn"], p["CreateDatabaseUser"], p["Privileges"], p["RecoveryWindowInDays"] = master, "true", privileges, "7"
				}
			}
			table := "cfn_" + engine
			asMasterOf(t, s, "CREATE TABLE "+table+" (id int)")
			created := customResource(t, "custom-resource-create.json", "abababab-0000-4000-8000-00000000000"+strconv.Itoa(len(engine)), "", "", props("readonly"))
			if created.Status != "SUCCESS" {
				t.Fatalf("create: %+v", created)
			}
			if err := asSecret(t, engine, created.PhysicalResourceId, "SELECT count(*) FROM "+table); err != nil {
				t.Fatalf("the new user cannot log in and read: %v", err)
			}
			if err := asSecret(t, engine, created.PhysicalResourceId, "INSERT INTO "+table+" VALUES (1)"); err == nil {
				t.Fatal("readonly can INSERT")
			}
			// The template's DatabaseUserConnectionLimit.
			query := "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1"
			if engine == "mariadb" {
				query = "SELECT max_user_connections FROM mysql.user WHERE User = ?"
			}
			db := dbserver.Open(engine, s.Host, s.Port, dbserver.Database, dbserver.MasterUser, dbserver.MasterPassword)
			var limit int
			err := db.QueryRow(query, created.Data["Username"]).Scan(&limit)
			db.Close()
			if err != nil || limit != 100 {
				t.Fatalf("the user's connection limit: %d, %v", limit, err)
			}
			out, _ := run(t, "CustomResourceFunction", "custom-resource-update.json", nil, func(e map[string]any) {
				e["RequestId"], e["PhysicalResourceId"] = "cdcdcdcd-0000-4000-8000-000000000001", created.PhysicalResourceId
				props("readonly")(e["OldResourceProperties"].(map[string]any))
				props("readwrite")(e["ResourceProperties"].(map[string]any))
			})
			if a := answerOf(t, out); a.Status != "SUCCESS" {
				t.Fatalf("update: %+v", a)
			}
			asMasterOf(t, s, "CREATE TABLE later_"+table+" (id int)")
			if err := asSecret(t, engine, created.PhysicalResourceId, "INSERT INTO "+table+" VALUES (1)", "INSERT INTO later_"+table+" VALUES (2)"); err != nil {
				t.Fatalf("readwrite after the update: %v", err)
			}
			user := created.Data["Username"]
			if engine == "mariadb" {
				asMasterOf(t, s, "CREATE USER '"+user+"_clone'@'%' IDENTIFIED BY 'Clone-Pa55word'")
			} else {
				asMasterOf(t, s, "ALTER ROLE "+user+"_clone PASSWORD 'Clone-Pa55word'") // made with the user
			}
			out, _ = run(t, "CustomResourceFunction", "custom-resource-delete.json", nil, func(e map[string]any) {
				e["RequestId"], e["PhysicalResourceId"] = "efefefef-0000-4000-8000-000000000001", created.PhysicalResourceId
				props("readwrite")(e["ResourceProperties"].(map[string]any))
			})
			if a := answerOf(t, out); a.Status != "SUCCESS" || describeSecret(t, created.PhysicalResourceId).DeletedDate == nil {
				t.Fatalf("delete: %+v", a)
			}
			if n := userCount(t, s, user) + userCount(t, s, user+"_clone"); n != 0 {
				t.Fatalf("%d of the user and its clone are left", n)
			}
		})
	}
}

// TestHttpApiAndEventBridgeDatabaseUser: the other triggers make the user
// too; the same request again gives one secret and one user; a user that
// exists already is a 409 (or Permanent.conflict) that makes nothing.
func TestHttpApiAndEventBridgeDatabaseUser(t *testing.T) {
	s := dbServer(t, "mariadb")
	master := masterSecretFor(t, "masters/dbuser/master_triggers", s)
	body := func(name, username string) string {
		return fmt.Sprintf(`{"name": %q, "engine": "mariadb", "host": %q, "port": %d, "dbname": %q, "username": %q, "masterSecretArn": %q, "createDatabaseUser": true}`,
			name, s.Host, s.Port, dbserver.Database, username, master)
	}
	post := func(key, b string) (int, string) {
		out, _ := runWith(t, invocation{function: "HttpApiFunction", event: "http-api-create.json", overrides: openGrants, edit: func(e map[string]any) {
			e["body"] = b
			e["headers"].(map[string]any)["idempotency-key"] = key
			e["requestContext"].(map[string]any)["authorizer"].(map[string]any)["iam"].(map[string]any)["userArn"] = "arn:aws:sts::123456789012:assumed-role/payments-team/alice"
		}})
		var resp struct {
			StatusCode int
			Body       string
		}
		json.Unmarshal(out.Response, &resp)
		return resp.StatusCode, resp.Body
	}
	status, first := post("dbuser-key-1", body("app/payments/dbuser", "payments_app"))
	if status != 201 || !strings.Contains(first, `"databaseUser":{"username":"payments_app","privileges":"readwrite","memberOf":[]}`) {
		t.Fatalf("%d %s", status, first)
	}
	var result struct{ Arn string }
	json.Unmarshal([]byte(first), &result)
	if err := asSecret(t, "mariadb", result.Arn, "CREATE TABLE IF NOT EXISTS api_t (id int)"); err == nil {
		t.Fatal("readwrite may create tables; it should read and write data only")
	}
	asMasterOf(t, s, "CREATE TABLE api_t (id int)")
	if err := asSecret(t, "mariadb", result.Arn, "INSERT INTO api_t VALUES (1)"); err != nil {
		t.Fatalf("the user cannot write: %v", err)
	}
	if status, again := post("dbuser-key-1", body("app/payments/dbuser", "payments_app")); status != 201 || again != first {
		t.Fatalf("the retry: %d %s", status, again)
	}
	if n := userCount(t, s, "payments_app"); n != 1 {
		t.Fatalf("%d users", n)
	}
	if status, resp := post("dbuser-key-2", body("app/payments/dbuser_taken", "payments_app")); status != 409 || !strings.Contains(resp, "already exists") {
		t.Fatalf("a user that exists: %d %s", status, resp)
	}
	notCreated(t, "app/payments/dbuser_taken")

	_, errType, msg, _ := deliver(t, "eventbridge-request.json", func(e map[string]any) {
		e["id"] = "dbuser-event-1"
		var detail map[string]any
		json.Unmarshal([]byte(body("app/analytics/dbuser", "loader")), &detail)
		e["detail"] = detail
	}, map[string]string{"DATABASE_USER_GRANTS": openGrants["DatabaseUserGrants"]})
	if errType != "" {
		t.Fatalf("%s %s", errType, msg)
	}
	if n := userCount(t, s, "loader"); n != 1 {
		t.Fatalf("the event made %d users", n)
	}
}

// TestDatabaseUnreachableThenRetried: a database that does not answer gives
// CloudFormation a clean FAILED well before the deadline, and the retry
// completes.
func TestDatabaseUnreachableThenRetried(t *testing.T) {
	s := dbServer(t, "postgres")
	master := masterSecretAt(t, "masters/dbuser/master_unreachable", s.Host, 1)
	edit := func(p map[string]any) {
		// Host and port are the master secret's own.
		p["Name"], p["Engine"], p["DbName"] = "app/dbuser/unreachable", "postgres", dbserver.Database
		p["MasterSecretArn"], p["CreateDatabaseUser"] = master, "true"
		for _, k := range []string{"Host", "Port", "Username", "ExtraFields", "Ssl"} { // TLS is tested in shared/dbuser
			delete(p, k)
		}
	}
	a := customResource(t, "custom-resource-create.json", "12341234-0000-4000-8000-000000000001", "", "", edit)
	if a.Status != "FAILED" || !strings.Contains(a.Reason, "could not be reached") {
		t.Fatalf("unreachable: %+v", a)
	}
	notCreated(t, "app/dbuser/unreachable")
	// The database is back where its master secret says.
	if _, err := secretsClient(t, "us-east-1").PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(master),
		SecretString: aws.String(fmt.Sprintf(`{"username": %q, "password": %q, "host": %q, "port": %d}`, dbserver.MasterUser, dbserver.MasterPassword, s.Host, s.Port))}); err != nil {
		t.Fatal(err)
	}
	a = customResource(t, "custom-resource-create.json", "12341234-0000-4000-8000-000000000001", "", "", edit)
	if a.Status != "SUCCESS" || asSecret(t, "postgres", a.PhysicalResourceId) != nil {
		t.Fatalf("the retry: %+v", a)
	}
	if v, _ := storedSecret(t, "us-east-1", a.PhysicalResourceId); v["host"] != s.Host || v["port"] != float64(s.Port) || v["dbname"] != dbserver.Database {
		t.Fatalf("the secret does not name the master's database: %v", v)
	}
}

// TestDatabaseUserLeaksNothing: neither the master password nor the new
// user's reaches a log line, an answer or CloudFormation's Data, on
// success and on failure (a user that exists; a bad master password).
func TestDatabaseUserLeaksNothing(t *testing.T) {
	s := dbServer(t, "postgres")
	master := masterSecretFor(t, "masters/dbuser/master_leaks", s)
	wrong, err := secretsClient(t, "us-east-1").CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String("masters/dbuser/master_wrong"), SecretString: aws.String(fmt.Sprintf(`{"username":"master","password":"Wrong-Pa55word-Leak","host":%q,"port":%d}`, s.Host, s.Port))})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(name, masterArn string) func(map[string]any) {
		return func(p map[string]any) {
			p["Name"], p["Engine"], p["Host"], p["Port"], p["DbName"] = name, "postgres", s.Host, strconv.Itoa(s.Port), dbserver.Database
			p["MasterSecretArn"], p["CreateDatabaseUser"], p["Username"] = masterArn, "true", "leak_check"
			delete(p, "Ssl")
		}
	}
	var outputs []string
	for i, tt := range []struct{ name, master string }{
		{"app/dbuser/leaks", master},                        // made
		{"app/dbuser/leaks_taken", master},                  // the user exists: a conflict
		{"app/dbuser/leaks_wrong", aws.ToString(wrong.ARN)}, // the master cannot log in
	} {
		out, logs := run(t, "CustomResourceFunction", "custom-resource-create.json", nil, func(e map[string]any) {
			e["RequestId"] = fmt.Sprintf("9a9a9a9a-0000-4000-8000-00000000000%d", i)
			edit(tt.name, tt.master)(e["ResourceProperties"].(map[string]any))
		})
		outputs = append(outputs, logs, string(out.CloudFormation), string(out.Response))
	}
	v, _ := storedSecret(t, "us-east-1", "app/dbuser/leaks")
	for _, secret := range []string{dbserver.MasterPassword, "Wrong-Pa55word-Leak", v["password"].(string)} {
		for _, o := range outputs {
			if strings.Contains(o, secret) {
				t.Fatalf("a password reached the output:\n%s", o)
			}
		}
	}
	if !strings.Contains(strings.Join(outputs, ""), "already exists") || !strings.Contains(strings.Join(outputs, ""), "could not log in") {
		t.Fatalf("the failures did not happen as meant:\n%s", strings.Join(outputs, "\n"))
	}
}
