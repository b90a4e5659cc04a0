// Package core builds the provisioner's core as the functions build it, at
// the test servers: moto for Secrets Manager and DynamoDB (with the
// idempotency and database-users tables), the RDS API stand-in, and real
// PostgreSQL and MariaDB. Integration tests of provision, selfservice and
// stack share it. Start it in TestMain unless testing.Short(); the helpers
// skip a test in short mode, so that go test -short needs no server.
//
// It imports the core and the test servers; only tests import it.
package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/local/testenv/motoserver"
	"github.com/dbcreds/provisioner/local/testenv/rdsapi"
	"github.com/dbcreds/provisioner/shared/awsclient"
	litekms "github.com/dbcreds/provisioner/shared/awslite/kms"
	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/expiry"
	"github.com/dbcreds/provisioner/shared/idempotency"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretreaders"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/secretuser"
	"github.com/dbcreds/provisioner/shared/sessionlimit"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// The tests' Regions, account and tables.
const (
	Primary = "us-east-1"
	Replica = "eu-west-1"
	Account = "123456789012"
	// OtherAccount is the one other account the tests' deployment lets
	// readers live in (ReaderAccounts).
	OtherAccount     = "444455556666"
	IdempotencyTable = "idempotency-records"
	UsersTable       = "database-users"
	SessionsTable    = "database-sessions"
	// SessionLimit is the deployment's bound on sessions per master, the
	// template's default.
	SessionLimit = "10"
	// The expiry schedules' group, the Scheduler's role and dead-letter
	// queue, and the function the core's schedules invoke, as a stack
	// would name them.
	ScheduleGroup = "dbcreds-expiry"
	SchedulerRole = "dbcreds-expiry-scheduler"
	ExpiryQueue   = "dbcreds-expiry-failures"
	FunctionName  = "provisioner-core"
	FunctionARN   = "arn:aws:lambda:" + Primary + ":" + Account + ":function:" + FunctionName
)

// Env is the deployment's environment the core is built from, beside
// this process's (which points at moto).
func Env(k string) string {
	switch k {
	case userledger.EnvTable:
		return UsersTable
	case sessionlimit.EnvTable:
		return SessionsTable
	case sessionlimit.EnvSlots:
		return SessionLimit
	case expiry.EnvGroup:
		return ScheduleGroup
	case expiry.EnvRole:
		return SchedulerRole
	case expiry.EnvDeadLetter:
		return ExpiryQueue
	case "AWS_LAMBDA_FUNCTION_NAME":
		return FunctionName
	case "ACCOUNT_ID":
		return Account
	}
	return os.Getenv(k)
}

var (
	moto *motoserver.Server
	rds  *rdsapi.Server
)

