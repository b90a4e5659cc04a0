// Regression tests from the second review of levels, peers and memberOf:
// each failed while its problem was there.

package dbuser

import (
	"context"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
)

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
