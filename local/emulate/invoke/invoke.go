// Package invoke runs a function's built bootstrap locally, the way sam local
// invoke does in its container: the environment the template gives the
// function, the Runtime API on loopback, one event, and for a CloudFormation
// custom-resource event a local receiver standing in for the presigned
// ResponseURL.
//
// It runs the built binaries and imports nothing of shared/ or
// functions/; only runtimeapi, samtemplate and motoserver.
package invoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dbcreds/provisioner/local/emulate/runtimeapi"
	"github.com/dbcreds/provisioner/local/emulate/samtemplate"
	"github.com/dbcreds/provisioner/local/testenv/motoserver"
)

// AccountID is the account local runs pretend to be in (moto's default,
// and the SAM CLI's AWS_ACCOUNT_ID).
const AccountID = "123456789012"

// EmulatorAccountID is the account of the function ARN that the Lambda
// Runtime Interface Emulator, which sam local invoke runs, gives every
// function: arn:aws:lambda:us-east-1:012345678912:function:<name>, whatever
// the Region and account. Local runs give the same, so that a function
// that trusted it would fail here as under sam local.
const EmulatorAccountID = "012345678912"

// Options describe one local invocation.
type Options struct {
	Template           string            // path to template.yaml
	Function           string            // logical id
	Bootstrap          string            // the built binary
	Event              []byte            // the event, as a file in events/ holds it
	ParameterOverrides map[string]string // template parameters
	Region             string            // default us-east-1
	// Env points the function at Secrets Manager (moto's endpoint and dummy
	// credentials); it is applied after the template's environment.
	Env map[string]string
	// Logs receives the function's own output (its JSON log lines).
	Logs io.Writer
	// Timeout replaces the template's, to try the function's deadline
	// handling without waiting for the real one.
	Timeout time.Duration
	// ResponseStatus, when set, is what the stand-in for CloudFormation's
	// ResponseURL answers (403, say, as S3 does for an expired URL).
	ResponseStatus int
}

// Outcome is what the invocation produced.
type Outcome struct {
	runtimeapi.Outcome
	// InitError is set when the function failed before taking the event.
	InitError *runtimeapi.FunctionError
	// CloudFormation is the body PUT to the ResponseURL, for custom-resource
	// events; nil when nothing arrived.
	CloudFormation json.RawMessage
	// ResponseURL is the local URL the event's ResponseURL was pointed at.
	ResponseURL string
	// Duration runs from the process's start (on a cold invocation) or from
	// the event's hand-over to the function's answer.
	Duration time.Duration
	// Cold is set when this invocation started the process; Init is then
	// the time from its start to its first request for an event.
	Cold bool
	Init time.Duration
	// MaxRSSKiB is the process's own peak resident memory (VmHWM), read
	// just before it is stopped: Run fills it in; 0 where /proc is not.
	MaxRSSKiB int64
}

// Run performs one invocation in a fresh process: a cold start.
func Run(ctx context.Context, opts Options) (*Outcome, error) {
	fn, err := Start(opts)
	if err != nil {
		return nil, err
	}
	out, err := fn.Invoke(ctx, opts.Event)
	fn.Close()
	if out != nil {
		out.MaxRSSKiB = fn.lastMaxRSS
	}
	return out, err
}

// Function is a function's bootstrap kept running between invocations, as
// Lambda keeps a warm execution environment. It serves one invocation at a
// time; a process that dies is started again for the next one.
type Function struct {
	opts        Options
	fn          samtemplate.Function
	bootstrap   string
	functionARN string

	mu   sync.Mutex
	proc *process
	// lastMaxRSS is the peak resident memory of the last process stopped.
	lastMaxRSS int64
}

type process struct {
	api     runtime
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	started time.Time
}

// Start resolves the function from the template. Its process starts with
// the first invocation.
func Start(opts Options) (*Function, error) {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Logs == nil {
		opts.Logs = io.Discard
	}
	tpl, err := samtemplate.Load(opts.Template)
	if err != nil {
		return nil, err
	}
	fn, err := tpl.Function(opts.Function, opts.ParameterOverrides, map[string]string{
		"AWS::Region": opts.Region, "AWS::AccountId": AccountID, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
		"AWS::StackName": "local",
	})
	if err != nil {
		return nil, err
	}
	if opts.Timeout > 0 {
		fn.Timeout = opts.Timeout
	}
	if err := createTables(tpl, opts); err != nil {
		return nil, err
	}
	bootstrap, err := filepath.Abs(opts.Bootstrap)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bootstrap); err != nil {
		return nil, fmt.Errorf("%s: %w (build it with make build)", opts.Bootstrap, err)
	}
	return &Function{opts: opts, fn: fn, bootstrap: bootstrap,
		functionARN: "arn:aws:lambda:us-east-1:" + EmulatorAccountID + ":function:" + fn.LogicalID}, nil
}

