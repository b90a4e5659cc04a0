// Regression tests from the adversarial review of levels, peers and
// memberOf: each failed while its problem was there.

package dbuser

import (
	"context"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/shared/errcode"
)

const rvPW = "Review-Pa55word-x"

func rvMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err, errcode.Public(err).Err)
	}
}

// Finding: an owner peer that is a member of a group role G makes every
// user of the schema get G's tables in the schema, without memberOf G
// (GrantableRoles and the grant's roles are bypassed): the master, a
// member of the owner peer for the transaction, inherits G, and
// `grantable` lists G's relations.
func TestPeersGetNoGroupRolesTables(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	administrator(t, Postgres,
		"CREATE SCHEMA rv1", "ALTER SCHEMA rv1 OWNER TO master",
		"CREATE ROLE rv1_grp NOLOGIN", "GRANT USAGE ON SCHEMA rv1 TO rv1_grp",
		"CREATE TABLE rv1.grp_secret (id int)", "ALTER TABLE rv1.grp_secret OWNER TO rv1_grp",
	)
	owner := User{Name: "rv1_owner", Database: dbserver.Database, Privileges: Owner, Schemas: []string{"rv1"}, MemberOf: []string{"rv1_grp"}}
	rvMust(t, a.CheckTargets(ctx, owner))
	rvMust(t, a.Create(ctx, owner, NewPassword(Postgres, rvPW)))
	// Another team's user on the same schema, with no memberOf at all.
	other := User{Name: "rv1_other", Database: dbserver.Database, Privileges: ReadWrite, Schemas: []string{"rv1"}}
	rvMust(t, a.Create(ctx, other, NewPassword(Postgres, rvPW)))
	if err := as(t, Postgres, other.Name, rvPW, "DELETE FROM rv1.grp_secret", "SELECT * FROM rv1.grp_secret"); err == nil {
		t.Errorf("%s, never a member of rv1_grp, reads and deletes rv1_grp's table", other.Name)
	}
}

// Finding: a peer's grants to u are revoked only while the peer still
// holds CREATE from the master; once the owner peer was downgraded, a
// downgrade of u leaves u writing the peer's tables.
func TestDowngradeRevokesAFormerOwnersGrants(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	administrator(t, Postgres, "CREATE SCHEMA rv2", "ALTER SCHEMA rv2 OWNER TO master")
	owner := User{Name: "rv2_owner", Database: dbserver.Database, Privileges: Owner, Schemas: []string{"rv2"}}
	rvMust(t, a.Create(ctx, owner, NewPassword(Postgres, rvPW)))
	rvMust(t, as(t, Postgres, owner.Name, rvPW, "CREATE TABLE rv2.t (id int)"))
	u := User{Name: "rv2_u", Database: dbserver.Database, Privileges: ReadWrite, Schemas: []string{"rv2"}}
	rvMust(t, a.Create(ctx, u, NewPassword(Postgres, rvPW)))
	rvMust(t, as(t, Postgres, u.Name, rvPW, "INSERT INTO rv2.t VALUES (1)"))

	// Control: with the owner still an owner, u's downgrade takes writing away.
	ro := u
	ro.Privileges = ReadOnly
	rvMust(t, a.SetPrivileges(ctx, u, ro))
	if err := as(t, Postgres, u.Name, rvPW, "INSERT INTO rv2.t VALUES (2)"); err == nil {
		t.Fatal("control: downgrade did not take writing away")
	}
	rvMust(t, a.SetPrivileges(ctx, ro, u))
	rvMust(t, as(t, Postgres, u.Name, rvPW, "INSERT INTO rv2.t VALUES (3)"))

	// The owner is downgraded first (its team's update), then u.
	down := owner
	down.Privileges = ReadWrite
	rvMust(t, a.SetPrivileges(ctx, owner, down))
	rvMust(t, a.SetPrivileges(ctx, u, ro))
	if err := as(t, Postgres, u.Name, rvPW, "INSERT INTO rv2.t VALUES (4)", "DELETE FROM rv2.t"); err == nil {
		t.Errorf("readonly %s still writes and deletes the former owner's table", u.Name)
	}
}

