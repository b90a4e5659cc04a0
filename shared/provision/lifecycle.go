package provision

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/credential"
	"github.com/dbcreds/provisioner/shared/dbsecret"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// Lifecycle creates, updates and deletes secrets as a resource that a stack
// owns, the way a native CloudFormation resource behaves.
type Lifecycle struct {
	svc     *Service
	manager *secretstore.Manager
}

// NewLifecycle returns a lifecycle over service that changes and deletes
// secrets through manager.
func NewLifecycle(service *Service, manager *secretstore.Manager) *Lifecycle {
	return &Lifecycle{svc: service, manager: manager}
}

// LifecycleFromEnv builds the lifecycle the custom-resource function runs,
// once at init, from the same environment as ServiceFromEnv.
func LifecycleFromEnv(ctx context.Context) (*Lifecycle, error) {
	cfg, client, err := fromEnv(ctx)
	if err != nil {
		return nil, err
	}
	svc := NewService(secretstore.New(client), cfg)
	svc.UseRotator(rotation.NewWithCancel(client))
	users, err := DatabaseUsersFromEnv(os.Getenv, cfg, client)
	if err != nil {
		return nil, err
	}
	svc.UseDatabaseUsers(users)
	return NewLifecycle(svc, secretstore.NewManager(client)), nil
}

// Resource is the stack resource a request is about.
type Resource struct {
	NameBase       string // the stack name and logical id: the base of a generated name
	Account        string // the account the function runs in, when known
	IdempotencyKey string // repeated on every retry of one request
	Provenance     Provenance
}

// made reports whether the resource made s: its provenance tags name this
// stack's resource and the trigger. Update and Delete act on nothing else.
func (res Resource) made(s secretstore.Secret) bool {
	return res.Provenance.By != "" && res.Provenance.Via != "" &&
		s.Tags[TagProvisionedBy] == truncateRunes(res.Provenance.By, MaxTagValueLength) &&
		s.Tags[TagProvisionedVia] == res.Provenance.Via
}

// Create creates the resource's secret, naming it when the request does not.
func (l *Lifecycle) Create(ctx context.Context, res Resource, r Request) (Result, error) {
	if r.Name == "" {
		r.Name = l.svc.GeneratedName(res.NameBase, res.IdempotencyKey)
	}
	r.Provenance = res.Provenance
	return l.svc.Create(ctx, r, res.IdempotencyKey)
}

// NameFromARN returns the secret name an ARN of ours carries, or "" when id
// is not a secret ARN this deployment could have created: another Region
// or account (when account is known), or a name outside the prefix. Failed
// creates, placeholders and the ids CloudFormation invents during a rollback
// are none of these, so nothing is ever done to them.
func (s *Service) NameFromARN(id, account string) string {
	arn, ok := awsname.ParseSecretARN(id)
	name := arn.Name() // "" unless the ARN ends in "-" and six characters
	if !ok || name == "" || (s.config.Region != "" && arn.Region != s.config.Region) || (account != "" && arn.Account != account) ||
		!strings.HasPrefix(name, s.config.NamePrefix) {
		return ""
	}
	return name
}

var nameSuffix = base32.StdEncoding.WithPadding(base32.NoPadding)

