package stack_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/middleware"

	"github.com/dbcreds/provisioner/local/testenv/core"
	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/secretreaders"
)

// reviewKMS is a KMS client on moto, as the functions build theirs.
func reviewKMS(t *testing.T) *kms.Client {
	t.Helper()
	core.Require(t)
	s, err := awsclient.FromEnvironment(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return kms.New(kms.Options{Region: primary, Credentials: s.Credentials, BaseEndpoint: s.Endpoint("KMS")})
}

// reviewGrants counts the provisioner's grants on key that name secretARN.
func reviewGrants(t *testing.T, k *kms.Client, key, secretARN string) int {
	t.Helper()
	out, err := k.ListGrants(context.Background(), &kms.ListGrantsInput{KeyId: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range out.Grants {
		if aws.ToString(g.Name) == secretreaders.GrantName && g.Constraints != nil && g.Constraints.EncryptionContextSubset["SecretARN"] == secretARN {
			n++
		}
	}
	return n
}

// failTagging makes a Secrets Manager client whose TagResource fails
// while *fail is set, as a throttled call, a timeout or the function's
// deadline would.
func failTagging(t *testing.T, fail *bool) *secretsmanager.Client {
	t.Helper()
	base := core.SecretsClient(t)
	return secretsmanager.New(base.Options(), func(o *secretsmanager.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("reviewFailTag",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if *fail && awsmiddleware.GetOperationName(ctx) == "TagResource" {
						return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("injected: TagResource did not answer")
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	})
}

// TestFailedReadersUpdateLeavesNoAccessBehind (review finding): an Update
// adding readers once made grants and the policy before it tagged the
// secret provisioned-readers, so when anything failed between (here the
// tag), the rollback and the Delete saw no tag and left the grants and
// policy for good. The tag now comes first: after the failed Update, its
// rollback removes the policy and the Delete retires every grant.
func TestFailedReadersUpdateLeavesNoAccessBehind(t *testing.T) {
	ctx := context.Background()
	k := reviewKMS(t)
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	keyARN := aws.ToString(key.KeyMetadata.Arn)

	fail := false
	c := failTagging(t, &fail)
	l := lifecycleOf(t, core.ServiceOn(t, testConfig(t, testGrants), c), c)

	name := uniqueName(t)
	oldBody := `{"Name": "` + name + `", "Engine": "postgres", "Host": "h", "KmsKeyId": "` + keyARN + `", "ReplicaRegions": []}`
	newBody := `{"Name": "` + name + `", "Engine": "postgres", "Host": "h", "KmsKeyId": "` + keyARN + `", "ReplicaRegions": [],
		"Readers": ["arn:aws:iam::` + account + `:role/reporting"]}`
	old, now := decode(t, oldBody), decode(t, newBody)

	created, err := l.Create(ctx, resource(t, "create"), old)
	if err != nil {
		t.Fatal(err)
	}

	fail = true
	if _, err := l.Update(ctx, resource(t, "update"), created.ARN, old, now); err == nil {
		t.Fatal("the update with a failing TagResource succeeded")
	}
	fail = false
	t.Logf("after the failed update: %d grant(s), readers tag %q", reviewGrants(t, k, keyARN, created.ARN), tagOf(t, created.ARN, provision.TagReaders))

	// CloudFormation's rollback: the old properties again.
	if _, err := l.Update(ctx, resource(t, "rollback"), created.ARN, now, old); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	policy, err := client(t, primary).GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: aws.String(created.ARN)})
	if err == nil && aws.ToString(policy.ResourcePolicy) != "" {
		t.Errorf("after the rollback (no Readers in the template) the live secret still carries the readers' policy is still on the secret: %s", aws.ToString(policy.ResourcePolicy))
	}
	days := props.Int(7)
	if _, err := l.Delete(ctx, resource(t, "delete"), created.ARN, provision.DeleteOptions{RecoveryWindowInDays: &days}, old); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if n := reviewGrants(t, k, keyARN, created.ARN); n != 0 {
		t.Errorf("after rollback and Delete, %d reader grant(s) for %s are still on the key: nothing will ever retire them", n, created.ARN)
	}
}

func tagOf(t *testing.T, arn, key string) string {
	t.Helper()
	for _, tg := range describe(t, arn).Tags {
		if aws.ToString(tg.Key) == key {
			return aws.ToString(tg.Value)
		}
	}
	return ""
}

// TestAliasRepointLeavesNoGrant (review finding): the grant goes on the
// key a request's alias names at create. Update and Delete once re-resolved
// the alias, so after its owner moved it they retired grants on the new
// key only, and a removed reader kept its grant on the old one, which
// still encrypts the existing versions. Grants are now found by the role
// that may retire them (ListRetirableGrants), on whatever key.
func TestAliasRepointLeavesNoGrant(t *testing.T) {
	ctx := context.Background()
	k := reviewKMS(t)
	first, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	alias := "alias/review-" + strings.ToLower(strings.ReplaceAll(uniqueName(t)[len("app/it/"):], "_", "-"))
	if _, err := k.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: first.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	l := lifecycle(t)
	name := uniqueName(t)
	withReaders := decode(t, `{"Name": "`+name+`", "Engine": "postgres", "Host": "h", "KmsKeyId": "`+alias+`", "ReplicaRegions": [],
		"Readers": ["arn:aws:iam::`+account+`:role/reporting"]}`)
	without := decode(t, `{"Name": "`+name+`", "Engine": "postgres", "Host": "h", "KmsKeyId": "`+alias+`", "ReplicaRegions": []}`)
	created, err := l.Create(ctx, resource(t, "create"), withReaders)
	if err != nil {
		t.Fatal(err)
	}
	firstARN := aws.ToString(first.KeyMetadata.Arn)
	if n := reviewGrants(t, k, firstARN, created.ARN); n != 1 {
		t.Fatalf("%d grants on the alias's key after create", n)
	}
	// The key's owner moves the alias to a new key.
	if _, err := k.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String(alias), TargetKeyId: second.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	// The stack drops the reader.
	if _, err := l.Update(ctx, resource(t, "update"), created.ARN, withReaders, without); err != nil {
		t.Fatal(err)
	}
	if n := reviewGrants(t, k, firstARN, created.ARN); n != 0 {
		t.Errorf("the reader was removed, yet its grant on the key that encrypted the secret (%s) is still there (%d)", firstARN, n)
	}
}
