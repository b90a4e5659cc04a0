package secretstore

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// The operations on an existing secret, each copying the SDK's signature.
type (
	GetSecretValueAPI interface {
		GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	}
	PutSecretValueAPI interface {
		PutSecretValue(ctx context.Context, params *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	}
	UpdateSecretAPI interface {
		UpdateSecret(ctx context.Context, params *secretsmanager.UpdateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretOutput, error)
	}
	TagResourceAPI interface {
		TagResource(ctx context.Context, params *secretsmanager.TagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
	}
	UntagResourceAPI interface {
		UntagResource(ctx context.Context, params *secretsmanager.UntagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UntagResourceOutput, error)
	}
	ReplicateSecretToRegionsAPI interface {
		ReplicateSecretToRegions(ctx context.Context, params *secretsmanager.ReplicateSecretToRegionsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ReplicateSecretToRegionsOutput, error)
	}
	RemoveRegionsFromReplicationAPI interface {
		RemoveRegionsFromReplication(ctx context.Context, params *secretsmanager.RemoveRegionsFromReplicationInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.RemoveRegionsFromReplicationOutput, error)
	}
	DeleteSecretAPI interface {
		DeleteSecret(ctx context.Context, params *secretsmanager.DeleteSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
	}
)

// ManagerClient is the part of the client that updates and deletes secrets.
// Only the custom-resource function builds one, so the other functions do
// not carry these operations.
type ManagerClient interface {
	DescribeSecretAPI
	GetSecretValueAPI
	PutSecretValueAPI
	UpdateSecretAPI
	TagResourceAPI
	UntagResourceAPI
	ReplicateSecretToRegionsAPI
	RemoveRegionsFromReplicationAPI
	DeleteSecretAPI
}

// Manager reads, changes and deletes existing secrets. Every error is
// classified into a coded error.
type Manager struct {
	client ManagerClient
	*Deleter
}

// NewManager returns a manager calling client, built once at init.
func NewManager(client ManagerClient) *Manager {
	return &Manager{client: client, Deleter: NewDeleter(client)}
}

// DeleterClient is the part of the client that deletes secrets: all the
// HTTP API's DELETE needs, so that its function links no other operation.
type DeleterClient interface {
	RemoveRegionsFromReplicationAPI
	DeleteSecretAPI
}

// Deleter removes replicas and deletes secrets.
type Deleter struct {
	client DeleterClient
}

// NewDeleter returns a deleter calling client, built once at init.
func NewDeleter(client DeleterClient) *Deleter { return &Deleter{client: client} }

// Secret is an existing secret's metadata.
type Secret struct {
	ARN             string
	Name            string
	Description     string
	KmsKeyID        string
	Tags            map[string]string
	Replicas        []ReplicaStatus
	CurrentVersion  string
	Versions        map[string]bool // every version id it holds
	PrimaryRegion   string
	CreatedDate     *time.Time
	LastChangedDate *time.Time
	DeletedDate     *time.Time
	Deleted         bool // scheduled for deletion

	RotationEnabled   bool
	RotationLambdaARN string
	RotationRules     *types.RotationRulesType
	NextRotationDate  *time.Time
	LastRotatedDate   *time.Time
	// Pending is the version staged AWSPENDING but not AWSCURRENT, if any:
	// a rotation under way, or one that failed and blocks the next.
	Pending string
}

// ErrNotFound is returned (wrapped) when the secret does not exist.
var ErrNotFound = errors.New("secret not found")

// Describe returns the secret's metadata; a missing secret is ErrNotFound.
func (m *Manager) Describe(ctx context.Context, id string) (Secret, error) {
	return describe(ctx, m.client, id)
}

// Describe describes the secret id through client; a missing secret is
// ErrNotFound.
func Describe(ctx context.Context, client DescribeSecretAPI, id string) (Secret, error) {
	return describe(ctx, client, id)
}

func describe(ctx context.Context, client DescribeSecretAPI, id string) (Secret, error) {
	out, err := client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		var notFound *types.ResourceNotFoundException
		if errors.As(err, &notFound) {
			return Secret{}, ErrNotFound
		}
		return Secret{}, Classify(err)
	}
	s := Secret{
		ARN:             aws.ToString(out.ARN),
		Name:            aws.ToString(out.Name),
		Description:     aws.ToString(out.Description),
		KmsKeyID:        aws.ToString(out.KmsKeyId),
		Tags:            make(map[string]string, len(out.Tags)),
		Replicas:        replicas(out.ReplicationStatus),
		PrimaryRegion:   aws.ToString(out.PrimaryRegion),
		CreatedDate:     out.CreatedDate,
		LastChangedDate: out.LastChangedDate,
		DeletedDate:     out.DeletedDate,
		Deleted:         out.DeletedDate != nil,

		RotationEnabled:   aws.ToBool(out.RotationEnabled),
		RotationLambdaARN: aws.ToString(out.RotationLambdaARN),
		RotationRules:     out.RotationRules,
		NextRotationDate:  out.NextRotationDate,
		LastRotatedDate:   out.LastRotatedDate,
	}
	for _, t := range out.Tags {
		s.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	s.Versions = make(map[string]bool, len(out.VersionIdsToStages))
	for version, stages := range out.VersionIdsToStages {
		s.Versions[version] = true
		if slices.Contains(stages, "AWSCURRENT") {
			s.CurrentVersion = version
		} else if slices.Contains(stages, "AWSPENDING") {
			s.Pending = version
		}
	}
	return s, nil
}

// Value is a secret version's value: a string or bytes.
type Value struct {
	String    string
	Binary    []byte
	VersionID string
}

// CurrentValue reads the AWSCURRENT version.
func (m *Manager) CurrentValue(ctx context.Context, id string) (Value, error) {
	return currentValue(ctx, m.client, id)
}

func currentValue(ctx context.Context, client GetSecretValueAPI, id string) (Value, error) {
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return Value{}, Classify(err)
	}
	return Value{String: aws.ToString(out.SecretString), Binary: out.SecretBinary, VersionID: aws.ToString(out.VersionId)}, nil
}

// PutValue stores a new current version. The token makes a retry of the
// same request with the same value a no-op.
func (m *Manager) PutValue(ctx context.Context, id, token string, v Value) (string, error) {
	in := &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretBinary: v.Binary}
	if v.Binary == nil {
		in.SecretString = aws.String(v.String)
	}
	if token != "" {
		in.ClientRequestToken = aws.String(token)
	}
	out, err := m.client.PutSecretValue(ctx, in)
	if err != nil {
		return "", Classify(err)
	}
	return aws.ToString(out.VersionId), nil
}

// UpdateMetadata changes the description and the KMS key; nil leaves one as
// it is.
func (m *Manager) UpdateMetadata(ctx context.Context, id string, description, kmsKeyID *string) error {
	if description == nil && kmsKeyID == nil {
		return nil
	}
	_, err := m.client.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String(id), Description: description, KmsKeyId: kmsKeyID})
	return Classify(err)
}

