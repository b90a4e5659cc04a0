// Package provision is the core every trigger calls: it validates a Request
// against the deployment's Config and the real Secrets Manager rules,
// generates the credentials, shapes the secret and creates it, idempotently.
// It knows nothing of Lambda events.
package provision

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/shared/credential"
	"github.com/dbcreds/provisioner/shared/dbsecret"
	"github.com/dbcreds/provisioner/shared/dbuser"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/secretuser"
)

// generatedUsernameLength fits every engine's clone cap (mysql and db2 allow
// 16 - len("_clone") = 10).
const generatedUsernameLength = 10

// Service creates secrets. Build one at init and share it.
type Service struct {
	store  *secretstore.Store
	config Config
	// records make the API's Idempotency-Keys hold; only the HTTP API
	// function has them.
	records IdempotencyRecords
	// rotator switches rotation on and off; every function has one.
	rotator *rotation.Rotator
	// deleter deletes secrets for the API (DeleteFor).
	deleter *secretstore.Deleter
	// users make database users (createDatabaseUser).
	users *secretuser.Users
}

// UseDatabaseUsers gives the service what makes database users.
func (s *Service) UseDatabaseUsers(u *secretuser.Users) { s.users = u }

// UseDeleter gives the service what deletes secrets through the API.
func (s *Service) UseDeleter(d *secretstore.Deleter) { s.deleter = d }

// UseRotator gives the service what turns rotation on.
func (s *Service) UseRotator(r *rotation.Rotator) { s.rotator = r }

// UseIdempotencyRecords gives the service the records CreateFor keeps
// Idempotency-Keys in.
func (s *Service) UseIdempotencyRecords(records IdempotencyRecords) { s.records = records }

// NewService returns a service creating secrets in store under config.
func NewService(store *secretstore.Store, config Config) *Service {
	return &Service{store: store, config: config}
}

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
	// Replayed is set when an earlier attempt of the same request had
	// created the secret and this answer repeats it.
	Replayed bool `json:"-"`
}

// DatabaseUser is a database user the secret holds the credentials of;
// never its password.
type DatabaseUser struct {
	Username   string `json:"username"`
	Privileges string `json:"privileges"`
}

// Create validates r, generates its credentials and creates the secret.
// idempotencyKey, when not empty, makes retries of one request (a Lambda
// retry, a redelivered event, a repeated HTTP call) create one secret and
// answer the same: the key becomes the version's ClientRequestToken, and a
// generated username is derived from it.
func (s *Service) Create(ctx context.Context, r Request, idempotencyKey string) (Result, error) {
	in, username, err := s.build(r, idempotencyKey)
	if err != nil {
		return Result{}, err
	}
	return s.createBuilt(ctx, r, in, username)
}

