package stack_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/provision"
)

// TestDeleteAfterOutsideDeletionRetiresGrants (third review finding): the
// stack's Delete of a secret deleted outside the provisioner dropped its
// database user but left its readers' grants and their record, where no
// later request could reach them. It retires them now.
func TestDeleteAfterOutsideDeletionRetiresGrants(t *testing.T) {
	ctx := context.Background()
	k := reviewKMS(t)
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	keyARN := aws.ToString(key.KeyMetadata.Arn)
	l := lifecycle(t)
	name := uniqueName(t)
	r := decode(t, `{"Name": "`+name+`", "Engine": "postgres", "Host": "h", "KmsKeyId": "`+keyARN+`", "ReplicaRegions": [],
		"Readers": ["arn:aws:iam::`+account+`:role/reporting"]}`)
	created, err := l.Create(ctx, resource(t, "create"), r)
	if err != nil {
		t.Fatal(err)
	}
	if n := reviewGrants(t, k, keyARN, created.ARN); n != 1 {
		t.Fatalf("%d grants after create, want 1", n)
	}
	if _, err := client(t, primary).DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(created.ARN), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	skipped, err := l.Delete(ctx, resource(t, "delete"), created.ARN, provision.DeleteOptions{}, r)
	if err != nil {
		t.Fatal(err)
	}
	if n := reviewGrants(t, k, keyARN, created.ARN); n != 0 {
		t.Errorf("the stack's Delete (%q) of a secret deleted outside it left %d reader grant(s) and their record: no later request can reach them", skipped, n)
	}
}
