// Package stack is the CloudFormation lifecycle of a secret: Create,
// Update and Delete of a stack's Custom::DatabaseSecret resource, behaving
// as a native resource does (generated names, replacement on a new name,
// updates in place, deletes of only what the resource made). It is the core
// (provision) seen from a stack; it knows nothing of CloudFormation's
// events.
//
// It must not import selfservice or a function; only the custom resource
// function imports it.
package stack

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/credential"
	"github.com/dbcreds/provisioner/shared/dbsecret"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretspec"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// Lifecycle creates, updates and deletes secrets as a resource that a stack
// owns, the way a native CloudFormation resource behaves.
type Lifecycle struct {
	svc     *provision.Service
	manager *secretstore.Manager
}

// New returns the lifecycle over service that changes and deletes secrets
// through manager; both are required.
func New(service *provision.Service, manager *secretstore.Manager) (*Lifecycle, error) {
	if service == nil || manager == nil {
		return nil, errcode.New(errcode.Internal, "a stack's lifecycle needs the service and a manager")
	}
	return &Lifecycle{svc: service, manager: manager}, nil
}

// Resource is the stack resource a request is about.
type Resource struct {
	NameBase       string // the stack name and logical id: the base of a generated name
	Account        string // the account the function runs in, when known
	IdempotencyKey string // repeated on every retry of one request
	Provenance     provision.Provenance
}

// made reports whether the resource made s: its provenance tags name this
// stack's resource and the trigger. Update and Delete act on nothing else.
func (res Resource) made(s secretstore.Secret) bool { return res.Provenance.Made(s.Tags) }

// Create creates the resource's secret, naming it when the request does not.
func (l *Lifecycle) Create(ctx context.Context, res Resource, r provision.Request) (provision.Result, error) {
	if r.Name == "" {
		r.Name = l.GeneratedName(res.NameBase, res.IdempotencyKey)
	}
	r.Provenance = res.Provenance
	return l.svc.Create(ctx, r, res.IdempotencyKey)
}

// NameFromARN returns the secret name an ARN of ours carries, or "" when id
// is not a secret ARN this deployment could have created: another Region
// or account (when account is known), or a name outside the prefix. Failed
// creates, placeholders and the ids CloudFormation invents during a rollback
// are none of these, so nothing is ever done to them.
func (l *Lifecycle) NameFromARN(id, account string) string {
	arn, ok := awsname.ParseSecretARN(id)
	name := arn.Name() // "" unless the ARN ends in "-" and six characters
	if !ok || name == "" || (l.svc.Config().Region != "" && arn.Region != l.svc.Config().Region) || (account != "" && arn.Account != account) ||
		!strings.HasPrefix(name, l.svc.Config().NamePrefix) {
		return ""
	}
	return name
}

var nameSuffix = base32.StdEncoding.WithPadding(base32.NoPadding)

