package invoke

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/dbcreds/provisioner/local/emulate/runtimeapi"
)

// EnvEmulator names an aws-lambda-rie binary (the Lambda Runtime Interface
// Emulator that sam local invoke runs in its container, built from
// aws/aws-lambda-runtime-interface-emulator). When set, functions run under
// it instead of the local Runtime API.
const EnvEmulator = "AWS_LAMBDA_RIE"

// runtime is what invokes a function's process: the local Runtime API
// (runtimeapi.Server) or the real emulator (emulator).
type runtime interface {
	Invoke(ctx context.Context, event []byte, timeout time.Duration) (runtimeapi.Outcome, error)
	InitErrors() <-chan runtimeapi.FunctionError
	FirstNext() time.Time
	Close() error
}

// emulator talks to aws-lambda-rie as sam local invoke does: one POST of
// the event to its invocations endpoint. It answers a function error with
// HTTP 200 and {errorMessage, errorType}, a time-out with plain text, and a
// failed init with 502.
type emulator struct {
	addr   string // where it takes invocations
	client *http.Client
	inits  chan runtimeapi.FunctionError
}

// freeAddr is a loopback address nothing listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// emulatorArgs are the emulator's command line for bootstrap: its
// invocations endpoint and its Runtime API on free loopback ports (its
// defaults, 8080 and 9001, would clash between functions), logging errors
// only, as SAM's container entrypoint asks.
func emulatorArgs(bootstrap string) (args []string, addr string, err error) {
	addr, err = freeAddr()
	if err != nil {
		return nil, "", err
	}
	runtimeAddr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	return []string{"--log-level", "error", "--runtime-interface-emulator-address", addr, "--runtime-api-address", runtimeAddr, bootstrap}, addr, nil
}

func newEmulator(addr string) *emulator {
	return &emulator{addr: addr, client: &http.Client{}, inits: make(chan runtimeapi.FunctionError)}
}

func (e *emulator) Invoke(ctx context.Context, event []byte, timeout time.Duration) (runtimeapi.Outcome, error) {
	url := "http://" + e.addr + "/2015-03-31/functions/function/invocations"
	var resp *http.Response
	// The emulator takes a moment to listen after it starts.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(event))
		if err != nil {
			return runtimeapi.Outcome{}, err
		}
		if resp, err = e.client.Do(req); err == nil {
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return runtimeapi.Outcome{}, fmt.Errorf("the emulator did not answer: %w", err)
		}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 7<<20))
	if err != nil {
		return runtimeapi.Outcome{}, fmt.Errorf("the emulator's answer: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusBadGateway:
		return runtimeapi.Outcome{}, fmt.Errorf("the function failed (HTTP 502): %s", body)
	case resp.StatusCode != http.StatusOK:
		return runtimeapi.Outcome{}, fmt.Errorf("the emulator answered %d: %s", resp.StatusCode, body)
	case strings.HasPrefix(string(body), "Task timed out after "):
		return runtimeapi.Outcome{Error: &runtimeapi.FunctionError{Type: "Sandbox.Timedout", Message: string(body)}}, nil
	}
	if fe, ok := functionError(body); ok {
		return runtimeapi.Outcome{Error: &fe}, nil
	}
	return runtimeapi.Outcome{Response: json.RawMessage(body)}, nil
}

// functionError reads an answer that holds only errorType and errorMessage
// (and a stack trace): the emulator's form of a function error.
func functionError(body []byte) (runtimeapi.FunctionError, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || m["errorType"] == nil || m["errorMessage"] == nil {
		return runtimeapi.FunctionError{}, false
	}
	for k := range m {
		if k != "errorType" && k != "errorMessage" && k != "stackTrace" {
			return runtimeapi.FunctionError{}, false
		}
	}
	var fe runtimeapi.FunctionError
	json.Unmarshal(body, &fe)
	return fe, true
}

// InitErrors never delivers: the emulator reports a failed init as the
// invocation's 502.
func (e *emulator) InitErrors() <-chan runtimeapi.FunctionError { return e.inits }

// FirstNext is unknown: the emulator does not say when init ended.
func (e *emulator) FirstNext() time.Time { return time.Time{} }

func (e *emulator) Close() error { return nil }
