// Package e2e tests the shipped artefacts: every function is built with the
// Makefile's own build targets, and each real bootstrap is invoked through
// the local Runtime API against a moto_server, the stored secrets then read
// back with the SDK.
//
// What it tests it runs as built; of shared/ it uses only the request's
// decoder, to check the docs' examples.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/emulate/invoke"
	"github.com/dbcreds/provisioner/local/emulate/samtemplate"
	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/local/testenv/iamcheck"
	"github.com/dbcreds/provisioner/local/testenv/motoserver"
	"github.com/dbcreds/provisioner/local/testenv/openapi"
	"github.com/dbcreds/provisioner/local/testenv/rdsapi"
)

const root = "../.."

var (
	moto *motoserver.Server
	rds  *rdsapi.Server // the RDS API, for RDS-managed master secrets
	bins string         // <bins>/<LogicalId>/bootstrap
	// Every AWS call the functions make, for the IAM check.
	awsCalls, rdsCalls *iamcheck.Recorder
)

// baseEnv points function, run under the template parameters overrides, at
// the tests' moto and RDS API, through the recorders of its calls.
func baseEnv(function string, overrides map[string]string) map[string]string {
	env := moto.Env()
	for k, r := range map[string]*iamcheck.Recorder{"AWS_ENDPOINT_URL_SECRETS_MANAGER": awsCalls, "AWS_ENDPOINT_URL_DYNAMODB": awsCalls,
		"AWS_ENDPOINT_URL_KMS": awsCalls, "AWS_ENDPOINT_URL_STS": awsCalls, "AWS_ENDPOINT_URL_SCHEDULER": awsCalls, "AWS_ENDPOINT_URL_RDS": rdsCalls} {
		u, err := r.For(function, overrides)
		if err != nil {
			panic(err)
		}
		env[k] = u
	}
	return env
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("end-to-end tests need moto and the databases: not in -short")
		os.Exit(0)
	}
	code, err := setUp(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func setUp(m *testing.M) (int, error) {
	var err error
	if bins, err = os.MkdirTemp("", "e2e-bins-"); err != nil {
		return 0, err
	}
	defer os.RemoveAll(bins)
	build := exec.Command("make", "-C", root, "--no-print-directory", "build", "BIN="+bins)
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("make build: %v\n%s", err, out)
	}
	if moto, err = motoserver.Start(); err != nil {
		return 0, err
	}
	defer moto.Stop()
	if rds, err = rdsapi.Start("us-east-1", invoke.AccountID); err != nil {
		return 0, err
	}
	defer rds.Close()
	defer dbserver.StopShared()
	if err := moto.Setenv(); err != nil {
		return 0, err
	}
	if awsCalls, err = iamcheck.NewRecorder(moto.Endpoint, motoSecrets); err != nil {
		return 0, err
	}
	defer awsCalls.Close()
	awsCalls.KeyTags = motoKeyTags
	if rdsCalls, err = iamcheck.NewRecorder(rds.URL(), nil); err != nil {
		return 0, err
	}
	defer rdsCalls.Close()
	code := m.Run()
	if code == 0 {
		code = checkAPIAnswers()
	}
	if code == 0 {
		code = checkIAM()
	}
	return code, nil
}

