// Package dbuser creates, changes and drops the database users that
// secrets hold the credentials of, with their privileges, in PostgreSQL
// (and Aurora PostgreSQL) and in MySQL 8 and MariaDB 10.5+ (and Aurora
// MySQL). Statements are built here, apart from any connection, so that
// what a request can put into them is tested and fuzzed on its own: every
// identifier is checked and quoted, and no value can change a statement's
// meaning. It is the one place that knows a user's clone's name.
//
// It acts on the names it is given; which user is whose is secretuser's
// to decide. It imports only dbsession and errcode.
package dbuser

import (
	"strconv"
	"strings"

	"github.com/dbcreds/provisioner/shared/dbsession"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// Family is a kind of SQL server: its dialect and its notion of a user.
type Family = dbsession.Family

const (
	Postgres = dbsession.Postgres // postgres, aurora-postgresql
	MySQL    = dbsession.MySQL    // mysql, aurora-mysql, mariadb
)

// FamilyOf is the family of a secret's engine, and whether users can be
// made for it.
func FamilyOf(engine string) (Family, bool) {
	switch strings.ToLower(engine) {
	case "postgres", "aurora-postgresql":
		return Postgres, true
	case "mysql", "aurora-mysql", "mariadb":
		return MySQL, true
	}
	return 0, false
}

// Engines lists the engines users can be made for.
var Engines = []string{"aurora-mysql", "aurora-postgresql", "mariadb", "mysql", "postgres"}

// Privileges are what a user may do with the data.
type Privileges string

const (
	ReadWrite Privileges = "readwrite" // SELECT, INSERT, UPDATE, DELETE
	ReadOnly  Privileges = "readonly"  // SELECT
)

// ParsePrivileges reads a request's privileges; empty is readwrite.
func ParsePrivileges(s string) (Privileges, error) {
	switch p := Privileges(strings.ToLower(s)); p {
	case "":
		return ReadWrite, nil
	case ReadWrite, ReadOnly:
		return p, nil
	}
	return "", errcode.Invalidf("privileges", "must be readwrite or readonly, got %s", errcode.Quote(s))
}

// User is a database user to make: who, in which database, with what.
type User struct {
	Name       string
	Database   string
	Privileges Privileges
	// Schemas are PostgreSQL's; empty means public.
	Schemas []string
	// ConnectionLimit caps the user's sessions at once (0: no cap), so
	// that it can neither take every connection the server has nor keep
	// the master from ending its sessions. The user cannot change it.
	ConnectionLimit int
}

// Statement is one SQL statement. Password statements are kept apart so
// that nothing logs them.
type Statement struct {
	SQL  string
	Args []any
}

// CheckName checks a user or schema name: a letter or underscore first,
// then letters, digits and underscores, at most max bytes. Names that
// need no quoting in any engine, quoted all the same.
func CheckName(field, name string, max int) error {
	if name == "" {
		return errcode.Invalidf(field, "is required")
	}
	if len(name) > max {
		return errcode.Invalidf(field, "must be at most %d characters, got %d", max, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return errcode.Invalidf(field, "must start with a letter or underscore and hold only ASCII letters, digits and underscores")
		}
	}
	return nil
}

// checkDatabase checks a database name: no NUL and no control characters
// (the only things quoting cannot carry), at most max bytes.
func checkDatabase(name string, max int) error {
	if name == "" {
		return errcode.Invalidf("dbname", "is required to make a database user")
	}
	if len(name) > max {
		return errcode.Invalidf("dbname", "must be at most %d characters to make a database user, got %d", max, len(name))
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return errcode.Invalidf("dbname", "must not hold control characters")
		}
	}
	return nil
}

// quotePG quotes a PostgreSQL identifier: "name", inner quotes doubled.
func quotePG(id string) string { return `"` + strings.ReplaceAll(id, `"`, `""`) + `"` }

// quoteMySQL quotes a MySQL identifier: `name`, inner backticks doubled.
func quoteMySQL(id string) string { return "`" + strings.ReplaceAll(id, "`", "``") + "`" }

