package dbuser

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
)

// TestUsersMadeAtOnce: users made at once on one database, each in its own
// session with its transaction open across the others (as each stays open
// while its secret is made), all succeed. PostgreSQL fails the second of
// two open transactions that change one ACL ("tuple concurrently
// updated"), which a burst of requests did on the schema's and database's
// grants.
func TestUsersMadeAtOnce(t *testing.T) {
	ctx := context.Background()
	for _, f := range []Family{Postgres, MySQL} {
		name := map[Family]string{Postgres: "postgres", MySQL: "mysql"}[f]
		t.Run(name, func(t *testing.T) {
			const n = 6
			admins := make([]*Admin, n)
			pending := make([]*Pending, n)
			for i := range n {
				admins[i] = master(t, f)
			}
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					u := User{Name: fmt.Sprintf("at_once_%s_%d", name, i), Database: dbserver.Database, Privileges: ReadWrite}
					pending[i] = admins[i].Prepare(ctx, u, NewPassword(f, fmt.Sprintf("At-Once-Pa55word-%d", i)))
				}()
			}
			wg.Wait() // every transaction open at once
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- pending[i].Commit(ctx)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			for i := range n {
				if err := as(t, f, fmt.Sprintf("at_once_%s_%d", name, i), fmt.Sprintf("At-Once-Pa55word-%d", i), "SELECT 1"); err != nil {
					t.Errorf("user %d: %v", i, err)
				}
			}
		})
	}
}

// TestGrantsLockHeldElsewhere: any session of the database may take the
// advisory lock the grants wait on; one that keeps it delays user
// creation by the wait, never stops it.
func TestGrantsLockHeldElsewhere(t *testing.T) {
	ctx := context.Background()
	was := grantsLockWait
	grantsLockWait = time.Second
	defer func() { grantsLockWait = was }()
	s, err := dbserver.Shared("postgres")
	if err != nil {
		t.Fatal(err)
	}
	holder := dbserver.Open("postgres", s.Host, s.Port, dbserver.Database, dbserver.MasterUser, dbserver.MasterPassword)
	defer holder.Close()
	conn, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SELECT pg_advisory_lock(%d)", grantsLock)); err != nil {
		t.Fatal(err)
	}
	a := master(t, Postgres)
	u := User{Name: "despite_the_lock", Database: dbserver.Database, Privileges: ReadOnly}
	if err := a.Create(ctx, u, NewPassword(Postgres, "Despite-Pa55word")); err != nil {
		t.Fatalf("with the grants' lock held elsewhere: %v", err)
	}
	if err := as(t, Postgres, u.Name, "Despite-Pa55word", "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}
