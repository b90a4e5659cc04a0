package dbuser

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// CloneSuffix is what AWS's alternating-users rotation appends to make the
// second user; a user's clone goes with it.
const CloneSuffix = "_clone"

// connectTimeout bounds reaching a database, well inside a function's
// deadline, so that one that does not answer fails cleanly.
const connectTimeout = 5 * time.Second

// Endpoint is a database and whom to log in as. It is never logged.
type Endpoint struct {
	Family   Family
	Host     string
	Port     int
	Database string
	Username string
	Password string
	// TLS, when set, is required and verified; nil is a plain connection.
	TLS *tls.Config
}

// session is a connection as one user: PostgreSQL's through pgconn (the
// wire protocol alone: pgx's type system would add 2 MB to every
// function), MySQL's through database/sql.
type session interface {
	exec(ctx context.Context, s Statement) error
	exists(ctx context.Context, query, arg string) (bool, error)
	queryString(ctx context.Context, query string) (string, error)
	close() error
}

// open connects to e without building a connection string, so that no
// password can surface in one.
func open(ctx context.Context, e Endpoint) (session, error) {
	if e.Family == MySQL {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = e.Username, e.Password, "tcp", net.JoinHostPort(e.Host, strconv.Itoa(e.Port)), e.Database
		cfg.Timeout, cfg.InterpolateParams, cfg.TLS = connectTimeout, true, e.TLS
		connector, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, err
		}
		db := sql.OpenDB(connector)
		db.SetMaxOpenConns(1)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, err
		}
		return mysqlSession{db}, nil
	}
	cfg, err := pgconn.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.Database, cfg.User, cfg.Password = e.Host, uint16(e.Port), e.Database, e.Username, e.Password
	cfg.ConnectTimeout, cfg.TLSConfig, cfg.Fallbacks = connectTimeout, e.TLS, nil
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return pgSession{conn}, nil
}

type mysqlSession struct{ db *sql.DB }

func (m mysqlSession) exec(ctx context.Context, s Statement) error {
	_, err := m.db.ExecContext(ctx, s.SQL, s.Args...)
	return err
}

func (m mysqlSession) exists(ctx context.Context, query, arg string) (bool, error) {
	var one int
	err := m.db.QueryRowContext(ctx, query, arg).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (m mysqlSession) queryString(ctx context.Context, query string) (string, error) {
	var v string
	err := m.db.QueryRowContext(ctx, query).Scan(&v)
	return v, err
}

func (m mysqlSession) close() error { return m.db.Close() }

type pgSession struct{ conn *pgconn.PgConn }

// exec runs a statement with the simple protocol: the statements here take
// no parameters (identifiers are quoted, the password is a verifier).
func (p pgSession) exec(ctx context.Context, s Statement) error {
	if len(s.Args) > 0 {
		return errors.New("a PostgreSQL statement with parameters: use exists")
	}
	_, err := p.conn.Exec(ctx, s.SQL).ReadAll()
	return err
}

func (p pgSession) exists(ctx context.Context, query, arg string) (bool, error) {
	result := p.conn.ExecParams(ctx, query, [][]byte{[]byte(arg)}, nil, nil, nil).Read()
	return len(result.Rows) > 0, result.Err
}

func (p pgSession) queryString(ctx context.Context, query string) (string, error) {
	result := p.conn.ExecParams(ctx, query, nil, nil, nil, nil).Read()
	if result.Err != nil || len(result.Rows) == 0 || len(result.Rows[0]) == 0 {
		return "", result.Err
	}
	return string(result.Rows[0][0]), nil
}

func (p pgSession) close() error { return p.conn.Close(context.Background()) }

// Admin acts as the master user on one database.
type Admin struct {
	family  Family
	s       session
	secrets []string // what no error may show
}

// Connect logs in as the master user.
func Connect(ctx context.Context, e Endpoint) (*Admin, error) {
	s, err := open(ctx, e)
	if err != nil {
		return nil, classify(err, e.Password)
	}
	return &Admin{family: e.Family, s: s, secrets: []string{e.Password}}, nil
}

// Close ends the connection.
func (a *Admin) Close() error { return a.s.close() }

// Exists reports whether the user exists.
func (a *Admin) Exists(ctx context.Context, name string) (bool, error) {
	query := "SELECT 1 FROM pg_roles WHERE rolname = $1"
	if a.family == MySQL {
		query = "SELECT 1 FROM mysql.user WHERE User = ? AND Host = '%'"
	}
	exists, err := a.s.exists(ctx, query, name)
	return exists, a.classify(err)
}

// Create makes the user with its password and privileges, all or nothing.
func (a *Admin) Create(ctx context.Context, u User, password *Password) error {
	if err := u.Check(a.family); err != nil {
		return err
	}
	create, err := createUser(a.family, u.Name, password)
	if err != nil {
		return err
	}
	a.secrets = append(a.secrets, password.plain)
	statements := append([]Statement{create}, grants(a.family, u)...)
	if a.family == Postgres {
		return a.inTransaction(ctx, statements)
	}
	// MySQL commits each statement of a user's: undo by hand.
	if err := a.exec(ctx, statements); err != nil {
		if exists, _ := a.Exists(ctx, u.Name); exists && !isDuplicate(err) {
			a.exec(context.WithoutCancel(ctx), dropUser(MySQL, u.Name))
		}
		return err
	}
	return nil
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
	if err := u.Check(a.family); err != nil {
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
			a.s.exec(context.WithoutCancel(ctx), Statement{SQL: "ROLLBACK"})
		}
	}
	return p
}

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
		p.admin.s.exec(context.WithoutCancel(ctx), Statement{SQL: "ROLLBACK"})
	}
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

