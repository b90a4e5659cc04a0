package dbuser

import (
	"context"
	"fmt"
	"time"

	"github.com/dbcreds/provisioner/shared/dbsession"
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
	s       dbsession.Session
	secrets []string // what no error may show
	// at is where the master logged in, for the other databases of the
	// same server Drop may have to visit.
	at dbsession.Endpoint
	// flavor is "mariadb" or "mysql" once asked (mariaDB), "" before.
	flavor string
}

// Connect logs in as the master user.
func Connect(ctx context.Context, e dbsession.Endpoint) (*Admin, error) {
	s, err := dbsession.Open(ctx, e)
	if err != nil {
		return nil, classify(err, e.Password)
	}
	return &Admin{family: e.Family, s: s, secrets: []string{e.Password}, at: e}, nil
}

// Close ends the connection.
func (a *Admin) Close() error { return a.s.Close() }

// Exists reports whether a user of that name exists; in MySQL and MariaDB
// at any host, so that 'root'@'localhost' is as taken as 'root'@'%'.
func (a *Admin) Exists(ctx context.Context, name string) (bool, error) {
	query := "SELECT 1 FROM pg_roles WHERE rolname = $1"
	if a.family == MySQL {
		query = "SELECT 1 FROM mysql.user WHERE User = ?"
	}
	exists, err := a.s.Exists(ctx, query, name)
	return exists, a.classify(err)
}

// OID is a PostgreSQL role's identity (its oid), "" when no role has the
// name: what a record of a user made compares, so that a user of the same
// name made after it was dropped is never taken for it. MySQL and MariaDB
// keep no identity beside the name: "".
func (a *Admin) OID(ctx context.Context, name string) (string, error) {
	if a.family != Postgres {
		return "", nil
	}
	oid, err := a.s.QueryString(ctx, "SELECT oid::text FROM pg_roles WHERE rolname = $1", name)
	return oid, a.classify(err)
}

// Taken names the first of the user and its clone that exists, or "". In
// MySQL and MariaDB a name that differs from an existing user's in letter
// case only is taken too: the server's session list compares names
// without case, so such a user's sessions could not be told apart.
func (a *Admin) Taken(ctx context.Context, name string) (string, error) {
	query := "SELECT 1 FROM pg_roles WHERE rolname = $1"
	if a.family == MySQL {
		query = "SELECT 1 FROM mysql.user WHERE LOWER(User) = LOWER(?)"
	}
	for _, n := range []string{name, CloneOf(name)} {
		exists, err := a.s.Exists(ctx, query, n)
		if err != nil || exists {
			return n, a.classify(err)
		}
	}
	return "", nil
}