// tablesMade remembers the tables made at each endpoint in this process.
var tablesMade sync.Map

// createTables makes the template's DynamoDB tables and schedule groups at
// the local endpoints, as the stack would have made them; never in a real
// account.
func createTables(tpl *samtemplate.Template, opts Options) error {
	for _, id := range tpl.Tables() {
		name := samtemplate.TableName(id)
		made := opts.Env["AWS_ENDPOINT_URL_DYNAMODB"] + " " + name
		if _, done := tablesMade.Load(made); done {
			continue
		}
		if err := motoserver.CreateTable(context.Background(), opts.Env, opts.Region, name, tpl.TablePartitionKey(id)); err != nil {
			return err
		}
		tablesMade.Store(made, true)
	}
	for _, group := range tpl.ScheduleGroups() { // a Ref to one is locally its logical id
		made := opts.Env["AWS_ENDPOINT_URL_SCHEDULER"] + " group " + group
		if _, done := tablesMade.Load(made); done {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := motoserver.CreateScheduleGroup(ctx, opts.Env, opts.Region, group)
		cancel()
		if err != nil {
			return err
		}
		tablesMade.Store(made, true)
	}
	return nil
}

// Close stops the process.
func (f *Function) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stop()
}

func (f *Function) stop() {
	if f.proc == nil {
		return
	}
	f.lastMaxRSS = peakKiB(f.proc.cmd.Process.Pid)
	syscall.Kill(-f.proc.cmd.Process.Pid, syscall.SIGKILL)
	<-f.proc.exited
	f.proc.api.Close()
	f.proc = nil
}

func (f *Function) start() error {
	var api runtime
	var cmd *exec.Cmd
	if rie := os.Getenv(EnvEmulator); rie != "" {
		args, addr, err := emulatorArgs(f.bootstrap)
		if err != nil {
			return err
		}
		api, cmd = newEmulator(addr), exec.Command(rie, args...)
		cmd.Env = environment(f.fn, "", filepath.Dir(f.bootstrap), f.opts)
	} else {
		local, err := runtimeapi.Start(f.functionARN)
		if err != nil {
			return err
		}
		api, cmd = local, exec.Command(f.bootstrap)
		cmd.Env = environment(f.fn, local.Addr, filepath.Dir(f.bootstrap), f.opts)
	}
	cmd.Dir = filepath.Dir(f.bootstrap)
	cmd.Stdout, cmd.Stderr = f.opts.Logs, f.opts.Logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &process{api: api, cmd: cmd, exited: make(chan struct{}), started: time.Now()}
	if err := cmd.Start(); err != nil {
		api.Close()
		return fmt.Errorf("starting %s: %w", f.opts.Bootstrap, err)
	}
	go func() { p.exitErr = cmd.Wait(); close(p.exited) }()
	f.proc = p
	return nil
}

// Invoke runs one event through the function, starting its process if none
// runs. A custom-resource event's ResponseURL is pointed at a local receiver.
func (f *Function) Invoke(ctx context.Context, event []byte) (*Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &Outcome{}
	if isCustomResourceEvent(event) {
		receiver, err := startReceiver(f.opts.ResponseStatus)
		if err != nil {
			return nil, err
		}
		defer receiver.close()
		// A ResponseURL that is no URL goes to the function as it is, as
		// CloudFormation's would.
		if redirected, local, err := receiver.redirect(event); err == nil {
			event, out.ResponseURL = redirected, local
			defer func() { out.CloudFormation = receiver.received() }()
		}
	}
	start := time.Now()
	if f.proc == nil {
		if err := f.start(); err != nil {
			return nil, err
		}
		start, out.Cold = f.proc.started, true
	}
	p := f.proc

	// The invocation ends early if the process exits or reports a failed init.
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-p.exited:
			cancel(fmt.Errorf("the function exited: %v", p.exitErr))
		case fe := <-p.api.InitErrors():
			out.InitError = &fe
			cancel(errors.New("the function reported an init error"))
		case <-runCtx.Done():
		}
	}()
	result, err := p.api.Invoke(runCtx, event, f.fn.Timeout)
	cancel(nil)
	<-watched
	out.Duration = time.Since(start)
	if first := p.api.FirstNext(); out.Cold && !first.IsZero() {
		out.Init = first.Sub(p.started)
	}
	if err != nil || result.Error != nil && (result.Error.Type == "Sandbox.Timedout" || result.Error.Type == "Runtime.ExitError") {
		// Lambda discards an environment that failed or timed out.
		f.stop()
	}
	if err != nil {
		if out.InitError == nil {
			msg := "the function exited before answering"
			select {
			case <-p.exited: // exitErr is set once exited is closed
				if p.exitErr != nil {
					msg += ": " + p.exitErr.Error()
				}
			default:
			}
			out.InitError = &runtimeapi.FunctionError{Type: "Runtime.ExitError", Message: msg}
		}
		return out, nil
	}
	out.Outcome = result
	return out, nil
}

