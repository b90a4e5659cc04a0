package provision

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// Request is what every trigger asks for: one secret, described by the same
// fields whether they arrive as CloudFormation properties (PascalCase, every
// value a string), an HTTP body or an EventBridge detail (camelCase). Decode
// it with DecodeRequest.
type Request struct {
	Name                        string   `json:"name"`
	Description                 string   `json:"description"`
	KmsKeyID                    string   `json:"kmsKeyId"`
	Tags                        Tags     `json:"tags"`
	ReplicaRegions              Replicas `json:"replicaRegions"`
	ForceOverwriteReplicaSecret Bool     `json:"forceOverwriteReplicaSecret"`

	// A database secret, shaped for the engine's rotation function.
	Engine               string                     `json:"engine"`
	Host                 string                     `json:"host"`
	Port                 *Int                       `json:"port"`
	DBName               string                     `json:"dbname"`
	Username             string                     `json:"username"`
	MasterSecretARN      string                     `json:"masterSecretArn"`
	SSL                  *Bool                      `json:"ssl"`
	DBInstanceIdentifier string                     `json:"dbInstanceIdentifier"`
	DBClusterIdentifier  string                     `json:"dbClusterIdentifier"`
	ExtraFields          map[string]json.RawMessage `json:"extraFields"`

	// The database user the secret is for, made with it (PostgreSQL,
	// MySQL, MariaDB and their Aurora kinds) by the master user.
	CreateDatabaseUser Bool    `json:"createDatabaseUser"`
	Privileges         string  `json:"privileges"`
	Schemas            Strings `json:"schemas"`

	// Rotation, switched on once the secret (and its user) exists, as
	// RotateSecret: the function (else the deployment's default for the
	// engine), the rules (else the deployment's), and whether to rotate at
	// once (else at the first window). rotationEnabled false opts out.
	RotationEnabled   *Bool          `json:"rotationEnabled"`
	RotationLambdaARN string         `json:"rotationLambdaArn"`
	RotationRules     *RotationRules `json:"rotationRules"`
	RotateImmediately *Bool          `json:"rotateImmediately"`

	// Any other secret: a template with a generated key, as CloudFormation's
	// GenerateSecretString, or a value the caller supplies.
	SecretStringTemplate string    `json:"secretStringTemplate"`
	GenerateStringKey    string    `json:"generateStringKey"`
	SecretString         Sensitive `json:"secretString"`
	SecretBinary         Binary    `json:"secretBinary"`

	// The password policy, as Secrets Manager GetRandomPassword.
	PasswordLength          *Int   `json:"passwordLength"`
	ExcludeCharacters       string `json:"excludeCharacters"`
	ExcludeNumbers          Bool   `json:"excludeNumbers"`
	ExcludePunctuation      Bool   `json:"excludePunctuation"`
	ExcludeUppercase        Bool   `json:"excludeUppercase"`
	ExcludeLowercase        Bool   `json:"excludeLowercase"`
	IncludeSpace            Bool   `json:"includeSpace"`
	RequireEachIncludedType *Bool  `json:"requireEachIncludedType"`

	// Provenance is set by the trigger, never decoded: who asked and through
	// what, added to the caller's tags.
	Provenance Provenance `json:"-"`
}

// RotationRules are RotateSecret's RotationRules.
type RotationRules struct {
	AutomaticallyAfterDays *Int   `json:"automaticallyAfterDays"`
	ScheduleExpression     string `json:"scheduleExpression"`
	Duration               string `json:"duration"`
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

// Strings is a list of strings.
type Strings []string

func (ss *Strings) decodeJSON(raw []byte, field string) error {
	*ss = Strings{}
	return decodeList(raw, field, "a list of strings", func(item []byte, path string) error {
		var s string
		if err := decodeString(&s, item, path); err != nil {
			return err
		}
		*ss = append(*ss, s)
		return nil
	})
}

// Int accepts 5432 and "5432": CloudFormation passes every value as a string.
type Int int

// Bool accepts true and "true", in any letter case, for the same reason.
type Bool bool

// Sensitive is a secret string. It prints as [redacted] through fmt and slog
// so that logging a request by mistake cannot show it.
type Sensitive string

func (Sensitive) String() string       { return "[redacted]" }
func (Sensitive) GoString() string     { return "[redacted]" }
func (Sensitive) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Binary is secret bytes, given base64-encoded, and redacted like Sensitive.
type Binary []byte

func (Binary) String() string       { return "[redacted]" }
func (Binary) GoString() string     { return "[redacted]" }
func (Binary) LogValue() slog.Value { return slog.StringValue("[redacted]") }

func (i *Int) decodeJSON(raw []byte, field string) error {
	text := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return errcode.Invalidf(field, "must be a whole number")
		}
	} else if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return errcode.Invalidf(field, "must be a whole number, or a string holding one")
	}
	n, err := strconv.ParseInt(text, 10, 32)
	if errors.Is(err, strconv.ErrRange) {
		return errcode.Invalidf(field, "is out of range")
	}
	if err != nil {
		return errcode.Invalidf(field, "must be a whole number, got %q", truncate(text, 20))
	}
	*i = Int(n)
	return nil
}

func (b *Bool) decodeJSON(raw []byte, field string) error {
	text := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return errcode.Invalidf(field, "must be true or false")
		}
	}
	switch strings.ToLower(text) {
	case "true":
		*b = true
	case "false":
		*b = false
	default:
		return errcode.Invalidf(field, "must be true or false, or a string holding one")
	}
	return nil
}

func (s *Binary) decodeJSON(raw []byte, field string) error {
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		return errcode.Invalidf(field, "must be a base64-encoded string")
	}
	if text == "" {
		return errcode.Invalidf(field, "must not be empty: give the secret's bytes, base64-encoded")
	}
	data, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return errcode.Invalidf(field, "must be a base64-encoded string")
	}
	*s = data
	return nil
}

func (t *Tags) decodeJSON(raw []byte, field string) error {
	if raw[0] != '{' {
		return decodeList(raw, field, "a list of {key, value} or an object of key to value", func(item []byte, path string) error {
			var tag Tag
			if err := decodeStruct(&tag, item, path); err != nil {
				return err
			}
			*t = append(*t, tag)
			return nil
		})
	}
	*t = Tags{}
	err := members(raw, func(k string, value []byte) error {
		var v string // null is an empty value, as in the list form
		if string(value) != "null" {
			if err := decodeString(&v, value, field+"."+errcode.Clip(k)); err != nil {
				return err
			}
		}
		*t = append(*t, Tag{Key: k, Value: v})
		return nil
	})
	sort.Slice(*t, func(i, j int) bool { return (*t)[i].Key < (*t)[j].Key })
	return err
}

func (rs *Replicas) decodeJSON(raw []byte, field string) error {
	*rs = Replicas{}
	return decodeList(raw, field, "a list of Region names or of {region, kmsKeyId}", func(item []byte, path string) error {
		var r Replica
		if item[0] == '"' {
			if err := decodeString(&r.Region, item, path); err != nil {
				return err
			}
		} else if err := decodeStruct(&r, item, path); err != nil {
			return err
		}
		*rs = append(*rs, r)
		return nil
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
