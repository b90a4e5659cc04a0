package dbuser

import (
	"context"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/shared/dbsession"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// step is one statement run as one login, and whether it must work.
type step struct {
	who, password, sql string
	works              bool
}

func runSteps(t *testing.T, f Family, steps []step) {
	t.Helper()
	for _, s := range steps {
		err := as(t, f, s.who, s.password, s.sql)
		if (err == nil) != s.works {
			t.Errorf("%s: %s: works %v, want %v (%v)", s.who, s.sql, err == nil, s.works, err)
		}
	}
}

// TestOwnerPostgres: owner may create, alter and drop in its schema and
// nothing server-wide; what it (or its clone, acting as it) makes is its
// own, and the schema's other users, made before or after it, get their
// level on it; a downgrade takes creating away and leaves ownership.
func TestOwnerPostgres(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	const pw = "Owner-level-Pa55word"
	const s = "owner_app"
	if err := as(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword, "CREATE SCHEMA "+s, "CREATE TABLE "+s+".by_master (id int)"); err != nil {
		t.Fatal(err)
	}
	reader := User{Name: "own_reader", Database: dbserver.Database, Privileges: ReadOnly, Schemas: []string{s}}
	owner := User{Name: "own_owner", Database: dbserver.Database, Privileges: Owner, Schemas: []string{s}}
	writer := User{Name: "own_writer", Database: dbserver.Database, Privileges: ReadWrite, Schemas: []string{s}}
	for _, u := range []User{reader, owner} {
		if err := a.Create(ctx, u, NewPassword(Postgres, pw)); err != nil {
			t.Fatal(err, errcode.Public(err).Err)
		}
	}
	clone := CloneOf(owner.Name)
	if ok, _ := canLogIn(ctx, endpoint(t, Postgres, clone, "")); ok {
		t.Fatal("the clone logs in before a rotation set its password")
	}
	if err := as(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword, "ALTER USER "+clone+" WITH PASSWORD '"+pw+"'"); err != nil {
		t.Fatal(err) // what AWS's multi-user rotation does with an existing clone
	}
	runSteps(t, Postgres, []step{
		{owner.Name, pw, "CREATE TABLE " + s + ".t1 (id int)", true},
		{owner.Name, pw, "ALTER TABLE " + s + ".t1 ADD COLUMN note text", true},
		{owner.Name, pw, "CREATE INDEX t1_id ON " + s + ".t1 (id)", true},
		{owner.Name, pw, "CREATE VIEW " + s + ".v1 AS SELECT id FROM " + s + ".t1", true},
		{owner.Name, pw, "CREATE SEQUENCE " + s + ".q1", true},
		{owner.Name, pw, "CREATE TABLE " + s + ".scratch (id int)", true},
		{owner.Name, pw, "DROP TABLE " + s + ".scratch", true},
		{owner.Name, pw, "INSERT INTO " + s + ".by_master VALUES (1)", true},
		{clone, pw, "CREATE TABLE " + s + ".by_clone (id int)", true},
		{clone, pw, "INSERT INTO " + s + ".t1 VALUES (1)", true},
		{owner.Name, pw, "ALTER TABLE " + s + ".by_clone ADD COLUMN x int", true},
		{owner.Name, pw, "INSERT INTO " + s + ".by_clone VALUES (1, 2)", true},
		// Nothing server-wide, no right to grant, nowhere else.
		{owner.Name, pw, "CREATE ROLE own_made", false},
		{owner.Name, pw, "CREATE TABLE public.elsewhere (id int)", false},
		{owner.Name, pw, "GRANT SELECT ON " + s + ".by_master TO PUBLIC", true}, // a warning: nothing granted
		{owner.Name, pw, "ALTER TABLE " + s + ".by_master ADD COLUMN y int", false},
		{owner.Name, pw, "CREATE DATABASE own_db", false},
		// The reader, made before, reads what the owner and its clone made.
		{reader.Name, pw, "SELECT count(*) FROM " + s + ".t1", true},
		{reader.Name, pw, "SELECT count(*) FROM " + s + ".by_clone", true},
		{reader.Name, pw, "SELECT count(*) FROM " + s + ".v1", true},
		{reader.Name, pw, "INSERT INTO " + s + ".t1 VALUES (2)", false},
	})
	if public, err := a.s.QueryString(ctx, "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) x WHERE c.oid = $1::regclass AND x.grantee = 0", s+".by_master"); err != nil || public != "0" {
		t.Fatalf("the owner granted PUBLIC the master's table (%s, %v)", public, err)
	}
	owned, err := a.s.QueryString(ctx, "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = $1 AND tablename IN ('t1', 'by_clone')", s)
	if err != nil || owned != owner.Name {
		t.Fatalf("the owner's and clone's tables belong to %q (%v)", owned, err)
	}
	// A writer made after the owner writes what the owner made, before and after.
	if err := a.Create(ctx, writer, NewPassword(Postgres, pw)); err != nil {
		t.Fatal(err, errcode.Public(err).Err)
	}
	runSteps(t, Postgres, []step{
		{writer.Name, pw, "INSERT INTO " + s + ".t1 VALUES (3)", true},
		{owner.Name, pw, "CREATE TABLE " + s + ".t2 (id int)", true},
		{writer.Name, pw, "INSERT INTO " + s + ".t2 VALUES (3)", true},
		{reader.Name, pw, "SELECT count(*) FROM " + s + ".t2", true},
		{writer.Name, pw, "DROP TABLE " + s + ".t2", false},
		{writer.Name, pw, "CREATE TABLE " + s + ".w (id int)", false},
	})
	// Down to readonly: no more creating, and what it made stays its own.
	down := owner
	down.Privileges = ReadOnly
	if err := a.SetPrivileges(ctx, owner, down); err != nil {
		t.Fatal(err, errcode.Public(err).Err)
	}
	runSteps(t, Postgres, []step{
		{owner.Name, pw, "CREATE TABLE " + s + ".t3 (id int)", false},
		{owner.Name, pw, "INSERT INTO " + s + ".by_master VALUES (1)", false},
		{owner.Name, pw, "SELECT count(*) FROM " + s + ".by_master", true},
		{owner.Name, pw, "INSERT INTO " + s + ".t1 VALUES (4)", true}, // its own
	})
	// Up again, in place.
	if err := a.SetPrivileges(ctx, down, owner); err != nil {
		t.Fatal(err, errcode.Public(err).Err)
	}
	runSteps(t, Postgres, []step{{owner.Name, pw, "CREATE TABLE " + s + ".t3 (id int)", true}})
	// Its peers drop cleanly; the owner, owning tables, is refused.
	for _, u := range []User{reader, writer} {
		if err := a.Drop(ctx, u.Name); err != nil {
			t.Fatalf("drop %s: %v (%v)", u.Name, err, errcode.Public(err).Err)
		}
	}
	if err := a.Drop(ctx, owner.Name); errcode.Of(err) != errcode.Conflict {
		t.Fatalf("dropping an owner of tables: %v", err)
	}
	administrator(t, Postgres, "DROP SCHEMA "+s+" CASCADE")
	if err := a.Drop(ctx, owner.Name); err != nil {
		t.Fatalf("drop the owner once its tables are gone: %v (%v)", err, errcode.Public(err).Err)
	}
}

// TestOwnerMySQL: owner may create, alter and drop tables, indexes and
// views in its database, and holds nothing server-wide nor the right to
// grant; a downgrade takes it away.
func TestOwnerMySQL(t *testing.T) {
	ctx := context.Background()
	a := master(t, MySQL)
	const pw = "Owner-level-Pa55word"
	owner := User{Name: "own_owner", Database: dbserver.Database, Privileges: Owner}
	if err := a.Create(ctx, owner, NewPassword(MySQL, pw)); err != nil {
		t.Fatal(err, errcode.Public(err).Err)
	}
	db := "`" + dbserver.Database + "`."
	runSteps(t, MySQL, []step{
		{owner.Name, pw, "CREATE TABLE " + db + "own_t1 (id int)", true},
		{owner.Name, pw, "ALTER TABLE " + db + "own_t1 ADD COLUMN note text", true},
		{owner.Name, pw, "CREATE INDEX own_t1_id ON " + db + "own_t1 (id)", true},
		{owner.Name, pw, "CREATE VIEW " + db + "own_v1 AS SELECT id FROM " + db + "own_t1", true},
		{owner.Name, pw, "INSERT INTO " + db + "own_t1 (id) VALUES (1)", true},
		{owner.Name, pw, "DROP VIEW " + db + "own_v1", true},
		{owner.Name, pw, "CREATE USER own_made IDENTIFIED BY 'x'", false},
		{owner.Name, pw, "GRANT SELECT ON " + db + "own_t1 TO " + dbserver.MasterUser, false},
		{owner.Name, pw, "CREATE TABLE mysql.own_t (id int)", false},
		{owner.Name, pw, "SELECT * FROM mysql.user", false},
	})
	grants, err := a.s.QueryString(ctx, "SELECT GROUP_CONCAT(PRIVILEGE_TYPE) FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = CONCAT(\"'\", ?, \"'@'%'\")", owner.Name)
	if err != nil || grants != "USAGE" {
		t.Fatalf("server-wide privileges %q (%v)", grants, err)
	}
	grantable, err := a.s.QueryString(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = CONCAT(\"'\", ?, \"'@'%'\") AND IS_GRANTABLE = 'YES'", owner.Name)
	if err != nil || grantable != "0" {
		t.Fatalf("grantable privileges %q (%v)", grantable, err)
	}
	down := owner
	down.Privileges = ReadWrite
	if err := a.SetPrivileges(ctx, owner, down); err != nil {
		t.Fatal(err, errcode.Public(err).Err)
	}
	runSteps(t, MySQL, []step{
		{owner.Name, pw, "CREATE TABLE " + db + "own_t2 (id int)", false},
		{owner.Name, pw, "DROP TABLE " + db + "own_t1", false},
		{owner.Name, pw, "INSERT INTO " + db + "own_t1 (id) VALUES (2)", true},
	})
	if err := a.Drop(ctx, owner.Name); err != nil {
		t.Fatal(err)
	}
	administrator(t, MySQL, "DROP TABLE own_t1")
	if !strings.Contains(mysqlPrivileges(Owner), "CREATE VIEW") || strings.Contains(mysqlPrivileges(Owner), "FILE") {
		t.Fatal(mysqlPrivileges(Owner))
	}
}

// TestDropAnOwnerThatMadeNothing: an owner holds default privileges for
// its peers on what it would make; they are no objects it owns, and go
// with it, here and in another database where it set its own.
func TestDropAnOwnerThatMadeNothing(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	const pw = "Owner-level-Pa55word"
	const s = "owner_idle"
	if err := as(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword, "CREATE SCHEMA "+s); err != nil {
		t.Fatal(err)
	}
	reader := User{Name: "idle_reader", Database: dbserver.Database, Privileges: ReadOnly, Schemas: []string{s}}
	owner := User{Name: "idle_owner", Database: dbserver.Database, Privileges: Owner, Schemas: []string{s}}
	for _, u := range []User{reader, owner} {
		if err := a.Create(ctx, u, NewPassword(Postgres, pw)); err != nil {
			t.Fatal(err, errcode.Public(err).Err)
		}
	}
	e := endpoint(t, Postgres, owner.Name, pw)
	e.Database = "postgres"
	other, err := dbsession.Open(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Exec(ctx, "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO "+reader.Name); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if err := a.Drop(ctx, owner.Name); err != nil {
		t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
	}
	if err := a.Drop(ctx, reader.Name); err != nil {
		t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
	}
}
