package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/testenv/faultproxy"
)

// One request delivered many times at once, each delivery in its own
// process as Lambda would run them: one secret, one version, one answer.

const deliveries = 6

func concurrently(n int, do func(i int) string) []string {
	answers := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			answers[i] = do(i)
		}(i)
	}
	wg.Wait()
	return answers
}

func sameAnswers(t *testing.T, answers []string) {
	t.Helper()
	for _, a := range answers[1:] {
		if a != answers[0] {
			t.Fatalf("answers differ:\n%s\n%s", answers[0], a)
		}
	}
}

func TestConcurrentDeliveries(t *testing.T) {
	t.Run("cloudformation request", func(t *testing.T) {
		t.Parallel()
		answers := concurrently(deliveries, func(int) string {
			a, _ := cfnCreate(t, "app/concurrent/cfn", "12121212-0000-4000-8000-000000000001", nil)
			b, _ := json.Marshal(a)
			return string(b)
		})
		sameAnswers(t, answers)
		var a cfnAnswer
		json.Unmarshal([]byte(answers[0]), &a)
		if a.Status != "SUCCESS" {
			t.Fatalf("answer %+v", a)
		}
		checkWhole(t, a.PhysicalResourceId)
	})
	t.Run("eventbridge event", func(t *testing.T) {
		t.Parallel()
		answers := concurrently(deliveries, func(int) string {
			result, errType, msg, _ := deliver(t, "eventbridge-request.json", func(e map[string]any) {
				e["id"] = "concurrent-event-1"
				e["detail"].(map[string]any)["name"] = "app/concurrent/eb"
			}, nil)
			if errType != "" {
				return errType + " " + msg
			}
			b, _ := json.Marshal(result)
			return string(b)
		})
		sameAnswers(t, answers)
		var r map[string]any
		if json.Unmarshal([]byte(answers[0]), &r) != nil || versionsOf(t, r["arn"].(string)) != 1 {
			t.Fatalf("answer %s", answers[0])
		}
	})
	t.Run("idempotency key", func(t *testing.T) {
		t.Parallel()
		answers := concurrently(deliveries, func(int) string {
			out, _ := runWith(t, invocation{function: "HttpApiFunction", event: "http-api-create.json",
				edit: func(e map[string]any) {
					e["body"] = `{"name": "app/concurrent/http", "engine": "mysql", "host": "h"}`
					e["headers"].(map[string]any)["idempotency-key"] = "concurrent-key-1"
				}})
			var resp struct {
				StatusCode int
				Body       string
			}
			json.Unmarshal(out.Response, &resp)
			return fmt.Sprint(resp.StatusCode, " ", resp.Body)
		})
		sameAnswers(t, answers)
		status, raw, _ := strings.Cut(answers[0], " ")
		var body struct{ Arn string }
		if status != "201" || json.Unmarshal([]byte(raw), &body) != nil || versionsOf(t, body.Arn) != 1 {
			t.Fatalf("answer %s", answers[0])
		}
	})
}

