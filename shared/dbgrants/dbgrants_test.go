package dbgrants

import (
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/shared/errcode"
)

const (
	orders   = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-0a1b-AbCdEf"
	payments = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-9z8y-GhIjKl"
)

// policy is a platform team's: payments may make users in its own schema
// of the orders cluster's app database; every team may in a schema named
// after it on the payments cluster; one event source may on one database;
// stacks named orders-* anywhere on the orders cluster.
const policy = `[
 {"caller": "api:payments", "masterSecret": "` + orders + `", "databases": ["app"], "schemas": ["payments", "payments_audit"]},
 {"caller": "api:*", "masterSecret": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-9z8y-*", "databases": ["shared"], "schemas": ["{caller}"]},
 {"caller": "events:dbcreds.requests@111122223333", "masterSecret": "` + orders + `", "databases": ["analytics"]},
 {"caller": "stack:orders-*", "masterSecret": "` + orders + `", "databases": ["*"], "schemas": ["*"]}
]`

func TestAllow(t *testing.T) {
	p, err := Parse(policy)
	if err != nil {
		t.Fatal(err)
	}
	api := func(scope string) Caller { return Caller{Kind: KindAPI, Name: scope} }
	events := Caller{Kind: KindEvents, Name: "dbcreds.requests", Account: "111122223333"}
	for _, tt := range []struct {
		name  string
		ask   Ask
		field string // "" when allowed
	}{
		{"its own schema", Ask{api("payments"), orders, "app", []string{"payments"}}, ""},
		{"both of its schemas", Ask{api("payments"), orders, "app", []string{"payments_audit", "payments"}}, ""},
		{"another team's schema", Ask{api("payments"), orders, "app", []string{"payments", "hr"}}, "schemas[1]"},
		{"public, not granted", Ask{api("payments"), orders, "app", []string{"public"}}, "schemas[0]"},
		{"another database", Ask{api("payments"), orders, "postgres", []string{"payments"}}, "dbname"},
		{"another master secret", Ask{api("payments"), "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-ffff-MnOpQr", "app", []string{"payments"}}, "masterSecretArn"},
		{"a team not named", Ask{api("hr"), orders, "app", []string{"hr"}}, "masterSecretArn"},
		{"{caller}: its own name", Ask{api("hr"), payments, "shared", []string{"hr"}}, ""},
		{"{caller}: not another's", Ask{api("hr"), payments, "shared", []string{"payments"}}, "schemas[0]"},
		{"{caller} is no wildcard", Ask{api("hr"), payments, "shared", []string{"hrx"}}, "schemas[0]"},
		{"the scope none", Ask{api(""), payments, "shared", []string{""}}, "schemas[0]"},
		{"MySQL: the database only", Ask{events, orders, "analytics", nil}, ""},
		{"events: no schema granted", Ask{events, orders, "analytics", []string{"public"}}, "schemas[0]"},
		{"events from another account", Ask{Caller{Kind: KindEvents, Name: "dbcreds.requests", Account: "444455556666"}, orders, "analytics", nil}, "createDatabaseUser"},
		{"events from another source", Ask{Caller{Kind: KindEvents, Name: "evil", Account: "111122223333"}, orders, "analytics", nil}, "createDatabaseUser"},
		{"a stack by its name", Ask{Caller{Kind: KindStack, Name: "orders-prod"}, orders, "app", []string{"hr"}}, ""},
		{"a stack of another name", Ask{Caller{Kind: KindStack, Name: "hr-prod"}, orders, "app", []string{"hr"}}, "createDatabaseUser"},
		{"a kind is no name", Ask{Caller{Kind: KindAPI, Name: "orders-prod"}, orders, "app", []string{"hr"}}, "masterSecretArn"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Allow(tt.ask)
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.field != "" && (errcode.Of(err) != errcode.Forbidden || errcode.FieldOf(err) != tt.field):
				t.Fatalf("got %v, want forbidden %s", err, tt.field)
			case tt.field != "" && !strings.Contains(err.Error(), tt.ask.Caller.String()):
				t.Fatalf("%v does not name the caller as grants do", err)
			}
		})
	}
}

