package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/dbcreds/provisioner/local/burst"
	"github.com/dbcreds/provisioner/local/emulate/samtemplate"
)

// TestBurstStaysUnderTheQuota: a burst of EventBridge requests at the
// template's settings (its EventConcurrency and CreateSecretQuota, which
// pace each instance, and the SDK's adaptive retry) against a Secrets
// Manager that answers after 150 ms and throttles CreateSecret above 50 a
// second: no first delivery fails, and each request makes one secret. How
// fast is make bench's to measure, not a test's.
func TestBurstStaysUnderTheQuota(t *testing.T) {
	tpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	concurrency, err := strconv.Atoi(tpl.ParameterDefault("EventConcurrency"))
	if err != nil {
		t.Fatal(err)
	}
	event, err := os.ReadFile(filepath.Join(root, "events", "eventbridge-request.json"))
	if err != nil {
		t.Fatal(err)
	}
	latency := 150 * time.Millisecond
	env := baseEnv("EventBridgeFunction", nil)
	res, err := burst.Run(context.Background(), burst.Options{
		Template: filepath.Join(root, "template.yaml"), Bootstrap: filepath.Join(bins, "EventBridgeFunction", "bootstrap"),
		Env: env, ReadEndpoint: moto.Endpoint, Events: 150, Concurrency: concurrency, Quota: 50, Latency: latency,
		Name: "app/burst/t" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10), Event: event,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("150 requests, %d instances: %v, %d CreateSecret calls throttled, %d failed first deliveries", concurrency, res.Elapsed.Round(time.Millisecond), res.Throttled, len(res.FirstDeliveryFailures))
	if len(res.FirstDeliveryFailures) != 0 || res.Secrets != 150 {
		t.Fatalf("%d first deliveries failed (%v), %d of 150 secrets made once", len(res.FirstDeliveryFailures), res.FirstDeliveryFailures, res.Secrets)
	}
}