// environment is what sam local invoke gives a function in its container
// (samcli/local/lambdafn/env_vars.py in the SAM CLI 1.164): its own
// variables and SAM's, not the host's, so a local run cannot lean on the
// developer's shell.
func environment(fn samtemplate.Function, runtimeAPI, taskRoot string, opts Options) []string {
	env := map[string]string{
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
		"LANG":                            "en_US.UTF-8",
		"TZ":                              ":UTC",
		"AWS_SAM_LOCAL":                   "true",
		"AWS_LAMBDA_FUNCTION_NAME":        fn.LogicalID,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": fmt.Sprint(fn.MemoryMB),
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     fmt.Sprint(int((fn.Timeout + time.Second - 1) / time.Second)),
		"AWS_LAMBDA_FUNCTION_HANDLER":     fn.Handler,
		"AWS_LAMBDA_LOG_GROUP_NAME":       "aws/lambda/" + fn.LogicalID, // SAM's, without the leading slash
		"AWS_LAMBDA_LOG_STREAM_NAME":      "$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_ACCOUNT_ID":                  AccountID,
		"AWS_REGION":                      opts.Region,
		"AWS_DEFAULT_REGION":              opts.Region,
		"LAMBDA_TASK_ROOT":                taskRoot,
		"_HANDLER":                        fn.Handler,
	}
	if runtimeAPI != "" {
		env["AWS_LAMBDA_RUNTIME_API"] = runtimeAPI // the emulator sets its own
	}
	for k, v := range fn.Environment {
		env[k] = v
	}
	if env["AWS_LAMBDA_LOG_FORMAT"] == "JSON" {
		env["AWS_LAMBDA_LOG_LEVEL"] = "INFO"
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	list := make([]string, 0, len(env))
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	return list
}

func isCustomResourceEvent(event []byte) bool {
	var probe struct {
		RequestType string
		ResponseURL string
	}
	return json.Unmarshal(event, &probe) == nil && probe.RequestType != "" && probe.ResponseURL != ""
}

// cfnReceiver stands in for the presigned S3 URL CloudFormation waits on.
type cfnReceiver struct {
	server *http.Server
	addr   string
	mu     sync.Mutex
	body   []byte
}

func startReceiver(status int) (*cfnReceiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("CloudFormation receiver: %w", err)
	}
	rc := &cfnReceiver{addr: l.Addr().String()}
	rc.server = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			http.Error(w, "the ResponseURL takes PUT", http.StatusMethodNotAllowed)
			return
		}
		// S3 rejects a PUT whose signature does not cover its content type.
		if r.Header.Get("Content-Type") != "" {
			http.Error(w, "SignatureDoesNotMatch: the presigned URL was signed without a Content-Type", http.StatusForbidden)
			return
		}
		if status != 0 && status != http.StatusOK {
			http.Error(w, http.StatusText(status), status)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.body = body
		rc.mu.Unlock()
	})}
	go rc.server.Serve(l)
	return rc, nil
}

// redirect points the event's ResponseURL at the receiver, keeping the path
// and the presigned query string so the function sees a URL of the real form.
func (rc *cfnReceiver) redirect(event []byte) ([]byte, string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(event, &m); err != nil {
		return nil, "", err
	}
	var original string
	if err := json.Unmarshal(m["ResponseURL"], &original); err != nil {
		return nil, "", fmt.Errorf("ResponseURL: %w", err)
	}
	u, err := url.Parse(original)
	if err != nil || u.Host == "" {
		return nil, "", fmt.Errorf("ResponseURL: not a URL")
	}
	u.Scheme, u.Host = "http", rc.addr
	local := u.String()
	m["ResponseURL"], _ = json.Marshal(local)
	rewritten, err := json.Marshal(m)
	return rewritten, local, err
}

func (rc *cfnReceiver) received() json.RawMessage {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.body == nil {
		return nil
	}
	return bytes.Clone(rc.body)
}

func (rc *cfnReceiver) close() { rc.server.Close() }

// peakKiB is a live process's own peak resident memory, VmHWM in
// /proc/<pid>/status. Not rusage's Maxrss: on Linux a child started by
// vfork and exec (as os/exec starts one) inherits the parent's high-water
// mark, so a bootstrap of a few MiB would report the test's own memory.
func peakKiB(pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kib
		}
	}
	return 0
}