// Finding: a provisioner user whose Delete was refused is left NOLOGIN
// (locked), which CheckRoles takes for a group role: another caller's
// memberOf hands it the locked user's tables (as their owner).
func TestNoMemberOfAUserItMade(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	administrator(t, Postgres, "CREATE SCHEMA rv3", "ALTER SCHEMA rv3 OWNER TO master")
	victim := User{Name: "rv3_victim", Database: dbserver.Database, Privileges: Owner, Schemas: []string{"rv3"}}
	rvMust(t, a.Create(ctx, victim, NewPassword(Postgres, rvPW)))
	rvMust(t, as(t, Postgres, victim.Name, rvPW, "CREATE TABLE rv3.data (id int)", "INSERT INTO rv3.data VALUES (42)"))
	if err := a.Drop(ctx, victim.Name); errcode.Of(err) != errcode.Conflict {
		t.Fatalf("drop of an owner of tables: %v", err)
	}
	for _, role := range []string{victim.Name, CloneOf(victim.Name)} {
		attacker := User{Name: "rv3_att" + map[bool]string{true: "c", false: "u"}[role != victim.Name], Database: dbserver.Database, Privileges: ReadOnly, Schemas: []string{"rv3"}, MemberOf: []string{role}}
		if err := attacker.Check(Postgres); err != nil {
			t.Logf("memberOf %s refused by Check: %v", role, err)
			continue
		}
		if err := a.CheckTargets(ctx, attacker); err != nil {
			t.Logf("memberOf %s refused: %v", role, err)
			continue
		}
		rvMust(t, a.Create(ctx, attacker, NewPassword(Postgres, rvPW)))
		if err := as(t, Postgres, attacker.Name, rvPW, "SELECT * FROM rv3.data", "ALTER TABLE rv3.data ADD COLUMN pwned_"+attacker.Name+" int", "GRANT ALL ON rv3.data TO PUBLIC"); err != nil {
			t.Logf("held for %s: %v", role, err)
		} else {
			t.Errorf("memberOf %s (a locked provisioner user) hands its tables over: read, altered, granted to PUBLIC", role)
		}
	}
}

// Finding (doc mismatch): docs/database-users.md says a memberOf role with
// a grant option is refused; on PostgreSQL a group role holding a table
// privilege WITH GRANT OPTION (or a role WITH ADMIN OPTION) passes, and the
// member re-grants to anyone, PUBLIC included.
func TestNoMemberOfARoleThatMayGrant(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	administrator(t, Postgres,
		"CREATE SCHEMA rv4", "ALTER SCHEMA rv4 OWNER TO master",
		"CREATE TABLE rv4.payroll (id int)", "ALTER TABLE rv4.payroll OWNER TO master",
		"CREATE ROLE rv4_grp NOLOGIN", "CREATE ROLE rv4_inner NOLOGIN",
		"SET ROLE master", "GRANT USAGE ON SCHEMA rv4 TO PUBLIC", "GRANT SELECT ON rv4.payroll TO rv4_grp WITH GRANT OPTION", "RESET ROLE",
		"GRANT rv4_inner TO rv4_grp WITH ADMIN OPTION", "CREATE ROLE rv4_elsewhere NOLOGIN",
	)
	u := User{Name: "rv4_u", Database: dbserver.Database, Privileges: ReadOnly, Schemas: []string{"rv4"}, MemberOf: []string{"rv4_grp"}}
	if err := a.CheckTargets(ctx, u); err != nil {
		t.Logf("held: refused: %v", err)
		return
	}
	rvMust(t, a.Create(ctx, u, NewPassword(Postgres, rvPW)))
	if err := as(t, Postgres, u.Name, rvPW, "GRANT SELECT ON rv4.payroll TO PUBLIC", "GRANT rv4_inner TO rv4_elsewhere"); err != nil {
		t.Logf("held: %v", err)
	} else {
		t.Errorf("a member of a group role with grant/admin options re-grants them to PUBLIC")
	}
}

// Finding: MariaDB's role check reads SHOW GRANTS text and compares the
// database name with the system ones literally; a database-level grant
// whose name is a wildcard (m%, %, mysq_) reaches the mysql database and
// passes.
func TestNoMemberOfAWildcardRole(t *testing.T) {
	ctx := context.Background()
	a := master(t, MySQL)
	rvMust(t, as(t, MySQL, dbserver.MasterUser, dbserver.MasterPassword,
		"CREATE DATABASE IF NOT EXISTS rv5_db",
		"CREATE ROLE IF NOT EXISTS rv5_wild",
		"GRANT SELECT ON `m%`.* TO rv5_wild",
	))
	u := User{Name: "rv5_u", Database: dbserver.Database, Privileges: ReadOnly, MemberOf: []string{"rv5_wild"}}
	if err := a.CheckTargets(ctx, u); err != nil {
		t.Logf("held: refused: %v", err)
		return
	}
	rvMust(t, a.Create(ctx, u, NewPassword(MySQL, rvPW)))
	if err := as(t, MySQL, u.Name, rvPW, "SELECT count(*) FROM mysql.global_priv"); err != nil {
		t.Logf("held: %v", err)
	} else {
		t.Errorf("memberOf a role with SELECT ON `m%%`.* reads mysql.global_priv (password hashes)")
	}
}

