package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// Caller is who calls the API, as its authorizer established it.
type Caller struct {
	// ID is the IAM principal ARN, or "jwt:" and the token's subject.
	ID string
	// IAMName is the role (or user) name of an IAM caller.
	IAMName string
	// Claims are a JWT caller's claims.
	Claims map[string]string
}

// isScope reports whether s can be a name segment of its own: 1-64 of
// A-Z a-z 0-9 _+=.@-, not starting with a dot (so never "." or "..").
func isScope(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || !awsname.IsSecretNameByte(s[i]) {
			return false
		}
	}
	return true
}

// ScopeFor is the prefix the caller's secret names must start with: the
// configured prefix, and under CALLER_SCOPE the caller's own sub-prefix.
// A caller without an identity, or whose identity names no usable scope, is
// refused.
func (s *Service) ScopeFor(c Caller) (string, error) {
	if c.ID == "" {
		return "", errcode.New(errcode.Unauthenticated, "the request carries no caller identity")
	}
	var scope, source string
	switch s.config.CallerScope {
	case ScopeIAMRole:
		scope, source = c.IAMName, "IAM role name"
	case ScopeJWTClaim:
		scope, source = c.Claims[s.config.CallerScopeClaim], "JWT claim "+s.config.CallerScopeClaim
	default:
		return s.config.NamePrefix, nil
	}
	if !isScope(scope) {
		return "", errcode.New(errcode.Forbidden, "the caller's %s does not name a usable scope (1-64 of A-Z a-z 0-9 _+=.@-)", source)
	}
	return s.config.NamePrefix + scope + "/", nil
}

// confine checks that name lies inside the caller's scope. The name has
// passed the name rules, so it is ASCII with no "." or ".." segments: a
// byte-wise, case-sensitive prefix is the whole check.
func (s *Service) confine(c Caller, name string) error {
	scope, err := s.ScopeFor(c)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(name, scope) {
		return &errcode.Error{Code: errcode.Forbidden, Field: "name", Message: "must start with \"" + scope + "\", the prefix this caller may use"}
	}
	return nil
}

// IdempotencyKey is an API caller's Idempotency-Key with a fingerprint of
// the request it came with.
type IdempotencyKey struct {
	Key         string
	Fingerprint string
}

// CreateFor creates r for an API caller: inside the caller's scope, tagged
// with who asked and through what, and, with a key, at most once per caller
// and key. Repeating the key with the same request answers as the first time
// (Result.Replayed); with another request it is a conflict.
func (s *Service) CreateFor(ctx context.Context, c Caller, via string, r Request, key IdempotencyKey) (Result, error) {
	if err := validateName(r.Name); err != nil {
		return Result{}, err
	}
	if err := s.confine(c, r.Name); err != nil {
		return Result{}, err
	}
	r.Provenance = Provenance{By: c.ID, Via: via}
	if key.Key == "" {
		return s.Create(ctx, r, "")
	}
	scoped := c.ID + "\x00" + key.Key
	sum := sha256.Sum256([]byte(scoped))
	keyHash := hex.EncodeToString(sum[:])
	r.Provenance.Idempotency = keyHash + "." + key.Fingerprint
	used, err := s.store.FindByTagValue(ctx, keyHash+".")
	if err != nil {
		return Result{}, err
	}
	for _, prior := range used {
		if v, ok := prior.Tags[TagIdempotencyKey]; ok && strings.HasPrefix(v, keyHash+".") && v != r.Provenance.Idempotency {
			return Result{}, errcode.New(errcode.Conflict, "this Idempotency-Key was already used for a different request (which created %q); use a new key for a new request", prior.Name)
		}
	}
	return s.Create(ctx, r, scoped)
}

// Description is a secret's metadata, never its value.
type Description struct {
	ARN               string                      `json:"arn"`
	Name              string                      `json:"name"`
	Description       string                      `json:"description,omitempty"`
	KmsKeyID          string                      `json:"kmsKeyId,omitempty"`
	Tags              map[string]string           `json:"tags"`
	ReplicationStatus []secretstore.ReplicaStatus `json:"replicationStatus"`
	CurrentVersionID  string                      `json:"versionId,omitempty"`
	CreatedDate       *time.Time                  `json:"createdDate,omitempty"`
	LastChangedDate   *time.Time                  `json:"lastChangedDate,omitempty"`
	DeletedDate       *time.Time                  `json:"deletedDate,omitempty"`
}

// DescribeFor returns the metadata and replication status of a secret inside
// the caller's scope.
func (s *Service) DescribeFor(ctx context.Context, c Caller, name string) (Description, error) {
	if err := validateName(name); err != nil {
		return Description{}, err
	}
	if err := s.confine(c, name); err != nil {
		return Description{}, err
	}
	sec, err := s.store.Describe(ctx, name)
	if errors.Is(err, secretstore.ErrNotFound) {
		return Description{}, &errcode.Error{Code: errcode.NotFound, Field: "name", Message: "no secret named \"" + name + "\""}
	}
	if err != nil {
		return Description{}, err
	}
	return Description{
		ARN: sec.ARN, Name: sec.Name, Description: sec.Description, KmsKeyID: sec.KmsKeyID, Tags: sec.Tags,
		ReplicationStatus: sec.Replicas, CurrentVersionID: sec.CurrentVersion,
		CreatedDate: sec.CreatedDate, LastChangedDate: sec.LastChangedDate, DeletedDate: sec.DeletedDate,
	}, nil
}
