package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/testenv/faultproxy"
)

// Secrets Manager failing the ways the real one can, through a proxy in
// front of moto, under every trigger.

func proxy(t *testing.T, plan faultproxy.Plan) (*faultproxy.Proxy, map[string]string) {
	t.Helper()
	p, err := faultproxy.Start(moto.Endpoint, plan)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": p.URL}
}

// firstFail makes the first n calls of an operation fail with fault.
func firstFail(operation string, n int, fault faultproxy.Fault) faultproxy.Plan {
	return func(op string, attempt int) faultproxy.Fault {
		if op == operation && attempt <= n {
			return fault
		}
		return faultproxy.Pass
	}
}

func versionsOf(t *testing.T, id string) int {
	t.Helper()
	out, err := secretsClient(t, "us-east-1").ListSecretVersionIds(context.Background(),
		&secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(id), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Versions)
}

// checkWhole checks a created secret has everything the request asked for:
// its tags, its replica and one version.
func checkWhole(t *testing.T, arn string) {
	t.Helper()
	d := describeSecret(t, arn)
	tags := tagsOf(d)
	if tags["team"] != "orders" || tags["environment"] != "production" || tags["provisioned-via"] != "cloudformation" ||
		replicaRegions(d) != "eu-west-1" || versionsOf(t, arn) != 1 {
		t.Fatalf("half-created: tags %v, replicas %q, %d versions", tags, replicaRegions(d), versionsOf(t, arn))
	}
}

func cfnCreate(t *testing.T, name, requestID string, env map[string]string) (cfnAnswer, time.Duration) {
	t.Helper()
	out, _ := runWith(t, invocation{function: "CustomResourceFunction", event: "custom-resource-create.json", env: env,
		edit: func(e map[string]any) {
			e["RequestId"] = requestID
			e["ResourceProperties"].(map[string]any)["Name"] = name
		}})
	return answerOf(t, out), out.Duration
}

// TestTransientFaultsAreRetried: two failed attempts, then success, within
// the SDK's standard policy of three attempts, and the secret is whole.
func TestTransientFaultsAreRetried(t *testing.T) {
	for i, fault := range []faultproxy.Fault{faultproxy.ServerError, faultproxy.Throttle, faultproxy.Drop} {
		t.Run(fmt.Sprint(fault), func(t *testing.T) {
			t.Parallel()
			p, env := proxy(t, firstFail("CreateSecret", 2, fault))
			a, _ := cfnCreate(t, fmt.Sprintf("app/faults/transient_%d", i), fmt.Sprintf("66666666-0000-4000-8000-00000000000%d", i), env)
			if a.Status != "SUCCESS" || p.Attempts("CreateSecret") != 3 {
				t.Fatalf("after %d attempts: %+v", p.Attempts("CreateSecret"), a)
			}
			checkWhole(t, a.PhysicalResourceId)
		})
	}
}

// TestLostResponseLeavesOneSecret: the first CreateSecret takes effect but
// its answer is lost; the retry finds the request's own secret.
func TestLostResponseLeavesOneSecret(t *testing.T) {
	p, env := proxy(t, firstFail("CreateSecret", 1, faultproxy.LoseResponse))
	a, _ := cfnCreate(t, "app/faults/lost-response", "77777777-0000-4000-8000-000000000001", env)
	if a.Status != "SUCCESS" || p.Attempts("CreateSecret") != 2 {
		t.Fatalf("after %d attempts: %+v", p.Attempts("CreateSecret"), a)
	}
	checkWhole(t, a.PhysicalResourceId)
	again, _ := cfnCreate(t, "app/faults/lost-response", "77777777-0000-4000-8000-000000000001", nil)
	if again.PhysicalResourceId != a.PhysicalResourceId || again.Data["VersionId"] != a.Data["VersionId"] {
		t.Fatalf("a later retry answered %+v, not %+v", again, a)
	}
}

