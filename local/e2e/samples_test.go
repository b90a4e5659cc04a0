package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sampleOutcomes is what each sample event does under make invoke, as the
// README's table says: the exit status and a line of what it prints.
var sampleOutcomes = map[string]struct {
	function string
	fails    bool
	prints   string
}{
	"custom-resource-create.json":                {"CustomResourceFunction", false, `"Status": "SUCCESS"`},
	"custom-resource-create-generated-name.json": {"CustomResourceFunction", false, `"Status": "SUCCESS"`},
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
			if (err != nil) != want.fails || !strings.Contains(out, want.prints) {
				t.Fatalf("make invoke EVENT=events/%s: error %v, want failure %v and %q in:\n%s", name, err, want.fails, want.prints, out)
			}
		})
	}
}

// TestReadmeInvokeExamples runs every make invoke line of the README.
func TestReadmeInvokeExamples(t *testing.T) {
	readme, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer readme.Close()
	bin := t.TempDir()
	examples := 0
	for scan := bufio.NewScanner(readme); scan.Scan(); {
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
				t.Fatalf("%s: %v\n%s", line, err, out)
			}
		})
	}
	if examples < 2 {
		t.Fatalf("found %d make invoke examples in the README", examples)
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
