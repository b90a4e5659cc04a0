package dbuser

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/shared/dbsession"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// administrator runs statements as the test server's own administrator.
func administrator(t *testing.T, f Family, statements ...string) {
	t.Helper()
	s, err := dbserver.Shared(engineOf[f])
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AsAdministrator(statements...); err != nil {
		t.Fatal(err)
	}
}

// session opens a session as user, closed when the test ends.
func session(t *testing.T, f Family, user, password string) dbsession.Session {
	t.Helper()
	s, err := dbsession.Open(context.Background(), endpoint(t, f, user, password))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func alive(s dbsession.Session) bool { return s.Exec(context.Background(), "SELECT 1") == nil }

// TestDropEndsOpenSessions: a session the user opened before the delete
// does not outlive it, however many there are. MySQL keeps a dropped
// user's session, with its privileges, until it closes; in PostgreSQL the
// session's temporary table is an object the user owns, which would block
// the drop (or, made after the check, be dropped by DROP OWNED unseen).
// The master's own other sessions stay.
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
			var held []dbsession.Session
			for range 30 {
				held = append(held, session(t, f, u.Name, password))
			}
			hold := "CREATE TEMPORARY TABLE held (id int)"
			if f == MySQL {
				hold = "SELECT 1"
			}
			if err := held[0].Exec(ctx, hold); err != nil {
				t.Fatal(err)
			}
			bystander := session(t, f, dbserver.MasterUser, dbserver.MasterPassword)
			if err := a.Drop(ctx, u.Name); err != nil {
				t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
			}
			if exists, err := a.Exists(ctx, u.Name); err != nil || exists {
				t.Fatalf("after drop: exists %v, %v", exists, err)
			}
			for i, s := range held {
				if alive(s) {
					t.Fatalf("session %d opened before the delete still answers", i)
				}
			}
			if !alive(bystander) || !alive(a.s) {
				t.Fatal("a session of the master was ended")
			}
		})
	}
}

// TestDropLocksOutFirst: when the drop is refused, neither the user nor
// its clone (the login rotation may have switched to) can log in, and no
// session of either is left.
func TestDropLocksOutFirst(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	u := User{Name: "owner_locked", Database: dbserver.Database, Privileges: ReadWrite}
	const password = "owner-locked-Pa55word"
	if err := a.Create(ctx, u, NewPassword(Postgres, password)); err != nil {
		t.Fatal(err)
	}
	clone := CloneOf(u.Name)
	if err := as(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword,
		"GRANT CREATE ON SCHEMA public TO "+u.Name,
		"ALTER ROLE "+clone+" PASSWORD '"+password+"'"); err != nil {
		t.Fatal(err)
	}
	if err := as(t, Postgres, u.Name, password, "CREATE TABLE kept_by_owner (id int)"); err != nil {
		t.Fatal(err)
	}
	cloneSession := session(t, Postgres, clone, password)
	if err := a.Drop(ctx, u.Name); errcode.Of(err) != errcode.Conflict {
		t.Fatalf("a user that owns a table: %v", err)
	}
	for _, n := range []string{u.Name, clone} {
		if ok, err := canLogIn(ctx, endpoint(t, Postgres, n, password)); ok || err != nil {
			t.Fatalf("after a refused drop %s logs in: %v, %v", n, ok, err)
		}
	}
	if alive(cloneSession) {
		t.Fatal("the clone's session outlived the refused drop")
	}
	// Once its objects are gone, a second delete drops both.
	administrator(t, Postgres, "DROP TABLE kept_by_owner")
	if err := a.Drop(ctx, u.Name); err != nil {
		t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
	}
}

// TestDropUnderTheUsersOwnLock: a session of the user that holds the lock
// NOLOGIN needs (an open ALTER ROLE of itself) is ended, and the drop goes
// through well inside the deadline.
func TestDropUnderTheUsersOwnLock(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	u := User{Name: "lock_holder", Database: dbserver.Database, Privileges: ReadOnly}
	const password = "lock-holder-Pa55word"
	if err := a.Create(ctx, u, NewPassword(Postgres, password)); err != nil {
		t.Fatal(err)
	}
	s := session(t, Postgres, u.Name, password)
	if err := s.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(ctx, "ALTER ROLE "+u.Name+" PASSWORD '"+password+"'"); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.Drop(dctx, u.Name); err != nil {
		t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
	}
	if alive(s) {
		t.Fatal("the session holding the lock survived")
	}
}