// Drop removes the user and its alternating-users clone, and what they
// own; a user already gone is no error.
func (a *Admin) Drop(ctx context.Context, name string) error {
	for _, n := range []string{name, name + CloneSuffix} {
		exists, err := a.Exists(ctx, n)
		if err != nil {
			return err
		}
		if !exists {
			continue
		}
		if a.family == Postgres {
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

// CanLogIn reports whether e's user can log in with e's password: how a
// retry knows that a user that exists is the one its secret is for.
func CanLogIn(ctx context.Context, e Endpoint) (bool, error) {
	s, err := open(ctx, e)
	if err == nil {
		s.close()
		return true, nil
	}
	if isAuthFailure(err) {
		return false, nil
	}
	return false, classify(err, e.Password)
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
		a.s.exec(context.WithoutCancel(ctx), Statement{SQL: "ROLLBACK"})
		return err
	}
	if err := a.s.exec(ctx, Statement{SQL: "COMMIT"}); err != nil {
		return a.classify(err)
	}
	return nil
}

func (a *Admin) classify(err error) error { return classify(err, a.secrets...) }

// classify turns a driver error into a coded one. Its text stays the cause,
// for the log, with any password cut out: drivers quote what they were
// given.
func classify(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	cause := redacted{err: err, secrets: secrets}
	var netErr net.Error
	var verify *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &verify) || errors.As(err, &unknownCA) || errors.As(err, &hostname):
		return errcode.Wrap(cause, errcode.Upstream, "the database's TLS certificate could not be verified against the certificate authority bundle")
	case strings.Contains(err.Error(), "server refused TLS") || strings.Contains(err.Error(), "server does not support TLS") || strings.Contains(err.Error(), "TLS requested but server does not support TLS"):
		return errcode.Wrap(cause, errcode.Upstream, "the database does not offer TLS, which ssl requires")
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return errcode.Wrap(cause, errcode.Unavailable, "the database did not answer in time")
	case isAuthFailure(err):
		return errcode.Wrap(cause, errcode.Forbidden, "the master user could not log in to the database")
	case isDuplicate(err):
		return errcode.Wrap(cause, errcode.Conflict, "the database user already exists")
	case isPermission(err):
		return errcode.Wrap(cause, errcode.Forbidden, "the master user may not do this in the database")
	}
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	if errors.As(err, &pgErr) || errors.As(err, &myErr) {
		return errcode.Wrap(cause, errcode.Upstream, "the database refused the request")
	}
	return errcode.Wrap(cause, errcode.Unavailable, "the database could not be reached")
}

func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func myCode(err error) uint16 {
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number
	}
	return 0
}

// isAuthFailure: PostgreSQL 28P01/28000, MySQL 1045.
func isAuthFailure(err error) bool {
	c := pgCode(err)
	return c == "28P01" || c == "28000" || myCode(err) == 1045
}

// isDuplicate: PostgreSQL 42710 (duplicate_object), MySQL 1396 (operation
// CREATE USER failed).
func isDuplicate(err error) bool { return pgCode(err) == "42710" || myCode(err) == 1396 }

// isPermission: PostgreSQL 42501, MySQL 1044, 1142, 1227.
func isPermission(err error) bool {
	n := myCode(err)
	return pgCode(err) == "42501" || n == 1044 || n == 1142 || n == 1227
}

// isNoSuchGrant: MySQL 1141/1147, a REVOKE of nothing.
func isNoSuchGrant(err error) bool { n := myCode(err); return n == 1141 || n == 1147 }

// redacted is a driver error with every secret cut from its text.
type redacted struct {
	err     error
	secrets []string
}

func (r redacted) Error() string {
	text := r.err.Error()
	for _, s := range r.secrets {
		if s != "" {
			text = strings.ReplaceAll(text, s, "[redacted]")
		}
	}
	return text
}

func (r redacted) Unwrap() error { return r.err }
