package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/local/emulate/invoke"
	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/local/testenv/fakedb"
	"github.com/dbcreds/provisioner/local/testenv/rdsapi"
)

// The database-user feature as a hostile caller inside the account would
// turn it against the database, through each real bootstrap: an API
// caller confined to its prefix, an event publisher, a stack author.
// Against real PostgreSQL and MariaDB with RDS-like masters, fake servers
// that want the master's password, a proxy that stalls mid-statement and
// the RDS API stand-in.

// rdsMaster makes an RDS-managed master secret for s, as RDS makes one
// (rds!cluster-…, tagged with its cluster, username and password only),
// and tells the RDS API that the cluster's endpoint is s.
func rdsMaster(t *testing.T, cluster string, s *dbserver.Server) string {
	t.Helper()
	clusterARN := "arn:aws:rds:us-east-1:" + invoke.AccountID + ":cluster:" + cluster
	out, err := secretsClient(t, "us-east-1").CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name:         aws.String("rds!cluster-" + cluster),
		SecretString: aws.String(fmt.Sprintf(`{"username": %q, "password": %q}`, dbserver.MasterUser, dbserver.MasterPassword)),
		// Only RDS can set aws: tags in AWS; moto lets the test stand in.
		Tags: []smtypes.Tag{{Key: aws.String("aws:rds:primaryDBClusterArn"), Value: aws.String(clusterARN)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	engine := "aurora-postgresql"
	if s.Engine == "mariadb" {
		engine = "aurora-mysql"
	}
	rds.AddCluster(rdsapi.Cluster{Identifier: cluster, ARN: clusterARN, Engine: engine, Endpoint: s.Host, Port: s.Port,
		DatabaseName: dbserver.Database, MasterUsername: dbserver.MasterUser, MasterUserSecretARN: aws.ToString(out.ARN)})
	return aws.ToString(out.ARN)
}

// scopedAPI is the HTTP API with callers confined to their role's prefix
// and grants that let them make users anywhere: what is refused is
// refused by something else than the grants. The grants go in as the
// function's environment, so that the same test runs against a version
// that has no such parameter and shows what it let through.
var scopedAPI = invocation{overrides: map[string]string{"CallerScope": "iam-role"}, env: grantsEnv(openGrants["DatabaseUserGrants"])}

func grantsEnv(grants string) map[string]string {
	return map[string]string{"DATABASE_USER_GRANTS": grants}
}

// at is the host and port fields naming s, as a request that repeats its
// master's own database gives them.
func at(host string, port int) string { return fmt.Sprintf(`, "host": %q, "port": %d`, host, port) }

func setStoredUsername(t *testing.T, arn, username string) {
	t.Helper()
	v, _ := storedSecret(t, "us-east-1", arn)
	v["username"] = username
	b, _ := json.Marshal(v)
	if _, err := secretsClient(t, "us-east-1").PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(arn), SecretString: aws.String(string(b))}); err != nil {
		t.Fatal(err)
	}
}