// CheckTargets makes sure what u's privileges are on exists, so that a
// request for a user on a database or schema that is not there is refused
// before anything is made: PostgreSQL's schemas (the database is the one
// connected to), MySQL's database; and its roles (CheckRoles).
func (a *Admin) CheckTargets(ctx context.Context, u User) error {
	if a.family == MySQL {
		exists, err := a.s.Exists(ctx, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", u.Database)
		if err == nil && !exists {
			return errcode.Invalidf("dbname", "database %s does not exist", errcode.Quote(u.Database))
		}
		if err != nil {
			return a.classify(err)
		}
		return a.CheckRoles(ctx, u)
	}
	for i, schema := range u.schemas() {
		field := "schemas"
		if len(u.Schemas) > 0 {
			field = "schemas[" + itoa(i) + "]"
		}
		exists, err := a.s.Exists(ctx, "SELECT 1 FROM pg_namespace WHERE nspname = $1", schema)
		if err != nil {
			return a.classify(err)
		}
		if !exists {
			return errcode.Invalidf(field, "schema %s does not exist in database %s", errcode.Quote(schema), errcode.Quote(u.Database))
		}
		// A schema an extension made is the extension's (pg_cron's cron,
		// pg_tle's pgtle, pglogical's): its tables steer what the
		// extension does, as whoever runs it.
		extension, err := a.s.QueryString(ctx, "SELECT e.extname FROM pg_namespace n JOIN pg_depend d ON d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e' JOIN pg_extension e ON e.oid = d.refobjid WHERE n.nspname = $1", schema)
		if err != nil {
			return a.classify(err)
		}
		if extension != "" {
			return errcode.Invalidf(field, "schema %s belongs to the extension %s: no user of an application gets privileges there", errcode.Quote(schema), errcode.Quote(errcode.Clip(extension)))
		}
	}
	return a.CheckRoles(ctx, u)
}

// Create makes the user with its password and privileges, all or nothing.
func (a *Admin) Create(ctx context.Context, u User, password *Password) error {
	if err := a.checkNew(u); err != nil {
		return err
	}
	create, err := createUser(a.family, u, password)
	if err != nil {
		return err
	}
	a.secrets = append(a.secrets, password.plain)
	if a.family == Postgres {
		return a.transaction(ctx, func() error { return a.makePG(ctx, u, create) })
	}
	// MySQL commits each statement: once the user is made, a failed grant
	// drops it again by hand. A user this call did not make is never
	// dropped.
	if err := a.exec(ctx, []Statement{create}); err != nil {
		return err
	}
	if err := a.grantWithPeers(ctx, nil, u); err != nil {
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
		create, err := createUser(Postgres, u, password)
		if err != nil {
			p.err = err
			return p
		}
		a.secrets = append(a.secrets, password.plain)
		if err := a.s.Exec(ctx, "BEGIN"); err != nil {
			p.err = a.classify(err)
			return p
		}
		// The role and its clone only: the grants wait for Commit.
		if p.err = a.makeRolePG(ctx, u, create); p.err != nil {
			a.rollback(ctx)
		}
	}
	return p
}

// makePG makes a PostgreSQL user, its clone and its privileges in the
// transaction open on a's session.
func (a *Admin) makePG(ctx context.Context, u User, create Statement) error {
	if err := a.makeRolePG(ctx, u, create); err != nil {
		return err
	}
	return a.grantWithPeers(ctx, nil, u)
}

// makeRolePG makes the role, its mark and its clone: new catalog rows,
// which other sessions making users at once never contend for.
func (a *Admin) makeRolePG(ctx context.Context, u User, create Statement) error {
	clone, err := createClone(u)
	if err != nil {
		return err
	}
	return a.exec(ctx, append([]Statement{create, markMade(u)}, clone...))
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
	// The grants come last, just before COMMIT: each rewrites the ACL of a
	// database or schema every user shares, which PostgreSQL lets only one
	// open transaction do at a time (the next fails with "tuple concurrently
	// updated"), so they are kept short and serialised.
	if err := p.admin.grantWithPeers(ctx, nil, p.user); err != nil {
		p.admin.rollback(ctx)
		return err
	}
	return p.admin.classify(p.admin.s.Exec(ctx, "COMMIT"))
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
	a.s.Exec(undo, "ROLLBACK")
}

// SetPrivileges changes the user's privileges (and schemas) from was to now.
func (a *Admin) SetPrivileges(ctx context.Context, was, now User) error {
	if err := now.Check(a.family); err != nil {
		return err
	}
	if a.family != Postgres {
		return a.grantWithPeers(ctx, &was, now)
	}
	return a.transaction(ctx, func() error { return a.grantWithPeers(ctx, &was, now) })
}

func (a *Admin) exec(ctx context.Context, statements []Statement) error {
	for i, s := range statements {
		if err := a.s.Exec(ctx, s.SQL, s.Args...); err != nil {
			if a.family == MySQL && isNoSuchGrant(err) {
				continue // a revoke of nothing
			}
			return a.classify(fmt.Errorf("statement %d of %d: %w", i+1, len(statements), err))
		}
	}
	return nil
}

// transaction runs do in a PostgreSQL transaction: all or nothing.
func (a *Admin) transaction(ctx context.Context, do func() error) error {
	if err := a.s.Exec(ctx, "BEGIN"); err != nil {
		return a.classify(err)
	}
	if err := do(); err != nil {
		a.rollback(ctx)
		return err
	}
	if err := a.s.Exec(ctx, "COMMIT"); err != nil {
		a.rollback(ctx)
		return a.classify(err)
	}
	return nil
}

func (a *Admin) classify(err error) error { return classify(err, a.secrets...) }