// TestPersistentFaults: Secrets Manager failing or throttling every time
// ends each trigger with a clear error: FAILED in time for CloudFormation,
// 502 or 429 for the API, a retryable error for EventBridge. Nothing is
// created.
func TestPersistentFaults(t *testing.T) {
	for i, tt := range []struct {
		fault   faultproxy.Fault
		reason  string // in the FAILED reason and the error messages
		status  int
		errType string
	}{
		{faultproxy.ServerError, "InternalServiceError", 502, "Retryable.upstream"},
		{faultproxy.Throttle, "ThrottlingException", 429, "Retryable.throttled"},
		// An answer the SDK cannot read is still an answer: upstream, not unavailable.
		{faultproxy.BadGateway, "HTTP 502", 502, "Retryable.upstream"},
	} {
		always := func(string, int) faultproxy.Fault { return tt.fault }
		t.Run(fmt.Sprint(tt.fault)+"/cloudformation", func(t *testing.T) {
			t.Parallel()
			p, env := proxy(t, always)
			name := fmt.Sprintf("app/faults/persistent_cfn_%d", i)
			a, took := cfnCreate(t, name, fmt.Sprintf("88888888-0000-4000-8000-00000000000%d", i), env)
			if a.Status != "FAILED" || !strings.Contains(a.Reason, tt.reason) || p.Attempts("CreateSecret") != 3 || took > 30*time.Second {
				t.Fatalf("after %d attempts and %v: %+v", p.Attempts("CreateSecret"), took, a)
			}
			notCreated(t, name)
		})
		t.Run(fmt.Sprint(tt.fault)+"/http-api", func(t *testing.T) {
			t.Parallel()
			_, env := proxy(t, always)
			name := fmt.Sprintf("app/faults/persistent_http_%d", i)
			out, _ := runWith(t, invocation{function: "HttpApiFunction", event: "http-api-create.json", env: env,
				edit: func(e map[string]any) {
					e["body"] = `{"name": "` + name + `", "engine": "mysql", "host": "h"}`
					e["headers"].(map[string]any)["idempotency-key"] = name
				}})
			var resp struct {
				StatusCode int
				Headers    map[string]string
				Body       string
			}
			json.Unmarshal(out.Response, &resp)
			if resp.StatusCode != tt.status || !strings.Contains(resp.Body, tt.reason) {
				t.Fatalf("%d %s", resp.StatusCode, resp.Body)
			}
			if tt.status == 429 && resp.Headers["Retry-After"] == "" {
				t.Fatal("429 without Retry-After")
			}
			notCreated(t, name)
		})
		t.Run(fmt.Sprint(tt.fault)+"/eventbridge", func(t *testing.T) {
			t.Parallel()
			_, env := proxy(t, always)
			name := fmt.Sprintf("app/faults/persistent_eb_%d", i)
			_, errType, msg, _ := deliver(t, "eventbridge-request.json", func(e map[string]any) {
				e["id"] = name
				e["detail"].(map[string]any)["name"] = name
			}, env)
			if errType != tt.errType || !strings.Contains(msg, tt.reason) {
				t.Fatalf("%s %q", errType, msg)
			}
			notCreated(t, name)
		})
	}
}

func notCreated(t *testing.T, name string) {
	t.Helper()
	if _, err := secretsClient(t, "us-east-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)}); err == nil {
		t.Fatalf("%s was created although every call failed", name)
	}
}

// TestHttpApiSecretsManagerUnreachable: 503 with Retry-After.
func TestHttpApiSecretsManagerUnreachable(t *testing.T) {
	out, _ := runWith(t, invocation{function: "HttpApiFunction", event: "http-api-create.json",
		env: map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:1", "AWS_MAX_ATTEMPTS": "1"}})
	var resp struct {
		StatusCode int
		Headers    map[string]string
		Body       string
	}
	json.Unmarshal(out.Response, &resp)
	if resp.StatusCode != 503 || resp.Headers["Retry-After"] == "" || strings.Contains(resp.Body, "127.0.0.1") {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
}
