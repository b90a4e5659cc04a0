package secretreaders

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/awslite/kms"
	"github.com/dbcreds/provisioner/shared/awslite/sts"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// The calls Access makes, each copying the SDK's signature.
type (
	PolicyAPI interface {
		GetResourcePolicy(ctx context.Context, params *secretsmanager.GetResourcePolicyInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetResourcePolicyOutput, error)
		PutResourcePolicy(ctx context.Context, params *secretsmanager.PutResourcePolicyInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutResourcePolicyOutput, error)
		DeleteResourcePolicy(ctx context.Context, params *secretsmanager.DeleteResourcePolicyInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DeleteResourcePolicyOutput, error)
	}
	KeyAPI interface {
		DescribeKey(ctx context.Context, params *kms.DescribeKeyInput, optFns ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
		CreateGrant(ctx context.Context, params *kms.CreateGrantInput, optFns ...func(*kms.Options)) (*kms.CreateGrantOutput, error)
		ListGrants(ctx context.Context, params *kms.ListGrantsInput, optFns ...func(*kms.Options)) (*kms.ListGrantsOutput, error)
		RetireGrant(ctx context.Context, params *kms.RetireGrantInput, optFns ...func(*kms.Options)) (*kms.RetireGrantOutput, error)
	}
	// Records are where the grants Access makes are recorded, where a
	// caller cannot write (userledger.Ledger): Update and Delete act on the
	// record, never on a key resolved again or on every grant the role holds.
	Records interface {
		Grants(ctx context.Context, via, secretARN string) ([]userledger.Grant, error)
		// UpdateGrants changes the record by change, atomically.
		UpdateGrants(ctx context.Context, via, secretARN string, change func([]userledger.Grant) []userledger.Grant) error
	}
	IdentityAPI interface {
		GetCallerIdentity(ctx context.Context, params *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
	}
)

// GrantName names every grant Access makes. KMS makes one grant of a name
// for identical parameters, so a retried CreateGrant never makes a second.
const GrantName = "dbcreds-provisioner-reader"

// Access gives a secret's readers their access: the resource policy, and a
// KMS grant per reader on each customer managed key the secret (and each
// replica) is encrypted with. Build one at init; it calls nothing until a
// request has readers.
type Access struct {
	policies PolicyAPI
	keys     KeyAPI
	records  Records
	identity IdentityAPI

	mu sync.Mutex
	me string // the role this function runs as: every grant's retiring principal
}

// New returns the access that calls policies (Secrets Manager), keys (KMS)
// and identity (STS), and records its grants in records. Each is required.
func New(policies PolicyAPI, keys KeyAPI, records Records, identity IdentityAPI) (*Access, error) {
	if policies == nil || keys == nil || records == nil || identity == nil {
		return nil, errcode.New(errcode.Internal, "readers' access needs Secrets Manager, KMS and STS clients and the grants' record")
	}
	return &Access{policies: policies, keys: keys, records: records, identity: identity}, nil
}

// Copy is one copy of a secret, the primary or a replica: its Region and
// the KMS key it was given (empty: the AWS managed key aws/secretsmanager).
// Field names the request field that chose the key, for errors.
type Copy struct {
	Region   string
	KmsKeyID string
	Field    string
}

// Key is a customer managed key a copy of a secret is encrypted with.
type Key struct {
	Region string
	ARN    string
}

// Keys resolves the customer managed keys of copies. CreateGrant takes no
// alias, so each is read once with DescribeKey, in its own Region. An AWS
// managed key needs no grant for readers in this account (its key policy
// lets the account's principals decrypt through Secrets Manager), but
// cannot serve a reader in another one (that policy is AWS's): with
// crossAccount, one is refused, naming its field.
func (a *Access) Keys(ctx context.Context, copies []Copy, crossAccount bool) ([]Key, error) {
	return a.keysOf(ctx, copies, crossAccount)
}

// keysOf resolves copies' keys; strict refuses an AWS managed key (and, a
// key that is not there) instead of leaving it out.
func (a *Access) keysOf(ctx context.Context, copies []Copy, strict bool) ([]Key, error) {
	var keys []Key
	for _, c := range copies {
		if c.KmsKeyID == "" {
			continue
		}
		if IsAWSManagedAlias(c.KmsKeyID) {
			if strict {
				return nil, errcode.Invalidf(c.Field, "is an AWS managed key, which cannot give readers access: its key policy is AWS's. Use a customer managed key")
			}
			continue
		}
		out, err := a.keys.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(c.KmsKeyID)}, inRegion(c.Region))
		var notFound *kmstypes.NotFoundException
		switch {
		case !strict && (errors.As(err, &notFound) || err == nil && out.KeyMetadata != nil && out.KeyMetadata.KeyManager != kmstypes.KeyManagerTypeCustomer):
			continue
		case errors.As(err, &notFound):
			// CreateSecret would refuse it too; say so before anything is made.
			return nil, errcode.Invalidf(c.Field, "%s is no KMS key in %s", errcode.Quote(c.KmsKeyID), c.Region)
		case err != nil:
			return nil, awsclient.Classify(err, "KMS")
		case out.KeyMetadata == nil:
			return nil, errcode.New(errcode.Upstream, "KMS described no key for %s", errcode.Quote(c.KmsKeyID))
		case out.KeyMetadata.KeyManager != kmstypes.KeyManagerTypeCustomer:
			return nil, errcode.Invalidf(c.Field, "is an AWS managed key, which cannot give readers access: its key policy is AWS's. Use a customer managed key")
		}
		keys = append(keys, Key{Region: c.Region, ARN: aws.ToString(out.KeyMetadata.Arn)})
	}
	return keys, nil
}

