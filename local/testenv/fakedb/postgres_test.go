// These tests prove CleartextPostgres is a real threat: pgconn, as commonly
// configured, hands it the password; and that require_auth is a guard.

package fakedb_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dbcreds/provisioner/local/testenv/fakedb"
	"github.com/jackc/pgx/v5/pgconn"
)

const secret = "Secret-Pa55"

func TestCleartextPostgresGetsPassword(t *testing.T) {
	for _, tc := range []struct {
		name     string
		config   func(t *testing.T, port int) *pgconn.Config
		wantConn bool // connect succeeds and the password leaks
		conns    int  // TCP connections the fake sees
	}{
		{
			name: "no TLS, no require_auth",
			config: func(t *testing.T, port int) *pgconn.Config {
				return plainPgConfig(t, port)
			},
			wantConn: true,
			conns:    1,
		},
		{
			// The library default: TLS is tried and refused on one
			// connection, and the plain fallback on a second one still
			// answers the cleartext request.
			name: "sslmode=prefer",
			config: func(t *testing.T, port int) *pgconn.Config {
				cfg, err := pgconn.ParseConfig(fmt.Sprintf(
					"host=127.0.0.1 port=%d user=app dbname=app sslmode=prefer password=%s", port, secret))
				if err != nil {
					t.Fatal(err)
				}
				return cfg
			},
			wantConn: true,
			conns:    2,
		},
		{
			name: "require_auth=scram-sha-256,md5",
			config: func(t *testing.T, port int) *pgconn.Config {
				cfg := plainPgConfig(t, port)
				cfg.RequireAuth = "scram-sha-256,md5"
				return cfg
			},
			conns: 1,
		},
		{
			name: "sslmode=require",
			config: func(t *testing.T, port int) *pgconn.Config {
				cfg, err := pgconn.ParseConfig(fmt.Sprintf(
					"host=127.0.0.1 port=%d user=app dbname=app sslmode=require password=%s", port, secret))
				if err != nil {
					t.Fatal(err)
				}
				return cfg
			},
			conns: 1, // TLS refused, no fallback
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := fakedb.StartCleartextPostgres()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, err := pgconn.ConnectConfig(ctx, tc.config(t, srv.Port()))
			if tc.wantConn {
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				if err := conn.Ping(ctx); err != nil {
					t.Errorf("ping: %v", err)
				}
				conn.Close(ctx)
			} else if err == nil {
				conn.Close(ctx)
				t.Fatal("connect succeeded, want an error")
			}

			srv.Close() // wait for the handlers, so Passwords is final
			got := srv.Passwords()
			if tc.wantConn && !slices.Contains(got, secret) {
				t.Errorf("Passwords() = %q, want it to contain %q", got, secret)
			}
			if !tc.wantConn && len(got) != 0 {
				t.Errorf("Passwords() = %q, want none", got)
			}
			if n := srv.Connections(); n != tc.conns {
				t.Errorf("Connections() = %d, want %d", n, tc.conns)
			}
		})
	}
}

// plainPgConfig is pgconn's default config aimed at the fake, with TLS and
// fallbacks removed so the test does not depend on PG* variables.
func plainPgConfig(t *testing.T, port int) *pgconn.Config {
	t.Helper()
	cfg, err := pgconn.ParseConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host = "127.0.0.1"
	cfg.Port = uint16(port)
	cfg.User = "app"
	cfg.Password = secret
	cfg.Database = "app"
	cfg.TLSConfig = nil
	cfg.Fallbacks = nil
	return cfg
}
