package iamcheck

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
)

// The stack the roles are resolved for: its account, Region and name.
const (
	AccountID = "123456789012"
	Region    = "us-east-1"
	StackName = "dbcreds"
)

// Policy is a named IAM policy document.
type Policy struct {
	Name     string         `json:"name"`
	Document map[string]any `json:"policy"`
}

// Role is what IAM evaluates for a function: its identity policies and its
// permissions boundary (none when nil).
type Role struct {
	Function string
	ARN      string
	Policies []Policy
	Boundary *Policy
}

// Template is the SAM-translated template, as CloudFormation receives it
// after the transform: the roles SAM makes for the functions, with the
// template's own intrinsics still in them.
type Template struct {
	Parameters map[string]struct {
		Default any
	}
	Conditions map[string]any
	Resources  map[string]struct {
		Type       string
		Condition  string
		Properties map[string]any
	}
}

// translate prints the template transformed by aws-sam-translator, as
// cfn-lint (and sam deploy's transform) does it.
const translate = `
import json, sys
from cfnlint.decode import decode_str
from cfnlint.template.transforms._sam import Transform
path = sys.argv[1]
tpl, matches = decode_str(open(path).read())
if matches:
    sys.exit("decode: %s" % matches)
t = Transform(path, tpl, "us-east-1")
matches = t.transform_template()
if matches:
    sys.exit("transform: %s" % matches)
print(json.dumps(t._template, default=str))
`

// Translate runs aws-sam-translator over the template at path.
func Translate(path string) (*Template, error) {
	out, err := exec.Command("python3", "-c", translate, path).Output()
	if err != nil {
		if e, ok := err.(*exec.ExitError); ok {
			return nil, fmt.Errorf("translating %s: %v\n%s", path, err, e.Stderr)
		}
		return nil, fmt.Errorf("translating %s: %v", path, err)
	}
	var t Template
	if err := json.Unmarshal(out, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// awsManaged are the AWS managed policies SAM attaches, as AWS publishes
// them (IAM console, policy versions of 2024): they grant logs, X-Ray and
// network interfaces, nothing of Secrets Manager, KMS, DynamoDB, RDS or
// Lambda, and are here so that no statement of the roles goes unevaluated.
var awsManaged = map[string]map[string]any{
	"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": statements(
		allow([]string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}, "*")),
	"arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": statements(
		allow([]string{"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"}, "*")),
	"arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole": statements(
		allow([]string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
			"ec2:DescribeSubnets", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}, "*")),
}

func allow(actions []string, resource string) map[string]any {
	return map[string]any{"Effect": "Allow", "Action": actions, "Resource": resource}
}

func statements(s ...map[string]any) map[string]any {
	list := make([]any, len(s))
	for i := range s {
		list[i] = s[i]
	}
	return map[string]any{"Version": "2012-10-17", "Statement": list}
}

// Roles resolves every function's role for the parameters (the template's
// defaults, then params). boundaries holds the documents of permissions
// boundaries by ARN: a role whose boundary is not there is an error.
func (t *Template) Roles(params map[string]string, boundaries map[string]map[string]any) (map[string]Role, error) {
	r, err := t.resolver(params)
	if err != nil {
		return nil, err
	}
	roles := map[string]Role{}
	for id, res := range t.Resources {
		if res.Type != "AWS::IAM::Role" || !strings.HasSuffix(id, "Role") {
			continue
		}
		function := strings.TrimSuffix(id, "Role")
		if fn, ok := t.Resources[function]; !ok || fn.Type != "AWS::Lambda::Function" {
			continue
		}
		role := Role{Function: function, ARN: "arn:aws:iam::" + AccountID + ":role/" + StackName + "-" + id}
		props, err := r.value(res.Properties)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		p := props.(map[string]any)
		arns, _ := p["ManagedPolicyArns"].([]any)
		for _, a := range arns {
			arn, _ := a.(string)
			if doc, ok := awsManaged[arn]; ok {
				role.Policies = append(role.Policies, Policy{Name: arn[strings.LastIndex(arn, "/")+1:], Document: doc})
				continue
			}
			own, ok := r.managed[arn]
			if !ok {
				return nil, fmt.Errorf("%s: managed policy %s is neither the template's nor one of AWS's known here", id, arn)
			}
			doc, err := r.value(t.Resources[own].Properties["PolicyDocument"])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", own, err)
			}
			role.Policies = append(role.Policies, Policy{Name: own, Document: doc.(map[string]any)})
		}
		inline, _ := p["Policies"].([]any)
		for _, in := range inline {
			m := in.(map[string]any)
			role.Policies = append(role.Policies, Policy{Name: fmt.Sprint(m["PolicyName"]), Document: m["PolicyDocument"].(map[string]any)})
		}
		if b, ok := p["PermissionsBoundary"].(string); ok {
			doc, ok := boundaries[b]
			if !ok {
				return nil, fmt.Errorf("%s: no document for the permissions boundary %s", id, b)
			}
			role.Boundary = &Policy{Name: "boundary", Document: doc}
		}
		sort.Slice(role.Policies, func(i, j int) bool { return role.Policies[i].Name < role.Policies[j].Name })
		roles[function] = role
	}
	if len(roles) == 0 {
		return nil, fmt.Errorf("the template has no function roles")
	}
	return roles, nil
}

