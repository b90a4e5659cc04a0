package dbserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
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

// TestStartOnFreePortRetriesWhenTheServerExits: a server that exits before
// it answers (as one does when another took its port first) is started
// again on another port; one that never answers is an error, and its
// directory is removed. No server is needed: the commands are stand-ins.
func TestStartOnFreePortRetriesWhenTheServerExits(t *testing.T) {
	for _, tc := range []struct {
		name         string
		exitsFor     int // attempts whose command exits at once
		wantErr      error
		wantAttempts int
	}{
		{"answers first time", 0, nil, 1},
		{"port taken once", 1, nil, 2},
		{"port taken every time", 3, errExited, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{Engine: "stand-in", dir: t.TempDir()}
			attempts := 0
			err := s.startOnFreePort(func(int) *exec.Cmd {
				attempts++
				cmd := exec.Command("sleep", "30")
				if attempts <= tc.exitsFor {
					cmd = exec.Command("true")
				}
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // as the servers', for Stop
				return cmd
			}, func() error {
				if attempts <= tc.exitsFor {
					return errors.New("not yet")
				}
				return nil
			})
			if !errors.Is(err, tc.wantErr) || attempts != tc.wantAttempts {
				t.Fatalf("err %v after %d attempts; want %v after %d", err, attempts, tc.wantErr, tc.wantAttempts)
			}
			if err == nil {
				s.Stop()
			} else if _, statErr := os.Stat(s.dir); !os.IsNotExist(statErr) {
				t.Fatalf("a failed start left %s", s.dir)
			}
		})
	}
}
