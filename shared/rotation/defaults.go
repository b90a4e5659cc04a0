package rotation

import (
	"strconv"
	"strings"

	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// Environment variables of a deployment's rotation defaults, set by the
// template from its parameters.
const (
	// EnvFunctionPrefix + a family (POSTGRESQL, MYSQL, ...) is the rotation
	// function that family's secrets get when a request names none.
	EnvFunctionPrefix = "ROTATION_FUNCTION_"
	// EnvAllowed lists, comma-separated, further functions a request may
	// name: ARNs, with * and ? as in IAM.
	EnvAllowed = "ROTATION_FUNCTIONS_ALLOWED"
	// EnvSchedule is the default schedule: a number of days or a rate() or
	// cron() expression; EnvWindow its window, like 3h.
	EnvSchedule = "ROTATION_SCHEDULE"
	EnvWindow   = "ROTATION_WINDOW"
)

// Families are the engine families with a rotation function of AWS's own
// (the Serverless Application Repository's SecretsManager* applications),
// and the engines of each.
var Families = []struct {
	Name    string // as in EnvFunctionPrefix + Name
	Engines []string
}{
	{"POSTGRESQL", []string{"postgres", "aurora-postgresql"}},
	{"MYSQL", []string{"mysql", "aurora-mysql"}},
	{"MARIADB", []string{"mariadb"}},
	{"ORACLE", []string{"oracle"}},
	{"SQLSERVER", []string{"sqlserver"}},
	{"DB2", []string{"db2"}},
	{"REDSHIFT", []string{"redshift"}},
	{"MONGODB", []string{"mongo"}},
}

// Defaults are a deployment's rotation settings.
type Defaults struct {
	functions map[string]string // engine (lower case) -> function ARN
	allowed   []string          // ARN patterns
	Rules     Rules             // may be empty: requests must then give rules
}

// DefaultsFromEnv reads the defaults; getenv is os.Getenv outside tests.
// A value that breaks a rule stops the function at start-up, naming the
// variable, rather than failing every request.
func DefaultsFromEnv(getenv func(string) string) (Defaults, error) {
	d := Defaults{functions: map[string]string{}}
	for _, f := range Families {
		arn := strings.TrimSpace(getenv(EnvFunctionPrefix + f.Name))
		if arn == "" {
			continue
		}
		if _, ok := awsname.ParseFunctionARN(arn); !ok {
			return d, errcode.New(errcode.Internal, "%s%s %s: must be a Lambda function ARN", EnvFunctionPrefix, f.Name, errcode.Quote(arn))
		}
		for _, e := range f.Engines {
			d.functions[e] = arn
		}
	}
	for _, p := range strings.Split(getenv(EnvAllowed), ",") {
		if p = strings.TrimSpace(p); p != "" {
			if !strings.HasPrefix(p, "arn:") {
				return d, errcode.New(errcode.Internal, "%s %s: each must be a Lambda function ARN, wildcards allowed", EnvAllowed, errcode.Quote(p))
			}
			d.allowed = append(d.allowed, p)
		}
	}
	schedule, window := strings.TrimSpace(getenv(EnvSchedule)), strings.TrimSpace(getenv(EnvWindow))
	if days, err := strconv.Atoi(schedule); err == nil {
		d.Rules.AutomaticallyAfterDays = days
		if days == 0 {
			d.Rules.AutomaticallyAfterDays = -1 // refused below, not taken for "none"
		}
	} else {
		d.Rules.ScheduleExpression = schedule
	}
	d.Rules.Duration = window
	if d.Rules == (Rules{}) {
		return d, nil
	}
	if err := d.Rules.Check(""); err != nil {
		return d, errcode.New(errcode.Internal, "%s/%s: %s", EnvSchedule, EnvWindow, err.Error())
	}
	return d, nil
}

// FunctionFor is the deployment's rotation function for engine, or "".
func (d Defaults) FunctionFor(engine string) string {
	return d.functions[strings.ToLower(engine)]
}

// Allows reports whether a request may name arn: it is a family's default
// or matches an allowed pattern. IAM (lambda:InvokeFunction, scoped by the
// same parameters) would refuse the others, later and less clearly.
func (d Defaults) Allows(arn string) bool {
	for _, f := range d.functions {
		if f == arn {
			return true
		}
	}
	for _, p := range d.allowed {
		if wildcardMatch(p, arn) {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against an IAM resource pattern: * is any run of
// characters, ? any one.
func wildcardMatch(pattern, s string) bool {
	star, mark := -1, 0
	i, j := 0, 0
	for j < len(s) {
		switch {
		case i < len(pattern) && (pattern[i] == '?' || pattern[i] == s[j]):
			i++
			j++
		case i < len(pattern) && pattern[i] == '*':
			star, mark = i, j
			i++
		case star >= 0:
			i = star + 1
			mark++
			j = mark
		default:
			return false
		}
	}
	for i < len(pattern) && pattern[i] == '*' {
		i++
	}
	return i == len(pattern)
}