// TestIdempotencyKeyRace: six HTTP API requests with one caller and key,
// each in its own process, every look-up (DynamoDB GetItem, Secrets Manager
// DescribeSecret) lagging through the fault proxy. With six bodies and six
// names, one creates and five are conflicts; with one body, one creates and
// five replay its answer. Either way one secret.
func TestIdempotencyKeyRace(t *testing.T) {
	lagging := func(op string, _ int) faultproxy.Fault {
		if op == "GetItem" || op == "DescribeSecret" || op == "ListSecrets" {
			return faultproxy.Slow
		}
		return faultproxy.Pass
	}
	request := func(t *testing.T, env map[string]string, key, body string) (int, http.Header, string) {
		out, _ := runWith(t, invocation{function: "HttpApiFunction", event: "http-api-create.json", env: env,
			edit: func(e map[string]any) {
				e["body"] = body
				e["headers"].(map[string]any)["idempotency-key"] = key
			}})
		var resp struct {
			StatusCode int
			Headers    map[string]string
			Body       string
		}
		if err := json.Unmarshal(out.Response, &resp); err != nil {
			t.Errorf("response %s: %v", out.Response, err)
		}
		header := http.Header{}
		for k, v := range resp.Headers {
			header.Set(k, v)
		}
		return resp.StatusCode, header, resp.Body
	}
	t.Run("different bodies and names", func(t *testing.T) {
		t.Parallel()
		_, env := proxy(t, lagging)
		env["AWS_ENDPOINT_URL_DYNAMODB"] = env["AWS_ENDPOINT_URL_SECRETS_MANAGER"]
		name := func(i int) string { return fmt.Sprintf("app/race/different_%d", i) }
		answers := concurrently(deliveries, func(i int) string {
			status, header, body := request(t, env, "race-key-different", fmt.Sprintf(`{"name": %q, "engine": "mysql", "host": "h%d"}`, name(i), i))
			return fmt.Sprint(status, " ", header.Get("Idempotent-Replayed"), " ", body)
		})
		created, conflicts, made := 0, 0, 0
		for i, a := range answers {
			switch {
			case strings.HasPrefix(a, "201  "):
				created++
			case strings.HasPrefix(a, "409  ") && strings.Contains(a, "Idempotency-Key was already used"):
				conflicts++
			default:
				t.Errorf("answer %d: %s", i, a)
			}
			if _, err := secretsClient(t, "us-east-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name(i))}); err == nil {
				made++
			}
		}
		if created != 1 || conflicts != deliveries-1 || made != 1 {
			t.Fatalf("%d created, %d conflicts, %d secrets made:\n%s", created, conflicts, made, strings.Join(answers, "\n"))
		}
	})
	t.Run("one body", func(t *testing.T) {
		t.Parallel()
		_, env := proxy(t, lagging)
		env["AWS_ENDPOINT_URL_DYNAMODB"] = env["AWS_ENDPOINT_URL_SECRETS_MANAGER"]
		answers := concurrently(deliveries, func(i int) string {
			status, header, body := request(t, env, "race-key-same", `{"name": "app/race/same", "engine": "mysql", "host": "h"}`)
			return fmt.Sprint(status, " ", header.Get("Idempotent-Replayed"), " ", body)
		})
		first, replayed := 0, 0
		var bodies []string
		for i, a := range answers {
			status, rest, _ := strings.Cut(a, " ")
			flag, body, _ := strings.Cut(rest, " ")
			switch {
			case status == "201" && flag == "":
				first++
			case status == "201" && flag == "true":
				replayed++
			default:
				t.Errorf("answer %d: %s", i, a)
			}
			bodies = append(bodies, body)
		}
		sameAnswers(t, bodies)
		var result struct{ Arn string }
		if first != 1 || replayed != deliveries-1 || json.Unmarshal([]byte(bodies[0]), &result) != nil || versionsOf(t, result.Arn) != 1 {
			t.Fatalf("%d created, %d replayed:\n%s", first, replayed, strings.Join(answers, "\n"))
		}
	})
}

// TestIdempotencyKeySameCallerSameRequest: through the real bootstrap, a
// retry under the role's refreshed credentials (a new session) and with the
// body spelled otherwise ("Name" for "name") is the same request: it replays.
func TestIdempotencyKeySameCallerSameRequest(t *testing.T) {
	send := func(session, body string) (int, string, string) {
		out, _ := runWith(t, invocation{function: "HttpApiFunction", event: "http-api-create.json",
			edit: func(e map[string]any) {
				e["body"] = body
				e["headers"].(map[string]any)["idempotency-key"] = "refresh-key-1"
				e["requestContext"].(map[string]any)["authorizer"].(map[string]any)["iam"].(map[string]any)["userArn"] =
					"arn:aws:sts::123456789012:assumed-role/payments-team/" + session
			}})
		var resp struct {
			StatusCode int
			Headers    map[string]string
			Body       string
		}
		json.Unmarshal(out.Response, &resp)
		return resp.StatusCode, resp.Headers["Idempotent-Replayed"], resp.Body
	}
	status, replayed, first := send("session-1", `{"name": "app/payments/refresh", "engine": "mysql", "host": "h"}`)
	if status != 201 || replayed != "" {
		t.Fatalf("first: %d %q %s", status, replayed, first)
	}
	status, replayed, again := send("session-2", `{"Name": "app/payments/refresh", "Engine": "mysql", "Host": "h"}`)
	if status != 201 || replayed != "true" || again != first {
		t.Fatalf("the retry under a new session: %d %q %s; want a replay of %s", status, replayed, again, first)
	}
}