// TestDropRunsNoPlantedCode: a user with CREATE on public (PostgreSQL 14's
// default) defines public.count(boolean), which would resolve before the
// catalog's count("any") in Drop's own queries and run as the master.
func TestDropRunsNoPlantedCode(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	const password = "planter-Pa55word"
	planter := User{Name: "count_planter", Database: dbserver.Database, Privileges: ReadOnly}
	victim := User{Name: "planted_for", Database: dbserver.Database, Privileges: ReadOnly}
	for _, u := range []User{planter, victim} {
		if err := a.Create(ctx, u, NewPassword(Postgres, password)); err != nil {
			t.Fatal(err)
		}
	}
	if err := as(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword, "GRANT CREATE ON SCHEMA public TO "+planter.Name); err != nil {
		t.Fatal(err)
	}
	if err := as(t, Postgres, planter.Name, password,
		`CREATE FUNCTION public.planted_step(bigint, boolean) RETURNS bigint LANGUAGE sql AS 'SELECT $1 + 1'`,
		`CREATE FUNCTION public.planted_final(bigint) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  IF current_user = 'master' THEN EXECUTE 'CREATE ROLE planted_by_master'; END IF;
  RETURN 0;
END $$`,
		`CREATE AGGREGATE public.count(boolean) (sfunc = public.planted_step, stype = bigint, finalfunc = public.planted_final, initcond = '0')`,
		`CREATE FUNCTION public.pg_terminate_backend(integer) RETURNS boolean LANGUAGE sql AS 'SELECT true'`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		as(t, Postgres, planter.Name, password, "DROP AGGREGATE public.count(boolean)", "DROP FUNCTION public.planted_step(bigint, boolean)",
			"DROP FUNCTION public.planted_final(bigint)", "DROP FUNCTION public.pg_terminate_backend(integer)")
		as(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword, "REVOKE CREATE ON SCHEMA public FROM "+planter.Name)
	})
	s := session(t, Postgres, victim.Name, password)
	if err := a.Drop(ctx, victim.Name); err != nil {
		t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
	}
	if made, err := a.Exists(ctx, "planted_by_master"); err != nil || made {
		t.Fatalf("the planted aggregate ran as the master: %v, %v", made, err)
	}
	if alive(s) {
		t.Fatal("a planted pg_terminate_backend kept the session")
	}
}

// TestDropKillsOnlyItsOwn: MySQL's session list compares user names
// without case and lists the server's own threads: a user whose name
// differs from another's (or the master's) in case only, made by hand,
// ends neither's sessions when dropped, nor the event scheduler; and the
// provisioner makes no such user.
func TestDropKillsOnlyItsOwn(t *testing.T) {
	ctx := context.Background()
	a := master(t, MySQL)
	const password = "case-Pa55word"
	other := User{Name: "orders_app", Database: dbserver.Database, Privileges: ReadOnly}
	if err := a.Create(ctx, other, NewPassword(MySQL, password)); err != nil {
		t.Fatal(err)
	}
	otherSession := session(t, MySQL, other.Name, password)
	masterSession := session(t, MySQL, dbserver.MasterUser, dbserver.MasterPassword)
	administrator(t, MySQL, "SET GLOBAL event_scheduler = ON")
	t.Cleanup(func() { administrator(t, MySQL, "SET GLOBAL event_scheduler = OFF") })
	for _, n := range []string{"ORDERS_APP", strings.ToUpper(dbserver.MasterUser)} {
		if taken, err := a.Taken(ctx, n); err != nil || taken == "" {
			t.Fatalf("%s: taken %q, %v", n, taken, err)
		}
	}
	for _, n := range []string{"ORDERS_APP", strings.ToUpper(dbserver.MasterUser), "event_scheduler"} {
		if err := as(t, MySQL, dbserver.MasterUser, dbserver.MasterPassword, "CREATE USER '"+n+"'@'%' IDENTIFIED BY '"+password+"'"); err != nil {
			t.Fatal(err)
		}
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := a.Drop(dctx, n)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v (%v)", n, err, errcode.Public(err).Err)
		}
		if !alive(otherSession) || !alive(masterSession) || !alive(a.s) {
			t.Fatalf("dropping %s ended another user's session", n)
		}
	}
	if scheduler, err := a.s.QueryString(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Daemon'"); err != nil || scheduler == "0" {
		t.Fatalf("the event scheduler's thread: %q, %v", scheduler, err)
	}
}

