package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
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
