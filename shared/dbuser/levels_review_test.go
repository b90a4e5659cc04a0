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
