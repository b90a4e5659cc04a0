package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/testenv/iamcheck"
	"github.com/dbcreds/provisioner/shared/awsclient"
)

// Readers through each trigger's real bootstrap: the resource policy the
// secret carries, judged by a real IAM evaluator; the KMS grants each
// reader gets on the secret's key and its replica's; what Update and
// Delete retire; the principals refused with nothing made.

const (
	otherAccount = "444455556666"
	appHere      = "arn:aws:iam::123456789012:role/orders-app"
	appThere     = "arn:aws:iam::" + otherAccount + ":role/orders-reporting"
)

// readersDeployment lets readers live in this account and one other.
var readersDeployment = map[string]string{"ReaderAccounts": otherAccount}

func kmsClient(t *testing.T, region string) *kms.Client {
	t.Helper()
	s, err := awsclient.FromEnvironment(func(k string) string {
		if k == "AWS_REGION" {
			return region
		}
		return moto.Env()[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	return kms.New(kms.Options{Region: region, Credentials: s.Credentials, BaseEndpoint: aws.String(moto.Endpoint)})
}

// readersKey makes a customer managed key with alias in region.
func readersKey(t *testing.T, region, alias string) string {
	t.Helper()
	c := kmsClient(t, region)
	// Its owner offers it for readers' grants.
	out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("e2e readers"),
		Tags: []kmstypes.Tag{{TagKey: aws.String("dbcreds-readers"), TagValue: aws.String("true")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAlias(context.Background(), &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: out.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

type readerGrant struct {
	Grantee, SecretARN, Retiring string
}

// grantsOn are the grants on key, each checked to be Decrypt alone under
// one SecretARN.
func grantsOn(t *testing.T, region, key string) []readerGrant {
	t.Helper()
	out, err := kmsClient(t, region).ListGrants(context.Background(), &kms.ListGrantsInput{KeyId: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	var got []readerGrant
	for _, g := range out.Grants {
		if !slices.Equal(g.Operations, []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}) || g.Constraints == nil ||
			len(g.Constraints.EncryptionContextSubset) != 1 || len(g.Constraints.EncryptionContextEquals) != 0 {
			t.Errorf("grant %+v: want Decrypt alone, constrained to one SecretARN", g)
			continue
		}
		got = append(got, readerGrant{aws.ToString(g.GranteePrincipal), g.Constraints.EncryptionContextSubset["SecretARN"], aws.ToString(g.RetiringPrincipal)})
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Grantee+got[i].SecretARN < got[j].Grantee+got[j].SecretARN })
	return got
}

func storedPolicy(t *testing.T, arn string) map[string]any {
	t.Helper()
	out, err := secretsClient(t, "us-east-1").GetResourcePolicy(context.Background(), &secretsmanager.GetResourcePolicyInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if out.ResourcePolicy == nil {
		return nil
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(*out.ResourcePolicy), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// readsAnySecret is what a reader's own account attaches to it: IAM needs
// an identity policy too for a principal in another account.
var readsAnySecret = []iamcheck.Policy{{Name: "reads-secrets", Document: map[string]any{"Version": "2012-10-17",
	"Statement": []any{map[string]any{"Effect": "Allow", "Action": []any{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:PutSecretValue"}, "Resource": "*"}}}}}

// checkPolicyUnderIAM: the stored policy lets exactly readers read arn,
// and none of them (nor anyone else) write it.
func checkPolicyUnderIAM(t *testing.T, arn string, readers []string) {
	t.Helper()
	policy := storedPolicy(t, arn)
	if policy == nil {
		t.Fatalf("%s carries no resource policy", arn)
	}
	everyone := []string{appHere, appThere, "arn:aws:iam::123456789012:role/another-team", "arn:aws:iam::" + otherAccount + ":role/another-team", "arn:aws:iam::777788889999:role/orders-reporting"}
	for _, who := range everyone {
		role := iamcheck.Role{ARN: who}
		if !strings.Contains(who, ":123456789012:") {
			role.Policies = readsAnySecret
		}
		d, err := iamcheck.Evaluate(role, []iamcheck.Request{
			{Action: "secretsmanager:GetSecretValue", Resource: arn, ResourcePolicy: policy},
			{Action: "secretsmanager:PutSecretValue", Resource: arn, ResourcePolicy: policy},
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := slices.Contains(readers, who); d[0].Allowed() != want || d[0].Result == "Error" {
			t.Errorf("%s GetSecretValue: %+v, want allowed %v", who, d[0], want)
		}
		if d[1].Allowed() || d[1].Result == "Error" {
			t.Errorf("%s PutSecretValue: %+v, want denied", who, d[1])
		}
	}
}

func wantGrants(secretARN, retiring string, readers ...string) []readerGrant {
	var out []readerGrant
	for _, r := range readers {
		out = append(out, readerGrant{r, secretARN, retiring})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Grantee < out[j].Grantee })
	return out
}

func role(function string) string {
	return "arn:aws:iam::123456789012:role/" + iamcheck.StackName + "-" + function + "Role"
}

func replicaARN(arn string) string { return strings.Replace(arn, ":us-east-1:", ":eu-west-1:", 1) }

// TestReadersThroughTheStack: Create gives both readers the policy and a
// grant on each key; Update takes one away, in place, retiring its grants;
// Update without readers deletes the policy and every grant; Delete
// retires what a later Update gave.
func TestReadersThroughTheStack(t *testing.T) {
	primary, replica := readersKey(t, "us-east-1", "alias/e2e-readers-stack"), readersKey(t, "eu-west-1", "alias/e2e-readers-stack")
	name := "app/e2e/readers-stack"
	props := func(readers ...string) map[string]any {
		p := map[string]any{"Name": name, "Engine": "postgres", "Host": "orders.example.com", "DbName": "orders", "Username": "orders_app",
			"KmsKeyId": "alias/e2e-readers-stack", "ReplicaRegions": []any{map[string]any{"Region": "eu-west-1", "KmsKeyId": "alias/e2e-readers-stack"}}}
		if readers != nil {
			var list []any
			for _, r := range readers {
				list = append(list, r)
			}
			p["Readers"] = list
		}
		return p
	}
	stack := func(event, requestID, id string, old, now map[string]any) cfnAnswer {
		t.Helper()
		out, _ := run(t, "CustomResourceFunction", event, readersDeployment, func(e map[string]any) {
			e["RequestId"] = requestID
			if id != "" {
				e["PhysicalResourceId"] = id
			}
			keep := e["ResourceProperties"].(map[string]any)["ServiceToken"]
			now["ServiceToken"] = keep
			e["ResourceProperties"] = now
			if old != nil {
				old["ServiceToken"] = keep
				e["OldResourceProperties"] = old
			}
		})
		return answerOf(t, out)
	}
	both := props(appHere, appThere)
	created := stack("custom-resource-create.json", "22222222-0000-4000-8000-000000000001", "", nil, both)
	if created.Status != "SUCCESS" || created.Data["Readers"] != appHere+","+appThere {
		t.Fatalf("create answered %+v", created)
	}
	arn := created.PhysicalResourceId
	me := role("CustomResourceFunction")
	checkPolicyUnderIAM(t, arn, []string{appHere, appThere})
	if got, want := grantsOn(t, "us-east-1", primary), wantGrants(arn, me, appHere, appThere); !slices.Equal(got, want) {
		t.Errorf("primary key's grants %+v, want %+v", got, want)
	}
	if got, want := grantsOn(t, "eu-west-1", replica), wantGrants(replicaARN(arn), me, appHere, appThere); !slices.Equal(got, want) {
		t.Errorf("replica key's grants %+v, want %+v", got, want)
	}
	if tagsOf(describeSecret(t, arn))["provisioned-readers"] != "true" {
		t.Errorf("no readers tag on %s", arn)
	}

	// The same Create again (CloudFormation retries): no second grant.
	if again := stack("custom-resource-create.json", "22222222-0000-4000-8000-000000000001", "", nil, props(appHere, appThere)); again.Status != "SUCCESS" || again.PhysicalResourceId != arn {
		t.Fatalf("a retried create answered %+v", again)
	}
	if got := grantsOn(t, "us-east-1", primary); len(got) != 2 {
		t.Errorf("after a retry, grants %+v", got)
	}

	// One reader goes.
	one := props(appHere)
	updated := stack("custom-resource-update.json", "22222222-0000-4000-8000-000000000002", arn, props(appHere, appThere), one)
	if updated.Status != "SUCCESS" || updated.PhysicalResourceId != arn || updated.Data["Readers"] != appHere {
		t.Fatalf("update answered %+v", updated)
	}
	checkPolicyUnderIAM(t, arn, []string{appHere})
	if got, want := grantsOn(t, "us-east-1", primary), wantGrants(arn, me, appHere); !slices.Equal(got, want) {
		t.Errorf("after the update, primary grants %+v, want %+v", got, want)
	}
	if got, want := grantsOn(t, "eu-west-1", replica), wantGrants(replicaARN(arn), me, appHere); !slices.Equal(got, want) {
		t.Errorf("after the update, replica grants %+v, want %+v", got, want)
	}

	// No readers: no policy, no grant, no tag.
	none := props()
	if a := stack("custom-resource-update.json", "22222222-0000-4000-8000-000000000003", arn, one, none); a.Status != "SUCCESS" || a.Data["Readers"] != "" {
		t.Fatalf("update without readers answered %+v", a)
	}
	if p := storedPolicy(t, arn); p != nil {
		t.Errorf("policy left: %v", p)
	}
	if got := append(grantsOn(t, "us-east-1", primary), grantsOn(t, "eu-west-1", replica)...); len(got) != 0 {
		t.Errorf("grants left: %+v", got)
	}
	if _, ok := tagsOf(describeSecret(t, arn))["provisioned-readers"]; ok {
		t.Errorf("the readers tag stayed")
	}

	// Readers again, then the stack goes: Delete retires every grant.
	if a := stack("custom-resource-update.json", "22222222-0000-4000-8000-000000000004", arn, none, both); a.Status != "SUCCESS" {
		t.Fatalf("update answered %+v", a)
	}
	if got := grantsOn(t, "us-east-1", primary); len(got) != 2 {
		t.Fatalf("grants %+v", got)
	}
	if a := stack("custom-resource-delete.json", "22222222-0000-4000-8000-000000000005", arn, nil, both); a.Status != "SUCCESS" {
		t.Fatalf("delete answered %+v", a)
	}
	if got := append(grantsOn(t, "us-east-1", primary), grantsOn(t, "eu-west-1", replica)...); len(got) != 0 {
		t.Errorf("grants left after the delete: %+v", got)
	}
}

// TestHandPolicyRefusesReaders: a policy someone attached by hand is not
// the stack's to overwrite: readers are a conflict, and it stays.
func TestHandPolicyRefusesReaders(t *testing.T) {
	name := "app/e2e/readers-hand"
	created := customResource(t, "custom-resource-create.json", "33333333-0000-4000-8000-000000000001", name, "", nil)
	arn := created.PhysicalResourceId
	hand := `{"Version":"2012-10-17","Statement":[{"Sid":"Auditors","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/auditor"},"Action":"secretsmanager:DescribeSecret","Resource":"*"}]}`
	if _, err := secretsClient(t, "us-east-1").PutResourcePolicy(context.Background(), &secretsmanager.PutResourcePolicyInput{SecretId: aws.String(arn), ResourcePolicy: aws.String(hand)}); err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, "CustomResourceFunction", "custom-resource-update.json", readersDeployment, func(e map[string]any) {
		e["RequestId"], e["PhysicalResourceId"] = "33333333-0000-4000-8000-000000000002", arn
		for _, key := range []string{"ResourceProperties", "OldResourceProperties"} {
			e[key].(map[string]any)["Name"] = name
		}
		e["ResourceProperties"].(map[string]any)["Readers"] = []any{appHere}
	})
	a := answerOf(t, out)
	if a.Status != "FAILED" || !strings.Contains(a.Reason, "readers") || !strings.Contains(a.Reason, "not written by this provisioner") {
		t.Fatalf("readers over a hand policy: %+v", a)
	}
	got, err := secretsClient(t, "us-east-1").GetResourcePolicy(context.Background(), &secretsmanager.GetResourcePolicyInput{SecretId: aws.String(arn)})
	if err != nil || aws.ToString(got.ResourcePolicy) != hand {
		t.Fatalf("the hand policy became %q, %v", aws.ToString(got.ResourcePolicy), err)
	}
}

// TestReadersThroughTheAPI: POST gives readers, GET lists them, DELETE
// retires the grants; bad principals are refused with nothing made.
func TestReadersThroughTheAPI(t *testing.T) {
	key := readersKey(t, "us-east-1", "alias/e2e-readers-api")
	inv := invocation{overrides: readersDeployment}
	body := func(name, extra string) string {
		return `{"name": "` + name + `", "engine": "mysql", "host": "h", "replicaRegions": []` + extra + `}`
	}
	name := "app/payments/readers"
	a := apiCall(t, inv, "POST", "", "payments", body(name, `, "kmsKeyId": "alias/e2e-readers-api", "readers": ["`+appHere+`", "`+appThere+`"]`), nil)
	var created struct {
		Arn     string
		Readers []string
	}
	json.Unmarshal([]byte(a.Body), &created)
	if a.Status != 201 || !slices.Equal(created.Readers, []string{appHere, appThere}) {
		t.Fatalf("create: %+v", a)
	}
	checkPolicyUnderIAM(t, created.Arn, []string{appHere, appThere})
	if got, want := grantsOn(t, "us-east-1", key), wantGrants(created.Arn, role("HttpApiFunction"), appHere, appThere); !slices.Equal(got, want) {
		t.Errorf("grants %+v, want %+v", got, want)
	}
	g := apiCall(t, inv, "GET", name, "payments", "", nil)
	var described struct{ Readers []string }
	json.Unmarshal([]byte(g.Body), &described)
	if g.Status != 200 || !slices.Equal(described.Readers, []string{appHere, appThere}) {
		t.Fatalf("GET: %+v", g)
	}
	if d := apiCall(t, inv, "DELETE", name, "payments", "", nil); d.Status != 202 {
		t.Fatalf("DELETE: %+v", d)
	}
	if got := grantsOn(t, "us-east-1", key); len(got) != 0 {
		t.Errorf("grants left after DELETE: %+v", got)
	}

	for _, tt := range []struct {
		name, extra, field string
	}{
		{"everyone", `, "readers": ["*"]`, "readers[0]"},
		{"a service", `, "readers": ["lambda.amazonaws.com"]`, "readers[0]"},
		{"an account the deployment does not name", `, "kmsKeyId": "alias/e2e-readers-api", "readers": ["arn:aws:iam::777788889999:role/x"]`, "readers[0]"},
		{"another account with the AWS managed key", `, "readers": ["` + appThere + `"]`, "kmsKeyId"},
		{"not an ARN", `, "readers": ["orders-app"]`, "readers[0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := "app/payments/readers-refused"
			a := apiCall(t, inv, "POST", "", "payments", body(bad, tt.extra), nil)
			if a.Status != 400 || !strings.Contains(a.Body, `"invalid"`) || !strings.Contains(a.Body, `"field":"`+tt.field+`"`) {
				t.Fatalf("%s: %+v, want 400 invalid on %s", tt.extra, a, tt.field)
			}
			if _, err := secretsClient(t, "us-east-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(bad)}); err == nil {
				t.Fatalf("a refused request made %s", bad)
			}
		})
	}
}

// TestReadersThroughEvents: an event's readers, delivered twice, make one
// policy and one grant per reader.
func TestReadersThroughEvents(t *testing.T) {
	key := readersKey(t, "us-east-1", "alias/e2e-readers-events")
	edit := func(e map[string]any) {
		d := e["detail"].(map[string]any)
		d["name"] = "app/analytics/readers"
		d["kmsKeyId"] = "alias/e2e-readers-events"
		d["replicaRegions"] = []any{}
		d["readers"] = []any{appHere, appThere}
	}
	var arn string
	for i := 0; i < 2; i++ {
		result, errType, msg := deliverTo(t, readersDeployment, edit)
		if errType != "" {
			t.Fatalf("delivery %d: %s %s", i+1, errType, msg)
		}
		arn, _ = result["arn"].(string)
		if readers, _ := result["readers"].([]any); len(readers) != 2 {
			t.Fatalf("delivery %d answered %v", i+1, result)
		}
	}
	checkPolicyUnderIAM(t, arn, []string{appHere, appThere})
	if got, want := grantsOn(t, "us-east-1", key), wantGrants(arn, role("EventBridgeFunction"), appHere, appThere); !slices.Equal(got, want) {
		t.Errorf("grants %+v, want %+v", got, want)
	}
}

// TestReadersRefusedByStacksAndEvents: a bad principal is refused through
// the custom resource (FAILED, no physical id made) and an event (an
// invalid request, nothing made), naming the field.
func TestReadersRefusedByStacksAndEvents(t *testing.T) {
	for _, tt := range []struct {
		readers []any
		field   string
	}{
		{[]any{"*"}, "readers[0]"},
		{[]any{appHere, "arn:aws:iam::777788889999:root"}, "readers[1]"},
		{[]any{appThere}, "kmsKeyId"},
	} {
		name := "app/e2e/readers-refused"
		out, _ := run(t, "CustomResourceFunction", "custom-resource-create.json", readersDeployment, func(e map[string]any) {
			p := e["ResourceProperties"].(map[string]any)
			p["Name"], p["Readers"] = name, tt.readers
		})
		if a := answerOf(t, out); a.Status != "FAILED" || !strings.Contains(strings.ToLower(a.Reason), strings.ToLower(tt.field)) {
			t.Errorf("a stack's readers %v: %+v, want FAILED naming %s", tt.readers, a, tt.field)
		}
		_, errType, msg := deliverTo(t, readersDeployment, func(e map[string]any) {
			d := e["detail"].(map[string]any)
			d["name"], d["readers"] = name, tt.readers
		})
		if errType == "" || !strings.Contains(msg, tt.field) {
			t.Errorf("an event's readers %v: %s %s, want an error naming %s", tt.readers, errType, msg, tt.field)
		}
		if _, err := secretsClient(t, "us-east-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)}); err == nil {
			t.Fatalf("a refused request made %s", name)
		}
	}
}

// deliverTo delivers the sample event, edited, to a deployment with
// overrides (its IAM is checked under them too).
func deliverTo(t *testing.T, overrides map[string]string, edit func(map[string]any)) (result map[string]any, errType, errMessage string) {
	t.Helper()
	out, _ := runWith(t, invocation{function: "EventBridgeFunction", event: "eventbridge-request.json", edit: edit, overrides: overrides})
	if out.InitError != nil {
		t.Fatalf("init failed: %+v", out.InitError)
	}
	if out.Error != nil {
		return nil, out.Error.Type, out.Error.Message
	}
	json.Unmarshal(out.Response, &result)
	return result, "", ""
}
