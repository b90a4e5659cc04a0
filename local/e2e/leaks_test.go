package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestNothingLeaks runs every trigger through success and failure with a
// secret value the caller supplies and passwords the functions generate,
// collects every log line, response, error and CloudFormation answer, and
// looks for any of those values and for the presigned ResponseURL's
// credentials.
func TestNothingLeaks(t *testing.T) {
	const supplied = "Supplied-Secret-Value-5f2c9e"
	var seen []string // everything a person or a system could read
	var passwords []string

	record := func(logs string, parts ...string) {
		seen = append(seen, logs)
		seen = append(seen, parts...)
	}
	cfn := func(event, requestID, id string, props map[string]any) cfnAnswer {
		out, logs := runWith(t, invocation{function: "CustomResourceFunction", event: event, edit: func(e map[string]any) {
			e["RequestId"] = requestID
			if id != "" {
				e["PhysicalResourceId"] = id
			}
			for k, v := range props {
				e["ResourceProperties"].(map[string]any)[k] = v
			}
		}})
		record(logs, string(out.CloudFormation), string(out.Response))
		return answerOf(t, out)
	}

	// CloudFormation: a supplied value, then the same with a bad tag.
	value := map[string]any{"Name": "app/leaks/supplied", "SecretString": supplied, "Engine": nil, "Host": nil, "Port": nil,
		"DbName": nil, "Username": nil, "Ssl": nil, "DbClusterIdentifier": nil, "ExtraFields": nil}
	if a := cfn("custom-resource-create.json", "13131313-0000-4000-8000-000000000001", "", value); a.Status != "SUCCESS" {
		t.Fatalf("supplied value: %+v", a)
	}
	value["Name"], value["Tags"] = "app/leaks/supplied-bad", []any{map[string]any{"Key": "aws:x", "Value": supplied}}
	if a := cfn("custom-resource-create.json", "13131313-0000-4000-8000-000000000002", "", value); a.Status != "FAILED" {
		t.Fatalf("bad tag: %+v", a)
	}
	// A generated password through create, update and delete.
	created := cfn("custom-resource-create.json", "13131313-0000-4000-8000-000000000003", "", map[string]any{"Name": "app/leaks/generated"})
	secret, _ := storedSecret(t, "us-east-1", created.PhysicalResourceId)
	passwords = append(passwords, secret["password"].(string))
	cfn("custom-resource-update.json", "13131313-0000-4000-8000-000000000004", created.PhysicalResourceId, map[string]any{"Name": "app/leaks/generated"})
	cfn("custom-resource-delete.json", "13131313-0000-4000-8000-000000000005", created.PhysicalResourceId, nil)

	// The HTTP API: create with a supplied value, a refused one, a read.
	for i, body := range []string{
		`{"name": "app/leaks/http", "secretString": "` + supplied + `"}`,
		`{"name": "app/leaks/http-bad", "secretString": "` + supplied + `", "port": "` + supplied + `"}`,
		`{"name": "app/leaks/http-db", "engine": "postgres", "host": "h"}`,
	} {
		out, logs := runWith(t, invocation{function: "HttpApiFunction", event: "http-api-create.json", edit: func(e map[string]any) {
			e["body"] = body
			e["headers"].(map[string]any)["idempotency-key"] = "leak-key-" + string(rune('a'+i))
		}})
		record(logs, string(out.Response))
	}
	generated, _ := storedSecret(t, "us-east-1", "app/leaks/http-db")
	passwords = append(passwords, generated["password"].(string))
	out, logs := runWith(t, invocation{function: "HttpApiFunction", event: "http-api-get.json", edit: func(e map[string]any) {
		e["pathParameters"] = map[string]any{"name": "app/leaks/http"}
	}})
	record(logs, string(out.Response))

	// EventBridge: a supplied value, a refused one, a generated password.
	for i, detail := range []map[string]any{
		{"name": "app/leaks/eb", "secretString": supplied},
		{"name": "app/leaks/eb-bad", "secretString": supplied, "secretBinary": supplied},
		{"name": "app/leaks/eb-db", "engine": "mysql", "host": "h"},
	} {
		result, errType, msg, logs := deliver(t, "eventbridge-request.json", func(e map[string]any) {
			e["id"] = "leak-event-" + string(rune('a'+i))
			e["detail"] = detail
		}, nil)
		b, _ := json.Marshal(result)
		record(logs, string(b), errType, msg)
	}
	ebSecret, _ := storedSecret(t, "us-east-1", "app/leaks/eb-db")
	passwords = append(passwords, ebSecret["password"].(string))

	forbidden := []string{supplied, "X-Amz-Signature", "X-Amz-Credential", "EXAMPLESIGNATURE"}
	for _, p := range passwords {
		escaped, _ := json.Marshal(p)
		forbidden = append(forbidden, p, strings.Trim(string(escaped), `"`))
	}
	everything := strings.Join(seen, "\n")
	if len(everything) < 2000 || !strings.Contains(everything, `"level":"ERROR"`) {
		t.Fatalf("collected too little to judge (%d bytes)", len(everything))
	}
	for _, f := range forbidden {
		if i := strings.Index(everything, f); i >= 0 {
			t.Fatalf("%q leaked: ...%s...", f, everything[max(0, i-200):min(len(everything), i+100)])
		}
	}
}
