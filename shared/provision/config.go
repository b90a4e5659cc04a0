package provision

import (
	"strings"

	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretreaders"
	"github.com/dbcreds/provisioner/shared/secretspec"
	"github.com/dbcreds/provisioner/shared/secretuser"
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
	DefaultReplicas secretspec.Replicas
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
	// DatabaseUserConnectionLimit caps each new user's sessions at once;
	// 0, no cap.
	DatabaseUserConnectionLimit int
	// ReaderAccounts are the accounts a request's readers may live in:
	// this account, and those the deployment names.
	ReaderAccounts secretreaders.Accounts
}

// UserSettings are the configuration's rules for database users.
func (c Config) UserSettings() secretuser.Settings {
	return secretuser.Settings{Grants: c.DatabaseUserGrants, RequireTLS: c.RequireTLS, ConnectionLimit: c.DatabaseUserConnectionLimit}
}

// Check applies the rules a deployment's configuration must meet; a
// function whose configuration breaks one must not start. Each error names
// the template parameter at fault.
func (c Config) Check() error {
	switch {
	case c.CallerScope != "" && c.CallerScope != ScopeNone && c.CallerScope != ScopeIAMRole && c.CallerScope != ScopeJWTClaim:
		return errcode.New(errcode.Internal, "CallerScope %q: must be %s, %s or %s", c.CallerScope, ScopeNone, ScopeIAMRole, ScopeJWTClaim)
	case c.CallerScope == ScopeJWTClaim && c.CallerScopeClaim == "":
		return errcode.New(errcode.Internal, "CallerScopeClaim must name a claim when CallerScope is %s", ScopeJWTClaim)
	}
	if !awsname.IsSecretName(c.NamePrefix) || !strings.HasSuffix(c.NamePrefix, "/") || strings.HasPrefix(c.NamePrefix, "/") {
		// A prefix ends at a path boundary: "app" would also cover
		// "application-billing/db", in the functions and in IAM alike.
		return errcode.New(errcode.Internal, "SecretNamePrefix %q: must be ASCII letters, digits and /_+=.@-, not start with \"/\" and end with \"/\", like app/", c.NamePrefix)
	}
	if err := secretspec.ValidateReplicas(c.DefaultReplicas, c.Region); err != nil {
		return errcode.Wrap(err, errcode.Internal, "DefaultReplicaRegions: %s", errcode.Message(err))
	}
	return nil
}

// Ours recognises a secret this deployment made: under its prefix, or
// carrying its provenance tags. Such a secret is never a master secret,
// whatever it holds.
func (c Config) Ours(name string, tags map[string]string) bool {
	return strings.HasPrefix(name, c.NamePrefix) || tags[TagProvisionedVia] != "" || tags[TagProvisionedBy] != ""
}