// resolver evaluates the template's intrinsics for one parameter set.
type resolver struct {
	t          *Template
	params     map[string]any // parameter values: a string, or a list for List<> types
	conditions map[string]bool
	managed    map[string]string // the ARN a Ref to one of the template's managed policies gives, to its logical id
}

func (t *Template) resolver(overrides map[string]string) (*resolver, error) {
	r := &resolver{t: t, params: map[string]any{
		"AWS::AccountId": AccountID, "AWS::Region": Region, "AWS::Partition": "aws", "AWS::StackName": StackName,
		"AWS::URLSuffix": "amazonaws.com", "AWS::StackId": "arn:aws:cloudformation:" + Region + ":" + AccountID + ":stack/" + StackName + "/1",
	}, conditions: map[string]bool{}, managed: map[string]string{}}
	for name, p := range t.Parameters {
		r.params[name] = fmt.Sprint(p.Default)
		if p.Default == nil {
			r.params[name] = ""
		}
	}
	for k, v := range overrides {
		if _, ok := t.Parameters[k]; !ok {
			return nil, fmt.Errorf("parameter %q: the template has none", k)
		}
		r.params[k] = v
	}
	for id, res := range t.Resources {
		switch res.Type {
		case "AWS::IAM::ManagedPolicy":
			arn := "arn:aws:iam::" + AccountID + ":policy/" + StackName + "-" + id
			r.params[id] = arn
			r.managed[arn] = id
		case "AWS::DynamoDB::Table", "AWS::Scheduler::ScheduleGroup", "AWS::IAM::Role":
			r.params[id] = id // locally, a table's, group's or role's name is its logical id (as sam local has it)
		default:
			r.params[id] = StackName + "-" + id
		}
	}
	for name := range t.Conditions {
		if _, err := r.condition(name); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *resolver) condition(name string) (bool, error) {
	if v, ok := r.conditions[name]; ok {
		return v, nil
	}
	expr, ok := r.t.Conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %q", name)
	}
	v, err := r.truth(expr)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	r.conditions[name] = v
	return v, nil
}

func (r *resolver) truth(expr any) (bool, error) {
	m, ok := expr.(map[string]any)
	if !ok || len(m) != 1 {
		return false, fmt.Errorf("not a condition: %v", expr)
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Condition":
			return r.condition(fmt.Sprint(arg))
		case "Fn::Not":
			v, err := r.truth(args[0])
			return !v, err
		case "Fn::And", "Fn::Or":
			all := fn == "Fn::And"
			for _, a := range args {
				v, err := r.truth(a)
				if err != nil {
					return false, err
				}
				if v != all {
					return v, nil
				}
			}
			return all, nil
		case "Fn::Equals":
			a, err := r.value(args[0])
			if err != nil {
				return false, err
			}
			b, err := r.value(args[1])
			if err != nil {
				return false, err
			}
			return fmt.Sprint(a) == fmt.Sprint(b), nil
		}
		return false, fmt.Errorf("unknown condition function %s", fn)
	}
	return false, nil
}

// noValue stands for AWS::NoValue until the list or map holding it drops it.
type noValue struct{}