// TestDropNeedsToSeeSessions: a MySQL master that may not end another
// user's sessions (neither KILL nor RDS's rds_kill), or may not even see
// them (no PROCESS), leaves the user locked, not dropped.
func TestDropNeedsToSeeSessions(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct{ name, privilege, message string }{
		{"no rds_kill", "EXECUTE", "may not end the open sessions"},
		{"no PROCESS", "PROCESS", "cannot see the open sessions"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := master(t, MySQL)
			u := User{Name: "unkillable", Database: dbserver.Database, Privileges: ReadOnly}
			const password = "unkillable-Pa55word"
			if err := a.Create(ctx, u, NewPassword(MySQL, password)); err != nil {
				t.Fatal(err)
			}
			s := session(t, MySQL, u.Name, password)
			administrator(t, MySQL, "REVOKE "+tt.privilege+" ON *.* FROM '"+dbserver.MasterUser+"'@'%'")
			t.Cleanup(func() {
				administrator(t, MySQL, "GRANT "+tt.privilege+" ON *.* TO '"+dbserver.MasterUser+"'@'%' WITH GRANT OPTION")
				if err := master(t, MySQL).Drop(ctx, u.Name); err != nil {
					t.Error(err)
				}
			})
			// Global privileges are read when a session starts.
			a = master(t, MySQL)
			err := a.Drop(ctx, u.Name)
			if errcode.Of(err) != errcode.Conflict || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("got %v", err)
			}
			if exists, _ := a.Exists(ctx, u.Name); !exists || !alive(s) && tt.privilege == "PROCESS" {
				t.Fatal("dropped under a session it could not see")
			}
			if ok, err := canLogIn(ctx, endpoint(t, MySQL, u.Name, password)); ok || err != nil {
				t.Fatalf("the user still logs in: %v, %v", ok, err)
			}
		})
	}
}

// TestDropOfAUserAtAnotherHost: a name left only at another host (its '%'
// account dropped by hand, 'n'@'10.%' made by a DBA) has nothing here to
// drop, and is no error.
func TestDropOfAUserAtAnotherHost(t *testing.T) {
	a := master(t, MySQL)
	if err := as(t, MySQL, dbserver.MasterUser, dbserver.MasterPassword, "CREATE USER 'hosted'@'10.%' IDENTIFIED BY 'hosted-Pa55word'"); err != nil {
		t.Fatal(err)
	}
	if err := a.Drop(context.Background(), "hosted"); err != nil {
		t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
	}
}

// TestConnectionLimit: a user made with a cap on its sessions gets no more
// than that, and cannot lift it itself; the master still logs in.
func TestConnectionLimit(t *testing.T) {
	for name, f := range families {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a := master(t, f)
			u := User{Name: "capped_" + name, Database: dbserver.Database, Privileges: ReadOnly, ConnectionLimit: 2}
			const password = "capped-Pa55word"
			if err := a.Create(ctx, u, NewPassword(f, password)); err != nil {
				t.Fatal(err, errcode.Public(err).Err)
			}
			first := session(t, f, u.Name, password)
			session(t, f, u.Name, password)
			if s, err := dbsession.Open(ctx, endpoint(t, f, u.Name, password)); err == nil {
				s.Close()
				t.Fatal("a third session past a cap of two")
			}
			lift := "ALTER ROLE " + u.Name + " CONNECTION LIMIT -1"
			if f == MySQL {
				lift = "ALTER USER '" + u.Name + "'@'%' WITH MAX_USER_CONNECTIONS 0"
			}
			if err := first.Exec(ctx, lift); err == nil {
				t.Fatal("the user lifted its own cap")
			}
			session(t, f, dbserver.MasterUser, dbserver.MasterPassword)
			if err := a.Drop(ctx, u.Name); err != nil {
				t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
			}
		})
	}
	if err := (User{Name: "u", Database: "d", Privileges: ReadOnly, ConnectionLimit: -1}).Check(Postgres); errcode.FieldOf(err) != "connectionLimit" {
		t.Fatalf("a negative cap: %v", err)
	}
}