// GeneratedName names a secret the caller left unnamed, like a native
// resource: prefix, base (stack and logical id), and twelve characters
// derived from the idempotency key, so that a retry names the same secret.
// Twelve, not six, so the name cannot pass for an ARN suffix.
func (l *Lifecycle) GeneratedName(base, idempotencyKey string) string {
	sum := sha256.Sum256([]byte("name\x00" + idempotencyKey))
	suffix := nameSuffix.EncodeToString(sum[:])[:12]
	base = strings.Map(func(r rune) rune {
		if strings.ContainsRune("/_+=.@-", r) || r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, base)
	if max := secretspec.MaxNameLength - len(l.svc.Config().NamePrefix) - len(suffix) - 1; len(base) > max {
		base = base[:max]
	}
	return l.svc.Config().NamePrefix + base + "-" + suffix
}

// Update brings the secret id to the request now. A new name (or another
// kind of secret under a new name) is a replacement: a new secret, whose ARN
// the caller reports, after which CloudFormation deletes the old one. In
// place, changed connection fields make a new version that keeps the current
// username and password (a policy change never regenerates a password:
// rotation does that), the description and KMS key are updated, tags are
// added and removed by difference with old, and replicas are added and
// removed to match.
func (l *Lifecycle) Update(ctx context.Context, res Resource, id string, old, now provision.Request) (provision.Result, error) {
	name := l.NameFromARN(id, res.Account)
	if name == "" {
		return provision.Result{}, errcode.New(errcode.NotFound, "physical id %s is not a secret this function manages", errcode.Quote(id))
	}
	// Only the secret this very resource made: anyone who can deploy a stack
	// can name any physical id, and must not repoint another team's secret.
	switch current, err := l.manager.Describe(ctx, id); {
	case errors.Is(err, secretstore.ErrNotFound):
	case err != nil:
		return provision.Result{}, err
	case !res.made(current):
		return provision.Result{}, errcode.New(errcode.Forbidden, "secret %s was not made by this stack's resource (its %s and %s tags say otherwise), so this resource may not change it",
			errcode.Quote(name), provision.TagProvisionedVia, provision.TagProvisionedBy)
	}
	// An omitted name is the generated one, kept while it stays omitted; a
	// name dropped from the template is a new generated name, as natively.
	switch {
	case now.Name == "" && old.Name == "":
		now.Name = name
	case now.Name == "":
		now.Name = l.GeneratedName(res.NameBase, res.IdempotencyKey)
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
func (l *Lifecycle) replace(ctx context.Context, res Resource, now provision.Request) (provision.Result, error) {
	existing, err := l.manager.Describe(ctx, now.Name)
	switch {
	case errors.Is(err, secretstore.ErrNotFound):
	case err != nil:
		return provision.Result{}, err
	case !existing.Deleted && res.made(existing):
		return l.updateInPlace(ctx, existing.ARN, now.Name, now, now, res.IdempotencyKey)
	}
	return l.svc.Create(ctx, now, res.IdempotencyKey)
}

func (l *Lifecycle) updateInPlace(ctx context.Context, id, name string, old, now provision.Request, idempotencyKey string) (provision.Result, error) {
	checked, err := l.svc.Check(now)
	if err != nil {
		return provision.Result{}, err
	}
	replicas, nowKind, want := checked.Replicas, checked.Kind, checked.Rotation
	oldKind, err := old.Kind()
	if err != nil {
		oldKind = nowKind // an old request we cannot read says nothing about the kind
	}
	was, _ := l.svc.RotationOf(old, oldKind)
	if oldKind != nowKind {
		return provision.Result{}, errcode.Invalidf("name", "changing what kind of secret this is needs a new name, so that a new secret replaces this one")
	}
	current, err := l.manager.Describe(ctx, id)
	if errors.Is(err, secretstore.ErrNotFound) || err == nil && current.Deleted {
		return provision.Result{}, errcode.New(errcode.NotFound, "secret %q no longer exists or is scheduled for deletion; give it a new name to create a new one", name)
	}
	if err != nil {
		return provision.Result{}, err
	}

	if err := userStaysPut(old, now); err != nil {
		return provision.Result{}, err
	}
	// Every kind: a secret whose user this provisioner made stays a
	// database secret with that user, whatever the old properties (which a
	// direct invoke may forge) say it was.
	if err := l.svc.CheckUserUpdate(ctx, id, now); err != nil {
		return provision.Result{}, err
	}
	version, username, err := l.updateValue(ctx, id, old, now, nowKind, idempotencyKey)
	if err != nil {
		return provision.Result{}, err
	}
	var user *provision.DatabaseUser
	if now.CreateDatabaseUser {
		if user, err = l.svc.UpdateUser(ctx, id, now); err != nil {
			return provision.Result{}, err
		}
	}
	if err := l.updateMetadata(ctx, id, old, now); err != nil {
		return provision.Result{}, err
	}
	if err := l.updateTags(ctx, id, old.Tags, now.Tags); err != nil {
		return provision.Result{}, err
	}
	if err := l.updateReplicas(ctx, id, l.svc.ReplicasOf(old), replicas, current.Replicas, bool(now.ForceOverwriteReplicaSecret)); err != nil {
		return provision.Result{}, err
	}
	after, err := l.manager.Describe(ctx, id)
	if err != nil {
		return provision.Result{}, err
	}
	// Marked before any grant is made, unmarked only once all are gone:
	// whatever fails between, a rollback or a delete still retires them.
	if len(now.Readers) > 0 {
		if err := l.markReaders(ctx, id, current, true); err != nil {
			return provision.Result{}, err
		}
	}
	readers, err := l.svc.UpdateReaders(ctx, current, after, now)
	if err != nil {
		return provision.Result{}, err
	}
	if len(readers) == 0 {
		if err := l.markReaders(ctx, id, current, false); err != nil {
			return provision.Result{}, err
		}
	}
	result := provision.Result{ARN: after.ARN, Name: after.Name, VersionID: version, Username: username, ReplicationStatus: after.Replicas, DatabaseUser: user, Readers: readers}
	status := rotation.StatusOf(after)
	if status.Enabled || status.FunctionARN != "" {
		result.Rotation = &status
	}
	// Rotation last: a new function or schedule takes the value just stored.
	switch {
	case want != nil:
		return l.svc.ApplyRotation(ctx, result, status, *want, idempotencyKey)
	case was != nil && status.Enabled:
		// Turned off only where the resource had asked for it: a rotation
		// someone else switched on is not the stack's to stop. Only the
		// custom resource cancels, so only its function links the call.
		return l.svc.CancelRotation(ctx, result, status)
	}
	return result, nil
}

// markReaders keeps the secret's TagReaders true while it has readers, so
// that a delete retires their grants.
func (l *Lifecycle) markReaders(ctx context.Context, id string, current secretstore.Secret, has bool) error {
	switch had := current.Tags[provision.TagReaders] == "true"; {
	case has && !had:
		return l.manager.Tag(ctx, id, secretspec.Tags{{Key: provision.TagReaders, Value: "true"}}.SDK())
	case !has && had:
		return l.manager.Untag(ctx, id, []string{provision.TagReaders})
	}
	return nil
}

// updateValue stores a new version when the value the request describes,
// around the current credentials, differs from the current one.
func (l *Lifecycle) updateValue(ctx context.Context, id string, old, now provision.Request, k provision.Kind, idempotencyKey string) (string, string, error) {
	current, err := l.manager.CurrentValue(ctx, id)
	if err != nil {
		return "", "", err
	}
	var keep *provision.Kept
	switch k {
	case provision.KindDatabase:
		var stored struct {
			Engine   string          `json:"engine"`
			Username string          `json:"username"`
			Password string          `json:"password"`
			Host     string          `json:"host"`
			Port     json.Number     `json:"port"`
			DBName   string          `json:"dbname"`
			SSL      json.RawMessage `json:"ssl"`
		}
		if json.Unmarshal([]byte(current.String), &stored) != nil || stored.Password == "" {
			return "", "", errcode.New(errcode.Conflict, "the stored secret holds no JSON password; it was changed outside this stack")
		}
		if err := passwordFitsEngine(stored.Password, stored.Engine, now.Engine); err != nil {
			return "", "", err
		}
		keep = &provision.Kept{Username: stored.Username, Password: stored.Password, Host: stored.Host, DBName: stored.DBName,
			TLS: bool(now.CreateDatabaseUser) && (string(stored.SSL) == "true" || l.svc.Config().RequireTLS)}
		if p, err := strconv.Atoi(stored.Port.String()); err == nil {
			keep.Port = p
		}
	case provision.KindTemplate:
		var stored map[string]json.RawMessage
		var password string
		if json.Unmarshal([]byte(current.String), &stored) != nil || json.Unmarshal(stored[old.GenerateStringKey], &password) != nil || password == "" {
			return "", "", errcode.New(errcode.Conflict, "the stored secret holds no generated value under %s; it was changed outside this stack", errcode.Quote(old.GenerateStringKey))
		}
		keep = &provision.Kept{Password: password}
	}
	value, username, err := l.svc.Value(now, k, idempotencyKey, keep)
	if err != nil {
		return "", "", err
	}
	if value.String == current.String && string(value.Binary) == string(current.Binary) {
		return current.VersionID, username, nil
	}
	version, err := l.manager.PutValue(ctx, id, updateToken(idempotencyKey), value)
	return version, username, err
}

// updateToken is an Update's version id: from its request's key, in a
// domain of its own. A direct invoker chooses the whole key (StackId,
// LogicalResourceId, RequestId); under the bare Token it could make it
// equal another trigger's version token (an API caller's, whose next
// request would then take this stack's secret for its own earlier
// attempt). No Create's token begins with "update".
func updateToken(idempotencyKey string) string {
	return secretstore.Token("update\x00cloudformation\x00" + idempotencyKey)
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

func (l *Lifecycle) updateMetadata(ctx context.Context, id string, old, now provision.Request) error {
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
func (l *Lifecycle) updateTags(ctx context.Context, id string, old, now secretspec.Tags) error {
	was := make(map[string]string, len(old))
	for _, t := range old {
		was[t.Key] = t.Value
	}
	var changed secretspec.Tags
	keep := make(map[string]bool, len(now))
	for _, t := range now {
		keep[t.Key] = true
		if v, ok := was[t.Key]; !ok || v != t.Value {
			changed = append(changed, t)
		}
	}
	var removed []string
	for _, t := range old {
		if !keep[t.Key] && !provision.IsReservedTag(t.Key) {
			removed = append(removed, t.Key)
		}
	}
	if err := l.manager.Untag(ctx, id, removed); err != nil {
		return err
	}
	return l.manager.Tag(ctx, id, changed.SDK())
}

// updateReplicas compares with the replicas that exist, so a retry never
// adds a Region twice; a Region whose KMS key changed is removed and added
// again, the only way to change a replica's key.
func (l *Lifecycle) updateReplicas(ctx context.Context, id string, old, now secretspec.Replicas, existing []secretstore.ReplicaStatus, force bool) error {
	oldKey := make(map[string]string, len(old))
	for _, r := range old {
		oldKey[r.Region] = r.KmsKeyID
	}
	exists := make(map[string]bool, len(existing))
	for _, r := range existing {
		exists[r.Region] = true
	}
	wanted := make(map[string]bool, len(now))
	var add secretspec.Replicas
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
	return l.manager.Replicate(ctx, id, add.SDK(), force)
}

// Delete deletes the secret id as provision.Service.Remove does: its
// database user, its replicas, the secret, recoverable for the window
// unless forced. An id that is not a secret of ours, a secret another
// resource made, a missing secret and one already scheduled for deletion
// are left as they are (their recorded user is dropped all the same), so
// that a stack can always be deleted: skipped then says why nothing more
// was done.
func (l *Lifecycle) Delete(ctx context.Context, res Resource, id string, opts provision.DeleteOptions, r provision.Request) (skipped string, err error) {
	if l.NameFromARN(id, res.Account) == "" {
		return "not a secret ARN of this Region, account and prefix", nil
	}
	current, err := l.manager.Describe(ctx, id)
	switch {
	case errors.Is(err, secretstore.ErrNotFound):
		// Deleted outside the stack: its user, if this resource's request
		// made one, goes all the same.
		if err := l.svc.RemoveUserOfGone(ctx, res.Provenance.Via, res.Provenance.By, id, opts); err != nil {
			return "", err
		}
		// And its readers' grants: they name a secret that is gone.
		if err := l.svc.RetireReadersOfGone(ctx, res.Provenance.Via, id); err != nil {
			return "", err
		}
		return "the secret no longer exists", nil
	case err != nil:
		return "", err
	case !res.made(current):
		return "the secret was not made by this stack's resource (provenance tags)", nil
	}
	scheduled := current.Deleted
	if _, err := l.svc.Remove(ctx, current, res.Provenance.Via, opts); err != nil {
		return "", err
	}
	if scheduled {
		return "the secret is already scheduled for deletion", nil
	}
	return "", nil
}

// userStaysPut refuses an update that would move a database user elsewhere
// or start or stop managing one: done in place it would orphan the user
// (or leave one behind); under a new name, a replacement makes a new one.
func userStaysPut(old, now provision.Request) error {
	if old.CreateDatabaseUser != now.CreateDatabaseUser {
		return errcode.Invalidf("createDatabaseUser", "cannot change in place: give the resource a new name (and username) to replace it")
	}
	if !now.CreateDatabaseUser {
		return nil
	}
	for _, f := range []struct {
		field    string
		old, now string
	}{
		{"engine", strings.ToLower(old.Engine), strings.ToLower(now.Engine)},
		{"host", old.Host, now.Host},
		{"port", portOf(old), portOf(now)},
		{"dbname", old.DBName, now.DBName},
		{"username", old.Username, now.Username},
		{"masterSecretArn", old.MasterSecretARN, now.MasterSecretARN},
	} {
		if f.old != f.now {
			return errcode.Invalidf(f.field, "would move the database user elsewhere; give the resource a new name (and username) to replace it, so that the old user is dropped with the old secret")
		}
	}
	return nil
}

func portOf(r provision.Request) string {
	if r.Port == nil {
		return ""
	}
	return strconv.Itoa(int(*r.Port))
}
