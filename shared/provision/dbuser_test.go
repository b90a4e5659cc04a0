package provision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/awslite/dynamodb"

	"github.com/dbcreds/provisioner/local/testenv/core"
	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/shared/awslite/sts"
	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/masterdb"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretreaders"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/secretuser"
	"github.com/dbcreds/provisioner/shared/sessionlimit"
	"github.com/dbcreds/provisioner/shared/userledger"
)

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
	svc := core.ServiceWith(t, cfg, nil, nil)
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

// TestTwoDeliveriesOfOneRequest: EventBridge and Lambda deliver at least
// once, so two deliveries of one event can run at once. Whichever loses
// the race to make the user removes nothing: the secret, its record and
// its user stay whole, and every success names a secret that exists.
func TestTwoDeliveriesOfOneRequest(t *testing.T) {
	for _, engine := range []string{"postgres", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s := database(t, engine)
			svc := service(t)
			for attempt := range 4 {
				username := fmt.Sprintf("twin_%s_%d", engine[:2], attempt)
				r := decode(t, userRequest(t, engine, s, `, "username": "`+username+`"`))
				r.Provenance = provision.Provenance{By: "twins@123456789012", Via: "eventbridge",
					Caller: dbgrants.Caller{Kind: dbgrants.KindEvents, Name: "twins", Account: "123456789012"}}
				key := fmt.Sprintf("event-%s-%d-%s", engine, attempt, uniqueName(t))
				results := make(chan provision.Result, 2)
				errs := make(chan error, 2)
				start := make(chan struct{})
				for range 2 {
					go func() {
						<-start
						res, err := svc.Create(ctx, r, key)
						results <- res
						errs <- err
					}()
				}
				close(start)
				var succeeded []string
				for range 2 {
					if res, err := <-results, <-errs; err == nil {
						succeeded = append(succeeded, res.ARN)
					}
				}
				d, err := client(t, primary).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(r.Name)})
				if err != nil || d.DeletedDate != nil {
					t.Fatalf("attempt %d: %d deliveries succeeded, and the secret is gone (%v)", attempt, len(succeeded), err)
				}
				for _, arn := range succeeded {
					if arn != aws.ToString(d.ARN) {
						t.Fatalf("a success names %s, not the secret %s", arn, aws.ToString(d.ARN))
					}
				}
				if len(succeeded) > 0 {
					if err := login(t, engine, aws.ToString(d.ARN)); err != nil {
						t.Fatalf("attempt %d: the secret's user cannot log in: %v", attempt, err)
					}
				}
			}
		})
	}
}

// slowAnswer holds back Secrets Manager's answer to CreateSecret once it
// is made, as a slow network or a paused process would.
type slowAnswer struct {
	next    aws.HTTPClient
	created chan struct{}
}

func (s slowAnswer) Do(r *http.Request) (*http.Response, error) {
	resp, err := s.next.Do(r)
	if err == nil && r.Header.Get("X-Amz-Target") == "secretsmanager.CreateSecret" && resp.StatusCode == http.StatusOK {
		close(s.created)
		time.Sleep(2 * time.Second)
	}
	return resp, err
}

