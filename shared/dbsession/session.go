// Package dbsession opens a session with a PostgreSQL or MySQL server as
// one user, without trusting the server: the password never goes where a
// server could read it (no cleartext, no RSA key it hands out without
// TLS), and nothing a server sends (packets, rows, columns, bytes in all)
// is held in memory past a bound. Every step ends at the context's
// deadline, and no connection string is ever built.
//
// It speaks to databases only; it must not import anything of this
// module but errcode.
package dbsession

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// connectTimeout bounds reaching a database, well inside a function's
// deadline, so that one that does not answer fails cleanly; the context's
// deadline bounds it further.
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

// Family is a kind of SQL server: its wire protocol, dialect and notion
// of a user.
type Family int

const (
	Postgres Family = iota + 1 // postgres, aurora-postgresql
	MySQL                      // mysql, aurora-mysql, mariadb
)

// Session is a connection as one user: PostgreSQL's through pgconn (the
// wire protocol alone: pgx's type system would add 2 MB to every
// function), MySQL's through database/sql.
type Session interface {
	// Exec runs a statement and drops any rows. PostgreSQL's take no
	// arguments (the simple protocol); MySQL's are interpolated by the
	// driver.
	Exec(ctx context.Context, query string, args ...any) error
	// Exists reports whether the query has a row.
	Exists(ctx context.Context, query string, args ...string) (bool, error)
	// QueryString is the first column of the first row, "" for NULL or
	// for no row.
	QueryString(ctx context.Context, query string, args ...string) (string, error)
	// QueryStrings is the first column of every row, at most MaxRows.
	QueryStrings(ctx context.Context, query string, args ...string) ([]string, error)
	Close() error
}

// MaxRows bounds what QueryStrings reads: more is an error, not memory.
const MaxRows = 10000

// ErrTooManyRows: a query answered more than MaxRows rows.
var ErrTooManyRows = errors.New("the database answered more rows than expected")

// plainAuth is what PostgreSQL may ask of a client: a challenge that never
// carries the password itself. A server that asks for it in clear text
// (method "password") is refused before anything is sent: over plain TCP
// anyone on the path, or a server that is not the database, would read it.
const plainAuth = "scram-sha-256,md5"

// Open connects to e without building a connection string, so that no
// password can surface in one. Every step, the handshake included, ends at
// ctx's deadline.
func Open(ctx context.Context, e Endpoint) (Session, error) {
	if e.Family == MySQL {
		return openMySQL(ctx, e)
	}
	cfg, err := pgconn.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.Database, cfg.User, cfg.Password = e.Host, uint16(e.Port), e.Database, e.Username, e.Password
	cfg.ConnectTimeout, cfg.TLSConfig, cfg.Fallbacks = connectTimeout, e.TLS, nil
	// Also under TLS: another PostgreSQL on the master's host, with a
	// certificate valid for it, must not receive the password either.
	cfg.RequireAuth = plainAuth
	// Only the catalog resolves names: a count() or = another user put in
	// public would otherwise run as whoever is logged in here. A lock held
	// by another session (a user's open ALTER ROLE of itself, say) fails a
	// statement after a second, to be retried, rather than stalling it to
	// the deadline.
	cfg.RuntimeParams["search_path"] = "pg_catalog, pg_temp"
	cfg.RuntimeParams["lock_timeout"] = "1s"
	// A statement still running when the caller's time is up ends on the
	// server too: the client closes its socket at the deadline without a
	// cancel request, and the session's slot (sessionlimit) is given back.
	if deadline, ok := ctx.Deadline(); ok {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(max(time.Until(deadline).Milliseconds(), 1), 10)
	}
	// No answer to these statements is more than a few rows: a server that
	// sends a larger message, or more in all than a session here ever
	// reads, is refused, not held in the function's memory.
	cfg.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		f := pgproto3.NewFrontend(&budget{r: r, left: maxSession}, w)
		f.SetMaxBodyLen(maxMessage)
		return f
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return pgSession{conn: conn, failed: new(atomic.Bool)}, nil
}

