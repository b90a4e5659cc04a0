package awsclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithy "github.com/aws/smithy-go"

	"github.com/dbcreds/provisioner/shared/errcode"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code errcode.Code
	}{
		{"throttling", &smithy.GenericAPIError{Code: "ThrottlingException"}, errcode.Throttled},
		{"unknown 5xx", &smithy.GenericAPIError{Code: "ServiceUnavailable"}, errcode.Upstream},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException"}, errcode.Forbidden},
		{"timeout", fmt.Errorf("op: %w", context.DeadlineExceeded), errcode.Unavailable},
		{"unreachable", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, errcode.Unavailable},
	}
	for _, tt := range tests {
		if err := Classify(tt.err, "Secrets Manager"); errcode.Of(err) != tt.code || !errors.Is(err, tt.err) {
			t.Errorf("%s: Classify = %v, want %s with the cause kept", tt.name, err, tt.code)
		}
	}
}

// TestClassifyAnswers: a service (or the proxy before it) that answered
// with a 5xx is upstream, whatever the body; only no answer is unavailable.
func TestClassifyAnswers(t *testing.T) {
	for _, tc := range []struct {
		status      int
		contentType string
		body        string
		code        errcode.Code
	}{
		{502, "text/html", "<html>Bad Gateway</html>", errcode.Upstream},
		{503, "", "", errcode.Upstream},
		{500, "application/x-amz-json-1.1", `{"__type":"InternalServiceError","message":"x"}`, errcode.Upstream},
		{400, "application/x-amz-json-1.1", `{"__type":"ThrottlingException","message":"Rate exceeded"}`, errcode.Throttled},
	} {
		server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.contentType != "" {
				w.Header().Set("Content-Type", tc.contentType)
			}
			w.WriteHeader(tc.status)
			w.Write([]byte(tc.body))
		}))
		err := call(t, server.URL)
		server.Close()
		if got := errcode.Of(Classify(err, "Secrets Manager")); got != tc.code {
			t.Errorf("HTTP %d %q: %s, want %s (%v)", tc.status, tc.body, got, tc.code, err)
		}
	}
	server := httptest.NewServer(http.NotFoundHandler())
	server.Close() // nothing listens there now
	if got := errcode.Of(Classify(call(t, server.URL), "Secrets Manager")); got != errcode.Unavailable {
		t.Errorf("no answer: %s, want unavailable", got)
	}
}

func call(t *testing.T, endpoint string) error {
	t.Helper()
	s, err := FromEnvironment(func(k string) string {
		return map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_ENDPOINT_URL": endpoint, "AWS_MAX_ATTEMPTS": "1"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	client := secretsmanager.New(secretsmanager.Options{Region: s.Region, Credentials: s.Credentials, BaseEndpoint: s.Endpoint("SECRETS_MANAGER"), Retryer: s.Retryer()})
	_, err = client.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("x")})
	return err
}
