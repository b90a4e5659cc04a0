// Package samtemplate reads what a local run needs from the SAM template:
// the functions and the environment, timeout and memory each one gets, with
// parameters resolved to their defaults or to overrides, as sam local
// invoke does.
//
// It imports nothing of this module.
package samtemplate

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Function is one AWS::Serverless::Function as a local run sees it.
type Function struct {
	LogicalID   string
	Environment map[string]string
	Timeout     time.Duration
	MemoryMB    int
	Handler     string
	Runtime     string
	BuildMethod string
}

// Template is a parsed SAM template.
type Template struct {
	parameters     map[string]string // defaults
	parameterNodes map[string]*yaml.Node
	globals        *yaml.Node // Globals.Function, or nil
	resources      map[string]*yaml.Node
}

// Load reads a template file.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty template", path)
	}
	doc := root.Content[0]
	t := &Template{parameters: map[string]string{}, resources: map[string]*yaml.Node{}, parameterNodes: Mapping(Get(doc, "Parameters"))}
	for name, p := range t.parameterNodes {
		if d := Get(p, "Default"); d != nil {
			t.parameters[name] = d.Value
		}
	}
	t.globals = Get(Get(doc, "Globals"), "Function")
	t.resources = Mapping(Get(doc, "Resources"))
	return t, nil
}

// ParameterDefault is a parameter's default value, or "".
func (t *Template) ParameterDefault(name string) string { return t.parameters[name] }

// Functions lists the logical ids of the template's functions, sorted.
func (t *Template) Functions() []string { return t.ofType("AWS::Serverless::Function") }

// Tables lists the logical ids of the template's DynamoDB tables, sorted.
func (t *Template) Tables() []string { return t.ofType("AWS::DynamoDB::Table") }

// ScheduleGroups are the template's EventBridge Scheduler schedule groups.
func (t *Template) ScheduleGroups() []string { return t.ofType("AWS::Scheduler::ScheduleGroup") }

