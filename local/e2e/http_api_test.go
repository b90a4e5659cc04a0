package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/apigateway"
	"github.com/dbcreds/provisioner/local/invoke"
	"github.com/dbcreds/provisioner/local/samtemplate"
)

// The HTTP API through a real HTTP client, the local gateway (payload 2.0)
// and the built bootstrap, against moto.

// syncBuffer collects a running process's output, which its copier writes
// while a test may read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// api serves the HttpApiFunction with the template's routes.
func api(t *testing.T, overrides map[string]string) (string, *syncBuffer) {
	t.Helper()
	tpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	fn, err := invoke.Start(invoke.Options{Template: filepath.Join(root, "template.yaml"), Function: "HttpApiFunction",
		Bootstrap: filepath.Join(bins, "HttpApiFunction", "bootstrap"), ParameterOverrides: overrides, Env: moto.Env(), Logs: logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fn.Close)
	gw := apigateway.New(fn, tpl.RouteKeys())
	gw.DefaultCaller = "arn:aws:iam::123456789012:user/payments"
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv.URL, logs
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func call(t *testing.T, method, url, body string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &r.body)
	return r
}

func errorCode(r response) string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestHttpApiCreateReadBackAndReplay(t *testing.T) {
	base, logs := api(t, nil)
	body := `{"name": "app/payments/http-e2e", "engine": "mysql", "host": "payments.internal", "tags": {"team": "payments"}, "replicaRegions": ["eu-west-1"]}`
	key := map[string]string{"Idempotency-Key": "e2e-key-1"}

	created := call(t, "POST", base+"/secrets", body, key)
	if created.status != 201 || created.header.Get("Location") != "/secrets/app/payments/http-e2e" || created.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("create: %d %v %s", created.status, created.header, created.raw)
	}
	arn, _ := created.body["arn"].(string)

	read := call(t, "GET", base+"/secrets/app/payments/http-e2e", "", nil)
	replicas, _ := read.body["replicationStatus"].([]any)
	tags, _ := read.body["tags"].(map[string]any)
	if read.status != 200 || read.body["arn"] != arn || len(replicas) != 1 || tags["provisioned-via"] != "http-api" ||
		tags["provisioned-by"] != "arn:aws:iam::123456789012:user/payments" || strings.Contains(read.raw, "password") {
		t.Fatalf("read back: %d %s", read.status, read.raw)
	}
	secret, _ := storedSecret(t, "us-east-1", arn)
	replica, _ := storedSecret(t, "eu-west-1", "app/payments/http-e2e")
	if secret["engine"] != "mysql" || replica["password"] != secret["password"] {
		t.Fatalf("stored %v; the replica differs", secret)
	}

	replay := call(t, "POST", base+"/secrets", body, key)
	if replay.status != 201 || replay.header.Get("Idempotent-Replayed") != "true" || replay.raw != created.raw {
		t.Fatalf("replay: %d %v\n%s\nwant\n%s", replay.status, replay.header, replay.raw, created.raw)
	}
	versions, err := secretsClient(t, "us-east-1").ListSecretVersionIds(context.Background(),
		&secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(arn), IncludeDeprecated: aws.Bool(true)})
	if err != nil || len(versions.Versions) != 1 {
		t.Fatalf("versions after a replay: %+v, %v", versions, err)
	}

	reused := call(t, "POST", base+"/secrets", strings.Replace(body, "http-e2e", "http-e2e-other", 1), key)
	if reused.status != 409 || errorCode(reused) != "conflict" {
		t.Fatalf("key reused for another request: %d %s", reused.status, reused.raw)
	}
	exists := call(t, "POST", base+"/secrets", body, map[string]string{"Idempotency-Key": "e2e-key-2"})
	if exists.status != 409 || errorCode(exists) != "conflict" {
		t.Fatalf("the name exists: %d %s", exists.status, exists.raw)
	}
	noLeak(t, secret["password"].(string), logs.String(), created.raw, read.raw, replay.raw)
}