// grantDatabase quotes a database name for a MySQL GRANT, where _ and %
// are wildcards: escaped, so that a grant on app_db is not also one on
// appXdb.
func grantDatabase(db string) string {
	r := strings.NewReplacer(`\`, `\\`, `_`, `\_`, `%`, `\%`)
	return quoteMySQL(r.Replace(db))
}

// quoteLiteral quotes a SQL string literal for PostgreSQL with
// standard_conforming_strings on (the default since 9.1): inner quotes
// doubled, backslashes as they are.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (u User) schemas() []string {
	if len(u.Schemas) == 0 {
		return []string{"public"}
	}
	return u.Schemas
}

// Check validates u for the family, before any connection.
func (u User) Check(f Family) error {
	max := 63 // PostgreSQL's NAMEDATALEN - 1
	if f == MySQL {
		max = 64
	}
	if err := CheckName("username", u.Name, max); err != nil {
		return err
	}
	if err := checkDatabase(u.Database, max); err != nil {
		return err
	}
	if systemDatabase(f, u.Database) {
		return errcode.Invalidf("dbname", "%s is the engine's or RDS's own database: no user of an application gets privileges there", errcode.Quote(u.Database))
	}
	if u.ConnectionLimit < 0 {
		return errcode.Invalidf("connectionLimit", "must be 0 (no cap) or more, got %d", u.ConnectionLimit)
	}
	if u.Privileges != ReadWrite && u.Privileges != ReadOnly {
		return errcode.Invalidf("privileges", "must be readwrite or readonly")
	}
	if f == MySQL && len(u.Schemas) > 0 {
		return errcode.Invalidf("schemas", "are PostgreSQL's; MySQL and MariaDB grant on the database")
	}
	seen := map[string]bool{}
	for i, s := range u.Schemas {
		field := "schemas[" + itoa(i) + "]"
		if err := CheckName(field, s, 63); err != nil {
			return err
		}
		if seen[s] {
			return errcode.Invalidf(field, "%s is given twice", errcode.Quote(s))
		}
		if systemSchema(s) {
			return errcode.Invalidf(field, "%s is PostgreSQL's, RDS's or an RDS extension's own schema: no user of an application gets privileges there", errcode.Quote(s))
		}
		seen[s] = true
	}
	return nil
}

// systemDatabase reports whether name is a database the engine or RDS
// keeps for itself, in any letter case: a grant there reaches every
// account (MySQL's mysql.user holds the master's password hash and its
// privileges; PostgreSQL's templates are copied into every new database).
func systemDatabase(f Family, name string) bool {
	lower := strings.ToLower(name)
	if f == MySQL {
		return lower == "mysql" || lower == "sys" || lower == "performance_schema" || lower == "information_schema"
	}
	return lower == "template0" || lower == "template1" || lower == "rdsadmin"
}

// systemSchema reports whether name, in any letter case, is a schema
// PostgreSQL (pg_*, information_schema), RDS (rds*) or an extension RDS
// offers keeps for itself: aws_lambda and aws_s3 reach AWS with the
// instance's IAM role, pg_cron's cron runs jobs as whoever the job names,
// pg_partman's partman drops partitions past their retention. A schema an
// extension made is refused by CheckTargets whatever its name.
func systemSchema(name string) bool {
	lower := strings.ToLower(name)
	for _, prefix := range []string{"pg_", "aws_", "rds"} {
		if strings.HasPrefix(lower, prefix) {
			return true
		}
	}
	switch lower {
	case "information_schema", "cron", "partman", "pgtle", "pglogical":
		return true
	}
	return false
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// grants are the statements that give u its privileges; revokes those
// that take every privilege this package gives in schemas (PostgreSQL) or
// the database (MySQL), so that a change of privileges is a revoke and a
// grant.
func grants(f Family, u User) []Statement {
	if f == MySQL {
		return []Statement{{SQL: "GRANT " + mysqlPrivileges(u.Privileges) + " ON " + grantDatabase(u.Database) + ".* TO ?@'%'", Args: []any{u.Name}}}
	}
	tables, sequences := "SELECT, INSERT, UPDATE, DELETE", "USAGE, SELECT"
	if u.Privileges == ReadOnly {
		tables, sequences = "SELECT", "SELECT"
	}
	user := quotePG(u.Name)
	out := []Statement{{SQL: "GRANT CONNECT ON DATABASE " + quotePG(u.Database) + " TO " + user}}
	for _, s := range u.schemas() {
		schema := quotePG(s)
		out = append(out,
			Statement{SQL: "GRANT USAGE ON SCHEMA " + schema + " TO " + user},
			Statement{SQL: "GRANT " + tables + " ON ALL TABLES IN SCHEMA " + schema + " TO " + user},
			Statement{SQL: "GRANT " + sequences + " ON ALL SEQUENCES IN SCHEMA " + schema + " TO " + user},
			// Tables and sequences the master user (who runs this) makes later.
			Statement{SQL: "ALTER DEFAULT PRIVILEGES IN SCHEMA " + schema + " GRANT " + tables + " ON TABLES TO " + user},
			Statement{SQL: "ALTER DEFAULT PRIVILEGES IN SCHEMA " + schema + " GRANT " + sequences + " ON SEQUENCES TO " + user},
		)
	}
	return out
}

// mysqlPrivileges are the privileges a user gets on its database.
func mysqlPrivileges(p Privileges) string {
	if p == ReadOnly {
		return "SELECT"
	}
	return "SELECT, INSERT, UPDATE, DELETE"
}

func revokes(f Family, u User) []Statement {
	if f == MySQL {
		// What was granted, not ALL PRIVILEGES: an RDS master user holds
		// fewer than ALL and may revoke only what it holds.
		return []Statement{{SQL: "REVOKE " + mysqlPrivileges(u.Privileges) + " ON " + grantDatabase(u.Database) + ".* FROM ?@'%'", Args: []any{u.Name}}}
	}
	user := quotePG(u.Name)
	var out []Statement
	for _, s := range u.schemas() {
		schema := quotePG(s)
		out = append(out,
			Statement{SQL: "ALTER DEFAULT PRIVILEGES IN SCHEMA " + schema + " REVOKE ALL ON TABLES FROM " + user},
			Statement{SQL: "ALTER DEFAULT PRIVILEGES IN SCHEMA " + schema + " REVOKE ALL ON SEQUENCES FROM " + user},
			Statement{SQL: "REVOKE ALL ON ALL TABLES IN SCHEMA " + schema + " FROM " + user},
			Statement{SQL: "REVOKE ALL ON ALL SEQUENCES IN SCHEMA " + schema + " FROM " + user},
			Statement{SQL: "REVOKE USAGE ON SCHEMA " + schema + " FROM " + user},
		)
	}
	return out
}

// createUser is the statement that makes the user with its password:
// PostgreSQL gets a SCRAM-SHA-256 verifier, so the password itself never
// travels or lands in a server log; MySQL the password as a parameter
// the driver escapes.
func createUser(f Family, u User, password *Password) (Statement, error) {
	if f == MySQL {
		s := Statement{SQL: "CREATE USER ?@'%' IDENTIFIED BY ?", Args: []any{u.Name, password.plain}}
		if u.ConnectionLimit > 0 {
			s.SQL += " WITH MAX_USER_CONNECTIONS " + strconv.Itoa(u.ConnectionLimit)
		}
		return s, nil
	}
	verifier, err := password.scram()
	if err != nil {
		return Statement{}, err
	}
	limit := ""
	if u.ConnectionLimit > 0 {
		limit = " CONNECTION LIMIT " + strconv.Itoa(u.ConnectionLimit)
	}
	return Statement{SQL: "CREATE ROLE " + quotePG(u.Name) + " WITH LOGIN" + limit + " PASSWORD " + quoteLiteral(verifier)}, nil
}

// lockUser is the statement that stops a user logging in (a MySQL user
// left only at another host is no error: there is nothing to lock here).
func lockUser(f Family, name string) Statement {
	if f == MySQL {
		return Statement{SQL: "ALTER USER IF EXISTS ?@'%' ACCOUNT LOCK", Args: []any{name}}
	}
	return Statement{SQL: "ALTER ROLE " + quotePG(name) + " NOLOGIN"}
}

// takeMembership makes the PostgreSQL master a member of the role, which
// lets it end the role's sessions and DROP OWNED (not a superuser on RDS,
// it needs that); only ever inside a transaction that gives it back
// (Admin.asMemberOf).
func takeMembership(name string) Statement {
	return Statement{SQL: "GRANT " + quotePG(name) + " TO CURRENT_USER"}
}

// giveMembershipBack undoes takeMembership.
func giveMembershipBack(name string) Statement {
	return Statement{SQL: "REVOKE " + quotePG(name) + " FROM CURRENT_USER"}
}

// dropUser are the statements that remove a user. PostgreSQL's DROP ROLE
// runs once everything granted to the role is revoked (Admin.revokeAll):
// nothing is ever reassigned to the master, as a function the user
// planted would then run as the master.
func dropUser(f Family, name string) []Statement {
	if f == MySQL {
		return []Statement{{SQL: "DROP USER IF EXISTS ?@'%'", Args: []any{name}}}
	}
	return []Statement{{SQL: "DROP ROLE " + quotePG(name)}}
}
