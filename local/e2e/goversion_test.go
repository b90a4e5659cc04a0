package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestOneGoVersion: go.mod says which Go the project needs, and the README
// and CI say the same, nowhere another.
func TestOneGoVersion(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(read("go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	want := m[1]
	mentions := regexp.MustCompile(`Go (\d+\.\d+)`)
	for _, name := range []string{"README.md", ".ci/run", "Makefile"} {
		for _, got := range mentions.FindAllStringSubmatch(read(name), -1) {
			if got[1] != want && got[1] != "1.21" { // 1.21: the first Go that fetches go.mod's toolchain
				t.Errorf("%s says Go %s; go.mod says %s", name, got[1], want)
			}
		}
	}
	if !regexp.MustCompile(`Go ` + regexp.QuoteMeta(want) + ` or later`).MatchString(read("README.md")) {
		t.Errorf("the README does not say Go %s or later", want)
	}
}
