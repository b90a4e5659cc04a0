package awsclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// ClientFromEnvironment is the Secrets Manager client built from Settings.
var ClientFromEnvironment = secretstore.ClientFromEnvironment

// TestClientFromEnvironment checks the settings reach real requests: the
// endpoint the request goes to, its signing Region and key, and how many
// attempts a failing call makes.
func TestClientFromEnvironment(t *testing.T) {
	var hits atomic.Int32
	var auth atomic.Value
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		auth.Store(r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusInternalServerError) // retryable
	}))
	defer server.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("the global endpoint was used") }))
	defer other.Close()

	base := map[string]string{"AWS_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "AKIDLOCAL", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"}
	env := func(extra map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		}
	}
	client, err := ClientFromEnvironment(env(map[string]string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": server.URL, "AWS_ENDPOINT_URL": other.URL, "AWS_MAX_ATTEMPTS": "2",
	}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("x")})
	if err == nil || hits.Load() != 2 {
		t.Fatalf("error %v after %d attempts; want a failure after 2", err, hits.Load())
	}
	if a, _ := auth.Load().(string); !strings.Contains(a, "AKIDLOCAL/") || !strings.Contains(a, "/eu-west-2/secretsmanager/") {
		t.Fatalf("signed as %q", a)
	}

	hits.Store(0)
	client, _ = ClientFromEnvironment(env(map[string]string{"AWS_ENDPOINT_URL": server.URL, "AWS_MAX_ATTEMPTS": "1"}))
	client.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("x")})
	if hits.Load() != 1 {
		t.Fatalf("the global endpoint got %d requests, want 1", hits.Load())
	}

	for name, extra := range map[string]map[string]string{
		"no Region":          {"AWS_REGION": ""},
		"no credentials":     {"AWS_ACCESS_KEY_ID": ""},
		"bad max attempts":   {"AWS_MAX_ATTEMPTS": "zero"},
		"unknown retry mode": {"AWS_RETRY_MODE": "legacy-ish"},
	} {
		if _, err := ClientFromEnvironment(env(extra)); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	if c, err := ClientFromEnvironment(env(map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "ap-south-1"})); err != nil || c.Options().Region != "ap-south-1" {
		t.Fatalf("AWS_DEFAULT_REGION: %v", err)
	}
	if c, _ := ClientFromEnvironment(env(map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": server.URL, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"})); c.Options().BaseEndpoint != nil {
		t.Fatal("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS was not honoured")
	}
}

// TestOneHTTPClient: every client of the process shares one HTTP client,
// and an SDK client keeps it as it is rather than deriving its own.
func TestOneHTTPClient(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}[k]
	}
	a, err := awsclient.FromEnvironment(env)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := awsclient.FromEnvironment(env)
	if a.HTTPClient() == nil || a.HTTPClient() != b.HTTPClient() {
		t.Fatalf("two settings, HTTP clients %p and %p; want one", a.HTTPClient(), b.HTTPClient())
	}
	c := secretsmanager.New(secretsmanager.Options{Region: a.Region, Credentials: a.Credentials, HTTPClient: a.HTTPClient()})
	if got := c.Options().HTTPClient; got != secretsmanager.HTTPClient(a.HTTPClient()) {
		t.Errorf("the SDK client uses %T %p, want the shared one", got, got)
	}
}