// motoSecrets reads secrets from moto itself, not through a recorder.
func motoSecrets(region string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{Region: region, BaseEndpoint: aws.String(moto.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

// motoKeyTags reads a KMS key's tags from moto itself.
func motoKeyTags(region, keyID string) map[string]string {
	c := kms.New(kms.Options{Region: region, BaseEndpoint: aws.String(moto.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	out, err := c.ListResourceTags(context.Background(), &kms.ListResourceTagsInput{KeyId: aws.String(keyID)})
	if err != nil {
		return nil
	}
	tags := map[string]string{}
	for _, t := range out.Tags {
		tags[aws.ToString(t.TagKey)] = aws.ToString(t.TagValue)
	}
	return tags
}

// apiAnswers are the HTTP API's answers the tests received, all of which
// must be what the OpenAPI document says.
var apiAnswers struct {
	sync.Mutex
	list []openapi.Exchange
}

func recordAPIAnswer(x openapi.Exchange) {
	apiAnswers.Lock()
	defer apiAnswers.Unlock()
	apiAnswers.list = append(apiAnswers.list, x)
}

// checkIAM evaluates every AWS call the functions made against the role the
// template gives the function that made it, with a real IAM policy
// evaluator (local/testenv/iamcheck): a call the role would deny in AWS is
// a failure here.
func checkIAM() int {
	tpl, err := iamcheck.Translate(filepath.Join(root, "template.yaml"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	calls := append(awsCalls.Calls(), rdsCalls.Calls()...)
	tables, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	keys := map[string]string{}
	for _, id := range tables.Tables() {
		keys[samtemplate.TableName(id)] = tables.TablePartitionKey(id)
	}
	denials, evaluated, err := iamcheck.CheckCalls(tpl, ownCalls(calls), keys, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "the IAM check:", err)
		return 1
	}
	for _, d := range denials {
		fmt.Fprintln(os.Stderr, "the role denies a call the function made:", d)
	}
	if len(denials) > 0 {
		return 1
	}
	if evaluated < 50 && flag.Lookup("test.run").Value.String() == "" {
		fmt.Fprintf(os.Stderr, "only %d authorizations were evaluated by the IAM check\n", evaluated)
		return 1
	}
	fmt.Printf("IAM: %d distinct authorizations of %d calls, each allowed by its function's role\n", evaluated, len(calls))
	return 0
}

// ownCalls leaves out what the local emulator does in a function's name:
// making the template's tables before the function starts.
func ownCalls(calls []iamcheck.Call) []iamcheck.Call {
	var out []iamcheck.Call
	for _, c := range calls {
		if c.Service == "dynamodb" && (c.Operation == "CreateTable" || c.Operation == "DescribeTable") {
			continue
		}
		out = append(out, c)
	}
	return out
}

// checkAPIAnswers checks every recorded answer against the document.
func checkAPIAnswers() int {
	apiAnswers.Lock()
	defer apiAnswers.Unlock()
	if len(apiAnswers.list) < 50 && !testing.Short() && flag.Lookup("test.run").Value.String() == "" {
		fmt.Fprintf(os.Stderr, "only %d HTTP API answers were recorded for the OpenAPI check\n", len(apiAnswers.list))
		return 1
	}
	problems, err := openapi.Check(filepath.Join(root, openapi.Document), apiAnswers.list)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "an HTTP API answer the OpenAPI document does not describe:", p)
	}
	if len(problems) > 0 {
		return 1
	}
	return 0
}

// run invokes function with an event file, edited by edit when not nil.
func run(t *testing.T, function, eventFile string, overrides map[string]string, edit func(map[string]any)) (*invoke.Outcome, string) {
	return runWith(t, invocation{function: function, event: eventFile, overrides: overrides, edit: edit})
}

type invocation struct {
	function, event string
	overrides       map[string]string
	edit            func(map[string]any)
	env             map[string]string // replaces entries of moto's environment
	timeout         time.Duration
	responseStatus  int // what the ResponseURL answers, when not 200
}

// invokeWith runs an event through another bootstrap under the
// CustomResourceFunction's environment.
func invokeWith(t *testing.T, bootstrap, eventFile string, edit func(map[string]any)) (*invoke.Outcome, error) {
	t.Helper()
	event, err := os.ReadFile(filepath.Join(root, "events", eventFile))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	json.Unmarshal(event, &m)
	edit(m)
	event, _ = json.Marshal(m)
	return invoke.Run(context.Background(), invoke.Options{Template: filepath.Join(root, "template.yaml"), Function: "CustomResourceFunction",
		Bootstrap: bootstrap, Event: event, Env: moto.Env()}) // not ours: its calls are not the roles' to answer for
}

// deployed are the parameters of every test deployment, then overrides:
// every function's role may read the master secrets the tests make (under
// masters/) and RDS-managed ones. Only IAM reads the *MasterSecretArns
// parameters: the check of every call against the roles needs them, the
// functions do not.
func deployed(overrides map[string]string) map[string]string {
	masters := "arn:aws:secretsmanager:us-east-1:" + invoke.AccountID + ":secret:masters/*,arn:aws:secretsmanager:us-east-1:" + invoke.AccountID + ":secret:rds!*"
	out := map[string]string{"MasterSecretArns": masters, "ApiMasterSecretArns": masters, "EventMasterSecretArns": masters}
	for k, v := range overrides {
		out[k] = v
	}
	return out
}

func runWith(t *testing.T, inv invocation) (*invoke.Outcome, string) {
	t.Helper()
	inv.overrides = deployed(inv.overrides)
	event, err := os.ReadFile(filepath.Join(root, "events", inv.event))
	if err != nil {
		t.Fatal(err)
	}
	if inv.edit != nil {
		var m map[string]any
		if err := json.Unmarshal(event, &m); err != nil {
			t.Fatal(err)
		}
		inv.edit(m)
		event, _ = json.Marshal(m)
	}
	env := baseEnv(inv.function, inv.overrides)
	for k, v := range inv.env {
		env[k] = v
	}
	var logs bytes.Buffer
	out, err := invoke.Run(context.Background(), invoke.Options{
		Template: filepath.Join(root, "template.yaml"), Function: inv.function,
		Bootstrap: filepath.Join(bins, inv.function, "bootstrap"), Event: event,
		ParameterOverrides: inv.overrides, Env: env, Logs: &logs, Timeout: inv.timeout, ResponseStatus: inv.responseStatus,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s log:\n%s", inv.function, logs.String())
	if inv.function == "HttpApiFunction" && out.Error == nil && out.InitError == nil {
		var req struct {
			RawPath        string `json:"rawPath"`
			RequestContext struct {
				HTTP struct{ Method string } `json:"http"`
			} `json:"requestContext"`
		}
		var resp struct {
			StatusCode int
			Headers    map[string]string
			Body       string
		}
		if json.Unmarshal(event, &req) == nil && json.Unmarshal(out.Response, &resp) == nil {
			recordAPIAnswer(openapi.Exchange{Method: req.RequestContext.HTTP.Method, Path: req.RawPath, Status: resp.StatusCode, Headers: resp.Headers, Body: resp.Body})
		}
	}
	return out, logs.String()
}

func secretsClient(t *testing.T, region string) *secretsmanager.Client {
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(region))
	if err != nil {
		t.Fatal(err)
	}
	return secretsmanager.NewFromConfig(cfg)
}

// storedSecret reads a secret back and decodes its JSON.
func storedSecret(t *testing.T, region, id string) (map[string]any, *secretsmanager.GetSecretValueOutput) {
	t.Helper()
	out, err := secretsClient(t, region).GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		t.Fatalf("reading %s in %s: %v", id, region, err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &m); err != nil {
		t.Fatal(err)
	}
	return m, out
}

// noLeak fails when the password or the presigned query string shows up in
// anything the function wrote or answered.
func noLeak(t *testing.T, password string, outputs ...string) {
	t.Helper()
	if password == "" {
		t.Fatal("no password to look for")
	}
	for _, s := range outputs {
		if strings.Contains(s, password) {
			t.Fatalf("the password leaked into: %s", s)
		}
		if strings.Contains(s, "X-Amz-Signature") || strings.Contains(s, "EXAMPLESIGNATURE") {
			t.Fatalf("the presigned ResponseURL leaked into: %s", s)
		}
	}
}

func TestEveryFunctionIsBuilt(t *testing.T) {
	tpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	functions := tpl.Functions()
	if len(functions) != 4 {
		t.Fatalf("functions %v", functions)
	}
	for _, f := range functions {
		if _, err := os.Stat(filepath.Join(bins, f, "bootstrap")); err != nil {
			t.Errorf("make build did not build %s: %v", f, err)
		}
	}
}

func TestCustomResourceCreate(t *testing.T) {
	out, logs := run(t, "CustomResourceFunction", "custom-resource-create.json", nil, nil)
	if out.Error != nil || out.InitError != nil {
		t.Fatalf("function failed: %+v %+v", out.Error, out.InitError)
	}
	var answer struct {
		Status, Reason, PhysicalResourceId string
		NoEcho                             bool
		Data                               map[string]string
	}
	if err := json.Unmarshal(out.CloudFormation, &answer); err != nil {
		t.Fatalf("CloudFormation got %q: %v", out.CloudFormation, err)
	}
	if answer.Status != "SUCCESS" || !strings.HasPrefix(answer.PhysicalResourceId, "arn:aws:secretsmanager:us-east-1:") || !answer.NoEcho ||
		answer.Data["Arn"] != answer.PhysicalResourceId || answer.Data["Username"] != "orders_app" {
		t.Fatalf("CloudFormation got %s", out.CloudFormation)
	}
	secret, value := storedSecret(t, "us-east-1", answer.PhysicalResourceId)
	want := map[string]any{"engine": "postgres", "host": "orders.cluster-c1x2y3z4.us-east-1.rds.amazonaws.com", "port": float64(5432),
		"dbname": "orders", "username": "orders_app", "ssl": true, "dbClusterIdentifier": "orders",
		"readerHost": "orders.cluster-ro-c1x2y3z4.us-east-1.rds.amazonaws.com"}
	password, _ := secret["password"].(string)
	delete(secret, "password")
	if !reflect.DeepEqual(secret, want) {
		t.Fatalf("stored %v, want %v and a password", secret, want)
	}
	if aws.ToString(value.VersionId) != answer.Data["VersionId"] {
		t.Fatalf("current version %s, CloudFormation was told %s", aws.ToString(value.VersionId), answer.Data["VersionId"])
	}
	replica, _ := storedSecret(t, "eu-west-1", "app/orders/postgres")
	if replica["password"] != password {
		t.Fatal("the eu-west-1 replica holds another password")
	}
	noLeak(t, password, logs, string(out.CloudFormation), string(out.Response))

	// Lambda retries an invocation whose answer was lost: the same request
	// must give the same answer and leave one version.
	again, _ := run(t, "CustomResourceFunction", "custom-resource-create.json", nil, nil)
	if string(again.CloudFormation) != string(out.CloudFormation) {
		t.Fatalf("the retry answered\n%s\nnot\n%s", again.CloudFormation, out.CloudFormation)
	}
	versions, err := secretsClient(t, "us-east-1").ListSecretVersionIds(context.Background(),
		&secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(answer.PhysicalResourceId), IncludeDeprecated: aws.Bool(true)})
	if err != nil || len(versions.Versions) != 1 {
		t.Fatalf("versions after a retry: %+v, %v", versions, err)
	}
}

func TestCustomResourceCreateFailure(t *testing.T) {
	out, logs := run(t, "CustomResourceFunction", "custom-resource-create.json", nil, func(e map[string]any) {
		e["RequestId"] = "7a7a7a7a-0000-4000-8000-000000000001"
		e["ResourceProperties"].(map[string]any)["Name"] = "app/orders/postgres-AbC123"
	})
	var answer struct{ Status, Reason, PhysicalResourceId string }
	json.Unmarshal(out.CloudFormation, &answer)
	if answer.Status != "FAILED" || !strings.Contains(answer.Reason, "Name: must not end with a hyphen followed by six characters") ||
		answer.PhysicalResourceId != "7a7a7a7a-0000-4000-8000-000000000001" {
		t.Fatalf("CloudFormation got %s", out.CloudFormation)
	}
	if !strings.Contains(logs, `"level":"ERROR"`) {
		t.Fatalf("the failure is not in the log:\n%s", logs)
	}
}

// TestParametersReachTheFunction: a parameter override becomes the
// function's environment, here one its init rejects.
func TestParametersReachTheFunction(t *testing.T) {
	out, logs := run(t, "EventBridgeFunction", "eventbridge-request.json", map[string]string{"DefaultReplicaRegions": "Europe"}, nil)
	if out.InitError == nil || !strings.Contains(logs, "DEFAULT_REPLICA_REGIONS") {
		t.Fatalf("want an init failure naming DEFAULT_REPLICA_REGIONS, got %+v\n%s", out, logs)
	}
}

// TestMakeInvoke runs the README's command as a user would, with no
// Secrets Manager configured, so that it starts and stops its own moto.
func TestMakeInvoke(t *testing.T) {
	cmd := exec.Command("make", "-C", root, "--no-print-directory", "invoke")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("make invoke: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	// With PostgreSQL installed the default event is the live credential: a
	// user made in a throwaway server, which then logs in.
	wants := []string{`"Status": "SUCCESS"`, "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/orders/postgres-",
		`"engine": "postgres"`, `"password": "********"`, `"port": 5432`}
	if dbserver.PostgresInstalled() {
		wants = []string{`"Status": "SUCCESS"`, "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/orders/app-user-",
			`"engine": "postgres"`, `"password": "********"`, "provisioned-database-user=true",
			"logs in as orders_app to database orders", "SELECT from orders       allowed",
			"CREATE ROLE              refused", "the function did what the event asked"}
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("make invoke printed no %s:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr.String(), "started moto_server") {
		t.Errorf("make invoke did not start its own moto_server:\n%s", stderr.String())
	}
	if n := strings.Count(out, `"password"`); n != 1 {
		t.Errorf("%d password keys printed, want the one masked: %s", n, out)
	}
}

// TestMakeInvokeStops: make invoke, stopped mid-invocation (Ctrl-C, kill, a
// closed terminal: the signal to its process group), ends the invocation
// and stops the function. Secrets Manager here never answers, so the
// invocation is surely under way when the signal comes.
func TestMakeInvokeStops(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// A moto of its own: the interrupted requests hold the sample's
	// Idempotency-Key for the lease, which other tests use too.
	own, err := motoserver.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer own.Stop()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			bin := t.TempDir()
			cmd, output, done := startMake(t, append(withoutAWS(), "AWS_ENDPOINT_URL_SECRETS_MANAGER=http://"+silent.Addr().String(),
				"AWS_ENDPOINT_URL_DYNAMODB="+own.Endpoint, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test"),
				"invoke", "BIN="+bin, "FUNCTION=HttpApiFunction", "EVENT=events/http-api-create.json")
			bootstrap := filepath.Join(bin, "HttpApiFunction", "bootstrap")
			for deadline := time.Now().Add(60 * time.Second); !running(bootstrap); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					t.Fatalf("the function never started:\n%s", output.String())
				}
			}
			time.Sleep(500 * time.Millisecond) // the function is waiting on Secrets Manager
			syscall.Kill(-cmd.Process.Pid, sig)
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				t.Fatalf("make invoke did not stop on %s:\n%s", sig, output.String())
			}
			if !strings.Contains(output.String(), "invoke: interrupted") {
				t.Errorf("no word of the interruption:\n%s", output.String())
			}
			for deadline := time.Now().Add(5 * time.Second); running(bootstrap); time.Sleep(100 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the function still runs after %s", sig)
				}
			}
		})
	}
}

// startMake runs make with args in the project, in a process group of its
// own as a shell's job, with env; done receives its exit.
func startMake(t *testing.T, env []string, args ...string) (cmd *exec.Cmd, output *syncBuffer, done <-chan error) {
	t.Helper()
	cmd = exec.Command("make", append([]string{"-C", root, "--no-print-directory"}, args...)...)
	cmd.Env = env
	output = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = output, output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return cmd, output, exited
}
