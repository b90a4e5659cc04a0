package provision

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// Caller is who calls the API, as its authorizer established it.
type Caller struct {
	// ID is the IAM principal ARN, without the session of an assumed role,
	// or "jwt:" and the token's subject. Scope, idempotency and provenance
	// key on it, so a caller is the same caller after its credentials
	// refresh.
	ID string
	// Session is an assumed role's session name: for the log, for audit.
	Session string
	// IAMName is the role (or user) name of an IAM caller.
	IAMName string
	// Claims are a JWT caller's claims.
	Claims map[string]string
}

// IAMCaller is the caller an IAM principal ARN names: for
// arn:aws:sts::1:assumed-role/payments/session-1 the role,
// arn:aws:sts::1:assumed-role/payments, its name payments, and the session
// session-1 apart; a user or role ARN as it is.
func IAMCaller(arn string) Caller {
	c := Caller{ID: arn}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return c
	}
	resource := strings.Split(parts[5], "/")
	switch {
	case resource[0] == "assumed-role" && len(resource) >= 2:
		c.IAMName = resource[1]
		if len(resource) >= 3 {
			c.Session = strings.Join(resource[2:], "/")
			c.ID = strings.Join(parts[:5], ":") + ":assumed-role/" + resource[1]
		}
	case (resource[0] == "user" || resource[0] == "role") && len(resource) >= 2:
		c.IAMName = resource[len(resource)-1]
	}
	return c
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
	scope, err := s.scopeName(c)
	if err != nil {
		return "", err
	}
	if scope == "" {
		return s.config.NamePrefix, nil
	}
	return s.config.NamePrefix + scope + "/", nil
}

// scopeName is the caller's own sub-prefix segment, "" when CallerScope
// is none: also how the database-user grants name an API caller
// (api:<scope>).
func (s *Service) scopeName(c Caller) (string, error) {
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
		return "", nil
	}
	if !isScope(scope) {
		return "", errcode.New(errcode.Forbidden, "the caller's %s does not name a usable scope (1-64 of A-Z a-z 0-9 _+=.@-)", source)
	}
	return scope, nil
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

// IdempotencyRecords keeps one record per caller and Idempotency-Key
// (idempotency.Records, a DynamoDB table), so that exactly one request
// with a key does the work. Declared here with the core's own types, so
// that only the HTTP API function links the DynamoDB client.
type IdempotencyRecords interface {
	Claim(ctx context.Context, key, fingerprint string) (IdempotencyClaim, error)
	Complete(ctx context.Context, key, fingerprint string, result []byte) error
	Release(ctx context.Context, key, fingerprint string) error
}

// IdempotencyClaim is what claiming a key found: this request won it, or
// another request's record holds it.
type IdempotencyClaim struct {
	Won         bool
	Fingerprint string
	Completed   bool
	Result      []byte
}

// inProgressWait bounds how long a request waits for another request with
// its key and body to finish, before it answers that the key is busy; well
// inside API Gateway's 30 seconds.
const inProgressWait = 10 * time.Second

// inProgressPoll is how often it looks meanwhile.
const inProgressPoll = 250 * time.Millisecond

