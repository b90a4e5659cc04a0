package dbuser

import (
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// skeleton replaces every quoted token of a statement ("..." and `...`
// with their doubled quotes, and '...' literals) by Q: what is left is the
// statement's shape, which no value may change.
func skeleton(sql string) string {
	var out strings.Builder
	for i := 0; i < len(sql); i++ {
		q := sql[i]
		if q != '"' && q != '`' && q != '\'' {
			out.WriteByte(q)
			continue
		}
		for i++; i < len(sql); i++ {
			if sql[i] == q {
				if i+1 < len(sql) && sql[i+1] == q {
					i++
					continue
				}
				break
			}
		}
		out.WriteString("Q")
	}
	return out.String()
}

// statementsOf are all the statements made for u, with a reader peer and
// an owner peer (whose names the catalog gives) on each schema.
func statementsOf(f Family, u User) []Statement {
	create, _ := createUser(f, u, NewPassword(f, "pw"))
	on := map[string]schemaState{}
	for _, s := range u.Schemas {
		on[s] = schemaState{
			peers:     []peer{{name: u.Name + "_r"}, {name: u.Name + "_o", writes: true, owner: true}},
			tables:    []string{`"` + s + `"."t"`},
			sequences: []string{`"` + s + `"."q"`},
			granted:   []grant{{grantor: u.Name + "_o", privileges: "SELECT, INSERT", on: `ON TABLE "` + s + `"."t"`}, {grantor: "master", privileges: "SELECT", on: `ON TABLE "` + s + `"."t"`}},
		}
	}
	all := append([]Statement{create}, grants(f, u, on)...)
	all = append(all, revokes(f, u, on)...)
	if f == Postgres {
		clone, _ := createClone(u)
		all = append(all, clone...)
	}
	member := u
	member.MemberOf = []string{u.Name + "_role"}
	for _, mariadb := range []bool{false, true} {
		all = append(all, roleGrants(f, mariadb, member)...)
		all = append(all, roleRevokes(f, mariadb, member)...)
	}
	all = append(all, lockUser(f, u.Name), takeMembership(u.Name), giveMembershipBack(u.Name))
	return append(all, dropUser(f, u.Name)...)
}

// FuzzStatements: whatever a request names (user, database, schemas), a
// user that passes Check gives statements of the same shape as a plain
// one: no value can end a quote, add a clause or a statement.
func FuzzStatements(f *testing.F) {
	for _, seed := range [][3]string{
		{"app", "orders", "public"}, {"app_user", `odd"db`, "s1"}, {"x", "a`b", "_s"}, {"u", "app_x%", "x"},
		{"u", `back\slash`, "y"}, {"u", "semi;colon -- x", "z"}, {"u", "quote'd", "w"}, {"u", "ünïcode", "v"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, name, db, schema string) {
		for _, family := range []Family{Postgres, MySQL} {
			u := User{Name: name, Database: db, Privileges: Owner}
			if family == Postgres {
				u.Schemas = []string{schema}
			}
			if err := u.Check(family); err != nil {
				if errcode.Of(err) != errcode.Invalid {
					t.Fatalf("Check: %v", err)
				}
				continue
			}
			plain := User{Name: "u", Database: "d", Privileges: Owner}
			if family == Postgres {
				plain.Schemas = []string{"s"}
			}
			got, want := statementsOf(family, u), statementsOf(family, plain)
			for i := range got {
				if skeleton(got[i].SQL) != skeleton(want[i].SQL) {
					t.Fatalf("%q changed the statement's shape:\n%s\n%s", []string{name, db, schema}, got[i].SQL, want[i].SQL)
				}
			}
		}
	})
}

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		name   string
		family Family
		user   User
		field  string
	}{
		{"valid", Postgres, User{Name: "app", Database: "orders", Privileges: ReadOnly, Schemas: []string{"public", "sales"}}, ""},
		{"no name", Postgres, User{Database: "orders", Privileges: ReadWrite}, "username"},
		{"name with a quote", MySQL, User{Name: `a"b`, Database: "orders", Privileges: ReadWrite}, "username"},
		{"name too long", Postgres, User{Name: strings.Repeat("a", 64), Database: "orders", Privileges: ReadWrite}, "username"},
		{"no database", MySQL, User{Name: "app", Privileges: ReadWrite}, "dbname"},
		{"database with a control character", Postgres, User{Name: "app", Database: "a\nb", Privileges: ReadWrite}, "dbname"},
		{"schemas on MySQL", MySQL, User{Name: "app", Database: "orders", Privileges: ReadWrite, Schemas: []string{"x"}}, "schemas"},
		{"schema twice", Postgres, User{Name: "app", Database: "orders", Privileges: ReadWrite, Schemas: []string{"x", "x"}}, "schemas[1]"},
		{"schema with a space", Postgres, User{Name: "app", Database: "orders", Privileges: ReadWrite, Schemas: []string{"my schema"}}, "schemas[0]"},
		{"no privileges", Postgres, User{Name: "app", Database: "orders"}, "privileges"},
		{"MySQL's own database", MySQL, User{Name: "app", Database: "mysql", Privileges: ReadOnly}, "dbname"},
		{"MySQL's own database, in capitals", MySQL, User{Name: "app", Database: "MySQL", Privileges: ReadOnly}, "dbname"},
		{"performance_schema", MySQL, User{Name: "app", Database: "performance_schema", Privileges: ReadOnly}, "dbname"},
		{"sys", MySQL, User{Name: "app", Database: "sys", Privileges: ReadOnly}, "dbname"},
		{"a template", Postgres, User{Name: "app", Database: "template1", Privileges: ReadOnly}, "dbname"},
		{"RDS's own", Postgres, User{Name: "app", Database: "rdsadmin", Privileges: ReadOnly}, "dbname"},
		{"the catalog", Postgres, User{Name: "app", Database: "orders", Privileges: ReadOnly, Schemas: []string{"pg_catalog"}}, "schemas[0]"},
		{"information_schema", Postgres, User{Name: "app", Database: "orders", Privileges: ReadOnly, Schemas: []string{"public", "information_schema"}}, "schemas[1]"},
		{"an RDS extension's schema", Postgres, User{Name: "app", Database: "orders", Privileges: ReadWrite, Schemas: []string{"AWS_Lambda"}}, "schemas[0]"},
		{"aws_s3", Postgres, User{Name: "app", Database: "orders", Privileges: ReadWrite, Schemas: []string{"app", "aws_s3"}}, "schemas[1]"},
		{"pg_cron's", Postgres, User{Name: "app", Database: "orders", Privileges: ReadWrite, Schemas: []string{"cron"}}, "schemas[0]"},
		{"RDS's own schema", Postgres, User{Name: "app", Database: "orders", Privileges: ReadOnly, Schemas: []string{"rds_tools"}}, "schemas[0]"},
		{"a database called sys on PostgreSQL", Postgres, User{Name: "app", Database: "sys", Privileges: ReadOnly}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.user.Check(tt.family)
			if errcode.FieldOf(err) != tt.field || (tt.field == "") != (err == nil) {
				t.Fatalf("got %v, want field %q", err, tt.field)
			}
		})
	}
	if p, err := ParsePrivileges(""); p != ReadWrite || err != nil {
		t.Fatalf("default privileges %q, %v", p, err)
	}
	if _, err := ParsePrivileges("admin"); errcode.FieldOf(err) != "privileges" {
		t.Fatalf("ParsePrivileges(admin): %v", err)
	}
}

// TestScramVerifier: RFC 7677's test vector (user "user", password
// "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations).
func TestScramVerifier(t *testing.T) {
	salt := []byte{0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81}
	got, err := scramVerifierWith("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	// StoredKey and ServerKey from the RFC's exchange.
	want := "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
	if got != want {
		t.Fatalf("verifier\n%s\nwant\n%s", got, want)
	}
}
