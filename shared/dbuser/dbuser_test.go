package dbuser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/shared/dbsession"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// Real servers on free loopback ports, started the first time a test needs
// them (not in TestMain: fuzz workers run it too, and would each start
// servers that the statement fuzzer never uses).
func TestMain(m *testing.M) {
	code := m.Run()
	dbserver.StopShared()
	os.Exit(code)
}

// needServers skips a test that needs the real servers under go test
// -short, which runs the pure unit tests alone.
func needServers(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL and MariaDB; not in -short")
	}
}

var families = map[string]Family{"postgres": Postgres, "mariadb": MySQL}

var engineOf = map[Family]string{Postgres: "postgres", MySQL: "mariadb"}

func endpoint(t testing.TB, f Family, user, password string) dbsession.Endpoint {
	t.Helper()
	needServers(t)
	s, err := dbserver.Shared(engineOf[f])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1) // the servers are what every test here needs
	}
	return dbsession.Endpoint{Family: f, Host: s.Host, Port: s.Port, Database: dbserver.Database, Username: user, Password: password}
}

func master(t *testing.T, f Family) *Admin {
	t.Helper()
	a, err := Connect(context.Background(), endpoint(t, f, dbserver.MasterUser, dbserver.MasterPassword))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// as runs statements as a user and returns the first error, with
// PostgreSQL's default search path, as an application has it.
func as(t *testing.T, f Family, user, password string, statements ...string) error {
	t.Helper()
	s, err := dbsession.Open(context.Background(), endpoint(t, f, user, password))
	if err != nil {
		return err
	}
	defer s.Close()
	if f == Postgres {
		statements = append([]string{`SET search_path = "$user", public`}, statements...)
	}
	for _, st := range statements {
		if err := s.Exec(context.Background(), st); err != nil {
			return err
		}
	}
	return nil
}

func TestPrivileges(t *testing.T) {
	for name, f := range families {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a := master(t, f)
			table := "orders_" + name
			if err := as(t, f, dbserver.MasterUser, dbserver.MasterPassword, "CREATE TABLE "+table+" (id int)"); err != nil {
				t.Fatal(err)
			}
			const password = "Rd0nly pa$$;word-with:colon"
			reader := User{Name: "reader_" + name, Database: dbserver.Database, Privileges: ReadOnly}
			if err := a.Create(ctx, reader, NewPassword(f, password)); err != nil {
				t.Fatal(err, errcode.Public(err).Err)
			}
			if err := as(t, f, reader.Name, password, "SELECT count(*) FROM "+table); err != nil {
				t.Fatalf("readonly cannot SELECT: %v", err)
			}
			if err := as(t, f, reader.Name, password, "INSERT INTO "+table+" VALUES (1)"); err == nil {
				t.Fatal("readonly can INSERT")
			}
			// The master user makes a table after the user: readwrite reaches it.
			later := "later_" + name
			if err := as(t, f, dbserver.MasterUser, dbserver.MasterPassword, "CREATE TABLE "+later+" (id int)"); err != nil {
				t.Fatal(err)
			}
			writer := reader
			writer.Privileges = ReadWrite
			if err := a.SetPrivileges(ctx, reader, writer); err != nil {
				t.Fatal(err)
			}
			if err := as(t, f, reader.Name, password, "INSERT INTO "+table+" VALUES (1)", "INSERT INTO "+later+" VALUES (2)", "SELECT count(*) FROM "+later); err != nil {
				t.Fatalf("readwrite cannot write: %v", err)
			}
			if err := as(t, f, dbserver.MasterUser, dbserver.MasterPassword, "CREATE TABLE newer_"+name+" (id int)"); err != nil {
				t.Fatal(err)
			}
			if err := as(t, f, reader.Name, password, "INSERT INTO newer_"+name+" VALUES (3)"); err != nil {
				t.Fatalf("readwrite cannot write a table made after the change: %v", err)
			}
			if err := a.SetPrivileges(ctx, writer, reader); err != nil {
				t.Fatal(err)
			}
			if err := as(t, f, reader.Name, password, "INSERT INTO "+table+" VALUES (1)"); err == nil {
				t.Fatal("back to readonly, it can still INSERT")
			}
		})
	}
}

