package dbuser

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// Drop removes the user and its alternating-users clone, with every
// privilege they hold; a user already gone is no error. name must be the
// user this provisioner made, as recorded when it made it: never a name
// read back from a secret, which rotation and anyone who may write the
// secret rewrite.
//
// Both are locked out first, before anything can refuse the drop: they
// can no longer log in, and their open sessions are ended. Otherwise a
// session opened before the delete would outlive it (MySQL applies DROP
// USER to a session only when the session closes), or, in PostgreSQL, make
// objects between the check of what the user owns and the drop. The lock
// stays when the drop is refused.
//
// A PostgreSQL user that owns objects (in any database) is not dropped: a
// conflict that says so. Its objects are neither dropped (they may be an
// application's data) nor handed to the master user (a SECURITY DEFINER
// function the user planted would then run as the master): whoever owns
// the database decides, and the Delete is retried.
func (a *Admin) Drop(ctx context.Context, name string) error {
	var present []string
	for _, n := range []string{name, CloneOf(name)} {
		exists, err := a.Exists(ctx, n)
		if err != nil {
			return err
		}
		if exists {
			present = append(present, n)
		}
	}
	// lockOut makes the PostgreSQL master a member of each role; one not
	// dropped must not keep it: the master's later grants (ON ALL TABLES IN
	// SCHEMA, for another team's user) would then reach its tables.
	dropped := map[string]bool{}
	if a.family == Postgres {
		defer func() {
			for _, n := range present {
				if !dropped[n] {
					a.giveBackMembership(ctx, n)
				}
			}
		}()
	}
	for _, n := range present {
		if err := a.lockOut(ctx, n); err != nil {
			return err
		}
	}
	for _, n := range present {
		if a.family != Postgres {
			continue
		}
		owned, err := a.s.QueryString(ctx, "SELECT count(*) FROM pg_shdepend d JOIN pg_roles r ON d.refobjid = r.oid WHERE d.deptype = 'o' AND r.rolname = $1", n)
		if err != nil {
			return a.classify(err)
		}
		if owned != "0" {
			return &errcode.Error{Code: errcode.Conflict, Field: "username",
				Message: "database user " + errcode.Quote(n) + " owns " + errcode.Clip(owned) + " database objects, which this provisioner neither drops nor hands to the master user: drop them or give them to a role of your choice (REASSIGN OWNED), then delete again; the user and its clone can no longer log in"}
		}
	}
	for _, n := range present {
		var err error
		if a.family == Postgres {
			if err = a.revokeElsewhere(ctx, n); err != nil {
				return err
			}
			err = a.inTransaction(ctx, dropUser(Postgres, n))
			dropped[n] = err == nil
		} else {
			err = a.exec(ctx, dropUser(MySQL, n))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// sessionsEnd bounds the time Drop spends locking a user out.
const sessionsEnd = 3 * time.Second

// lockOut stops n logging in and ends its sessions, until none is left.
//
// PostgreSQL: the master first takes membership in n, which lets it end
// n's sessions; then it ends them and sets NOLOGIN. A session of n can
// hold the lock NOLOGIN needs (an open ALTER ROLE of itself): ending the
// sessions first releases it, and a NOLOGIN that still meets a lock is
// tried again after ending them again.
//
// MySQL: ACCOUNT LOCK, then KILL. Seeing another user's sessions needs
// PROCESS; a master without it is refused rather than left to drop a user
// under sessions it cannot see.
func (a *Admin) lockOut(ctx context.Context, n string) error {
	until := time.Now().Add(sessionsEnd)
	if a.family == Postgres {
		if err := a.exec(ctx, []Statement{takeMembership(n)}); err != nil {
			return err
		}
		for {
			if _, err := a.endSessions(ctx, n); err != nil {
				return err
			}
			err := a.s.Exec(ctx, lockUser(Postgres, n).SQL)
			if err == nil {
				break
			}
			if !isLockTimeout(err) || time.Now().After(until) {
				return a.classify(err)
			}
		}
	} else {
		if err := a.exec(ctx, []Statement{lockUser(MySQL, n)}); err != nil {
			return err
		}
		if _, err := a.s.QueryString(ctx, "SELECT COUNT(*) FROM information_schema.INNODB_TRX"); err != nil {
			if isPermission(err) {
				return &errcode.Error{Code: errcode.Conflict, Field: "username", Err: a.classify(err),
					Message: "the master user cannot see the open sessions of database user " + errcode.Quote(n) + " (it needs PROCESS): the user can no longer log in, and is not dropped while a session of it could still act"}
			}
			return a.classify(err)
		}
	}
	for {
		open, err := a.endSessions(ctx, n)
		if err != nil {
			return err
		}
		if open == 0 {
			return nil
		}
		if time.Now().After(until) {
			return &errcode.Error{Code: errcode.Unavailable, Field: "username",
				Message: "database user " + errcode.Quote(n) + " still has " + strconv.Itoa(open) + " open sessions after they were ended; it can no longer log in: delete again"}
		}
		select {
		case <-ctx.Done():
			return a.classify(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// maxSessions bounds the sessions one pass of endSessions ends.
const maxSessions = 10000

// endSessions ends every session of n and says how many there were.
// PostgreSQL: as a member of n. MySQL: KILL needs CONNECTION ADMIN, which
// an RDS master lacks; RDS's mysql.rds_kill does it instead. A session
// neither may end is a refusal: n stays locked, and not dropped while it
// could still act.
func (a *Admin) endSessions(ctx context.Context, n string) (int, error) {
	if a.family == Postgres {
		count, err := a.s.QueryString(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1", n)
		if err != nil {
			return 0, a.classify(err)
		}
		return sessionCount(count)
	}
	// One id at a time, exactly n's (PROCESSLIST compares without case),
	// never this session nor the server's own threads.
	last, ended := "0", 0
	for ; ended < maxSessions; ended++ {
		id, err := a.s.QueryString(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE CAST(USER AS BINARY) = CAST(? AS BINARY) AND ID <> CONNECTION_ID() AND COMMAND <> 'Daemon' AND ID > ? ORDER BY ID LIMIT 1", n, last)
		if err != nil {
			return 0, a.classify(err)
		}
		if id == "" {
			break
		}
		if _, err := sessionCount(id); err != nil {
			return 0, err
		}
		err = a.s.Exec(ctx, "KILL CONNECTION "+id)
		if isNotOwner(err) {
			err = a.s.Exec(ctx, "CALL mysql.rds_kill("+id+")")
		}
		switch {
		case err == nil || isNoSuchThread(err):
		case isNotOwner(err) || isNoProcedure(err) || isPermission(err):
			return 0, &errcode.Error{Code: errcode.Conflict, Field: "username", Err: a.classify(err),
				Message: "the master user may not end the open sessions of database user " + errcode.Quote(n) + " (it needs CONNECTION ADMIN, or RDS's mysql.rds_kill): the user can no longer log in, and is dropped once its sessions end: delete again"}
		default:
			return 0, a.classify(err)
		}
		last = id
	}
	return ended, nil
}

// sessionCount reads a number the server sent: a count, or a session id.
func sessionCount(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errcode.New(errcode.Upstream, "the database answered %s where a number belongs", errcode.Quote(errcode.Clip(s)))
	}
	return n, nil
}

// revokeElsewhere revokes, in every other database of the server, what
// still names the PostgreSQL role n: privileges and default privileges that
// anyone may grant it there (any role may name n in its own ALTER DEFAULT
// PRIVILEGES, in a database n's team never uses), which DROP OWNED in this
// database leaves and which would block DROP ROLE for good. n owns nothing
// (Drop checked, in every database), so DROP OWNED there only revokes. The
// master, a member of n since lockOut, does it over a session of its own to
// each such database.
func (a *Admin) revokeElsewhere(ctx context.Context, n string) error {
	list, err := a.s.QueryString(ctx, "SELECT coalesce(array_to_json(array_agg(DISTINCT d.datname))::text, '[]') FROM pg_shdepend s "+
		"JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.refobjid "+
		"WHERE r.rolname = $1 AND s.deptype IN ('a', 'i', 'r') AND d.datname <> current_database()", n)
	if err != nil {
		return a.classify(err)
	}
	var databases []string
	if err := json.Unmarshal([]byte(list), &databases); err != nil {
		return errcode.New(errcode.Upstream, "the server's list of databases naming the user could not be read")
	}
	for _, database := range databases {
		at := a.at
		at.Database = database
		other, err := Connect(ctx, at)
		if err != nil {
			return err
		}
		err = other.exec(ctx, []Statement{{SQL: "DROP OWNED BY " + quotePG(n)}})
		other.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// giveBackMembership revokes the master's membership in n, which lockOut
// took, when n was not dropped. It runs even when the drop's deadline has
// passed (a membership left would outlast it), over a fresh session when
// the drop's own is gone.
func (a *Admin) giveBackMembership(ctx context.Context, n string) {
	undo, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	revoke := "REVOKE " + quotePG(n) + " FROM CURRENT_USER"
	if a.s.Exec(undo, revoke) == nil {
		return
	}
	if fresh, err := Connect(undo, a.at); err == nil {
		fresh.s.Exec(undo, revoke)
		fresh.Close()
	}
}