// value resolves v's intrinsics.
func (r *resolver) value(v any) (any, error) {
	switch x := v.(type) {
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			y, err := r.value(e)
			if err != nil {
				return nil, err
			}
			if _, none := y.(noValue); !none {
				out = append(out, y)
			}
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for fn, arg := range x {
				if fn == "Ref" || strings.HasPrefix(fn, "Fn::") {
					return r.intrinsic(fn, arg)
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			y, err := r.value(e)
			if err != nil {
				return nil, err
			}
			if _, none := y.(noValue); !none {
				out[k] = y
			}
		}
		return out, nil
	}
	return v, nil
}

func (r *resolver) intrinsic(fn string, arg any) (any, error) {
	args, _ := arg.([]any)
	switch fn {
	case "Ref":
		name := fmt.Sprint(arg)
		if name == "AWS::NoValue" {
			return noValue{}, nil
		}
		v, ok := r.params[name]
		if !ok {
			return nil, fmt.Errorf("Ref %s: unknown", name)
		}
		return v, nil
	case "Fn::If":
		c, err := r.condition(fmt.Sprint(args[0]))
		if err != nil {
			return nil, err
		}
		if c {
			return r.value(args[1])
		}
		return r.value(args[2])
	case "Fn::Sub":
		text, vars := "", map[string]any{}
		if s, ok := arg.(string); ok {
			text = s
		} else {
			text = fmt.Sprint(args[0])
			if m, ok := args[1].(map[string]any); ok {
				for k, e := range m {
					y, err := r.value(e)
					if err != nil {
						return nil, err
					}
					vars[k] = y
				}
			}
		}
		return r.sub(text, vars)
	case "Fn::GetAtt":
		var id, attr string
		if len(args) == 2 {
			id, attr = fmt.Sprint(args[0]), fmt.Sprint(args[1])
		} else {
			id, attr, _ = strings.Cut(fmt.Sprint(arg), ".")
		}
		return r.getAtt(id, attr)
	case "Fn::Split":
		s, err := r.value(args[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(fmt.Sprint(s), fmt.Sprint(args[0])) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Join":
		list, err := r.value(args[1])
		if err != nil {
			return nil, err
		}
		var parts []string
		for _, p := range list.([]any) {
			parts = append(parts, fmt.Sprint(p))
		}
		return strings.Join(parts, fmt.Sprint(args[0])), nil
	case "Fn::Select":
		list, err := r.value(args[1])
		if err != nil {
			return nil, err
		}
		var i int
		fmt.Sscan(fmt.Sprint(args[0]), &i)
		return list.([]any)[i], nil
	}
	return nil, fmt.Errorf("%s: not resolved here", fn)
}

func (r *resolver) getAtt(id, attr string) (any, error) {
	res, ok := r.t.Resources[id]
	if !ok {
		return nil, fmt.Errorf("GetAtt %s.%s: no such resource", id, attr)
	}
	switch {
	case res.Type == "AWS::DynamoDB::Table" && attr == "Arn":
		return "arn:aws:dynamodb:" + Region + ":" + AccountID + ":table/" + id, nil
	case res.Type == "AWS::SQS::Queue" && attr == "Arn":
		return "arn:aws:sqs:" + Region + ":" + AccountID + ":" + StackName + "-" + id, nil
	case res.Type == "AWS::IAM::Role" && attr == "Arn":
		return "arn:aws:iam::" + AccountID + ":role/" + id, nil
	case res.Type == "AWS::Scheduler::ScheduleGroup" && attr == "Arn":
		return "arn:aws:scheduler:" + Region + ":" + AccountID + ":schedule-group/" + id, nil
	case res.Type == "AWS::Lambda::Function" && attr == "Arn":
		return "arn:aws:lambda:" + Region + ":" + AccountID + ":function:" + StackName + "-" + id, nil
	}
	return "arn:aws:unknown:" + Region + ":" + AccountID + ":" + id + "/" + attr, nil
}

// sub replaces ${Name} and ${Resource.Attr}; ${!x} is a literal ${x}.
func (r *resolver) sub(text string, vars map[string]any) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(text, "${")
		if i < 0 {
			b.WriteString(text)
			return b.String(), nil
		}
		b.WriteString(text[:i])
		end := strings.IndexByte(text[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("Sub %q: unterminated", text)
		}
		name := text[i+2 : i+end]
		text = text[i+end+1:]
		switch {
		case strings.HasPrefix(name, "!"):
			b.WriteString("${" + name[1:] + "}")
		case vars[name] != nil:
			b.WriteString(fmt.Sprint(vars[name]))
		case strings.Contains(name, ".") && !strings.HasPrefix(name, "AWS::"):
			id, attr, _ := strings.Cut(name, ".")
			v, err := r.getAtt(id, attr)
			if err != nil {
				return "", err
			}
			b.WriteString(fmt.Sprint(v))
		default:
			v, ok := r.params[name]
			if !ok {
				return "", fmt.Errorf("Sub ${%s}: unknown", name)
			}
			b.WriteString(fmt.Sprint(v))
		}
	}
}

// Resolved is one resource's properties with the template's intrinsics
// resolved under the parameters (defaults, then params): the documents of
// a role or policy that is not a function's.
func (t *Template) Resolved(id string, params map[string]string) (map[string]any, error) {
	r, err := t.resolver(params)
	if err != nil {
		return nil, err
	}
	res, ok := t.Resources[id]
	if !ok {
		return nil, fmt.Errorf("the template has no resource %s", id)
	}
	v, err := r.value(res.Properties)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	m, _ := v.(map[string]any)
	return m, nil
}
