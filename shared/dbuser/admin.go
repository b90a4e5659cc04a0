package dbuser

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// cleanupTimeout bounds what undoes a failed step (a ROLLBACK, a DROP of
// a half-made MySQL user): it runs after the request's own time is up,
// against a server that may have stopped answering.
const cleanupTimeout = 2 * time.Second

// WithReserve bounds ctx at its deadline less reserve: the database work
// of a request ends early enough for the request to undo what it made
// and answer before the function's deadline.
func WithReserve(ctx context.Context, reserve time.Duration) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline.Add(-reserve))
}

// cleanup is a context for undoing, after ctx may have ended.
func cleanup(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// Admin acts as the master user on one database.
type Admin struct {
	family  Family
	s       session
	secrets []string // what no error may show
}

// Connect logs in as the master user.
func Connect(ctx context.Context, e Endpoint) (*Admin, error) {
	s, err := open(ctx, e)
	if err != nil && e.TLS != nil && strings.Contains(err.Error(), "require_auth") {
		return nil, &errcode.Error{Code: errcode.Forbidden, Err: classify(err, e.Password),
			Message: "the database asked for the password in clear text; even under TLS nothing was sent, since any server with a certificate for the host would read it: the database must authenticate with SCRAM-SHA-256 or MD5"}
	}
	if err != nil {
		return nil, classify(err, e.Password)
	}
	return &Admin{family: e.Family, s: s, secrets: []string{e.Password}}, nil
}

// Close ends the connection.
func (a *Admin) Close() error { return a.s.close() }

// Exists reports whether a user of that name exists; in MySQL and MariaDB
// at any host, so that 'root'@'localhost' is as taken as 'root'@'%'.
func (a *Admin) Exists(ctx context.Context, name string) (bool, error) {
	query := "SELECT 1 FROM pg_roles WHERE rolname = $1"
	if a.family == MySQL {
		query = "SELECT 1 FROM mysql.user WHERE User = ?"
	}
	exists, err := a.s.exists(ctx, query, name)
	return exists, a.classify(err)
}

// Taken names the first of the user and its clone that exists, or "".
func (a *Admin) Taken(ctx context.Context, name string) (string, error) {
	for _, n := range []string{name, CloneOf(name)} {
		exists, err := a.Exists(ctx, n)
		if err != nil || exists {
			return n, err
		}
	}
	return "", nil
}

// CheckTargets makes sure what u's privileges are on exists, so that a
// request for a user on a database or schema that is not there is refused
// before anything is made: PostgreSQL's schemas (the database is the one
// connected to), MySQL's database.
func (a *Admin) CheckTargets(ctx context.Context, u User) error {
	if a.family == MySQL {
		exists, err := a.s.exists(ctx, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", u.Database)
		if err == nil && !exists {
			return errcode.Invalidf("dbname", "database %s does not exist", errcode.Quote(u.Database))
		}
		return a.classify(err)
	}
	for i, schema := range u.schemas() {
		exists, err := a.s.exists(ctx, "SELECT 1 FROM pg_namespace WHERE nspname = $1", schema)
		if err != nil {
			return a.classify(err)
		}
		if !exists {
			field := "schemas"
			if len(u.Schemas) > 0 {
				field = "schemas[" + itoa(i) + "]"
			}
			return errcode.Invalidf(field, "schema %s does not exist in database %s", errcode.Quote(schema), errcode.Quote(u.Database))
		}
	}
	return nil
}

// Create makes the user with its password and privileges, all or nothing.
func (a *Admin) Create(ctx context.Context, u User, password *Password) error {
	if err := a.checkNew(u); err != nil {
		return err
	}
	create, err := createUser(a.family, u.Name, password)
	if err != nil {
		return err
	}
	a.secrets = append(a.secrets, password.plain)
	if a.family == Postgres {
		return a.inTransaction(ctx, append([]Statement{create}, grants(a.family, u)...))
	}
	// MySQL commits each statement: once the user is made, a failed grant
	// drops it again by hand. A user this call did not make is never
	// dropped.
	if err := a.exec(ctx, []Statement{create}); err != nil {
		return err
	}
	if err := a.exec(ctx, grants(a.family, u)); err != nil {
		undo, cancel := cleanup(ctx)
		a.exec(undo, dropUser(MySQL, u.Name))
		cancel()
		return err
	}
	return nil
}

func (a *Admin) checkNew(u User) error {
	if err := u.Check(a.family); err != nil {
		return err
	}
	return CheckNewUser(a.family, u.Name)
}

// Pending is a user made but not yet committed: PostgreSQL's statements
// run in a transaction that is still open, so that they can overlap other
// work (making the secret) and be undone if that fails. MySQL commits each
// statement, so its user is made only at Commit.
type Pending struct {
	admin    *Admin
	user     User
	password *Password
	err      error // of the statements run so far
}

// Prepare starts making the user. Call Commit or Rollback, once.
func (a *Admin) Prepare(ctx context.Context, u User, password *Password) *Pending {
	p := &Pending{admin: a, user: u, password: password}
	if err := a.checkNew(u); err != nil {
		p.err = err
		return p
	}
	if a.family == Postgres {
		create, err := createUser(Postgres, u.Name, password)
		if err != nil {
			p.err = err
			return p
		}
		a.secrets = append(a.secrets, password.plain)
		if err := a.s.exec(ctx, Statement{SQL: "BEGIN"}); err != nil {
			p.err = a.classify(err)
			return p
		}
		if p.err = a.exec(ctx, append([]Statement{create}, grants(Postgres, u)...)); p.err != nil {
			a.rollback(ctx)
		}
	}
	return p
}

// Err is what Prepare's statements ran into, if anything.
func (p *Pending) Err() error { return p.err }

// Commit makes the user for good.
func (p *Pending) Commit(ctx context.Context) error {
	if p.err != nil {
		return p.err
	}
	if p.admin.family == MySQL {
		return p.admin.Create(ctx, p.user, p.password)
	}
	return p.admin.classify(p.admin.s.exec(ctx, Statement{SQL: "COMMIT"}))
}

// Rollback undoes what Prepare did.
func (p *Pending) Rollback(ctx context.Context) {
	if p.err == nil && p.admin.family == Postgres {
		p.admin.rollback(ctx)
	}
}

func (a *Admin) rollback(ctx context.Context) {
	undo, cancel := cleanup(ctx)
	defer cancel()
	a.s.exec(undo, Statement{SQL: "ROLLBACK"})
}

// SetPrivileges changes the user's privileges (and schemas) from was to now.
func (a *Admin) SetPrivileges(ctx context.Context, was, now User) error {
	if err := now.Check(a.family); err != nil {
		return err
	}
	statements := append(revokes(a.family, was), grants(a.family, now)...)
	if a.family == Postgres {
		return a.inTransaction(ctx, statements)
	}
	return a.exec(ctx, statements)
}

// Drop removes the user and its alternating-users clone, with every
// privilege they hold; a user already gone is no error. name must be the
// user this provisioner made, as recorded when it made it: never a name
// read back from a secret, which rotation and anyone who may write the
// secret rewrite.
//
// Each user is first locked out: it can no longer log in, and its open
// sessions are ended. Otherwise a session opened before the delete would
// outlive it (MySQL applies DROP USER to a session only when the session
// closes), or, in PostgreSQL, make objects between the check of what the
// user owns and the drop. The lock stays even when the drop is refused.
//
// A PostgreSQL user that owns objects (in any database) is not dropped: a
// conflict that says so. Its objects are neither dropped (they may be an
// application's data) nor handed to the master user (a SECURITY DEFINER
// function the user planted would then run as the master): whoever owns
// the database decides, and the Delete is retried.
func (a *Admin) Drop(ctx context.Context, name string) error {
	for _, n := range []string{name, CloneOf(name)} {
		exists, err := a.Exists(ctx, n)
		if err != nil {
			return err
		}
		if !exists {
			continue
		}
		if err := a.lockOut(ctx, n); err != nil {
			return err
		}
		if a.family == Postgres {
			owned, qerr := a.s.queryString(ctx, "SELECT count(*) FROM pg_shdepend d JOIN pg_roles r ON d.refobjid = r.oid WHERE d.deptype = 'o' AND r.rolname = $1", n)
			if qerr != nil {
				return a.classify(qerr)
			}
			if owned != "0" {
				return &errcode.Error{Code: errcode.Conflict, Field: "username",
					Message: "database user " + errcode.Quote(n) + " owns " + owned + " database objects, which this provisioner neither drops nor hands to the master user: drop them or give them to a role of your choice (REASSIGN OWNED), then delete again; the user can no longer log in"}
			}
			err = a.inTransaction(ctx, dropUser(Postgres, n))
		} else {
			err = a.exec(ctx, dropUser(MySQL, n))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// sessionsEnd bounds the wait for the sessions Drop ended to go.
const sessionsEnd = 3 * time.Second

// lockOut stops n logging in, then ends its sessions and waits until none
// is left.
func (a *Admin) lockOut(ctx context.Context, n string) error {
	if err := a.exec(ctx, lockUser(a.family, n)); err != nil {
		return err
	}
	until := time.Now().Add(sessionsEnd)
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

// endSessions ends every session of n and says how many there were.
// PostgreSQL: the master is a member of n (lockUser made it one), which
// lets it terminate n's backends. MySQL: KILL needs CONNECTION ADMIN,
// which an RDS master lacks; RDS's mysql.rds_kill does it instead. A
// session neither may end is a refusal: n stays locked, and not dropped
// while it could still act.
func (a *Admin) endSessions(ctx context.Context, n string) (int, error) {
	if a.family == Postgres {
		count, err := a.s.queryString(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1", n)
		if err != nil {
			return 0, a.classify(err)
		}
		return strconv.Atoi(count)
	}
	list, err := a.s.queryString(ctx, "SELECT GROUP_CONCAT(ID) FROM information_schema.PROCESSLIST WHERE USER = ?", n)
	if err != nil {
		return 0, a.classify(err)
	}
	ids := strings.FieldsFunc(list, func(r rune) bool { return r == ',' })
	for _, id := range ids {
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			return 0, fmt.Errorf("a session id that is no number: %q", id)
		}
		err := a.s.exec(ctx, Statement{SQL: "KILL CONNECTION " + id})
		if isNotOwner(err) {
			err = a.s.exec(ctx, Statement{SQL: "CALL mysql.rds_kill(" + id + ")"})
		}
		if err != nil && !isNoSuchThread(err) {
			return 0, &errcode.Error{Code: errcode.Conflict, Field: "username", Err: a.classify(err),
				Message: "the master user may not end the open sessions of database user " + errcode.Quote(n) + " (it needs CONNECTION ADMIN, or RDS's mysql.rds_kill): the user can no longer log in, and is dropped once its sessions end: delete again"}
		}
	}
	return len(ids), nil
}

func (a *Admin) exec(ctx context.Context, statements []Statement) error {
	for i, s := range statements {
		if err := a.s.exec(ctx, s); err != nil {
			if a.family == MySQL && isNoSuchGrant(err) {
				continue // a revoke of nothing
			}
			return a.classify(fmt.Errorf("statement %d of %d: %w", i+1, len(statements), err))
		}
	}
	return nil
}

// inTransaction runs PostgreSQL statements all or none.
func (a *Admin) inTransaction(ctx context.Context, statements []Statement) error {
	if err := a.s.exec(ctx, Statement{SQL: "BEGIN"}); err != nil {
		return a.classify(err)
	}
	if err := a.exec(ctx, statements); err != nil {
		a.rollback(ctx)
		return err
	}
	if err := a.s.exec(ctx, Statement{SQL: "COMMIT"}); err != nil {
		return a.classify(err)
	}
	return nil
}

func (a *Admin) classify(err error) error { return classify(err, a.secrets...) }
