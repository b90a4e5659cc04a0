package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
)

// TestDeleteHandsNothingToTheMaster: a user that planted a SECURITY
// DEFINER function, where a schema let it, is not dropped by DELETE (a
// conflict), and its function never becomes the master's: the master's
// password stays the master's.
func TestDeleteHandsNothingToTheMaster(t *testing.T) {
	s := dbServer(t, "postgres")
	master := masterSecretFor(t, "masters/trust/planted", s)
	asMasterOf(t, s, "CREATE SCHEMA IF NOT EXISTS team_ddl", "GRANT USAGE, CREATE ON SCHEMA team_ddl TO PUBLIC")
	a := apiCall(t, scopedAPI, "POST", "", "payments", fmt.Sprintf(`{"name": "app/payments/planter", "engine": "postgres", "dbname": %q, "username": "planter", "masterSecretArn": %q, "createDatabaseUser": true%s}`,
		dbserver.Database, master, at(s.Host, s.Port)), nil)
	if a.Status != 201 {
		t.Fatalf("%+v", a)
	}
	if err := asSecret(t, "postgres", arnOf(t, a.Body),
		`CREATE FUNCTION team_ddl.takeover() RETURNS void LANGUAGE sql SECURITY DEFINER AS 'ALTER ROLE master PASSWORD ''Taken-Pa55word'''`); err != nil {
		t.Fatal(err)
	}
	if d := apiCall(t, scopedAPI, "DELETE", "app/payments/planter", "payments", "", nil); d.Status != 409 || !strings.Contains(d.Body, "owns 1 database objects") {
		t.Fatalf("delete: %+v", d)
	}
	// Anyone may call the function; it still runs as its planter.
	if err := s.AsMaster("SELECT team_ddl.takeover()"); err == nil {
		t.Fatal("the planted function ran as the master")
	}
	db := dbserver.Open("postgres", s.Host, s.Port, dbserver.Database, dbserver.MasterUser, dbserver.MasterPassword)
	defer db.Close()
	if err := dbserver.Run(db, "SELECT 1"); err != nil {
		t.Fatalf("the master's password changed: %v", err)
	}
}
