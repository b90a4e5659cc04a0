// Package provision is the core every trigger calls: it validates a Request
// against the deployment's Config and the real Secrets Manager rules,
// generates the credentials, shapes the secret and creates it, idempotently.
// It knows nothing of Lambda events.
//
// It provides the request model (request.go, kind.go, validate.go), the
// deployment's Config, secret creation (service.go) with its rotation,
// database user and readers (readers.go), and the one delete sequence
// (delete.go). It must not
// import selfservice, stack, a function or anything of local/: those are
// above it.
package provision

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/dbsecret"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/expiry"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretreaders"
	"github.com/dbcreds/provisioner/shared/secretspec"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/secretuser"
	"github.com/dbcreds/provisioner/shared/secretvalue"
)

// Service creates secrets. Build one at init and share it.
type Service struct {
	config  Config
	store   *secretstore.Store
	rotator *rotation.Rotator
	users   *secretuser.Users
	deleter *secretstore.Deleter
	readers *secretreaders.Access
	expiry  *expiry.Schedules
}

// NewService returns the service that creates secrets in store under
// config, switches their rotation on through rotator, makes their database
// users through users, deletes through deleter (a secret whose user could
// not be made, DELETE, a stack's Delete) and gives readers access through
// readers and schedules their expiries through expiries. Each is
// required: a function that lacks one must not start.
func NewService(config Config, store *secretstore.Store, rotator *rotation.Rotator, users *secretuser.Users, deleter *secretstore.Deleter, readers *secretreaders.Access, expiries *expiry.Schedules) (*Service, error) {
	if store == nil || rotator == nil || users == nil || deleter == nil || readers == nil || expiries == nil {
		return nil, errcode.New(errcode.Internal, "a service needs a store, a rotator, database users, a deleter, readers' access and expiry schedules")
	}
	if err := config.Check(); err != nil {
		return nil, err
	}
	return &Service{config: config, store: store, rotator: rotator, users: users, deleter: deleter, readers: readers, expiry: expiries}, nil
}

// Config is the deployment's configuration the service applies.
func (s *Service) Config() Config { return s.config }

// Store is the store the service creates secrets in, for reading them back.
func (s *Service) Store() *secretstore.Store { return s.store }

// Result is what a trigger may show: never the password or secret value.
type Result struct {
	ARN               string                      `json:"arn"`
	Name              string                      `json:"name"`
	VersionID         string                      `json:"versionId"`
	Username          string                      `json:"username,omitempty"`
	ReplicationStatus []secretstore.ReplicaStatus `json:"replicationStatus"`
	// DatabaseUser is the user made with the secret, when one was asked for.
	DatabaseUser *DatabaseUser `json:"databaseUser,omitempty"`
	// Rotation is the secret's rotation, when it rotates or was asked to.
	Rotation *rotation.Status `json:"rotation,omitempty"`
	// Readers are the principals the secret's resource policy lets read it.
	Readers []string `json:"readers,omitempty"`
	// ExpiresAt is when the credential removes itself, when it does.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// Replayed is set when an earlier attempt of the same request had
	// created the secret and this answer repeats it.
	Replayed bool `json:"-"`
}

// DatabaseUser is a database user the secret holds the credentials of;
// never its password.
type DatabaseUser struct {
	Username   string   `json:"username"`
	Privileges string   `json:"privileges"`
	MemberOf   []string `json:"memberOf"`
}

// Create validates r, generates its credentials and creates the secret.
// idempotencyKey, when not empty, makes retries of one request (a Lambda
// retry, a redelivered event, a repeated HTTP call) create one secret and
// answer the same: the key becomes the version's ClientRequestToken, and a
// generated username is derived from it.
func (s *Service) Create(ctx context.Context, r Request, idempotencyKey string) (Result, error) {
	p, err := s.Prepare(r, idempotencyKey)
	if err != nil {
		return Result{}, err
	}
	return s.CreatePrepared(ctx, p)
}

// Prepared is a request checked and built, its credentials generated:
// ready to create, with nothing made yet.
type Prepared struct {
	r        Request
	in       *secretsmanager.CreateSecretInput
	username string
	expires  time.Time // zero: never
}

// Prepare is Create's first half: everything checked, nothing made.
func (s *Service) Prepare(r Request, idempotencyKey string) (*Prepared, error) {
	in, username, err := s.build(r, idempotencyKey)
	if err != nil {
		return nil, err
	}
	expires, err := expiresAt(r, time.Now())
	if err != nil {
		return nil, err
	}
	return &Prepared{r: r, in: in, username: username, expires: expires}, nil
}

// CreatePrepared is Create's second half.
func (s *Service) CreatePrepared(ctx context.Context, p *Prepared) (Result, error) {
	return s.createBuilt(ctx, p.r, p.in, p.username, p.expires)
}