// IsAWSManagedAlias is an alias of an AWS managed key (alias/aws/...),
// by name or ARN.
func IsAWSManagedAlias(id string) bool {
	return strings.HasPrefix(id, "alias/aws/") || strings.Contains(id, ":alias/aws/")
}

// Target is what a secret's readers should be.
type Target struct {
	// Via is the trigger that made the secret: its grants are recorded
	// under it.
	Via       string
	SecretARN string
	Readers   []string
	// Keys are the secret's customer managed keys now, each of which
	// gives every reader a grant. Every other grant recorded for the
	// secret (on a key it left, a removed replica's, the key an alias
	// named before it moved, a reader's who went) is retired.
	Keys []Key
	// Fresh is a secret this very call created: it can carry no policy
	// and no grant yet.
	Fresh bool
}

// Apply brings the secret to t: grants first, then the policy that makes
// them of use, when there are readers; the policy first, then the grants,
// when readers go. A policy someone attached by hand is never overwritten
// (conflict) or deleted.
func (a *Access) Apply(ctx context.Context, t Target) error {
	if len(t.Readers) == 0 {
		if !t.Fresh {
			if err := a.removePolicy(ctx, t.SecretARN); err != nil {
				return err
			}
		}
		return a.Retire(ctx, t.Via, t.SecretARN)
	}
	policy, err := Policy(t.Readers)
	if err != nil {
		return err
	}
	if !t.Fresh {
		existing, err := a.policy(ctx, t.SecretARN)
		if err != nil {
			return err
		}
		if _, ours := Ours(existing); existing != "" && !ours {
			return &errcode.Error{Code: errcode.Conflict, Field: "readers",
				Message: "the secret carries a resource policy that was not written by this provisioner; remove it, or leave readers out"}
		}
	}
	if err := a.syncGrants(ctx, t); err != nil {
		return err
	}
	_, err = a.policies.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{
		SecretId:          aws.String(t.SecretARN),
		ResourcePolicy:    aws.String(policy),
		BlockPublicPolicy: aws.Bool(true),
	})
	return classifySecrets(err)
}

// Retire retires every grant recorded for the secret made through via.
func (a *Access) Retire(ctx context.Context, via, secretARN string) error {
	return a.syncGrants(ctx, Target{Via: via, SecretARN: secretARN})
}

// Readers are the readers the secret's policy names, when it is the
// provisioner's; nil when it has none or one attached by hand.
func (a *Access) Readers(ctx context.Context, secretARN string) ([]string, error) {
	policy, err := a.policy(ctx, secretARN)
	if err != nil {
		return nil, err
	}
	readers, _ := Ours(policy)
	return readers, nil
}

func (a *Access) policy(ctx context.Context, secretARN string) (string, error) {
	out, err := a.policies.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: aws.String(secretARN)})
	if err != nil {
		return "", classifySecrets(err)
	}
	return aws.ToString(out.ResourcePolicy), nil
}