// TestOnlyTheUserItMadeIsTouched: a username that is another user's
// clone is refused, so DELETE can never reach that user (MariaDB's master
// is "master": master_clone would have made DELETE drop it); a secret
// whose stored username someone rewrote still gets only its own user
// dropped; a clone made by hand before its user makes the user a conflict.
func TestOnlyTheUserItMadeIsTouched(t *testing.T) {
	for _, engine := range []string{"mariadb", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			s := dbServer(t, engine)
			master := masterSecretFor(t, "masters/trust/touched_"+engine, s)
			body := func(name, username string) string {
				return fmt.Sprintf(`{"name": %q, "engine": %q, "dbname": %q, "username": %q, "masterSecretArn": %q, "createDatabaseUser": true%s}`,
					name, engine, dbserver.Database, username, master, at(s.Host, s.Port))
			}
			masterLogsIn := func() {
				t.Helper()
				db := dbserver.Open(engine, s.Host, s.Port, dbserver.Database, dbserver.MasterUser, dbserver.MasterPassword)
				defer db.Close()
				if err := dbserver.Run(db, "SELECT 1"); err != nil {
					t.Fatalf("the master can no longer log in: %v", err)
				}
			}
			a := apiCall(t, scopedAPI, "POST", "", "payments", body("app/payments/clone-of-master-"+engine, dbserver.MasterUser+"_clone"), nil)
			if a.Status != 400 || !strings.Contains(a.Body, `"field":"username"`) || userCount(t, s, dbserver.MasterUser+"_clone") != 0 {
				t.Fatalf("a username that is the master's clone: %+v", a)
			}
			notCreated(t, "app/payments/clone-of-master-"+engine)

			a = apiCall(t, scopedAPI, "POST", "", "payments", body("app/payments/victim-"+engine, "victim_"+engine), nil)
			if a.Status != 201 {
				t.Fatalf("%+v", a)
			}
			arn := arnOf(t, a.Body)
			// Rotation rewrites the stored username; so can anyone who may
			// write the secret. Neither changes which user DELETE drops.
			setStoredUsername(t, arn, dbserver.MasterUser)
			if a := apiCall(t, scopedAPI, "DELETE", "app/payments/victim-"+engine, "payments", "", map[string]string{"forceDeleteWithoutRecovery": "true"}); a.Status != 202 {
				t.Fatalf("delete: %+v", a)
			}
			masterLogsIn()
			if userCount(t, s, "victim_"+engine) != 0 {
				t.Fatal("the secret's own user is left")
			}

			clone := "CREATE ROLE squat_pg_clone LOGIN PASSWORD 'Their-Pa55word'"
			squat := "squat_pg"
			if engine == "mariadb" {
				clone, squat = "CREATE USER 'squat_my_clone'@'%' IDENTIFIED BY 'Their-Pa55word'", "squat_my"
			}
			asMasterOf(t, s, clone)
			a = apiCall(t, scopedAPI, "POST", "", "payments", body("app/payments/squat-"+engine, squat), nil)
			if a.Status != 409 || userCount(t, s, squat) != 0 || userCount(t, s, squat+"_clone") != 1 {
				t.Fatalf("a user whose clone exists: %+v", a)
			}
			notCreated(t, "app/payments/squat-"+engine)
		})
	}
	// The stack's Delete likewise: by its record, not the stored username.
	s := dbServer(t, "postgres")
	master := masterSecretFor(t, "masters/trust/touched_stack", s)
	created := customResource(t, "custom-resource-create.json", "7a7a7a7a-0000-4000-8000-000000000001", "", "", func(p map[string]any) {
		p["Name"], p["Engine"], p["DbName"], p["Username"] = "app/trust/stack_victim", "postgres", dbserver.Database, "stack_victim"
		p["MasterSecretArn"], p["CreateDatabaseUser"], p["Host"], p["Port"] = master, "true", s.Host, strconv.Itoa(s.Port)
		for _, k := range []string{"ExtraFields", "Ssl"} {
			delete(p, k)
		}
	})
	if created.Status != "SUCCESS" {
		t.Fatalf("%+v", created)
	}
	setStoredUsername(t, created.PhysicalResourceId, dbserver.MasterUser)
	a := customResource(t, "custom-resource-delete.json", "7a7a7a7a-0000-4000-8000-000000000002", "", created.PhysicalResourceId, nil)
	if a.Status != "SUCCESS" || userCount(t, s, "stack_victim") != 0 || userCount(t, s, dbserver.MasterUser) != 1 {
		t.Fatalf("delete: %+v", a)
	}
}

// TestNoTakeoverAtAnotherHost: MySQL and MariaDB users are name and host;
// a name that exists at any host is taken, and root is reserved.
func TestNoTakeoverAtAnotherHost(t *testing.T) {
	s := dbServer(t, "mariadb")
	master := masterSecretFor(t, "masters/trust/hosts", s)
	asMasterOf(t, s, "CREATE USER 'taken'@'localhost' IDENTIFIED BY 'Their-Pa55word'")
	for _, tt := range []struct {
		username string
		status   int
	}{{"taken", 409}, {"root", 400}} {
		name := "app/payments/host-" + tt.username
		a := apiCall(t, scopedAPI, "POST", "", "payments", fmt.Sprintf(`{"name": %q, "engine": "mariadb", "dbname": %q, "username": %q, "masterSecretArn": %q, "createDatabaseUser": true%s}`,
			name, dbserver.Database, tt.username, master, at(s.Host, s.Port)), nil)
		if a.Status != tt.status || !strings.Contains(a.Body, `"field":"username"`) {
			t.Fatalf("%s: %+v", tt.username, a)
		}
		notCreated(t, name)
		db := dbserver.Open("mariadb", s.Host, s.Port, dbserver.Database, dbserver.MasterUser, dbserver.MasterPassword)
		var n int
		err := db.QueryRow("SELECT count(*) FROM mysql.user WHERE User = ? AND Host = '%'", tt.username).Scan(&n)
		db.Close()
		if err != nil || n != 0 {
			t.Fatalf("'%s'@'%%' was made (%v)", tt.username, err)
		}
	}
}