// Checked is what Check found of a request.
type Checked struct {
	Kind     Kind
	Replicas secretspec.Replicas // its own or the deployment's
	Rotation *rotation.Settings  // the rotation it wants, or nil
}

// Check validates r as Create does, before any value is generated: for an
// update, which shapes its value around the stored credentials.
func (s *Service) Check(r Request) (Checked, error) {
	replicas, k, err := s.check(r)
	if err != nil {
		return Checked{}, err
	}
	want, err := s.RotationOf(r, k)
	if err != nil {
		return Checked{}, err
	}
	if err := s.MayNameMaster(r); err != nil {
		return Checked{}, err
	}
	return Checked{Kind: k, Replicas: replicas, Rotation: want}, nil
}

// createBuilt calls CreateSecret with what build made, makes the database
// user when r asks for one, and then switches on its rotation.
func (s *Service) createBuilt(ctx context.Context, r Request, in *secretsmanager.CreateSecretInput, username string, expires time.Time) (Result, error) {
	// Before the call: the SDK fills in a token of its own when there is none.
	keyed := in.ClientRequestToken != nil
	var keys []secretreaders.Key
	if len(r.Readers) > 0 {
		// Before anything is made: a key that cannot give readers access
		// refuses the request.
		var err error
		cross, _ := s.config.ReaderAccounts.Check(r.Readers) // checked before
		if keys, err = s.readers.Keys(ctx, s.copies(r), cross); err != nil {
			return Result{}, err
		}
	}
	var result Result
	rotatedAlready := false // by then, beside the user's confirmation; not when a twin made the user
	if r.CreateDatabaseUser {
		// Rotation is switched on beside the user's confirmation in the
		// ledger, once the user is committed: two independent round trips.
		// Only when nothing else must come first (an expiry's schedule,
		// readers' access) and no rotation is asked for at once (which
		// would change the password of a user whose confirmation could
		// still fail; without it, AWS only tests the login).
		var then func(context.Context, secretstore.Created) error
		var rotated *rotation.Status
		if expires.IsZero() && len(r.Readers) == 0 && (r.RotateImmediately == nil || !bool(*r.RotateImmediately)) {
			then = func(ctx context.Context, created secretstore.Created) error {
				res, err := s.rotate(ctx, r, Result{ARN: created.ARN, Replayed: created.Replayed}, aws.ToString(in.ClientRequestToken))
				rotated, rotatedAlready = res.Rotation, true
				return err
			}
		}
		var err error
		if result, err = s.createWithUser(ctx, r, in, username, then); result.ARN != "" {
			result.Rotation = rotated
		}
		if err != nil {
			return result, err
		}
	} else {
		created, err := s.store.Create(ctx, in)
		if err != nil {
			return Result{}, err
		}
		result = Result{
			ARN:               created.ARN,
			Name:              created.Name,
			VersionID:         created.VersionID,
			Username:          username,
			ReplicationStatus: created.Replicas,
			Replayed:          created.Replayed,
		}
	}
	if !expires.IsZero() {
		// Next after the secret: a credential asked to expire never lives
		// on without its schedule.
		plan := expiry.Plan{Via: r.Provenance.Via, By: r.Provenance.By, SecretARN: result.ARN, At: expires, Force: bool(r.ForceDeleteOnExpiry)}
		if err := s.expiry.Set(ctx, plan); err != nil {
			return s.abandon(ctx, r, result, keyed, err)
		}
		result.ExpiresAt = &expires
	}
	if len(r.Readers) > 0 {
		target := secretreaders.Target{Via: r.Provenance.Via, SecretARN: result.ARN, Readers: r.Readers, Keys: keys, Fresh: !result.Replayed}
		if err := s.readers.Apply(ctx, target); err != nil {
			return s.abandon(ctx, r, result, keyed, err)
		}
		result.Readers = r.Readers
	}
	if rotatedAlready {
		return result, nil
	}
	return s.rotate(ctx, r, result, aws.ToString(in.ClientRequestToken))
}

