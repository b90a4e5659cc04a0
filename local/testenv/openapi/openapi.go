// Package openapi checks HTTP exchanges against the HTTP API's OpenAPI
// document (functions/http-api/openapi.json): request bodies against the
// operation's schema, responses against the status, headers and body the
// document gives them. The schemas are checked by a standard JSON Schema
// 2020-12 validator, Python's jsonschema, which cfn-lint brings.
//
// It imports nothing of this module.
package openapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Document is the document's path from the project root.
const Document = "functions/http-api/openapi.json"

// Exchange is one request to the API and, when Status is set, its answer.
type Exchange struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"` // as requested: /secrets/app/orders/db
	Request *string           `json:"request,omitempty"`
	Status  int               `json:"status,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
}

// Check validates the exchanges against the document at path and returns
// what does not match, one line each.
func Check(path string, exchanges []Exchange) ([]string, error) {
	if len(exchanges) == 0 {
		return nil, nil
	}
	input, err := json.Marshal(map[string]any{"doc": path, "exchanges": exchanges})
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("python3", "-c", checker)
	cmd.Stdin = strings.NewReader(string(input))
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, fmt.Errorf("checking with python3: %v\n%s", err, exit.Stderr)
		}
		return nil, err
	}
	var problems []string
	if err := json.Unmarshal(out, &problems); err != nil {
		return nil, fmt.Errorf("the checker said %q: %v", out, err)
	}
	return problems, nil
}

// checker matches each exchange to its operation by method and path
// template (a method a route does not take to the document's
// MethodNotAllowed response, an unknown path to NotFound).
const checker = `
import json, sys
try:
    from jsonschema import Draft202012Validator
except ImportError:
    sys.exit("python3 has no jsonschema: pip install jsonschema (cfn-lint installs it)")

data = json.load(sys.stdin)
doc = json.load(open(data["doc"]))

def deref(o):
    while isinstance(o, dict) and "$ref" in o:
        cur = doc
        for part in o["$ref"][2:].split("/"):
            cur = cur[part]
        o = cur
    return o

def errors(schema, instance):
    root = dict(doc)
    root.update(schema)
    root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return ["%s at %s" % (e.message[:200], "/".join(str(p) for p in e.absolute_path)) for e in Draft202012Validator(root).iter_errors(instance)]

problems = []
for x in data["exchanges"]:
    path = x["path"]
    template = "/secrets" if path == "/secrets" else "/secrets/{name}" if path.startswith("/secrets/") else None
    item = doc["paths"].get(template) if template else None
    op = item.get(x["method"].lower()) if item else None
    where = "%s %s" % (x["method"], path)
    if x.get("request") is not None:
        if op is None or "requestBody" not in op:
            problems.append(where + ": the document has no request body for it")
        else:
            schema = deref(op["requestBody"])["content"]["application/json"]["schema"]
            try:
                body = json.loads(x["request"])
            except ValueError:
                body = None
            if body is not None:
                for e in errors(schema, body):
                    problems.append(where + " request: " + e)
    if not x.get("status"):
        continue
    where += " -> %d" % x["status"]
    if op is not None:
        response = op["responses"].get(str(x["status"]))
    elif item is not None and x["status"] == 405:
        response = {"$ref": "#/components/responses/MethodNotAllowed"}
    elif item is None and x["status"] == 404:
        response = {"$ref": "#/components/responses/NotFound"}
    else:
        response = None
    if response is None:
        problems.append(where + ": the document has no such response")
        continue
    response = deref(response)
    documented = {h.lower() for h in response.get("headers", {})} | {"content-type"}
    for h in (x.get("headers") or {}):
        if h.lower() not in documented:
            problems.append(where + ": header %s is not in the document" % h)
    for h in response.get("headers", {}):
        if h in ("Location", "Allow") and h.lower() not in {k.lower() for k in (x.get("headers") or {})}:
            problems.append(where + ": no %s header" % h)
    schema = response["content"]["application/json"]["schema"]
    try:
        body = json.loads(x.get("body") or "")
    except ValueError:
        problems.append(where + ": the body is not JSON")
        continue
    for e in errors(schema, body):
        problems.append(where + ": " + e)
print(json.dumps(problems))
`
