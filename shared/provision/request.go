package provision

import (
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/secretspec"
)

// Request is what every trigger asks for: one secret, described by the same
// fields whether they arrive as CloudFormation properties (PascalCase, every
// value a string), an HTTP body or an EventBridge detail (camelCase). Decode
// it with DecodeRequest.
type Request struct {
	Name                        string              `json:"name"`
	Description                 string              `json:"description"`
	KmsKeyID                    string              `json:"kmsKeyId"`
	Tags                        secretspec.Tags     `json:"tags"`
	ReplicaRegions              secretspec.Replicas `json:"replicaRegions"`
	ForceOverwriteReplicaSecret props.Bool          `json:"forceOverwriteReplicaSecret"`
	// Readers are the IAM principals that may read the secret: its
	// resource policy, and a KMS grant each on a customer managed key.
	Readers props.Strings `json:"readers"`

	// A database secret, shaped for the engine's rotation function.
	Engine               string                     `json:"engine"`
	Host                 string                     `json:"host"`
	Port                 *props.Int                 `json:"port"`
	DBName               string                     `json:"dbname"`
	Username             string                     `json:"username"`
	MasterSecretARN      string                     `json:"masterSecretArn"`
	SSL                  *props.Bool                `json:"ssl"`
	DBInstanceIdentifier string                     `json:"dbInstanceIdentifier"`
	DBClusterIdentifier  string                     `json:"dbClusterIdentifier"`
	ExtraFields          map[string]json.RawMessage `json:"extraFields"`

	// The database user the secret is for, made with it (PostgreSQL,
	// MySQL, MariaDB and their Aurora kinds) by the master user.
	CreateDatabaseUser props.Bool    `json:"createDatabaseUser"`
	Privileges         string        `json:"privileges"`
	Schemas            props.Strings `json:"schemas"`
	MemberOf           props.Strings `json:"memberOf"`

	// Rotation, switched on once the secret (and its user) exists, as
	// RotateSecret: the function (else the deployment's default for the
	// engine), the rules (else the deployment's), and whether to rotate at
	// once (else at the first window). rotationEnabled false opts out.
	RotationEnabled   *props.Bool    `json:"rotationEnabled"`
	RotationLambdaARN string         `json:"rotationLambdaArn"`
	RotationRules     *RotationRules `json:"rotationRules"`
	RotateImmediately *props.Bool    `json:"rotateImmediately"`

	// Any other secret: a template with a generated key, as CloudFormation's
	// GenerateSecretString, or a value the caller supplies.
	SecretStringTemplate string          `json:"secretStringTemplate"`
	GenerateStringKey    string          `json:"generateStringKey"`
	SecretString         props.Sensitive `json:"secretString"`
	SecretBinary         props.Binary    `json:"secretBinary"`

	// Expiry: the credential removes itself (database user, replicas,
	// secret) after expiresAfter (ISO 8601) or at expiresAt (RFC 3339),
	// recoverable for 7 days unless forceDeleteOnExpiry. Not for stacks.
	ExpiresAfter        string     `json:"expiresAfter"`
	ExpiresAt           string     `json:"expiresAt"`
	ForceDeleteOnExpiry props.Bool `json:"forceDeleteOnExpiry"`

	// The password policy, as Secrets Manager GetRandomPassword.
	PasswordLength          *props.Int  `json:"passwordLength"`
	ExcludeCharacters       string      `json:"excludeCharacters"`
	ExcludeNumbers          props.Bool  `json:"excludeNumbers"`
	ExcludePunctuation      props.Bool  `json:"excludePunctuation"`
	ExcludeUppercase        props.Bool  `json:"excludeUppercase"`
	ExcludeLowercase        props.Bool  `json:"excludeLowercase"`
	IncludeSpace            props.Bool  `json:"includeSpace"`
	RequireEachIncludedType *props.Bool `json:"requireEachIncludedType"`

	// Provenance is set by the trigger, never decoded: who asked and through
	// what, added to the caller's tags.
	Provenance Provenance `json:"-"`
}

// RotationRules are RotateSecret's RotationRules.
type RotationRules struct {
	AutomaticallyAfterDays *props.Int `json:"automaticallyAfterDays"`
	ScheduleExpression     string     `json:"scheduleExpression"`
	Duration               string     `json:"duration"`
}

// Provenance says who had a secret created and through which trigger. It is
// stored as the tags provisioned-by and provisioned-via.
type Provenance struct {
	By  string
	Via string
	// Caller is who asked, as the deployment's database-user grants name
	// callers; not stored.
	Caller dbgrants.Caller
}