func (t *Template) ofType(typ string) []string {
	var ids []string
	for id, r := range t.resources {
		if Scalar(Get(r, "Type")) == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// TablePartitionKey is the (string) partition key of a table.
func (t *Template) TablePartitionKey(id string) string {
	for _, k := range Get(Get(t.resources[id], "Properties"), "KeySchema").Content {
		if Scalar(Get(k, "KeyType")) == "HASH" {
			return Scalar(Get(k, "AttributeName"))
		}
	}
	return ""
}

// TableName is the name a local run gives a table: its logical id, which
// is what sam local resolves a Ref to it to. (CloudFormation would make one
// of the stack's name, the logical id and a random suffix.)
func TableName(id string) string { return id }

// RouteKeys lists the HTTP API route keys (like "ANY /secrets/{name+}") of
// the functions' HttpApi events, as sam local start-api reads them, and of
// API Gateway v2 routes, sorted and once each.
func (t *Template) RouteKeys() []string {
	seen := map[string]bool{}
	for _, r := range t.resources {
		switch Scalar(Get(r, "Type")) {
		case "AWS::ApiGatewayV2::Route":
			if key := Scalar(Get(Get(r, "Properties"), "RouteKey")); key != "" {
				seen[key] = true
			}
		case "AWS::Serverless::Function":
			for _, event := range Mapping(Get(Get(r, "Properties"), "Events")) {
				if Scalar(Get(event, "Type")) == "HttpApi" {
					props := Get(event, "Properties")
					seen[strings.ToUpper(Scalar(Get(props, "Method")))+" "+Scalar(Get(props, "Path"))] = true
				}
			}
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Function resolves one function. overrides replace parameter defaults;
// pseudo holds pseudo parameters such as AWS::Region.
func (t *Template) Function(id string, overrides, pseudo map[string]string) (Function, error) {
	r, ok := t.resources[id]
	if !ok || Scalar(Get(r, "Type")) != "AWS::Serverless::Function" {
		return Function{}, fmt.Errorf("the template has no function %q; it has %s", id, strings.Join(t.Functions(), ", "))
	}
	params := map[string]string{}
	for k, v := range t.parameters {
		params[k] = v
	}
	for k, v := range overrides {
		if _, known := t.parameters[k]; !known {
			return Function{}, fmt.Errorf("parameter override %q: the template has no such parameter", k)
		}
		params[k] = v
	}
	for k, v := range pseudo {
		params[k] = v
	}
	// A Ref to a resource (a table's name, a queue's URL, a role's name)
	// is locally its logical id, as the SAM CLI resolves it
	// (intrinsics_symbol_table.py, "Ref": lambda logical_id: logical_id).
	for id := range t.resources {
		if _, param := params[id]; !param {
			params[id] = id
		}
	}
	f := Function{LogicalID: id, Environment: map[string]string{}, Timeout: 3 * time.Second, MemoryMB: 128,
		BuildMethod: Scalar(Get(Get(r, "Metadata"), "BuildMethod"))}
	props := Get(r, "Properties")
	for _, source := range []*yaml.Node{t.globals, props} { // the function's own settings win
		for name, v := range Mapping(Get(Get(source, "Environment"), "Variables")) {
			value, err := resolve(v, params)
			if err != nil {
				return Function{}, fmt.Errorf("%s environment %s: %w", id, name, err)
			}
			f.Environment[name] = value
		}
		if v := Get(source, "Timeout"); v != nil {
			seconds, err := strconv.Atoi(v.Value)
			if err != nil {
				return Function{}, fmt.Errorf("%s Timeout %q: %w", id, v.Value, err)
			}
			f.Timeout = time.Duration(seconds) * time.Second
		}
		if v := Get(source, "MemorySize"); v != nil {
			var err error
			if f.MemoryMB, err = strconv.Atoi(v.Value); err != nil {
				return Function{}, fmt.Errorf("%s MemorySize %q: %w", id, v.Value, err)
			}
		}
		if v := Get(source, "Handler"); v != nil {
			f.Handler = v.Value
		}
		if v := Get(source, "Runtime"); v != nil {
			f.Runtime = v.Value
		}
		if format := Scalar(Get(Get(source, "LoggingConfig"), "LogFormat")); format != "" {
			f.Environment["AWS_LAMBDA_LOG_FORMAT"] = format
		}
	}
	return f, nil
}

// resolve turns a value into a string: a plain scalar, or a Ref (!Ref X or
// {Ref: X}) to a parameter or pseudo parameter. Other intrinsics cannot be
// resolved without AWS, so they are an error rather than a wrong guess.
func resolve(v *yaml.Node, params map[string]string) (string, error) {
	ref := ""
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!Ref":
		ref = v.Value
	case v.Kind == yaml.ScalarNode && (v.Tag == "" || strings.HasPrefix(v.Tag, "!!")):
		return v.Value, nil
	case v.Kind == yaml.MappingNode && len(v.Content) == 2 && v.Content[0].Value == "Ref":
		ref = v.Content[1].Value
	default:
		return "", fmt.Errorf("only plain values and Ref can be resolved locally")
	}
	value, ok := params[ref]
	if !ok {
		return "", fmt.Errorf("Ref %s: no such parameter, or it has no default and no override", ref)
	}
	return value, nil
}

// ParseOverrides reads sam's --parameter-overrides form: Key=Value pairs
// separated by spaces, values optionally in double quotes.
func ParseOverrides(s string) (map[string]string, error) {
	out := map[string]string{}
	s = strings.TrimSpace(s)
	for s != "" {
		key, rest, ok := strings.Cut(s, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \"") {
			return nil, fmt.Errorf("parameter overrides: want Key=Value, got %q", s)
		}
		var value string
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`)
			if end < 0 {
				return nil, fmt.Errorf("parameter overrides: unterminated quote in %q", rest)
			}
			value, rest = rest[1:end+1], rest[end+2:]
		} else {
			value, rest, _ = strings.Cut(rest, " ")
		}
		out[key] = value
		s = strings.TrimSpace(rest)
	}
	return out, nil
}

// Get is the value of key in mapping n, or nil.
func Get(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Mapping is n's keys and values; empty when n is no mapping.
func Mapping(n *yaml.Node) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n == nil || n.Kind != yaml.MappingNode {
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		out[n.Content[i].Value] = n.Content[i+1]
	}
	return out
}

// Scalar is n's value when n is a scalar, else "".
func Scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}