func (a *Access) removePolicy(ctx context.Context, secretARN string) error {
	existing, err := a.policy(ctx, secretARN)
	if err != nil {
		return err
	}
	if _, ours := Ours(existing); !ours {
		return nil // none, or someone else's: theirs to keep
	}
	_, err = a.policies.DeleteResourcePolicy(ctx, &secretsmanager.DeleteResourcePolicyInput{SecretId: aws.String(secretARN)})
	return classifySecrets(err)
}

// calls is how many KMS calls a sync makes at once: a stack's Create with
// every reader on every replica's key must end well inside the function's
// time, one call after another would not.
const calls = 8

type pair struct{ key, grantee string }

func pairOf(g userledger.Grant) pair { return pair{g.Key, g.Grantee} }

// syncGrants makes the grants match t, acting only on what the record says
// Access made: a grant per reader on each key; every other recorded grant
// retired. The record is changed atomically, by what this sync did (a
// grant to be made, its id once made, a grant retired), so that a sync at
// the same time adds to it rather than over it; a grant is recorded before
// it is asked for, so none is ever made unrecorded.
func (a *Access) syncGrants(ctx context.Context, t Target) error {
	var recorded []userledger.Grant
	if !t.Fresh {
		var err error
		if recorded, err = a.records.Grants(ctx, t.Via, t.SecretARN); err != nil {
			return err
		}
	}
	if len(recorded) == 0 && (len(t.Keys) == 0 || len(t.Readers) == 0) {
		return nil
	}
	me, err := a.retirer(ctx)
	if err != nil {
		return err
	}
	want := map[pair]bool{}
	made := map[pair]bool{}
	for _, g := range recorded {
		if g.ID != "" {
			made[pairOf(g)] = true
		}
	}
	var missing []userledger.Grant
	for _, k := range t.Keys {
		for _, r := range t.Readers {
			p := pair{k.ARN, r}
			want[p] = true
			if !made[p] {
				missing = append(missing, userledger.Grant{Region: k.Region, Key: k.ARN, Grantee: r})
			}
		}
	}
	if len(missing) > 0 {
		// To be made: recorded once a pair, however often a sync fails.
		err := a.records.UpdateGrants(ctx, t.Via, t.SecretARN, func(cur []userledger.Grant) []userledger.Grant {
			for _, m := range missing {
				if !slices.ContainsFunc(cur, func(g userledger.Grant) bool { return pairOf(g) == pairOf(m) }) {
					cur = append(cur, m)
				}
			}
			return cur
		})
		if err != nil {
			return err
		}
	}
	// A CreateGrant KMS answered with an error made no grant; one that got
	// no answer (out of time, the network) may have.
	var mu sync.Mutex
	var refused []pair
	work := make([]func(context.Context) (string, error), len(missing))
	for i, g := range missing {
		work[i] = func(ctx context.Context) (string, error) {
			id, err := a.createGrant(ctx, t.SecretARN, g, me)
			if err != nil && errcode.Of(err) != errcode.Unavailable {
				mu.Lock()
				refused = append(refused, pairOf(g))
				mu.Unlock()
			}
			return id, err
		}
	}
	ids, createErr := together(ctx, work)
	if len(refused) > 0 {
		err := a.records.UpdateGrants(ctx, t.Via, t.SecretARN, func(cur []userledger.Grant) []userledger.Grant {
			return slices.DeleteFunc(cur, func(g userledger.Grant) bool { return g.ID == "" && slices.Contains(refused, pairOf(g)) })
		})
		if err != nil {
			return err
		}
	}
	var created []userledger.Grant
	for i, id := range ids {
		if id != "" {
			g := missing[i]
			g.ID = id
			created = append(created, g)
		}
	}
	if len(created) > 0 {
		err := a.records.UpdateGrants(ctx, t.Via, t.SecretARN, func(cur []userledger.Grant) []userledger.Grant {
			for _, c := range created {
				if slices.ContainsFunc(cur, func(g userledger.Grant) bool { return g.ID == c.ID }) {
					continue
				}
				if i := slices.IndexFunc(cur, func(g userledger.Grant) bool { return g.ID == "" && pairOf(g) == pairOf(c) }); i >= 0 {
					cur[i].ID = c.ID
				} else {
					cur = append(cur, c)
				}
			}
			return cur
		})
		if err != nil {
			return err
		}
	}
	// What goes: every recorded grant not wanted, and of a wanted pair all
	// but one. When a grant could not be made, the wanted pairs stay as
	// they are, for the retry.
	current, err := a.records.Grants(ctx, t.Via, t.SecretARN)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	kept := map[pair]bool{}
	var retire []userledger.Grant
	for _, g := range current {
		p := pairOf(g)
		switch {
		case want[p] && createErr != nil:
			keep[g.ID] = true
		case want[p] && g.ID != "" && !kept[p]:
			kept[p] = true
			keep[g.ID] = true
		case want[p] && g.ID == "" && kept[p]:
			// A stale entry of a pair made since: resolved below.
			retire = append(retire, g)
		case want[p]:
			keep[g.ID] = true
		default:
			retire = append(retire, g)
		}
	}
	for _, c := range created {
		keep[c.ID] = true
	}
	retireWork := make([]func(context.Context) (string, error), len(retire))
	for i, g := range retire {
		retireWork[i] = func(ctx context.Context) (string, error) { return "done", a.retire(ctx, t.SecretARN, g, me, keep) }
	}
	done, retireErr := together(ctx, retireWork)
	var gone []userledger.Grant
	for i, d := range done {
		if d != "" {
			gone = append(gone, retire[i])
		}
	}
	if len(gone) > 0 {
		err := a.records.UpdateGrants(ctx, t.Via, t.SecretARN, func(cur []userledger.Grant) []userledger.Grant {
			return slices.DeleteFunc(cur, func(g userledger.Grant) bool { return slices.Contains(gone, g) })
		})
		if err != nil {
			return err
		}
	}
	if createErr != nil {
		return createErr
	}
	return retireErr
}