// CreateFor creates r for an API caller: inside the caller's scope, tagged
// with who asked and through what, and, with a key, at most once per caller
// and key. Of any number of requests with one key, however they race, one
// creates; the others with the same request get its answer
// (Result.Replayed), those with another request a conflict, whatever name
// they ask for.
func (s *Service) CreateFor(ctx context.Context, c Caller, via string, r Request, key string) (Result, error) {
	if err := validateName(r.Name); err != nil {
		return Result{}, err
	}
	if err := s.confine(c, r.Name); err != nil {
		return Result{}, err
	}
	scope, err := s.scopeName(c)
	if err != nil {
		return Result{}, err
	}
	r.Provenance = Provenance{By: c.ID, Via: via, Caller: dbgrants.Caller{Kind: dbgrants.KindAPI, Name: scope}}
	if key == "" {
		in, username, err := s.build(r, "")
		if err != nil {
			return Result{}, err
		}
		unlock, err := s.lockName(ctx, r.Name)
		if err != nil {
			return Result{}, err
		}
		defer unlock()
		return s.createBuilt(ctx, r, in, username)
	}
	if s.records == nil {
		return Result{}, errcode.New(errcode.Internal, "no idempotency table is configured (%s)", EnvIdempotencyTable)
	}
	// The caller's role, not its session, owns the key: a retry after the
	// credentials refreshed is the same request.
	scoped := c.ID + "\x00" + key
	in, username, err := s.build(r, scoped) // an invalid request never holds a key
	if err != nil {
		return Result{}, err
	}
	sum := sha256.Sum256([]byte(scoped))
	recordKey, fingerprint := hex.EncodeToString(sum[:]), Fingerprint(r)
	deadline := time.Now().Add(inProgressWait)
	for {
		claim, err := s.records.Claim(ctx, recordKey, fingerprint)
		switch {
		case err != nil:
			return Result{}, err
		case claim.Won:
			return s.createClaimed(ctx, r, in, username, recordKey, fingerprint)
		case claim.Fingerprint != fingerprint:
			return Result{}, errcode.New(errcode.Conflict, "this Idempotency-Key was already used for a different request; use a new key for a new request")
		case claim.Completed:
			var result Result
			if err := json.Unmarshal(claim.Result, &result); err != nil {
				return Result{}, errcode.Wrap(err, errcode.Internal, "reading the idempotency record")
			}
			result.Replayed = true
			return result, nil
		case time.Now().After(deadline):
			return Result{}, errcode.New(errcode.Conflict, "a request with this Idempotency-Key is still in progress; retry it in a few seconds")
		}
		select {
		case <-time.After(inProgressPoll):
		case <-ctx.Done():
			return Result{}, errcode.Wrap(ctx.Err(), errcode.Unavailable, "gave up waiting for the request in progress with this Idempotency-Key")
		}
	}
}

// createClaimed creates the secret for the request that holds the key, and
// records the answer for the others; a failure frees the key for a retry.
func (s *Service) createClaimed(ctx context.Context, r Request, in *secretsmanager.CreateSecretInput, username, recordKey, fingerprint string) (Result, error) {
	unlock, err := s.lockName(ctx, r.Name)
	var result Result
	if err == nil {
		result, err = s.createBuilt(ctx, r, in, username)
		unlock()
	}
	if err != nil {
		if rerr := s.records.Release(ctx, recordKey, fingerprint); rerr != nil {
			// The lease frees it later.
			slog.WarnContext(ctx, "could not release the Idempotency-Key", "error", errcode.Public(rerr))
		}
		return Result{}, err
	}
	answer, err := json.Marshal(result)
	if err == nil {
		err = s.records.Complete(ctx, recordKey, fingerprint, answer)
	}
	if err != nil {
		// The secret exists: answer. A retry with the key waits out the
		// lease, then finds the secret by its ClientRequestToken.
		slog.WarnContext(ctx, "could not record the answer for the Idempotency-Key", "error", errcode.Public(err))
	}
	return result, nil
}

// Fingerprint identifies a request by meaning, for Idempotency-Key
// purposes: bodies that decode to the same request ("Name" or "name", other
// spacing, member order, tags as a list or an object, in any order) have
// the same fingerprint.
func Fingerprint(r Request) string {
	r.Provenance = Provenance{}
	r.Tags = append(Tags(nil), r.Tags...)
	sort.Slice(r.Tags, func(i, j int) bool { return r.Tags[i].Key < r.Tags[j].Key })
	if r.ExtraFields != nil {
		extra := make(map[string]json.RawMessage, len(r.ExtraFields))
		for k, v := range r.ExtraFields {
			var value any
			if json.Unmarshal(v, &value) == nil {
				v, _ = json.Marshal(value) // maps marshal sorted
			}
			extra[k] = v
		}
		r.ExtraFields = extra
	}
	canonical, _ := json.Marshal(r)
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:16])
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
	Rotation          *rotation.Status            `json:"rotation,omitempty"`
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
	d := Description{
		ARN: sec.ARN, Name: sec.Name, Description: sec.Description, KmsKeyID: sec.KmsKeyID, Tags: sec.Tags,
		ReplicationStatus: sec.Replicas, CurrentVersionID: sec.CurrentVersion,
		CreatedDate: sec.CreatedDate, LastChangedDate: sec.LastChangedDate, DeletedDate: sec.DeletedDate,
	}
	if st := rotation.StatusOf(sec); st.Enabled || st.FunctionARN != "" {
		d.Rotation = &st
	}
	return d, nil
}

