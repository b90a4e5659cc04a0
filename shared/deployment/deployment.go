// Package deployment is what every function reads at init from the
// environment the template sets: the deployment's configuration, the
// Secrets Manager client and the database users' parts. A function whose
// environment is wrong stops at start, naming what is wrong, never at a
// request. Nothing here makes a call.
//
// It is wiring: only the functions' main packages import it, and the core
// (provision and below) must not.
package deployment

import (
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/expiry"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretreaders"
	"github.com/dbcreds/provisioner/shared/secretspec"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/secretuser"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// Environment variables the template sets from its parameters, so that
// every trigger applies them the same way.
const (
	EnvNamePrefix       = "SECRET_NAME_PREFIX"       // SecretNamePrefix: every secret name starts with it
	EnvDefaultReplicas  = "DEFAULT_REPLICA_REGIONS"  // DefaultReplicaRegions, comma-separated: when a request names none
	EnvCallerScope      = "CALLER_SCOPE"             // CallerScope: none, iam-role or jwt-claim
	EnvCallerScopeClaim = "CALLER_SCOPE_CLAIM"       // CallerScopeClaim: the JWT claim naming the caller's sub-prefix
	EnvIdempotencyTable = "IDEMPOTENCY_TABLE"        // the DynamoDB table of the HTTP API's Idempotency-Keys
	EnvRequireTLS       = "DB_REQUIRE_TLS"           // RequireDatabaseTls: every database connection is verified TLS
	EnvConnectionLimit  = "DB_USER_CONNECTION_LIMIT" // DatabaseUserConnectionLimit: each new user's sessions at once, 0 none
	EnvAccountID        = "ACCOUNT_ID"               // AWS::AccountId: the deployment's own account
	EnvReaderAccounts   = "READER_ACCOUNTS"          // ReaderAccounts, comma-separated: other accounts readers may live in
)

// Parts are what every function builds its core from.
type Parts struct {
	Config provision.Config
	Client *secretsmanager.Client
	Users  *secretuser.Users
	// Readers gives secrets' readers their policy and KMS grants.
	Readers *secretreaders.Access
	// Expiries schedules secrets' expiries, to invoke the function that
	// made them.
	Expiries *expiry.Schedules
}

// Service is the core over the parts.
func (p Parts) Service() (*provision.Service, error) {
	return provision.NewService(p.Config, secretstore.New(p.Client), rotation.New(p.Client), p.Users, secretstore.NewDeleter(p.Client), p.Readers, p.Expiries)
}

// FromEnvironment reads the parts; getenv is os.Getenv outside tests.
func FromEnvironment(getenv func(string) string) (Parts, error) {
	cfg, err := Config(getenv)
	if err != nil {
		return Parts{}, err
	}
	client, err := secretstore.ClientFromEnvironment(getenv)
	if err != nil {
		return Parts{}, err
	}
	users, err := secretuser.FromEnvironment(getenv, client, cfg.Region, cfg.Ours, cfg.UserSettings())
	if err != nil {
		return Parts{}, err
	}
	readers, err := secretreaders.FromEnvironment(getenv, client)
	if err != nil {
		return Parts{}, err
	}
	dynamo, err := userledger.ClientFromEnvironment(getenv)
	if err != nil {
		return Parts{}, err
	}
	expiries, err := expiry.FromEnvironment(getenv, userledger.New(dynamo, strings.TrimSpace(getenv(userledger.EnvTable))))
	if err != nil {
		return Parts{}, err
	}
	return Parts{Config: cfg, Client: client, Users: users, Readers: readers, Expiries: expiries}, nil
}

// Config reads the deployment's configuration and checks it.
func Config(getenv func(string) string) (provision.Config, error) {
	cfg := provision.Config{
		NamePrefix:       strings.TrimSpace(getenv(EnvNamePrefix)),
		Region:           getenv("AWS_REGION"),
		CallerScope:      strings.TrimSpace(getenv(EnvCallerScope)),
		CallerScopeClaim: strings.TrimSpace(getenv(EnvCallerScopeClaim)),
	}
	if cfg.Region == "" {
		cfg.Region = getenv("AWS_DEFAULT_REGION")
	}
	if cfg.CallerScope == "" {
		cfg.CallerScope = provision.ScopeNone
	}
	for _, region := range strings.Split(getenv(EnvDefaultReplicas), ",") {
		if region = strings.TrimSpace(region); region != "" {
			cfg.DefaultReplicas = append(cfg.DefaultReplicas, secretspec.Replica{Region: region})
		}
	}
	if err := secretspec.ValidateReplicas(cfg.DefaultReplicas, cfg.Region); err != nil {
		return cfg, errcode.Wrap(err, errcode.Internal, "%s %q (DefaultReplicaRegions): %s", EnvDefaultReplicas, getenv(EnvDefaultReplicas), errcode.Message(err))
	}
	var err error
	if cfg.Rotation, err = rotation.DefaultsFromEnv(getenv); err != nil {
		return cfg, err
	}
	if cfg.DatabaseUserGrants, err = dbgrants.Parse(getenv(dbgrants.EnvGrants)); err != nil {
		return cfg, errcode.Wrap(err, errcode.Internal, "%s", err.Error())
	}
	if cfg.DatabaseUserGrants, err = cfg.DatabaseUserGrants.WithGrantableRoles(getenv(dbgrants.EnvGrantableRoles)); err != nil {
		return cfg, errcode.Wrap(err, errcode.Internal, "%s", err.Error())
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv(EnvRequireTLS))); v {
	case "", "false":
	case "true":
		cfg.RequireTLS = true
	default:
		return cfg, errcode.New(errcode.Internal, "%s %q (RequireDatabaseTls): must be true or false", EnvRequireTLS, v)
	}
	if v := strings.TrimSpace(getenv(EnvConnectionLimit)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxConnectionLimit {
			return cfg, errcode.New(errcode.Internal, "%s %q (DatabaseUserConnectionLimit): must be a whole number from 0 (no cap) to %d", EnvConnectionLimit, v, maxConnectionLimit)
		}
		cfg.DatabaseUserConnectionLimit = n
	}
	if err := cfg.Check(); err != nil {
		return cfg, err
	}
	account := strings.TrimSpace(getenv(EnvAccountID))
	if account == "" {
		// Without it no reader's account could be told apart from this
		// one's: every reader would be refused. Say so at start.
		return cfg, errcode.New(errcode.Internal, "%s is not set: the template sets it to the stack's account", EnvAccountID)
	}
	cfg.ReaderAccounts, err = secretreaders.ParseAccounts(account, getenv(EnvReaderAccounts))
	return cfg, err
}

// maxConnectionLimit is more sessions than any RDS instance takes.
const maxConnectionLimit = 100000