// TestTwinThatMadeTheSecretLosesTheUser: of two deliveries of one request,
// the one that made the secret hears so late, and the other (a replay)
// makes the user first. The maker then fails to make the user, and must
// take that for its twin's work: neither the secret nor the record both
// share may go, or the user is left with neither.
func TestTwinThatMadeTheSecretLosesTheUser(t *testing.T) {
	for _, engine := range []string{"mariadb", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s := database(t, engine)
			fast := core.SecretsClient(t)
			created := make(chan struct{})
			slow := secretsmanager.New(fast.Options(), func(o *secretsmanager.Options) {
				o.HTTPClient = slowAnswer{next: o.HTTPClient, created: created}
			})
			cfg := testConfig(t, testGrants)
			maker, replay := core.ServiceOn(t, cfg, slow), core.ServiceOn(t, cfg, fast)
			username := "late_twin_" + engine[:2]
			r := decode(t, userRequest(t, engine, s, `, "username": "`+username+`"`))
			r.Provenance = provision.Provenance{By: "twins@123456789012", Via: "eventbridge",
				Caller: dbgrants.Caller{Kind: dbgrants.KindEvents, Name: "twins", Account: "123456789012"}}
			key := "event-late-" + uniqueName(t)
			makerErr := make(chan error, 1)
			go func() { _, err := maker.Create(ctx, r, key); makerErr <- err }()
			<-created
			res, err := replay.Create(ctx, r, key)
			mErr := <-makerErr
			d, derr := client(t, primary).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(r.Name)})
			if derr != nil || d.DeletedDate != nil {
				t.Fatalf("the secret is gone (%v); the replay answered %v, the maker %v", derr, err, mErr)
			}
			if err != nil && mErr != nil {
				t.Fatalf("neither delivery succeeded: %v; %v", err, mErr)
			}
			if err == nil && res.ARN != aws.ToString(d.ARN) {
				t.Fatalf("the replay names %s, not the secret %s", res.ARN, aws.ToString(d.ARN))
			}
			if err := login(t, engine, aws.ToString(d.ARN)); err != nil {
				t.Fatalf("the secret's user cannot log in: %v", err)
			}
		})
	}
}

// TestAnotherRequestsUserIsNotATwin: a request whose CreateSecret answer
// comes late, while another caller's request makes a user of the same name,
// must not take that user for its twin's (its own record of it proves
// nothing): it fails, keeps no record, and the other caller's user stays.
// MySQL and MariaDB only: on PostgreSQL the late request's uncommitted
// CREATE ROLE holds the name, and the other request is told to retry.
func TestAnotherRequestsUserIsNotATwin(t *testing.T) {
	for _, engine := range []string{"mariadb"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s := database(t, engine)
			fast := core.SecretsClient(t)
			created := make(chan struct{})
			slow := secretsmanager.New(fast.Options(), func(o *secretsmanager.Options) {
				o.HTTPClient = slowAnswer{next: o.HTTPClient, created: created}
			})
			cfg := testConfig(t, testGrants)
			late, first := core.ServiceOn(t, cfg, slow), core.ServiceOn(t, cfg, fast)
			username := "wanted_" + engine[:2]
			ask := func(team string) provision.Request {
				r := decode(t, userRequest(t, engine, s, `, "username": "`+username+`"`))
				r.Provenance = provision.Provenance{By: "arn:aws:sts::123456789012:assumed-role/" + team, Via: "http-api",
					Caller: dbgrants.Caller{Kind: dbgrants.KindAPI, Name: team}}
				return r
			}
			lateErr := make(chan error, 1)
			var lateRes provision.Result
			go func() {
				var err error
				lateRes, err = late.Create(ctx, ask("payments"), "key-"+uniqueName(t))
				lateErr <- err
			}()
			<-created
			res, err := first.Create(ctx, ask("orders"), "key-"+uniqueName(t))
			if err != nil {
				t.Fatalf("the first request: %v", err)
			}
			if err := <-lateErr; err == nil {
				t.Fatalf("the late request took the other caller's user as its own: %+v", lateRes)
			}
			if err := login(t, engine, res.ARN, "SELECT 1"); err != nil {
				t.Fatalf("the first request's user cannot log in: %v", err)
			}
		})
	}
}