// createGrant asks KMS for g's grant on the copy of the secret in g's
// Region. KMS answers a named CreateGrant of the same parameters with the
// grant it made before, so asking again is how a grant whose answer was
// lost is found.
func (a *Access) createGrant(ctx context.Context, secretARN string, g userledger.Grant, me string) (string, error) {
	out, err := a.keys.CreateGrant(ctx, &kms.CreateGrantInput{
		KeyId:             aws.String(g.Key),
		GranteePrincipal:  aws.String(g.Grantee),
		Operations:        []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt},
		Constraints:       &kmstypes.GrantConstraints{EncryptionContextSubset: map[string]string{"SecretARN": InRegion(secretARN, g.Region)}},
		RetiringPrincipal: aws.String(me),
		Name:              aws.String(GrantName),
	}, inRegion(g.Region))
	if err != nil {
		return "", classifyKMS(err, "readers")
	}
	return aws.ToString(out.GrantId), nil
}

// retire retires g: by its id; or, when its CreateGrant's answer was lost,
// every grant of Access's on its key for its grantee and this copy that
// ListGrants shows, and the one a named CreateGrant answers with (KMS may
// not list a new grant yet; asking again names it, and a grantee KMS
// refuses has none). Grants kept are never retired: the one kept may be
// that very grant.
func (a *Access) retire(ctx context.Context, secretARN string, g userledger.Grant, me string, keep map[string]bool) error {
	ids := []string{g.ID}
	if g.ID == "" {
		var err error
		if ids, err = a.unrecorded(ctx, secretARN, g, me); err != nil {
			return err
		}
		id, err := a.createGrant(ctx, secretARN, g, me)
		switch {
		case errcode.Of(err) == errcode.Invalid:
			// KMS refuses the grantee or the key: no such grant can exist.
		case err != nil:
			return err
		default:
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		if keep[id] {
			continue
		}
		_, err := a.keys.RetireGrant(ctx, &kms.RetireGrantInput{KeyId: aws.String(g.Key), GrantId: aws.String(id)}, inRegion(g.Region))
		var notFound *kmstypes.NotFoundException
		if err != nil && !errors.As(err, &notFound) {
			return classifyKMS(err, "readers")
		}
	}
	return nil
}

// unrecorded are Access's grants on g's key for g's grantee and this copy
// of the secret: its name, this function as retiring principal, Decrypt
// alone and exactly the copy's SecretARN as constraint.
func (a *Access) unrecorded(ctx context.Context, secretARN string, g userledger.Grant, me string) ([]string, error) {
	copyARN := InRegion(secretARN, g.Region)
	var ids []string
	in := &kms.ListGrantsInput{KeyId: aws.String(g.Key), GranteePrincipal: aws.String(g.Grantee), Limit: aws.Int32(100)}
	for {
		out, err := a.keys.ListGrants(ctx, in, inRegion(g.Region))
		if err != nil {
			return nil, classifyKMS(err, "readers")
		}
		for _, e := range out.Grants {
			if aws.ToString(e.Name) == GrantName && aws.ToString(e.RetiringPrincipal) == me && aws.ToString(e.GranteePrincipal) == g.Grantee &&
				slices.Equal(e.Operations, []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}) &&
				e.Constraints != nil && len(e.Constraints.EncryptionContextEquals) == 0 &&
				len(e.Constraints.EncryptionContextSubset) == 1 && e.Constraints.EncryptionContextSubset["SecretARN"] == copyARN {
				ids = append(ids, aws.ToString(e.GrantId))
			}
		}
		if !out.Truncated || out.NextMarker == nil {
			return ids, nil
		}
		in.Marker = out.NextMarker
	}
}

