package template

import (
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/iamcheck"
)

// TestIAMKeyPolicyFromTheDocs (review finding): docs/readers.md gives the
// statements a key "whose policy does not delegate to IAM" needs for the
// roles. They were once one statement whose CreateGrant-only conditions
// never matched DescribeKey, the first call made on every key; each call
// is now allowed under the docs' key policy.
func TestIAMKeyPolicyFromTheDocs(t *testing.T) {
	rs := roles(t)
	function := "HttpApiFunction"
	role := rs[function]
	key := "arn:aws:kms:us-east-1:" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	// The statement as docs/readers.md prints it, for this role.
	docKeyPolicy := map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{
			"Sid": "ProvisionerGrantsReaders", "Effect": "Allow",
			"Principal": map[string]any{"AWS": "arn:aws:iam::" + acct + ":root"},
			"Action":    []any{"kms:CreateGrant", "kms:DescribeKey", "kms:ListGrants"}, "Resource": "*",
			"Condition": map[string]any{"ArnLike": map[string]any{"aws:PrincipalArn": []any{role.ARN}}}},
	}}
	reqs := []iamcheck.Request{
		{Action: "kms:CreateGrant", Resource: key, ResourcePolicy: docKeyPolicy, Context: readerGrant(function, "us-east-1")},
		{Action: "kms:DescribeKey", Resource: key, ResourcePolicy: docKeyPolicy, Context: map[string]any{"kms:CallerAccount": acct}},
		{Action: "kms:ListGrants", Resource: key, ResourcePolicy: docKeyPolicy, Context: map[string]any{"kms:CallerAccount": acct}},
	}
	decisions, err := iamcheck.Evaluate(role, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range decisions {
		if !d.Allowed() {
			t.Errorf("under the key policy docs/readers.md gives, %s is %s (%v)", reqs[i].Describe(), d.Result, d.DeniedBy)
		}
	}
}

// TestIAMBoundsTheGrantee (review finding): ReaderAccounts was enforced
// only in Go; GrantReadersPolicy let a role give a Decrypt grant to any
// principal of any account. kms:GranteePrincipal now holds grantees to this
// account and ReaderAccounts in IAM as well.
func TestIAMBoundsTheGrantee(t *testing.T) {
	rs := roles(t)
	key := "arn:aws:kms:us-east-1:" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for function := range via {
		t.Run(function, func(t *testing.T) {
			var reqs []iamcheck.Request
			for _, grantee := range []string{"arn:aws:iam::999988887777:root", "arn:aws:iam::999988887777:role/attacker"} {
				ctx := readerGrant(function, "us-east-1")
				ctx["kms:GranteePrincipal"] = grantee
				// realistic has no ReaderAccounts: readers live in this account only.
				reqs = append(reqs, iamcheck.Request{Action: "kms:CreateGrant", Resource: key, ResourcePolicy: defaultKeyPolicy, Context: ctx})
			}
			decisions, err := iamcheck.Evaluate(rs[function], reqs)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range decisions {
				if d.Allowed() {
					t.Errorf("%s is allowed: a grant to a principal of an account ReaderAccounts does not name", reqs[i].Describe())
				}
			}
		})
	}
}