// TestRetryDoesNotTakeAUserMadeSince: a retry finds a user of its name and
// its own record of it, but the user does not log in with what the secret
// holds (another's, made since the record outlived the first): the retry is
// a conflict and the user is not taken over.
func TestRetryDoesNotTakeAUserMadeSince(t *testing.T) {
	for _, engine := range []string{"postgres", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s := database(t, engine)
			svc := service(t)
			name := "since_" + engine[:2]
			r := byStack(decode(t, userRequest(t, engine, s, `, "username": "`+name+`"`)))
			key := "key-" + uniqueName(t)
			if _, err := svc.Create(ctx, r, key); err != nil {
				t.Fatal(err)
			}
			// As good as another's user of the name: it does not log in
			// with what the secret holds.
			change := "ALTER ROLE " + name + " PASSWORD 'someone-elses-Pa55word'"
			if engine == "mariadb" {
				change = "ALTER USER '" + name + "'@'%' IDENTIFIED BY 'someone-elses-Pa55word'"
			}
			asMaster(t, s, change)
			if _, err := svc.Create(ctx, r, key); errcode.Of(err) != errcode.Conflict {
				t.Fatalf("the retry: %v, want a conflict", err)
			}
		})
	}
}

// lostAnswer applies a PutItem but loses its answer, as a timeout after the
// write landed would.
type lostAnswer struct{ userledger.Client }

func (l lostAnswer) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if _, err := l.Client.PutItem(ctx, in, o...); err != nil {
		return nil, err
	}
	return nil, errors.New("dial tcp: i/o timeout")
}

// lossyLedgerService is the core with a users table whose writes land but
// whose answers are lost.
func lossyLedgerService(t *testing.T, cfg provision.Config) *provision.Service {
	t.Helper()
	return serviceWithLedger(t, cfg, 0, func(c userledger.Client) userledger.Client { return lostAnswer{c} })
}

// serviceWithLedger is the core as the functions build it, with a bound of
// slots sessions per master (0: none) and the users' ledger on the client
// ledger makes of DynamoDB's (one that fails on cue, say).
func serviceWithLedger(t *testing.T, cfg provision.Config, slots int, ledger func(userledger.Client) userledger.Client) *provision.Service {
	t.Helper()
	client := core.SecretsClient(t)
	dynamo, err := userledger.ClientFromEnvironment(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	rds, err := masterdb.RDSClientFromEnvironment(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	users := secretuser.New(masterdb.New(client, rds, cfg.Region, cfg.Ours), userledger.New(ledger(dynamo), core.UsersTable),
		secretstore.New(client), secretstore.NewDeleter(client), sessionlimit.New(dynamo, core.SessionsTable, slots), cfg.UserSettings())
	readers, err := secretreaders.New(client, core.Keys(t, core.Primary), userledger.New(dynamo, core.UsersTable), sts.New(sts.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := provision.NewService(cfg, secretstore.New(client), rotation.NewWithCancel(client), users, secretstore.NewDeleter(client), readers, core.Expiries(t))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestRetryWhoseNameWasTakenLeavesNothing: an attempt that failed before
// its user was made keeps its secret for the retry; when someone else
// takes the name meanwhile, the retry can only refuse, and removes that
// secret (nothing else would: an event has no delete), not the other's user.
func TestRetryWhoseNameWasTakenLeavesNothing(t *testing.T) {
	for _, engine := range []string{"postgres", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s := database(t, engine)
			cfg := testConfig(t, testGrants)
			name := "taken_since_" + engine[:2]
			event := decode(t, userRequest(t, engine, s, `, "username": "`+name+`"`))
			event.Provenance = provision.Provenance{By: "loader@123456789012", Via: "eventbridge",
				Caller: dbgrants.Caller{Kind: dbgrants.KindEvents, Name: "loader", Account: "123456789012"}}
			key := "event-" + uniqueName(t)
			if _, err := lossyLedgerService(t, cfg).Create(ctx, event, key); errcode.Of(err) != errcode.Unavailable {
				t.Fatalf("the first attempt: %v, want unavailable", err)
			}
			svc := service(t)
			other, err := svc.Create(ctx, byStack(decode(t, userRequest(t, engine, s, `, "username": "`+name+`"`))), "other-"+uniqueName(t))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Create(ctx, event, key); errcode.Of(err) != errcode.Conflict {
				t.Fatalf("the retry: %v, want a conflict", err)
			}
			if d, err := client(t, primary).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(event.Name)}); err == nil && d.DeletedDate == nil {
				t.Fatal("the first attempt's secret stays after its retry was refused")
			}
			if err := login(t, engine, other.ARN, "SELECT 1"); err != nil {
				t.Fatalf("the other user: %v", err)
			}
		})
	}
}

// TestUnconfirmedRecordDropsNothing: a request whose record landed but
// whose answer was lost keeps its secret and record for a retry, naming a
// user never made. Another caller then makes a user of that name: the first
// secret's Delete must not drop it (the record was never confirmed, and the
// user does not log in with what that secret holds).
func TestUnconfirmedRecordDropsNothing(t *testing.T) {
	for _, engine := range []string{"postgres", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s := database(t, engine)
			cfg := testConfig(t, testGrants)
			lossy := lossyLedgerService(t, cfg)
			name := "unconfirmed_" + engine[:2]
			ask := func(team string) provision.Request {
				r := decode(t, userRequest(t, engine, s, `, "username": "`+name+`"`))
				r.Provenance = provision.Provenance{By: "arn:aws:sts::123456789012:assumed-role/" + team, Via: "http-api",
					Caller: dbgrants.Caller{Kind: dbgrants.KindAPI, Name: team}}
				return r
			}
			first := ask("payments")
			if _, err := lossy.Create(ctx, first, "key-"+uniqueName(t)); err == nil {
				t.Fatal("the create whose record's answer was lost succeeded")
			}
			honest := service(t)
			res, err := honest.Create(ctx, ask("orders"), "key-"+uniqueName(t))
			if err != nil {
				t.Fatal(err)
			}
			sec, err := honest.Store().Describe(ctx, first.Name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := honest.Remove(ctx, sec, "http-api", provision.DeleteOptions{ForceDeleteWithoutRecovery: true}); err != nil {
				t.Fatalf("deleting the first secret: %v", err)
			}
			if err := login(t, engine, res.ARN, "SELECT 1"); err != nil {
				t.Fatalf("the other caller's user was dropped: %v", err)
			}
		})
	}
}

