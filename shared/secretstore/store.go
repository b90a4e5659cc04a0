// Package secretstore creates secrets in AWS Secrets Manager through the SDK,
// idempotently, and turns the SDK's errors into coded errors.
//
// It knows secrets, not requests: it imports nothing of the provisioner's
// but awsclient and errcode.
package secretstore

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// CreateSecretAPI and DescribeSecretAPI copy the SDK's method signatures so
// that tests can stand in for the client.
type CreateSecretAPI interface {
	CreateSecret(ctx context.Context, params *secretsmanager.CreateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
}

type DescribeSecretAPI interface {
	DescribeSecret(ctx context.Context, params *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

type ListSecretVersionIdsAPI interface {
	ListSecretVersionIds(ctx context.Context, params *secretsmanager.ListSecretVersionIdsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error)
}

// Client is the part of the Secrets Manager client the store uses.
type Client interface {
	CreateSecretAPI
	DescribeSecretAPI
	GetSecretValueAPI
	ListSecretVersionIdsAPI
}

// Store creates secrets.
type Store struct {
	client Client
}

// New returns a store that calls client, normally a *secretsmanager.Client
// built once at init.
func New(client Client) *Store {
	return &Store{client: client}
}

// ReplicaStatus is the state of one replica Region.
type ReplicaStatus struct {
	Region        string `json:"region"`
	KmsKeyID      string `json:"kmsKeyId,omitempty"`
	Status        string `json:"status"`
	StatusMessage string `json:"statusMessage,omitempty"`
}

// Created describes a secret and the version this request stored.
type Created struct {
	ARN       string
	Name      string
	VersionID string
	Replicas  []ReplicaStatus
	// Replayed is set when an earlier attempt of the same request had
	// created the secret.
	Replayed bool
}

// Create calls CreateSecret. When in carries a ClientRequestToken and the
// secret already exists holding a version with that token, an earlier attempt
// of the same request created it: Create answers with that secret instead of
// an error. A retry generates a new password, so Secrets Manager cannot tell
// the two attempts apart by value; the token is what links them.
func (s *Store) Create(ctx context.Context, in *secretsmanager.CreateSecretInput) (Created, error) {
	out, err := s.client.CreateSecret(ctx, in)
	if err == nil {
		return Created{
			ARN:       aws.ToString(out.ARN),
			Name:      aws.ToString(out.Name),
			VersionID: aws.ToString(out.VersionId),
			Replicas:  replicas(out.ReplicationStatus),
		}, nil
	}
	var exists *types.ResourceExistsException
	var invalidRequest *types.InvalidRequestException
	if !errors.As(err, &exists) && !errors.As(err, &invalidRequest) {
		return Created{}, Classify(err)
	}
	// Both errors can mean the name is taken: look at who holds it.
	desc, derr := s.client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: in.Name})
	if derr != nil {
		var notFound *types.ResourceNotFoundException
		if errors.As(derr, &notFound) {
			return Created{}, Classify(err)
		}
		return Created{}, Classify(derr)
	}
	if desc.DeletedDate != nil {
		return Created{}, &errcode.Error{Code: errcode.Conflict, Field: "name", Err: err,
			Message: fmt.Sprintf("secret %q is scheduled for deletion; restore it or choose another name", aws.ToString(in.Name))}
	}
	token := aws.ToString(in.ClientRequestToken)
	if _, ours := desc.VersionIdsToStages[token]; token != "" && ours && sameRequester(in.Tags, desc.Tags) {
		return Created{
			ARN:       aws.ToString(desc.ARN),
			Name:      aws.ToString(desc.Name),
			VersionID: token,
			Replicas:  replicas(desc.ReplicationStatus),
			Replayed:  true,
		}, nil
	}
	if exists != nil {
		return Created{}, &errcode.Error{Code: errcode.Conflict, Field: "name", Err: err,
			Message: fmt.Sprintf("secret %q already exists and was not created by this request", aws.ToString(in.Name))}
	}
	return Created{}, Classify(err)
}

// provenancePrefix begins the tags that say who had a secret made, which
// only the functions write (callers may not use it, in any letter case).
const provenancePrefix = "provisioned-"

// sameRequester reports whether an existing secret carries the
// provenance tags the request would give it: a secret that holds the
// request's version token is its earlier attempt only if the same
// requester, through the same trigger, made it. A token is a hash of what
// a requester chose; whoever can put a version of its choosing into a
// secret (another trigger's Update) must not make it another's replay.
func sameRequester(want, have []types.Tag) bool {
	existing := map[string]string{}
	for _, t := range have {
		existing[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	for _, t := range want {
		key := aws.ToString(t.Key)
		if strings.HasPrefix(key, provenancePrefix) {
			if v, ok := existing[key]; !ok || v != aws.ToString(t.Value) {
				return false
			}
		}
	}
	return true
}

// Describe returns a secret's metadata; a missing secret is ErrNotFound.
func (s *Store) Describe(ctx context.Context, id string) (Secret, error) {
	return describe(ctx, s.client, id)
}

// CurrentValue reads a secret's AWSCURRENT version.
func (s *Store) CurrentValue(ctx context.Context, id string) (Value, error) {
	return currentValue(ctx, s.client, id)
}

// Master is what a master secret holds: RDS-managed ones only the
// username and password, others the whole connection.
type Master struct {
	Username string      `json:"username"`
	Password string      `json:"password"`
	Host     string      `json:"host"`
	Port     json.Number `json:"port"`
	DBName   string      `json:"dbname"`
}

// MasterCredentials reads the master user's credentials from its secret.
// The value is never part of an error.
func (s *Store) MasterCredentials(ctx context.Context, arn string) (Master, error) {
	v, err := currentValue(ctx, s.client, arn)
	if err != nil {
		if errcode.Of(err) == errcode.NotFound {
			return Master{}, &errcode.Error{Code: errcode.Invalid, Field: "masterSecretArn", Err: err, Message: "the master secret does not exist"}
		}
		return Master{}, err
	}
	var m Master
	if json.Unmarshal([]byte(v.String), &m) != nil || m.Username == "" || m.Password == "" {
		return Master{}, errcode.Invalidf("masterSecretArn", "the master secret must be a JSON object with username and password, as RDS keeps it")
	}
	return m, nil
}

func replicas(in []types.ReplicationStatusType) []ReplicaStatus {
	out := make([]ReplicaStatus, 0, len(in))
	for _, r := range in {
		out = append(out, ReplicaStatus{
			Region:        aws.ToString(r.Region),
			KmsKeyID:      aws.ToString(r.KmsKeyId),
			Status:        string(r.Status),
			StatusMessage: aws.ToString(r.StatusMessage),
		})
	}
	return out
}

// tokenNamespace makes our tokens differ from any other UUIDv5 of the same key.
var tokenNamespace = [16]byte{0x6d, 0x1c, 0x2b, 0x7e, 0x93, 0x4f, 0x4a, 0x0c, 0x8e, 0x21, 0x5b, 0xd4, 0x0f, 0x77, 0xa3, 0x19}

// Token derives a ClientRequestToken from a caller's idempotency key (a
// CloudFormation request id, an EventBridge event id, an HTTP
// Idempotency-Key): a name-based UUID (version 5), 36 characters, within the
// service's 32-64, the same for the same key. An empty key gives "", which
// lets the SDK pick a random token.
func Token(key string) string {
	if key == "" {
		return ""
	}
	h := sha1.New()
	h.Write(tokenNamespace[:])
	h.Write([]byte(key))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// VersionCreated is when a version of the secret was made; the zero time
// when the secret holds no such version.
func (s *Store) VersionCreated(ctx context.Context, id, version string) (time.Time, error) {
	in := &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(id)}
	for {
		out, err := s.client.ListSecretVersionIds(ctx, in)
		if err != nil {
			return time.Time{}, Classify(err)
		}
		for _, v := range out.Versions {
			if aws.ToString(v.VersionId) == version {
				return aws.ToTime(v.CreatedDate), nil
			}
		}
		// The end: no token, an empty one (as moto answers), or one seen.
		next := aws.ToString(out.NextToken)
		if next == "" || next == aws.ToString(in.NextToken) {
			return time.Time{}, nil
		}
		in.NextToken = out.NextToken
	}
}