func TestCreateConflictLoginAndDrop(t *testing.T) {
	for name, f := range families {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a := master(t, f)
			u := User{Name: "app_" + name, Database: dbserver.Database, Privileges: ReadWrite}
			if exists, err := a.Exists(ctx, u.Name); err != nil || exists {
				t.Fatalf("exists %v, %v", exists, err)
			}
			if err := a.Create(ctx, u, NewPassword(f, "first-Pa55word")); err != nil {
				t.Fatal(err)
			}
			err := a.Create(ctx, u, NewPassword(f, "second-Pa55word"))
			if errcode.Of(err) != errcode.Conflict || strings.Contains(fmt.Sprint(errcode.Public(err).Err), "second-Pa55word") {
				t.Fatalf("a second create: %v", err)
			}
			if ok, err := canLogIn(ctx, endpoint(t, f, u.Name, "first-Pa55word")); !ok || err != nil {
				t.Fatalf("the user cannot log in: %v", err)
			}
			if ok, err := canLogIn(ctx, endpoint(t, f, u.Name, "second-Pa55word")); ok || err != nil {
				t.Fatalf("the second password logs in: %v, %v", ok, err)
			}
			// The user owns something (PostgreSQL) and has a clone, as after an
			// alternating-users rotation.
			if f == Postgres {
				if err := as(t, f, dbserver.MasterUser, dbserver.MasterPassword, "GRANT CREATE ON SCHEMA public TO "+u.Name); err != nil {
					t.Fatal(err)
				}
				if err := as(t, f, u.Name, "first-Pa55word", "CREATE TABLE owned_by_app (id int)"); err != nil {
					t.Fatal(err)
				}
			}
			// The clone: PostgreSQL's made with the user, given its password by
			// the rotation function; MySQL's made by the rotation function.
			clone := u
			clone.Name += CloneSuffix
			cloneUser := "ALTER USER " + clone.Name + " WITH PASSWORD 'clone-Pa55word'"
			if f == MySQL {
				cloneUser = "CREATE USER '" + clone.Name + "'@'%' IDENTIFIED BY 'clone-Pa55word'"
			}
			if err := as(t, f, dbserver.MasterUser, dbserver.MasterPassword, cloneUser); err != nil {
				t.Fatal(err)
			}
			if f == Postgres {
				// What it owns is neither dropped nor handed to the master: a
				// conflict, until its owner's owner decides.
				if err := a.Drop(ctx, u.Name); errcode.Of(err) != errcode.Conflict || !strings.Contains(err.Error(), "owns 1 database objects") {
					t.Fatalf("dropping a user that owns a table: %v", err)
				}
				// Locked out now; whoever may decides (here the server's
				// administrator: the master is a member of the user no more).
				administrator(t, f, "DROP TABLE owned_by_app")
			}
			if err := a.Drop(ctx, u.Name); err != nil {
				t.Fatal(err, errcode.Public(err).Err)
			}
			for _, n := range []string{u.Name, clone.Name} {
				if exists, err := a.Exists(ctx, n); err != nil || exists {
					t.Fatalf("%s after drop: exists %v, %v", n, exists, err)
				}
			}
			if err := a.Drop(ctx, u.Name); err != nil {
				t.Fatalf("dropping a user already gone: %v", err)
			}
		})
	}
}

// TestGrantIsOnTheDatabaseOnly: in a MySQL GRANT, _ and % in a database
// name are wildcards; the grant on app_x must not reach appYx.
func TestGrantIsOnTheDatabaseOnly(t *testing.T) {
	ctx := context.Background()
	a := master(t, MySQL)
	if err := as(t, MySQL, dbserver.MasterUser, dbserver.MasterPassword, "CREATE DATABASE app_x", "CREATE DATABASE appYx", "CREATE TABLE appYx.t (id int)"); err != nil {
		t.Fatal(err)
	}
	u := User{Name: "narrow", Database: "app_x", Privileges: ReadWrite}
	if err := a.Create(ctx, u, NewPassword(MySQL, "narrow-Pa55word")); err != nil {
		t.Fatal(err)
	}
	if err := as(t, MySQL, u.Name, "narrow-Pa55word", "SELECT * FROM appYx.t"); err == nil {
		t.Fatal("the grant on app_x reached appYx")
	}
}

