package e2e

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestArchitectureChoice: the template's Architecture parameter and the
// Makefile's build-<LogicalId> targets (as sam build runs them, with
// ARTIFACTS_DIR and the ARCHITECTURE the user sets) agree on each choice
// and on the default.
func TestArchitectureChoice(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Parameters map[string]struct {
			Default       string   `yaml:"Default"`
			AllowedValues []string `yaml:"AllowedValues"`
		} `yaml:"Parameters"`
		Globals struct {
			Function struct {
				Architectures yaml.Node `yaml:"Architectures"`
			} `yaml:"Function"`
		} `yaml:"Globals"`
	}
	if err := yaml.Unmarshal(data, &tpl); err != nil {
		t.Fatal(err)
	}
	param := tpl.Parameters["Architecture"]
	archs := tpl.Globals.Function.Architectures
	if param.Default != "arm64" || strings.Join(param.AllowedValues, ",") != "arm64,x86_64" ||
		len(archs.Content) != 1 || archs.Content[0].Tag != "!Ref" || archs.Content[0].Value != "Architecture" {
		t.Fatalf("Architecture parameter %+v, functions' Architectures %v", param, archs.Content)
	}
	for _, tt := range []struct {
		setting string
		machine elf.Machine
	}{
		{"", elf.EM_AARCH64}, // the template's default
		{"arm64", elf.EM_AARCH64},
		{"x86_64", elf.EM_X86_64},
	} {
		t.Run("ARCHITECTURE="+tt.setting, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command("make", "--no-print-directory", "build-EventBridgeFunction")
			cmd.Dir = root
			cmd.Env = append(withoutAWS(), "ARTIFACTS_DIR="+dir)
			if tt.setting != "" {
				cmd.Env = append(cmd.Env, "ARCHITECTURE="+tt.setting)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			f, err := elf.Open(filepath.Join(dir, "bootstrap"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != tt.machine {
				t.Fatalf("built for %v, want %v", f.Machine, tt.machine)
			}
		})
	}
	cmd := exec.Command("make", "--no-print-directory", "build-EventBridgeFunction", "ARTIFACTS_DIR="+t.TempDir(), "ARCHITECTURE=aarch64")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "must be arm64 or x86_64") {
		t.Fatalf("ARCHITECTURE=aarch64: %v\n%s", err, out)
	}
}
