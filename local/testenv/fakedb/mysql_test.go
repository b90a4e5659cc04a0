// These tests prove RSAKeyMySQL is a real threat: go-sql-driver/mysql with
// its default config, or tls=preferred, fetches the fake's key and encrypts
// the password for it; requiring TLS or pinning the server key stops that.

package fakedb_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"database/sql"
	"database/sql/driver"
	"slices"
	"testing"
	"time"

	"github.com/dbcreds/provisioner/local/testenv/fakedb"
	"github.com/go-sql-driver/mysql"
)

func TestRSAKeyMySQLGetsPassword(t *testing.T) {
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const pinned = "fakedb-test-pinned"
	mysql.RegisterServerPubKey(pinned, &other.PublicKey)
	defer mysql.DeregisterServerPubKey(pinned)

	for _, tc := range []struct {
		name     string
		tweak    func(*mysql.Config)
		wantLeak bool // the fake recovers the password, having served its key
	}{
		{"default", func(*mysql.Config) {}, true},
		// No CLIENT_SSL in the handshake: "preferred" quietly drops TLS.
		{"tls=preferred", func(c *mysql.Config) { c.TLSConfig = "preferred" }, true},
		{"tls=true", func(c *mysql.Config) { c.TLSConfig = "true" }, false},
		// A pinned key that is not the fake's: the driver never asks for
		// one and the fake cannot decrypt what it gets.
		{"pinned server key", func(c *mysql.Config) { c.ServerPubKey = pinned }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := fakedb.StartRSAKeyMySQL()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()

			cfg := mysqlConfig(srv.Addr())
			tc.tweak(cfg)
			err = pingMySQL(cfg, 5*time.Second)
			if tc.wantLeak && err != nil {
				t.Errorf("ping: %v", err)
			}

			srv.Close() // wait for the handlers, so the records are final
			got := srv.Passwords()
			if tc.wantLeak {
				if !slices.Contains(got, secret) {
					t.Errorf("Passwords() = %q, want it to contain %q", got, secret)
				}
				if n := srv.KeyRequests(); n < 1 {
					t.Errorf("KeyRequests() = %d, want at least 1", n)
				}
				if u := srv.Usernames(); !slices.Contains(u, "app") {
					t.Errorf("Usernames() = %q, want it to contain %q", u, "app")
				}
			} else {
				if len(got) != 0 {
					t.Errorf("Passwords() = %q, want none", got)
				}
				if n := srv.KeyRequests(); n != 0 {
					t.Errorf("KeyRequests() = %d, want 0", n)
				}
			}
			if srv.Connections() < 1 {
				t.Errorf("Connections() = %d", srv.Connections())
			}
		})
	}
}

func mysqlConfig(addr string) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.User = "app"
	cfg.Passwd = secret
	cfg.Net = "tcp"
	cfg.Addr = addr
	cfg.TLS = nil
	return cfg
}

func mysqlConnector(addr string) (driver.Connector, error) {
	return mysql.NewConnector(mysqlConfig(addr))
}

func pingMySQL(cfg *mysql.Config, timeout time.Duration) error {
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return pingWith(ctx, connector)
}

func pingWith(ctx context.Context, connector driver.Connector) error {
	db := sql.OpenDB(connector)
	defer db.Close()
	return db.PingContext(ctx)
}

// TestHugeGreetingGetsPassword: the 16 MiB greeting takes the password from
// the driver's default configuration just as the small one does.
func TestHugeGreetingGetsPassword(t *testing.T) {
	srv, err := fakedb.StartHugeGreetingMySQL()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	pingMySQL(mysqlConfig(srv.Addr()), 10*time.Second)
	srv.Close()
	if got := srv.Passwords(); !slices.Contains(got, secret) {
		t.Fatalf("recovered %q", got)
	}
}
