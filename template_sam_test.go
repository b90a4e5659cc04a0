package template

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv"
)

// apiRoutes are the routes the HTTP API function serves.
var apiRoutes = []string{"ANY /secrets", "ANY /secrets/{name+}"}

// translate prints the template transformed by aws-sam-translator, with
// parameter defaults replaced as the second argument says.
const translate = `
import json, sys
from cfnlint.decode import decode_str
from cfnlint.template.transforms._sam import Transform
path, params = sys.argv[1], json.loads(sys.argv[2])
tpl, matches = decode_str(open(path).read())
if matches:
    sys.exit("decode: %s" % matches)
for k, v in params.items():
    tpl["Parameters"][k]["Default"] = v
t = Transform(path, tpl, "us-east-1")
matches = t.transform_template()
if matches:
    sys.exit("transform: %s" % matches)
print(json.dumps(t._template, default=str))
`

// TestDeployedAPIsNeverAcceptAnonymousCallers translates the template with
// aws-sam-translator (through cfn-lint, as sam deploy's transform would),
// with and without the JWT option, and checks that every route of every
// API requires IAM (SigV4) or a JWT; and that nothing a deployed function
// gets makes it take a request without an identity for a local caller.
func TestDeployedAPIsNeverAcceptAnonymousCallers(t *testing.T) {
	testenv.Integration(t, "Python's SAM translator")
	for name, params := range map[string]string{
		"IAM": `{}`,
		"JWT": `{"JwtIssuer": "https://issuer.example.com/", "JwtAudience": "dbcreds"}`,
	} {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command("python3", "-c", translate, "template.yaml", params).CombinedOutput()
			if err != nil {
				t.Fatalf("translating: %v\n%s", err, out)
			}
			var tpl struct {
				Resources map[string]struct {
					Type       string
					Condition  string
					Properties map[string]any
				}
			}
			if err := json.Unmarshal(out, &tpl); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			operations, roles := 0, 0
			for id, r := range tpl.Resources {
				switch r.Type {
				case "AWS::ApiGatewayV2::Api":
					body, _ := r.Properties["Body"].(map[string]any)
					if body == nil {
						continue
					}
					schemes, _ := dig(body, "components", "securitySchemes").(map[string]any)
					paths, _ := body["paths"].(map[string]any)
					for path, item := range paths {
						for method, op := range item.(map[string]any) {
							security, _ := op.(map[string]any)["security"].([]any)
							if len(security) == 0 {
								t.Errorf("%s %s %s needs no authorization", id, method, path)
							}
							for _, s := range security {
								for scheme := range s.(map[string]any) {
									if kind := dig(schemes, scheme, "x-amazon-apigateway-authtype"); kind != "awsSigv4" && dig(schemes, scheme, "type") != "oauth2" {
										t.Errorf("%s %s %s: scheme %s is neither IAM nor JWT", id, method, path, scheme)
									}
								}
							}
							operations++
						}
					}
				case "AWS::ApiGatewayV2::Route":
					if name == "IAM" && r.Condition == "UseJwt" {
						continue
					}
					if at := r.Properties["AuthorizationType"]; at != "AWS_IAM" && (at != "JWT" || r.Properties["AuthorizerId"] == nil) {
						t.Errorf("route %s has authorization %v", id, at)
					}
					operations++
				case "AWS::IAM::Role":
					if id == "RotationHealthFunctionRole" || id == "ExpirySchedulerRole" {
						continue // it describes secrets, and rotates none; the Scheduler's invokes the provisioner only
					}
					// SAM carries the conditional rotation policy through to
					// every provisioning function's role.
					arns, _ := json.Marshal(r.Properties["ManagedPolicyArns"])
					if !strings.Contains(string(arns), `{"Fn::If":["HasRotationFunctions",{"Ref":"InvokeRotationFunctionsPolicy"},{"Ref":"AWS::NoValue"}]}`) {
						t.Errorf("role %s cannot invoke the rotation functions: %s", id, arns)
					}
					roles++
				case "AWS::Serverless::Function", "AWS::Lambda::Function":
					vars, _ := dig(r.Properties, "Environment", "Variables").(map[string]any)
					if _, set := vars["AWS_SAM_LOCAL"]; set {
						t.Errorf("%s sets AWS_SAM_LOCAL: it would take anonymous requests for LOCAL_CALLER's", id)
					}
					if v, set := vars["LOCAL_CALLER"]; set && v != "" {
						t.Errorf("%s gives LOCAL_CALLER the value %v; it must be empty when deployed", id, v)
					}
				}
			}
			if want := map[string]int{"IAM": len(apiRoutes), "JWT": 2 * len(apiRoutes)}[name]; operations != want {
				t.Fatalf("checked %d routes, want %d", operations, want)
			}
			if roles != 3 {
				t.Fatalf("checked %d function roles, want 3", roles)
			}
		})
	}
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestReadmeStacksPassCfnLint: the README's example stacks are templates a
// user can deploy as they are.
func TestReadmeStacksPassCfnLint(t *testing.T) {
	testenv.Integration(t, "cfn-lint")
	docs, _ := filepath.Glob("docs/*.md")
	pages, _ := filepath.Glob("functions/*/README.md")
	var blocks []string
	for _, name := range append(append([]string{"README.md"}, docs...), pages...) {
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, strings.Split(string(text), "```yaml\nAWSTemplateFormatVersion")[1:]...)
	}
	if len(blocks) < 2 {
		t.Fatalf("found %d example stacks; the docs have the custom resource's and rotation's", len(blocks))
	}
	for i, b := range blocks {
		stack, _, _ := strings.Cut(b, "```")
		path := filepath.Join(t.TempDir(), fmt.Sprintf("stack%d.yaml", i))
		if err := os.WriteFile(path, []byte("AWSTemplateFormatVersion"+stack), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cfn-lint", path).CombinedOutput(); err != nil {
			t.Errorf("example stack %d: %v\n%s", i+1, err, out)
		}
	}
}
