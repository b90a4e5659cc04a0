// Regression tests from the second review of levels, peers and memberOf:
// each failed while its problem was there.

package dbuser

import (
	"context"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
)

// RR1 (MariaDB): a held role whose name contains " ON " is read as a
// privilege line, never followed, so what it holds is never checked.
func TestNoRoleHidesBehindANameWithOn(t *testing.T) {
	ctx := context.Background()
	a := master(t, MySQL)
	rvMust(t, as(t, MySQL, dbserver.MasterUser, dbserver.MasterPassword,
		"CREATE ROLE IF NOT EXISTS `rr1 ON x`",
		"GRANT SELECT ON mysql.* TO `rr1 ON x`",
		"CREATE ROLE IF NOT EXISTS rr1_outer",
		"GRANT `rr1 ON x` TO rr1_outer",
	))
	u := User{Name: "rr1_u", Database: dbserver.Database, Privileges: ReadOnly, MemberOf: []string{"rr1_outer"}}
	if err := a.CheckTargets(ctx, u); err != nil {
		t.Logf("held: refused: %v", err)
		return
	}
	rvMust(t, a.Create(ctx, u, NewPassword(MySQL, rvPW)))
	defer a.Drop(ctx, u.Name)
	if err := as(t, MySQL, u.Name, rvPW, "SELECT count(*) FROM mysql.global_priv"); err != nil {
		t.Errorf("passed CheckRoles (not exploitable here: %v)", err)
	} else {
		t.Errorf("memberOf rr1_outer (holding `rr1 ON x`, SELECT ON mysql.*) passed CheckRoles; user reads mysql.global_priv")
	}
}

// RR2 (MariaDB): a held role named "rr2 TO x" is checked as role "rr2".
func TestNoRoleHidesBehindANameWithTo(t *testing.T) {
	ctx := context.Background()
	a := master(t, MySQL)
	rvMust(t, as(t, MySQL, dbserver.MasterUser, dbserver.MasterPassword,
		"CREATE ROLE IF NOT EXISTS rr2",
		"CREATE ROLE IF NOT EXISTS `rr2 TO x`",
		"GRANT SELECT ON mysql.* TO `rr2 TO x`",
		"CREATE ROLE IF NOT EXISTS rr2_outer",
		"GRANT `rr2 TO x` TO rr2_outer",
	))
	u := User{Name: "rr2_u", Database: dbserver.Database, Privileges: ReadOnly, MemberOf: []string{"rr2_outer"}}
	if err := a.CheckTargets(ctx, u); err != nil {
		t.Logf("held: refused: %v", err)
		return
	}
	rvMust(t, a.Create(ctx, u, NewPassword(MySQL, rvPW)))
	defer a.Drop(ctx, u.Name)
	if err := as(t, MySQL, u.Name, rvPW, "SELECT count(*) FROM mysql.global_priv"); err != nil {
		t.Errorf("passed CheckRoles (not exploitable here: %v)", err)
	} else {
		t.Errorf("memberOf rr2_outer (holding `rr2 TO x`, SELECT ON mysql.*) passed CheckRoles; user reads mysql.global_priv")
	}
}

// RR3 (PostgreSQL 15): a server-wide privilege on a parameter
// (pg_parameter_acl) is not among what pgRoleQuery looks at.
func TestNoMemberOfARoleWithAParameterPrivilege(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	administrator(t, Postgres,
		"CREATE ROLE rr3_grp NOLOGIN",
		"GRANT SET ON PARAMETER session_replication_role TO rr3_grp",
		"CREATE SCHEMA rr3", "ALTER SCHEMA rr3 OWNER TO master")
	rvMust(t, as(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword,
		"CREATE TABLE rr3.parent (id int PRIMARY KEY)", "CREATE TABLE rr3.child (id int REFERENCES rr3.parent)",
		"GRANT rr3_grp TO master WITH ADMIN OPTION"))
	u := User{Name: "rr3_u", Database: dbserver.Database, Privileges: ReadWrite, Schemas: []string{"rr3"}, MemberOf: []string{"rr3_grp"}}
	if err := a.CheckTargets(ctx, u); err != nil {
		t.Logf("held: refused: %v", err)
		return
	}
	rvMust(t, a.Create(ctx, u, NewPassword(Postgres, rvPW)))
	if err := as(t, Postgres, u.Name, rvPW, "SET session_replication_role = replica", "INSERT INTO rr3.child VALUES (42)"); err != nil {
		t.Errorf("passed CheckRoles (not exploitable: %v)", err)
	} else {
		t.Errorf("memberOf a role with SET ON PARAMETER session_replication_role passes CheckRoles; user disabled FK/triggers (orphan row inserted)")
	}
}

// RR4 (PostgreSQL): grant options on languages, FDWs, tablespaces,
// parameters are not looked at.
func TestNoMemberOfARoleWithGrantOptionsElsewhere(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	administrator(t, Postgres,
		"CREATE ROLE rr4_lang NOLOGIN", "GRANT USAGE ON LANGUAGE plpgsql TO rr4_lang WITH GRANT OPTION",
		"CREATE ROLE rr4_param NOLOGIN", "GRANT SET ON PARAMETER work_mem TO rr4_param WITH GRANT OPTION")
	for _, r := range []string{"rr4_lang", "rr4_param"} {
		u := User{Name: "rr4_u", Database: dbserver.Database, Privileges: ReadOnly, MemberOf: []string{r}}
		if err := a.CheckTargets(ctx, u); err != nil {
			t.Logf("held: %s refused: %v", r, err)
			continue
		}
		t.Errorf("FINDING (low): %s holds a grant option yet passes CheckRoles", r)
	}
}

// RR5 (PostgreSQL): a DBA group role the master gave default privileges
// in a schema (the usual "reporting reads what the master makes") is
// taken for one of the provisioner's users: an owner made there later
// gives it (and so all of its members, of any team) its tables.
func TestADBAsGroupRoleIsNoPeer(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	administrator(t, Postgres, "CREATE SCHEMA rr5", "ALTER SCHEMA rr5 OWNER TO master",
		"CREATE ROLE rr5_rep NOLOGIN", "CREATE ROLE rr5_outsider LOGIN PASSWORD '"+rvPW+"' IN ROLE rr5_rep")
	rvMust(t, as(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword,
		"GRANT USAGE ON SCHEMA rr5 TO rr5_rep",
		"ALTER DEFAULT PRIVILEGES IN SCHEMA rr5 GRANT SELECT ON TABLES TO rr5_rep"))
	o := User{Name: "rr5_owner", Database: dbserver.Database, Privileges: Owner, Schemas: []string{"rr5"}}
	rvMust(t, a.Create(ctx, o, NewPassword(Postgres, rvPW)))
	rvMust(t, as(t, Postgres, o.Name, rvPW, "CREATE TABLE rr5.secret_of_owner (x text)"))
	if err := as(t, Postgres, "rr5_outsider", rvPW, "SELECT * FROM rr5.secret_of_owner"); err == nil {
		t.Errorf("the DBA's group role rr5_rep (and its member rr5_outsider) reads the owner's own table: taken for a peer")
	} else {
		t.Logf("held: %v", err)
	}
}
