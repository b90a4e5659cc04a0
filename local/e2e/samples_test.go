package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// sampleOutcomes is what each sample event does under make invoke, as the
// README's table says: whether the function refuses it, and a line of what
// it prints. make invoke exits 0 either way: a refusal is the function's
// answer, not a failure of the command.
var sampleOutcomes = map[string]struct {
	function string
	fails    bool
	prints   string
}{
	"custom-resource-create.json":                {"CustomResourceFunction", false, `"Status": "SUCCESS"`},
	"custom-resource-create-generated-name.json": {"CustomResourceFunction", false, `"Status": "SUCCESS"`},
	"custom-resource-create-database-user.json":  {"CustomResourceFunction", false, "logs in as orders_app to database orders\n   SELECT from orders       allowed"},
	"custom-resource-create-invalid.json":        {"CustomResourceFunction", true, `"Status": "FAILED"`},
	"custom-resource-create-oversized.json":      {"CustomResourceFunction", true, `(5009 bytes in all)`},
	"custom-resource-update.json":                {"CustomResourceFunction", false, `"Status": "SUCCESS"`},
	"custom-resource-update-replace.json":        {"CustomResourceFunction", false, `== stored secret app/orders/postgres-v2`},
	"custom-resource-delete.json":                {"CustomResourceFunction", false, `scheduled for deletion on`},
	"custom-resource-delete-placeholder.json":    {"CustomResourceFunction", false, `"Status": "SUCCESS"`},
	"http-api-create.json":                       {"HttpApiFunction", false, `"statusCode": 201`},
	"http-api-create-jwt.json":                   {"HttpApiFunction", false, `"statusCode": 201`},
	"http-api-get.json":                          {"HttpApiFunction", false, `"statusCode": 200`},
	"http-api-delete.json":                       {"HttpApiFunction", false, `"statusCode": 202`},
	"eventbridge-request.json":                   {"EventBridgeFunction", false, `== stored secret app/analytics/redshift`},
	"eventbridge-request-invalid.json":           {"EventBridgeFunction", true, `Permanent.invalid`},
	"secretsmanager-rotation-failed.json":        {"RotationHealthFunction", false, `"RotationFailed":1`},
}

// TestEverySampleEvent runs every sample event in events/ with make invoke,
// each on a fresh local Secrets Manager, as a user trying them one by one
// would: each does what the README says.
func TestEverySampleEvent(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, file := range files {
		name := filepath.Base(file)
		if strings.HasSuffix(name, ".schema.json") {
			continue
		}
		want, ok := sampleOutcomes[name]
		if !ok {
			t.Errorf("%s: a sample event this test does not know; say what it does here and in the README", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			out, err := makeInvoke(t, bin, "FUNCTION="+want.function, "EVENT=events/"+name)
			outcome := "== outcome: the function did what the event asked"
			if want.fails {
				outcome = "== outcome: the function refused the request"
			}
			if err != nil || !strings.Contains(out, want.prints) || !strings.Contains(out, outcome) || strings.Contains(out, "make: ***") {
				t.Fatalf("make invoke EVENT=events/%s: error %v, want %q and %q in:\n%s", name, err, outcome, want.prints, out)
			}
		})
	}
}

// TestReadmeInvokeExamples runs every make invoke line of the docs.
func TestReadmeInvokeExamples(t *testing.T) {
	bin := t.TempDir()
	examples := 0
	for _, name := range docFiles(t) {
		for scan := bufio.NewScanner(strings.NewReader(docText(t, name))); scan.Scan(); {
			line, _, _ := strings.Cut(scan.Text(), "#")
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "make invoke") {
				continue
			}
			examples++
			t.Run(line, func(t *testing.T) {
				args, err := splitShell(strings.TrimPrefix(line, "make invoke"))
				if err != nil {
					t.Fatal(err)
				}
				if out, err := makeInvoke(t, bin, args...); err != nil {
					t.Fatalf("%s (%s): %v\n%s", line, name, err, out)
				}
			})
		}
	}
	if examples < 2 {
		t.Fatalf("found %d make invoke examples in the docs", examples)
	}
}

func makeInvoke(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-C", root, "--no-print-directory", "invoke", "BIN=" + bin}, args...)...)
	cmd.Env = withoutAWS()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// splitShell splits words as sh does for the README's lines: spaces
// separate, single quotes keep everything, double quotes keep spaces.
func splitShell(s string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, os.ErrInvalid
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

// TestMakeMotoKeepsWhatRunsMake: with make moto running, make invoke uses
// its Secrets Manager, and the secret stays there to read with the aws
// command the run prints; Ctrl-C stops make moto cleanly, and the next run
// starts a moto of its own again.
func TestMakeMotoKeepsWhatRunsMake(t *testing.T) {
	bin := t.TempDir()
	moto := exec.Command("make", "-C", root, "--no-print-directory", "moto", "BIN="+bin)
	moto.Env = withoutAWS()
	var motoOut strings.Builder
	moto.Stdout, moto.Stderr = &motoOut, &motoOut
	// A group of its own, to be stopped as a terminal's Ctrl-C stops it
	// (the pseudo-terminal tests of make api cover the terminal itself).
	moto.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := moto.Start(); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(bin, "moto-endpoint")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(state); err == nil {
			break
		}
		if time.Now().After(deadline) {
			moto.Process.Kill()
			t.Fatalf("make moto recorded no endpoint:\n%s", motoOut.String())
		}
	}
	out, err := makeInvoke(t, bin)
	if err != nil || !strings.Contains(out, "== using the local Secrets Manager make moto keeps at") {
		moto.Process.Kill()
		t.Fatalf("make invoke with make moto running: %v\n%s", err, out)
	}
	_, command, _ := strings.Cut(out, "== read it back: ")
	command, _, _ = strings.Cut(command, "\n")
	// The printed command, with aws standing in as the SDK, reads it back.
	endpoint := regexp.MustCompile(`--endpoint-url (\S+)`).FindStringSubmatch(command)
	id := regexp.MustCompile(`--secret-id '([^']+)'`).FindStringSubmatch(command)
	if endpoint == nil || id == nil {
		moto.Process.Kill()
		t.Fatalf("no read-back command in:\n%s", out)
	}
	client := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint[1]),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	if _, err := client.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id[1])}); err != nil {
		moto.Process.Kill()
		t.Fatalf("the secret did not stay in make moto's Secrets Manager: %v", err)
	}
	if !strings.Contains(out, "== tags and replicas applied") || !strings.Contains(out, "provisioned-via=cloudformation") {
		t.Errorf("the custom-resource view shows no tags and replicas:\n%s", out)
	}
	syscall.Kill(-moto.Process.Pid, syscall.SIGINT)
	moto.Wait()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(state); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("make moto left its state file after Ctrl-C:\n%s", motoOut.String())
		}
	}
	if out, err := makeInvoke(t, bin); err != nil || !strings.Contains(out, "== started moto_server at") {
		t.Fatalf("make invoke after make moto stopped: %v\n%s", err, out)
	}
}
