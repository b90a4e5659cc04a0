package template

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv"
	"github.com/dbcreds/provisioner/local/testenv/iamcheck"
)

// A realistic deployment: rotation by AWS's multi-user PostgreSQL function,
// one more allowed function, and the permissions boundary a platform team
// sets (testdata/permissions-boundary.json).
var realistic = map[string]string{
	"SecretNamePrefix":           "app/",
	"RotationFunctionPostgreSQL": "arn:aws:lambda:us-east-1:123456789012:function:rotation-postgres",
	"AllowedRotationFunctions":   "arn:aws:lambda:us-east-1:123456789012:function:rotation-mysql",
	"PermissionsBoundary":        "arn:aws:iam::123456789012:policy/platform-boundary",
	"DefaultReplicaRegions":      "eu-west-1",
	"ReaderAccounts":             "444455556666,555566667777",
}

// via is each function's trigger, as its secrets' provisioned-via tag says.
var via = map[string]string{"CustomResourceFunction": "cloudformation", "HttpApiFunction": "http-api", "EventBridgeFunction": "eventbridge"}

func roles(t *testing.T) map[string]iamcheck.Role {
	t.Helper()
	testenv.Integration(t, "the SAM translator and Node.js")
	tpl, err := iamcheck.Translate("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var boundary map[string]any
	data, err := os.ReadFile("testdata/permissions-boundary.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &boundary); err != nil {
		t.Fatal(err)
	}
	r, err := tpl.Roles(realistic, map[string]map[string]any{realistic["PermissionsBoundary"]: boundary})
	if err != nil {
		t.Fatal(err)
	}
	for f := range via {
		if _, ok := r[f]; !ok {
			t.Fatalf("no role for %s", f)
		}
	}
	return r
}

const acct = "123456789012"

func secretARN(region, name string) string {
	return "arn:aws:secretsmanager:" + region + ":" + acct + ":secret:" + name + "-AbCdEf"
}

// onSecret is a request on an existing secret with tags.
func onSecret(action, arn string, tags map[string]string, extra map[string]any) iamcheck.Request {
	ctx := map[string]any{"secretsmanager:SecretId": arn}
	for k, v := range tags {
		ctx["aws:ResourceTag/"+k] = v
	}
	for k, v := range extra {
		ctx[k] = v
	}
	return iamcheck.Request{Action: action, Resource: arn, Context: ctx}
}

// writes are what changes a secret, its tags, its replicas, its rotation
// or its policy.
var writes = []string{"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret", "secretsmanager:TagResource", "secretsmanager:UntagResource",
	"secretsmanager:RotateSecret", "secretsmanager:CancelRotateSecret", "secretsmanager:DeleteSecret", "secretsmanager:RestoreSecret",
	"secretsmanager:PutResourcePolicy", "secretsmanager:DeleteResourcePolicy", "secretsmanager:ReplicateSecretToRegions",
	"secretsmanager:RemoveRegionsFromReplication", "secretsmanager:StopReplicationToReplica", "secretsmanager:UpdateSecretVersionStage"}

type hostile struct {
	name string
	req  iamcheck.Request
}

// hostileRequests are what a caller who took over function would want,
// each of which its role must deny.
func hostileRequests(function string) []hostile {
	own := via[function]
	other := "http-api"
	if own == other {
		other = "eventbridge"
	}
	targets := []struct {
		what string
		arn  string
		tags map[string]string
	}{
		{"a secret under the prefix without provenance", secretARN("us-east-1", "app/other-team/db"), map[string]string{"team": "other"}},
		{"a secret under the prefix of another trigger", secretARN("us-east-1", "app/other-team/db"), map[string]string{"provisioned-via": other, "provisioned-by": "someone"}},
		{"a secret outside the prefix", secretARN("us-east-1", "billing/db"), map[string]string{"provisioned-via": own}},
		{"a secret in another Region", secretARN("eu-central-1", "app/orders/db"), map[string]string{"provisioned-via": own}},
	}
	var out []hostile
	for _, tg := range targets {
		for _, a := range append(writes, "secretsmanager:GetSecretValue") {
			out = append(out, hostile{a + " on " + tg.what, onSecret(a, tg.arn, tg.tags, nil)})
		}
	}
	// The second line of provenance: no role may put its own trigger's tag on
	// a secret that is not its trigger's.
	foreign := secretARN("us-east-1", "app/other-team/db")
	out = append(out,
		hostile{"tagging an untagged secret with this trigger's provenance", onSecret("secretsmanager:TagResource", foreign, nil,
			map[string]any{"aws:RequestTag/provisioned-via": own, "aws:TagKeys": []string{"provisioned-via"}})},
		hostile{"tagging another trigger's secret with this trigger's provenance", onSecret("secretsmanager:TagResource", foreign, map[string]string{"provisioned-via": other},
			map[string]any{"aws:RequestTag/provisioned-via": own, "aws:TagKeys": []string{"provisioned-via"}})},
		hostile{"re-tagging its own secret as another trigger's", onSecret("secretsmanager:TagResource", secretARN("us-east-1", "app/orders/db"), map[string]string{"provisioned-via": own},
			map[string]any{"aws:RequestTag/provisioned-via": other, "aws:TagKeys": []string{"provisioned-via"}})},
		hostile{"creating a secret outside the prefix", iamcheck.Request{Action: "secretsmanager:CreateSecret", Resource: secretARN("us-east-1", "billing/db"),
			Context: map[string]any{"secretsmanager:Name": "billing/db"}}},
		hostile{"creating a secret tagged as another trigger's", iamcheck.Request{Action: "secretsmanager:TagResource", Resource: secretARN("us-east-1", "app/x"),
			Context: map[string]any{"aws:RequestTag/provisioned-via": other, "aws:ResourceTag/provisioned-via": other, "aws:TagKeys": []string{"provisioned-via"}}}},
		hostile{"reading a secret outside the prefix that is no master", onSecret("secretsmanager:GetSecretValue", secretARN("us-east-1", "billing/db"), nil, nil)},
		hostile{"invoking a rotation function the deployment does not allow", iamcheck.Request{Action: "lambda:InvokeFunction",
			Resource: "arn:aws:lambda:us-east-1:" + acct + ":function:attacker", Context: map[string]any{}}},
	)
	if function != "CustomResourceFunction" {
		// Only a stack may overwrite a secret of the same name that someone
		// else made in a replica Region.
		out = append(out,
			hostile{"creating a secret that overwrites one in a replica Region", iamcheck.Request{Action: "secretsmanager:CreateSecret", Resource: secretARN("us-east-1", "app/x"),
				Context: map[string]any{"secretsmanager:Name": "app/x", "secretsmanager:ForceOverwriteReplicaSecret": "true", "secretsmanager:AddReplicaRegions": []string{"eu-west-1"}}}},
			hostile{"replicating over a secret in a replica Region", onSecret("secretsmanager:ReplicateSecretToRegions", secretARN("us-east-1", "app/orders/db"), map[string]string{"provisioned-via": own},
				map[string]any{"secretsmanager:ForceOverwriteReplicaSecret": "true", "secretsmanager:AddReplicaRegions": []string{"eu-west-1"}})})
	}
	key := "arn:aws:kms:us-east-1:" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, a := range []string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"} {
		out = append(out,
			hostile{a + " directly, not through Secrets Manager", iamcheck.Request{Action: a, Resource: key, Context: map[string]any{"kms:CallerAccount": acct}}},
			hostile{a + " through another service", iamcheck.Request{Action: a, Resource: key, Context: map[string]any{"kms:CallerAccount": acct, "kms:ViaService": "ssm.us-east-1.amazonaws.com"}}})
	}
	out = append(out, hostile{"a KMS action Secrets Manager never needs", iamcheck.Request{Action: "kms:CreateGrant", Resource: key,
		Context: map[string]any{"kms:CallerAccount": acct, "kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}})
	// Readers' grants: nothing but Decrypt of one of the deployment's
	// secrets, retirable by the role itself.
	grant := func(change func(ctx map[string]any)) iamcheck.Request {
		ctx := readerGrant(function, "us-east-1")
		change(ctx)
		return iamcheck.Request{Action: "kms:CreateGrant", Resource: key, Context: ctx}
	}
	out = append(out,
		hostile{"a reader's grant to encrypt", grant(func(c map[string]any) { c["kms:GrantOperations"] = []string{"Decrypt", "Encrypt"} })},
		hostile{"a reader's grant to make grants", grant(func(c map[string]any) { c["kms:GrantOperations"] = []string{"Decrypt", "CreateGrant"} })},
		hostile{"a grant without a constraint", grant(func(c map[string]any) {
			delete(c, "kms:GrantConstraintType")
			delete(c, "kms:EncryptionContext:SecretARN")
			delete(c, "kms:EncryptionContextKeys")
		})},
		hostile{"a grant to decrypt a secret outside the prefix", grant(func(c map[string]any) { c["kms:EncryptionContext:SecretARN"] = secretARN("us-east-1", "billing/db") })},
		hostile{"a grant to decrypt another account's secret", grant(func(c map[string]any) {
			c["kms:EncryptionContext:SecretARN"] = "arn:aws:secretsmanager:us-east-1:444455556666:secret:app/x-AbCdEf"
		})},
		hostile{"a grant on a context of more keys than SecretARN", grant(func(c map[string]any) { c["kms:EncryptionContextKeys"] = []string{"SecretARN", "Purpose"} })},
		hostile{"a grant someone else may retire", grant(func(c map[string]any) { c["kms:RetiringPrincipal"] = "arn:aws:iam::444455556666:role/attacker" })},
		hostile{"a grant no one may retire", grant(func(c map[string]any) { delete(c, "kms:RetiringPrincipal") })},
		hostile{"a grant to an account ReaderAccounts does not name", grant(func(c map[string]any) { c["kms:GranteePrincipal"] = "arn:aws:iam::999988887777:role/attacker" })},
		hostile{"a grant to another account's root", grant(func(c map[string]any) { c["kms:GranteePrincipal"] = "arn:aws:iam::999988887777:root" })},
		hostile{"a grant to a service", grant(func(c map[string]any) { c["kms:GranteePrincipal"] = "lambda.amazonaws.com" })},
		hostile{"a grant to a principal whose path spells this account", grant(func(c map[string]any) {
			c["kms:GranteePrincipal"] = "arn:aws:iam::999988887777:role/:iam::" + acct + ":/attacker"
		})},
		hostile{"a grant on a key its owner did not offer", grant(func(c map[string]any) { delete(c, "aws:ResourceTag/dbcreds-readers") })},
		hostile{"a grant on a key its owner tagged otherwise", grant(func(c map[string]any) { c["aws:ResourceTag/dbcreds-readers"] = "false" })},
		hostile{"revoking another's grant", iamcheck.Request{Action: "kms:RevokeGrant", Resource: key, Context: map[string]any{"kms:CallerAccount": acct}}},
		hostile{"changing a key's policy", iamcheck.Request{Action: "kms:PutKeyPolicy", Resource: key, Context: map[string]any{"kms:CallerAccount": acct}}},
		hostile{"a public resource policy on its own secret", onSecret("secretsmanager:PutResourcePolicy", secretARN("us-east-1", "app/orders/db"),
			map[string]string{"provisioned-via": own}, map[string]any{"secretsmanager:BlockPublicPolicy": "false"})},
		hostile{"a resource policy on another trigger's secret", onSecret("secretsmanager:PutResourcePolicy", secretARN("us-east-1", "app/orders/db"),
			map[string]string{"provisioned-via": other}, map[string]any{"secretsmanager:BlockPublicPolicy": "true"})},
	)
	for i := range out {
		if out[i].req.Action[:4] == "kms:" {
			out[i].req.ResourcePolicy = defaultKeyPolicy
		}
	}
	return out
}

var defaultKeyPolicy = map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
	"Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::" + acct + ":root"}, "Action": "kms:*", "Resource": "*"}}}

