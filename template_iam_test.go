package template

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// statement is an IAM statement as the template writes it.
type statement struct {
	where     string
	sid       string
	resource  *yaml.Node
	actions   []string
	resources []string // as written: a string, or the text of a !Sub
	condition *yaml.Node
}

func statements(where string, doc *yaml.Node) []statement {
	var out []statement
	list := get(doc, "Statement")
	if list == nil {
		return nil
	}
	for _, s := range list.Content {
		// A statement under a condition: !If [Cond, statement, !Ref AWS::NoValue].
		if s.Tag == "!If" && len(s.Content) == 3 && s.Content[2].Tag == "!Ref" && s.Content[2].Value == "AWS::NoValue" {
			s = s.Content[1]
		}
		st := statement{where: where, sid: scalar(get(s, "Sid")), resource: get(s, "Resource"), actions: strings1(get(s, "Action")), resources: strings1(get(s, "Resource")), condition: get(s, "Condition")}
		out = append(out, st)
	}
	return out
}

// strings1 reads a scalar or a list of scalars (a !Sub keeps its text).
func strings1(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.SequenceNode {
		var out []string
		for _, c := range n.Content {
			out = append(out, c.Value)
		}
		return out
	}
	return []string{n.Value}
}

// TestIAMIsScopedToThePrefix: no Secrets Manager write action is granted on
// "*" or outside the prefix, no action is a wildcard, KMS is used only
// through Secrets Manager, and every function's role has only such policies.
func TestIAMIsScopedToThePrefix(t *testing.T) {
	tpl, err := Load("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	managed := map[string][]statement{}
	for id, r := range tpl.resources {
		if scalar(get(r, "Type")) == "AWS::IAM::ManagedPolicy" {
			managed[id] = statements(id, get(get(r, "Properties"), "PolicyDocument"))
		}
	}
	prefixed := "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretNamePrefix}*"
	// What changes or deletes an existing secret (or reads its value) needs
	// the provenance tag a stack's secret carries.
	stackOnly := map[string]bool{"secretsmanager:GetSecretValue": true, "secretsmanager:PutSecretValue": true, "secretsmanager:UpdateSecret": true,
		"secretsmanager:UntagResource": true, "secretsmanager:RemoveRegionsFromReplication": true, "secretsmanager:DeleteSecret": true,
		"secretsmanager:RotateSecret": true, "secretsmanager:CancelRotateSecret": true,
		"secretsmanager:PutResourcePolicy": true, "secretsmanager:DeleteResourcePolicy": true}

	conditioned, invokes, ledger := 0, 0, 0
	// Which trigger's secrets each role may read back.
	via := map[string]string{"ManageSecretsPolicy": "cloudformation", "HttpApiFunction": "http-api", "EventBridgeFunction": "eventbridge"}
	check := func(st statement) {
		if st.sid == "ReadAllowedMasterSecrets" {
			// The master secrets of createDatabaseUser: the deployment's list,
			// or by default this account's and Region's RDS-managed ones.
			rds := "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:rds!*"
			if strings.Join(st.actions, ",") != "secretsmanager:GetSecretValue,secretsmanager:DescribeSecret" || st.resource.Tag != "!If" || len(st.resource.Content) != 3 ||
				st.resource.Content[0].Value != "HasMasterSecretArns" || st.resource.Content[2].Value != rds {
				t.Errorf("%s: the master secrets statement grants %v on %v", st.where, st.actions, st.resources)
			}
			return
		}
		if st.sid == "ReadGrantedMasterSecrets" {
			// The HTTP API's and events' master secrets: only those their
			// own parameter lists, none by default.
			param := map[string]string{"HttpApiFunction": "ApiMasterSecretArns", "EventBridgeFunction": "EventMasterSecretArns"}[st.where]
			if strings.Join(st.actions, ",") != "secretsmanager:GetSecretValue,secretsmanager:DescribeSecret" || st.resource.Tag != "!Split" ||
				len(st.resource.Content) != 2 || st.resource.Content[1].Tag != "!Ref" || param == "" || st.resource.Content[1].Value != param {
				t.Errorf("%s: the master secrets statement grants %v on %v", st.where, st.actions, st.resources)
			}
			return
		}
		for _, r := range st.resources {
			// Only KMS keeps "*", confined by its conditions (the key is the
			// caller's choice); ListSecrets on "*" is gone with the
			// idempotency table.
			if r == "*" && (len(st.actions) == 0 || !strings.HasPrefix(st.actions[0], "kms:")) {
				// CreateGrant, DescribeKey and ListGrants too: the key is the
				// caller's.
				t.Errorf("%s grants %v on \"*\"", st.where, st.actions)
			}
		}
		for _, a := range st.actions {
			if strings.Contains(a, "*") {
				t.Errorf("%s grants a wildcard action %s", st.where, a)
			}
			switch {
			case strings.HasPrefix(a, "secretsmanager:"):
				for _, r := range st.resources {
					if r != prefixed {
						t.Errorf("%s grants %s on %q, not only under the prefix in the stack's Region", st.where, a, r)
					}
				}
				if stackOnly[a] {
					want := via[st.where] // each acts only on what its trigger made
					if got := get(get(st.condition, "StringEquals"), "aws:ResourceTag/provisioned-via"); want == "" || got == nil || got.Value != want {
						t.Errorf("%s grants %s without the condition aws:ResourceTag/provisioned-via = %q", st.where, a, want)
					} else {
						conditioned++
					}
				}
				if a == "secretsmanager:PutResourcePolicy" && scalar(get(get(st.condition, "Bool"), "secretsmanager:BlockPublicPolicy")) != "true" {
					t.Errorf("%s grants %s without secretsmanager:BlockPublicPolicy true", st.where, a)
				}
			case strings.HasPrefix(a, "lambda:"):
				// RotateSecret's lambda:InvokeFunction: only the deployment's
				// rotation functions, each under its own condition.
				if a != "lambda:InvokeFunction" {
					t.Errorf("%s grants %s", st.where, a)
				}
				if !rotationFunctions(st.resource) {
					t.Errorf("%s grants %s on resources other than the RotationFunction* and AllowedRotationFunctions parameters", st.where, a)
				} else {
					invokes++
				}
			case strings.HasPrefix(a, "rds:"):
				// Only where an RDS-managed master's database is.
				if a != "rds:DescribeDBClusters" && a != "rds:DescribeDBInstances" {
					t.Errorf("%s grants %s", st.where, a)
				}
				for _, r := range st.resources {
					if r != "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:cluster:*" && r != "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:db:*" {
						t.Errorf("%s grants %s on %q", st.where, a, r)
					}
				}
			case strings.HasPrefix(a, "dynamodb:") && st.sid == "RecordOwnDatabaseUsers":
				// Each function reads and writes only the records of the
				// users its own trigger made.
				trigger := map[string]string{"CustomResourceFunction": "cloudformation", "HttpApiFunction": "http-api", "EventBridgeFunction": "eventbridge"}[st.where]
				keys := get(get(st.condition, "ForAllValues:StringLike"), "dynamodb:LeadingKeys")
				if trigger == "" || keys == nil || strings.Join(strings1(keys), ",") != trigger+"#*" || strings.Join(st.resources, ",") != "DatabaseUsersTable.Arn" {
					t.Errorf("%s grants %s on %v beyond its own records (%v)", st.where, a, st.resources, strings1(keys))
				}
				ledger++
			case a == "kms:CreateGrant":
				// Readers' grants: Decrypt of one of the deployment's
				// secrets, retirable by the role that made it.
				prefixedAnywhere := "arn:${AWS::Partition}:secretsmanager:*:${AWS::AccountId}:secret:${SecretNamePrefix}*"
				eq, all, like := get(st.condition, "StringEquals"), get(st.condition, "ForAllValues:StringEquals"), get(st.condition, "StringLike")
				if scalar(get(eq, "kms:GrantConstraintType")) != "EncryptionContextSubset" || scalar(get(eq, "kms:RetiringPrincipal")) != "${aws:PrincipalArn}" ||
					scalar(get(eq, "aws:ResourceTag/dbcreds-readers")) != "true" ||
					strings.Join(strings1(get(all, "kms:GrantOperations")), ",") != "Decrypt" || strings.Join(strings1(get(all, "kms:EncryptionContextKeys")), ",") != "SecretARN" ||
					scalar(get(like, "kms:EncryptionContext:SecretARN")) != prefixedAnywhere || len(st.actions) != 1 {
					t.Errorf("%s grants kms:CreateGrant beyond readers' Decrypt of the deployment's secrets", st.where)
				}
			case a == "kms:DescribeKey" || a == "kms:ListGrants":
				// Metadata only: which key an alias is, whose it is, and
				// its grants.
				if strings.Join(st.actions, ",") != "kms:DescribeKey,kms:ListGrants" {
					t.Errorf("%s grants %v with %s", st.where, st.actions, a)
				}
			case strings.HasPrefix(a, "kms:"):
				if via := get(get(st.condition, "StringLike"), "kms:ViaService"); via == nil || !strings.HasPrefix(via.Value, "secretsmanager.") {
					t.Errorf("%s grants %s outside Secrets Manager", st.where, a)
				}
				if acct := get(get(st.condition, "StringEquals"), "kms:CallerAccount"); acct == nil || acct.Tag != "!Ref" || acct.Value != "AWS::AccountId" {
					t.Errorf("%s grants %s without kms:CallerAccount = the stack's account", st.where, a)
				}
			}
		}
	}
	for _, sts := range managed {
		for _, st := range sts {
			check(st)
		}
	}
	for _, id := range tpl.Functions() {
		policies := get(get(tpl.resources[id], "Properties"), "Policies")
		if policies == nil || len(policies.Content) == 0 {
			t.Errorf("%s has no policies: SAM would give it none, but say so", id)
			continue
		}
		for _, p := range policies.Content {
			switch {
			case p.Tag == "!Ref":
				if _, ok := managed[p.Value]; !ok {
					t.Errorf("%s uses policy %s, which is not one of the template's", id, p.Value)
				}
			case p.Tag == "!If" && len(p.Content) == 3 && p.Content[1].Tag == "!Ref" && p.Content[2].Value == "AWS::NoValue":
				if _, ok := managed[p.Content[1].Value]; !ok {
					t.Errorf("%s uses policy %s, which is not one of the template's", id, p.Content[1].Value)
				}
			case p.Kind == yaml.MappingNode:
				for _, st := range statements(id, p) {
					check(st)
				}
			default:
				t.Errorf("%s uses a policy this test cannot read (%q): SAM policy templates and AWS managed policies are not allowed", id, p.Value)
			}
		}
	}
	if len(managed) < 2 {
		t.Fatalf("read %d managed policies; the template has two", len(managed))
	}
	// GetSecretValue and RotateSecret for the API and events too, and
	// RemoveRegionsFromReplication and DeleteSecret (the API's DELETE, and
	// removing a secret whose database user failed).
	// PutResourcePolicy for the API and events too.
	if want := len(stackOnly) + 10; conditioned != want {
		t.Errorf("%d grants of actions on existing secrets carry the provenance condition, want %d", conditioned, want)
	}
	if ledger != 9 {
		t.Errorf("%d grants on the database users table, want 9 (three actions for each function)", ledger)
	}
	if invokes != 2 {
		t.Errorf("%d statements grant lambda:InvokeFunction on the rotation functions, want 2 (defaults, allowed)", invokes)
	}
}

// rotationFunctions reports whether a Resource names only rotation
// function parameters: !If [HasRotationFunctionX, !Ref RotationFunctionX,
// !Ref AWS::NoValue] items, or the split AllowedRotationFunctions.
func rotationFunctions(n *yaml.Node) bool {
	if n == nil {
		return false
	}
	if n.Tag == "!Split" {
		return len(n.Content) == 2 && n.Content[1].Tag == "!Ref" && n.Content[1].Value == "AllowedRotationFunctions"
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return false
	}
	for _, item := range n.Content {
		if item.Tag != "!If" || len(item.Content) != 3 || !strings.HasPrefix(item.Content[1].Value, "RotationFunction") ||
			item.Content[0].Value != "Has"+item.Content[1].Value || item.Content[1].Tag != "!Ref" || item.Content[2].Value != "AWS::NoValue" {
			return false
		}
	}
	return true
}

// TestPrefixEndsAtAPathBoundary: the template refuses a prefix that would
// also cover its neighbours ("app" and "application-billing/db").
func TestPrefixEndsAtAPathBoundary(t *testing.T) {
	tpl, err := Load("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pattern := regexp.MustCompile(scalar(get(tpl.parameterNodes["SecretNamePrefix"], "AllowedPattern")))
	for prefix, want := range map[string]bool{"app/": true, "team/app/": true, "a.b@c/": true, "app": false, "app/x": false, "/": false, "/app/": false, "": false, "app db/": false} {
		if got := pattern.MatchString(prefix); got != want {
			t.Errorf("SecretNamePrefix %q allowed %v, want %v", prefix, got, want)
		}
	}
	if d := tpl.parameters["SecretNamePrefix"]; !pattern.MatchString(d) {
		t.Errorf("the default %q breaks the pattern", d)
	}
}

// TestEventRuleAndFunctionTrustAlike: the rule matches the sources and
// accounts that the function itself is told to trust.
func TestEventRuleAndFunctionTrustAlike(t *testing.T) {
	tpl, err := Load("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fn, err := tpl.Function("EventBridgeFunction", nil, map[string]string{"AWS::AccountId": "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	if fn.Environment["EVENT_SOURCES"] != tpl.parameters["EventSource"] || fn.Environment["EVENT_ACCOUNTS"] != "" || fn.Environment["STACK_ACCOUNT_ID"] != "123456789012" {
		t.Fatalf("the function trusts %v", fn.Environment)
	}
	pattern := get(get(get(get(get(tpl.resources["EventBridgeFunction"], "Properties"), "Events"), "SecretRequested"), "Properties"), "Pattern")
	source, account := get(pattern, "source"), get(pattern, "account")
	if source == nil || source.Tag != "!Split" || !strings.Contains(source.Content[1].Value, "EventSource") {
		t.Errorf("the rule's source is not the EventSource parameter: %+v", source)
	}
	if account == nil || account.Tag != "!If" || account.Content[0].Value != "HasEventAccounts" {
		t.Errorf("the rule does not match the trusted accounts: %+v", account)
	}
}

// TestCallerPolicyIsTheDocumentsRoutes: the policy a caller needs grants
// execute-api:Invoke on exactly the operations of the OpenAPI document, on
// the IAM-authorized API's default stage.
func TestCallerPolicyIsTheDocumentsRoutes(t *testing.T) {
	tpl, err := Load("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sts := statements("ApiCallerPolicy", get(get(tpl.resources["ApiCallerPolicy"], "Properties"), "PolicyDocument"))
	if len(sts) != 1 || strings.Join(sts[0].actions, ",") != "execute-api:Invoke" {
		t.Fatalf("the caller policy grants %+v", sts)
	}
	prefix := "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/$default/"
	var granted []string
	for _, r := range sts[0].resources {
		if !strings.HasPrefix(r, prefix) {
			t.Fatalf("resource %s is not a route of the IAM API's default stage", r)
		}
		method, path, _ := strings.Cut(strings.TrimPrefix(r, prefix), "/")
		granted = append(granted, method+" /"+strings.Replace(path, "*", "{name}", 1))
	}
	raw, err := os.ReadFile("functions/http-api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var operations []string
	for path, item := range doc.Paths {
		for method := range item {
			if method != "parameters" {
				operations = append(operations, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(granted)
	sort.Strings(operations)
	if !reflect.DeepEqual(granted, operations) {
		t.Fatalf("the caller policy grants\n%v\nthe document's operations are\n%v", granted, operations)
	}
}