// check validates r against the CreateSecret rules and the deployment's
// configuration, and returns the replicas it asks for (its own list or the
// defaults) and its kind.
func (s *Service) check(r Request) (secretspec.Replicas, Kind, error) {
	if err := secretspec.ValidateName(r.Name); err != nil {
		return nil, 0, err
	}
	if !strings.HasPrefix(r.Name, s.config.NamePrefix) {
		return nil, 0, &errcode.Error{Code: errcode.Forbidden, Field: "name",
			Message: "must start with the configured prefix \"" + s.config.NamePrefix + "\""}
	}
	if err := secretspec.ValidateDescription(r.Description); err != nil {
		return nil, 0, err
	}
	if err := secretspec.ValidateKMSKey("kmsKeyId", r.KmsKeyID); err != nil {
		return nil, 0, err
	}
	if err := secretspec.ValidateTags(r.Tags, len(r.ownTags()), IsReservedTag); err != nil {
		return nil, 0, err
	}
	replicas := s.ReplicasOf(r)
	if err := secretspec.ValidateReplicas(replicas, s.config.Region); err != nil {
		return nil, 0, err
	}
	if err := s.checkReaders(r, replicas); err != nil {
		return nil, 0, err
	}
	if _, err := expiresAt(r, time.Now()); err != nil {
		return nil, 0, err
	}
	if r.ForceOverwriteReplicaSecret && r.Provenance.Caller.Kind != dbgrants.KindStack {
		// It replaces a secret of the same name in a replica Region, which
		// another team, a stack or a person may have made there: only a
		// stack, whose author the deployment trusts with the prefix, may.
		return nil, 0, &errcode.Error{Code: errcode.Forbidden, Field: "forceOverwriteReplicaSecret",
			Message: "is for stacks only: it would overwrite a secret of the same name that someone else made in a replica Region"}
	}
	k, err := r.Kind()
	return replicas, k, err
}

// MayNameMaster applies the grants to a secret that names a master secret
// without making its user. AWS's multi-user rotation functions read the
// secret's masterarn and, as that master, make <username>_clone a member
// of username, or reset the clone's password when it exists: with a
// username the caller chose (the master's own, another team's) that hands
// the caller their access. So only a grant with anyUser allows it, for the
// masterSecretArn field and for a masterarn in a supplied value or a
// template alike.
func (s *Service) MayNameMaster(r Request) error {
	if r.MasterSecretARN != "" && !r.CreateDatabaseUser {
		if err := s.config.DatabaseUserGrants.AllowsMaster(r.Provenance.Caller, r.MasterSecretARN); err != nil {
			return err
		}
	}
	field, value := "secretString", string(r.SecretString)
	if r.SecretStringTemplate != "" {
		field, value = "secretStringTemplate", string(r.SecretStringTemplate)
		if strings.EqualFold(r.GenerateStringKey, "masterarn") {
			return &errcode.Error{Code: errcode.Forbidden, Field: "generateStringKey", Message: "must not be masterarn: a multi-user rotation function reads it as the master secret to act as"}
		}
	}
	return s.mayHoldMaster(r, field, value)
}

// mayHoldMaster applies the grants to a value a supplied or template
// secret would store: a masterarn in it needs a grant with anyUser.
func (s *Service) mayHoldMaster(r Request, field, value string) error {
	members, err := topLevelMembers(value)
	if err != nil {
		return errcode.Invalidf(field, "%s", err.Error())
	}
	for key, raw := range members {
		if !strings.EqualFold(key, "masterarn") {
			continue
		}
		var master string
		json.Unmarshal(raw, &master)
		if err := s.config.DatabaseUserGrants.AllowsMaster(r.Provenance.Caller, master); err != nil {
			return &errcode.Error{Code: errcode.Forbidden, Field: field, Message: "holds a " + key + ": " + errcode.Message(err)}
		}
	}
	return nil
}