// Same class: a routine-level grant on a procedure of the mysql database
// (RDS's mysql.rds_kill) passes the "server's own databases" check, as the
// target is read as "PROCEDURE `mysql`".
func TestNoMemberOfARoleWithMySQLsProcedures(t *testing.T) {
	ctx := context.Background()
	a := master(t, MySQL)
	rvMust(t, as(t, MySQL, dbserver.MasterUser, dbserver.MasterPassword,
		"CREATE ROLE IF NOT EXISTS rv6_killer",
		"GRANT EXECUTE ON PROCEDURE mysql.rds_kill TO rv6_killer",
	))
	u := User{Name: "rv6_u", Database: dbserver.Database, Privileges: ReadOnly, MemberOf: []string{"rv6_killer"}}
	if err := a.CheckTargets(ctx, u); err != nil {
		t.Logf("held: refused: %v", err)
		return
	}
	t.Errorf("memberOf a role with EXECUTE ON PROCEDURE mysql.rds_kill passes CheckRoles")
}

// Held?: names from the catalog (regclass) reach GRANT/REVOKE quoted.
func TestCatalogNamesStayQuoted(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	administrator(t, Postgres, "CREATE SCHEMA rv7", "ALTER SCHEMA rv7 OWNER TO master")
	owner := User{Name: "rv7_owner", Database: dbserver.Database, Privileges: Owner, Schemas: []string{"rv7"}}
	rvMust(t, a.Create(ctx, owner, NewPassword(Postgres, rvPW)))
	rvMust(t, as(t, Postgres, owner.Name, rvPW,
		`CREATE TABLE rv7."x TO PUBLIC; GRANT ALL ON rv7.t TO PUBLIC; --" (id int)`,
		`CREATE TABLE rv7."A,b" (id int)`, `CREATE TABLE rv7."select" (id int)`, `CREATE TABLE rv7."pg_class" (id int)`,
		`CREATE TABLE rv7.t (id int)`))
	u := User{Name: "rv7_u", Database: dbserver.Database, Privileges: ReadWrite, Schemas: []string{"rv7"}}
	rvMust(t, a.Create(ctx, u, NewPassword(Postgres, rvPW)))
	ro := u
	ro.Privileges = ReadOnly
	rvMust(t, a.SetPrivileges(ctx, u, ro))
	pub, err := a.s.QueryString(ctx, "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) x WHERE c.relnamespace = 'rv7'::regnamespace AND x.grantee = 0")
	if err != nil || pub != "0" {
		t.Errorf("PUBLIC got grants in rv7 (%s, %v)", pub, err)
	}
	if err := as(t, Postgres, u.Name, rvPW, `INSERT INTO rv7."A,b" VALUES (1)`); err == nil {
		t.Errorf("downgrade left writes on a quoted name")
	}
	rvMust(t, as(t, Postgres, u.Name, rvPW, `SELECT * FROM rv7."select"`, `SELECT * FROM rv7."pg_class"`))
}

// PostgreSQL 15: a session user administers its own role, so a tenant can
// GRANT its role to the master (a standing membership the provisioner
// never takes) or to a DBA's group role (which CheckRoles then refuses).
func TestNoSelfAdministration(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	administrator(t, Postgres, "CREATE SCHEMA rv8", "ALTER SCHEMA rv8 OWNER TO master", "CREATE ROLE rv8_grp NOLOGIN")
	u := User{Name: "rv8_u", Database: dbserver.Database, Privileges: ReadOnly, Schemas: []string{"rv8"}}
	rvMust(t, a.Create(ctx, u, NewPassword(Postgres, rvPW)))
	if err := as(t, Postgres, u.Name, rvPW, "GRANT rv8_u TO master", "GRANT rv8_u TO rv8_grp"); err != nil {
		t.Logf("held: %v", err)
		return
	}
	m, _ := a.s.QueryString(ctx, "SELECT pg_has_role('master', 'rv8_u', 'USAGE')::text")
	t.Logf("master is now a standing member of the tenant's role: %s", m)
	v := User{Name: "rv8_v", Database: dbserver.Database, Privileges: ReadOnly, Schemas: []string{"rv8"}, MemberOf: []string{"rv8_grp"}}
	if err := a.CheckTargets(ctx, v); err != nil {
		t.Errorf("FINDING (low): a tenant made a DBA's group role unusable for memberOf: %v", err)
	}
}
