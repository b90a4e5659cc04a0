package dbuser

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/local/testenv/fakedb"
	"github.com/dbcreds/provisioner/shared/dbsession"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// What a hostile request, or a hostile server, can and cannot make this
// package do.

func TestCheckNewUser(t *testing.T) {
	for _, tt := range []struct {
		family Family
		name   string
		ok     bool
	}{
		{Postgres, "orders_app", true},
		{MySQL, "orders_app", true},
		{Postgres, "admin_clone", false}, // another user's clone
		{MySQL, "victim_CLONE", false},
		{Postgres, "_clone", true}, // no user's clone: nothing before the suffix
		{Postgres, "pg_monitor", false},
		{Postgres, "PG_x", false},
		{Postgres, "rds_superuser", false},
		{Postgres, "rdsadmin", false},
		{Postgres, "public", false},
		{Postgres, "postgres", false},
		{MySQL, "root", false},
		{MySQL, "rdsadmin", false},
		{MySQL, "mysqlx", false},
		{MySQL, "mariadb_sys", false},
		{MySQL, "pg_fine_here", true},
		{MySQL, "Event_Scheduler", false}, // the scheduler thread's name in the session list
		{Postgres, strings.Repeat("a", 57), true},
		{Postgres, strings.Repeat("a", 58), false}, // its clone would not fit
		{MySQL, "a;b", false},
	} {
		err := CheckNewUser(tt.family, tt.name)
		if (err == nil) != tt.ok || err != nil && (errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != "username") {
			t.Errorf("%v %q: %v", tt.family, tt.name, err)
		}
	}
	if !Reserved("rdsk3j2h1g") || Reserved("orders") {
		t.Fatal("Reserved")
	}
}

// TestTakenAtAnyHost: a MySQL or MariaDB name that exists at any host is
// taken (no new 'root'@'%' beside 'root'@'localhost'), and so is a name
// whose clone exists.
func TestTakenAtAnyHost(t *testing.T) {
	ctx := context.Background()
	a := master(t, MySQL)
	if err := as(t, MySQL, dbserver.MasterUser, dbserver.MasterPassword, "CREATE USER 'taken'@'localhost' IDENTIFIED BY 'Their-Pa55word'"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"root", "taken"} {
		if got, err := a.Taken(ctx, name); err != nil || got != name {
			t.Fatalf("%s: taken %q, %v", name, got, err)
		}
		err := a.Create(ctx, User{Name: "x" + name, Database: dbserver.Database, Privileges: ReadWrite}, NewPassword(MySQL, "Mine-Pa55word"))
		if err != nil {
			t.Fatal(err)
		}
	}
	for name, f := range families {
		t.Run(name, func(t *testing.T) {
			a := master(t, f)
			clone := "Create ROLE squat_clone LOGIN PASSWORD 'Their-Pa55word'"
			if f == MySQL {
				clone = "CREATE USER 'squat_clone'@'%' IDENTIFIED BY 'Their-Pa55word'"
			}
			if err := as(t, f, dbserver.MasterUser, dbserver.MasterPassword, clone); err != nil {
				t.Fatal(err)
			}
			if got, err := a.Taken(ctx, "squat"); err != nil || got != "squat_clone" {
				t.Fatalf("taken %q, %v", got, err)
			}
			if got, err := a.Taken(ctx, "free_"+name); err != nil || got != "" {
				t.Fatalf("taken %q, %v", got, err)
			}
		})
	}
}

