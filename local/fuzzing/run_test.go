// Package fuzzing holds run.sh, which make fuzz runs, and its test.
package fuzzing

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv"
)

// fakeGo stands in for go test -fuzz: per target name, it crashes (and
// writes a reproducer, as go test does), flakes like the coordinator
// (golang/go#75804), flakes once then passes, or passes. It records every
// run in calls.
const fakeGo = `#!/usr/bin/env bash
name=$5; name=${name#^}; name=${name%$}
pkg=${@: -1}
echo "$name" >> "$CALLS"
case "$name" in
FuzzCrash) mkdir -p "$pkg/testdata/fuzz/$name"; echo 'go test fuzz v1' > "$pkg/testdata/fuzz/$name/0123abcd"; echo "--- FAIL: $name"; exit 1 ;;
FuzzFlaky) echo "fuzz: elapsed: 4s, execs: 100"; echo "context deadline exceeded"; exit 1 ;;
FuzzOnce) if [ -e "$pkg/once" ]; then exit 0; fi; touch "$pkg/once"; echo "context deadline exceeded"; exit 1 ;;
FuzzBroken) echo "./x.go:1: undefined: y"; exit 1 ;;
*) exit 0 ;;
esac
`

func run(t *testing.T, targets ...string) (string, []string, string, error) {
	t.Helper()
	dir := t.TempDir()
	goBin := filepath.Join(dir, "go")
	if err := os.WriteFile(goBin, []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(dir, "pkg")
	os.Mkdir(pkg, 0o755)
	calls := filepath.Join(dir, "calls")
	args := []string{"run.sh", "1s"}
	for _, target := range targets {
		args = append(args, pkg+":"+target)
	}
	cmd := exec.Command("bash", args...)
	cmd.Env = append(os.Environ(), "GO="+goBin, "CALLS="+calls)
	out, err := cmd.CombinedOutput()
	ran, _ := os.ReadFile(calls)
	return string(out), strings.Fields(string(ran)), pkg, err
}

func TestRun(t *testing.T) {
	testenv.Integration(t, "bash and the Go toolchain's fuzzer")
	tests := []struct {
		name    string
		targets []string
		fails   bool
		ran     string
		says    string
	}{
		{"all pass", []string{"FuzzA", "FuzzB"}, false, "FuzzA FuzzB", ""},
		{"a crash fails, the rest still run", []string{"FuzzCrash", "FuzzB"}, true, "FuzzCrash FuzzB", "reproducer kept"},
		{"a coordinator flake is tried again, then passed over", []string{"FuzzFlaky", "FuzzB"}, false, "FuzzFlaky FuzzFlaky FuzzB", "golang/go#75804"},
		{"a flake that passes on the second try", []string{"FuzzOnce", "FuzzB"}, false, "FuzzOnce FuzzOnce FuzzB", "trying FuzzOnce again"},
		{"a build failure fails", []string{"FuzzBroken", "FuzzB"}, true, "FuzzBroken FuzzB", "undefined: y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ran, pkg, err := run(t, tt.targets...)
			if (err != nil) != tt.fails || strings.Join(ran, " ") != tt.ran || !strings.Contains(out, tt.says) {
				t.Fatalf("error %v, ran %v, output:\n%s", err, ran, out)
			}
			if tt.targets[0] == "FuzzCrash" {
				if _, err := os.Stat(filepath.Join(pkg, "testdata/fuzz/FuzzCrash/0123abcd")); err != nil {
					t.Fatalf("the reproducer is gone: %v", err)
				}
			}
		})
	}
}
