package template

import (
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/iamcheck"
)

// TestIAMGranteeBoundHoldsAgainstPaths (second review): the
// kms:GranteePrincipal bound is StringLike arn:*:iam::<account>:*, and the
// partition's * matches colons. An IAM path may hold any printable ASCII,
// ':' included, so a role in any account whose path spells
// ":iam::<this account>:" matches, and IAM lets the role give it a Decrypt
// grant: the second line ReaderAccounts was meant to have in IAM is not one.
func TestIAMGranteeBoundHoldsAgainstPaths(t *testing.T) {
	rs := roles(t)
	key := "arn:aws:kms:us-east-1:" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for function := range via {
		t.Run(function, func(t *testing.T) {
			var reqs []iamcheck.Request
			for _, grantee := range []string{
				"arn:aws:iam::999988887777:role/:iam::" + acct + ":/attacker",
				"arn:aws:iam::999988887777:user/x:iam::444455556666:/attacker",
			} {
				ctx := readerGrant(function, "us-east-1")
				ctx["kms:GranteePrincipal"] = grantee
				reqs = append(reqs, iamcheck.Request{Action: "kms:CreateGrant", Resource: key, ResourcePolicy: defaultKeyPolicy, Context: ctx})
			}
			decisions, err := iamcheck.Evaluate(rs[function], reqs)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range decisions {
				if d.Allowed() {
					t.Errorf("%s is allowed: a grant to a role of account 999988887777, which ReaderAccounts does not name", reqs[i].Describe())
				}
			}
		})
	}
}

// TestIAMDocsKeyPolicyKeepsTheBounds (second review): docs/readers.md gives
// a key "whose policy does not delegate to IAM" a statement that names the
// function's role as Principal. Within one account an allow in the key
// policy for the role is enough on its own, so every bound that
// GrantReadersPolicy puts on a grant (a secret under the prefix, this
// account and ReaderAccounts as grantees, the role itself as retiring
// principal) is gone on such a key: only "Decrypt" and "a subset
// constraint" remain. The test evaluates grants the IAM policy alone
// denies under the docs' key policy; they should stay denied.
func TestIAMDocsKeyPolicyKeepsTheBounds(t *testing.T) {
	rs := roles(t)
	function := "HttpApiFunction"
	role := rs[function]
	key := "arn:aws:kms:us-east-1:" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	docKeyPolicy := map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{
			"Sid": "ProvisionerGrantsReaders", "Effect": "Allow",
			"Principal": map[string]any{"AWS": "arn:aws:iam::" + acct + ":root"},
			"Action":    []any{"kms:CreateGrant", "kms:DescribeKey", "kms:ListGrants"}, "Resource": "*",
			"Condition": map[string]any{"ArnLike": map[string]any{"aws:PrincipalArn": []any{role.ARN}}}},
	}}
	hostile := map[string]func(map[string]any){
		"grantee in an account ReaderAccounts does not name": func(c map[string]any) { c["kms:GranteePrincipal"] = "arn:aws:iam::999988887777:role/attacker" },
		"a secret outside the prefix": func(c map[string]any) {
			c["kms:EncryptionContext:SecretARN"] = "arn:aws:secretsmanager:us-east-1:" + acct + ":secret:payroll/db-AbCdEf"
		},
		"a context that is no secret's": func(c map[string]any) {
			delete(c, "kms:EncryptionContext:SecretARN")
			c["kms:EncryptionContext:Department"] = "payroll"
			c["kms:EncryptionContextKeys"] = []string{"Department"}
		},
		"another retiring principal": func(c map[string]any) { c["kms:RetiringPrincipal"] = "arn:aws:iam::999988887777:role/attacker" },
	}
	for what, change := range hostile {
		ctx := readerGrant(function, "us-east-1")
		change(ctx)
		reqs := []iamcheck.Request{{Action: "kms:CreateGrant", Resource: key, ResourcePolicy: docKeyPolicy, Context: ctx}}
		decisions, err := iamcheck.Evaluate(role, reqs)
		if err != nil {
			t.Fatal(err)
		}
		if decisions[0].Allowed() {
			t.Errorf("under the key policy docs/readers.md gives, a grant with %s is allowed: %s", what, reqs[0].Describe())
		}
	}
}
