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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/emulate/apigateway"
	"github.com/dbcreds/provisioner/local/emulate/invoke"
	"github.com/dbcreds/provisioner/local/emulate/samtemplate"
	"github.com/dbcreds/provisioner/local/testenv/openapi"
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
	overrides = deployed(overrides)
	fn, err := invoke.Start(invoke.Options{Template: filepath.Join(root, "template.yaml"), Function: "HttpApiFunction",
		Bootstrap: filepath.Join(bins, "HttpApiFunction", "bootstrap"), ParameterOverrides: overrides, Env: baseEnv("HttpApiFunction", overrides), Logs: logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fn.Close)
	gw := apigateway.New(fn, tpl.RouteKeys())
	gw.DefaultCaller = "arn:aws:iam::123456789012:user/payments"
	if gw.Document, err = os.ReadFile(filepath.Join(root, openapi.Document)); err != nil {
		t.Fatal(err)
	}
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
	// The function's own headers; the rest are the HTTP transport's.
	headers := map[string]string{}
	for k := range resp.Header {
		switch k {
		case "Date", "Content-Length", "Connection", "Transfer-Encoding", "Apigw-Requestid":
		default:
			headers[k] = resp.Header.Get(k)
		}
	}
	if req.URL.Path != "/openapi.json" {
		recordAPIAnswer(openapi.Exchange{Method: method, Path: req.URL.EscapedPath(), Status: resp.StatusCode, Headers: headers, Body: string(raw)})
	}
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
// Manager configured, calls it with a real HTTP client, and stops it with a
// signal to its process group (SIGINT, SIGTERM, SIGHUP): each time
// everything it started stops.
func TestMakeApi(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			bin := t.TempDir()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			cmd, output, done := startMake(t, withoutAWS(), "api", "API_ADDR="+addr, "BIN="+bin)
			stopped := false
			defer func() {
				if !stopped {
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					<-done
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
			name := "app/make-api/" + strings.ToLower(sig.String()[3:])
			r := call(t, "POST", base+"/secrets", `{"name": "`+name+`", "engine": "postgres", "host": "h"}`, nil)
			if r.status != 201 || !strings.HasPrefix(r.body["arn"].(string), "arn:aws:secretsmanager:us-east-1:") {
				t.Fatalf("%d %s\n%s", r.status, r.raw, output.String())
			}
			if g := call(t, "GET", base+"/secrets/"+name, "", nil); g.status != 200 {
				t.Fatalf("read back: %d %s", g.status, g.raw)
			}
			motoAddr := startedMoto(t, output.String())
			bootstrap := filepath.Join(bin, "HttpApiFunction", "bootstrap")
			if !running(bootstrap) {
				t.Fatal("the function is not running before the signal")
			}

			syscall.Kill(-cmd.Process.Pid, sig)
			select {
			case err = <-done:
				stopped = true
			case <-time.After(15 * time.Second):
				t.Fatalf("make api did not stop on %s:\n%s", sig, output.String())
			}
			// make itself dies of a signal sent to its whole group; Ctrl-C in a
			// terminal reaches make api alone (TestMakeApiCtrlC).
			if listening(motoAddr) {
				t.Errorf("moto_server at %s still runs after %s", motoAddr, sig)
			}
			if running(bootstrap) {
				t.Errorf("the function still runs after %s", sig)
			}
		})
	}
}

// withoutAWS is this environment less every AWS_ variable: what a user's
// shell without AWS settings has.
func withoutAWS() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return env
}

// startedMoto is the address of the moto_server a local run says it started.
func startedMoto(t *testing.T, output string) string {
	t.Helper()
	_, after, ok := strings.Cut(output, "== started moto_server at http://")
	if !ok {
		t.Fatalf("no moto_server started:\n%s", output)
	}
	addr, _, _ := strings.Cut(after, " ")
	return addr
}

// listening reports whether something accepts connections at addr.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// running reports whether a process runs the program at path.
func running(path string) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == path {
			return true
		}
	}
	return false
}