// GeneratedName names a secret the caller left unnamed, like a native
// resource: prefix, base (stack and logical id), and twelve characters
// derived from the idempotency key, so that a retry names the same secret.
// Twelve, not six, so the name cannot pass for an ARN suffix.
func (s *Service) GeneratedName(base, idempotencyKey string) string {
	sum := sha256.Sum256([]byte("name\x00" + idempotencyKey))
	suffix := nameSuffix.EncodeToString(sum[:])[:12]
	base = strings.Map(func(r rune) rune {
		if strings.ContainsRune("/_+=.@-", r) || r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, base)
	if max := MaxNameLength - len(s.config.NamePrefix) - len(suffix) - 1; len(base) > max {
		base = base[:max]
	}
	return s.config.NamePrefix + base + "-" + suffix
}

// Update brings the secret id to the request now. A new name (or another
// kind of secret under a new name) is a replacement: a new secret, whose ARN
// the caller reports, after which CloudFormation deletes the old one. In
// place, changed connection fields make a new version that keeps the current
// username and password (a policy change never regenerates a password:
// rotation does that), the description and KMS key are updated, tags are
// added and removed by difference with old, and replicas are added and
// removed to match.
func (l *Lifecycle) Update(ctx context.Context, res Resource, id string, old, now Request) (Result, error) {
	name := l.svc.NameFromARN(id, res.Account)
	if name == "" {
		return Result{}, errcode.New(errcode.NotFound, "physical id %s is not a secret this function manages", errcode.Quote(id))
	}
	// Only the secret this very resource made: anyone who can deploy a stack
	// can name any physical id, and must not repoint another team's secret.
	switch current, err := l.manager.Describe(ctx, id); {
	case errors.Is(err, secretstore.ErrNotFound):
	case err != nil:
		return Result{}, err
	case !res.made(current):
		return Result{}, errcode.New(errcode.Forbidden, "secret %s was not made by this stack's resource (its %s and %s tags say otherwise), so this resource may not change it",
			errcode.Quote(name), TagProvisionedVia, TagProvisionedBy)
	}
	// An omitted name is the generated one, kept while it stays omitted; a
	// name dropped from the template is a new generated name, as natively.
	switch {
	case now.Name == "" && old.Name == "":
		now.Name = name
	case now.Name == "":
		now.Name = l.svc.GeneratedName(res.NameBase, res.IdempotencyKey)
	}
	if old.Name == "" {
		old.Name = name
	}
	now.Provenance = res.Provenance
	if now.Name != name {
		return l.replace(ctx, res, now)
	}
	return l.updateInPlace(ctx, id, name, old, now, res.IdempotencyKey)
}

// replace creates the new secret. When a secret of that name exists and this
// very resource made it (its provenance tags say so), it is adopted instead:
// that is the old secret of a replacement being rolled back.
func (l *Lifecycle) replace(ctx context.Context, res Resource, now Request) (Result, error) {
	existing, err := l.manager.Describe(ctx, now.Name)
	switch {
	case errors.Is(err, secretstore.ErrNotFound):
	case err != nil:
		return Result{}, err
	case !existing.Deleted && res.made(existing):
		return l.updateInPlace(ctx, existing.ARN, now.Name, now, now, res.IdempotencyKey)
	}
	return l.svc.Create(ctx, now, res.IdempotencyKey)
}

func (l *Lifecycle) updateInPlace(ctx context.Context, id, name string, old, now Request, idempotencyKey string) (Result, error) {
	replicas, nowKind, err := l.svc.check(now)
	if err != nil {
		return Result{}, err
	}
	want, err := l.svc.rotationOf(now, nowKind)
	if err != nil {
		return Result{}, err
	}
	oldKind, err := old.kind()
	if err != nil {
		oldKind = nowKind // an old request we cannot read says nothing about the kind
	}
	was, _ := l.svc.rotationOf(old, oldKind)
	if oldKind != nowKind {
		return Result{}, errcode.Invalidf("name", "changing what kind of secret this is needs a new name, so that a new secret replaces this one")
	}
	current, err := l.manager.Describe(ctx, id)
	if errors.Is(err, secretstore.ErrNotFound) || err == nil && current.Deleted {
		return Result{}, errcode.New(errcode.NotFound, "secret %q no longer exists or is scheduled for deletion; give it a new name to create a new one", name)
	}
	if err != nil {
		return Result{}, err
	}

	if err := userStaysPut(old, now); err != nil {
		return Result{}, err
	}
	if nowKind == kindDatabase {
		if err := l.svc.users.CheckUpdate(ctx, id, now.userRequest(), bool(now.CreateDatabaseUser)); err != nil {
			return Result{}, err
		}
	}
	if err := l.svc.mayNameMaster(now); err != nil {
		return Result{}, err
	}
	version, username, err := l.updateValue(ctx, id, old, now, nowKind, idempotencyKey)
	if err != nil {
		return Result{}, err
	}
	var user *DatabaseUser
	if now.CreateDatabaseUser {
		made, err := l.svc.users.Update(ctx, id, now.userRequest())
		if err != nil {
			return Result{}, err
		}
		user = &DatabaseUser{Username: made.Username, Privileges: made.Privileges}
	}
	if err := l.updateMetadata(ctx, id, old, now); err != nil {
		return Result{}, err
	}
	if err := l.updateTags(ctx, id, old.Tags, now.Tags); err != nil {
		return Result{}, err
	}
	if err := l.updateReplicas(ctx, id, l.svc.replicasOf(old), replicas, current.Replicas, bool(now.ForceOverwriteReplicaSecret)); err != nil {
		return Result{}, err
	}
	after, err := l.manager.Describe(ctx, id)
	if err != nil {
		return Result{}, err
	}
	result := Result{ARN: after.ARN, Name: after.Name, VersionID: version, Username: username, ReplicationStatus: after.Replicas, DatabaseUser: user}
	status := rotation.StatusOf(after)
	if status.Enabled || status.FunctionARN != "" {
		result.Rotation = &status
	}
	// Rotation last: a new function or schedule takes the value just stored.
	switch {
	case want != nil:
		return l.svc.applyRotation(ctx, result, status, *want, idempotencyKey)
	case was != nil && status.Enabled:
		// Turned off only where the resource had asked for it: a rotation
		// someone else switched on is not the stack's to stop. Only the
		// custom resource cancels, so only its function links the call.
		if err := l.svc.rotator.Cancel(ctx, id, status); err != nil {
			return result, err
		}
		return l.svc.rotationNow(ctx, result)
	}
	return result, nil
}

// updateValue stores a new version when the value the request describes,
// around the current credentials, differs from the current one.
func (l *Lifecycle) updateValue(ctx context.Context, id string, old, now Request, k kind, idempotencyKey string) (string, string, error) {
	current, err := l.manager.CurrentValue(ctx, id)
	if err != nil {
		return "", "", err
	}
	var keep *kept
	switch k {
	case kindDatabase:
		var stored struct {
			Engine   string      `json:"engine"`
			Username string      `json:"username"`
			Password string      `json:"password"`
			Host     string      `json:"host"`
			Port     json.Number `json:"port"`
			DBName   string      `json:"dbname"`
		}
		if json.Unmarshal([]byte(current.String), &stored) != nil || stored.Password == "" {
			return "", "", errcode.New(errcode.Conflict, "the stored secret holds no JSON password; it was changed outside this stack")
		}
		if err := passwordFitsEngine(stored.Password, stored.Engine, now.Engine); err != nil {
			return "", "", err
		}
		keep = &kept{Username: stored.Username, Password: stored.Password, Host: stored.Host, DBName: stored.DBName}
		if p, err := strconv.Atoi(stored.Port.String()); err == nil {
			keep.Port = p
		}
	case kindTemplate:
		var stored map[string]json.RawMessage
		var password string
		if json.Unmarshal([]byte(current.String), &stored) != nil || json.Unmarshal(stored[old.GenerateStringKey], &password) != nil || password == "" {
			return "", "", errcode.New(errcode.Conflict, "the stored secret holds no generated value under %s; it was changed outside this stack", errcode.Quote(old.GenerateStringKey))
		}
		keep = &kept{Password: password}
	}
	value, username, err := l.svc.secretValue(now, k, idempotencyKey, keep)
	if err != nil {
		return "", "", err
	}
	if value.String == current.String && string(value.Binary) == string(current.Binary) {
		return current.VersionID, username, nil
	}
	version, err := l.manager.PutValue(ctx, id, secretstore.Token(idempotencyKey), value)
	return version, username, err
}

// passwordFitsEngine refuses to carry a password into an engine whose
// rotation function would never have generated it.
func passwordFitsEngine(password, from, to string) error {
	if strings.EqualFold(from, to) {
		return nil
	}
	engine, err := dbsecret.Lookup(to)
	if err != nil {
		return err
	}
	policy, err := engine.PasswordPolicy(credential.DefaultPolicy(), false)
	if err != nil {
		return err
	}
	if strings.ContainsAny(password, policy.ExcludeCharacters) || engine.MaxPassword > 0 && len(password) > engine.MaxPassword {
		return errcode.Invalidf("engine", "the current password does not meet %s's rules and is never regenerated by an update; rotate the secret first, or give it a new name to replace it", engine.Name)
	}
	return nil
}

func (l *Lifecycle) updateMetadata(ctx context.Context, id string, old, now Request) error {
	var description, kmsKeyID *string
	if now.Description != old.Description {
		description = &now.Description
	}
	if now.KmsKeyID != old.KmsKeyID {
		key := now.KmsKeyID
		if key == "" {
			key = "alias/aws/secretsmanager" // back to the AWS managed key
		}
		kmsKeyID = &key
	}
	return l.manager.UpdateMetadata(ctx, id, description, kmsKeyID)
}

// updateTags adds what now has new or changed and removes what only old had;
// tags the stack never set (other tooling's) are left alone, and so are the
// provisioner's own (an old request CloudFormation replays on a rollback
// may name them: it is never validated again).
func (l *Lifecycle) updateTags(ctx context.Context, id string, old, now Tags) error {
	was := make(map[string]string, len(old))
	for _, t := range old {
		was[t.Key] = t.Value
	}
	var changed Tags
	keep := make(map[string]bool, len(now))
	for _, t := range now {
		keep[t.Key] = true
		if v, ok := was[t.Key]; !ok || v != t.Value {
			changed = append(changed, t)
		}
	}
	var removed []string
	for _, t := range old {
		if !keep[t.Key] && !isReservedTag(t.Key) {
			removed = append(removed, t.Key)
		}
	}
	if err := l.manager.Untag(ctx, id, removed); err != nil {
		return err
	}
	return l.manager.Tag(ctx, id, sdkTags(changed))
}

// updateReplicas compares with the replicas that exist, so a retry never
// adds a Region twice; a Region whose KMS key changed is removed and added
// again, the only way to change a replica's key.
func (l *Lifecycle) updateReplicas(ctx context.Context, id string, old, now Replicas, existing []secretstore.ReplicaStatus, force bool) error {
	oldKey := make(map[string]string, len(old))
	for _, r := range old {
		oldKey[r.Region] = r.KmsKeyID
	}
	exists := make(map[string]bool, len(existing))
	for _, r := range existing {
		exists[r.Region] = true
	}
	wanted := make(map[string]bool, len(now))
	var add Replicas
	var remove []string
	for _, r := range now {
		wanted[r.Region] = true
		switch {
		case !exists[r.Region]:
			add = append(add, r)
		case oldKey[r.Region] != r.KmsKeyID:
			remove = append(remove, r.Region)
			add = append(add, r)
		}
	}
	for _, r := range existing {
		if !wanted[r.Region] {
			remove = append(remove, r.Region)
		}
	}
	if err := l.manager.RemoveReplicas(ctx, id, remove); err != nil {
		return err
	}
	return l.manager.Replicate(ctx, id, sdkReplicas(add), force)
}

// DeleteOptions are the CloudFormation deletion properties.
type DeleteOptions struct {
	RecoveryWindowInDays       *props.Int `json:"recoveryWindowInDays"`
	ForceDeleteWithoutRecovery props.Bool `json:"forceDeleteWithoutRecovery"`
}

// DefaultRecoveryWindowInDays is Secrets Manager's own default.
const DefaultRecoveryWindowInDays = 30

// Check applies DeleteSecret's rules, so a create or update can refuse what
// would otherwise fail only when the stack is deleted.
func (o DeleteOptions) Check() error {
	if o.RecoveryWindowInDays != nil {
		if o.ForceDeleteWithoutRecovery {
			return errcode.Invalidf("forceDeleteWithoutRecovery", "cannot be true with recoveryWindowInDays: a secret is either recoverable or not")
		}
		if days := int(*o.RecoveryWindowInDays); days < 7 || days > 30 {
			return errcode.Invalidf("recoveryWindowInDays", "must be between 7 and 30, got %d", days)
		}
	}
	return nil
}

// window is the recovery window in days, or force. Options that break the
// rules were refused before; should they reach here anyway, the
// recoverable default is the safe reading.
func (o DeleteOptions) window() (days int, force bool) {
	if o.Check() != nil {
		return DefaultRecoveryWindowInDays, false
	}
	if o.RecoveryWindowInDays != nil {
		return int(*o.RecoveryWindowInDays), false
	}
	return DefaultRecoveryWindowInDays, bool(o.ForceDeleteWithoutRecovery)
}

// Delete deletes the secret id: its replicas first (Secrets Manager refuses
// to delete a primary that has any), then the secret, recoverable for the
// window unless forced. An id that is not a secret of ours, a secret another
// resource made, a missing secret and one already scheduled for deletion are
// left as they are, so that a stack can always be deleted: skipped then says
// why nothing was done.
func (l *Lifecycle) Delete(ctx context.Context, res Resource, id string, opts DeleteOptions, r Request) (skipped string, err error) {
	if l.svc.NameFromARN(id, res.Account) == "" {
		return "not a secret ARN of this Region, account and prefix", nil
	}
	current, err := l.manager.Describe(ctx, id)
	switch {
	case errors.Is(err, secretstore.ErrNotFound):
		// Deleted outside the stack: its user, if this resource's request
		// made one, goes all the same.
		if err := l.svc.users.Drop(ctx, res.Provenance.Via, res.Provenance.By, id, false); err != nil {
			return "", err
		}
		return "the secret no longer exists", nil
	case err != nil:
		return "", err
	case !res.made(current):
		return "the secret was not made by this stack's resource (provenance tags)", nil
	}
	// The user first: it goes with its record, which names the secret.
	if err := l.svc.users.Drop(ctx, res.Provenance.Via, "", current.ARN, current.Tags[TagDatabaseUser] == "true"); err != nil {
		return "", err
	}
	if current.Deleted {
		return "the secret is already scheduled for deletion", nil
	}
	regions := make([]string, 0, len(current.Replicas))
	for _, r := range current.Replicas {
		regions = append(regions, r.Region)
	}
	if err := l.manager.RemoveReplicas(ctx, id, regions); err != nil {
		return "", err
	}
	days, force := opts.window()
	if _, err := l.manager.Delete(ctx, id, days, force); err != nil {
		return "", err
	}
	return "", nil
}

// fromEnv reads the configuration and builds the SDK client.
func fromEnv(ctx context.Context) (Config, *secretsmanager.Client, error) {
	cfg, err := ConfigFromEnv(os.Getenv)
	if err != nil {
		return Config{}, nil, err
	}
	client, err := clientFromEnv(ctx)
	return cfg, client, err
}
