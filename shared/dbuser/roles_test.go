package dbuser

import (
	"context"
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
