package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPythonPeerWorks keeps make bench's comparison honest: the Python peer
// in the repo must do the job, through the same Runtime API and receiver.
func TestPythonPeerWorks(t *testing.T) {
	python, err := exec.Command("python3", "-c", "import sys, boto3; print(sys.executable)").Output()
	if err != nil {
		t.Fatal("python3 with boto3 is needed (moto brings boto3): pip install boto3")
	}
	handler, _ := filepath.Abs(filepath.Join(root, "local", "bench", "pythonpeer", "handler.py"))
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	script := "#!/bin/sh\nexec " + strings.TrimSpace(string(python)) + " " + handler + "\n"
	if err := os.WriteFile(bootstrap, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := invokeWith(t, bootstrap, "custom-resource-create.json", func(e map[string]any) {
		e["RequestId"] = "99999999-0000-4000-8000-000000000001"
		e["ResourceProperties"].(map[string]any)["Name"] = "app/e2e/python-peer"
	})
	if err != nil {
		t.Fatal(err)
	}
	a := answerOf(t, out)
	if a.Status != "SUCCESS" || !strings.HasPrefix(a.PhysicalResourceId, "arn:aws:secretsmanager:us-east-1:") {
		t.Fatalf("the peer answered %+v", a)
	}
	secret, _ := storedSecret(t, "us-east-1", a.PhysicalResourceId)
	if secret["engine"] != "postgres" || len(secret["password"].(string)) != 32 {
		t.Fatalf("the peer stored %v", secret)
	}
}
