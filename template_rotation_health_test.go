package template

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv"
)

// matchPattern asks moto's EventBridge pattern matcher (moto.events) which
// of events pattern matches.
const matchPattern = `
import json, sys
from moto.events.models import EventPattern
case = json.load(sys.stdin)
p = EventPattern.load(json.dumps(case["pattern"]))
print(json.dumps([p.matches_event(e) for e in case["events"]]))
`

// TestRotationHealthRuleMatchesRotationOutcomes: the rule, as SAM
// translates it, matches Secrets Manager's rotation outcomes of the
// secrets under the prefix, with the field layout AWS delivers
// (events/secretsmanager-rotation-failed.json, CloudTrail through
// EventBridge), and nothing else: not a rotation starting, not an API
// call, not a secret outside the prefix or in another Region or account.
func TestRotationHealthRuleMatchesRotationOutcomes(t *testing.T) {
	testenv.Integration(t, "the SAM translator and moto")
	var pattern any
	for _, r := range resourcesOf(translated(t)) {
		if r["Type"] != "AWS::Events::Rule" {
			continue
		}
		props := r["Properties"].(map[string]any)
		if targets := asJSON(props["Targets"]); strings.Contains(targets, "RotationHealthFunction") {
			pattern = props["EventPattern"]
		}
	}
	if pattern == nil {
		t.Fatal("no rule targets RotationHealthFunction")
	}
	// The template's intrinsics, resolved for a deployment in us-east-1.
	text := asJSON(pattern)
	text = strings.NewReplacer(`{"Fn::Sub":"`, `"`, `"}`, `"`).Replace(text)
	text = strings.NewReplacer("${AWS::Partition}", "aws", "${AWS::Region}", "us-east-1", "${AWS::AccountId}", "123456789012", "${SecretNamePrefix}", "app/").Replace(text)
	if err := json.Unmarshal([]byte(text), &pattern); err != nil {
		t.Fatalf("the pattern %s: %v", text, err)
	}
	raw, err := os.ReadFile("events/secretsmanager-rotation-failed.json")
	if err != nil {
		t.Fatal(err)
	}
	event := func(edit func(e, detail map[string]any)) map[string]any {
		var e map[string]any
		json.Unmarshal(raw, &e)
		edit(e, e["detail"].(map[string]any))
		return e
	}
	cases := []struct {
		name string
		e    map[string]any
		want bool
	}{
		{"a failed rotation", event(func(e, d map[string]any) {}), true},
		{"a succeeded rotation", event(func(e, d map[string]any) { d["eventName"] = "RotationSucceeded" }), true},
		{"an abandoned rotation", event(func(e, d map[string]any) { d["eventName"] = "RotationAbandoned" }), true},
		{"a rotation starting", event(func(e, d map[string]any) { d["eventName"] = "RotationStarted" }), false},
		{"an API call", event(func(e, d map[string]any) {
			e["detail-type"] = "AWS API Call via CloudTrail"
			d["eventName"] = "RotateSecret"
		}), false},
		{"a secret outside the prefix", event(func(e, d map[string]any) {
			d["additionalEventData"] = map[string]any{"SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:application/db-AbCdEf"}
		}), false},
		{"a replica's Region", event(func(e, d map[string]any) {
			d["additionalEventData"] = map[string]any{"SecretId": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/orders/app-user-AbCdEf"}
		}), false},
		{"another account's secret", event(func(e, d map[string]any) {
			d["additionalEventData"] = map[string]any{"SecretId": "arn:aws:secretsmanager:us-east-1:444455556666:secret:app/orders/app-user-AbCdEf"}
		}), false},
		{"another source", event(func(e, d map[string]any) { e["source"] = "dbcreds.requests" }), false},
	}
	var events []map[string]any
	for _, c := range cases {
		events = append(events, c.e)
	}
	in, _ := json.Marshal(map[string]any{"pattern": pattern, "events": events})
	cmd := exec.Command("python3", "-c", matchPattern)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("moto's matcher: %v", err)
	}
	var got []bool
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("moto's matcher answered %s", out)
	}
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s: matched %v, want %v (pattern %s)", c.name, got[i], c.want, text)
		}
	}
}
