package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/emulate/samtemplate"
)

// The README's HTTP API examples, run against the local API: each curl line
// answers the status its comment says, the deployed-stack commands (curl's
// own SigV4) and the AWS SDK for JavaScript v3 example complete.

// shellBlocks are the section's sh code blocks.
func shellBlocks(section string) []string { return codeBlocks(section, "sh") }

var expected = regexp.MustCompile(`^# (\d{3})\b`)

func TestReadmeHttpApiExamples(t *testing.T) {
	var base string
	ran := 0
	for _, block := range shellBlocks(docText(t, "functions/http-api/README.md")) {
		if strings.Contains(block, "--aws-sigv4") {
			continue // TestReadmeDeployedStackCalls
		}
		var command []string
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(line, "make api"):
				params, _, _ := strings.Cut(strings.TrimPrefix(line, "make api"), "#")
				overrides := map[string]string{}
				if p := strings.TrimSpace(params); p != "" {
					var err error
					if overrides, err = samtemplate.ParseOverrides(strings.Trim(strings.TrimPrefix(p, "PARAMETERS="), "'")); err != nil {
						t.Fatal(err)
					}
				}
				base, _ = api(t, overrides)
			case strings.HasPrefix(line, "curl") || len(command) > 0 && strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "#"):
				command = append(command, line)
			case expected.MatchString(line) && len(command) > 0:
				want := expected.FindStringSubmatch(line)[1]
				cmd := strings.ReplaceAll(strings.Join(command, "\n"), "localhost:3000", strings.TrimPrefix(base, "http://"))
				cmd = strings.ReplaceAll(cmd, "app/orders/mysql", "app/orders/mysql_readme")
				out, err := exec.Command("bash", "-c", `curl() { command curl -s -o /dev/null -w '%{http_code}' "$@"; }`+"\n"+cmd).Output()
				if err != nil || string(out) != want {
					t.Errorf("%s\nanswered %q (%v), the README says %s", cmd, out, err, want)
				}
				command = nil
				ran++
			default:
				command = nil
			}
		}
	}
	if ran < 7 {
		t.Fatalf("ran %d of the README's curl examples; it has at least 7", ran)
	}
}

// TestReadmeDeployedStackCalls runs every deployed-stack example of the
// docs (curl's own SigV4) against the local API: aws cloudformation
// describe-stacks, and API_URL, answer with its URL.
func TestReadmeDeployedStackCalls(t *testing.T) {
	base, _ := api(t, nil)
	ran := 0
	for name, text := range allDocs(t) {
		for i, block := range shellBlocks(text) {
			if !strings.Contains(block, "--aws-sigv4") {
				continue
			}
			secret := fmt.Sprintf("app/orders/mysql_sigv4_%d_%s", i, strings.NewReplacer("/", "_", ".", "_").Replace(name))
			script := "set -e\naws() { echo '" + base + "/'; }\n" + strings.ReplaceAll(block, "app/orders/mysql", secret)
			cmd := exec.Command("bash", "-c", script)
			cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret", "AWS_SESSION_TOKEN=token", "API_URL="+base+"/")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), `"name":"`+secret+`"`) {
				t.Errorf("%s: the curl --aws-sigv4 commands: %v\n%s", name, err, out)
			}
			ran++
		}
	}
	if ran < 2 {
		t.Fatalf("ran %d deployed-stack examples; the README and the HTTP API's page have one each", ran)
	}
}

func TestJavaScriptExample(t *testing.T) {
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatal("npm is needed for the AWS SDK for JavaScript v3 example")
	}
	dir := filepath.Join(root, "functions", "http-api", "examples")
	if out, err := exec.Command("npm", "ci", "--prefix", dir, "--no-audit", "--no-fund", "--silent").CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	base, _ := api(t, nil)
	cmd := exec.Command("node", filepath.Join(dir, "call-api.mjs"))
	cmd.Env = append(os.Environ(), "API_URL="+base+"/", "AWS_REGION=us-east-1", "SECRET_NAME=app/orders/mysql_js",
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret", "AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull)
	out, err := cmd.CombinedOutput()
	for _, want := range []string{"POST /secrets 201 arn:aws:secretsmanager:", "GET 200 app/orders/mysql_js", "DELETE 202 "} {
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("node call-api.mjs: %v, want %q in:\n%s", err, want, out)
		}
	}
}
