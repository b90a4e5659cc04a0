package e2e

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
)

// Every invocation writes one CloudWatch Embedded Metric Format line:
// namespace, dimensions and values as documented, and nothing of the
// request or the secret.

type emfLine struct {
	raw  string
	doc  map[string]any
	dims [][]string
}

func emfLines(t *testing.T, logs string) []emfLine {
	t.Helper()
	var out []emfLine
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `"_aws"`) {
			continue
		}
		l := emfLine{raw: line}
		if err := json.Unmarshal([]byte(line), &l.doc); err != nil {
			t.Fatalf("an EMF line that is not JSON: %s", line)
		}
		var meta struct {
			AWS struct {
				Timestamp         int64
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name, Unit string }
				}
			} `json:"_aws"`
		}
		json.Unmarshal([]byte(line), &meta)
		if meta.AWS.Timestamp == 0 || len(meta.AWS.CloudWatchMetrics) != 1 || meta.AWS.CloudWatchMetrics[0].Namespace != "dbcreds/provisioner" {
			t.Fatalf("EMF metadata: %s", line)
		}
		var names []string
		for _, m := range meta.AWS.CloudWatchMetrics[0].Metrics {
			names = append(names, m.Name+":"+m.Unit)
		}
		want := []string{"Requests:Count", "SecretsCreated:Count", "Replays:Count", "SecretsDeleted:Count", "Failures:Count", "Duration:Milliseconds"}
		if !reflect.DeepEqual(names, want) {
			t.Fatalf("metrics %v, want %v", names, want)
		}
		l.dims = meta.AWS.CloudWatchMetrics[0].Dimensions
		out = append(out, l)
	}
	return out
}

func TestEveryInvocationWritesItsMetrics(t *testing.T) {
	cfnName := func(name string) func(map[string]any) {
		return func(e map[string]any) {
			e["RequestId"] = "a0a0a0a0-0000-4000-8000-" + strings.Repeat("0", 12-len(name)) + name
			e["ResourceProperties"].(map[string]any)["Name"] = "app/metrics/" + name
		}
	}
	type want struct {
		trigger, code                       string
		created, replays, deleted, failures float64
	}
	var created string
	for _, tc := range []struct {
		name string
		run  func() string // the invocation's log
		want want
	}{
		{"custom resource create", func() string {
			out, logs := run(t, "CustomResourceFunction", "custom-resource-create.json", nil, cfnName("cfn"))
			created = answerOf(t, out).PhysicalResourceId
			return logs
		}, want{trigger: "cloudformation", created: 1}},
		{"custom resource create retried", func() string {
			_, logs := run(t, "CustomResourceFunction", "custom-resource-create.json", nil, cfnName("cfn"))
			return logs
		}, want{trigger: "cloudformation", replays: 1}},
		{"custom resource refused", func() string {
			_, logs := run(t, "CustomResourceFunction", "custom-resource-create-invalid.json", nil, nil)
			return logs
		}, want{trigger: "cloudformation", code: "invalid", failures: 1}},
		{"custom resource delete", func() string {
			_, logs := run(t, "CustomResourceFunction", "custom-resource-delete.json", nil, func(e map[string]any) {
				e["PhysicalResourceId"] = created
				e["ResourceProperties"].(map[string]any)["Name"] = "app/metrics/cfn"
				e["RequestId"] = "a0a0a0a0-0000-4000-8000-00000000de1e"
			})
			return logs
		}, want{trigger: "cloudformation", deleted: 1}},
		{"HTTP create", func() string {
			_, logs := run(t, "HttpApiFunction", "http-api-create.json", nil, func(e map[string]any) {
				e["body"] = `{"name": "app/payments/metrics", "engine": "mysql", "host": "h"}`
				e["headers"].(map[string]any)["idempotency-key"] = "metrics-1"
			})
			return logs
		}, want{trigger: "http-api", created: 1}},
		{"HTTP replay", func() string {
			_, logs := run(t, "HttpApiFunction", "http-api-create.json", nil, func(e map[string]any) {
				e["body"] = `{"name": "app/payments/metrics", "engine": "mysql", "host": "h"}`
				e["headers"].(map[string]any)["idempotency-key"] = "metrics-1"
			})
			return logs
		}, want{trigger: "http-api", replays: 1}},
		{"HTTP not found", func() string {
			_, logs := run(t, "HttpApiFunction", "http-api-get.json", nil, func(e map[string]any) {
				e["pathParameters"] = map[string]any{"name": "app/payments/never-made"}
			})
			return logs
		}, want{trigger: "http-api", code: "not_found", failures: 1}},
		{"event", func() string {
			_, _, _, logs := deliver(t, "eventbridge-request.json", func(e map[string]any) {
				e["id"] = "metrics-event-1"
				e["detail"].(map[string]any)["name"] = "app/analytics/metrics"
			}, nil)
			return logs
		}, want{trigger: "eventbridge", created: 1}},
		{"event refused", func() string {
			_, _, _, logs := deliver(t, "eventbridge-request-invalid.json", nil, nil)
			return logs
		}, want{trigger: "eventbridge", code: "invalid", failures: 1}},
		// A failure of the function's own (no CA bundle to verify the
		// database with): counted under its code, as every other.
		{"event failing inside", func() string {
			s := dbServer(t, "postgres")
			master := masterSecretFor(t, "masters/metrics/internal", s)
			_, errType, _, logs := deliver(t, "eventbridge-request.json", func(e map[string]any) {
				e["id"] = "metrics-event-internal"
				e["detail"] = map[string]any{"name": "app/analytics/metrics-internal", "engine": "postgres", "dbname": dbserver.Database,
					"masterSecretArn": master, "createDatabaseUser": true, "ssl": true}
			}, map[string]string{"DATABASE_USER_GRANTS": openGrants["DatabaseUserGrants"], "DB_CA_BUNDLE": ""})
			if errType != "Internal" {
				t.Fatalf("error type %q", errType)
			}
			return logs
		}, want{trigger: "eventbridge", code: "internal", failures: 1}},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			logs := tc.run()
			lines := emfLines(t, logs)
			if len(lines) != 1 {
				t.Fatalf("%d EMF lines, want one:\n%s", len(lines), logs)
			}
			l := lines[0]
			wantDims := [][]string{{"Trigger"}}
			if tc.want.code != "" {
				wantDims = append(wantDims, []string{"Trigger", "ErrorCode"})
			}
			code, _ := l.doc["ErrorCode"].(string)
			got := want{trigger: l.doc["Trigger"].(string), code: code, created: l.doc["SecretsCreated"].(float64),
				replays: l.doc["Replays"].(float64), deleted: l.doc["SecretsDeleted"].(float64), failures: l.doc["Failures"].(float64)}
			if got != tc.want || l.doc["Requests"] != float64(1) || !reflect.DeepEqual(l.dims, wantDims) {
				t.Fatalf("EMF %s, want %+v with dimensions %v", l.raw, tc.want, wantDims)
			}
			if d, _ := l.doc["Duration"].(float64); d <= 0 {
				t.Fatalf("Duration %v", l.doc["Duration"])
			}
			// Only the documented members: nothing of the request or the secret.
			for k := range l.doc {
				switch k {
				case "_aws", "Trigger", "ErrorCode", "Requests", "SecretsCreated", "Replays", "SecretsDeleted", "Failures", "Duration":
				default:
					t.Fatalf("EMF member %q: %s", k, l.raw)
				}
			}
			if strings.Contains(l.raw, "app/") || strings.Contains(l.raw, "arn:") {
				t.Fatalf("a name or an ARN in the metrics: %s", l.raw)
			}
		})
	}
}