// TestMakeApiCtrlC runs make api in a terminal (a pseudo-terminal this test
// opens, as a terminal emulator does, with a shell leading its session) and
// types Ctrl-C: make api exits 0, and the function and moto stop. On a
// second run it closes the terminal instead: everything stops too.
func TestMakeApiCtrlC(t *testing.T) {
	for _, how := range []string{"ctrl-c", "close the terminal"} {
		t.Run(how, func(t *testing.T) {
			bin := t.TempDir()
			term := openTerminal(t)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			// Closing the terminal hangs up the shell, whose exit hangs up
			// the foreground job, as in a terminal window.
			cmd := exec.Command("bash", "-c", `make -C "$0" --no-print-directory api API_ADDR="$1" BIN="$2"; exit $?`, root, addr, bin)
			cmd.Env = withoutAWS()
			cmd.Stdin, cmd.Stdout, cmd.Stderr = term.slave, term.slave, term.slave
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			term.slave.Close()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			stopped := false
			defer func() {
				term.close()
				if !stopped {
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					<-done
				}
			}()
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				if resp, err := http.Get("http://" + addr + "/secrets/app/none"); err == nil {
					resp.Body.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("make api never answered:\n%s", term.output.String())
				}
			}
			motoAddr := startedMoto(t, term.output.String())
			bootstrap := filepath.Join(bin, "HttpApiFunction", "bootstrap")
			if !running(bootstrap) {
				t.Fatal("the function is not running before Ctrl-C")
			}
			if how == "ctrl-c" {
				syscall.Write(term.master, []byte{0x03}) // what the terminal sends for Ctrl-C
			} else {
				term.close()
			}
			select {
			case err = <-done:
				stopped = true
			case <-time.After(15 * time.Second):
				t.Fatalf("make api did not stop:\n%s", term.output.String())
			}
			if how == "ctrl-c" && err != nil {
				t.Errorf("Ctrl-C: make api exited with %v, want 0:\n%s", err, term.output.String())
			}
			// The shell goes at once on a hang-up; what it ran stops soon after.
			for deadline := time.Now().Add(10 * time.Second); listening(motoAddr) || running(bootstrap); time.Sleep(100 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("still running: moto_server %v, the function %v", listening(motoAddr), running(bootstrap))
				}
			}
		})
	}
}

// terminal is a pseudo-terminal: the master side is the test's (the
// terminal emulator's), the slave side the program's terminal.
type terminal struct {
	master int
	slave  *os.File
	output syncBuffer
	stop   chan struct{}
	read   chan struct{}
	once   sync.Once
}

func openTerminal(t *testing.T) *terminal {
	t.Helper()
	// Non-blocking: a read blocked in the kernel would keep the master open
	// after close, and the terminal would never hang up.
	master, err := syscall.Open("/dev/ptmx", syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(master), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Fatal(errno)
	}
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(master), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatal(errno)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{master: master, slave: slave, stop: make(chan struct{}), read: make(chan struct{})}
	go func() {
		defer close(term.read)
		buf := make([]byte, 4096)
		for {
			select {
			case <-term.stop:
				return
			default:
			}
			if n, err := syscall.Read(master, buf); n > 0 {
				term.output.Write(buf[:n])
			} else if err == syscall.EAGAIN || err == syscall.EINTR {
				time.Sleep(20 * time.Millisecond)
			} else if err != nil && err != syscall.EIO {
				return
			}
		}
	}()
	return term
}

// close closes the terminal, as closing its window does.
func (term *terminal) close() {
	term.once.Do(func() {
		close(term.stop)
		<-term.read
		syscall.Close(term.master)
	})
}

// TestHttpApiServesItsDocument: make api serves the OpenAPI document at
// GET /openapi.json, pointed at itself, for a viewer to read.
func TestHttpApiServesItsDocument(t *testing.T) {
	base, _ := api(t, nil)
	r := call(t, "GET", base+"/openapi.json", "", nil)
	servers, _ := r.body["servers"].([]any)
	first, _ := servers[0].(map[string]any)
	paths, _ := r.body["paths"].(map[string]any)
	if r.status != 200 || r.body["openapi"] != "3.1.0" || first["url"] != base || paths["/secrets/{name}"] == nil {
		t.Fatalf("GET /openapi.json: %d %.300s", r.status, r.raw)
	}
}