func TestUnreachable(t *testing.T) {
	e := endpoint(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword)
	e.Port = 1
	for _, f := range []Family{Postgres, MySQL} {
		e.Family = f
		_, err := Connect(context.Background(), e)
		if errcode.Of(err) != errcode.Unavailable || strings.Contains(err.Error(), dbserver.MasterPassword) {
			t.Fatalf("%v: got %v", f, err)
		}
	}
	e = endpoint(t, Postgres, dbserver.MasterUser, "wrong")
	if _, err := Connect(context.Background(), e); errcode.Of(err) != errcode.Forbidden {
		t.Fatalf("wrong master password: %v", err)
	}
}

func TestRedacted(t *testing.T) {
	err := classify(fmt.Errorf("syntax error near 'Secret-Pa55'"), "Secret-Pa55")
	var cause redacted
	if !errors.As(errcode.Public(err).Err, &cause) || strings.Contains(cause.Error(), "Secret-Pa55") {
		t.Fatalf("cause %v", errcode.Public(err).Err)
	}
}

// TestTLS: with ssl, the connection is TLS and the server's certificate is
// verified against the bundle; another authority's certificate, a server
// without TLS and a missing bundle all fail, never falling back.
func TestTLS(t *testing.T) {
	needServers(t)
	dir := t.TempDir()
	ca, err := dbserver.NewTestCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	other, err := dbserver.NewTestCA(otherDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dbsession.TLSConfig("", "127.0.0.1"); err == nil {
		t.Fatal("no bundle, and yet a TLS configuration")
	}
	for name, start := range map[string]func(dbserver.Options) (*dbserver.Server, error){"postgres": dbserver.StartPostgresWith, "mariadb": dbserver.StartMariaDBWith} {
		t.Run(name, func(t *testing.T) {
			s, err := start(dbserver.Options{TLS: &ca})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Stop()
			f := families[name]
			e := dbsession.Endpoint{Family: f, Host: s.Host, Port: s.Port, Database: dbserver.Database, Username: dbserver.MasterUser, Password: dbserver.MasterPassword}
			if e.TLS, err = dbsession.TLSConfig(ca.CAFile, s.Host); err != nil {
				t.Fatal(err)
			}
			a, err := Connect(context.Background(), e)
			if err != nil {
				t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
			}
			query := "SELECT CASE WHEN ssl THEN 'on' ELSE '' END FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
			if f == MySQL {
				query = "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'"
			}
			on, err := a.s.QueryString(context.Background(), query)
			if err != nil || on == "" {
				t.Fatalf("the connection is not TLS: %q, %v", on, err)
			}
			a.Close()
			if e.TLS, err = dbsession.TLSConfig(other.CAFile, s.Host); err != nil {
				t.Fatal(err)
			}
			if _, err := Connect(context.Background(), e); err == nil || !strings.Contains(errcode.Message(err), "could not be verified") {
				t.Fatalf("another authority's server: %v", err)
			}
			// A server without TLS: no fallback to a plain connection.
			plain := endpoint(t, f, dbserver.MasterUser, dbserver.MasterPassword)
			plain.TLS, _ = dbsession.TLSConfig(ca.CAFile, "127.0.0.1")
			if _, err := Connect(context.Background(), plain); err == nil {
				t.Fatal("ssl reached a server without TLS")
			}
		})
	}
}

// canLogIn reports whether e's user can log in with e's password, as
// the application would.
func canLogIn(ctx context.Context, e dbsession.Endpoint) (bool, error) {
	s, err := dbsession.Open(ctx, e)
	if err == nil {
		s.Close()
		return true, nil
	}
	if isAuthFailure(err) {
		return false, nil
	}
	return false, classify(err, e.Password)
}
