package provision

import (
	"context"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/masterdb"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/secretuser"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// Environment variables every function reads, set by the template from its
// parameters, so that every trigger applies them the same way.
const (
	EnvNamePrefix       = "SECRET_NAME_PREFIX"      // every secret name must start with it
	EnvDefaultReplicas  = "DEFAULT_REPLICA_REGIONS" // comma-separated; used when a request names none
	EnvCallerScope      = "CALLER_SCOPE"            // none, iam-role or jwt-claim: confines API callers to a sub-prefix
	EnvCallerScopeClaim = "CALLER_SCOPE_CLAIM"      // the JWT claim naming the caller's sub-prefix (jwt-claim)
	EnvIdempotencyTable = "IDEMPOTENCY_TABLE"       // the DynamoDB table of the HTTP API's Idempotency-Keys
	EnvRequireTLS       = "DB_REQUIRE_TLS"          // true: every database connection requires verified TLS, whatever the request's ssl
)

// Caller scopes: where an API caller's sub-prefix comes from.
const (
	ScopeNone     = "none"      // every caller may use the whole prefix
	ScopeIAMRole  = "iam-role"  // the IAM role (or user) name: <prefix><role>/
	ScopeJWTClaim = "jwt-claim" // a JWT claim, e.g. the team: <prefix><claim value>/
)

// Config is the deployment's policy for every request.
type Config struct {
	NamePrefix      string
	DefaultReplicas Replicas
	// Region is the primary Region, where the function runs and creates
	// secrets; a replica there would be no replica.
	Region string
	// CallerScope and CallerScopeClaim confine API callers to a sub-prefix.
	CallerScope      string
	CallerScopeClaim string
	// Rotation are the deployment's rotation functions and rules.
	Rotation rotation.Defaults
	// DatabaseUserGrants say who may make database users where; empty,
	// nobody may.
	DatabaseUserGrants dbgrants.Policy
	// RequireTLS makes every connection to a database verified TLS: a
	// request cannot turn it off with ssl false.
	RequireTLS bool
}

// ConfigFromEnv reads the configuration; getenv is os.Getenv outside tests.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		NamePrefix: strings.TrimSpace(getenv(EnvNamePrefix)),
		Region:     getenv("AWS_REGION"),
	}
	if cfg.Region == "" {
		cfg.Region = getenv("AWS_DEFAULT_REGION")
	}
	for _, region := range strings.Split(getenv(EnvDefaultReplicas), ",") {
		if region = strings.TrimSpace(region); region != "" {
			cfg.DefaultReplicas = append(cfg.DefaultReplicas, Replica{Region: region})
		}
	}
	cfg.CallerScope = strings.TrimSpace(getenv(EnvCallerScope))
	if cfg.CallerScope == "" {
		cfg.CallerScope = ScopeNone
	}
	cfg.CallerScopeClaim = strings.TrimSpace(getenv(EnvCallerScopeClaim))
	switch {
	case cfg.CallerScope != ScopeNone && cfg.CallerScope != ScopeIAMRole && cfg.CallerScope != ScopeJWTClaim:
		return cfg, errcode.New(errcode.Internal, "%s %q: must be %s, %s or %s", EnvCallerScope, cfg.CallerScope, ScopeNone, ScopeIAMRole, ScopeJWTClaim)
	case cfg.CallerScope == ScopeJWTClaim && cfg.CallerScopeClaim == "":
		return cfg, errcode.New(errcode.Internal, "%s must name a claim when %s is %s", EnvCallerScopeClaim, EnvCallerScope, ScopeJWTClaim)
	}
	if !awsname.IsSecretName(cfg.NamePrefix) || !strings.HasSuffix(cfg.NamePrefix, "/") || strings.HasPrefix(cfg.NamePrefix, "/") {
		// A prefix ends at a path boundary: "app" would also cover
		// "application-billing/db", in the functions and in IAM alike.
		return cfg, errcode.New(errcode.Internal, "%s %q: must be ASCII letters, digits and /_+=.@-, not start with \"/\" and end with \"/\", like app/", EnvNamePrefix, cfg.NamePrefix)
	}
	if err := validateReplicas(cfg.DefaultReplicas, cfg.Region); err != nil {
		return cfg, errcode.Wrap(err, errcode.Internal, "%s: %s", EnvDefaultReplicas, errcode.Message(err))
	}
	var err error
	if cfg.Rotation, err = rotation.DefaultsFromEnv(getenv); err != nil {
		return cfg, err
	}
	if cfg.DatabaseUserGrants, err = dbgrants.Parse(getenv(dbgrants.EnvGrants)); err != nil {
		return cfg, errcode.Wrap(err, errcode.Internal, "%s", err.Error())
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv(EnvRequireTLS))); v {
	case "", "false":
	case "true":
		cfg.RequireTLS = true
	default:
		return cfg, errcode.New(errcode.Internal, "%s %q: must be true or false", EnvRequireTLS, v)
	}
	return cfg, nil
}

