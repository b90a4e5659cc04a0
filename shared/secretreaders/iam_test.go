package secretreaders

import (
	"encoding/json"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/iamcheck"
)

// TestPolicyUnderIAM: the readers policy, evaluated by a real IAM policy
// evaluator (@cloud-copilot/iam-simulate), lets each reader read the
// secret (one in this account on the policy alone; one in another account
// when its own policy allows it too, as IAM requires across accounts),
// lets none of them write it, and lets no one else read it.
func TestPolicyUnderIAM(t *testing.T) {
	secret := "arn:aws:secretsmanager:us-east-1:" + this + ":secret:app/orders/db-AbCdEf"
	here, there := "arn:aws:iam::"+this+":role/app", "arn:aws:iam::"+other+":role/reader"
	text, err := Policy([]string{here, there})
	if err != nil {
		t.Fatal(err)
	}
	var policy map[string]any
	if err := json.Unmarshal([]byte(text), &policy); err != nil {
		t.Fatal(err)
	}
	readsAnything := []iamcheck.Policy{{Name: "reads-secrets", Document: map[string]any{"Version": "2012-10-17",
		"Statement": []any{map[string]any{"Effect": "Allow", "Action": []any{"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"}, "Resource": "*"}}}}}
	for _, tt := range []struct {
		name   string
		role   iamcheck.Role
		action string
		want   bool
	}{
		{"a reader here, on the policy alone", iamcheck.Role{ARN: here}, "secretsmanager:GetSecretValue", true},
		{"a reader here describes", iamcheck.Role{ARN: here}, "secretsmanager:DescribeSecret", true},
		{"a reader here may not write", iamcheck.Role{ARN: here}, "secretsmanager:PutSecretValue", false},
		{"a reader in another account, with its own allow", iamcheck.Role{ARN: there, Policies: readsAnything}, "secretsmanager:GetSecretValue", true},
		{"a reader in another account may not write", iamcheck.Role{ARN: there, Policies: readsAnything}, "secretsmanager:PutSecretValue", false},
		{"a reader in another account, without its own allow", iamcheck.Role{ARN: there}, "secretsmanager:GetSecretValue", false},
		{"no reader here", iamcheck.Role{ARN: "arn:aws:iam::" + this + ":role/other"}, "secretsmanager:GetSecretValue", false},
		{"no reader there", iamcheck.Role{ARN: "arn:aws:iam::" + other + ":role/other", Policies: readsAnything}, "secretsmanager:GetSecretValue", false},
		{"a stranger", iamcheck.Role{ARN: "arn:aws:iam::" + stranger + ":role/reader", Policies: readsAnything}, "secretsmanager:GetSecretValue", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := iamcheck.Evaluate(tt.role, []iamcheck.Request{{Action: tt.action, Resource: secret, ResourcePolicy: policy}})
			if err != nil {
				t.Fatal(err)
			}
			if d[0].Result == "Error" || d[0].Allowed() != tt.want {
				t.Fatalf("%s %s: %+v", tt.role.ARN, tt.action, d[0])
			}
		})
	}
}