// TestMasterPasswordStaysHome: the master's credentials go only to the
// master's own database: never to a host or port the request names, never
// in clear text or under a server's own key without verified TLS, never
// from a secret that is no master secret; an RDS-managed master's database
// is the one the RDS API says.
func TestMasterPasswordStaysHome(t *testing.T) {
	pg := dbServer(t, "postgres")
	maria := dbServer(t, "mariadb")
	cleartext, err := fakedb.StartCleartextPostgres()
	if err != nil {
		t.Fatal(err)
	}
	defer cleartext.Close()
	rsaKey, err := fakedb.StartRSAKeyMySQL()
	if err != nil {
		t.Fatal(err)
	}
	defer rsaKey.Close()
	huge, err := fakedb.StartHugeGreetingMySQL()
	if err != nil {
		t.Fatal(err)
	}
	defer huge.Close()
	real := masterSecretFor(t, "masters/trust/home", pg)
	request := func(name, engine, master, extra string) string {
		return fmt.Sprintf(`{"name": %q, "engine": %q, "dbname": %q, "masterSecretArn": %q, "createDatabaseUser": true%s}`, name, engine, dbserver.Database, master, extra)
	}
	// A secret the caller made itself, shaped like a master secret.
	evil := apiCall(t, scopedAPI, "POST", "", "payments", fmt.Sprintf(`{"name": "app/payments/evil_master", "secretString": %q}`,
		fmt.Sprintf(`{"username": %q, "password": %q, "host": "127.0.0.1", "port": %d}`, dbserver.MasterUser, "whatever", cleartext.Port())), nil)
	if evil.Status != 201 {
		t.Fatalf("%+v", evil)
	}
	for _, tt := range []struct {
		name, engine, master, extra string
		status                      int
		field                       string
	}{
		{"another host", "postgres", real, fmt.Sprintf(`, "host": "127.0.0.1", "port": %d`, cleartext.Port()), 403, "port"},
		{"another host name", "postgres", real, `, "host": "attacker.example"`, 403, "host"},
		// TLS would not help: PostgreSQL's password goes in clear text to no one.
		{"a master that asks for cleartext", "postgres", masterSecretAt(t, "masters/trust/cleartext", "127.0.0.1", cleartext.Port()), at("127.0.0.1", cleartext.Port()), 403, ""},
		{"a master that hands out its key", "mariadb", masterSecretAt(t, "masters/trust/rsakey", "127.0.0.1", rsaKey.Port()), at("127.0.0.1", rsaKey.Port()), 403, "ssl"},
		{"a master whose greeting is split", "mariadb", masterSecretAt(t, "masters/trust/huge", "127.0.0.1", huge.Port()), at("127.0.0.1", huge.Port()), 403, "ssl"},
		{"a secret the provisioner made", "postgres", arnOf(t, evil.Body), at("127.0.0.1", cleartext.Port()), 400, "masterSecretArn"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name := "app/payments/home-" + strings.ReplaceAll(tt.name, " ", "-")
			a := apiCall(t, scopedAPI, "POST", "", "payments", request(name, tt.engine, tt.master, tt.extra), nil)
			if a.Status != tt.status || tt.field != "" && !strings.Contains(a.Body, `"field":"`+tt.field+`"`) || tt.field == "" && !strings.Contains(a.Body, "clear text") {
				t.Fatalf("%+v", a)
			}
			notCreated(t, name)
		})
	}
	if got := append(append(cleartext.Passwords(), rsaKey.Passwords()...), huge.Passwords()...); len(got) != 0 {
		t.Fatalf("a fake server received a password: %q", got)
	}
	if rsaKey.KeyRequests() == 0 && rsaKey.Connections() == 0 {
		t.Fatal("the MySQL fake was never reached: the test proves nothing")
	}

	// RDS-managed: the endpoint is the RDS API's, for any trigger.
	for _, s := range []*dbserver.Server{pg, maria} {
		t.Run("rds-managed "+s.Engine, func(t *testing.T) {
			master := rdsMaster(t, "home-"+s.Engine, s)
			engine := map[string]string{"postgres": "aurora-postgresql", "mariadb": "aurora-mysql"}[s.Engine]
			name := "app/payments/rds-" + s.Engine
			a := apiCall(t, scopedAPI, "POST", "", "payments", request(name, engine, master, ""), nil)
			if a.Status != 201 {
				t.Fatalf("%+v", a)
			}
			v, _ := storedSecret(t, "us-east-1", name)
			if v["host"] != s.Host || v["port"] != float64(s.Port) || v["masterarn"] != master {
				t.Fatalf("the secret does not name the master's database: %v", v)
			}
			if err := asSecret(t, s.Engine, name, "SELECT 1"); err != nil {
				t.Fatalf("the user cannot log in: %v", err)
			}
			asked := false
			for _, c := range rds.Calls() {
				asked = asked || c.Action == "DescribeDBClusters" && strings.HasSuffix(c.Identifier, ":cluster:home-"+s.Engine)
			}
			if !asked {
				t.Fatalf("the RDS API was not asked: %+v", rds.Calls())
			}
			if a := apiCall(t, scopedAPI, "POST", "", "payments", request(name+"-elsewhere", engine, master, fmt.Sprintf(`, "host": "127.0.0.1", "port": %d`, cleartext.Port())), nil); a.Status != 403 {
				t.Fatalf("another host for an RDS-managed master: %+v", a)
			}
		})
	}
	// An RDS-managed secret whose cluster RDS says has another master.
	t.Run("rds names another master", func(t *testing.T) {
		master := rdsMaster(t, "not-its-master", pg)
		rds.AddCluster(rdsapi.Cluster{Identifier: "not-its-master", Engine: "aurora-postgresql", Endpoint: "127.0.0.1", Port: cleartext.Port(),
			MasterUserSecretARN: real})
		a := apiCall(t, scopedAPI, "POST", "", "payments", request("app/payments/rds-other", "aurora-postgresql", master, ""), nil)
		if a.Status != 400 || !strings.Contains(a.Body, "does not name this secret") {
			t.Fatalf("%+v", a)
		}
	})
	if got := cleartext.Passwords(); len(got) != 0 {
		t.Fatalf("a fake server received a password: %q", got)
	}
}

