package secretreaders

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/shared/errcode"
)

const this, other, stranger = "111122223333", "444455556666", "777788889999"

func TestCheck(t *testing.T) {
	a, err := ParseAccounts(this, " "+other+" ,")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		readers []string
		code    errcode.Code
		field   string
		cross   bool
	}{
		{"a role here", []string{"arn:aws:iam::" + this + ":role/app"}, "", "", false},
		{"a user with a path", []string{"arn:aws:iam::" + this + ":user/team/ci-bot"}, "", "", false},
		{"a role in an allowed account", []string{"arn:aws:iam::" + other + ":role/reader"}, "", "", true},
		{"an allowed account's root", []string{"arn:aws:iam::" + other + ":root"}, "", "", true},
		{"everyone", []string{"*"}, errcode.Invalid, "readers[0]", false},
		{"a pattern", []string{"arn:aws:iam::" + this + ":role/*"}, errcode.Invalid, "readers[0]", false},
		{"a service", []string{"lambda.amazonaws.com"}, errcode.Invalid, "readers[0]", false},
		{"an account id", []string{other}, errcode.Invalid, "readers[0]", false},
		{"a session", []string{"arn:aws:sts::" + this + ":assumed-role/app/s"}, errcode.Invalid, "readers[0]", false},
		{"another account's root", []string{"arn:aws:iam::" + stranger + ":root"}, errcode.Invalid, "readers[0]", false},
		{"another account's role", []string{"arn:aws:iam::" + this + ":role/a", "arn:aws:iam::" + stranger + ":role/b"}, errcode.Invalid, "readers[1]", false},
		{"twice", []string{"arn:aws:iam::" + this + ":role/a", "arn:aws:iam::" + this + ":role/a"}, errcode.Invalid, "readers[1]", false},
		{"a bad name", []string{"arn:aws:iam::" + this + ":role/a b"}, errcode.Invalid, "readers[0]", false},
		{"a name of 64", []string{"arn:aws:iam::" + this + ":role/p/" + strings.Repeat("n", 64)}, "", "", false},
		{"a name over 64", []string{"arn:aws:iam::" + this + ":role/p/" + strings.Repeat("n", 65)}, errcode.Invalid, "readers[0]", false},
		{"a path over 512", []string{"arn:aws:iam::" + this + ":role/" + strings.Repeat("p/", 300) + "n"}, errcode.Invalid, "readers[0]", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cross, err := a.Check(tt.readers)
			if errcode.Of(err) != tt.code || errcode.FieldOf(err) != tt.field {
				t.Fatalf("got %v, want %s on %q", err, tt.code, tt.field)
			}
			if err == nil && cross != tt.cross {
				t.Fatalf("cross-account %v", cross)
			}
		})
	}
	if _, err := ParseAccounts(this, "12345"); err == nil {
		t.Fatal("a short account id")
	}
}

func TestPolicy(t *testing.T) {
	readers := []string{"arn:aws:iam::" + this + ":role/app", "arn:aws:iam::" + other + ":role/reader"}
	text, err := Policy(readers)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Statement []struct {
			Effect    string
			Principal struct{ AWS []string }
			Action    []string
			Resource  string
			Condition map[string]any
		}
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil || len(doc.Statement) != 1 {
		t.Fatalf("%s: %v", text, err)
	}
	s := doc.Statement[0]
	if s.Effect != "Allow" || len(s.Principal.AWS) != 2 || len(s.Action) != 2 || s.Resource != "*" || s.Condition != nil {
		t.Fatalf("%s", text)
	}
	if _, err := Policy(nil); err == nil {
		t.Fatal("a policy of no readers")
	}
}

// TestOurs: only a policy of exactly Policy's shape is the provisioner's
// (it may be overwritten or deleted); anything more or else was attached by
// hand and is left alone.
func TestOurs(t *testing.T) {
	mine, err := Policy([]string{"arn:aws:iam::" + this + ":role/app", "arn:aws:iam::" + other + ":role/reader"})
	if err != nil {
		t.Fatal(err)
	}
	stmt := func(extra string) string {
		return `{"Version":"2012-10-17","Statement":[{"Sid":"` + Sid + `","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + this + `:role/app"},"Action":["secretsmanager:DescribeSecret","secretsmanager:GetSecretValue"],"Resource":"*"` + extra + `}]}`
	}
	for _, tt := range []struct {
		name, policy string
		ours         bool
		readers      int
	}{
		{"what Policy writes", mine, true, 2},
		{"as Secrets Manager may keep it: one principal as a string, actions reordered", stmt(""), true, 1},
		{"a deleted reader kept as its unique id", `{"Version":"2012-10-17","Statement":{"Sid":"` + Sid + `","Effect":"Allow","Principal":{"AWS":"AROAEXAMPLEID"},"Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"*"}}`, true, 1},
		{"none", "", false, 0},
		{"with a condition", stmt(`,"Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}`), false, 0},
		{"another sid", `{"Version":"2012-10-17","Statement":[{"Sid":"Readers","Effect":"Allow","Principal":{"AWS":"x"},"Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"*"}]}`, false, 0},
		{"a write action", `{"Version":"2012-10-17","Statement":[{"Sid":"` + Sid + `","Effect":"Allow","Principal":{"AWS":"x"},"Action":["secretsmanager:GetSecretValue","secretsmanager:PutSecretValue"],"Resource":"*"}]}`, false, 0},
		{"everyone", `{"Version":"2012-10-17","Statement":[{"Sid":"` + Sid + `","Effect":"Allow","Principal":{"AWS":"*"},"Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"*"}]}`, false, 0},
		{"a service", `{"Version":"2012-10-17","Statement":[{"Sid":"` + Sid + `","Effect":"Allow","Principal":{"AWS":"x","Service":"lambda.amazonaws.com"},"Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"*"}]}`, false, 0},
		{"a second statement", `{"Version":"2012-10-17","Statement":[` + stmt("")[len(`{"Version":"2012-10-17","Statement":[`):len(stmt(""))-2] + `,{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}`, false, 0},
		{"a deny", `{"Version":"2012-10-17","Statement":[{"Sid":"` + Sid + `","Effect":"Deny","Principal":{"AWS":"x"},"Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"*"}]}`, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			readers, ours := Ours(tt.policy)
			if ours != tt.ours || len(readers) != tt.readers {
				t.Fatalf("Ours(%s) = %v, %v; want ours %v with %d readers", tt.policy, readers, ours, tt.ours, tt.readers)
			}
		})
	}
}

func TestPolicyTooLong(t *testing.T) {
	var readers []string
	for i := 0; i < MaxReaders; i++ {
		readers = append(readers, "arn:aws:iam::"+this+":role/"+strings.Repeat("p/", 200)+itoa(i))
	}
	if _, err := Policy(readers); errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != "readers" {
		t.Fatalf("a %d-reader policy of long paths: %v, want invalid readers", len(readers), err)
	}
}