// cutOnce forwards to target; the first client connection that sends
// trigger runs meanwhile and is then cut without forwarding, as a failover
// or a dropped connection would do mid-statement.
func cutOnce(t *testing.T, target string, trigger []byte, meanwhile func()) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var once sync.Once
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				s, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				go func() { io.Copy(c, s); c.Close() }()
				buf := make([]byte, 65536)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						cut := false
						if bytes.Contains(buf[:n], trigger) {
							once.Do(func() { cut = true })
						}
						if cut {
							meanwhile()
							c.Close()
							s.Close()
							return
						}
						s.Write(buf[:n])
					}
					if err != nil {
						s.Close()
						return
					}
				}
			}(c)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// TestFailedRequestDropsOnlyItsOwnUser: a request without a key whose
// CREATE USER is cut off cannot tell whether it made the user, and removes
// what it may have made; a user of its name that someone else made just
// then does not log in with this request's password, and is not dropped.
func TestFailedRequestDropsOnlyItsOwnUser(t *testing.T) {
	ctx := context.Background()
	s := database(t, "mariadb")
	const other = "made_just_then"
	port := cutOnce(t, net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), []byte("CREATE USER"), func() {
		if err := s.AsMaster("CREATE USER '" + other + "'@'%' IDENTIFIED BY 'Someone-elses-Pa55word'"); err != nil {
			t.Errorf("the other user: %v", err)
		}
	})
	master := core.StoreMaster(t, "127.0.0.1", port)
	r := decode(t, `{"name": "`+uniqueName(t)+`", "engine": "mariadb", "dbname": "app", "masterSecretArn": "`+master+`", "createDatabaseUser": true, "username": "`+other+`"}`)
	r.Provenance = provision.Provenance{By: "arn:aws:sts::123456789012:assumed-role/payments", Via: "http-api",
		Caller: dbgrants.Caller{Kind: dbgrants.KindAPI, Name: "payments"}}
	if _, err := service(t).Create(ctx, r, ""); err == nil {
		t.Fatal("the cut request succeeded")
	}
	if exists, err := s.UserExists(other); err != nil || !exists {
		t.Fatalf("the user someone else made was dropped by the failed request (%v)", err)
	}
}