// ServiceFromEnv builds the service a function runs, once at init: the SDK
// client from the standard AWS environment (Region, credentials, and
// AWS_ENDPOINT_URL_SECRETS_MANAGER for a local endpoint) and the Config.
func ServiceFromEnv(ctx context.Context) (*Service, error) {
	cfg, client, err := fromEnv(ctx)
	if err != nil {
		return nil, err
	}
	svc := NewService(secretstore.New(client), cfg)
	svc.UseRotator(rotation.New(client))
	users, err := DatabaseUsersFromEnv(os.Getenv, cfg, client)
	if err != nil {
		return nil, err
	}
	svc.UseDatabaseUsers(users)
	return svc, nil
}

// APIServiceFromEnv is ServiceFromEnv for the HTTP API, which also deletes
// secrets (DeleteFor); only its function links the deleting operations.
func APIServiceFromEnv(ctx context.Context) (*Service, error) {
	cfg, client, err := fromEnv(ctx)
	if err != nil {
		return nil, err
	}
	svc := NewService(secretstore.New(client), cfg)
	svc.UseRotator(rotation.New(client))
	svc.UseDeleter(secretstore.NewDeleter(client))
	users, err := DatabaseUsersFromEnv(os.Getenv, cfg, client)
	if err != nil {
		return nil, err
	}
	svc.UseDatabaseUsers(users)
	return svc, nil
}

// DatabaseUsersFromEnv builds what makes database users, once at init:
// the RDS client (AWS_ENDPOINT_URL_RDS for a local endpoint), the ledger
// table DATABASE_USERS_TABLE names, and the deleter of half-made secrets,
// through client. Nothing here makes a call.
func DatabaseUsersFromEnv(getenv func(string) string, cfg Config, client *secretsmanager.Client) (*secretuser.Users, error) {
	table := strings.TrimSpace(getenv(userledger.EnvTable))
	if table == "" {
		return nil, errcode.New(errcode.Internal, "%s is not set: the functions record the database users they make in that DynamoDB table", userledger.EnvTable)
	}
	dynamo, err := userledger.ClientFromEnvironment(getenv)
	if err != nil {
		return nil, errcode.Wrap(err, errcode.Internal, "%s", err.Error())
	}
	rdsClient, err := masterdb.RDSClientFromEnvironment(getenv)
	if err != nil {
		return nil, errcode.Wrap(err, errcode.Internal, "%s", err.Error())
	}
	return secretuser.New(masterdb.New(client, rdsClient, cfg.Region, cfg.ours), userledger.New(dynamo, table),
		secretstore.New(client), secretstore.NewDeleter(client), cfg.DatabaseUserGrants, cfg.RequireTLS), nil
}

// ours recognises a secret this deployment made: under its prefix, or
// carrying its provenance tags. Such a secret is never a master secret,
// whatever it holds.
func (c Config) ours(name string, tags map[string]string) bool {
	return strings.HasPrefix(name, c.NamePrefix) || tags[TagProvisionedVia] != "" || tags[TagProvisionedBy] != ""
}

func clientFromEnv(context.Context) (*secretsmanager.Client, error) {
	client, err := secretstore.ClientFromEnvironment(os.Getenv)
	if err != nil {
		return nil, errcode.Wrap(err, errcode.Internal, "%s", err.Error())
	}
	return client, nil
}
