package dbuser

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/shared/dbsession"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// TestGrantsLockHeldByAnyUserReviewE3: the advisory lock Commit (and
// SetPrivileges) wait on is a constant key in a namespace every role that
// may connect to the database shares: pg_advisory_lock is granted to
// PUBLIC. A user the provisioner itself made, read-only, for another
// caller, takes that key in a session it keeps open, and from then on
// no user can be made on the database, and no user's privileges changed:
// every Commit waits out the session's lock_timeout (1s) and fails as
// "upstream" (a passing failure, so a keyed request keeps its secret,
// without its user, for a retry that fails again). Passes at 0d3287a.
func TestGrantsLockHeldByAnyUserReviewE3(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)

	// Any unprivileged login will do; here one the provisioner made, with
	// the lowest level it gives.
	const hostilePassword = "Hostile-Pa55word-E3"
	hostile := User{Name: "hostile_lock_e3", Database: dbserver.Database, Privileges: ReadOnly}
	if err := a.Create(ctx, hostile, NewPassword(Postgres, hostilePassword)); err != nil {
		t.Fatal(err, errcode.Public(err).Err)
	}
	// A user made before, whose privileges its owner changes later.
	existing := User{Name: "existing_lock_e3", Database: dbserver.Database, Privileges: ReadOnly}
	if err := a.Create(ctx, existing, NewPassword(Postgres, "Existing-Pa55word-E3")); err != nil {
		t.Fatal(err)
	}
	s, err := dbsession.Open(ctx, endpoint(t, Postgres, hostile.Name, hostilePassword))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The key is in the source: "dbcreds" as a number.
	if err := s.Exec(ctx, "SELECT pg_advisory_lock("+strconv.FormatInt(0x6462637265647300, 10)+")"); err != nil {
		t.Fatalf("a read-only user could not take the provisioner's lock key (the attack would fail): %v", err)
	}

	// Another caller's request: a new user on the same database, with a
	// request's deadline.
	reqCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	victim := User{Name: "victim_lock_e3", Database: dbserver.Database, Privileges: ReadWrite}
	pending := a.Prepare(reqCtx, victim, NewPassword(Postgres, "Victim-Pa55word-E3"))
	if err := pending.Err(); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	start := time.Now()
	err = pending.Commit(reqCtx)
	waited := time.Since(start)
	upgraded := existing
	upgraded.Privileges = ReadWrite
	if serr := a.SetPrivileges(ctx, existing, upgraded); serr != nil {
		t.Errorf("changing an existing user's privileges fails too: %s: %v (cause: %v)", errcode.Of(serr), serr, errcode.Public(serr).Err)
	}
	if err != nil {
		t.Fatalf("a user holding the provisioner's constant advisory lock key blocks every user made on the database: "+
			"Commit waited %v and failed with %s: %v (cause: %v)",
			waited.Round(100*time.Millisecond), errcode.Of(err), err, errcode.Public(err).Err)
	}
}