// nameLockKey is the record that serialises the API's creates and deletes
// of one secret name; no Idempotency-Key record (a hash) looks like it.
func nameLockKey(name string) string { return "secret-name:" + name }

// lockName holds the secret name for one create or delete through the API,
// so that a delete never runs between a create's secret and its user or
// rotation: the other waits (up to inProgressWait), then is told to retry.
// The record's lease frees a name whose holder died. Without records (only
// in tests) there is nothing to lock with.
func (s *Service) lockName(ctx context.Context, name string) (unlock func(), err error) {
	if s.records == nil {
		return func() {}, nil
	}
	var token [16]byte
	rand.Read(token[:])
	key, holder := nameLockKey(name), hex.EncodeToString(token[:])
	deadline := time.Now().Add(inProgressWait)
	for {
		claim, err := s.records.Claim(ctx, key, holder)
		switch {
		case err != nil:
			return nil, err
		case claim.Won:
			return func() {
				if err := s.records.Release(context.WithoutCancel(ctx), key, holder); err != nil {
					slog.WarnContext(ctx, "could not release the secret name; its lease frees it", "error", errcode.Public(err))
				}
			}, nil
		case time.Now().After(deadline):
			return nil, &errcode.Error{Code: errcode.Conflict, Field: "name",
				Message: "another request is creating or deleting " + errcode.Quote(name) + "; retry in a few seconds"}
		}
		select {
		case <-time.After(inProgressPoll):
		case <-ctx.Done():
			return nil, errcode.Wrap(ctx.Err(), errcode.Unavailable, "gave up waiting for another request on the same secret name")
		}
	}
}

// Deletion is what deleting a secret through the API did.
type Deletion struct {
	ARN          string    `json:"arn"`
	Name         string    `json:"name"`
	DeletionDate time.Time `json:"deletionDate"`
}

// DeleteFor deletes a secret for an API caller: inside the caller's scope,
// and only one made through via (its provenance tag). The database user
// the provisioner made for it is dropped first, then its replicas (Secrets
// Manager refuses to delete a primary that has any), then the secret,
// recoverable for the window unless forced. A secret already scheduled for
// deletion answers the same; one that does not exist is not_found.
func (s *Service) DeleteFor(ctx context.Context, c Caller, via, name string, opts DeleteOptions) (Deletion, error) {
	if err := validateName(name); err != nil {
		return Deletion{}, err
	}
	if err := s.confine(c, name); err != nil {
		return Deletion{}, err
	}
	if err := opts.Check(); err != nil {
		return Deletion{}, err
	}
	if s.deleter == nil {
		return Deletion{}, errcode.New(errcode.Internal, "this function was built without a deleter")
	}
	unlock, err := s.lockName(ctx, name)
	if err != nil {
		return Deletion{}, err
	}
	defer unlock()
	sec, err := s.store.Describe(ctx, name)
	switch {
	case errors.Is(err, secretstore.ErrNotFound):
		return Deletion{}, &errcode.Error{Code: errcode.NotFound, Field: "name", Message: "no secret named " + errcode.Quote(name)}
	case err != nil:
		return Deletion{}, err
	case sec.Tags[TagProvisionedVia] != via:
		return Deletion{}, &errcode.Error{Code: errcode.Forbidden, Field: "name",
			Message: "was not made through this API (its " + TagProvisionedVia + " tag), so it may not be deleted through it"}
	}
	// The user first: it goes with its record, which names the secret;
	// also when someone scheduled the secret's deletion outside the API.
	if err := s.users.Drop(ctx, via, "", sec.ARN, sec.Tags[TagDatabaseUser] == "true"); err != nil {
		return Deletion{}, err
	}
	if sec.Deleted {
		return Deletion{ARN: sec.ARN, Name: sec.Name, DeletionDate: *sec.DeletedDate}, nil
	}
	regions := make([]string, 0, len(sec.Replicas))
	for _, r := range sec.Replicas {
		regions = append(regions, r.Region)
	}
	if err := s.deleter.RemoveReplicas(ctx, sec.ARN, regions); err != nil {
		return Deletion{}, err
	}
	days, force := opts.window()
	when, err := s.deleter.Delete(ctx, sec.ARN, days, force)
	if err != nil {
		return Deletion{}, err
	}
	return Deletion{ARN: sec.ARN, Name: sec.Name, DeletionDate: when}, nil
}
