package secretreaders

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/errcode"
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
		ListRetirableGrants(ctx context.Context, params *kms.ListRetirableGrantsInput, optFns ...func(*kms.Options)) (*kms.ListRetirableGrantsOutput, error)
		RetireGrant(ctx context.Context, params *kms.RetireGrantInput, optFns ...func(*kms.Options)) (*kms.RetireGrantOutput, error)
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
	identity IdentityAPI

	mu sync.Mutex
	me string // the role this function runs as: every grant's retiring principal
}

// New returns the access that calls policies (Secrets Manager), keys (KMS)
// and identity (STS). Each is required.
func New(policies PolicyAPI, keys KeyAPI, identity IdentityAPI) (*Access, error) {
	if policies == nil || keys == nil || identity == nil {
		return nil, errcode.New(errcode.Internal, "readers' access needs Secrets Manager, KMS and STS clients")
	}
	return &Access{policies: policies, keys: keys, identity: identity}, nil
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
	SecretARN string
	Readers   []string
	// Keys are the secret's customer managed keys now, each of which
	// gives every reader a grant.
	Keys []Key
	// Regions are every Region the secret has or had a copy in: grants
	// made there before for a key the secret left, a replica removed or a
	// reader gone, are found there and retired.
	Regions []string
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
		return a.Retire(ctx, t.SecretARN, t.Regions)
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

// Retire retires every grant Access made for the secret's copies in
// regions.
func (a *Access) Retire(ctx context.Context, secretARN string, regions []string) error {
	return a.syncGrants(ctx, Target{SecretARN: secretARN, Regions: regions})
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

// grant is one of Access's grants: on key, for grantee.
type grant struct {
	region, id, key, grantee string
}

// calls is how many KMS calls a sync makes at once: a stack's Create with
// every reader on every replica's key must end well inside the function's
// time, one Region's calls after another's would not.
const calls = 8

// syncGrants makes the grants match t: a grant per reader on each key,
// every other grant Access made for the secret's copies in t's Regions
// retired, on whatever key it is (the secret's old key, one an alias named
// before it was moved, a removed replica's). Only grants that are
// Access's own count: its name, this function as retiring principal,
// Decrypt alone and exactly a copy's SecretARN as constraint. A grant
// CreateGrant answers with is never retired by the same sync, however KMS
// spells its grantee.
func (a *Access) syncGrants(ctx context.Context, t Target) error {
	regions := slices.Clone(t.Regions)
	for _, k := range t.Keys {
		regions = append(regions, k.Region)
	}
	slices.Sort(regions)
	regions = slices.Compact(regions)
	if len(regions) == 0 {
		return nil
	}
	me, err := a.retirer(ctx)
	if err != nil {
		return err
	}
	var ours []grant
	if !t.Fresh {
		for _, region := range regions {
			found, err := a.grants(ctx, region, InRegion(t.SecretARN, region), me)
			if err != nil {
				return err
			}
			ours = append(ours, found...)
		}
	}
	type wanted struct{ key, grantee string }
	made := map[wanted]string{}
	for _, g := range ours {
		if _, seen := made[wanted{g.key, g.grantee}]; !seen {
			made[wanted{g.key, g.grantee}] = g.id
		}
	}
	var creates []func(context.Context) (string, error)
	want := map[wanted]bool{}
	for _, k := range t.Keys {
		for _, reader := range t.Readers {
			want[wanted{k.ARN, reader}] = true
			if _, ok := made[wanted{k.ARN, reader}]; ok {
				continue
			}
			copyARN := InRegion(t.SecretARN, k.Region)
			in := &kms.CreateGrantInput{
				KeyId:             aws.String(k.ARN),
				GranteePrincipal:  aws.String(reader),
				Operations:        []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt},
				Constraints:       &kmstypes.GrantConstraints{EncryptionContextSubset: map[string]string{"SecretARN": copyARN}},
				RetiringPrincipal: aws.String(me),
				Name:              aws.String(GrantName),
			}
			region := k.Region
			creates = append(creates, func(ctx context.Context) (string, error) {
				out, err := a.keys.CreateGrant(ctx, in, inRegion(region))
				if err != nil {
					return "", classifyKMS(err, "readers")
				}
				return aws.ToString(out.GrantId), nil
			})
		}
	}
	kept, err := together(ctx, creates)
	if err != nil {
		return err
	}
	var retires []func(context.Context) (string, error)
	for _, g := range ours {
		w := wanted{g.key, g.grantee}
		if want[w] && made[w] == g.id || slices.Contains(kept, g.id) {
			continue // one stays; duplicates from a lost race go
		}
		retires = append(retires, func(ctx context.Context) (string, error) {
			_, err := a.keys.RetireGrant(ctx, &kms.RetireGrantInput{KeyId: aws.String(g.key), GrantId: aws.String(g.id)}, inRegion(g.region))
			var notFound *kmstypes.NotFoundException
			if err != nil && !errors.As(err, &notFound) {
				return "", classifyKMS(err, "readers")
			}
			return g.id, nil
		})
	}
	_, err = together(ctx, retires)
	return err
}

// together runs work, calls at a time, and answers what each returned;
// the first error stops what has not started.
func together(ctx context.Context, work []func(context.Context) (string, error)) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]string, len(work))
	errs := make([]error, len(work))
	slots := make(chan struct{}, calls)
	var wg sync.WaitGroup
	for i, w := range work {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if out[i], errs[i] = w(ctx); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return out, err
		}
	}
	for _, err := range errs {
		if err != nil {
			return out, awsclient.Classify(err, "KMS") // out of time
		}
	}
	return out, nil
}

// grants are Access's grants for copyARN in region, on any key: every
// grant whose retiring principal is this function (ListRetirableGrants,
// which lists grants on other accounts' keys too), kept when it is
// Access's own.
func (a *Access) grants(ctx context.Context, region, copyARN, me string) ([]grant, error) {
	var ours []grant
	in := &kms.ListRetirableGrantsInput{RetiringPrincipal: aws.String(me), Limit: aws.Int32(100)}
	for {
		out, err := a.keys.ListRetirableGrants(ctx, in, inRegion(region))
		if err != nil {
			return nil, classifyKMS(err, "readers")
		}
		for _, g := range out.Grants {
			if aws.ToString(g.Name) != GrantName || aws.ToString(g.RetiringPrincipal) != me ||
				!slices.Equal(g.Operations, []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}) ||
				g.Constraints == nil || len(g.Constraints.EncryptionContextEquals) != 0 ||
				len(g.Constraints.EncryptionContextSubset) != 1 || g.Constraints.EncryptionContextSubset["SecretARN"] != copyARN {
				continue
			}
			ours = append(ours, grant{region: region, id: aws.ToString(g.GrantId), key: aws.ToString(g.KeyId), grantee: aws.ToString(g.GranteePrincipal)})
		}
		if !out.Truncated || out.NextMarker == nil {
			return ours, nil
		}
		in.Marker = out.NextMarker
	}
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
	)
	switch {
	case errors.As(err, &notFound), errors.As(err, &disabled), errors.As(err, &state), errors.As(err, &invalid):
		e := errcode.Wrap(err, errcode.Invalid, "KMS refused a reader's grant: check that the key exists, is enabled, and that each reader is a principal that exists")
		e.Field = field
		return e
	}
	return awsclient.Classify(err, "KMS")
}
