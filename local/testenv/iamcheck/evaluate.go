package iamcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// Request is one authorization IAM performs: a principal's action on a
// resource, with the request's condition keys.
type Request struct {
	Action   string         `json:"action"`
	Resource string         `json:"resource"`
	Context  map[string]any `json:"context"` // a string or a list of strings per key
	// ResourcePolicy is the resource's own policy, when IAM reads one (a
	// KMS key's key policy).
	ResourcePolicy map[string]any `json:"resourcePolicy,omitempty"`
	// Why says where the authorization comes from, for a reader of a
	// failure: the call and the documentation that says AWS checks it.
	Why string `json:"why"`
}

// Decision is the evaluator's answer for one request.
type Decision struct {
	Result    string   `json:"result"` // Allowed, ImplicitlyDenied, ExplicitlyDenied, Error
	AllowedBy []string `json:"allowedBy"`
	DeniedBy  []string `json:"deniedBy"`
	Ignored   []string `json:"ignored"` // context keys the action does not take
	// NearMisses are the statements that failed to allow a denied request:
	// their action and resource matched, these conditions did not.
	NearMisses []string `json:"nearMisses"`
	Error      string   `json:"error"`
}

// Allowed reports whether IAM allows the request.
func (d Decision) Allowed() bool { return d.Result == "Allowed" }

// dir is this package's folder, where evaluate.mjs and its node_modules
// are.
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

var install sync.Once
var installErr error

// ensureEvaluator installs the pinned evaluator (npm ci, from the lockfile)
// once when it is not there. Test binaries of several packages may ask at
// once: a lock file keeps one npm at a time in the folder.
func ensureEvaluator() error {
	install.Do(func() {
		lock, err := os.OpenFile(filepath.Join(os.TempDir(), "dbcreds-iamcheck-npm.lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			installErr = err
			return
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			installErr = err
			return
		}
		defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		if _, err := os.Stat(filepath.Join(dir(), "node_modules", "@cloud-copilot", "iam-simulate", "package.json")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--silent")
		cmd.Dir = dir()
		if out, err := cmd.CombinedOutput(); err != nil {
			installErr = fmt.Errorf("npm ci in %s: %v\n%s", dir(), err, out)
		}
	})
	return installErr
}

// Evaluate asks @cloud-copilot/iam-simulate whether role may make each
// request, in one run of node.
func Evaluate(role Role, requests []Request) ([]Decision, error) {
	if err := ensureEvaluator(); err != nil {
		return nil, err
	}
	type simulation struct {
		ID         int            `json:"id"`
		Simulation map[string]any `json:"simulation"`
	}
	identity := make([]any, len(role.Policies))
	for i, p := range role.Policies {
		identity[i] = map[string]any{"name": p.Name, "policy": carried(p.Document)}
	}
	sims := make([]simulation, len(requests))
	for i, r := range requests {
		s := map[string]any{
			"identityPolicies":        identity,
			"serviceControlPolicies":  []any{},
			"resourceControlPolicies": []any{},
			"request": map[string]any{
				"action":    r.Action,
				"principal": role.ARN,
				"resource":  map[string]any{"resource": r.Resource, "accountId": accountOf(r.Resource)},
				"contextVariables": func() map[string]any {
					// AWS sets aws:PrincipalArn on every request: the role's
					// ARN for a role's session.
					ctx := map[string]any{"aws:PrincipalArn": role.ARN}
					for k, v := range r.Context {
						ctx[carriedKey(k)] = v
					}
					return ctx
				}(),
			},
		}
		if role.Boundary != nil {
			s["permissionBoundaryPolicies"] = []any{map[string]any{"name": role.Boundary.Name, "policy": carried(role.Boundary.Document)}}
		}
		if r.ResourcePolicy != nil {
			s["resourcePolicy"] = carried(r.ResourcePolicy)
		}
		sims[i] = simulation{ID: i, Simulation: s}
	}
	in, err := json.Marshal(sims)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("node", filepath.Join(dir(), "evaluate.mjs"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("node evaluate.mjs: %v\n%s", err, stderr.String())
	}
	var got []struct {
		ID int `json:"id"`
		Decision
	}
	if err := json.Unmarshal(out, &got); err != nil {
		return nil, err
	}
	decisions := make([]Decision, len(requests))
	for _, g := range got {
		decisions[g.ID] = g.Decision
	}
	return decisions, nil
}

// accountOf is the account an ARN names; this stack's when it names none
// (S3, IAM's own policies).
func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[4] != "" {
		return parts[4]
	}
	return AccountID
}

// Describe is a request in a line, for failures: the action, the resource
// and its condition keys, sorted.
func (r Request) Describe() string {
	keys := make([]string, 0, len(r.Context))
	for k := range r.Context {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s", r.Action, r.Resource)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, r.Context[k])
	}
	return b.String()
}

// The evaluator takes variable condition keys only in the form
// prefix/Variable (aws:ResourceTag/Name): KMS's kms:EncryptionContext:Key
// would be ignored, and a condition on it could never match. Such a key is
// carried, in the policies and in the request alike, as a variable key the
// evaluator knows for every action, with the same name after its slash, so
// that a condition on it is evaluated as AWS evaluates it.
const carrier = "aws:RequestTag/"

func carriedKey(k string) string {
	if len(k) > len("kms:EncryptionContext:") && strings.EqualFold(k[:len("kms:EncryptionContext:")], "kms:EncryptionContext:") {
		return carrier + k
	}
	return k
}

// carried is a policy document with its condition keys carried.
func carried(doc map[string]any) map[string]any {
	raw, _ := json.Marshal(doc)
	var out map[string]any
	json.Unmarshal(raw, &out)
	var statements []any
	switch st := out["Statement"].(type) {
	case []any:
		statements = st
	case map[string]any:
		statements = []any{st}
	}
	for _, s := range statements {
		m, _ := s.(map[string]any)
		conditions, _ := m["Condition"].(map[string]any)
		for op, block := range conditions {
			keys, _ := block.(map[string]any)
			next := map[string]any{}
			for k, v := range keys {
				next[carriedKey(k)] = v
			}
			conditions[op] = next
		}
	}
	return out
}
