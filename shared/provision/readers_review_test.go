package provision

import (
	"errors"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// TestReadersOnANameTooLongForAGrant (review finding): KMS caps each value
// of a grant's encryption context constraint at 384 characters
// (CreateGrant, Constraints). A secret name may run to 512, so with readers
// and a customer managed key the SecretARN of a long name could never be
// granted: the secret was made, then every CreateGrant refused. moto does
// not enforce the cap; the request is now refused before anything is made.
func TestReadersOnANameTooLongForAGrant(t *testing.T) {
	name := "app/" + strings.Repeat("n", 400)
	// arn:aws:secretsmanager:us-east-1:123456789012:secret:<name>-AbCdEf
	if arn := len("arn:aws:secretsmanager:us-east-1:123456789012:secret:") + len(name) + len("-AbCdEf"); arn <= 384 {
		t.Fatalf("the ARN is only %d characters", arn)
	}
	body := `{"name": "` + name + `", "engine": "postgres", "host": "h", "kmsKeyId": "alias/app", "replicaRegions": [],
		"readers": ["arn:aws:iam::123456789012:role/app"]}`
	_, _, err := build(t, body, "")
	var e *errcode.Error
	if !errors.As(err, &e) || e.Code != errcode.Invalid {
		t.Fatalf("a %d-character name with readers and a customer managed key: %v; want invalid before anything is made "+
			"(its SecretARN is over KMS's 384-character constraint value)", len(name), err)
	}
}
