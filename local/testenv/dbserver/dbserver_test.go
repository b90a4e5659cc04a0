package dbserver

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// TestServersStart: each server starts and takes its master user, who is
// no superuser.
func TestServersStart(t *testing.T) {
	testenv.Integration(t, "PostgreSQL and MariaDB")
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		s, err := StartPostgres()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Stop()
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", MasterUser, MasterPassword, s.Addr(), Database))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var super bool
		if err := conn.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || super {
			t.Fatalf("superuser %v, %v", super, err)
		}
	})
	t.Run("mariadb", func(t *testing.T) {
		t.Parallel()
		s, err := StartMariaDB()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Stop()
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = MasterUser, MasterPassword, "tcp", s.Addr(), Database
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var version string
		if err := db.QueryRow("SELECT VERSION()").Scan(&version); err != nil {
			t.Fatal(err)
		}
		t.Log(version)
	})
}
