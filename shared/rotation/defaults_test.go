package rotation

import (
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/shared/errcode"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsFromEnv(t *testing.T) {
	pg := "arn:aws:lambda:us-east-1:123456789012:function:SecretsManagerRDSPostgreSQLRotationSingleUser"
	d, err := DefaultsFromEnv(env(map[string]string{
		"ROTATION_FUNCTION_POSTGRESQL": pg,
		"ROTATION_FUNCTIONS_ALLOWED":   "arn:aws:lambda:us-east-1:123456789012:function:team-*, arn:aws:lambda:*:123456789012:function:rotate-?",
		"ROTATION_SCHEDULE":            "cron(0 2 ? * SUN *)",
		"ROTATION_WINDOW":              "3h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if d.FunctionFor("aurora-postgresql") != pg || d.FunctionFor("POSTGRES") != pg || d.FunctionFor("mysql") != "" {
		t.Errorf("functions by engine: %v", d.functions)
	}
	if d.Rules != (Rules{ScheduleExpression: "cron(0 2 ? * SUN *)", Duration: "3h"}) {
		t.Errorf("rules %+v", d.Rules)
	}
	for arn, want := range map[string]bool{
		pg: true,
		"arn:aws:lambda:us-east-1:123456789012:function:team-orders-rotation": true,
		"arn:aws:lambda:eu-west-1:123456789012:function:rotate-1":             true,
		"arn:aws:lambda:eu-west-1:123456789012:function:rotate-12":            false,
		"arn:aws:lambda:us-east-1:123456789012:function:other":                false,
		"arn:aws:lambda:us-east-1:999999999999:function:team-x":               false,
		pg + "-copy": false,
	} {
		if d.Allows(arn) != want {
			t.Errorf("Allows(%s) = %v, want %v", arn, !want, want)
		}
	}

	days, err := DefaultsFromEnv(env(map[string]string{"ROTATION_SCHEDULE": "30"}))
	if err != nil || days.Rules != (Rules{AutomaticallyAfterDays: 30}) {
		t.Errorf("a number of days: %+v, %v", days.Rules, err)
	}
	none, err := DefaultsFromEnv(env(nil))
	if err != nil || none.Rules != (Rules{}) || none.Allows(pg) {
		t.Errorf("no defaults: %+v, %v", none, err)
	}
}

func TestDefaultsFromEnvRefusesBrokenSettings(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		says string
	}{
		{map[string]string{"ROTATION_FUNCTION_MYSQL": "rotate-mysql"}, "ROTATION_FUNCTION_MYSQL"},
		{map[string]string{"ROTATION_FUNCTIONS_ALLOWED": "team-*"}, "ROTATION_FUNCTIONS_ALLOWED"},
		{map[string]string{"ROTATION_SCHEDULE": "0"}, "between 1 and 1000"},
		{map[string]string{"ROTATION_SCHEDULE": "rate(2 hours)"}, "from 4 to 23 hours"},
		{map[string]string{"ROTATION_WINDOW": "3h"}, "automaticallyAfterDays or scheduleExpression"},
		{map[string]string{"ROTATION_SCHEDULE": "rate(1 day)", "ROTATION_WINDOW": "25h"}, "1h to 24h"},
	} {
		_, err := DefaultsFromEnv(env(tc.env))
		if errcode.Of(err) != errcode.Internal || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%v: got %v, want an error saying %q", tc.env, err, tc.says)
		}
	}
}