// TestCheckTargets: a schema or database that is not there is invalid,
// before anything is made.
func TestCheckTargets(t *testing.T) {
	ctx := context.Background()
	pg := master(t, Postgres)
	if err := pg.CheckTargets(ctx, User{Name: "u", Database: dbserver.Database, Privileges: ReadWrite, Schemas: []string{"public", "missing"}}); errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != "schemas[1]" {
		t.Fatalf("a missing schema: %v", err)
	}
	if err := pg.CheckTargets(ctx, User{Name: "u", Database: dbserver.Database, Privileges: ReadWrite}); err != nil {
		t.Fatalf("public: %v", err)
	}
	// A schema an extension made (pg_cron's cron, pg_tle's pgtle), whatever
	// its name: here a trusted extension the master may install.
	if err := as(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword, "CREATE EXTENSION IF NOT EXISTS citext", "CREATE SCHEMA jobs_of_ext",
		"ALTER EXTENSION citext ADD SCHEMA jobs_of_ext"); err != nil {
		t.Fatal(err)
	}
	if err := pg.CheckTargets(ctx, User{Name: "u", Database: dbserver.Database, Privileges: ReadWrite, Schemas: []string{"public", "jobs_of_ext"}}); errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != "schemas[1]" || !strings.Contains(err.Error(), "citext") {
		t.Fatalf("an extension's schema: %v", err)
	}
	my := master(t, MySQL)
	if err := my.CheckTargets(ctx, User{Name: "u", Database: "missing", Privileges: ReadWrite}); errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != "dbname" {
		t.Fatalf("a missing database: %v", err)
	}
	if err := my.CheckTargets(ctx, User{Name: "u", Database: dbserver.Database, Privileges: ReadWrite}); err != nil {
		t.Fatal(err)
	}
	// Without the check the database's own refusal is as permanent.
	e := endpoint(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword)
	e.Database = "missing"
	if _, err := Connect(ctx, e); errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != "dbname" {
		t.Fatalf("connecting to a missing database: %v", err)
	}
	err := pg.Create(ctx, User{Name: "refused_schema", Database: dbserver.Database, Privileges: ReadWrite, Schemas: []string{"missing"}}, NewPassword(Postgres, "Pa55word-x"))
	if errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != "schemas" {
		t.Fatalf("a grant on a missing schema: %v", err)
	}
	if exists, _ := pg.Exists(ctx, "refused_schema"); exists {
		t.Fatal("the refused user was made")
	}
}

// TestNoPasswordToAnUnverifiedServer: on a connection without verified
// TLS, a server that asks for the password in clear text (PostgreSQL) or
// hands out its own RSA key to encrypt it with (MySQL's
// caching_sha2_password) gets nothing, for the master and for the new
// user's log-in check alike.
func TestNoPasswordToAnUnverifiedServer(t *testing.T) {
	const password = "Master-Pa55word-Sent"
	pg, err := fakedb.StartCleartextPostgres()
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	my, err := fakedb.StartRSAKeyMySQL()
	if err != nil {
		t.Fatal(err)
	}
	defer my.Close()
	huge, err := fakedb.StartHugeGreetingMySQL()
	if err != nil {
		t.Fatal(err)
	}
	defer huge.Close()
	for _, tt := range []struct {
		name      string
		family    Family
		port      int
		passwords func() []string
		field     string // ssl where TLS would help
	}{
		{"postgres asking for cleartext", Postgres, pg.Port(), pg.Passwords, ""},
		{"mysql handing out its key", MySQL, my.Port(), my.Passwords, "ssl"},
		// Its second chunk starts like an OK packet.
		{"mysql with a greeting split into chunks", MySQL, huge.Port(), huge.Passwords, "ssl"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := dbsession.Endpoint{Family: tt.family, Host: "127.0.0.1", Port: tt.port, Database: "app", Username: "master", Password: password}
			_, err := Connect(context.Background(), e)
			if errcode.Of(err) != errcode.Forbidden || errcode.FieldOf(err) != tt.field || strings.Contains(errcode.Public(err).Error(), password) {
				t.Fatalf("got %v", err)
			}
			if ok, err := canLogIn(context.Background(), e); ok || errcode.Of(err) != errcode.Forbidden || errcode.FieldOf(err) != tt.field {
				t.Fatalf("canLogIn: %v, %v", ok, err)
			}
			if got := tt.passwords(); len(got) != 0 {
				t.Fatalf("the server received %q", got)
			}
		})
	}
	if my.KeyRequests() == 0 {
		t.Fatal("the MySQL fake was never asked for its key: the test proves nothing")
	}
}