// Run is a TestMain: it starts the servers (not in short mode), runs the
// tests and stops what it started.
func Run(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	if err := start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		stop()
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

func start() error {
	var err error
	if moto, err = motoserver.Start(); err != nil {
		return err
	}
	if err = moto.Setenv(); err != nil {
		return err
	}
	if err = os.Setenv("AWS_REGION", Primary); err != nil {
		return err
	}
	for _, table := range []string{IdempotencyTable, UsersTable, SessionsTable} {
		if err = motoserver.CreateTable(context.Background(), moto.Env(), Primary, table, "id"); err != nil {
			return err
		}
	}
	if err = motoserver.CreateScheduleGroup(context.Background(), moto.Env(), Primary, ScheduleGroup); err != nil {
		return err
	}
	if rds, err = rdsapi.Start(Primary, Account); err != nil {
		return err
	}
	return os.Setenv("AWS_ENDPOINT_URL_RDS", rds.URL())
}

func stop() {
	dbserver.StopShared()
	if rds != nil {
		rds.Close()
	}
	if moto != nil {
		moto.Stop()
	}
}

// Require skips t when the servers were not started (go test -short).
func Require(t testing.TB) {
	t.Helper()
	if moto == nil {
		t.Skip("needs moto_server and the databases; not in -short mode")
	}
}

// Moto is the tests' moto_server.
func Moto(t testing.TB) *motoserver.Server { Require(t); return moto }

// RDS is the tests' RDS API.
func RDS(t testing.TB) *rdsapi.Server { Require(t); return rds }

// Grants let every kind of caller make users with any master secret, so
// that tests of other things need not name grants.
const Grants = `[{"caller":"stack:*","masterSecret":"*","databases":["*"],"schemas":["*"]},
 {"caller":"api:*","masterSecret":"*","databases":["*"],"schemas":["*"]},
 {"caller":"events:*","masterSecret":"*","databases":["*"],"schemas":["*"]}]`

// Config is the deployment the tests run under, with grants.
func Config(t testing.TB, grants string) provision.Config {
	t.Helper()
	policy, err := dbgrants.Parse(grants)
	if err != nil {
		t.Fatal(err)
	}
	readers, err := secretreaders.ParseAccounts(Account, OtherAccount)
	if err != nil {
		t.Fatal(err)
	}
	return provision.Config{NamePrefix: "app/", Region: Primary, DatabaseUserGrants: policy, ReaderAccounts: readers}
}

// SecretsClient is the Secrets Manager client as the functions build it.
func SecretsClient(t testing.TB) *secretsmanager.Client {
	t.Helper()
	Require(t)
	c, err := secretstore.ClientFromEnvironment(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ServiceWith is the core under cfg as the functions build it, creating
// through store and rotating through rotator when they are set (a client
// that counts calls, say; a rotator that may cancel otherwise, as the
// custom resource's).
func ServiceWith(t testing.TB, cfg provision.Config, store *secretstore.Store, rotator *rotation.Rotator) *provision.Service {
	t.Helper()
	return serviceOn(t, cfg, SecretsClient(t), store, rotator, nil)
}

// ServiceWithReaders is the core under cfg giving readers access through
// readers (one on clients that fail on cue, say).
func ServiceWithReaders(t testing.TB, cfg provision.Config, readers *secretreaders.Access) *provision.Service {
	t.Helper()
	return serviceOn(t, cfg, SecretsClient(t), nil, nil, readers)
}

// ServiceOn is the core with every part on client: a test that shapes
// Secrets Manager's answers (delays them, say) gives its own.
func ServiceOn(t testing.TB, cfg provision.Config, client *secretsmanager.Client) *provision.Service {
	t.Helper()
	return serviceOn(t, cfg, client, nil, nil, nil)
}

func serviceOn(t testing.TB, cfg provision.Config, client *secretsmanager.Client, store *secretstore.Store, rotator *rotation.Rotator, readers *secretreaders.Access) *provision.Service {
	t.Helper()
	getenv := Env
	users, err := secretuser.FromEnvironment(getenv, client, cfg.Region, cfg.Ours, cfg.UserSettings())
	if err != nil {
		t.Fatal(err)
	}
	if store == nil {
		store = secretstore.New(client)
	}
	if rotator == nil {
		rotator = rotation.NewWithCancel(client)
	}
	if readers == nil {
		if readers, err = secretreaders.FromEnvironment(getenv, client); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := provision.NewService(cfg, store, rotator, users, secretstore.NewDeleter(client), readers, Expiries(t))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// Expiries are the core's expiry schedules, in moto's Scheduler.
func Expiries(t testing.TB) *expiry.Schedules {
	t.Helper()
	Require(t)
	dynamo, err := userledger.ClientFromEnvironment(Env)
	if err != nil {
		t.Fatal(err)
	}
	schedules, err := expiry.FromEnvironment(Env, userledger.New(dynamo, UsersTable))
	if err != nil {
		t.Fatal(err)
	}
	return schedules
}

// Service is the core under the tests' grants.
func Service(t testing.TB) *provision.Service {
	t.Helper()
	return ServiceWith(t, Config(t, Grants), nil, nil)
}

// Records are the HTTP API's Idempotency-Key records in moto's DynamoDB.
func Records(t testing.TB) *idempotency.Records {
	t.Helper()
	Require(t)
	dynamo, err := idempotency.ClientFromEnvironment(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return idempotency.New(dynamo, IdempotencyTable)
}

// Client reads and checks what the service stored, in any Region, with the
// SDK's standard configuration.
func Client(t testing.TB, region string) *secretsmanager.Client {
	t.Helper()
	Require(t)
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(region))
	if err != nil {
		t.Fatal(err)
	}
	return secretsmanager.NewFromConfig(cfg)
}

// UniqueName keeps tests apart on the one server.
func UniqueName(t testing.TB) string {
	b := make([]byte, 4)
	rand.Read(b)
	return "app/it/" + strings.ReplaceAll(t.Name(), "/", "_") + "_" + hex.EncodeToString(b)
}

// Decode decodes a request body, failing t.
func Decode(t testing.TB, body string) provision.Request {
	t.Helper()
	r, err := provision.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// SecretValue reads a secret's current value.
func SecretValue(t testing.TB, c *secretsmanager.Client, id string) *secretsmanager.GetSecretValueOutput {
	t.Helper()
	out, err := c.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Database is a real PostgreSQL or MariaDB, started once for the tests
// that need them.
func Database(t testing.TB, engine string) *dbserver.Server {
	t.Helper()
	Require(t)
	s, err := dbserver.Shared(engine)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// MasterSecret stores s's master credentials with its host and port,
// outside the provisioner's prefix, as a self-managed database's master
// secret, and returns its ARN.
func MasterSecret(t testing.TB, s *dbserver.Server) string {
	t.Helper()
	return StoreMaster(t, s.Host, s.Port)
}

// StoreMaster stores the tests' master credentials for host and port.
func StoreMaster(t testing.TB, host string, port int) string {
	t.Helper()
	out, err := Client(t, Primary).CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String("masters/" + strings.TrimPrefix(UniqueName(t), "app/")),
		SecretString: aws.String(fmt.Sprintf(`{"username": %q, "password": %q, "host": %q, "port": %d}`,
			dbserver.MasterUser, dbserver.MasterPassword, host, port)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// UserRequest is a request for a secret with its database user on s, at
// the master's own database (no host or port of its own).
func UserRequest(t testing.TB, engine string, s *dbserver.Server, extra string) string {
	return fmt.Sprintf(`{"name": %q, "engine": %q, "dbname": %q, "masterSecretArn": %q, "createDatabaseUser": true%s}`,
		UniqueName(t), engine, dbserver.Database, MasterSecret(t, s), extra)
}

// ByStack is r as a stack's custom resource asks for it.
func ByStack(r provision.Request) provision.Request {
	r.Provenance = provision.Provenance{By: "stack#Db", Via: "cloudformation", Caller: dbgrants.Caller{Kind: dbgrants.KindStack, Name: "tests"}}
	return r
}

// Login runs statements as the user the secret holds and returns the first
// error.
func Login(t testing.TB, engine, arn string, statements ...string) error {
	t.Helper()
	out := SecretValue(t, Client(t, Primary), arn)
	var v struct {
		Username, Password, Host, Dbname string
		Port                             int
	}
	json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v)
	db := dbserver.Open(engine, v.Host, v.Port, v.Dbname, v.Username, v.Password)
	defer db.Close()
	return dbserver.Run(db, statements...)
}

// AsMaster runs a statement on s as its master user, failing t.
func AsMaster(t testing.TB, s *dbserver.Server, statement string) {
	t.Helper()
	if err := s.AsMaster(statement); err != nil {
		t.Fatal(err)
	}
}

// Describe describes a secret in the primary Region, failing t.
func Describe(t testing.TB, id string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	out, err := Client(t, Primary).DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// VersionCount is how many versions the secret holds, deprecated ones too.
func VersionCount(t testing.TB, id string) int {
	t.Helper()
	out, err := Client(t, Primary).ListSecretVersionIds(context.Background(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(id), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Versions)
}

// KMS is a KMS client of the tests' moto in region.
func KMS(t testing.TB, region string) *kms.Client {
	t.Helper()
	Require(t)
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(region))
	if err != nil {
		t.Fatal(err)
	}
	return kms.NewFromConfig(cfg)
}

// Keys is the functions' own KMS client (awslite) of the tests' moto in
// region, for what the tests hand to the core.
func Keys(t testing.TB, region string) *litekms.Client {
	t.Helper()
	Require(t)
	s, err := awsclient.FromEnvironment(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return litekms.New(litekms.Options{Region: region, Credentials: s.Credentials, BaseEndpoint: s.Endpoint("KMS")})
}

// Key makes a customer managed key in region and answers its ARN.
func Key(t testing.TB, region string) string {
	t.Helper()
	out, err := KMS(t, region).CreateKey(context.Background(), &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// Exists reports whether a secret of that name or ARN exists in the
// primary Region, scheduled for deletion or not.
func Exists(t testing.TB, id string) bool {
	t.Helper()
	_, err := Client(t, Primary).DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	var notFound *smtypes.ResourceNotFoundException
	if err != nil && !errors.As(err, &notFound) {
		t.Fatal(err)
	}
	return err == nil
}
