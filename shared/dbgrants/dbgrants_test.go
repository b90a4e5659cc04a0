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
		{"its own schema", Ask{api("payments"), orders, "app", []string{"payments"}, "", nil}, ""},
		{"both of its schemas", Ask{api("payments"), orders, "app", []string{"payments_audit", "payments"}, "", nil}, ""},
		{"another team's schema", Ask{api("payments"), orders, "app", []string{"payments", "hr"}, "", nil}, "schemas[1]"},
		{"public, not granted", Ask{api("payments"), orders, "app", []string{"public"}, "", nil}, "schemas[0]"},
		{"another database", Ask{api("payments"), orders, "postgres", []string{"payments"}, "", nil}, "dbname"},
		{"another master secret", Ask{api("payments"), "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-ffff-MnOpQr", "app", []string{"payments"}, "", nil}, "masterSecretArn"},
		{"a team not named", Ask{api("hr"), orders, "app", []string{"hr"}, "", nil}, "masterSecretArn"},
		{"{caller}: its own name", Ask{api("hr"), payments, "shared", []string{"hr"}, "", nil}, ""},
		{"{caller}: not another's", Ask{api("hr"), payments, "shared", []string{"payments"}, "", nil}, "schemas[0]"},
		{"{caller} is no wildcard", Ask{api("hr"), payments, "shared", []string{"hrx"}, "", nil}, "schemas[0]"},
		{"the scope none", Ask{api(""), payments, "shared", []string{""}, "", nil}, "schemas[0]"},
		{"MySQL: the database only", Ask{events, orders, "analytics", nil, "", nil}, ""},
		{"events: no schema granted", Ask{events, orders, "analytics", []string{"public"}, "", nil}, "schemas[0]"},
		{"events from another account", Ask{Caller{Kind: KindEvents, Name: "dbcreds.requests", Account: "444455556666"}, orders, "analytics", nil, "", nil}, "createDatabaseUser"},
		{"events from another source", Ask{Caller{Kind: KindEvents, Name: "evil", Account: "111122223333"}, orders, "analytics", nil, "", nil}, "createDatabaseUser"},
		{"a stack by its name", Ask{Caller{Kind: KindStack, Name: "orders-prod"}, orders, "app", []string{"hr"}, "", nil}, ""},
		{"a stack of another name", Ask{Caller{Kind: KindStack, Name: "hr-prod"}, orders, "app", []string{"hr"}, "", nil}, "createDatabaseUser"},
		{"a kind is no name", Ask{Caller{Kind: KindAPI, Name: "orders-prod"}, orders, "app", []string{"hr"}, "", nil}, "masterSecretArn"},
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

// TestLevelsAndRoles: a grant lets readonly and readwrite unless it lists
// its privileges; owner must be listed. A role must match both the
// deployment's GrantableRoles and a grant's roles ({caller} its own), on
// a grant that allows the database and schemas too.
func TestLevelsAndRoles(t *testing.T) {
	p, err := Parse(`[
 {"caller": "api:*", "masterSecret": "*", "databases": ["app"], "schemas": ["{caller}"], "privileges": ["readonly", "readwrite", "owner"], "roles": ["{caller}_*", "reporting"]},
 {"caller": "api:*", "masterSecret": "*", "databases": ["app"], "schemas": ["public"]},
 {"caller": "stack:*", "masterSecret": "*", "databases": ["*"], "schemas": ["*"], "privileges": ["readonly"]}
]`)
	if err != nil {
		t.Fatal(err)
	}
	if p, err = p.WithGrantableRoles("payments_*, reporting ,hr_*"); err != nil {
		t.Fatal(err)
	}
	payments := Caller{Kind: KindAPI, Name: "payments"}
	ask := func(c Caller, schema, level string, roles ...string) Ask {
		return Ask{Caller: c, MasterSecretARN: orders, Database: "app", Schemas: []string{schema}, Privileges: level, Roles: roles}
	}
	for _, tt := range []struct {
		name  string
		ask   Ask
		field string
	}{
		{"owner where listed", ask(payments, "payments", "owner"), ""},
		{"owner where not listed", ask(payments, "public", "owner"), "privileges"},
		{"readwrite by default", ask(payments, "public", "readwrite"), ""},
		{"a stack held to readonly", ask(Caller{Kind: KindStack, Name: "s"}, "x", "readwrite"), "privileges"},
		{"its own role", ask(payments, "payments", "readwrite", "payments_read"), ""},
		{"a named role", ask(payments, "payments", "readonly", "reporting"), ""},
		{"another team's role", ask(payments, "payments", "readonly", "hr_read"), "memberOf[0]"},
		{"a role no grant there allows", ask(payments, "public", "readonly", "reporting"), "memberOf[0]"},
		{"a role the deployment does not", ask(payments, "payments", "readonly", "reporting", "payments_x", "rds_superuser"), "memberOf[2]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Allow(tt.ask)
			if errcode.FieldOf(err) != tt.field || (tt.field == "") != (err == nil) {
				t.Fatalf("got %v, want field %q", err, tt.field)
			}
			if err != nil && errcode.Of(err) != errcode.Forbidden {
				t.Fatalf("got %v, want forbidden", err)
			}
		})
	}
	// No GrantableRoles: no role at all, whatever the grants say.
	closed, _ := p.WithGrantableRoles("")
	if err := closed.Allow(ask(payments, "payments", "readonly", "reporting")); errcode.FieldOf(err) != "memberOf[0]" {
		t.Fatalf("without GrantableRoles: %v", err)
	}
	for _, bad := range []string{`[{"caller":"stack:*","masterSecret":"*","databases":["*"],"privileges":["admin"]}]`, `[{"caller":"stack:*","masterSecret":"*","databases":["*"],"roles":[""]}]`} {
		if _, err := Parse(bad); err == nil {
			t.Fatalf("parsed %s", bad)
		}
	}
	if _, err := p.WithGrantableRoles("{caller}_x"); err == nil {
		t.Fatal("{caller} in GrantableRoles")
	}
}