func openMySQL(ctx context.Context, e Endpoint) (Session, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = e.Username, e.Password, "tcp", net.JoinHostPort(e.Host, strconv.Itoa(e.Port)), e.Database
	cfg.Timeout, cfg.InterpolateParams, cfg.TLS = connectTimeout, true, e.TLS
	// The driver prints what it closes to stderr, outside the function's
	// JSON log; every error reaches the caller anyway.
	cfg.Logger = &mysql.NopLogger{}
	// The driver never sends a cleartext password without TLS
	// (AllowCleartextPasswords is false), but for caching_sha2_password
	// and sha256_password it encrypts it with whatever RSA key the server
	// hands out: any server could decrypt it. Without TLS, refuse the key.
	var refused atomic.Bool
	if e.TLS == nil {
		cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &keyGuard{Conn: c, refused: &refused}, nil
		}
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if refused.Load() {
			return nil, ErrKeyRefused
		}
		return nil, err
	}
	return mysqlSession{db: db, failed: new(atomic.Bool)}, nil
}

// ErrKeyRefused: a MySQL server offered its RSA public key for the
// password on a connection without TLS, or sent packets no MySQL server
// sends in answer to these statements.
var ErrKeyRefused = errors.New("the server offered an RSA public key to encrypt the password with, or a packet no MySQL server sends here, on a connection without verified TLS; refused")

// maxAuthPacket bounds every packet a server sends before authentication
// ends: a greeting, an auth switch or a status is some hundred bytes. A
// larger one (such as a 16 MiB greeting split into chunks, whose second
// chunk would start like an OK) is no MySQL server's. maxMessage bounds
// any message afterwards, in both engines: the answers here are a few
// rows, and a server that sends more is not held in memory.
const (
	maxAuthPacket = 16 << 10
	maxMessage    = 1 << 20
	maxSession    = 8 << 20
)

// ErrOverBudget: a server sent more than any session here reads.
var ErrOverBudget = errors.New("the server sent more than any answer to these statements holds; refused")

// budget is a reader that ends, with ErrOverBudget, after left bytes.
type budget struct {
	r    io.Reader
	left int
}

func (b *budget) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, ErrOverBudget
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= n
	return n, err
}

// keyGuard reads the packets a MySQL server sends on a connection without
// TLS. During authentication it refuses any extended authentication data
// (AuthMoreData longer than a status byte: in the plugins the driver
// speaks, that is only ever a public key for the password) and any packet
// too large to be an authentication packet; afterwards, any packet larger
// than maxMessage.
type keyGuard struct {
	net.Conn
	refused *atomic.Bool

	header  []byte // of the packet being read, up to 4 bytes
	payload int    // bytes of the current packet's payload still to come
	first   bool   // the next payload byte is the packet's first
	length  int    // the current packet's payload length
	done    bool   // authentication is over (OK or ERR seen)
	// answer is set when the client has sent a command, so that the next
	// packet is the head of its answer: OK, ERR, or a result set's column
	// count, which the driver allocates for at once.
	answer bool
}

// maxColumns bounds a result set's columns: the queries here ask for one.
const maxColumns = 64

// Write notes each command the client sends (a packet with sequence
// number 0), so that Read checks the head of its answer.
func (g *keyGuard) Write(p []byte) (int, error) {
	if g.done && len(p) >= 4 && p[3] == 0 {
		g.answer = true
	}
	return g.Conn.Write(p)
}

func (g *keyGuard) Read(p []byte) (int, error) {
	n, err := g.Conn.Read(p)
	if n == 0 {
		return n, err
	}
	for b := p[:n]; len(b) > 0; {
		if g.payload == 0 {
			g.header = append(g.header, b[0])
			b = b[1:]
			if len(g.header) == 4 {
				g.length = int(g.header[0]) | int(g.header[1])<<8 | int(g.header[2])<<16
				g.payload, g.first, g.header = g.length, !g.done || g.answer, g.header[:0]
				if !g.done && g.length > maxAuthPacket || g.length > maxMessage {
					return g.refuse()
				}
			}
			continue
		}
		if g.first && g.done {
			// The head of an answer: OK (0x00), ERR (0xff), or a
			// column count, 1-250 in one byte; 0xfb (LOCAL INFILE) and
			// the longer counts (0xfc-0xfe) are no answer to a query here.
			g.first, g.answer = false, false
			if c := b[0]; c != 0x00 && c != 0xff && (c > maxColumns) {
				return g.refuse()
			}
		}
		if g.first {
			g.first = false
			switch b[0] {
			case 0x00, 0xff: // OK, ERR: authentication ends
				g.done = true
			case 0x01: // AuthMoreData
				if g.length > 2 {
					return g.refuse()
				}
			}
		}
		skip := min(g.payload, len(b))
		g.payload -= skip
		b = b[skip:]
	}
	return n, err
}

func (g *keyGuard) refuse() (int, error) {
	g.refused.Store(true)
	g.Conn.Close()
	return 0, ErrKeyRefused
}