func TestHttpApiScopes(t *testing.T) {
	base, _ := api(t, map[string]string{"CallerScope": "iam-role"})
	payments := map[string]string{apigateway.CallerHeader: "arn:aws:sts::123456789012:assumed-role/payments/alice"}
	orders := map[string]string{apigateway.CallerHeader: "arn:aws:sts::123456789012:assumed-role/orders/bob"}

	mine := call(t, "POST", base+"/secrets", `{"name": "app/payments/scoped", "secretString": "v"}`, payments)
	if mine.status != 201 {
		t.Fatalf("in scope: %d %s", mine.status, mine.raw)
	}
	for _, tt := range []struct {
		name, method, path, body string
		caller                   map[string]string
	}{
		{"another team's prefix", "POST", "/secrets", `{"name": "app/orders/x", "secretString": "v"}`, payments},
		{"outside the prefix", "POST", "/secrets", `{"name": "other/payments/x", "secretString": "v"}`, payments},
		{"a case trick", "POST", "/secrets", `{"name": "app/Payments/x", "secretString": "v"}`, payments},
		{"reading another team's secret", "GET", "/secrets/app/payments/scoped", "", orders},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, tt.method, base+tt.path, tt.body, tt.caller)
			if r.status != 403 || errorCode(r) != "forbidden" {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		})
	}
	escape := call(t, "POST", base+"/secrets", `{"name": "app/payments/../orders/x", "secretString": "v"}`, payments)
	if escape.status != 400 || !strings.Contains(escape.raw, "path segments") {
		t.Fatalf("escape attempt: %d %s", escape.status, escape.raw)
	}
}

// TestHttpApiJWTCaller: a JWT caller confined by a claim.
func TestHttpApiJWTCaller(t *testing.T) {
	base, _ := api(t, map[string]string{"CallerScope": "jwt-claim", "CallerScopeClaim": "team"})
	claims, _ := json.Marshal(map[string]any{"sub": "carol", "team": "analytics"})
	token := "Bearer e30." + base64.RawURLEncoding.EncodeToString(claims) + ".c2ln"
	ok := call(t, "POST", base+"/secrets", `{"name": "app/analytics/jwt", "secretString": "v"}`, map[string]string{"Authorization": token})
	no := call(t, "POST", base+"/secrets", `{"name": "app/payments/jwt", "secretString": "v"}`, map[string]string{"Authorization": token})
	if ok.status != 201 || no.status != 403 {
		t.Fatalf("in scope %d %s; out of scope %d %s", ok.status, ok.raw, no.status, no.raw)
	}
	if tags := tagsOf(describeSecret(t, "app/analytics/jwt")); tags["provisioned-by"] != "jwt:carol" {
		t.Fatalf("tags %v", tags)
	}
}

func TestHttpApiErrors(t *testing.T) {
	base, _ := api(t, nil)
	for _, tt := range []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		code                     string
	}{
		{"malformed JSON", "POST", "/secrets", `{"name":`, nil, 400, "invalid"},
		{"wrong type", "POST", "/secrets", `{"name": "app/x", "engine": "mysql", "host": "h", "port": "many"}`, nil, 400, "invalid"},
		{"no identity", "POST", "/secrets", `{"name": "app/x", "secretString": "v"}`, map[string]string{apigateway.CallerHeader: "none"}, 401, "unauthenticated"},
		{"unknown secret", "GET", "/secrets/app/nothing-here", "", nil, 404, "not_found"},
		{"wrong method", "PUT", "/secrets", `{}`, nil, 405, "method_not_allowed"},
		{"too large", "POST", "/secrets", `{"name": "app/x", "secretString": "` + strings.Repeat("a", 300<<10) + `"}`, nil, 413, "payload_too_large"},
		{"not JSON", "POST", "/secrets", `name=x`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, tt.method, base+tt.path, tt.body, tt.header)
			if r.status != tt.status || errorCode(r) != tt.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.raw, tt.status, tt.code)
			}
		})
	}
	if r := call(t, "GET", base+"/unknown", "", nil); r.status != 404 {
		t.Fatalf("unknown route: %d %s", r.status, r.raw)
	}
}

// TestMakeApi runs the README's make api as a user would, with no Secrets
// Manager configured, and calls it with a real HTTP client.
func TestMakeApi(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command("make", "-C", root, "--no-print-directory", "api", "API_ADDR="+addr)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var output syncBuffer
	cmd.Stdout, cmd.Stderr = &output, &output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Errorf("make api did not stop on SIGTERM:\n%s", output.String())
		}
	}()
	base := "http://" + addr
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get(base + "/secrets/app/none"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("make api never answered:\n%s", output.String())
		}
	}
	r := call(t, "POST", base+"/secrets", `{"name": "app/make-api", "engine": "postgres", "host": "h"}`, nil)
	if r.status != 201 || !strings.HasPrefix(r.body["arn"].(string), "arn:aws:secretsmanager:us-east-1:") {
		t.Fatalf("%d %s\n%s", r.status, r.raw, output.String())
	}
	if g := call(t, "GET", base+"/secrets/app/make-api", "", nil); g.status != 200 {
		t.Fatalf("read back: %d %s", g.status, g.raw)
	}
}
