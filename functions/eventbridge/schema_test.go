package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv"
	"github.com/dbcreds/provisioner/shared/provision"
)

const schemaFile = "database-secret-requested.schema.json"

// TestSchemaNamesEveryField: the published schema and the request model
// name the same fields, so neither can drift from the other.
func TestSchemaNamesEveryField(t *testing.T) {
	var schema struct {
		Defs struct {
			Request struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"request"`
		} `json:"$defs"`
	}
	raw, err := os.ReadFile(filepath.Join(testenv.Root(t), "events", schemaFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	var inSchema, inModel []string
	for name := range schema.Defs.Request.Properties {
		inSchema = append(inSchema, name)
	}
	rt := reflect.TypeFor[provision.Request]()
	for i := 0; i < rt.NumField(); i++ {
		if name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			inModel = append(inModel, name)
		}
	}
	sort.Strings(inSchema)
	sort.Strings(inModel)
	if !reflect.DeepEqual(inSchema, inModel) {
		t.Fatalf("the schema names\n%v\nthe request model\n%v", inSchema, inModel)
	}
}

// TestSchemaAgainstEvents validates events with a standard JSON Schema
// validator (Python's jsonschema, which cfn-lint brings): the sample event
// passes, and events the handler refuses fail.
func TestSchemaAgainstEvents(t *testing.T) {
	testenv.Integration(t, "Python's jsonschema")
	root := testenv.Root(t)
	sample, _ := os.ReadFile(filepath.Join(root, "events", "eventbridge-request.json"))
	invalid, _ := os.ReadFile(filepath.Join(root, "events", "eventbridge-request-invalid.json"))
	edit := func(change func(detail map[string]any)) string {
		var e map[string]any
		json.Unmarshal(sample, &e)
		change(e["detail"].(map[string]any))
		b, _ := json.Marshal(e)
		return string(b)
	}
	cases := []struct {
		name  string
		event string
		valid bool
	}{
		{"the sample event", string(sample), true},
		{"numbers and booleans as strings", edit(func(d map[string]any) { d["port"] = "5439"; d["ssl"] = "true" }), true},
		{"tags as an object", edit(func(d map[string]any) { d["tags"] = map[string]any{"team": "analytics"} }), true},
		{"the invalid sample event", string(invalid), false},
		{"no name", edit(func(d map[string]any) { delete(d, "name") }), false},
		{"an unknown field", edit(func(d map[string]any) { d["colour"] = "blue" }), false},
		{"an unknown engine", edit(func(d map[string]any) { d["engine"] = "cassandra" }), false},
		{"a bad Region", edit(func(d map[string]any) { d["replicaRegions"] = []any{"Europe"} }), false},
		{"a reserved tag", edit(func(d map[string]any) { d["tags"] = []any{map[string]any{"key": "aws:x", "value": "y"}} }), false},
	}
	var instances []json.RawMessage
	for _, c := range cases {
		instances = append(instances, json.RawMessage(c.event))
	}
	input, _ := json.Marshal(map[string]any{"schema": filepath.Join(root, "events", schemaFile), "instances": instances})
	cmd := exec.Command("python3", "-c", `
import json, sys
try:
    import jsonschema
except ImportError:
    sys.exit("python3 has no jsonschema: pip install jsonschema (cfn-lint installs it)")
data = json.load(sys.stdin)
schema = json.load(open(data["schema"]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
print(json.dumps([not list(validator.iter_errors(i)) for i in data["instances"]]))
`)
	cmd.Stdin = strings.NewReader(string(input))
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("validating with python3: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var valid []bool
	if err := json.Unmarshal(out, &valid); err != nil || len(valid) != len(cases) {
		t.Fatalf("validator said %q: %v", out, err)
	}
	for i, c := range cases {
		if valid[i] != c.valid {
			t.Errorf("%s: valid %v, want %v", c.name, valid[i], c.valid)
		}
	}
}
