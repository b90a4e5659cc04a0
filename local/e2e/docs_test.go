package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/provision"
)

// The documentation's examples are run by the tests wherever they stand:
// the README, CONTRIBUTING.md, docs/ and each function's README.

// docFiles are the documentation's Markdown files, from the module root.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "CONTRIBUTING.md"}
	for _, pattern := range []string{"docs/*.md", "functions/*/README.md"} {
		matches, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range matches {
			rel, _ := filepath.Rel(root, m)
			files = append(files, rel)
		}
	}
	return files
}

// docText is one documentation file's text.
func docText(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// allDocs is every documentation file's text, each with its name.
func allDocs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range docFiles(t) {
		out[f] = docText(t, f)
	}
	return out
}

// codeBlocks are the text's code blocks of a language.
func codeBlocks(text, lang string) []string {
	var blocks []string
	for _, part := range strings.Split(text, "```"+lang+"\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		blocks = append(blocks, block)
	}
	return blocks
}

// TestDocsEventExamples publishes every put-events example of the docs to
// the EventBridge function's real bootstrap: each makes its secret.
func TestDocsEventExamples(t *testing.T) {
	ran := 0
	for name, text := range allDocs(t) {
		for _, block := range codeBlocks(text, "sh") {
			_, rest, ok := strings.Cut(block, "aws events put-events --entries '")
			if !ok {
				continue
			}
			entriesJSON, _, _ := strings.Cut(rest, "'")
			var entries []struct{ Source, DetailType, Detail string }
			if err := json.Unmarshal([]byte(entriesJSON), &entries); err != nil || len(entries) == 0 {
				t.Fatalf("%s: the put-events entries do not read: %v", name, err)
			}
			for i, e := range entries {
				var detail map[string]any
				if err := json.Unmarshal([]byte(e.Detail), &detail); err != nil {
					t.Fatalf("%s: the detail does not read: %v", name, err)
				}
				detail["name"] = fmt.Sprintf("%v_%s_%d", detail["name"], strings.NewReplacer("/", "_", ".", "_").Replace(name), i)
				_, errType, msg, _ := deliver(t, "eventbridge-request.json", func(ev map[string]any) {
					ev["id"], ev["source"], ev["detail-type"], ev["detail"] = fmt.Sprintf("docs-%s-%d", name, i), e.Source, e.DetailType, detail
				}, nil)
				if errType != "" {
					t.Errorf("%s: %s %s", name, errType, msg)
				}
				ran++
			}
		}
	}
	if ran < 2 {
		t.Fatalf("published %d examples; the README and the events page have one each", ran)
	}
}

// TestDocsResourceFragments decodes every Custom::DatabaseSecret resource
// of the docs' YAML, whole stacks and fragments alike, with the custom
// resource's own rules: no property a stack could not send.
func TestDocsResourceFragments(t *testing.T) {
	found := 0
	for name, text := range allDocs(t) {
		for _, block := range codeBlocks(text, "yaml") {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var walk func(n *yaml.Node)
			walk = func(n *yaml.Node) {
				if n.Kind == yaml.MappingNode && valueOf(n, "Type") != nil && strings.HasPrefix(valueOf(n, "Type").Value, "Custom::") {
					properties, _ := json.Marshal(placeholders(valueOf(n, "Properties")))
					var r provision.Request
					err := props.DecodeFields(properties, &r, func(key string) bool {
						return !strings.EqualFold(key, "ServiceToken") && !strings.EqualFold(key, "RecoveryWindowInDays") && !strings.EqualFold(key, "ForceDeleteWithoutRecovery")
					})
					if err != nil {
						t.Errorf("%s: a Custom::DatabaseSecret the function refuses: %v", name, err)
					}
					found++
				}
				for _, c := range n.Content {
					walk(c)
				}
			}
			walk(&doc)
		}
	}
	if found < 3 {
		t.Fatalf("found %d Custom::DatabaseSecret resources in the docs", found)
	}
}

// placeholders is n as CloudFormation sends it, every intrinsic resolved
// to a string of the kind its property takes.
func placeholders(n *yaml.Node) any {
	intrinsic := func(n *yaml.Node) bool { return strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") }
	switch {
	case n == nil:
		return map[string]any{}
	case n.Kind == yaml.MappingNode && !intrinsic(n):
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, v := n.Content[i].Value, n.Content[i+1]
			if intrinsic(v) && strings.Contains(key, "Port") {
				m[key] = "5432"
				continue
			}
			m[key] = placeholders(v)
		}
		return m
	case n.Kind == yaml.SequenceNode && !intrinsic(n):
		var l []any
		for _, c := range n.Content {
			l = append(l, placeholders(c))
		}
		return l
	case intrinsic(n):
		return "resolved-by-cloudformation"
	}
	return n.Value
}