// Tag adds or overwrites tags.
func (m *Manager) Tag(ctx context.Context, id string, tags []types.Tag) error {
	if len(tags) == 0 {
		return nil
	}
	_, err := m.client.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(id), Tags: tags})
	return Classify(err)
}

// Untag removes tags by key.
func (m *Manager) Untag(ctx context.Context, id string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := m.client.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String(id), TagKeys: keys})
	return Classify(err)
}

// Replicate adds replica Regions.
func (m *Manager) Replicate(ctx context.Context, id string, regions []types.ReplicaRegionType, forceOverwrite bool) error {
	if len(regions) == 0 {
		return nil
	}
	_, err := m.client.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId: aws.String(id), AddReplicaRegions: regions, ForceOverwriteReplicaSecret: forceOverwrite,
	})
	return Classify(err)
}

// RemoveReplicas deletes the replicas in regions.
func (m *Deleter) RemoveReplicas(ctx context.Context, id string, regions []string) error {
	if len(regions) == 0 {
		return nil
	}
	_, err := m.client.RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{
		SecretId: aws.String(id), RemoveReplicaRegions: regions,
	})
	return Classify(err)
}

// Delete schedules the secret's deletion after recoveryDays, or deletes it
// at once when force is set, and returns when it goes.
func (m *Deleter) Delete(ctx context.Context, id string, recoveryDays int, force bool) (time.Time, error) {
	in := &secretsmanager.DeleteSecretInput{SecretId: aws.String(id)}
	if force {
		in.ForceDeleteWithoutRecovery = aws.Bool(true)
	} else {
		in.RecoveryWindowInDays = aws.Int64(int64(recoveryDays))
	}
	out, err := m.client.DeleteSecret(ctx, in)
	if err != nil {
		return time.Time{}, Classify(err)
	}
	return aws.ToTime(out.DeletionDate), nil
}