// TestTwinDeliveriesKeepTheRecord: two deliveries of one request at once
// leave the record of the user they made (the one whose CREATE ROLE waited
// on its twin's must not forget it), so a Delete drops the user.
func TestTwinDeliveriesKeepTheRecord(t *testing.T) {
	for _, engine := range []string{"postgres", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s := database(t, engine)
			svc := service(t)
			for attempt := range 3 {
				username := fmt.Sprintf("kept_%s_%d", engine[:2], attempt)
				r := decode(t, userRequest(t, engine, s, `, "username": "`+username+`"`))
				r.Provenance = provision.Provenance{By: "twins@123456789012", Via: "eventbridge",
					Caller: dbgrants.Caller{Kind: dbgrants.KindEvents, Name: "twins", Account: "123456789012"}}
				key := "event-" + uniqueName(t)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						svc.Create(ctx, r, key)
					}()
				}
				close(start)
				wg.Wait()
				sec, err := svc.Store().Describe(ctx, r.Name)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc.Remove(ctx, sec, "eventbridge", provision.DeleteOptions{ForceDeleteWithoutRecovery: true}); err != nil {
					t.Fatal(err)
				}
				if exists, err := s.UserExists(username); err != nil || exists {
					t.Fatalf("attempt %d: the Delete left the user %s (%v): its record was lost", attempt, username, err)
				}
			}
		})
	}
}

// TestKeylessFailureTakesNothingOfAnother: a request without an
// idempotency key has no retry, so its failure removes its secret; a user
// of its name that another session was making meanwhile is not its to
// drop.
func TestKeylessFailureTakesNothingOfAnother(t *testing.T) {
	ctx := context.Background()
	s := database(t, "postgres")
	const name = "made_meanwhile"
	db := dbserver.Open("postgres", s.Host, s.Port, dbserver.Database, dbserver.MasterUser, dbserver.MasterPassword)
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "CREATE ROLE "+name+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	r := byStack(decode(t, userRequest(t, "postgres", s, `, "username": "`+name+`"`)))
	if _, err := service(t).Create(ctx, r, ""); err == nil {
		t.Fatal("made a user whose name another session holds")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := client(t, primary).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(r.Name)}); err == nil {
		t.Fatal("the failed request without a key left its secret, which nothing will retry")
	}
	if exists, err := s.UserExists(name); err != nil || !exists {
		t.Fatalf("the other session's user was dropped: %v, %v", exists, err)
	}
}