// TestDropThroughOthersDefaultPrivileges: any role may name another in its
// own default privileges, in any database of the server (here "postgres",
// which PUBLIC may connect to). DROP OWNED in the user's database leaves
// that, and DROP ROLE would fail for good: Drop revokes it there too.
func TestDropThroughOthersDefaultPrivileges(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	const password = "Pl3nty-of-characters"
	victim := User{Name: "victim_dacl", Database: dbserver.Database, Privileges: ReadWrite}
	other := User{Name: "other_dacl", Database: dbserver.Database, Privileges: ReadWrite}
	for _, u := range []User{victim, other} {
		if err := a.Create(ctx, u, NewPassword(Postgres, password)); err != nil {
			t.Fatal(err)
		}
	}
	e := endpoint(t, Postgres, other.Name, password)
	e.Database = "postgres"
	s, err := dbsession.Open(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Exec(ctx, `ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO "victim_dacl"`)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Drop(ctx, victim.Name); err != nil {
		t.Fatalf("drop: %v (%v)", err, errcode.Public(err).Err)
	}
	if exists, err := a.Exists(ctx, victim.Name); err != nil || exists {
		t.Fatalf("the user is still there (%v)", err)
	}
}

// TestDropThroughOthersGrants: any role may grant on what it owns (a large
// object, a session's temporary table) to another, in any database, and
// DROP OWNED as the master does not revoke another grantor's grants: Drop
// revokes them as a member of the grantor, and the user is dropped.
func TestDropThroughOthersGrants(t *testing.T) {
	for _, tt := range []struct {
		name, database string
		statements     []string
	}{
		{"a large object here", "", []string{"SELECT lo_create(424243)", `GRANT SELECT ON LARGE OBJECT 424243 TO "victim_lo"`}},
		{"a large object elsewhere", "postgres", []string{"SELECT lo_create(424244)", `GRANT SELECT ON LARGE OBJECT 424244 TO "victim_lo2"`}},
		{"a temporary table here", "", []string{"CREATE TEMP TABLE t (x int)", `GRANT SELECT ON pg_temp.t TO "victim_tmp"`}},
		{"a temporary table elsewhere", "postgres", []string{"CREATE TEMP TABLE t (x int)", `GRANT SELECT ON pg_temp.t TO "victim_tmp2"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			a := master(t, Postgres)
			const password = "Pl3nty-of-characters"
			victim := strings.TrimPrefix(strings.Fields(tt.statements[1])[len(strings.Fields(tt.statements[1]))-1], `"`)
			victim = strings.TrimSuffix(victim, `"`)
			grantor := "grantor_" + victim
			for _, name := range []string{victim, grantor} {
				if err := a.Create(ctx, User{Name: name, Database: dbserver.Database, Privileges: ReadOnly}, NewPassword(Postgres, password)); err != nil {
					t.Fatal(err)
				}
			}
			e := endpoint(t, Postgres, grantor, password)
			if tt.database != "" {
				e.Database = tt.database
			}
			s, err := dbsession.Open(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close() // a temporary table lives as long as its session
			for _, st := range tt.statements {
				if err := s.Exec(ctx, st); err != nil {
					t.Fatalf("%s: %v", st, err)
				}
			}
			if err := a.Drop(ctx, victim); err != nil {
				t.Fatalf("drop: %v (%v)", err, errcode.Public(err).Err)
			}
			if exists, err := a.Exists(ctx, victim); err != nil || exists {
				t.Fatalf("the user is still there (%v)", err)
			}
			// The grantor's membership was for the drop only.
			if member, err := a.s.Exists(ctx, "SELECT 1 WHERE pg_has_role(current_user, $1, 'USAGE')", grantor); err != nil || member {
				t.Fatalf("the master is still a member of %s (%v)", grantor, err)
			}
		})
	}
}

// TestMembershipOnlyWithinItsTransaction: the master's membership in a
// user's role, which ending its sessions and DROP OWNED need, exists only
// inside the transaction that uses it. No other session of the master sees
// it (a concurrent GRANT ... ON ALL TABLES IN SCHEMA for another team's
// user would otherwise reach the role's tables), and nothing is left of it
// after, whether the work succeeds or fails; a membership the master held
// before stays.
func TestMembershipOnlyWithinItsTransaction(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	other := master(t, Postgres)
	for _, tt := range []struct {
		name     string
		heldFrom bool // the master was a member before
		fail     bool
	}{
		{"work done", false, false},
		{"work failed", false, true},
		{"held before", true, false},
		{"held before, work failed", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			role := "member_" + strings.ReplaceAll(tt.name, " ", "_")
			role = strings.ReplaceAll(role, ",", "")
			if err := a.Create(ctx, User{Name: role, Database: dbserver.Database, Privileges: ReadOnly}, NewPassword(Postgres, "Member-Pa55word")); err != nil {
				t.Fatal(err)
			}
			if tt.heldFrom {
				if err := a.exec(ctx, []Statement{takeMembership(role)}); err != nil {
					t.Fatal(err)
				}
			}
			isMember := func(s *Admin) bool {
				t.Helper()
				member, err := s.s.Exists(ctx, "SELECT 1 WHERE pg_has_role(current_user, $1, 'USAGE')", role)
				if err != nil {
					t.Fatal(err)
				}
				return member
			}
			ran := false
			err := a.asMemberOf(ctx, []string{role}, func() error {
				ran = true
				if !isMember(a) {
					t.Error("inside the transaction the master is no member")
				}
				if isMember(other) != tt.heldFrom {
					t.Error("another session of the master sees the membership")
				}
				if tt.fail {
					return errcode.New(errcode.Conflict, "refused")
				}
				return nil
			})
			if !ran || (err != nil) != tt.fail {
				t.Fatalf("ran %v, err %v", ran, err)
			}
			if isMember(a) != tt.heldFrom || isMember(other) != tt.heldFrom {
				t.Fatalf("after: member %v, held before %v", isMember(a), tt.heldFrom)
			}
		})
	}
}

// TestDropThroughGrantChains: DROP OWNED revokes, per object, the grants of
// one grantor only; a tenant that gives the master every grant option on
// its own large object, or has a second role grant the same, must not
// keep another team's user undroppable (the nineteenth review's finding).
// Each grant left is revoked as its grantor, here and in other databases.
func TestDropThroughGrantChains(t *testing.T) {
	const password = "Pl3nty-of-characters"
	for _, tt := range []struct {
		name, database string
		first, second  []string // as grantor 1, then grantor 2; %v is the victim
	}{
		{"grant options given to the master", "", []string{
			"SELECT lo_create(919191)",
			"GRANT SELECT, UPDATE ON LARGE OBJECT 919191 TO " + dbserver.MasterUser + " WITH GRANT OPTION",
			"GRANT SELECT ON LARGE OBJECT 919191 TO %v"}, nil},
		{"grant options given to the master, elsewhere", "postgres", []string{
			"SELECT lo_create(919193)",
			"GRANT SELECT, UPDATE ON LARGE OBJECT 919193 TO " + dbserver.MasterUser + " WITH GRANT OPTION",
			"GRANT SELECT ON LARGE OBJECT 919193 TO %v"}, nil},
		{"two grantors on one object", "", []string{
			"SELECT lo_create(919192)",
			"GRANT SELECT ON LARGE OBJECT 919192 TO %g WITH GRANT OPTION",
			"GRANT SELECT ON LARGE OBJECT 919192 TO %v"},
			[]string{"GRANT SELECT ON LARGE OBJECT 919192 TO %v"}},
		{"a column, a schema and a routine", "", []string{
			"CREATE TEMP TABLE t (x int)",
			"GRANT SELECT (x) ON pg_temp.t TO " + dbserver.MasterUser + " WITH GRANT OPTION",
			"GRANT SELECT (x) ON pg_temp.t TO %v",
			"CREATE POLICY p ON pg_temp.t TO %v USING (true)"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			a := master(t, Postgres)
			slug := strings.NewReplacer(" ", "_", ",", "").Replace(tt.name)
			victim, g1, g2 := "victim_"+slug, "g1_"+slug, "g2_"+slug
			for _, name := range []string{victim, g1, g2} {
				if err := a.Create(ctx, User{Name: name, Database: dbserver.Database, Privileges: ReadOnly}, NewPassword(Postgres, password)); err != nil {
					t.Fatal(err)
				}
			}
			for _, step := range []struct {
				who        string
				statements []string
			}{{g1, tt.first}, {g2, tt.second}} {
				if len(step.statements) == 0 {
					continue
				}
				e := endpoint(t, Postgres, step.who, password)
				if tt.database != "" {
					e.Database = tt.database
				}
				s, err := dbsession.Open(ctx, e)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close() // a temporary table lives as long as its session
				for _, st := range step.statements {
					st = strings.NewReplacer("%v", `"`+victim+`"`, "%g", `"`+g2+`"`).Replace(st)
					if err := s.Exec(ctx, st); err != nil {
						t.Fatalf("%s: %v", st, err)
					}
				}
			}
			if err := a.Drop(ctx, victim); err != nil {
				t.Fatalf("drop: %v (%v)", err, errcode.Public(err).Err)
			}
			if exists, err := a.Exists(ctx, victim); err != nil || exists {
				t.Fatalf("the user is still there (%v)", err)
			}
			for _, g := range []string{g1, g2} {
				if member, err := a.s.Exists(ctx, "SELECT 1 WHERE pg_has_role(current_user, $1, 'MEMBER')", g); err != nil || member {
					t.Fatalf("the master is still a member of %s (%v)", g, err)
				}
			}
		})
	}
}

// TestDropRefusesASuperusersGrant: what a superuser granted the user the
// master cannot revoke; the drop is a conflict naming who granted what,
// and the user stays, locked, until a DBA revokes it.
func TestDropRefusesASuperusersGrant(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	victim := "victim_of_a_superuser"
	if err := a.Create(ctx, User{Name: victim, Database: dbserver.Database, Privileges: ReadOnly}, NewPassword(Postgres, "Pl3nty-of-characters")); err != nil {
		t.Fatal(err)
	}
	administrator(t, Postgres, "SELECT lo_create(919199)", "GRANT SELECT ON LARGE OBJECT 919199 TO "+victim)
	err := a.Drop(ctx, victim)
	if errcode.Of(err) != errcode.Conflict || !strings.Contains(err.Error(), "ON LARGE OBJECT 919199") {
		t.Fatalf("got %v", err)
	}
	if exists, _ := a.Exists(ctx, victim); !exists {
		t.Fatal("the user is gone")
	}
	administrator(t, Postgres, "REVOKE SELECT ON LARGE OBJECT 919199 FROM "+victim)
	if err := a.Drop(ctx, victim); err != nil {
		t.Fatal(err)
	}
}

// TestDropRefusesAGrantItCannotRevoke: a grantor that can no longer reach
// the object (its schema's owner took its USAGE away; the twentieth
// review's case, which needs a tenant that owns a schema) cannot revoke its
// grant: the drop is a conflict naming grantor and object, not a
// permission error that blames the master.
func TestDropRefusesAGrantItCannotRevoke(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	const password = "Pl3nty-of-characters"
	victim, g1, g2 := "victim_nousage", "g1_nousage", "g2_nousage"
	for _, name := range []string{victim, g1, g2} {
		if err := a.Create(ctx, User{Name: name, Database: dbserver.Database, Privileges: ReadOnly}, NewPassword(Postgres, password)); err != nil {
			t.Fatal(err)
		}
	}
	administrator(t, Postgres, "CREATE SCHEMA own_by_g1 AUTHORIZATION "+g1, "GRANT USAGE ON SCHEMA own_by_g1 TO "+g2)
	defer administrator(t, Postgres, "DROP SCHEMA own_by_g1 CASCADE")
	for _, step := range []struct {
		who        string
		statements []string
	}{
		{g1, []string{"CREATE TABLE own_by_g1.t (x int)", "GRANT SELECT ON own_by_g1.t TO " + g2 + " WITH GRANT OPTION", "GRANT SELECT ON own_by_g1.t TO " + victim}},
		{g2, []string{"GRANT SELECT ON own_by_g1.t TO " + victim}},
		{g1, []string{"REVOKE USAGE ON SCHEMA own_by_g1 FROM " + g2}},
	} {
		if err := as(t, Postgres, step.who, password, step.statements...); err != nil {
			t.Fatal(err)
		}
	}
	err := a.Drop(ctx, victim)
	if errcode.Of(err) != errcode.Conflict || !strings.Contains(err.Error(), g2) || !strings.Contains(err.Error(), "own_by_g1.t") {
		t.Fatalf("got %v", err)
	}
	if member, err := a.s.Exists(ctx, "SELECT 1 WHERE pg_has_role(current_user, $1, 'MEMBER')", g2); err != nil || member {
		t.Fatalf("the master is left a member of %s (%v)", g2, err)
	}
}

// TestDropThroughAGrantorInsideTheOwner (the twenty-third review): a
// tenant's rotation clone, a member of the tenant's user, given one grant
// option on the user's large object, grants it to another team's user.
// REVOKE ALL as the clone revokes as the owner (the role holding every
// grant option), which granted nothing; the drop revokes exactly the
// privileges the clone granted, as the clone, and goes through.
func TestDropThroughAGrantorInsideTheOwner(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	const password = "Pl3nty-of-characters"
	victim, tenant := "victim_chain", "tenant_chain"
	clone := CloneOf(tenant)
	for _, name := range []string{victim, tenant} {
		if err := a.Create(ctx, User{Name: name, Database: dbserver.Database, Privileges: ReadOnly}, NewPassword(Postgres, password)); err != nil {
			t.Fatal(err)
		}
	}
	// The clone made with the user gets its password, as AWS's multi-user
	// rotation sets it.
	if err := as(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword, "ALTER ROLE "+clone+" WITH PASSWORD '"+password+"'"); err != nil {
		t.Fatal(err)
	}
	if err := as(t, Postgres, tenant, password, "SELECT lo_create(232323)", "GRANT SELECT ON LARGE OBJECT 232323 TO "+clone+" WITH GRANT OPTION"); err != nil {
		t.Fatal(err)
	}
	// SET ROLE NONE: the clone acts as itself, not as the user it logs in
	// as (RESET ROLE would go back to its login's default, the user).
	if err := as(t, Postgres, clone, password, "SET ROLE NONE", "GRANT SELECT ON LARGE OBJECT 232323 TO "+victim); err != nil {
		t.Fatal(err)
	}
	if err := a.Drop(ctx, victim); err != nil {
		t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
	}
	if exists, _ := a.Exists(ctx, victim); exists {
		t.Fatal("the user is still there")
	}
}

func TestPrivilegeList(t *testing.T) {
	for s, want := range map[string]bool{"SELECT": true, "SELECT, UPDATE": true, "": false, "SELECT,UPDATE": false, "SELECT; DROP": false, "select": false, "SELECT, ": false} {
		if privilegeList(s) != want {
			t.Errorf("%q: %v", s, !want)
		}
	}
}

// The twenty-fourth review: a tenant that owns objects can hold another
// team's user back from its drop while it keeps an object or a
// transaction open; the drop fails closed, says why, and goes through
// once the tenant lets go. A grant left on a dropped column blocks
// nothing and is no reason to refuse.

func tenantPair(t *testing.T, a *Admin, slug string) (victim, tenant, clone string) {
	t.Helper()
	const password = "Pl3nty-of-characters"
	victim, tenant = "victim_"+slug, "tenant_"+slug
	for _, name := range []string{victim, tenant} {
		if err := a.Create(context.Background(), User{Name: name, Database: dbserver.Database, Privileges: ReadOnly}, NewPassword(Postgres, password)); err != nil {
			t.Fatal(err)
		}
	}
	// The clone made with the user, given a password as rotation does.
	clone = CloneOf(tenant)
	if err := as(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword, "ALTER ROLE "+clone+" WITH PASSWORD '"+password+"'"); err != nil {
		t.Fatal(err)
	}
	return victim, tenant, clone
}

func run(t *testing.T, s dbsession.Session, statements ...string) {
	t.Helper()
	for _, st := range statements {
		if err := s.Exec(context.Background(), st); err != nil {
			t.Fatalf("%s: %v", st, err)
		}
	}
}

func TestDropPastADroppedColumnsGrant(t *testing.T) {
	a := master(t, Postgres)
	victim, tenant, clone := tenantPair(t, a, "dropcol")
	run(t, session(t, Postgres, clone, "Pl3nty-of-characters"), "CREATE TEMP TABLE t (x int, y int)", "GRANT SELECT (y) ON pg_temp.t TO "+victim, "ALTER TABLE pg_temp.t DROP COLUMN y")
	administrator(t, Postgres, "CREATE SCHEMA own_dropcol AUTHORIZATION "+tenant)
	defer administrator(t, Postgres, "DROP SCHEMA own_dropcol CASCADE")
	if err := as(t, Postgres, tenant, "Pl3nty-of-characters", "CREATE TABLE own_dropcol.t (x int, y int)", "GRANT SELECT (y) ON own_dropcol.t TO "+victim, "ALTER TABLE own_dropcol.t DROP COLUMN y"); err != nil {
		t.Fatal(err)
	}
	if err := a.Drop(context.Background(), victim); err != nil {
		t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
	}
}

func TestDropWaitsOutATenantsTemporaryObject(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	victim, tenant, clone := tenantPair(t, a, "tmpobj")
	s, err := dbsession.Open(ctx, endpoint(t, Postgres, clone, "Pl3nty-of-characters"))
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, "SET ROLE NONE", "CREATE TEMP TABLE t (x int)", "GRANT SELECT ON pg_temp.t TO "+tenant+" WITH GRANT OPTION",
		"GRANT SELECT ON pg_temp.t TO "+victim, "SET ROLE "+tenant, "GRANT SELECT ON pg_temp.t TO "+victim, "SET ROLE NONE")
	err = a.Drop(ctx, victim)
	if errcode.Of(err) != errcode.Conflict || !strings.Contains(err.Error(), "temporary object of another session") {
		t.Fatalf("got %v", err)
	}
	if ok, _ := canLogIn(ctx, endpoint(t, Postgres, victim, "Pl3nty-of-characters")); ok {
		t.Fatal("the victim logs in after a refused drop")
	}
	s.Close()
	if err := a.Drop(ctx, victim); err != nil {
		t.Fatalf("once the session ended: %v (%v)", err, errcode.Public(err).Err)
	}
}