// TestIAMDeniesWhatAHostileCallerWants: for each function's role, every
// action a caller who took the function over would want is denied by a real
// IAM policy evaluator.
func TestIAMDeniesWhatAHostileCallerWants(t *testing.T) {
	rs := roles(t)
	for function := range via {
		t.Run(function, func(t *testing.T) {
			cases := hostileRequests(function)
			reqs := make([]iamcheck.Request, len(cases))
			for i, c := range cases {
				reqs[i] = c.req
			}
			decisions, err := iamcheck.Evaluate(rs[function], reqs)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range decisions {
				switch {
				case d.Result == "Error":
					t.Errorf("%s: the evaluator refused the request: %s", cases[i].name, d.Error)
				case d.Allowed():
					t.Errorf("%s is allowed (%s), by %v", cases[i].name, cases[i].req.Describe(), d.AllowedBy)
				}
			}
		})
	}
}

// capabilities are the columns of the docs' table: which secrets, and the
// actions on them that matter.
var capabilities = []struct {
	what string
	arn  string
	tags func(own string) map[string]string
}{
	{"its own trigger's secrets under the prefix", secretARN("us-east-1", "app/orders/db"), func(own string) map[string]string { return map[string]string{"provisioned-via": own} }},
	{"other triggers' and untagged secrets under the prefix", secretARN("us-east-1", "app/orders/db"), func(string) map[string]string { return nil }},
	{"RDS-managed master secrets (MasterSecretArns default)", secretARN("us-east-1", "rds!cluster-0a1b"), func(string) map[string]string { return nil }},
	{"any other secret", secretARN("us-east-1", "billing/db"), func(string) map[string]string { return nil }},
}