// serve accepts connections on a loopback port until the test ends.
func serve(t *testing.T, handle func(net.Conn)) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// TestNoCleartextPasswordUnderTLS: a server with a valid certificate for
// the master's host (another PostgreSQL there, say) that asks for the
// password in clear text gets nothing either.
func TestNoCleartextPasswordUnderTLS(t *testing.T) {
	const password = "Master-Pa55word-Sent"
	ca, err := dbserver.NewTestCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(ca.CertFile, ca.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	received := make(chan string, 1)
	handshakes, finished := make(chan struct{}, 1), make(chan struct{})
	port := serve(t, func(c net.Conn) {
		defer close(finished)
		var request [8]byte
		if _, err := io.ReadFull(c, request[:]); err != nil {
			return
		}
		c.Write([]byte{'S'})
		conn := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		if conn.Handshake() != nil {
			return
		}
		handshakes <- struct{}{}
		b := pgproto3.NewBackend(conn, conn)
		if _, err := b.ReceiveStartupMessage(); err != nil {
			return
		}
		b.Send(&pgproto3.AuthenticationCleartextPassword{})
		b.Flush()
		b.SetAuthType(pgproto3.AuthTypeCleartextPassword)
		if m, err := b.Receive(); err == nil {
			if p, ok := m.(*pgproto3.PasswordMessage); ok {
				received <- p.Password
			}
		}
	})
	e := dbsession.Endpoint{Family: Postgres, Host: "127.0.0.1", Port: port, Database: "app", Username: "master", Password: password}
	if e.TLS, err = dbsession.TLSConfig(ca.CAFile, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	_, err = Connect(context.Background(), e)
	if errcode.Of(err) != errcode.Forbidden || !strings.Contains(err.Error(), "clear text") || strings.Contains(fmt.Sprint(errcode.Public(err).Err), password) {
		t.Fatalf("got %v", err)
	}
	<-finished
	select {
	case <-handshakes:
	default:
		t.Fatal("no TLS handshake: the test proves nothing")
	}
	select {
	case p := <-received:
		t.Fatalf("the server received %q", p)
	default:
	}
}

// TestDeadline: a server that accepts and never speaks, and one that stops
// answering mid-statement, end at the context's deadline as unavailable,
// and a user half-made by a stalled statement is not left behind.
func TestDeadline(t *testing.T) {
	silent, err := fakedb.StartSilent()
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for name, f := range families {
		t.Run(name+" silent", func(t *testing.T) {
			e := dbsession.Endpoint{Family: f, Host: "127.0.0.1", Port: silent.Port(), Database: "app", Username: "master", Password: "x"}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			if _, err := within(t, func() error { _, err := Connect(ctx, e); return err }); errcode.Of(err) != errcode.Unavailable {
				t.Fatalf("got %v", err)
			}
		})
		t.Run(name+" stalled mid-statement", func(t *testing.T) {
			needServers(t)
			s, err := dbserver.Shared(engineOf[f])
			if err != nil {
				t.Fatal(err)
			}
			proxy, err := fakedb.StartStallingProxy(s.Addr(), []byte("GRANT"))
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			e := endpoint(t, f, dbserver.MasterUser, dbserver.MasterPassword)
			e.Port = proxy.Port()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			a, err := Connect(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			u := User{Name: "stalled_" + name, Database: dbserver.Database, Privileges: ReadWrite}
			if _, err := within(t, func() error { return a.Create(ctx, u, NewPassword(f, "Stalled-Pa55word")) }); errcode.Of(err) != errcode.Unavailable {
				t.Fatalf("got %v", err)
			}
			if proxy.Stalled() == 0 {
				t.Fatal("the proxy never stalled: the test proves nothing")
			}
			if exists, err := master(t, f).Exists(context.Background(), u.Name); err != nil || exists {
				t.Fatalf("the half-made user is left (%v)", err)
			}
		})
	}
}

// within runs f, failing the test if it has not returned long after any
// deadline it was given: a hang, not a timing.
func within(t *testing.T, f func() error) (struct{}, error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return struct{}{}, err
	case <-time.After(30 * time.Second):
		t.Fatal("still waiting after 30 s: the deadline was not kept")
	}
	return struct{}{}, nil
}

// TestDropHandsNothingToTheMaster: a user that planted a SECURITY DEFINER
// function (where a schema lets it create) is not dropped, and the
// function stays the user's: handed to the master, it would run as the
// master for anyone who may call it.
func TestDropHandsNothingToTheMaster(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	u := User{Name: "planter", Database: dbserver.Database, Privileges: ReadWrite}
	if err := a.Create(ctx, u, NewPassword(Postgres, "Planter-Pa55word")); err != nil {
		t.Fatal(err)
	}
	if err := as(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword, "CREATE SCHEMA shared_ddl", "GRANT USAGE, CREATE ON SCHEMA shared_ddl TO PUBLIC"); err != nil {
		t.Fatal(err)
	}
	if err := as(t, Postgres, u.Name, "Planter-Pa55word",
		"CREATE FUNCTION shared_ddl.takeover() RETURNS void LANGUAGE sql SECURITY DEFINER AS 'ALTER ROLE master PASSWORD ''Taken-Pa55word'''"); err != nil {
		t.Fatal(err)
	}
	if err := a.Drop(ctx, u.Name); errcode.Of(err) != errcode.Conflict {
		t.Fatalf("got %v", err)
	}
	// The membership the lock-out took goes with the refusal: kept, the
	// master's later grants for another team's user would reach the
	// planter's objects.
	if member, err := a.s.Exists(ctx, "SELECT 1 WHERE pg_has_role(current_user, $1, 'USAGE')", u.Name); err != nil || member {
		t.Fatalf("after a refused drop the master is still a member of %s (%v)", u.Name, err)
	}
	owner, err := a.s.QueryString(ctx, "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'takeover'")
	if err != nil || owner != u.Name {
		t.Fatalf("the function is now %q's (%v)", owner, err)
	}
	if err := as(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword, "SELECT shared_ddl.takeover()"); err == nil {
		t.Fatal("the planted function could change the master's password")
	}
}

// TestOversizedAnswersRefused: a server that answers with a message larger
// than any answer here is refused at its header, not read into memory.
func TestOversizedAnswersRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Read(make([]byte, 1024)) // the startup message
				// A NoticeResponse claiming 1 GiB.
				c.Write([]byte{'N', 0x3f, 0xff, 0xff, 0xf0})
				time.Sleep(2 * time.Second)
			}()
		}
	}()
	e := dbsession.Endpoint{Family: Postgres, Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Database: "app", Username: "master", Password: "x"}
	_, err = within(t, func() error { _, err := Connect(context.Background(), e); return err })
	var tooLong *pgproto3.ExceededMaxBodyLenErr
	if !errors.As(err, &tooLong) {
		t.Fatalf("got %v", err)
	}
}