// together runs work, calls at a time, and answers what each returned,
// what succeeded even when another failed. The first error starts nothing
// more, but a call already made runs to its answer: KMS has made its grant,
// and only its answer records the grant's id.
func together(ctx context.Context, work []func(context.Context) (string, error)) ([]string, error) {
	out := make([]string, len(work))
	errs := make([]error, len(work))
	slots := make(chan struct{}, calls)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed bool
	)
	for i, w := range work {
		mu.Lock()
		stop := failed
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if out[i], errs[i] = w(ctx); errs[i] != nil {
				mu.Lock()
				failed = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return out, err
		}
	}
	if err := ctx.Err(); err != nil && slices.Contains(out, "") {
		return out, awsclient.Classify(err, "KMS") // out of time before all was asked
	}
	return out, nil
}

// retirer is the role this function runs as, learnt once: STS names the
// session (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION), a grant's
// retiring principal is the role. A failed call is tried again next time.
func (a *Access) retirer(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.me != "" {
		return a.me, nil
	}
	out, err := a.identity.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", awsclient.Classify(err, "STS")
	}
	a.me = RoleOf(aws.ToString(out.Arn))
	return a.me, nil
}

// RoleOf is the IAM role of an assumed-role session ARN; any other ARN is
// itself. SAM's roles have no path, so the role ARN is the name's.
func RoleOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[2] != "sts" || !strings.HasPrefix(parts[5], "assumed-role/") {
		return arn
	}
	role, _, _ := strings.Cut(strings.TrimPrefix(parts[5], "assumed-role/"), "/")
	return "arn:" + parts[1] + ":iam::" + parts[4] + ":role/" + role
}

// InRegion is the ARN of the secret's copy in region: a replica's ARN is
// the primary's with its own Region.
func InRegion(secretARN, region string) string {
	parts := strings.SplitN(secretARN, ":", 5)
	if len(parts) != 5 || region == "" {
		return secretARN
	}
	parts[3] = region
	return strings.Join(parts, ":")
}

func inRegion(region string) func(*kms.Options) {
	return func(o *kms.Options) {
		if region != "" {
			o.Region = region
		}
	}
}

func classifySecrets(err error) error {
	if err == nil {
		return nil
	}
	var (
		notFound  *smtypes.ResourceNotFoundException
		malformed *smtypes.MalformedPolicyDocumentException
		public    *smtypes.PublicPolicyException
	)
	switch {
	case errors.As(err, &notFound):
		return errcode.Wrap(err, errcode.NotFound, "the secret does not exist")
	case errors.As(err, &malformed), errors.As(err, &public):
		e := errcode.Wrap(err, errcode.Invalid, "Secrets Manager refused the readers' policy")
		e.Field = "readers"
		return e
	}
	return awsclient.Classify(err, "Secrets Manager")
}

func classifyKMS(err error, field string) error {
	var (
		notFound *kmstypes.NotFoundException
		disabled *kmstypes.DisabledException
		state    *kmstypes.KMSInvalidStateException
		invalid  *kmstypes.InvalidArnException
		limit    *kmstypes.LimitExceededException
	)
	switch {
	case errors.As(err, &limit):
		e := errcode.Wrap(err, errcode.Invalid, "the KMS key holds as many grants as KMS allows; readers need a key with room (or fewer readers)")
		e.Field = field
		return e
	case errors.As(err, &notFound), errors.As(err, &disabled), errors.As(err, &state), errors.As(err, &invalid):
		e := errcode.Wrap(err, errcode.Invalid, "KMS refused a reader's grant: check that the key exists, is enabled, and that each reader is a principal that exists")
		e.Field = field
		return e
	}
	return awsclient.Classify(err, "KMS")
}
