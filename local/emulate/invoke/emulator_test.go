package invoke

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestEmulatorAnswers reads each form of answer the emulator gives
// (internal/lambda/rie/handlers.go at aws-lambda-runtime-interface-emulator
// 4fa2157): a function error is 200 with {errorMessage, errorType}, a
// time-out 200 with plain text, a failed init 502.
func TestEmulatorAnswers(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		status     int
		errType    string // of the function error, if any
		fails      bool   // the invocation itself failed
	}{
		{"a response", `{"statusCode":201,"body":"{}"}`, 200, "", false},
		{"a null response", `null`, 200, "", false},
		{"a function error", `{"errorMessage":"Secrets Manager failed","errorType":"Retryable.upstream"}`, 200, "Retryable.upstream", false},
		{"a response that mentions errorType among other keys", `{"errorType":"x","errorMessage":"y","statusCode":200}`, 200, "", false},
		{"a time-out", `Task timed out after 3.00 seconds`, 200, "Sandbox.Timedout", false},
		{"a failed init", ``, 502, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/2015-03-31/functions/function/invocations" || r.Method != http.MethodPost {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer server.Close()
			out, err := newEmulator(strings.TrimPrefix(server.URL, "http://")).Invoke(context.Background(), []byte(`{}`), time.Second)
			if (err != nil) != tt.fails {
				t.Fatalf("error %v", err)
			}
			gotType := ""
			if out.Error != nil {
				gotType = out.Error.Type
			}
			if gotType != tt.errType || !tt.fails && tt.errType == "" && string(out.Response) != tt.body {
				t.Fatalf("outcome %+v %+v", out, out.Error)
			}
		})
	}
}

// TestEnvironmentIsSAMs: a local run gives the function what sam local
// invoke gives it (samcli/local/lambdafn/env_vars.py, SAM CLI 1.164), and
// the emulator's function ARN.
func TestEnvironmentIsSAMs(t *testing.T) {
	fn, err := Start(Options{Template: "../../../template.yaml", Function: "CustomResourceFunction", Bootstrap: "emulator_test.go"})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range environment(fn.fn, "127.0.0.1:9001", "/var/task", fn.opts) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, want := range map[string]string{
		"AWS_SAM_LOCAL": "true", "AWS_LAMBDA_FUNCTION_TIMEOUT": "30", "AWS_LAMBDA_FUNCTION_HANDLER": "bootstrap",
		"AWS_ACCOUNT_ID": "123456789012", "AWS_LAMBDA_LOG_LEVEL": "INFO", "AWS_LAMBDA_LOG_GROUP_NAME": "aws/lambda/CustomResourceFunction",
		"AWS_LAMBDA_LOG_STREAM_NAME": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": "",
	} {
		if got, ok := env[k]; !ok || got != want {
			t.Errorf("%s = %q (set %v), want %q", k, got, ok, want)
		}
	}
	if fn.functionARN != "arn:aws:lambda:us-east-1:012345678912:function:CustomResourceFunction" {
		t.Errorf("function ARN %s", fn.functionARN)
	}
}