func TestDropNamesAnOpenTransaction(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	victim, tenant, _ := tenantPair(t, a, "opentx")
	s := session(t, Postgres, tenant, "Pl3nty-of-characters")
	run(t, s, "SELECT lo_create(771771)", "BEGIN", "GRANT SELECT ON LARGE OBJECT 771771 TO "+victim)
	err := a.Drop(ctx, victim)
	if errcode.Of(err) != errcode.Unavailable || !strings.Contains(err.Error(), tenant) {
		t.Fatalf("got %v", err)
	}
	run(t, s, "ROLLBACK")
	if err := a.Drop(ctx, victim); err != nil {
		t.Fatalf("once the transaction ended: %v (%v)", err, errcode.Public(err).Err)
	}
}

func TestDropAgainstARegrantingTenant(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	victim, tenant, _ := tenantPair(t, a, "regrant")
	e := endpoint(t, Postgres, tenant, "Pl3nty-of-characters")
	e.Database = "postgres"
	s, err := dbsession.Open(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run(t, s, "SELECT lo_create(551551)")
	loop, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for loop.Err() == nil {
			s.Exec(loop, "GRANT SELECT ON LARGE OBJECT 551551 TO "+victim)
		}
	}()
	// While it re-grants, a drop may be refused, never half done: the
	// victim stays, locked, or is gone.
	err = a.Drop(ctx, victim)
	stop()
	<-done
	exists, _ := a.Exists(ctx, victim)
	if err == nil && exists || err != nil && !exists {
		t.Fatalf("drop %v, the user exists %v", err, exists)
	}
	if ok, _ := canLogIn(ctx, endpoint(t, Postgres, victim, "Pl3nty-of-characters")); ok {
		t.Fatal("the victim logs in")
	}
	if err := a.Drop(ctx, victim); err != nil {
		t.Fatalf("once the tenant stopped: %v (%v)", err, errcode.Public(err).Err)
	}
}
