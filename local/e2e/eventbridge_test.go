package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/testenv/motoserver"
)

// EventBridge requests through the real bootstrap: deliveries are at least
// once, so one event must make one secret however often it arrives.

func deliver(t *testing.T, event string, edit func(map[string]any), env map[string]string) (result map[string]any, errType, errMessage, logs string) {
	t.Helper()
	out, logs := runWith(t, invocation{function: "EventBridgeFunction", event: event, edit: edit, env: env})
	if out.InitError != nil {
		t.Fatalf("init failed: %+v", out.InitError)
	}
	if out.Error != nil {
		return nil, out.Error.Type, out.Error.Message, logs
	}
	json.Unmarshal(out.Response, &result)
	return result, "", "", logs
}

func TestEventBridgeDeliveredThreeTimes(t *testing.T) {
	var first map[string]any
	for i := 0; i < 3; i++ {
		result, errType, msg, _ := deliver(t, "eventbridge-request.json", nil, nil)
		if errType != "" {
			t.Fatalf("delivery %d failed: %s %s", i+1, errType, msg)
		}
		if i == 0 {
			first = result
			continue
		}
		a, _ := json.Marshal(first)
		b, _ := json.Marshal(result)
		if string(a) != string(b) {
			t.Fatalf("delivery %d answered\n%s\nnot\n%s", i+1, b, a)
		}
	}
	arn := first["arn"].(string)
	versions, err := secretsClient(t, "us-east-1").ListSecretVersionIds(context.Background(),
		&secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(arn), IncludeDeprecated: aws.Bool(true)})
	if err != nil || len(versions.Versions) != 1 {
		t.Fatalf("versions after three deliveries: %+v, %v", versions, err)
	}
	secret, _ := storedSecret(t, "us-east-1", arn)
	password, _ := secret["password"].(string)
	if secret["engine"] != "redshift" || secret["port"] != float64(5439) || secret["username"] != "loader" ||
		!regexp.MustCompile(`[A-Z]`).MatchString(password) || !regexp.MustCompile(`[a-z]`).MatchString(password) ||
		!regexp.MustCompile(`[0-9]`).MatchString(password) || strings.ContainsAny(password, `:/@"'\`) {
		t.Fatalf("stored %v with a password that breaks redshift's rules", secret)
	}
	if tags := tagsOf(describeSecret(t, arn)); tags["provisioned-via"] != "eventbridge" || tags["provisioned-by"] != "dbcreds.requests@123456789012" {
		t.Fatalf("tags %v", tags)
	}
	_, _, _, logs := deliver(t, "eventbridge-request.json", nil, nil)
	noLeak(t, password, logs)
}

// TestEventBridgePermanentErrors: malformed detail and a secret the event
// did not create fail on every attempt, saying so, for the failure
// destination.
func TestEventBridgePermanentErrors(t *testing.T) {
	for attempt := 0; attempt < 2; attempt++ {
		_, errType, msg, _ := deliver(t, "eventbridge-request-invalid.json", nil, nil)
		if errType != "Permanent.invalid" || !strings.Contains(msg, "port: must be a whole number") {
			t.Fatalf("attempt %d: %s %q", attempt, errType, msg)
		}
	}
	if _, err := secretsClient(t, "us-east-1").DescribeSecret(context.Background(),
		&secretsmanager.DescribeSecretInput{SecretId: aws.String("app/analytics/redshift-invalid")}); err == nil {
		t.Fatal("an invalid request created something")
	}

	// The same secret asked for by another event: not this event's secret.
	name := "app/analytics/eb-conflict"
	rename := func(id string) func(map[string]any) {
		return func(e map[string]any) {
			e["id"] = id
			e["detail"].(map[string]any)["name"] = name
		}
	}
	if _, errType, msg, _ := deliver(t, "eventbridge-request.json", rename("11111111-eb00-4000-8000-000000000001"), nil); errType != "" {
		t.Fatalf("first event: %s %s", errType, msg)
	}
	_, errType, msg, _ := deliver(t, "eventbridge-request.json", rename("11111111-eb00-4000-8000-000000000002"), nil)
	if errType != "Permanent.conflict" || !strings.Contains(msg, "already exists and was not created by this request") {
		t.Fatalf("second event: %s %q", errType, msg)
	}
}

// TestEventBridgeSecretsManagerUnreachable: an error comes back, marked
// retryable, so Lambda tries again.
func TestEventBridgeSecretsManagerUnreachable(t *testing.T) {
	endpoint, err := motoserver.UnusedEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	_, errType, msg, _ := deliver(t, "eventbridge-request.json",
		func(e map[string]any) { e["id"] = "11111111-eb00-4000-8000-000000000003" },
		map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint, "AWS_MAX_ATTEMPTS": "1"})
	if errType != "Retryable.unavailable" || !strings.Contains(msg, "could not be reached") || strings.Contains(msg, "127.0.0.1") {
		t.Fatalf("%s %q", errType, msg)
	}
}

// TestEventBridgeOutsidePrefix: an event cannot create outside the prefix.
func TestEventBridgeOutsidePrefix(t *testing.T) {
	_, errType, msg, _ := deliver(t, "eventbridge-request.json", func(e map[string]any) {
		e["id"] = "outside-prefix-1"
		e["detail"].(map[string]any)["name"] = "other/analytics/redshift"
	}, nil)
	if errType != "Permanent.forbidden" || !strings.Contains(msg, `must start with the configured prefix "app/"`) {
		t.Fatalf("%s %q", errType, msg)
	}
	notCreated(t, "other/analytics/redshift")
}

// TestEventBridgeTrustsOnlyItsSources: an event from another source or
// account that reaches the function is Permanent.forbidden and creates
// nothing; a configured extra account is trusted.
func TestEventBridgeTrustsOnlyItsSources(t *testing.T) {
	for _, tt := range []struct {
		name, source, account string
		overrides             map[string]string
		errType               string
	}{
		{"evil source, other account", "aws.evil", "999999999999", nil, "Permanent.forbidden"},
		{"evil source, own account", "aws.evil", "123456789012", nil, "Permanent.forbidden"},
		{"own source, other account", "dbcreds.requests", "999999999999", nil, "Permanent.forbidden"},
		{"a configured account", "dbcreds.requests", "999999999999", map[string]string{"EventAccounts": "999999999999,111111111111"}, ""},
		{"a second configured source", "platform.db", "123456789012", map[string]string{"EventSource": "dbcreds.requests,platform.db"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name := "app/trust/" + strings.NewReplacer(" ", "_", ",", "").Replace(tt.name)
			out, logs := run(t, "EventBridgeFunction", "eventbridge-request.json", tt.overrides, func(e map[string]any) {
				e["id"] = name
				e["source"], e["account"] = tt.source, tt.account
				e["detail"].(map[string]any)["name"] = name
			})
			errType := ""
			if out.Error != nil {
				errType = out.Error.Type
			}
			if out.InitError != nil || errType != tt.errType {
				t.Fatalf("error type %q (init %+v), want %q\n%s", errType, out.InitError, tt.errType, logs)
			}
			_, err := secretsClient(t, "us-east-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
			if made := err == nil; made != (tt.errType == "") {
				t.Fatalf("secret made: %v", made)
			}
		})
	}
}