// createBuilt calls CreateSecret with what build made, makes the database
// user when r asks for one,
// and then switches on its rotation.
func (s *Service) createBuilt(ctx context.Context, r Request, in *secretsmanager.CreateSecretInput, username string) (Result, error) {
	var result Result
	if r.CreateDatabaseUser {
		var err error
		if result, err = s.createWithUser(ctx, r, in, username); err != nil {
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
	return s.rotate(ctx, r, result, aws.ToString(in.ClientRequestToken))
}

// check validates r against the CreateSecret rules and the deployment's
// configuration, and returns the replicas it asks for (its own list or the
// defaults) and its kind.
func (s *Service) check(r Request) (Replicas, kind, error) {
	if err := validateName(r.Name); err != nil {
		return nil, 0, err
	}
	if !strings.HasPrefix(r.Name, s.config.NamePrefix) {
		return nil, 0, &errcode.Error{Code: errcode.Forbidden, Field: "name",
			Message: "must start with the configured prefix \"" + s.config.NamePrefix + "\""}
	}
	if n := utf8.RuneCountInString(r.Description); n > MaxDescriptionLength {
		return nil, 0, errcode.Invalidf("description", "must be at most %d characters, got %d", MaxDescriptionLength, n)
	}
	if err := validateKMSKey("kmsKeyId", r.KmsKeyID); err != nil {
		return nil, 0, err
	}
	if err := validateTags(r.Tags, len(r.ownTags())); err != nil {
		return nil, 0, err
	}
	replicas := s.replicasOf(r)
	if err := validateReplicas(replicas, s.config.Region); err != nil {
		return nil, 0, err
	}
	k, err := r.kind()
	return replicas, k, err
}

// mayNameMaster applies the grants to a database secret that names a
// master secret without making a user itself: a multi-user rotation
// function will make users with that master.
func (s *Service) mayNameMaster(r Request) error {
	if r.MasterSecretARN == "" || r.CreateDatabaseUser {
		return nil
	}
	return s.config.DatabaseUserGrants.AllowsMaster(r.Provenance.Caller, r.MasterSecretARN)
}

// replicasOf is the request's own replica list, or the defaults when it has
// none.
func (s *Service) replicasOf(r Request) Replicas {
	if r.ReplicaRegions == nil {
		return s.config.DefaultReplicas
	}
	return r.ReplicaRegions
}

// build checks everything the real service would check, then generates the
// secret value and the CreateSecret input. It returns the username, if any.
func (s *Service) build(r Request, idempotencyKey string) (*secretsmanager.CreateSecretInput, string, error) {
	replicas, kind, err := s.check(r)
	if err != nil {
		return nil, "", err
	}
	if _, err := s.rotationOf(r, kind); err != nil {
		return nil, "", err
	}
	in := &secretsmanager.CreateSecretInput{
		Name:                        aws.String(r.Name),
		ForceOverwriteReplicaSecret: bool(r.ForceOverwriteReplicaSecret),
		Tags:                        sdkTags(append(r.Tags[:len(r.Tags):len(r.Tags)], r.ownTags()...)),
		AddReplicaRegions:           sdkReplicas(replicas),
	}
	if token := secretstore.Token(idempotencyKey); token != "" {
		in.ClientRequestToken = aws.String(token)
	}
	if r.Description != "" {
		in.Description = aws.String(r.Description)
	}
	if r.KmsKeyID != "" {
		in.KmsKeyId = aws.String(r.KmsKeyID)
	}
	value, username, err := s.secretValue(r, kind, idempotencyKey, nil)
	if err != nil {
		return nil, "", err
	}
	if err := s.mayNameMaster(r); err != nil {
		return nil, "", err
	}
	if value.Binary != nil {
		in.SecretBinary = value.Binary
	} else {
		in.SecretString = aws.String(value.String)
	}
	return in, username, nil
}

func sdkTags(tags Tags) []types.Tag {
	var out []types.Tag
	for _, t := range tags {
		out = append(out, types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
	}
	return out
}

func sdkReplicas(replicas Replicas) []types.ReplicaRegionType {
	var out []types.ReplicaRegionType
	for _, rep := range replicas {
		rt := types.ReplicaRegionType{Region: aws.String(rep.Region)}
		if rep.KmsKeyID != "" {
			rt.KmsKeyId = aws.String(rep.KmsKeyID)
		}
		out = append(out, rt)
	}
	return out
}

// kept are the credentials an update keeps from the stored secret: a
// password changes only through rotation, never through a property change.
type kept struct {
	Username string
	Password string
	// Where a database user's secret points, kept when the request leaves
	// it to the master secret.
	Host   string
	Port   int
	DBName string
}

// secretValue returns the value r describes. On create (keep nil) it
// generates the password and, if none is given, the username; on update it
// shapes the new fields around the kept credentials. Either way the password
// policy is checked, so a template cannot carry an impossible one.
func (s *Service) secretValue(r Request, k kind, idempotencyKey string, keep *kept) (secretstore.Value, string, error) {
	switch k {
	case kindSupplied:
		if r.SecretString != "" {
			if len(r.SecretString) > MaxSecretBytes {
				return secretstore.Value{}, "", errcode.Invalidf("secretString", "must be at most %d bytes, got %d", MaxSecretBytes, len(r.SecretString))
			}
			return secretstore.Value{String: string(r.SecretString)}, "", nil
		}
		if len(r.SecretBinary) > MaxSecretBytes {
			return secretstore.Value{}, "", errcode.Invalidf("secretBinary", "must be at most %d bytes, got %d", MaxSecretBytes, len(r.SecretBinary))
		}
		return secretstore.Value{Binary: r.SecretBinary}, "", nil

	case kindTemplate:
		var template map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.SecretStringTemplate), &template); err != nil || template == nil {
			return secretstore.Value{}, "", errcode.Invalidf("secretStringTemplate", "must be a JSON object, as in CloudFormation's GenerateSecretString")
		}
		if _, taken := template[r.GenerateStringKey]; taken {
			return secretstore.Value{}, "", errcode.Invalidf("generateStringKey", "%s is already a key of secretStringTemplate", errcode.Quote(r.GenerateStringKey))
		}
		policy, _ := r.passwordPolicy()
		if err := policy.Check(); err != nil {
			return secretstore.Value{}, "", err
		}
		var password string
		if keep != nil {
			password = keep.Password
		} else {
			var err error
			if password, err = credential.Password(policy); err != nil {
				return secretstore.Value{}, "", err
			}
		}
		value, err := insertKey(r.SecretStringTemplate, r.GenerateStringKey, password)
		if err != nil {
			return secretstore.Value{}, "", err
		}
		return stringValue(value, "secretStringTemplate")

	default: // kindDatabase
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
		}
		if fields.Host == "" && r.CreateDatabaseUser {
			// The master's own database: an update keeps the stored one;
			// a create learns it from the master before the secret is made.
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
		var password string
		switch {
		case keep != nil:
			password = keep.Password
			if fields.Username == "" || isCloneOf(keep.Username, fields.Username) {
				// No username asked for, or the alternating-users rotation
				// has switched to the clone: the stored one is the live one.
				fields.Username = keep.Username
			}
		default:
			if fields.Username == "" {
				src := io.Reader(rand.Reader)
				if idempotencyKey != "" {
					src = keyedStream(idempotencyKey)
				}
				// Drawn again (from the same stream, so a retry draws the
				// same) while the name is one an engine reserves.
				gen := credential.NewGenerator(src)
				for fields.Username == "" || dbuser.Reserved(fields.Username) {
					if fields.Username, err = gen.Username(generatedUsernameLength); err != nil {
						return secretstore.Value{}, "", err
					}
				}
			}
			// Without requireEachIncludedType a policy that allows spaces
			// can draw nothing else; no database takes such a password.
			for tries := 0; tries == 0 || strings.Trim(password, " ") == "" && tries < 100; tries++ {
				if password, err = credential.Password(policy); err != nil {
					return secretstore.Value{}, "", err
				}
			}
		}
		value, err := engine.Shape(fields, password)
		if err != nil {
			return secretstore.Value{}, "", err
		}
		v, _, err := stringValue(string(value), "extraFields")
		return v, fields.Username, err
	}
}

// isCloneOf reports whether stored is the alternating-users clone of user
// (Oracle's templates upper-case the suffix).
func isCloneOf(stored, user string) bool {
	return user != "" && strings.EqualFold(stored, dbuser.CloneOf(user))
}

func stringValue(value, field string) (secretstore.Value, string, error) {
	if len(value) > MaxSecretBytes {
		return secretstore.Value{}, "", errcode.Invalidf(field, "makes the secret %d bytes; Secrets Manager stores at most %d", len(value), MaxSecretBytes)
	}
	return secretstore.Value{String: value}, "", nil
}

// insertKey adds "key": value as the last member of the JSON object template,
// keeping the template's own text and key order as the caller wrote it.
func insertKey(template, key, value string) (string, error) {
	body := strings.TrimRight(template, " \t\r\n")
	body = strings.TrimSuffix(body, "}")
	var buf bytes.Buffer
	buf.WriteString(body)
	if strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(body), "{")) != "" {
		buf.WriteByte(',')
	}
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(key); err != nil {
		return "", errcode.Wrap(err, errcode.Internal, "encoding the secret")
	}
	buf.Truncate(buf.Len() - 1)
	buf.WriteByte(':')
	if err := enc.Encode(value); err != nil {
		return "", errcode.Wrap(err, errcode.Internal, "encoding the secret")
	}
	buf.Truncate(buf.Len() - 1)
	buf.WriteByte('}')
	return buf.String(), nil
}

// keyedStream is an endless deterministic byte stream derived from an
// idempotency key. It feeds only username generation, so that a retry names
// the same user; passwords always come from crypto/rand.
func keyedStream(key string) io.Reader {
	return &hashStream{seed: sha256.Sum256([]byte("username\x00" + key))}
}

type hashStream struct {
	seed    [32]byte
	counter uint64
	block   []byte
}

func (h *hashStream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(h.block) == 0 {
			var buf [40]byte
			copy(buf[:], h.seed[:])
			binary.BigEndian.PutUint64(buf[32:], h.counter)
			h.counter++
			sum := sha256.Sum256(buf[:])
			h.block = sum[:]
		}
		c := copy(p[n:], h.block)
		h.block = h.block[c:]
		n += c
	}
	return n, nil
}
