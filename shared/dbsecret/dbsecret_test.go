package dbsecret

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/shared/credential"
	"github.com/dbcreds/provisioner/shared/errcode"
)

func mustLookup(t *testing.T, name string) Engine {
	t.Helper()
	e, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestShapeGolden compares the shaped JSON with testdata/shape-<case>.json,
// the exact bytes a rotation function will read.
func TestShapeGolden(t *testing.T) {
	yes := true
	tests := []struct {
		name   string
		engine string
		fields Fields
	}{
		{"postgres-defaults", "postgres", Fields{Host: "db.example.internal", Username: "app"}},
		{"mysql-full", "MySQL", Fields{
			Host: "db.cluster-abc.eu-west-1.rds.amazonaws.com", Port: 3307, DBName: "orders", Username: "orders_app",
			SSL: &yes, DBClusterIdentifier: "orders-cluster",
			Extra: map[string]json.RawMessage{"readerHost": json.RawMessage(`"ro.example.internal"`), "pool": json.RawMessage(`{"max":10}`)},
		}},
		{"db2-master", "db2", Fields{Host: "db2.example.internal", Username: "app", MasterARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:admin-AbCdEf"}},
		{"oracle", "oracle", Fields{Host: "ora.example.internal", DBName: "ORCL", Username: "app", DBInstanceIdentifier: "ora-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustLookup(t, tt.engine).Shape(tt.fields, `p<&>"\x`)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join("testdata", "shape-"+tt.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != strings.TrimSpace(string(want)) {
				t.Fatalf("shaped\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestShapeDefaultsPerEngine checks every engine's default port (a JSON
// number) and dbname, as its rotation template expects.
func TestShapeDefaultsPerEngine(t *testing.T) {
	want := map[string]struct {
		port   float64
		dbname any
	}{
		"mysql": {3306, nil}, "aurora-mysql": {3306, nil}, "mariadb": {3306, nil},
		"postgres": {5432, "postgres"}, "aurora-postgresql": {5432, "postgres"},
		"oracle": {1521, "given"}, "sqlserver": {1433, "master"}, "db2": {50000, nil},
		"redshift": {5439, "dev"}, "mongo": {27017, nil},
	}
	if len(want) != len(Names()) {
		t.Fatalf("engines %v, the test knows %d", Names(), len(want))
	}
	for name, w := range want {
		e := mustLookup(t, name)
		f := Fields{Host: "h", Username: "u", MasterARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:m-AbCdEf"}
		if e.RequiresDBName {
			f.DBName = "given"
		}
		raw, err := e.Shape(f, "pw")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got map[string]any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got["engine"] != name || got["port"] != w.port || got["dbname"] != w.dbname || got["password"] != "pw" {
			t.Errorf("%s: got %s, want port %v dbname %v", name, raw, w.port, w.dbname)
		}
	}
}

func TestLookupUnknownEngineListsKnown(t *testing.T) {
	_, err := Lookup("cassandra")
	var e *errcode.Error
	if !errors.As(err, &e) || e.Field != "engine" || !strings.Contains(e.Message, "aurora-postgresql") || !strings.Contains(e.Message, "mongo") {
		t.Fatalf("got %v, want an engine error listing the known engines", err)
	}
}

func TestValidate(t *testing.T) {
	master := "arn:aws:secretsmanager:us-east-1:123456789012:secret:admin-AbCdEf"
	tests := []struct {
		name   string
		engine string
		fields Fields
		field  string // "" when valid
		rule   string
	}{
		{"host required", "postgres", Fields{}, "host", "required"},
		{"host with control character", "postgres", Fields{Host: "a\nb"}, "host", "control"},
		{"host padded", "postgres", Fields{Host: " h"}, "host", "white space"},
		{"port too high", "postgres", Fields{Host: "h", Port: 70000}, "port", "between 1 and 65535"},
		{"oracle needs dbname", "oracle", Fields{Host: "h"}, "dbname", "required for oracle"},
		{"db2 needs masterarn", "db2", Fields{Host: "h"}, "masterSecretArn", "required for db2"},
		{"masterarn must be a secret ARN", "postgres", Fields{Host: "h", MasterARN: "admin"}, "masterSecretArn", "secret ARN"},
		{"username must start with a letter", "postgres", Fields{Host: "h", Username: "1app"}, "username", "start with a letter"},
		{"username unsafe character", "postgres", Fields{Host: "h", Username: "app;drop"}, "username", "letters, digits and underscores"},
		{"mysql username leaves room for _clone", "mysql", Fields{Host: "h", Username: "abcdefghijk"}, "username", "at most 10"},
		{"mysql username at the cap", "mysql", Fields{Host: "h", Username: "abcdefghij"}, "", ""},
		{"db2 username cap", "db2", Fields{Host: "h", MasterARN: master, Username: "abcdefghijk"}, "username", "at most 10"},
		{"oracle username cap", "oracle", Fields{Host: "h", DBName: "ORCL", Username: strings.Repeat("a", 25)}, "username", "at most 24"},
		{"postgres username cap", "postgres", Fields{Host: "h", Username: strings.Repeat("a", 58)}, "username", "at most 57"},
		{"postgres username at the cap", "postgres", Fields{Host: "h", Username: strings.Repeat("a", 57)}, "", ""},
		{"mariadb username cap", "mariadb", Fields{Host: "h", Username: strings.Repeat("a", 75)}, "username", "at most 74"},
		{"sqlserver username cap", "sqlserver", Fields{Host: "h", Username: strings.Repeat("a", 123)}, "username", "at most 122"},
		{"bad instance identifier", "postgres", Fields{Host: "h", DBInstanceIdentifier: "db--1"}, "dbInstanceIdentifier", "hyphens"},
		{"bad cluster identifier", "postgres", Fields{Host: "h", DBClusterIdentifier: "1db"}, "dbClusterIdentifier", "start with a letter"},
		{"extra may not set password", "postgres", Fields{Host: "h", Extra: map[string]json.RawMessage{"Password": json.RawMessage(`"x"`)}}, "extraFields", "reserved"},
		{"extra may not set port", "postgres", Fields{Host: "h", Extra: map[string]json.RawMessage{"port": json.RawMessage(`1`)}}, "extraFields", "reserved"},
		{"extra key may not be empty", "postgres", Fields{Host: "h", Extra: map[string]json.RawMessage{"": json.RawMessage(`1`)}}, "extraFields", "empty"},
		{"extra reader host", "postgres", Fields{Host: "h", Extra: map[string]json.RawMessage{"readerHost": json.RawMessage(`"r"`)}}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mustLookup(t, tt.engine).Validate(tt.fields)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var e *errcode.Error
			if !errors.As(err, &e) || e.Code != errcode.Invalid || e.Field != tt.field || !strings.Contains(e.Message, tt.rule) {
				t.Fatalf("got %v, want invalid %s error containing %q", err, tt.field, tt.rule)
			}
		})
	}
}

func TestPasswordPolicy(t *testing.T) {
	tests := []struct {
		name      string
		engine    string
		policy    credential.Policy
		lengthSet bool
		field     string
		rule      string
		length    int
	}{
		{"oracle default length is 30", "oracle", credential.DefaultPolicy(), false, "", "", 30},
		{"oracle refuses 31", "oracle", credential.Policy{Length: 31, RequireEachIncludedType: true}, true, "passwordLength", "at most 30", 0},
		{"oracle accepts 30", "oracle", credential.Policy{Length: 30, RequireEachIncludedType: true}, true, "", "", 30},
		{"postgres keeps 64", "postgres", credential.Policy{Length: 64, RequireEachIncludedType: true}, true, "", "", 64},
		{"redshift needs a digit", "redshift", credential.Policy{Length: 16, RequireEachIncludedType: true, ExcludeNumbers: true}, true, "excludeNumbers", "digit", 0},
		{"redshift needs uppercase", "redshift", credential.Policy{Length: 16, RequireEachIncludedType: true, ExcludeCharacters: credential.Uppercase}, true, "excludeUppercase", "uppercase", 0},
		{"redshift needs each type required", "redshift", credential.Policy{Length: 16}, true, "requireEachIncludedType", "cannot be false", 0},
		{"engine exclusions still leave a policy error", "postgres", credential.Policy{Length: 8, ExcludeUppercase: true, ExcludeLowercase: true, ExcludeNumbers: true, ExcludeCharacters: credential.Punctuation}, true, "excludeCharacters", "every character", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := mustLookup(t, tt.engine).PasswordPolicy(tt.policy, tt.lengthSet)
			if tt.field == "" {
				if err != nil || p.Length != tt.length {
					t.Fatalf("got %+v, %v; want length %d", p, err, tt.length)
				}
				return
			}
			var e *errcode.Error
			if !errors.As(err, &e) || e.Field != tt.field || !strings.Contains(e.Message, tt.rule) {
				t.Fatalf("got %v, want %s error containing %q", err, tt.field, tt.rule)
			}
		})
	}
}

// TestGeneratedPasswordsPerEngine generates many passwords under each
// engine's default policy and checks every one as the rotation template
// would: length, no excluded character, each required type present.
func TestGeneratedPasswordsPerEngine(t *testing.T) {
	extra := map[string]string{"postgres": ":", "aurora-postgresql": ":", "redshift": ":", "db2": ";"}
	for _, name := range Names() {
		e := mustLookup(t, name)
		p, err := e.PasswordPolicy(credential.DefaultPolicy(), false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wantLen := 32
		if name == "oracle" {
			wantLen = 30
		}
		forbidden := `/@"'\` + extra[name]
		for i := 0; i < 3000; i++ {
			pw, err := credential.Password(p)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(pw) != wantLen {
				t.Fatalf("%s: %q has length %d, want %d", name, pw, len(pw), wantLen)
			}
			if strings.ContainsAny(pw, forbidden) {
				t.Fatalf("%s: %q holds one of %q", name, pw, forbidden)
			}
			for _, class := range []string{credential.Uppercase, credential.Lowercase, credential.Digits, credential.Punctuation} {
				if !strings.ContainsAny(pw, class) {
					t.Fatalf("%s: %q misses a character of %q", name, pw, class)
				}
			}
		}
	}
}

// TestMatchersMeanTheExpressions compares the written-out username and
// identifier checks with the expressions they implement.
func TestMatchersMeanTheExpressions(t *testing.T) {
	username := regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	identifier := regexp.MustCompile(`^[A-Za-z](?:[A-Za-z0-9]|-[A-Za-z0-9])*$`)
	chars := []string{"a", "Z", "0", "_", "-", "é", " ", "."}
	var all func(prefix string, n int)
	all = func(prefix string, n int) {
		if isUsername(prefix) != username.MatchString(prefix) || isIdentifier(prefix) != identifier.MatchString(prefix) {
			t.Fatalf("%q: username %v/%v, identifier %v/%v", prefix, isUsername(prefix), username.MatchString(prefix), isIdentifier(prefix), identifier.MatchString(prefix))
		}
		if n == 0 {
			return
		}
		for _, c := range chars {
			all(prefix+c, n-1)
		}
	}
	all("", 4) // every string of up to four of these characters
}
