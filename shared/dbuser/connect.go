package dbuser

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

// session is a connection as one user: PostgreSQL's through pgconn (the
// wire protocol alone: pgx's type system would add 2 MB to every
// function), MySQL's through database/sql.
type session interface {
	exec(ctx context.Context, s Statement) error
	exists(ctx context.Context, query, arg string) (bool, error)
	queryString(ctx context.Context, query string, args ...string) (string, error)
	close() error
}

// plainAuth is what PostgreSQL may ask of a client: a challenge that never
// carries the password itself. A server that asks for it in clear text
// (method "password") is refused before anything is sent: over plain TCP
// anyone on the path, or a server that is not the database, would read it.
const plainAuth = "scram-sha-256,md5"

// open connects to e without building a connection string, so that no
// password can surface in one. Every step, the handshake included, ends at
// ctx's deadline.
func open(ctx context.Context, e Endpoint) (session, error) {
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
	return pgSession{conn}, nil
}

func openMySQL(ctx context.Context, e Endpoint) (session, error) {
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
			return nil, errKeyRefused
		}
		return nil, err
	}
	return mysqlSession{db}, nil
}

// errKeyRefused: a MySQL server offered its RSA public key for the
// password on a connection without TLS, or sent packets no MySQL server
// sends in answer to these statements.
var errKeyRefused = errors.New("the server offered an RSA public key to encrypt the password with, or a packet no MySQL server sends here, on a connection without verified TLS; refused")

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

// errOverBudget: a server sent more than any session here reads.
var errOverBudget = errors.New("the server sent more than any answer to these statements holds; refused")

// budget is a reader that ends, with errOverBudget, after left bytes.
type budget struct {
	r    io.Reader
	left int
}

func (b *budget) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errOverBudget
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
	return 0, errKeyRefused
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

func (m mysqlSession) queryString(ctx context.Context, query string, args ...string) (string, error) {
	var v sql.NullString
	params := make([]any, len(args))
	for i, a := range args {
		params[i] = a
	}
	err := m.db.QueryRowContext(ctx, query, params...).Scan(&v)
	return v.String, err
}

func (m mysqlSession) close() error { return m.db.Close() }

type pgSession struct{ conn *pgconn.PgConn }

// exec runs a statement with the simple protocol: the statements here take
// no parameters (identifiers are quoted, the password is a verifier).
func (p pgSession) exec(ctx context.Context, s Statement) error {
	if len(s.Args) > 0 {
		return errors.New("a PostgreSQL statement with parameters: use exists")
	}
	// Results are read and dropped, never kept.
	mrr := p.conn.Exec(ctx, s.SQL)
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
}

// exists and queryString read the first row only: a server that answers
// with endless rows is not held in memory (the rest are read and dropped
// until the context ends).
func (p pgSession) exists(ctx context.Context, query, arg string) (bool, error) {
	rr := p.conn.ExecParams(ctx, query, [][]byte{[]byte(arg)}, nil, nil, nil)
	found := rr.NextRow()
	_, err := rr.Close()
	return found, err
}

func (p pgSession) queryString(ctx context.Context, query string, args ...string) (string, error) {
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	rr := p.conn.ExecParams(ctx, query, params, nil, nil, nil)
	var v string
	if rr.NextRow() && len(rr.Values()) > 0 {
		v = string(rr.Values()[0])
	}
	_, err := rr.Close()
	return v, err
}

// close ends the session without waiting on a server that stopped
// answering: pgconn's Close sends Terminate under the context given.
func (p pgSession) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return p.conn.Close(ctx)
}