// TestGrantsConfineCallers: the deployment decides which databases and
// schemas each caller may make users on; API callers and event sources
// may make none until a grant names them.
func TestGrantsConfineCallers(t *testing.T) {
	s := dbServer(t, "postgres")
	master := masterSecretFor(t, "masters/trust/grants", s)
	asMasterOf(t, s, "CREATE SCHEMA IF NOT EXISTS payments", "CREATE SCHEMA IF NOT EXISTS hr")
	body := func(name, schema string) string {
		return fmt.Sprintf(`{"name": %q, "engine": "postgres", "dbname": %q, "masterSecretArn": %q, "createDatabaseUser": true, "schemas": [%q]%s}`,
			name, dbserver.Database, master, schema, at(s.Host, s.Port))
	}
	// The template's default: nothing for the API nor events.
	closed := invocation{overrides: map[string]string{"CallerScope": "iam-role"}}
	if a := apiCall(t, closed, "POST", "", "payments", body("app/payments/grant-default", "payments"), nil); a.Status != 403 || !strings.Contains(a.Body, `"field":"createDatabaseUser"`) {
		t.Fatalf("the default lets the API: %+v", a)
	}
	notCreated(t, "app/payments/grant-default")
	_, errType, msg, _ := deliver(t, "eventbridge-request.json", func(e map[string]any) {
		e["id"] = "grant-event-1"
		e["detail"] = map[string]any{"name": "app/analytics/grant-default", "engine": "postgres", "dbname": dbserver.Database,
			"masterSecretArn": master, "createDatabaseUser": true, "host": s.Host, "port": s.Port}
	}, nil)
	if errType != "Permanent.forbidden" || !strings.Contains(msg, "events:dbcreds.requests@") {
		t.Fatalf("the default lets events: %s %s", errType, msg)
	}
	notCreated(t, "app/analytics/grant-default")

	grants := fmt.Sprintf(`[{"caller": "api:payments", "masterSecret": %q, "databases": [%q], "schemas": ["{caller}"]}]`, master, dbserver.Database)
	granted := invocation{overrides: map[string]string{"CallerScope": "iam-role"}, env: grantsEnv(grants)}
	for _, tt := range []struct {
		role, name, schema string
		status             int
		field              string
	}{
		{"payments", "app/payments/grant-own", "payments", 201, ""},
		{"payments", "app/payments/grant-hr", "hr", 403, "schemas[0]"},
		{"payments", "app/payments/grant_public", "public", 403, "schemas[0]"},
		{"hr", "app/hr/grant-hr", "hr", 403, "createDatabaseUser"},
	} {
		a := apiCall(t, granted, "POST", "", tt.role, body(tt.name, tt.schema), nil)
		if a.Status != tt.status || tt.field != "" && !strings.Contains(a.Body, `"field":"`+tt.field+`"`) {
			t.Fatalf("%s asking for %s: %+v", tt.role, tt.schema, a)
		}
		if tt.status != 201 {
			notCreated(t, tt.name)
		}
	}
}

