package template

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv"
	"github.com/dbcreds/provisioner/local/testenv/iamcheck"
)

// TestExpirySchedulerRoleIsLeast: the role the Scheduler invokes expiries
// with, evaluated by IAM's own rules: it invokes the two functions that
// make expiring secrets and sends to the expiry queue, nothing else; and
// only the Scheduler, for this account's group, may assume it.
func TestExpirySchedulerRoleIsLeast(t *testing.T) {
	testenv.Integration(t, "the SAM translator and Node.js")
	tpl, err := iamcheck.Translate("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	policy, err := tpl.Resolved("ExpirySchedulerPolicy", realistic)
	if err != nil {
		t.Fatal(err)
	}
	if roles, _ := json.Marshal(policy["Roles"]); !strings.Contains(string(roles), "ExpirySchedulerRole") {
		t.Fatalf("the policy is attached to %s", roles)
	}
	role := iamcheck.Role{Function: "ExpiryScheduler", ARN: "arn:aws:iam::" + iamcheck.AccountID + ":role/ExpirySchedulerRole",
		Policies: []iamcheck.Policy{{Name: "invoke-at-expiry", Document: policy["PolicyDocument"].(map[string]any)}}}
	fn := func(id string) string {
		return "arn:aws:lambda:" + iamcheck.Region + ":" + iamcheck.AccountID + ":function:" + iamcheck.StackName + "-" + id
	}
	queue := func(id string) string {
		return "arn:aws:sqs:" + iamcheck.Region + ":" + iamcheck.AccountID + ":" + iamcheck.StackName + "-" + id
	}
	cases := []struct {
		action, resource string
		allowed          bool
	}{
		{"lambda:InvokeFunction", fn("HttpApiFunction"), true},
		{"lambda:InvokeFunction", fn("EventBridgeFunction"), true},
		{"lambda:InvokeFunction", fn("CustomResourceFunction"), false},
		{"lambda:InvokeFunction", fn("RotationHealthFunction"), false},
		{"lambda:InvokeFunction", realistic["RotationFunctionPostgreSQL"], false},
		{"lambda:InvokeFunction", fn("HttpApiFunction") + ":other", false},
		{"sqs:SendMessage", queue("ExpiryFailuresQueue"), true},
		{"sqs:SendMessage", queue("FailedRequestsQueue"), false},
		{"secretsmanager:DeleteSecret", "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/x-AbCdEf", false},
		{"iam:PassRole", role.ARN, false},
	}
	var requests []iamcheck.Request
	for _, c := range cases {
		requests = append(requests, iamcheck.Request{Action: c.action, Resource: c.resource, Context: map[string]any{}, Why: "expiry"})
	}
	decisions, err := iamcheck.Evaluate(role, requests)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if decisions[i].Allowed() != c.allowed {
			t.Errorf("%s on %s: %s, want allowed %v", c.action, c.resource, decisions[i].Result, c.allowed)
		}
	}

	trust, err := tpl.Resolved("ExpirySchedulerRole", realistic)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(trust["AssumeRolePolicyDocument"])
	for _, want := range []string{`"Service":"scheduler.amazonaws.com"`, `"aws:SourceAccount":"` + iamcheck.AccountID + `"`,
		`"aws:SourceArn":"arn:aws:scheduler:` + iamcheck.Region + `:` + iamcheck.AccountID + `:schedule-group/ExpiryScheduleGroup"`} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("the trust policy lacks %s: %s", want, doc)
		}
	}
	if strings.Count(string(doc), `"Effect":"Allow"`) != 1 || trust["PermissionsBoundary"] == nil {
		t.Errorf("the trust policy %s, boundary %v", doc, trust["PermissionsBoundary"])
	}
}
