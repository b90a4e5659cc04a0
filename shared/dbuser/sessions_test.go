package dbuser

import (
	"context"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/dbserver"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// TestDropEndsOpenSessions: a session the user opened before the delete
// does not outlive it. MySQL keeps a dropped user's session, with its
// privileges, until it closes; in PostgreSQL the session's temporary
// table is an object the user owns, which would block the drop (or, made
// after the check, be dropped by DROP OWNED unseen).
func TestDropEndsOpenSessions(t *testing.T) {
	for name, f := range families {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a := master(t, f)
			u := User{Name: "kept_open_" + name, Database: dbserver.Database, Privileges: ReadWrite}
			const password = "kept-open-Pa55word"
			if err := a.Create(ctx, u, NewPassword(f, password)); err != nil {
				t.Fatal(err)
			}
			s, err := open(ctx, endpoint(f, u.Name, password))
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			hold := "CREATE TEMPORARY TABLE held (id int)"
			if f == MySQL {
				hold = "SELECT 1"
			}
			if err := s.exec(ctx, Statement{SQL: hold}); err != nil {
				t.Fatal(err)
			}
			if err := a.Drop(ctx, u.Name); err != nil {
				t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
			}
			if exists, err := a.Exists(ctx, u.Name); err != nil || exists {
				t.Fatalf("after drop: exists %v, %v", exists, err)
			}
			if err := s.exec(ctx, Statement{SQL: "SELECT 1"}); err == nil {
				t.Fatal("the session opened before the delete still answers")
			}
		})
	}
}

// TestDropLocksFirst: a user whose drop is refused can no longer log in;
// a MySQL master that may end no session leaves the user locked, not
// dropped under a session that could still act.
func TestDropLocksFirst(t *testing.T) {
	ctx := context.Background()
	t.Run("postgres", func(t *testing.T) {
		a := master(t, Postgres)
		u := User{Name: "owner_locked", Database: dbserver.Database, Privileges: ReadWrite}
		const password = "owner-locked-Pa55word"
		if err := a.Create(ctx, u, NewPassword(Postgres, password)); err != nil {
			t.Fatal(err)
		}
		if err := as(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword, "GRANT CREATE ON SCHEMA public TO "+u.Name); err != nil {
			t.Fatal(err)
		}
		if err := as(t, Postgres, u.Name, password, "CREATE TABLE kept_by_owner (id int)"); err != nil {
			t.Fatal(err)
		}
		if err := a.Drop(ctx, u.Name); errcode.Of(err) != errcode.Conflict {
			t.Fatalf("a user that owns a table: %v", err)
		}
		if ok, err := canLogIn(ctx, endpoint(Postgres, u.Name, password)); ok || err != nil {
			t.Fatalf("after a refused drop the user logs in: %v, %v", ok, err)
		}
		// Once its objects are gone, a second delete (the lock and the
		// membership already in place) drops it.
		if err := as(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword, "DROP TABLE kept_by_owner"); err != nil {
			t.Fatal(err)
		}
		if err := a.Drop(ctx, u.Name); err != nil {
			t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
		}
	})
	t.Run("mariadb", func(t *testing.T) {
		a := master(t, MySQL)
		u := User{Name: "unkillable", Database: dbserver.Database, Privileges: ReadOnly}
		const password = "unkillable-Pa55word"
		if err := a.Create(ctx, u, NewPassword(MySQL, password)); err != nil {
			t.Fatal(err)
		}
		s, err := open(ctx, endpoint(MySQL, u.Name, password))
		if err != nil {
			t.Fatal(err)
		}
		defer s.close()
		revoke := "REVOKE EXECUTE ON *.* FROM '" + dbserver.MasterUser + "'@'%'"
		if err := as(t, MySQL, dbserver.MasterUser, dbserver.MasterPassword, revoke); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			as(t, MySQL, dbserver.MasterUser, dbserver.MasterPassword, "GRANT EXECUTE ON *.* TO '"+dbserver.MasterUser+"'@'%' WITH GRANT OPTION")
		})
		// Global privileges are read when a session starts.
		a = master(t, MySQL)
		err = a.Drop(ctx, u.Name)
		if errcode.Of(err) != errcode.Conflict || !strings.Contains(err.Error(), "may not end the open sessions") {
			t.Fatalf("a master that may end no session: %v", err)
		}
		if exists, _ := a.Exists(ctx, u.Name); !exists {
			t.Fatal("dropped under a session that could still act")
		}
		if ok, err := canLogIn(ctx, endpoint(MySQL, u.Name, password)); ok || err != nil {
			t.Fatalf("the user still logs in: %v, %v", ok, err)
		}
	})
}
