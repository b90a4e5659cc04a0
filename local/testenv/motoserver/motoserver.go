// Package motoserver runs moto in server mode on a free loopback port, as the
// local stand-in for Secrets Manager in tests and local runs. The SDK is
// pointed at it with its own AWS_ENDPOINT_URL_SECRETS_MANAGER variable.
//
// It imports only shared/idempotency's client, to make the tables.
package motoserver

import (
	"bufio"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dbcreds/provisioner/local/testenv"
)

// InstallHint is what to do when moto is missing.
const InstallHint = `moto_server not found: install it with pip install "moto[server]"`

// Server is a running moto_server, behind a front that makes its DynamoDB
// writes atomic (see atomicWrites).
type Server struct {
	Endpoint string
	cmd      *exec.Cmd
	front    *http.Server
}

// patchedServer is moto_server with RotateSecret keeping the rules it is
// given, as the real service does (see the script).
//
//go:embed moto_server.py
var patchedServer string

// Start starts moto_server on a loopback port the kernel picks and waits
// until it answers. moto binds the port itself and prints it: a port picked
// here and bound by moto a second later could be taken by another test
// package's server in between, and this package would then talk to it.
func Start() (*Server, error) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		return nil, errors.New(InstallHint)
	}
	// The Python that has moto (moto_server may be a pyenv shim, not a
	// script of its own).
	bin, err := exec.LookPath("python3")
	if err != nil || exec.Command(bin, "-c", "import moto.server").Run() != nil {
		return nil, errors.New(InstallHint + " (for python3)")
	}
	cmd := exec.Command(bin, "-c", patchedServer, "--free-port", "127.0.0.1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = nil
	// A group of its own, so Stop also ends the workers moto may fork.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting moto_server: %w", err)
	}
	s := &Server{cmd: cmd}
	port := make(chan int, 1)
	go func() {
		lines := bufio.NewScanner(out)
		if lines.Scan() {
			var p int
			if _, err := fmt.Sscanf(lines.Text(), "listening %d", &p); err == nil {
				port <- p
			}
		}
		close(port)
		io.Copy(io.Discard, out) // the server's later prints must not block it
		cmd.Wait()
	}()
	select {
	case p, ok := <-port:
		if !ok {
			s.Stop()
			return nil, errors.New("moto_server exited before it listened")
		}
		s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(p)
	case <-time.After(30 * time.Second):
		s.Stop()
		return nil, errors.New("moto_server did not listen within 30s")
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(s.Endpoint + "/moto-api/"); err == nil {
			resp.Body.Close()
			if err := s.startFront(); err != nil {
				s.Stop()
				return nil, err
			}
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return nil, fmt.Errorf("moto_server did not answer at %s within 30s", s.Endpoint)
}

// Env is the environment that points the SDK at this server (Secrets
// Manager and DynamoDB) with dummy credentials and no shared config, so no
// real account can be reached.
func (s *Server) Env() map[string]string { return EnvFor(s.Endpoint) }

// EnvFor is the environment for a moto at endpoint.
func EnvFor(endpoint string) map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
		"AWS_ENDPOINT_URL_DYNAMODB":        endpoint,
		"AWS_ENDPOINT_URL_KMS":             endpoint,
		"AWS_ENDPOINT_URL_STS":             endpoint,
		"AWS_ENDPOINT_URL_SCHEDULER":       endpoint,
		"AWS_ACCESS_KEY_ID":                "test",
		"AWS_SECRET_ACCESS_KEY":            "test",
		"AWS_SESSION_TOKEN":                "",
		"AWS_CONFIG_FILE":                  os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE":      os.DevNull,
		"AWS_EC2_METADATA_DISABLED":        "true",
	}
}