var tableActions = append([]string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}, writes...)

// iamTable is the docs' table of what each role may do, from the evaluator.
func iamTable(t *testing.T, rs map[string]iamcheck.Role) string {
	var b strings.Builder
	b.WriteString("| role | " + strings.Join(func() []string {
		var h []string
		for _, c := range capabilities {
			h = append(h, c.what)
		}
		return h
	}(), " | ") + " |\n|---|")
	for range capabilities {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	functions := []string{"CustomResourceFunction", "HttpApiFunction", "EventBridgeFunction"}
	for _, f := range functions {
		var reqs []iamcheck.Request
		for _, c := range capabilities {
			for _, a := range tableActions {
				reqs = append(reqs, onSecret(a, c.arn, c.tags(via[f]), nil))
			}
		}
		decisions, err := iamcheck.Evaluate(rs[f], reqs)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("| " + f + " |")
		for i := range capabilities {
			var allowed []string
			for j, a := range tableActions {
				d := decisions[i*len(tableActions)+j]
				if d.Result == "Error" {
					t.Fatalf("%s %s: %s", f, a, d.Error)
				}
				if d.Allowed() {
					allowed = append(allowed, strings.TrimPrefix(a, "secretsmanager:"))
				}
			}
			sort.Strings(allowed)
			if len(allowed) == 0 {
				allowed = []string{"nothing"}
			}
			b.WriteString(" " + strings.Join(allowed, ", ") + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

const (
	tableBegin = "<!-- iam-table:begin (generated by TestIAMTableInTheDocs; UPDATE_DOCS=1 go test -run TestIAMTableInTheDocs . rewrites it) -->\n"
	tableEnd   = "<!-- iam-table:end -->"
)

// TestIAMTableInTheDocs: the security page's table of what each role may
// read and write is the evaluator's, so it cannot drift from the template.
func TestIAMTableInTheDocs(t *testing.T) {
	table := iamTable(t, roles(t))
	const page = "docs/security.md"
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated IAM table between %q and %q", page, tableBegin, tableEnd)
	}
	if got := doc[i+len(tableBegin) : j]; got != table {
		if os.Getenv("UPDATE_DOCS") == "1" {
			if err := os.WriteFile(page, []byte(doc[:i+len(tableBegin)]+table+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s's IAM table is not what the evaluator finds; run UPDATE_DOCS=1 go test -run TestIAMTableInTheDocs .\nwant:\n%s\ngot:\n%s", page, table, got)
	}
}

// readerGrant is the condition context of the CreateGrant a role makes for
// a reader of one of its secrets: as KMS documents CreateGrant's condition
// keys (list_awskeymanagementservice.html).
func readerGrant(function, region string) map[string]any {
	return map[string]any{"kms:CallerAccount": acct, "kms:GrantConstraintType": "EncryptionContextSubset", "aws:ResourceTag/dbcreds-readers": "true",
		"kms:GrantOperations": []string{"Decrypt"}, "kms:EncryptionContextKeys": []string{"SecretARN"},
		"kms:EncryptionContext:SecretARN": secretARN(region, "app/orders/db"),
		"kms:GranteePrincipal":            "arn:aws:iam::444455556666:role/reader",
		"kms:RetiringPrincipal":           "arn:aws:iam::" + acct + ":role/" + iamcheck.StackName + "-" + function + "Role"}
}

// TestIAMAllowsWhatSecretsManagerDoesForTheRoles: what Secrets Manager does
// on a role's behalf with a customer managed key, and the tags and replicas
// of a create, are allowed, including what no end-to-end call shows (moto
// does no KMS): a replica with its own key encrypts with it in its Region,
// and an UpdateSecret to a new key re-encrypts.
func TestIAMAllowsWhatSecretsManagerDoesForTheRoles(t *testing.T) {
	rs := roles(t)
	key := func(region string) string {
		return "arn:aws:kms:" + region + ":" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	}
	via := func(a, region string) iamcheck.Request {
		return iamcheck.Request{Action: a, Resource: key(region), ResourcePolicy: defaultKeyPolicy,
			Context: map[string]any{"kms:CallerAccount": acct, "kms:ViaService": "secretsmanager." + region + ".amazonaws.com",
				"kms:EncryptionContext:SecretARN": secretARN(region, "app/orders/db"), "kms:EncryptionContextKeys": []string{"SecretARN", "SecretVersionId"}}}
	}
	for function, own := range map[string]string{"CustomResourceFunction": "cloudformation", "HttpApiFunction": "http-api", "EventBridgeFunction": "eventbridge"} {
		t.Run(function, func(t *testing.T) {
			tags := map[string]any{"aws:RequestTag/provisioned-via": own, "aws:ResourceTag/provisioned-via": own, "aws:TagKeys": []string{"provisioned-by", "provisioned-via"}}
			reqs := []iamcheck.Request{
				via("kms:GenerateDataKey", "us-east-1"), via("kms:Decrypt", "us-east-1"),
				via("kms:GenerateDataKey", "eu-west-1"), via("kms:Encrypt", "eu-west-1"),
				{Action: "secretsmanager:TagResource", Resource: secretARN("us-east-1", "app/orders/db"), Context: tags},
				{Action: "secretsmanager:ReplicateSecretToRegions", Resource: secretARN("us-east-1", "app/orders/db"),
					Context: map[string]any{"aws:ResourceTag/provisioned-via": own, "secretsmanager:AddReplicaRegions": []string{"eu-west-1"}}},
				// Readers: the policy on its own secret, and a grant per
				// reader on the secret's key and on a replica's.
				onSecret("secretsmanager:PutResourcePolicy", secretARN("us-east-1", "app/orders/db"), map[string]string{"provisioned-via": own},
					map[string]any{"secretsmanager:BlockPublicPolicy": "true"}),
				onSecret("secretsmanager:GetResourcePolicy", secretARN("us-east-1", "app/orders/db"), map[string]string{"provisioned-via": own}, nil),
				{Action: "kms:CreateGrant", Resource: key("us-east-1"), ResourcePolicy: defaultKeyPolicy, Context: readerGrant(function, "us-east-1")},
				{Action: "kms:CreateGrant", Resource: key("eu-west-1"), ResourcePolicy: defaultKeyPolicy, Context: readerGrant(function, "eu-west-1")},
				{Action: "kms:DescribeKey", Resource: key("eu-west-1"), ResourcePolicy: defaultKeyPolicy, Context: map[string]any{"kms:CallerAccount": acct}},
				{Action: "kms:ListGrants", Resource: key("us-east-1"), ResourcePolicy: defaultKeyPolicy, Context: map[string]any{"kms:CallerAccount": acct}},
			}
			if function == "CustomResourceFunction" {
				reqs = append(reqs, onSecret("secretsmanager:DeleteResourcePolicy", secretARN("us-east-1", "app/orders/db"), map[string]string{"provisioned-via": own}, nil))
			}
			decisions, err := iamcheck.Evaluate(rs[function], reqs)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range decisions {
				if !d.Allowed() {
					t.Errorf("%s is %s: %v %s %v %v", reqs[i].Describe(), d.Result, d.DeniedBy, d.Error, d.NearMisses, d.Ignored)
				}
			}
		})
	}
}