// topLevelMembers are the members of value when a rotation function could
// read it as a JSON object. Python's json.loads, which AWS's rotation
// functions use, also takes NaN, Infinity and -Infinity, which Go's parser
// refuses: an object Go cannot parse is refused, never passed unread.
func topLevelMembers(value string) (map[string]json.RawMessage, error) {
	if !strings.HasPrefix(strings.TrimLeft(value, " \t\r\n"), "{") {
		return nil, nil // not an object in Python either
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal([]byte(value), &members); err != nil {
		return nil, errors.New("is a JSON object that does not parse strictly (NaN and Infinity are not JSON)")
	}
	return members, nil
}

// ReplicasOf is the request's own replica list, or the defaults when it has
// none.
func (s *Service) ReplicasOf(r Request) secretspec.Replicas {
	if r.ReplicaRegions == nil {
		return s.config.DefaultReplicas
	}
	return r.ReplicaRegions
}

// build checks everything the real service would check, then generates the
// secret value and the CreateSecret input. It returns the username, if any.
func (s *Service) build(r Request, idempotencyKey string) (*secretsmanager.CreateSecretInput, string, error) {
	replicas, k, err := s.check(r)
	if err != nil {
		return nil, "", err
	}
	if _, err := s.RotationOf(r, k); err != nil {
		return nil, "", err
	}
	in := &secretsmanager.CreateSecretInput{
		Name:                        aws.String(r.Name),
		ForceOverwriteReplicaSecret: bool(r.ForceOverwriteReplicaSecret),
		Tags:                        r.createTags().SDK(),
		AddReplicaRegions:           replicas.SDK(),
	}
	if token := versionToken(r.Provenance, idempotencyKey); token != "" {
		in.ClientRequestToken = aws.String(token)
	}
	if r.Description != "" {
		in.Description = aws.String(r.Description)
	}
	if r.KmsKeyID != "" {
		in.KmsKeyId = aws.String(r.KmsKeyID)
	}
	value, username, err := s.Value(r, k, idempotencyKey, nil)
	if err != nil {
		return nil, "", err
	}
	if err := s.MayNameMaster(r); err != nil {
		return nil, "", err
	}
	if value.Binary != nil {
		in.SecretBinary = value.Binary
	} else {
		in.SecretString = aws.String(value.String)
	}
	return in, username, nil
}

// Kept are the credentials an update keeps from the stored secret: a
// password changes only through rotation, never through a property change.
type Kept struct {
	Username string
	Password string
	// Where a database user's secret points, Kept when the request leaves
	// it to the master secret.
	Host   string
	Port   int
	DBName string
	// TLS: the secret must keep saying ssl true when the request leaves
	// ssl out (its user was made over TLS, or the deployment requires it).
	TLS bool
}

// Value returns the value r describes. On create (keep nil) it generates
// the password and, if none is given, the username; on update it shapes
// the new fields around the Kept credentials. Either way the password
// policy is checked, so a template cannot carry an impossible one.
func (s *Service) Value(r Request, k Kind, idempotencyKey string, keep *Kept) (secretstore.Value, string, error) {
	var kept *secretvalue.Kept
	if keep != nil {
		kept = &secretvalue.Kept{Username: keep.Username, Password: keep.Password}
	}
	switch k {
	case KindSupplied:
		v, err := secretvalue.Supplied(string(r.SecretString), r.SecretBinary)
		if err == nil {
			err = s.mayHoldMaster(r, "secretString", v.String)
		}
		return v, "", err
	case KindTemplate:
		policy, _ := r.passwordPolicy()
		v, err := secretvalue.Template(string(r.SecretStringTemplate), r.GenerateStringKey, policy, kept)
		if err == nil {
			// What is stored, not just what was asked: generateStringKey
			// and a kept value land in it too.
			err = s.mayHoldMaster(r, "secretStringTemplate", v.String)
		}
		return v, "", err
	}
	engine, err := dbsecret.Lookup(r.Engine)
	if err != nil {
		return secretstore.Value{}, "", err
	}
	fields := dbsecret.Fields{
		Host:                 r.Host,
		DBName:               r.DBName,
		Username:             r.Username,
		MasterARN:            r.MasterSecretARN,
		DBInstanceIdentifier: r.DBInstanceIdentifier,
		DBClusterIdentifier:  r.DBClusterIdentifier,
		Extra:                r.ExtraFields,
	}
	if r.Port != nil {
		fields.Port = int(*r.Port)
		if fields.Port == 0 {
			return secretstore.Value{}, "", errcode.Invalidf("port", "must be between 1 and 65535, got 0")
		}
	}
	if r.SSL != nil {
		ssl := bool(*r.SSL)
		fields.SSL = &ssl
	} else if keep != nil && keep.TLS {
		tls := true
		fields.SSL = &tls
	}
	if fields.Host == "" && r.CreateDatabaseUser {
		// The master's own database: an update keeps the stored one; a
		// create learns it from the master before the secret is made.
		fields.Host = pendingHost
		if keep != nil && keep.Host != "" {
			fields.Host, fields.Port = keep.Host, keep.Port
			if fields.DBName == "" {
				fields.DBName = keep.DBName
			}
		}
	}
	if err := engine.Validate(fields); err != nil {
		return secretstore.Value{}, "", err
	}
	if err := r.checkDatabaseUser(); err != nil {
		return secretstore.Value{}, "", err
	}
	base, lengthSet := r.passwordPolicy()
	policy, err := engine.PasswordPolicy(base, lengthSet)
	if err != nil {
		return secretstore.Value{}, "", err
	}
	if r.CreateDatabaseUser && keep == nil {
		if bits, err := policy.Bits(); err == nil && bits < minUserPasswordBits {
			return secretstore.Value{}, "", errcode.Invalidf("passwordLength", "with createDatabaseUser the password must carry at least %d bits: %d characters drawn from those allowed give %.0f; allow more characters or make it longer",
				minUserPasswordBits, policy.Length, bits)
		}
	}
	return secretvalue.Database(engine, fields, policy, idempotencyKey, kept)
}

// versionToken is the ClientRequestToken of the first version a request
// makes, from its idempotency key within its provenance: a secret found
// holding that version is this requester's earlier attempt, never a secret
// another trigger or requester made under a key that happens to read the
// same (a stack's key is chosen by whoever invokes the function).
func versionToken(p Provenance, idempotencyKey string) string {
	if idempotencyKey == "" {
		return ""
	}
	return secretstore.Token(p.Via + "\x00" + p.By + "\x00" + idempotencyKey)
}