// Tag keys the provisioner sets itself. idempotency-key is no longer set
// (Idempotency-Keys live in their own table) but stays reserved: secrets
// made before carry it.
const (
	TagProvisionedBy  = "provisioned-by"
	TagProvisionedVia = "provisioned-via"
	TagIdempotencyKey = "idempotency-key"
	// TagDatabaseUser marks a secret whose database user this provisioner
	// made, so that deleting it through the API drops that user first.
	TagDatabaseUser = "provisioned-database-user"
	// TagReaders marks a secret the provisioner gave readers, whose KMS
	// grants an update or delete then retires.
	TagReaders = "provisioned-readers"
	// TagEngine is a database secret's engine, for its rotation outcomes'
	// metrics (rotationhealth).
	TagEngine = "provisioned-engine"
)

// ownTags are the tags the provisioner adds to r's secret: provenance, and
// the mark of a database user it makes.
func (r Request) ownTags() secretspec.Tags {
	tags := r.Provenance.tags()
	if r.CreateDatabaseUser {
		tags = append(tags, secretspec.Tag{Key: TagDatabaseUser, Value: "true"})
	}
	if len(r.Readers) > 0 {
		tags = append(tags, secretspec.Tag{Key: TagReaders, Value: "true"})
	}
	return tags
}

// createTags are the tags a new secret gets: the caller's, the
// provisioner's own and, where the 50 leave room, a database secret's
// engine (rotation health's Engine dimension; "unknown" without it), which
// so never takes a tag from the caller.
func (r Request) createTags() secretspec.Tags {
	tags := append(r.Tags[:len(r.Tags):len(r.Tags)], r.ownTags()...)
	if r.Engine != "" && len(tags) < secretspec.MaxTags {
		tags = append(tags, secretspec.Tag{Key: TagEngine, Value: truncateRunes(strings.ToLower(r.Engine), secretspec.MaxTagValueLength)})
	}
	return tags
}

// Made reports whether a secret's tags name p (and p names someone): the
// secret is the one p's requester made. Update and Delete act on nothing
// else.
func (p Provenance) Made(tags map[string]string) bool {
	return p.By != "" && p.Via != "" &&
		tags[TagProvisionedBy] == truncateRunes(p.By, secretspec.MaxTagValueLength) &&
		tags[TagProvisionedVia] == p.Via
}

// tags are the provenance tags to add; values longer than a tag allows are
// cut, which keeps them readable and still matching on every request.
func (p Provenance) tags() secretspec.Tags {
	var out secretspec.Tags
	if p.By != "" {
		out = append(out, secretspec.Tag{Key: TagProvisionedBy, Value: truncateRunes(p.By, secretspec.MaxTagValueLength)})
	}
	if p.Via != "" {
		out = append(out, secretspec.Tag{Key: TagProvisionedVia, Value: truncateRunes(p.Via, secretspec.MaxTagValueLength)})
	}
	return out
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// LogValue keeps a request's secret parts out of every log line.
func (r Request) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", errcode.Clip(r.Name)),
		slog.String("engine", errcode.Clip(r.Engine)),
		slog.String("host", errcode.Clip(r.Host)),
		slog.Int("replicaRegions", len(r.ReplicaRegions)),
		slog.Int("tags", len(r.Tags)),
	)
}

// IsReservedTag reports whether key is one of the provisioner's own tags,
// in any letter case: "Provisioned-By" beside "provisioned-by" would confuse
// every reader of the provenance, human or IAM condition.
func IsReservedTag(key string) bool {
	return strings.EqualFold(key, TagProvisionedBy) || strings.EqualFold(key, TagProvisionedVia) || strings.EqualFold(key, TagIdempotencyKey) || strings.EqualFold(key, TagDatabaseUser) || strings.EqualFold(key, TagReaders) || strings.EqualFold(key, TagEngine)
}

// DecodeRequest parses a request object. Field names match case-insensitively
// (CloudFormation's "DbName" and the API's "dbname" are one field), numbers
// and booleans may be strings, null and an empty string for a number or
// boolean mean "not given", and an unknown field, a field given twice in
// different cases, or a value of the wrong type is an Invalid error naming the
// field.
func DecodeRequest(data []byte) (Request, error) {
	var r Request
	if err := props.DecodeFields(data, &r, nil); err != nil {
		return Request{}, err
	}
	return r, nil
}
