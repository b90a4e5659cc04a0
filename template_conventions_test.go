package template

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv"
)

// translated is the template as CloudFormation receives it after SAM's
// transform, with the optional features on.
func translated(t *testing.T) map[string]any {
	t.Helper()
	testenv.Integration(t, "Python's SAM translator")
	params := `{"PermissionsBoundary": "arn:aws:iam::123456789012:policy/platform-boundary", "Tracing": "Active",
		"AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:platform-alarms", "JwtIssuer": "https://issuer.example.com/"}`
	out, err := exec.Command("python3", "-c", translate, "template.yaml", params).CombinedOutput()
	if err != nil {
		t.Fatalf("translating: %v\n%s", err, out)
	}
	var tpl map[string]any
	if err := json.Unmarshal(out, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

func resourcesOf(tpl map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range tpl["Resources"].(map[string]any) {
		out[id] = r.(map[string]any)
	}
	return out
}

func asJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestTemplateConventions: what a platform team's reviewers ask of a shared
// SAM application, checked on the translated template.
func TestTemplateConventions(t *testing.T) {
	tpl := translated(t)
	resources := resourcesOf(tpl)
	count := map[string]int{}
	logGroups := map[string]bool{}
	for id, r := range resources {
		typ := r["Type"].(string)
		props, _ := r["Properties"].(map[string]any) // a schedule group needs none
		count[typ]++
		switch typ {
		case "AWS::IAM::Role":
			if got := asJSON(props["PermissionsBoundary"]); got != `{"Fn::If":["HasPermissionsBoundary",{"Ref":"PermissionsBoundary"},{"Ref":"AWS::NoValue"}]}` {
				t.Errorf("role %s: permissions boundary %s", id, got)
			}
		case "AWS::Logs::LogGroup":
			logGroups[id] = true
			if asJSON(props["RetentionInDays"]) != `{"Ref":"LogRetentionInDays"}` || r["DeletionPolicy"] != "Delete" {
				t.Errorf("log group %s: retention %v, deletion %v", id, props["RetentionInDays"], r["DeletionPolicy"])
			}
		}
	}
	if count["AWS::IAM::Role"] != 5 || count["AWS::Logs::LogGroup"] != 5 {
		t.Errorf("%d roles and %d log groups; want the four functions' roles and the expiry Scheduler's, and the functions' four log groups and the API's", count["AWS::IAM::Role"], count["AWS::Logs::LogGroup"])
	}
	// Every log goes to a log group of the stack's.
	for id, r := range resources {
		props, _ := r["Properties"].(map[string]any)
		switch r["Type"] {
		case "AWS::Lambda::Function":
			group, _ := props["LoggingConfig"].(map[string]any)["LogGroup"].(map[string]any)
			if !logGroups[asJSON(group["Ref"])[1:len(asJSON(group["Ref"]))-1]] {
				t.Errorf("function %s logs to %v, not a log group of the stack's", id, group)
			}
		case "AWS::ApiGatewayV2::Stage":
			settings, _ := props["AccessLogSettings"].(map[string]any)
			dest := asJSON(settings["DestinationArn"])
			if dest != `{"Fn::GetAtt":["HttpApiAccessLogGroup","Arn"]}` && dest != `{"Fn::GetAtt":"HttpApiAccessLogGroup.Arn"}` {
				t.Errorf("stage %s: access log to %s", id, dest)
			}
			checkAccessLogFormat(t, id, settings["Format"])
		}
	}
	if count["AWS::ApiGatewayV2::Stage"] != 2 {
		t.Errorf("%d API stages, want the IAM API's and the JWT API's", count["AWS::ApiGatewayV2::Stage"])
	}
	for _, id := range []string{"FailedRequestsQueue", "ExpiryFailuresQueue"} {
		queue := resources[id]
		if queue["DeletionPolicy"] != "Retain" || queue["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("the dead-letter queue %s: DeletionPolicy %v, UpdateReplacePolicy %v; want Retain", id, queue["DeletionPolicy"], queue["UpdateReplacePolicy"])
		}
	}
	// Alarms: the dead-letter queue, and each function's errors, to the topic.
	alarmed := map[string]bool{}
	for id, r := range resources {
		if r["Type"] != "AWS::CloudWatch::Alarm" {
			continue
		}
		props := r["Properties"].(map[string]any)
		if r["Condition"] != "HasAlarmTopic" || asJSON(props["AlarmActions"]) != `[{"Ref":"AlarmTopicArn"}]` {
			t.Errorf("alarm %s: condition %v, actions %v", id, r["Condition"], props["AlarmActions"])
		}
		if metrics, ok := props["Metrics"].([]any); ok {
			// Metric math: each metric it reads, by name and dimension.
			for _, m := range metrics {
				stat, _ := m.(map[string]any)["MetricStat"].(map[string]any)
				if stat == nil {
					continue
				}
				metric := stat["Metric"].(map[string]any)
				for _, d := range metric["Dimensions"].([]any) {
					alarmed[metric["MetricName"].(string)+" "+asJSON(d.(map[string]any)["Value"])] = true
				}
			}
			continue
		}
		for _, d := range props["Dimensions"].([]any) {
			alarmed[props["MetricName"].(string)+" "+asJSON(d.(map[string]any)["Value"])] = true
		}
	}
	for _, want := range []string{`ApproximateNumberOfMessagesVisible {"Fn::GetAtt":["FailedRequestsQueue","QueueName"]}`,
		`ApproximateNumberOfMessagesVisible {"Fn::GetAtt":["ExpiryFailuresQueue","QueueName"]}`,
		`Errors {"Ref":"CustomResourceFunction"}`, `Errors {"Ref":"HttpApiFunction"}`, `Errors {"Ref":"EventBridgeFunction"}`, `Errors {"Ref":"RotationHealthFunction"}`,
		// Every trigger's failed and abandoned rotations, and those of a
		// secret whose trigger is not known.
		`RotationFailed "cloudformation"`, `RotationFailed "http-api"`, `RotationFailed "eventbridge"`, `RotationFailed "unknown"`,
		`RotationAbandoned "cloudformation"`, `RotationAbandoned "http-api"`, `RotationAbandoned "eventbridge"`, `RotationAbandoned "unknown"`} {
		if !alarmed[want] {
			t.Errorf("no alarm on %s; alarms: %v", want, alarmed)
		}
	}
	if asJSON(resources["EventBridgeFunction"]["Properties"].(map[string]any)["ReservedConcurrentExecutions"]) != `{"Ref":"EventConcurrency"}` {
		t.Error("the EventBridge function's concurrency is not capped by EventConcurrency")
	}
}

// checkAccessLogFormat: one JSON object per request, of request metadata
// only: no body, no header value (an Authorization or a token).
func checkAccessLogFormat(t *testing.T, stage string, format any) {
	t.Helper()
	f, _ := format.(string)
	var line map[string]string
	if err := json.Unmarshal([]byte(regexp.MustCompile(`\$context\.[A-Za-z.]+`).ReplaceAllString(f, "x")), &line); err != nil || len(line) < 8 {
		t.Errorf("stage %s: the access log format is not a JSON object: %v\n%s", stage, err, f)
	}
	for _, forbidden := range []string{"body", "header", "authorization", "requestOverride"} {
		if strings.Contains(strings.ToLower(f), strings.ToLower(forbidden)) {
			t.Errorf("stage %s: the access log format holds %s", stage, forbidden)
		}
	}
}

// TestPublishingMetadata: what sam publish needs, complete and pointing at
// files that exist.
func TestPublishingMetadata(t *testing.T) {
	tpl := translated(t)
	app, _ := tpl["Metadata"].(map[string]any)["AWS::ServerlessRepo::Application"].(map[string]any)
	for _, key := range []string{"Name", "Description", "Author", "SpdxLicenseId", "LicenseUrl", "ReadmeUrl", "Labels", "HomePageUrl", "SemanticVersion", "SourceCodeUrl"} {
		if v, ok := app[key]; !ok || v == "" || v == nil {
			t.Errorf("AWS::ServerlessRepo::Application has no %s", key)
		}
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(asJSON(app["SemanticVersion"])[1 : len(asJSON(app["SemanticVersion"]))-1]) {
		t.Errorf("SemanticVersion %v is not MAJOR.MINOR.PATCH", app["SemanticVersion"])
	}
	license, err := os.ReadFile("" + app["LicenseUrl"].(string))
	if err != nil || app["SpdxLicenseId"] != "Apache-2.0" || !strings.Contains(string(license), "Apache License") || !strings.Contains(string(license), "Version 2.0") {
		t.Errorf("the license: %v (%v), SPDX %v", app["LicenseUrl"], err, app["SpdxLicenseId"])
	}
	if _, err := os.Stat("" + app["ReadmeUrl"].(string)); err != nil {
		t.Errorf("ReadmeUrl: %v", err)
	}
	labels, _ := app["Labels"].([]any)
	for _, l := range labels {
		if s, _ := l.(string); !regexp.MustCompile(`^[a-zA-Z0-9+\-_:/@]{1,127}$`).MatchString(s) {
			t.Errorf("label %q breaks the Serverless Application Repository's rule", s)
		}
	}
	if len(labels) == 0 || len(labels) > 10 {
		t.Errorf("%d labels; the Serverless Application Repository takes 1 to 10", len(labels))
	}
}
