package provision

import (
	"encoding/json"
	"log/slog"
	"sort"

	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/props"
)

// Request is what every trigger asks for: one secret, described by the same
// fields whether they arrive as CloudFormation properties (PascalCase, every
// value a string), an HTTP body or an EventBridge detail (camelCase). Decode
// it with DecodeRequest.
type Request struct {
	Name                        string     `json:"name"`
	Description                 string     `json:"description"`
	KmsKeyID                    string     `json:"kmsKeyId"`
	Tags                        Tags       `json:"tags"`
	ReplicaRegions              Replicas   `json:"replicaRegions"`
	ForceOverwriteReplicaSecret props.Bool `json:"forceOverwriteReplicaSecret"`

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
)

// ownTags are the tags the provisioner adds to r's secret: provenance, and
// the mark of a database user it makes.
func (r Request) ownTags() Tags {
	tags := r.Provenance.tags()
	if r.CreateDatabaseUser {
		tags = append(tags, Tag{Key: TagDatabaseUser, Value: "true"})
	}
	return tags
}

// tags are the provenance tags to add; values longer than a tag allows are
// cut, which keeps them readable and still matching on every request.
func (p Provenance) tags() Tags {
	var out Tags
	if p.By != "" {
		out = append(out, Tag{Key: TagProvisionedBy, Value: truncateRunes(p.By, MaxTagValueLength)})
	}
	if p.Via != "" {
		out = append(out, Tag{Key: TagProvisionedVia, Value: truncateRunes(p.Via, MaxTagValueLength)})
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

// Tag is a secret tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Tags accepts a list of {key, value} or an object of key to value.
type Tags []Tag

// Replica is a Region to replicate the secret to, with its KMS key.
type Replica struct {
	Region   string `json:"region"`
	KmsKeyID string `json:"kmsKeyId"`
}

// Replicas accepts a list of {region, kmsKeyId} or of plain Region names.
type Replicas []Replica

// DecodeJSON accepts a list of {key, value} or an object of key to value.
func (t *Tags) DecodeJSON(raw []byte, field string) error {
	if raw[0] != '{' {
		return props.DecodeList(raw, field, "a list of {key, value} or an object of key to value", func(item []byte, path string) error {
			var tag Tag
			if err := props.DecodeStruct(&tag, item, path); err != nil {
				return err
			}
			*t = append(*t, tag)
			return nil
		})
	}
	*t = Tags{}
	err := props.Members(raw, func(k string, value []byte) error {
		var v string // null is an empty value, as in the list form
		if string(value) != "null" {
			if err := props.DecodeString(&v, value, field+"."+errcode.Clip(k)); err != nil {
				return err
			}
		}
		*t = append(*t, Tag{Key: k, Value: v})
		return nil
	})
	sort.Slice(*t, func(i, j int) bool { return (*t)[i].Key < (*t)[j].Key })
	return err
}

// DecodeJSON accepts a list of Region names or of {region, kmsKeyId}.
func (rs *Replicas) DecodeJSON(raw []byte, field string) error {
	*rs = Replicas{}
	return props.DecodeList(raw, field, "a list of Region names or of {region, kmsKeyId}", func(item []byte, path string) error {
		var r Replica
		if item[0] == '"' {
			if err := props.DecodeString(&r.Region, item, path); err != nil {
				return err
			}
		} else if err := props.DecodeStruct(&r, item, path); err != nil {
			return err
		}
		*rs = append(*rs, r)
		return nil
	})
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