type mysqlSession struct {
	db     *sql.DB
	failed *atomic.Bool
}

func (m mysqlSession) Exec(ctx context.Context, query string, args ...any) error {
	return guard(m.failed, func() error {
		_, err := m.db.ExecContext(ctx, query, args...)
		return err
	})
}

func (m mysqlSession) Exists(ctx context.Context, query string, args ...string) (found bool, err error) {
	err = guard(m.failed, func() error {
		var one int
		err := m.db.QueryRowContext(ctx, query, anys(args)...).Scan(&one)
		found = err == nil
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	return found, err
}

func (m mysqlSession) QueryString(ctx context.Context, query string, args ...string) (value string, err error) {
	err = guard(m.failed, func() error {
		var v sql.NullString
		err := m.db.QueryRowContext(ctx, query, anys(args)...).Scan(&v)
		value = v.String
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	return value, err
}

func (m mysqlSession) QueryStrings(ctx context.Context, query string, args ...string) (values []string, err error) {
	err = guard(m.failed, func() error {
		rows, err := m.db.QueryContext(ctx, query, anys(args)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if len(values) == MaxRows {
				return ErrTooManyRows
			}
			var v sql.NullString
			if err := rows.Scan(&v); err != nil {
				return err
			}
			values = append(values, v.String)
		}
		return rows.Err()
	})
	return values, err
}

func (m mysqlSession) Close() error { return m.db.Close() }

func anys(args []string) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}

// ErrDriverFailed: a driver failed on what a server sent (it panicked);
// the session is of no further use.
var ErrDriverFailed = errors.New("the database driver failed on what the server sent")

// guard runs call, turning a driver's panic on a server's malformed answer
// into ErrDriverFailed, so that a hostile server cannot take the function
// down before it answers. The session fails at once from then on: the
// driver may hold its connection still.
func guard(failed *atomic.Bool, call func() error) (err error) {
	if failed.Load() {
		return ErrDriverFailed
	}
	defer func() {
		if recover() != nil {
			failed.Store(true)
			err = ErrDriverFailed
		}
	}()
	return call()
}

type pgSession struct {
	conn   *pgconn.PgConn
	failed *atomic.Bool
}

// Exec runs a statement with the simple protocol: the statements here
// take no parameters (identifiers are quoted, the password is a
// verifier). Results are read and dropped, never kept.
func (p pgSession) Exec(ctx context.Context, query string, args ...any) error {
	if len(args) > 0 {
		return errors.New("a PostgreSQL statement with parameters: use Exists or QueryString")
	}
	return guard(p.failed, func() error {
		mrr := p.conn.Exec(ctx, query)
		for mrr.NextResult() {
			rr := mrr.ResultReader()
			for rr.NextRow() {
			}
			if _, err := rr.Close(); err != nil {
				mrr.Close()
				return err
			}
		}
		return mrr.Close()
	})
}

// Exists and QueryString read the first row only: a server that answers
// with endless rows is not held in memory (the rest are read and dropped
// until the session's byte budget or the context ends).
func (p pgSession) Exists(ctx context.Context, query string, args ...string) (found bool, err error) {
	err = guard(p.failed, func() error {
		rr := p.conn.ExecParams(ctx, query, params(args), nil, nil, nil)
		found = rr.NextRow()
		_, err := rr.Close()
		return err
	})
	return found, err
}

func (p pgSession) QueryString(ctx context.Context, query string, args ...string) (value string, err error) {
	err = guard(p.failed, func() error {
		rr := p.conn.ExecParams(ctx, query, params(args), nil, nil, nil)
		if rr.NextRow() && len(rr.Values()) > 0 {
			value = string(rr.Values()[0])
		}
		_, err := rr.Close()
		return err
	})
	return value, err
}

func (p pgSession) QueryStrings(ctx context.Context, query string, args ...string) (values []string, err error) {
	err = guard(p.failed, func() error {
		rr := p.conn.ExecParams(ctx, query, params(args), nil, nil, nil)
		for rr.NextRow() {
			if len(values) == MaxRows {
				rr.Close()
				return ErrTooManyRows
			}
			if len(rr.Values()) > 0 {
				values = append(values, string(rr.Values()[0]))
			}
		}
		_, err := rr.Close()
		return err
	})
	return values, err
}

func params(args []string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

// Close ends the session without waiting on a server that stopped
// answering: pgconn's Close sends Terminate under the context given.
func (p pgSession) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return p.conn.Close(ctx)
}
