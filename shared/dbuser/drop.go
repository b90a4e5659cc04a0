package dbuser

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
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
	for _, n := range present {
		if err := a.lockOut(ctx, n); err != nil {
			return err
		}
	}
	if a.family != Postgres {
		for _, n := range present {
			if err := a.exec(ctx, dropUser(MySQL, n)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range present {
		if err := a.ownsNothing(ctx, n); err != nil {
			return err
		}
	}
	for _, n := range present {
		if err := a.dropRole(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// dropAttempts bounds how often dropRole revokes and drops again when a
// grant came back meanwhile: any role may grant on what it owns to any
// other, at any time, in any database.
const dropAttempts = 3

// dropRole revokes what names n everywhere and drops it; a drop that a
// grant made meanwhile (or a concurrent grant's row update) refused is
// tried again, a few times.
func (a *Admin) dropRole(ctx context.Context, n string) error {
	var err error
	for attempt := 0; attempt < dropAttempts; attempt++ {
		if err = a.revokeElsewhere(ctx, n); err != nil {
			return err
		}
		var grantors []string
		if grantors, err = a.grantorsTo(ctx, n); err != nil {
			return err
		}
		// Checked again where the drop commits: DROP OWNED would drop
		// whatever n came to own since.
		err = a.asMemberOf(ctx, append([]string{n}, grantors...), func() error {
			if err := a.revokeAll(ctx, n); err != nil {
				return err
			}
			return a.exec(ctx, dropUser(Postgres, n))
		})
		if err == nil || !raced(err) {
			break
		}
	}
	if isLockTimeout(err) {
		return a.lockedBy(ctx, n, err)
	}
	return err
}

// raced reports a drop refused by what another session did meanwhile: a
// grant back (dependent objects), a row it updated at the same time, a
// lock it holds.
func raced(err error) bool {
	switch pgCode(err) {
	case "2BP01", "XX000", "40001", "55P03":
		return true
	}
	return false
}

// lockedBy explains a drop that waited in vain on a lock of n's role: an
// open transaction (a grant to n, say) holds it until it ends. It names
// the roles whose sessions hold it.
func (a *Admin) lockedBy(ctx context.Context, n string, cause error) error {
	holders, err := a.s.QueryString(ctx, "SELECT string_agg(DISTINCT a.usename || ' (pid ' || a.pid || ')', ', ') FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "+
		"WHERE l.locktype = 'object' AND l.classid = 'pg_authid'::regclass AND l.objid = (SELECT oid FROM pg_roles WHERE rolname = $1) AND l.granted AND a.pid <> pg_backend_pid()", n)
	if err != nil || holders == "" {
		return cause
	}
	return &errcode.Error{Code: errcode.Unavailable, Field: "username", Err: cause,
		Message: "database user " + errcode.Quote(n) + " is held by an open transaction of " + errcode.Clip(holders) + " (a grant to it, say), which blocks its drop until that transaction ends: end it, then delete again; the user and its clone can no longer log in"}
}

// ownsNothing refuses a PostgreSQL role that owns objects in any database
// of the server (pg_shdepend is shared).
func (a *Admin) ownsNothing(ctx context.Context, n string) error {
	// Default privileges it holds for what it makes are no objects: DROP
	// OWNED removes them.
	owned, err := a.s.QueryString(ctx, "SELECT count(*) FROM pg_shdepend d JOIN pg_roles r ON d.refobjid = r.oid WHERE d.deptype = 'o' AND d.classid <> 'pg_default_acl'::regclass AND r.rolname = $1", n)
	if err != nil {
		return a.classify(err)
	}
	if owned != "0" {
		return &errcode.Error{Code: errcode.Conflict, Field: "username",
			Message: "database user " + errcode.Quote(n) + " owns " + errcode.Clip(owned) + " database objects, which this provisioner neither drops nor hands to the master user: drop them or give them to a role of your choice (REASSIGN OWNED), then delete again; the user and its clone can no longer log in"}
	}
	return nil
}

// sessionsEnd bounds the time Drop spends locking a user out.
const sessionsEnd = 3 * time.Second

// lockOut stops n logging in and ends its sessions, until none is left.
//
// PostgreSQL: the master ends n's sessions, then sets NOLOGIN. A session
// of n can hold the lock NOLOGIN needs (an open ALTER ROLE of itself):
// ending the sessions first releases it, and a NOLOGIN that still meets a
// lock is tried again after ending them again.
//
// MySQL: ACCOUNT LOCK, then KILL. Seeing another user's sessions needs
// PROCESS; a master without it is refused rather than left to drop a user
// under sessions it cannot see.
func (a *Admin) lockOut(ctx context.Context, n string) error {
	until := time.Now().Add(sessionsEnd)
	if a.family == Postgres {
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
// PostgreSQL: as a member of n for that transaction only. MySQL: KILL needs CONNECTION ADMIN, which
// an RDS master lacks; RDS's mysql.rds_kill does it instead. A session
// neither may end is a refusal: n stays locked, and not dropped while it
// could still act.
func (a *Admin) endSessions(ctx context.Context, n string) (int, error) {
	if a.family == Postgres {
		var count string
		err := a.asMemberOf(ctx, []string{n}, func() (err error) {
			count, err = a.s.QueryString(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1", n)
			return a.classify(err)
		})
		if err != nil {
			return 0, err
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
// PRIVILEGES, or grant it a large object it owns, in a database n's team
// never uses), which DROP OWNED in this database leaves and which would
// block DROP ROLE for good. n owns nothing (Drop checked, in every
// database, and checks again there), so DROP OWNED there only revokes.
// The master does it over a session of its own to each such database.
func (a *Admin) revokeElsewhere(ctx context.Context, n string) error {
	list, err := a.s.QueryString(ctx, "SELECT coalesce(array_to_json(array_agg(DISTINCT d.datname))::text, '[]') FROM pg_shdepend s "+
		"JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.refobjid "+
		"WHERE r.rolname = $1 AND (s.deptype IN ('a', 'i', 'r') OR s.classid = 'pg_default_acl'::regclass) AND d.datname <> current_database()", n)
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
		err = other.revokeHere(ctx, n)
		other.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// revokeHere revokes what n was granted in this database, by anyone.
func (a *Admin) revokeHere(ctx context.Context, n string) error {
	grantors, err := a.grantorsTo(ctx, n)
	if err != nil {
		return err
	}
	return a.asMemberOf(ctx, append([]string{n}, grantors...), func() error { return a.revokeAll(ctx, n) })
}

// revokeAll revokes in this database everything granted to n, by anyone,
// inside asMemberOf's transaction: DROP OWNED first (n owns nothing,
// checked again here: it would drop whatever n came to own since), then,
// as each grantor in turn (SET LOCAL ROLE), what it left. DROP OWNED
// revokes each object's grants of one grantor only (the first role of the
// master's that holds every grant option on it), so a tenant that gives
// the master grant options on its own large object, or has a second role
// grant the same, would keep its grant to n, and n undroppable. A grant
// left after that (a superuser's) is a conflict naming it.
func (a *Admin) revokeAll(ctx context.Context, n string) error {
	if err := a.ownsNothing(ctx, n); err != nil {
		return err
	}
	if err := a.exec(ctx, []Statement{{SQL: "DROP OWNED BY " + quotePG(n)}}); err != nil {
		return err
	}
	left, err := a.grantsTo(ctx, n)
	if err != nil {
		return err
	}
	for _, g := range left {
		if g.super {
			continue
		}
		if err := a.exec(ctx, revokeAs(g, n)); err != nil {
			if strings.Contains(g.on, " pg_temp_") {
				// Another session's temporary object: nobody but a
				// superuser may name it; it goes when that session ends.
				return &errcode.Error{Code: errcode.Conflict, Field: "username", Err: err,
					Message: "database role " + errcode.Quote(g.grantor) + " granted database user " + errcode.Quote(n) + " " + g.privileges + " " + errcode.Clip(g.on) + ", a temporary object of another session, which goes only when that session ends: end it (pg_terminate_backend), then delete again; the user and its clone can no longer log in"}
			}
			// Say who and what: the grantor may, say, no longer reach the
			// schema the object is in.
			return &errcode.Error{Code: errcode.Conflict, Field: "username", Err: err,
				Message: "database role " + errcode.Quote(g.grantor) + " granted database user " + errcode.Quote(n) + " " + g.privileges + " " + errcode.Clip(g.on) + ", which the master user could not revoke as that role: a DBA must revoke it as that role (SET ROLE), then delete again; the user and its clone can no longer log in"}
		}
	}
	if left, err = a.grantsTo(ctx, n); err != nil {
		return err
	}
	if len(left) > 0 {
		return &errcode.Error{Code: errcode.Conflict, Field: "username",
			Message: "database role " + errcode.Quote(left[0].grantor) + " granted database user " + errcode.Quote(n) + " " + left[0].privileges + " " + errcode.Clip(left[0].on) + ", which the master user cannot revoke: a DBA must revoke it as that role (SET ROLE), then delete again; the user and its clone can no longer log in"}
	}
	return nil
}

// grantsQuery lists what was granted to the role $1 in this database, by
// whom (and whether a superuser), which privileges, and on what, as the
// clause a REVOKE names it by: tables and a session's temporary tables, large objects,
// schemas, routines, types and domains, columns, foreign servers,
// databases. Any role may grant on what it owns to any other, and such a
// grant blocks DROP ROLE until it is revoked as its grantor.
const grantsQuery = `SELECT coalesce(json_agg(json_build_array(g.rolname, a.privileges, a.clause, g.rolsuper)), '[]')::text FROM (
 SELECT e.grantor, e.grantee, string_agg(DISTINCT e.privilege_type, ', ') privileges, e.clause FROM (
  SELECT x.grantor, x.grantee, x.privilege_type, 'ON TABLE ' || c.oid::regclass::text clause FROM pg_class c, aclexplode(c.relacl) x WHERE c.relacl IS NOT NULL
  UNION ALL SELECT x.grantor, x.grantee, x.privilege_type, 'ON LARGE OBJECT ' || l.oid FROM pg_largeobject_metadata l, aclexplode(l.lomacl) x WHERE l.lomacl IS NOT NULL
  UNION ALL SELECT x.grantor, x.grantee, x.privilege_type, 'ON SCHEMA ' || quote_ident(n.nspname) FROM pg_namespace n, aclexplode(n.nspacl) x WHERE n.nspacl IS NOT NULL
  UNION ALL SELECT x.grantor, x.grantee, x.privilege_type, 'ON ROUTINE ' || p.oid::regprocedure::text FROM pg_proc p, aclexplode(p.proacl) x WHERE p.proacl IS NOT NULL
  UNION ALL SELECT x.grantor, x.grantee, x.privilege_type, CASE WHEN t.typtype = 'd' THEN 'ON DOMAIN ' ELSE 'ON TYPE ' END || t.oid::regtype::text FROM pg_type t, aclexplode(t.typacl) x WHERE t.typacl IS NOT NULL
  UNION ALL SELECT x.grantor, x.grantee, x.privilege_type, '(' || quote_ident(t.attname) || ') ON TABLE ' || t.attrelid::regclass::text FROM pg_attribute t, aclexplode(t.attacl) x WHERE t.attacl IS NOT NULL AND NOT t.attisdropped
  UNION ALL SELECT x.grantor, x.grantee, x.privilege_type, 'ON FOREIGN SERVER ' || quote_ident(s.srvname) FROM pg_foreign_server s, aclexplode(s.srvacl) x WHERE s.srvacl IS NOT NULL
  UNION ALL SELECT x.grantor, x.grantee, x.privilege_type, 'ON DATABASE ' || quote_ident(d.datname) FROM pg_database d, aclexplode(d.datacl) x WHERE d.datacl IS NOT NULL
 ) e GROUP BY e.grantor, e.grantee, e.clause
) a JOIN pg_roles v ON v.oid = a.grantee JOIN pg_roles g ON g.oid = a.grantor WHERE v.rolname = $1`

// grant is one row of grantsQuery.
type grant struct {
	grantor    string
	privileges string // as aclexplode names them: SELECT, UPDATE, ...
	on         string
	super      bool
}

func (a *Admin) grantsTo(ctx context.Context, n string) ([]grant, error) {
	list, err := a.s.QueryString(ctx, grantsQuery, n)
	if err != nil {
		return nil, a.classify(err)
	}
	return readGrants(list)
}

// readGrants reads grant rows: [grantor, privileges, clause, superuser].
func readGrants(list string) ([]grant, error) {
	var rows [][4]any
	if err := json.Unmarshal([]byte(list), &rows); err != nil {
		return nil, errcode.New(errcode.Upstream, "the server's list of what the user was granted could not be read")
	}
	out := make([]grant, 0, len(rows))
	for _, r := range rows {
		g, _ := r[0].(string)
		privileges, _ := r[1].(string)
		on, _ := r[2].(string)
		super, _ := r[3].(bool)
		if g == "" || on == "" || !privilegeList(privileges) {
			return nil, errcode.New(errcode.Upstream, "the server's list of what the user was granted could not be read")
		}
		out = append(out, grant{grantor: g, privileges: privileges, on: on, super: super})
	}
	return out, nil
}

// grantorsTo are the roles the master must be a member of to revoke what
// n was granted here: every grantor but superusers, n and the master.
func (a *Admin) grantorsTo(ctx context.Context, n string) ([]string, error) {
	grants, err := a.grantsTo(ctx, n)
	if err != nil {
		return nil, err
	}
	me, err := a.s.QueryString(ctx, "SELECT current_user")
	if err != nil {
		return nil, a.classify(err)
	}
	seen := map[string]bool{n: true, me: true}
	var out []string
	for _, g := range grants {
		if !g.super && !seen[g.grantor] {
			seen[g.grantor] = true
			out = append(out, g.grantor)
		}
	}
	return out, nil
}

// revokeAs revokes exactly what g's grantor granted n on g's object, as the
// grantor (SET LOCAL ROLE), so that the grantor is the one whose grant
// goes: PostgreSQL revokes as the current role only when it holds the
// grant option of each privilege named, and otherwise as another role it
// is a member of (REVOKE ALL as a clone with one grant option would
// revoke as the owner, which granted nothing, and leave the clone's
// grant). The clause is the server's own quoting of the object's name
// (regclass, regprocedure, quote_ident), read back as it wrote it.
func revokeAs(g grant, n string) []Statement {
	return []Statement{
		{SQL: "SET LOCAL ROLE " + quotePG(g.grantor)},
		{SQL: "REVOKE " + g.privileges + " " + g.on + " FROM " + quotePG(n) + " CASCADE"},
		{SQL: "RESET ROLE"},
	}
}

// privilegeList reports whether s is a list of privilege keywords as
// aclexplode names them ("SELECT, UPDATE"): letters and ", " only, so
// that nothing else reaches a REVOKE.
func privilegeList(s string) bool {
	if s == "" {
		return false
	}
	for _, p := range strings.Split(s, ", ") {
		if p == "" {
			return false
		}
		for _, c := range p {
			if c < 'A' || c > 'Z' {
				return false
			}
		}
	}
	return true
}