// TestClosedByDefault: no grant, no user, for every kind of caller.
func TestClosedByDefault(t *testing.T) {
	for _, text := range []string{"", "  ", "[]"} {
		p, err := Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []Caller{{Kind: KindAPI}, {Kind: KindAPI, Name: "payments"}, {Kind: KindEvents, Name: "s", Account: "1"}, {Kind: KindStack, Name: "x"}} {
			if err := p.AllowsCaller(c, orders); errcode.FieldOf(err) != "createDatabaseUser" {
				t.Fatalf("%q lets %s: %v", text, c, err)
			}
			if err := p.Allow(Ask{Caller: c, MasterSecretARN: orders, Database: "app"}); errcode.FieldOf(err) != "createDatabaseUser" {
				t.Fatalf("%q lets %s: %v", text, c, err)
			}
		}
	}
}

func TestAllowsCaller(t *testing.T) {
	p, _ := Parse(policy)
	if err := p.AllowsCaller(Caller{Kind: KindAPI, Name: "payments"}, orders); err != nil {
		t.Fatal(err)
	}
	if err := p.AllowsCaller(Caller{Kind: KindAPI, Name: "payments"}, "arn:aws:secretsmanager:eu-west-1:111122223333:secret:other-AbCdEf"); errcode.FieldOf(err) != "masterSecretArn" {
		t.Fatalf("got %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{`{"caller": "api:x"}`, "JSON array"},
		{`[{"caller": "api:x", "masterSecret": "*", "databases": ["d"], "role": "admin"}]`, "unknown field"},
		{`[{"caller": "x", "masterSecret": "*", "databases": ["d"]}]`, "api:, events: or stack:"},
		{`[{"caller": "*", "masterSecret": "*", "databases": ["d"]}]`, "api:, events: or stack:"},
		{`[{"caller": "api:x", "masterSecret": "rds!*", "databases": ["d"]}]`, "secret ARN"},
		{`[{"caller": "api:x", "masterSecret": "*"}]`, "databases"},
		{`[{"caller": "api:x", "masterSecret": "*", "databases": [""]}]`, "empty"},
		{`[] []`, "one JSON array"},
	} {
		if _, err := Parse(tt.text); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), EnvGrants) {
			t.Errorf("%s: got %v, want %q", tt.text, err, tt.want)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"a*", "a", true},
		{"a*c", "abc", true},
		{"a*c", "ab", false},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "acb", false},
		{"ab", "abc", false},
		{"abc", "ABC", false},
		{"*c", "abcc", true},
		{"a*a", "a", false},
	} {
		if got := match(tt.pattern, tt.s); got != tt.want {
			t.Errorf("match(%q, %q) = %v", tt.pattern, tt.s, got)
		}
	}
}

func TestAllowsMaster(t *testing.T) {
	p, _ := Parse(policy)
	// A grant to make users is no grant to name the master for any user.
	for _, c := range []Caller{{Kind: KindAPI, Name: "payments"}, {Kind: KindAPI, Name: "hr"}, {Kind: KindEvents, Name: "other", Account: "111122223333"}} {
		if err := p.AllowsMaster(c, orders); errcode.Of(err) != errcode.Forbidden || errcode.FieldOf(err) != "masterSecretArn" || !strings.Contains(err.Error(), "anyUser") {
			t.Fatalf("%s: %v", c, err)
		}
	}
	any, err := Parse(`[{"caller": "api:dba", "masterSecret": "` + orders + `", "databases": ["*"], "anyUser": true}]`)
	if err != nil {
		t.Fatal(err)
	}
	if err := any.AllowsMaster(Caller{Kind: KindAPI, Name: "dba"}, orders); err != nil {
		t.Fatal(err)
	}
	if err := any.AllowsMaster(Caller{Kind: KindAPI, Name: "payments"}, orders); errcode.Of(err) != errcode.Forbidden {
		t.Fatalf("another caller: %v", err)
	}
}
