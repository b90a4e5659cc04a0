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
	// Owner is readwrite and what a migration tool needs besides: to
	// create, alter and drop tables, indexes, sequences and views in the
	// schemas (PostgreSQL) or the database (MySQL). Never anything
	// server-wide, nor the right to grant.
	Owner Privileges = "owner"
)

// ParsePrivileges reads a request's privileges; empty is readwrite.
func ParsePrivileges(s string) (Privileges, error) {
	switch p := Privileges(strings.ToLower(s)); p {
	case "":
		return ReadWrite, nil
	case ReadWrite, ReadOnly, Owner:
		return p, nil
	}
	return "", errcode.Invalidf("privileges", "must be readonly, readwrite or owner, got %s", errcode.Quote(s))
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
	// MemberOf are existing roles the user is made a member of: group
	// roles a DBA maintains (Admin.CheckRoles says which qualify).
	MemberOf []string
}

// maxRoles bounds memberOf.
const maxRoles = 16

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
	if u.Privileges != ReadWrite && u.Privileges != ReadOnly && u.Privileges != Owner {
		return errcode.Invalidf("privileges", "must be readonly, readwrite or owner")
	}
	if f == MySQL && len(u.Schemas) > 0 {
		return errcode.Invalidf("schemas", "are PostgreSQL's; MySQL and MariaDB grant on the database")
	}
	if len(u.MemberOf) > maxRoles {
		return errcode.Invalidf("memberOf", "may name at most %d roles, got %d", maxRoles, len(u.MemberOf))
	}
	roles := map[string]bool{}
	for i, r := range u.MemberOf {
		field := "memberOf[" + itoa(i) + "]"
		if err := CheckName(field, r, max); err != nil {
			return err
		}
		if roles[r] {
			return errcode.Invalidf(field, "%s is given twice", errcode.Quote(r))
		}
		if reservedRole(r) || r == u.Name || r == CloneOf(u.Name) {
			return errcode.Invalidf(field, "%s is the engine's, RDS's or the user's own: memberOf names group roles a DBA maintains", errcode.Quote(r))
		}
		roles[r] = true
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

// reservedRole reports whether a role's name, in any letter case, is one
// PostgreSQL (pg_*) or RDS (rds*, rdsadmin, rds_superuser, ...) keeps.
func reservedRole(name string) bool {
	lower := strings.ToLower(name)
	return strings.HasPrefix(lower, "pg_") || strings.HasPrefix(lower, "rds") || lower == "public" || lower == "root" || lower == "mysql"
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// grants are the statements that give u its privileges; revokes those
// that take what this package gave in schemas (PostgreSQL) or the
// database (MySQL), so that a change of privileges is a revoke and a
// grant. PostgreSQL's are per object, from what the catalog says of each
// schema (Admin.schemaState): the tables and sequences the master may
// grant on, the users made there before (what they own u gets, what u
// owns they get), and what was granted to u there.
func grants(f Family, u User, on map[string]schemaState) []Statement {
	if f == MySQL {
		return []Statement{{SQL: "GRANT " + mysqlPrivileges(u.Privileges) + " ON " + grantDatabase(u.Database) + ".* TO ?@'%'", Args: []any{u.Name}}}
	}
	tables, sequences := pgPrivileges(u.Privileges)
	user := quotePG(u.Name)
	out := []Statement{{SQL: "GRANT CONNECT ON DATABASE " + quotePG(u.Database) + " TO " + user}}
	for _, s := range u.schemas() {
		schema := quotePG(s)
		state := on[s]
		onSchema := "USAGE"
		if u.Privileges == Owner {
			onSchema = "USAGE, CREATE"
		}
		out = append(out, Statement{SQL: "GRANT " + onSchema + " ON SCHEMA " + schema + " TO " + user})
		// The server names the objects (regclass), as it reads them back.
		out = append(out, grantEach(tables, state.tables, user)...)
		out = append(out, grantEach(sequences, state.sequences, user)...)
		out = append(out,
			// Tables and sequences the master user (who runs this) makes later.
			Statement{SQL: "ALTER DEFAULT PRIVILEGES IN SCHEMA " + schema + " GRANT " + tables + " ON TABLES TO " + user},
			Statement{SQL: "ALTER DEFAULT PRIVILEGES IN SCHEMA " + schema + " GRANT " + sequences + " ON SEQUENCES TO " + user},
		)
		for _, p := range state.peers {
			// What an owner peer makes later, u gets.
			if p.owner {
				out = append(out, defaultsFor(p.name, schema, tables, sequences, "GRANT", "TO", u.Name)...)
			}
			// What u makes, and its clone as u, its peers get.
			if u.Privileges == Owner {
				t, q := pgPrivileges(p.level())
				out = append(out, defaultsFor(u.Name, schema, t, q, "GRANT", "TO", p.name)...)
			}
		}
	}
	return out
}

// grantEach grants privileges on objects, a few hundred to a statement.
func grantEach(privileges string, objects []string, user string) []Statement {
	const perStatement = 500
	var out []Statement
	for len(objects) > 0 {
		n := min(perStatement, len(objects))
		out = append(out, Statement{SQL: "GRANT " + privileges + " ON TABLE " + strings.Join(objects[:n], ", ") + " TO " + user})
		objects = objects[n:]
	}
	return out
}

// defaultsFor are owner's default privileges in schema for grantee.
func defaultsFor(owner, schema, tables, sequences, verb, to, grantee string) []Statement {
	prefix := "ALTER DEFAULT PRIVILEGES FOR ROLE " + quotePG(owner) + " IN SCHEMA " + schema + " " + verb + " "
	return []Statement{
		{SQL: prefix + tables + " ON TABLES " + to + " " + quotePG(grantee)},
		{SQL: prefix + sequences + " ON SEQUENCES " + to + " " + quotePG(grantee)},
	}
}

// pgPrivileges are what a level holds on PostgreSQL tables and sequences.
// An owner's rights to alter and drop come with owning what it made; on
// what others made it holds readwrite's. Never TRIGGER nor REFERENCES:
// a trigger on the master's table would run the user's code as whoever
// writes to it.
func pgPrivileges(p Privileges) (tables, sequences string) {
	if p == ReadOnly {
		return "SELECT", "SELECT"
	}
	return "SELECT, INSERT, UPDATE, DELETE", "USAGE, SELECT"
}

// mysqlPrivileges are the privileges a user gets on its database. Owner's
// DROP is MySQL's: it covers the database itself too (DROP DATABASE).
func mysqlPrivileges(p Privileges) string {
	switch p {
	case ReadOnly:
		return "SELECT"
	case Owner:
		return mysqlOwner
	}
	return "SELECT, INSERT, UPDATE, DELETE"
}

const mysqlOwner = "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES, CREATE VIEW, SHOW VIEW, CREATE TEMPORARY TABLES"

func revokes(f Family, u User, on map[string]schemaState) []Statement {
	if f == MySQL {
		// What was granted, not ALL PRIVILEGES: an RDS master user holds
		// fewer than ALL and may revoke only what it holds.
		return []Statement{{SQL: "REVOKE " + mysqlPrivileges(u.Privileges) + " ON " + grantDatabase(u.Database) + ".* FROM ?@'%'", Args: []any{u.Name}}}
	}
	user := quotePG(u.Name)
	var out []Statement
	for _, s := range u.schemas() {
		schema := quotePG(s)
		state := on[s]
		out = append(out,
			Statement{SQL: "ALTER DEFAULT PRIVILEGES IN SCHEMA " + schema + " REVOKE ALL ON TABLES FROM " + user},
			Statement{SQL: "ALTER DEFAULT PRIVILEGES IN SCHEMA " + schema + " REVOKE ALL ON SEQUENCES FROM " + user},
		)
		// Every peer's, owner now or not: one that was set them.
		for _, p := range state.peers {
			out = append(out, defaultsFor(p.name, schema, "ALL", "ALL", "REVOKE", "FROM", u.Name)...)
		}
		// Each grant as its grantor: the master's and its owner peers',
		// never u's own rights on what it owns.
		for _, g := range state.granted {
			out = append(out, revokeAs(g, u.Name)...)
		}
		out = append(out, Statement{SQL: "REVOKE USAGE, CREATE ON SCHEMA " + schema + " FROM " + user})
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

// madeMark is the comment on every PostgreSQL user this provisioner made:
// what tells its users from a DBA's roles in the catalog. COMMENT ON ROLE
// needs CREATEROLE, which no user of an application has.
const madeMark = "made by dbcreds-provisioner"

// markMade marks a PostgreSQL user as made here.
func markMade(u User) Statement {
	return Statement{SQL: "COMMENT ON ROLE " + quotePG(u.Name) + " IS " + quoteLiteral(madeMark)}
}

// createClone are the statements that make a PostgreSQL user's
// alternating-users clone with the user: a member of the user that acts as
// the user from login (SET role), so that what either login makes is the
// user's and stays usable by the other across every rotation. Its password
// is unusable until AWS's multi-user rotation function, finding the clone,
// only sets it (ALTER USER ... WITH PASSWORD).
func createClone(u User) ([]Statement, error) {
	verifier, err := unusableVerifier()
	if err != nil {
		return nil, err
	}
	limit := ""
	if u.ConnectionLimit > 0 {
		limit = " CONNECTION LIMIT " + strconv.Itoa(u.ConnectionLimit)
	}
	clone := quotePG(CloneOf(u.Name))
	return []Statement{
		{SQL: "CREATE ROLE " + clone + " WITH LOGIN" + limit + " PASSWORD " + quoteLiteral(verifier) + " IN ROLE " + quotePG(u.Name)},
		{SQL: "ALTER ROLE " + clone + " SET role TO " + quoteLiteral(u.Name)},
	}, nil
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

// roleGrants make the user a member of its roles; at login too: MariaDB
// activates its one default role, MySQL 8 all its defaults.
func roleGrants(f Family, mariadb bool, u User) []Statement {
	var out []Statement
	for _, r := range u.MemberOf {
		if f == Postgres {
			out = append(out, Statement{SQL: "GRANT " + quotePG(r) + " TO " + quotePG(u.Name)})
		} else {
			out = append(out, Statement{SQL: "GRANT " + quoteMySQL(r) + " TO ?@'%'", Args: []any{u.Name}})
		}
	}
	if f == MySQL && len(u.MemberOf) > 0 {
		if mariadb {
			out = append(out, Statement{SQL: "SET DEFAULT ROLE " + quoteMySQL(u.MemberOf[0]) + " FOR ?@'%'", Args: []any{u.Name}})
		} else {
			out = append(out, Statement{SQL: "SET DEFAULT ROLE ALL TO ?@'%'", Args: []any{u.Name}})
		}
	}
	return out
}

// roleRevokes take the user's roles away.
func roleRevokes(f Family, mariadb bool, u User) []Statement {
	var out []Statement
	if f == MySQL && mariadb && len(u.MemberOf) > 0 {
		out = append(out, Statement{SQL: "SET DEFAULT ROLE NONE FOR ?@'%'", Args: []any{u.Name}})
	}
	for _, r := range u.MemberOf {
		if f == Postgres {
			out = append(out, Statement{SQL: "REVOKE " + quotePG(r) + " FROM " + quotePG(u.Name)})
		} else {
			out = append(out, Statement{SQL: "REVOKE " + quoteMySQL(r) + " FROM ?@'%'", Args: []any{u.Name}})
		}
	}
	return out
}