// TestNothingHalfMade: a request the database refuses leaves nothing, as
// a permanent error (never retried), and the corrected request under the
// same name then succeeds; a stack's failed Create answers with an id its
// rollback can delete.
func TestNothingHalfMade(t *testing.T) {
	s := dbServer(t, "postgres")
	master := masterSecretFor(t, "masters/trust/half", s)
	body := func(schemas string) string {
		return fmt.Sprintf(`{"name": "app/payments/half", "engine": "postgres", "dbname": %q, "username": "half_made", "masterSecretArn": %q, "createDatabaseUser": true, "schemas": %s%s}`,
			dbserver.Database, master, schemas, at(s.Host, s.Port))
	}
	if a := apiCall(t, scopedAPI, "POST", "", "payments", body(`["missing"]`), nil); a.Status != 400 || !strings.Contains(a.Body, "does not exist") {
		t.Fatalf("a schema that does not exist: %+v", a)
	}
	notCreated(t, "app/payments/half")
	if a := apiCall(t, scopedAPI, "POST", "", "payments", body(`["public"]`), nil); a.Status != 201 {
		t.Fatalf("the corrected request: %+v", a)
	}

	// A master that may not make users: the database refuses once the
	// secret is being made; the secret is removed again.
	asMasterOf(t, s, "CREATE ROLE weak_master LOGIN PASSWORD 'Weak-Pa55word'")
	weak, err := secretsClient(t, "us-east-1").CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String("masters/trust/weak"),
		SecretString: aws.String(fmt.Sprintf(`{"username": "weak_master", "password": "Weak-Pa55word", "host": %q, "port": %d}`, s.Host, s.Port))})
	if err != nil {
		t.Fatal(err)
	}
	weakBody := fmt.Sprintf(`{"name": "app/payments/weak", "engine": "postgres", "dbname": %q, "masterSecretArn": %q, "createDatabaseUser": true%s}`, dbserver.Database, aws.ToString(weak.ARN), at(s.Host, s.Port))
	if a := apiCall(t, scopedAPI, "POST", "", "payments", weakBody, nil); a.Status != 403 {
		t.Fatalf("a master that may not make users: %+v", a)
	}
	if d, err := secretsClient(t, "us-east-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/payments/weak")}); err == nil && d.DeletedDate == nil {
		t.Fatal("the secret of the refused user is left")
	}

	// Events: a refusal is permanent, so nothing retries it.
	_, errType, msg, _ := deliver(t, "eventbridge-request.json", func(e map[string]any) {
		e["id"] = "half-event-1"
		maria := dbServer(t, "mariadb")
		e["detail"] = map[string]any{"name": "app/analytics/half", "engine": "mariadb", "dbname": "missing", "masterSecretArn": masterSecretFor(t, "masters/trust/half_maria", maria),
			"createDatabaseUser": true, "host": maria.Host, "port": maria.Port}
	}, grantsEnv(openGrants["DatabaseUserGrants"]))
	if errType != "Permanent.invalid" || !strings.Contains(msg, "dbname") {
		t.Fatalf("%s %s", errType, msg)
	}
	notCreated(t, "app/analytics/half")

	// A stack: FAILED names nothing that exists, and the rollback's Delete
	// of that id is a success that touches nothing.
	a := customResource(t, "custom-resource-create.json", "8b8b8b8b-0000-4000-8000-000000000001", "", "", func(p map[string]any) {
		p["Name"], p["Engine"], p["DbName"], p["Schemas"] = "app/trust/stack-half", "postgres", dbserver.Database, []any{"missing"}
		p["MasterSecretArn"], p["CreateDatabaseUser"], p["Host"], p["Port"] = master, "true", s.Host, strconv.Itoa(s.Port)
		for _, k := range []string{"ExtraFields", "Ssl", "Username"} {
			delete(p, k)
		}
	})
	if a.Status != "FAILED" || strings.HasPrefix(a.PhysicalResourceId, "arn:") {
		t.Fatalf("%+v", a)
	}
	notCreated(t, "app/trust/stack-half")
	if d := customResource(t, "custom-resource-delete.json", "8b8b8b8b-0000-4000-8000-000000000002", "", a.PhysicalResourceId, nil); d.Status != "SUCCESS" {
		t.Fatalf("the rollback's delete: %+v", d)
	}
}