// TestDropFailureSurfaces: a user another database still refers to (a
// default privilege granted to it there), in a database the master cannot
// reach to revoke it, cannot be dropped: the failure surfaces, never a
// success that would forget the user and leave its login behind.
func TestDropFailureSurfaces(t *testing.T) {
	ctx := context.Background()
	a := master(t, Postgres)
	u := User{Name: "referenced", Database: dbserver.Database, Privileges: ReadOnly}
	if err := a.Create(ctx, u, NewPassword(Postgres, "Referenced-Pa55word")); err != nil {
		t.Fatal(err)
	}
	s, err := dbserver.Shared("postgres")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AsMaster("CREATE DATABASE closed_to_master"); err != nil {
		t.Fatal(err)
	}
	closed := dbserver.Open("postgres", s.Host, s.Port, "closed_to_master", dbserver.MasterUser, dbserver.MasterPassword)
	defer closed.Close()
	if err := dbserver.Run(closed, "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO "+u.Name); err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if err := s.AsMaster("ALTER DATABASE closed_to_master ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	if err := a.Drop(ctx, u.Name); err == nil {
		t.Fatal("the drop succeeded")
	}
	if exists, _ := a.Exists(ctx, u.Name); !exists {
		t.Fatal("the user is gone, yet Drop failed")
	}
	if err := s.AsMaster("ALTER DATABASE closed_to_master ALLOW_CONNECTIONS true"); err != nil {
		t.Fatal(err)
	}
	if err := a.Drop(ctx, u.Name); err != nil {
		t.Fatal(err)
	}
}
