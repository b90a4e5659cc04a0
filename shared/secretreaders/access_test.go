package secretreaders

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/dbcreds/provisioner/shared/awslite/kms"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// fakeKeys is KMS with function fields; an unset one fails the test.
type fakeKeys struct {
	t           *testing.T
	describeKey func(*kms.DescribeKeyInput) (*kms.DescribeKeyOutput, error)
}

func (f fakeKeys) DescribeKey(_ context.Context, in *kms.DescribeKeyInput, _ ...func(*kms.Options)) (*kms.DescribeKeyOutput, error) {
	return f.describeKey(in)
}
func (f fakeKeys) CreateGrant(context.Context, *kms.CreateGrantInput, ...func(*kms.Options)) (*kms.CreateGrantOutput, error) {
	f.t.Fatal("CreateGrant called")
	return nil, nil
}
func (f fakeKeys) ListGrants(context.Context, *kms.ListGrantsInput, ...func(*kms.Options)) (*kms.ListGrantsOutput, error) {
	f.t.Fatal("ListGrants called")
	return nil, nil
}
func (f fakeKeys) RetireGrant(context.Context, *kms.RetireGrantInput, ...func(*kms.Options)) (*kms.RetireGrantOutput, error) {
	f.t.Fatal("RetireGrant called")
	return nil, nil
}

// TestAWSManagedKeysRefused: a key KMS says AWS manages (moto says every
// key is the customer's) cannot give readers access: refused, naming the
// field, when a reader lives in another account; for readers in this one it
// needs no grant.
func TestAWSManagedKeysRefused(t *testing.T) {
	calls := 0
	keys := fakeKeys{t: t, describeKey: func(in *kms.DescribeKeyInput) (*kms.DescribeKeyOutput, error) {
		calls++
		return &kms.DescribeKeyOutput{KeyMetadata: &kmstypes.KeyMetadata{Arn: aws.String("arn:aws:kms:us-east-1:111122223333:key/" + aws.ToString(in.KeyId)), KeyManager: kmstypes.KeyManagerTypeAws}}, nil
	}}
	a, err := New(nil, nil, nil, nil)
	if err == nil {
		t.Fatal("New took no clients")
	}
	a = &Access{keys: keys}
	for _, id := range []string{"0a1b2c3d-0000-4000-8000-000000000000", "alias/aws/secretsmanager", "arn:aws:kms:eu-west-1:111122223333:alias/aws/secretsmanager"} {
		_, err := a.Keys(context.Background(), []Copy{{Region: "us-east-1", KmsKeyID: id, Field: "kmsKeyId"}}, true)
		if errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != "kmsKeyId" {
			t.Errorf("%s: %v, want invalid kmsKeyId", id, err)
		}
		if got, err := a.Keys(context.Background(), []Copy{{Region: "us-east-1", KmsKeyID: id}}, false); err != nil || len(got) != 0 {
			t.Errorf("%s for readers in this account: %v, %v; want no grant needed", id, got, err)
		}
	}
	if calls != 2 {
		t.Errorf("DescribeKey called %d times, want 2 (an AWS managed alias is known by its name)", calls)
	}
}

func TestRoleOfAndInRegion(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:sts::123456789012:assumed-role/dbcreds-HttpApiFunctionRole-AbC/dbcreds-HttpApiFunction": "arn:aws:iam::123456789012:role/dbcreds-HttpApiFunctionRole-AbC",
		"arn:aws-cn:sts::123456789012:assumed-role/r/s":                                                  "arn:aws-cn:iam::123456789012:role/r",
		"arn:aws:iam::123456789012:user/moto":                                                            "arn:aws:iam::123456789012:user/moto",
	} {
		if got := RoleOf(in); got != want {
			t.Errorf("RoleOf(%s) = %s, want %s", in, got, want)
		}
	}
	if got := InRegion("arn:aws:secretsmanager:us-east-1:123456789012:secret:app/x-AbCdEf", "eu-west-1"); got != "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/x-AbCdEf" {
		t.Errorf("InRegion: %s", got)
	}
}

// memRecords is the grants' record in memory.
type memRecords struct {
	mu     sync.Mutex
	grants map[string][]userledger.Grant
}

func (m *memRecords) Grants(_ context.Context, via, secretARN string) ([]userledger.Grant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.grants[via+"#"+secretARN]), nil
}

func (m *memRecords) UpdateGrants(_ context.Context, via, secretARN string, change func([]userledger.Grant) []userledger.Grant) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.grants == nil {
		m.grants = map[string][]userledger.Grant{}
	}
	m.grants[via+"#"+secretARN] = change(slices.Clone(m.grants[via+"#"+secretARN]))
	return nil
}