// TestDatabaseStallsAnswerInTime: a database that stops answering
// mid-statement, or a MySQL endpoint that accepts and never speaks, gets
// an answer well before the deadline (where real Lambda would kill the
// function with none); the stack's FAILED carries the secret's ARN, so its
// rollback's Delete removes it.
func TestDatabaseStallsAnswerInTime(t *testing.T) {
	const timeout = 12 * time.Second
	s := dbServer(t, "postgres")
	proxy, err := fakedb.StartStallingProxy(s.Addr(), []byte("GRANT"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	master := masterSecretAt(t, "masters/trust/stalled", "127.0.0.1", proxy.Port())
	out, _ := runWith(t, invocation{function: "CustomResourceFunction", event: "custom-resource-create.json", timeout: timeout, edit: func(e map[string]any) {
		e["RequestId"] = "9c9c9c9c-0000-4000-8000-000000000001"
		p := e["ResourceProperties"].(map[string]any)
		p["Name"], p["Engine"], p["DbName"], p["Username"] = "app/trust/stalled", "postgres", dbserver.Database, "stalled_user"
		p["MasterSecretArn"], p["CreateDatabaseUser"], p["Host"], p["Port"] = master, "true", "127.0.0.1", strconv.Itoa(proxy.Port())
		for _, k := range []string{"ExtraFields", "Ssl"} {
			delete(p, k)
		}
	}})
	a := answerOf(t, out)
	if a.Status != "FAILED" || !strings.Contains(a.Reason, "did not answer in time") || !strings.HasPrefix(a.PhysicalResourceId, "arn:") || proxy.Stalled() == 0 {
		t.Fatalf("stalled: %+v (stalled %d)", a, proxy.Stalled())
	}
	if d := customResource(t, "custom-resource-delete.json", "9c9c9c9c-0000-4000-8000-000000000002", "", a.PhysicalResourceId, nil); d.Status != "SUCCESS" {
		t.Fatalf("the rollback's delete: %+v", d)
	}
	if describeSecret(t, a.PhysicalResourceId).DeletedDate == nil || userCount(t, s, "stalled_user") != 0 {
		t.Fatal("the rollback left the secret or its user")
	}

	silent, err := fakedb.StartSilent()
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	mute := masterSecretAt(t, "masters/trust/silent", "127.0.0.1", silent.Port())
	inv := scopedAPI
	inv.timeout = timeout
	answer := apiCall(t, inv, "POST", "", "payments", fmt.Sprintf(`{"name": "app/payments/silent", "engine": "mariadb", "dbname": %q, "masterSecretArn": %q, "createDatabaseUser": true%s}`,
		dbserver.Database, mute, at("127.0.0.1", silent.Port())), nil)
	if answer.Status != 503 || silent.Connections() == 0 {
		t.Fatalf("a silent MySQL endpoint: %+v", answer)
	}
	notCreated(t, "app/payments/silent")
}

func arnOf(t *testing.T, body string) string {
	t.Helper()
	var r struct{ Arn string }
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Arn == "" {
		t.Fatalf("no ARN in %s", body)
	}
	return r.Arn
}
