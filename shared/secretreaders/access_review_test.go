package secretreaders

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/awslite/kms"
	"github.com/dbcreds/provisioner/shared/awslite/sts"
)

// reviewKMS is a KMS that answers each call after latency, keeping grants.
type reviewKMS struct {
	latency time.Duration
	mu      sync.Mutex
	grants  map[string][]kmstypes.GrantListEntry
	calls   int
}

func (k *reviewKMS) wait(ctx context.Context) error {
	k.mu.Lock()
	k.calls++
	k.mu.Unlock()
	select {
	case <-time.After(k.latency):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (k *reviewKMS) DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, _ ...func(*kms.Options)) (*kms.DescribeKeyOutput, error) {
	return &kms.DescribeKeyOutput{KeyMetadata: &kmstypes.KeyMetadata{Arn: in.KeyId, KeyManager: kmstypes.KeyManagerTypeCustomer}}, k.wait(ctx)
}

func (k *reviewKMS) CreateGrant(ctx context.Context, in *kms.CreateGrantInput, _ ...func(*kms.Options)) (*kms.CreateGrantOutput, error) {
	if err := k.wait(ctx); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	id := strconv.Itoa(len(k.grants[*in.KeyId]))
	k.grants[*in.KeyId] = append(k.grants[*in.KeyId], kmstypes.GrantListEntry{GrantId: aws.String(id), KeyId: in.KeyId, Name: in.Name, GranteePrincipal: in.GranteePrincipal,
		RetiringPrincipal: in.RetiringPrincipal, Operations: in.Operations, Constraints: in.Constraints})
	return &kms.CreateGrantOutput{GrantId: aws.String(id)}, nil
}

func (k *reviewKMS) ListGrants(ctx context.Context, in *kms.ListGrantsInput, _ ...func(*kms.Options)) (*kms.ListGrantsOutput, error) {
	if err := k.wait(ctx); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var all []kmstypes.GrantListEntry
	for _, g := range k.grants {
		all = append(all, g...)
	}
	return &kms.ListGrantsOutput{Grants: all}, nil
}

func (k *reviewKMS) RetireGrant(ctx context.Context, in *kms.RetireGrantInput, _ ...func(*kms.Options)) (*kms.RetireGrantOutput, error) {
	return &kms.RetireGrantOutput{}, k.wait(ctx)
}

type reviewPolicies struct{ put atomic.Bool }

func (p *reviewPolicies) GetResourcePolicy(context.Context, *secretsmanager.GetResourcePolicyInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetResourcePolicyOutput, error) {
	return &secretsmanager.GetResourcePolicyOutput{}, nil
}
func (p *reviewPolicies) PutResourcePolicy(context.Context, *secretsmanager.PutResourcePolicyInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutResourcePolicyOutput, error) {
	p.put.Store(true)
	return &secretsmanager.PutResourcePolicyOutput{}, nil
}
func (p *reviewPolicies) DeleteResourcePolicy(context.Context, *secretsmanager.DeleteResourcePolicyInput, ...func(*secretsmanager.Options)) (*secretsmanager.DeleteResourcePolicyOutput, error) {
	return &secretsmanager.DeleteResourcePolicyOutput{}, nil
}

type reviewSTS struct{}

func (reviewSTS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return &sts.GetCallerIdentityOutput{Arn: aws.String("arn:aws:sts::123456789012:assumed-role/fn-role/fn")}, nil
}

// TestApplyFitsTheFunctionsTime (review finding): 50 readers on a primary
// and five replicas' keys are 300 CreateGrants, once made one after
// another: about 30 s at 100 ms a call, more than the function has.
// Requests are now held to MaxGrants, and the grants are made eight at a
// time; even 300 of them end in time. Time is scaled down twenty-fold
// (5 ms a call, 1.25 s for the 25 s the work has).
func TestApplyFitsTheFunctionsTime(t *testing.T) {
	const scale = 20
	k := &reviewKMS{latency: 100 * time.Millisecond / scale, grants: map[string][]kmstypes.GrantListEntry{}}
	p := &reviewPolicies{}
	a, err := New(p, k, &memRecords{}, reviewSTS{})
	if err != nil {
		t.Fatal(err)
	}
	var readers []string
	for i := 0; i < MaxReaders; i++ {
		readers = append(readers, "arn:aws:iam::123456789012:role/reader-"+strconv.Itoa(i))
	}
	var keys []Key
	for _, region := range []string{"us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2", "us-west-2", "sa-east-1"} {
		keys = append(keys, Key{Region: region, ARN: "arn:aws:kms:" + region + ":123456789012:key/k"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second/scale)
	defer cancel()
	start := time.Now()
	err = a.Apply(ctx, Target{SecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/x-AbCdEf", Readers: readers, Keys: keys, Fresh: true})
	made := 0
	for _, g := range k.grants {
		made += len(g)
	}
	if err != nil || !p.put.Load() {
		t.Errorf("50 readers on a secret and 5 replicas: %v after %v (x%d), %d KMS calls, %d of %d grants made, policy written %v: "+
			"such a request cannot complete in one invocation", err, time.Since(start)*scale, scale, k.calls, made, len(readers)*len(keys), p.put.Load())
	}
}