// TestRetainDatabaseUser: a delete with RetainDatabaseUser keeps the user,
// which still logs in with the password the secret held, and forgets it:
// a later delete of the secret (restored, say) drops nothing.
func TestRetainDatabaseUser(t *testing.T) {
	for _, engine := range []string{"postgres", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s := database(t, engine)
			svc := service(t)
			username := "kept_" + engine[:2]
			made, err := svc.Create(ctx, byStack(decode(t, userRequest(t, engine, s, `, "username": "`+username+`"`))), "request-retain")
			if err != nil {
				t.Fatal(err)
			}
			stored := aws.ToString(secretValue(t, client(t, primary), made.ARN).SecretString)
			sec, err := svc.Store().Describe(ctx, made.ARN)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Remove(ctx, sec, "cloudformation", provision.DeleteOptions{RetainDatabaseUser: true, RecoveryWindowInDays: seven()}); err != nil {
				t.Fatal(err)
			}
			if exists, err := s.UserExists(username); err != nil || !exists {
				t.Fatalf("the user asked to be kept is gone (%v)", err)
			}
			var v struct {
				Username, Password, Host, Dbname string
				Port                             int
			}
			json.Unmarshal([]byte(stored), &v)
			db := dbserver.Open(engine, v.Host, v.Port, v.Dbname, v.Username, v.Password)
			defer db.Close()
			if err := dbserver.Run(db, "SELECT 1"); err != nil {
				t.Fatalf("the kept user does not log in with its password: %v", err)
			}
			// Restored and deleted again: the user is no longer the
			// provisioner's to drop.
			if _, err := client(t, primary).RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String(made.ARN)}); err != nil {
				t.Fatal(err)
			}
			if sec, err = svc.Store().Describe(ctx, made.ARN); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Remove(ctx, sec, "cloudformation", provision.DeleteOptions{ForceDeleteWithoutRecovery: true}); err != nil {
				t.Fatal(err)
			}
			if exists, err := s.UserExists(username); err != nil || !exists {
				t.Fatalf("a later delete dropped the user the team took over (%v)", err)
			}
		})
	}
}

func seven() *props.Int { n := props.Int(7); return &n }

// TestRotationBesideTheUsersRecord: rotation is switched on while the
// user's record is confirmed. Both finish before the answer; a rotation
// that fails leaves the user and its confirmed record, and names the
// secret for its retry, which completes the rotation.
func TestRotationBesideTheUsersRecord(t *testing.T) {
	ctx := context.Background()
	s := database(t, "postgres")
	fn := "arn:aws:lambda:us-east-1:123456789012:function:beside-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	cfg := testConfig(t, testGrants)
	var err error
	if cfg.Rotation, err = rotation.DefaultsFromEnv(func(k string) string {
		return map[string]string{rotation.EnvFunctionPrefix + "POSTGRESQL": fn}[k]
	}); err != nil {
		t.Fatal(err)
	}
	svc := core.ServiceWith(t, cfg, nil, nil)
	body := userRequest(t, "postgres", s, `, "rotationRules": {"scheduleExpression": "rate(30 days)"}`)
	r := byStack(decode(t, body))

	// The function does not exist yet: RotateSecret fails.
	got, err := svc.Create(ctx, r, "beside-1")
	if err == nil || got.ARN == "" {
		t.Fatalf("a rotation that fails: %+v, %v", got, err)
	}
	if login(t, "postgres", got.ARN) != nil {
		t.Fatal("the user does not log in after the rotation failed")
	}
	if u, err := svc.RecordedUser(ctx, r.Provenance.Via, got.ARN); err != nil || u == nil {
		t.Fatalf("the user's record after the rotation failed: %+v, %v", u, err)
	}
	if d := describe(t, got.ARN); aws.ToBool(d.RotationEnabled) {
		t.Fatal("rotation is on after RotateSecret failed")
	}

	name := fn[strings.LastIndex(fn, ":")+1:]
	if _, err := core.Moto(t).RotationFunction("us-east-1", name); err != nil {
		t.Fatal(err)
	}
	again, err := svc.Create(ctx, r, "beside-1")
	if err != nil || again.ARN != got.ARN || again.Rotation == nil || !again.Rotation.Enabled {
		t.Fatalf("the retry: %+v (rotation %+v), %v", again, again.Rotation, err)
	}
	if d := describe(t, got.ARN); !aws.ToBool(d.RotationEnabled) || aws.ToString(d.RotationLambdaARN) != fn {
		t.Fatalf("the secret's rotation: %v %s", aws.ToBool(d.RotationEnabled), aws.ToString(d.RotationLambdaARN))
	}
	if login(t, "postgres", got.ARN) != nil {
		t.Fatal("the user does not log in")
	}
}
