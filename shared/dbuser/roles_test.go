package dbuser

import (
	"context"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// TestMemberOf: a user is made a member of a group role a DBA maintains,
// and holds its privileges at login; a role that is a user's, holds
// server-wide power, is reserved or does not exist is invalid before
// anything is made; an update takes a role away.
func TestMemberOf(t *testing.T) {
	const pw = "Member-of-Pa55word"
	setup := map[Family][]string{
		Postgres: {
			"CREATE SCHEMA roles_s", "CREATE TABLE roles_s.roles_data (id int)",
			"CREATE ROLE reporting NOLOGIN", "GRANT USAGE ON SCHEMA roles_s TO reporting", "GRANT SELECT ON roles_s.roles_data TO reporting",
			"CREATE ROLE auditing NOLOGIN",
			"CREATE ROLE makes_dbs NOLOGIN CREATEDB",
			"CREATE ROLE a_login LOGIN",
			"CREATE ROLE wraps_a_login NOLOGIN IN ROLE a_login",
		},
		MySQL: {
			"CREATE TABLE roles_data (id int)",
			"CREATE ROLE reporting", "GRANT SELECT ON `" + dbserver.Database + "`.roles_data TO reporting",
			"CREATE ROLE auditing",
			"CREATE ROLE server_wide", "GRANT PROCESS ON *.* TO server_wide",
			"CREATE ROLE in_mysql", "GRANT SELECT ON mysql.* TO in_mysql",
			"CREATE ROLE may_grant", "GRANT SELECT ON `" + dbserver.Database + "`.roles_data TO may_grant WITH GRANT OPTION",
			"CREATE ROLE wraps_server_wide", "GRANT server_wide TO wraps_server_wide",
			"CREATE USER a_login@'%' IDENTIFIED BY 'x'",
		},
	}
	refused := map[Family][][]string{
		Postgres: {{"makes_dbs"}, {"a_login"}, {"wraps_a_login"}, {"no_such_role"}, {"pg_read_all_data"}, {"rds_superuser"}, {dbserver.MasterUser}},
		MySQL:    {{"server_wide"}, {"in_mysql"}, {"may_grant"}, {"wraps_server_wide"}, {"a_login"}, {"no_such_role"}, {"reporting", "auditing"}},
	}
	for name, f := range families {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a := master(t, f)
			if err := as(t, f, dbserver.MasterUser, dbserver.MasterPassword, setup[f]...); err != nil {
				t.Fatal(err)
			}
			for _, roles := range refused[f] {
				u := User{Name: "refused_member", Database: dbserver.Database, Privileges: ReadOnly, MemberOf: roles}
				err := u.Check(f)
				if err == nil {
					err = a.CheckTargets(ctx, u)
				}
				if errcode.Of(err) != errcode.Invalid {
					t.Errorf("memberOf %v: %v", roles, err)
				}
			}
			u := User{Name: "member_" + name, Database: dbserver.Database, Privileges: ReadOnly, MemberOf: []string{"reporting"}}
			if f == MySQL {
				u.Privileges = ReadOnly
				u.Database = "app_roles"
				if err := as(t, f, dbserver.MasterUser, dbserver.MasterPassword, "CREATE DATABASE IF NOT EXISTS app_roles"); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.CheckTargets(ctx, u); err != nil {
				t.Fatal(err)
			}
			if err := a.Create(ctx, u, NewPassword(f, pw)); err != nil {
				t.Fatal(err, errcode.Public(err).Err)
			}
			read := "SELECT count(*) FROM " + dbserver.Database + ".roles_data"
			if f == Postgres {
				read = "SELECT count(*) FROM roles_s.roles_data"
			}
			if err := as(t, f, u.Name, pw, read); err != nil {
				t.Fatalf("the member cannot read what its role may, at login: %v", err)
			}
			without := u
			without.MemberOf = nil
			if err := a.SetPrivileges(ctx, u, without); err != nil {
				t.Fatal(err, errcode.Public(err).Err)
			}
			if err := as(t, f, u.Name, pw, read); err == nil {
				t.Fatal("the role is still the user's")
			}
			if err := a.Drop(ctx, u.Name); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMemberOfRefusesWhatHandsOverMore: the roles the reviews of memberOf
// got past the check, each now invalid before anything is made, with why:
// a user the provisioner made (locked after a refused drop) and its clone,
// roles that may grant (a grant or admin option, here or on a language),
// a privilege on a server setting; MariaDB roles on databases named by a
// pattern, on mysql's procedures, or holding such a role behind a name
// that reads like SQL.
func TestMemberOfRefusesWhatHandsOverMore(t *testing.T) {
	const pw = "Refused-member-Pa55word"
	ctx := context.Background()
	pg, my := master(t, Postgres), master(t, MySQL)
	// A user made here whose drop was refused: it owns a table, and stays
	// locked, NOLOGIN, like a group role.
	administrator(t, Postgres, "CREATE SCHEMA refused_roles", "ALTER SCHEMA refused_roles OWNER TO "+dbserver.MasterUser)
	locked := User{Name: "locked_owner", Database: dbserver.Database, Privileges: Owner, Schemas: []string{"refused_roles"}}
	if err := pg.Create(ctx, locked, NewPassword(Postgres, pw)); err != nil {
		t.Fatal(err)
	}
	if err := as(t, Postgres, locked.Name, pw, "CREATE TABLE refused_roles.data (id int)"); err != nil {
		t.Fatal(err)
	}
	if err := pg.Drop(ctx, locked.Name); errcode.Of(err) != errcode.Conflict {
		t.Fatalf("the owner's drop: %v", err)
	}
	administrator(t, Postgres,
		"CREATE TABLE refused_roles.payroll (id int)",
		"CREATE ROLE may_grant NOLOGIN", "GRANT SELECT ON refused_roles.payroll TO may_grant WITH GRANT OPTION",
		"CREATE ROLE inner_role NOLOGIN", "CREATE ROLE may_admin NOLOGIN", "GRANT inner_role TO may_admin WITH ADMIN OPTION",
		"CREATE ROLE lang_grant NOLOGIN", "GRANT USAGE ON LANGUAGE plpgsql TO lang_grant WITH GRANT OPTION",
		"CREATE ROLE sets_replication NOLOGIN", "GRANT SET ON PARAMETER session_replication_role TO sets_replication",
		"CREATE ROLE wraps_may_grant NOLOGIN", "GRANT may_grant TO wraps_may_grant")
	if err := as(t, MySQL, dbserver.MasterUser, dbserver.MasterPassword,
		"CREATE ROLE wild", "GRANT SELECT ON `m%`.* TO wild",
		"CREATE ROLE kills", "GRANT EXECUTE ON PROCEDURE mysql.rds_kill TO kills",
		"CREATE ROLE `hidden ON x`", "GRANT SELECT ON mysql.* TO `hidden ON x`", "CREATE ROLE holds_on", "GRANT `hidden ON x` TO holds_on",
		"CREATE ROLE `hidden TO x`", "GRANT SELECT ON mysql.* TO `hidden TO x`", "CREATE ROLE holds_to", "GRANT `hidden TO x` TO holds_to",
	); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		family Family
		role   string
		why    string
	}{
		{Postgres, locked.Name, "a user this provisioner made"},
		{Postgres, CloneOf(locked.Name), "a user this provisioner made"},
		{Postgres, "may_grant", "a grant option"},
		{Postgres, "wraps_may_grant", "a grant option"},
		{Postgres, "may_admin", "ADMIN OPTION"},
		{Postgres, "lang_grant", "a grant option"},
		{Postgres, "sets_replication", "server setting"},
		{MySQL, "wild", "named by a pattern"},
		{MySQL, "kills", "server's own databases"},
		{MySQL, "holds_on", "server's own databases"},
		{MySQL, "holds_to", "server's own databases"},
	} {
		t.Run(tt.role, func(t *testing.T) {
			a := map[Family]*Admin{Postgres: pg, MySQL: my}[tt.family]
			u := User{Name: "would_be_member", Database: dbserver.Database, Privileges: ReadOnly, MemberOf: []string{tt.role}}
			if tt.family == Postgres {
				u.Schemas = []string{"refused_roles"}
			}
			err := a.CheckTargets(ctx, u)
			if errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != "memberOf[0]" || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("got %v, want invalid memberOf[0] saying %q", err, tt.why)
			}
		})
	}
}

// TestNoSelfAdministration: what the in-transaction memberships rely on,
// on the PostgreSQL here: a tenant cannot grant its own role to the master
// (a standing membership) or to a group role.
func TestNoSelfAdministration(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	administrator(t, Postgres, "CREATE ROLE self_admin_grp NOLOGIN")
	u := User{Name: "self_admin", Database: dbserver.Database, Privileges: ReadOnly}
	if err := a.Create(ctx, u, NewPassword(Postgres, "Self-admin-Pa55word")); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"GRANT self_admin TO " + dbserver.MasterUser, "GRANT self_admin TO self_admin_grp"} {
		if err := as(t, Postgres, u.Name, "Self-admin-Pa55word", st); err == nil {
			t.Errorf("%s: allowed", st)
		}
	}
}

func TestBackticked(t *testing.T) {
	for in, want := range map[string]string{"`r` TO `u`@`%`": "r", "`a TO b` TO `u`": "a TO b", "`x``y` TO `u`": "x`y", "`r`@`%` TO `u`": "r", "r TO u": "", "`open": ""} {
		if got, ok := backticked(in); got != want || ok != (want != "") {
			t.Errorf("%q: %q, %v", in, got, ok)
		}
	}
}