// Setenv applies Env to this process.
func (s *Server) Setenv() error {
	for k, v := range s.Env() {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}

// Stop ends the server.
func (s *Server) Stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	if s.front != nil {
		s.front.Close()
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
}

// startFront puts the front before moto and points Endpoint at it.
func (s *Server) startFront() error {
	target, err := url.Parse(s.Endpoint)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.front = &http.Server{Handler: atomicWrites(httputil.NewSingleHostReverseProxy(target)), ReadHeaderTimeout: 10 * time.Second}
	go s.front.Serve(l)
	s.Endpoint = "http://" + l.Addr().String()
	return nil
}

// atomicWrites applies DynamoDB's item writes and Secrets Manager's
// CreateSecret one at a time. DynamoDB applies a conditional write
// atomically, and Secrets Manager makes one secret of a name; moto checks
// the condition or the name and writes without a lock, so two conditional
// puts of one new item, or two CreateSecret calls of one name, can both
// succeed under load, which the real services never allow.
func atomicWrites(next http.Handler) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-Amz-Target") {
		case "DynamoDB_20120810.PutItem", "DynamoDB_20120810.UpdateItem", "DynamoDB_20120810.DeleteItem",
			"DynamoDB_20120810.TransactWriteItems", "DynamoDB_20120810.BatchWriteItem",
			"secretsmanager.CreateSecret":
			mu.Lock()
			defer mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// Kept is the endpoint of the moto that make moto keeps running, recorded
// in the state file, when it answers.
func Kept(state string) (string, bool) {
	b, err := os.ReadFile(state)
	endpoint := strings.TrimSpace(string(b))
	if err != nil || endpoint == "" {
		return "", false
	}
	resp, err := (&http.Client{Timeout: time.Second}).Get(endpoint + "/moto-api/")
	if err != nil {
		return "", false
	}
	resp.Body.Close()
	return endpoint, true
}

// Origins of a local run's Secrets Manager.
const (
	FromEnvironment = "AWS_ENDPOINT_URL_SECRETS_MANAGER"
	FromMakeMoto    = "make moto"
	StartedForRun   = "started for this run"
)

// ForLocalRun is the Secrets Manager a local run uses: the one
// AWS_ENDPOINT_URL_SECRETS_MANAGER names, with the caller's credentials;
// else the moto that make moto keeps (its endpoint in the state file), so
// that what the run makes stays to look at; else a moto_server started for
// the run. DynamoDB (the HTTP API's idempotency records) is at
// AWS_ENDPOINT_URL_DYNAMODB, or else at the same endpoint, as moto serves
// both; EventBridge Scheduler at AWS_ENDPOINT_URL_SCHEDULER, or else
// DynamoDB's. It returns the environment to give the function, where it came
// from, and stop, to call when the run ends.
func ForLocalRun(state string) (env map[string]string, origin string, stop func(), err error) {
	if os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER") != "" {
		env = map[string]string{}
		for _, k := range []string{"AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SCHEDULER", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
			env[k] = os.Getenv(k)
		}
		if env["AWS_ENDPOINT_URL_DYNAMODB"] == "" {
			env["AWS_ENDPOINT_URL_DYNAMODB"] = env["AWS_ENDPOINT_URL_SECRETS_MANAGER"]
		}
		if env["AWS_ENDPOINT_URL_SCHEDULER"] == "" { // moto serves it beside DynamoDB
			env["AWS_ENDPOINT_URL_SCHEDULER"] = env["AWS_ENDPOINT_URL_DYNAMODB"]
		}
		return env, FromEnvironment, func() {}, nil
	}
	if endpoint, ok := Kept(state); state != "" && ok {
		return EnvFor(endpoint), FromMakeMoto, func() {}, nil
	}
	s, err := Start()
	if err != nil {
		return nil, "", nil, err
	}
	return s.Env(), StartedForRun, s.Stop, nil
}

// ReadBack is the aws command that reads a secret back from the Secrets
// Manager at endpoint, with moto's dummy credentials.
func ReadBack(endpoint, region, id string) string {
	return "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws --endpoint-url " + endpoint + " --region " + region +
		" secretsmanager get-secret-value --secret-id '" + id + "'"
}

// UnusedEndpoint is a loopback URL where nothing listens, for tests of an
// unreachable Secrets Manager.
func UnusedEndpoint() (string, error) {
	port, err := testenv.FreePort()
	if err != nil {
		return "", err
	}
	return "http://127.0.0.1:" + strconv.Itoa(port), nil
}

// Main is a package's TestMain for tests that need moto alone: under go
// test -short it only runs the tests (those needing moto skip); else it
// starts moto, points this process at it (Setenv, AWS_REGION us-east-1
// unless set), hands it to ready, runs the tests and stops it. It exits.
func Main(m *testing.M, ready func(*Server) error) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	s, err := Start()
	if err == nil {
		err = s.Setenv()
	}
	if err == nil && os.Getenv("AWS_REGION") == "" {
		err = os.Setenv("AWS_REGION", "us-east-1")
	}
	if err == nil {
		err = ready(s)
	}
	code := 1
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	s.Stop()
	os.Exit(code)
}
