package dbuser

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/shared/dbsession"
)

// TestStatementsEndAtTheDeadline: a PostgreSQL session opened with a
// deadline ends its statements on the server at that deadline (a client
// that gives up only closes its socket, and the session's slot is given
// back), and one opened without keeps the server's default.
func TestStatementsEndAtTheDeadline(t *testing.T) {
	e := endpoint(t, Postgres, dbserver.MasterUser, dbserver.MasterPassword)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := dbsession.Open(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.QueryString(ctx, "SELECT current_setting('statement_timeout')")
	if err != nil {
		t.Fatal(err)
	}
	d, err := time.ParseDuration(strings.TrimSpace(got))
	if err != nil || d <= 0 || d > 3*time.Second {
		t.Fatalf("statement_timeout %q with 3 s left", got)
	}
	// Run without the deadline on the client side: only the server's
	// statement_timeout can end it.
	if err := s.Exec(context.Background(), "SELECT pg_sleep(10)"); err == nil || !strings.Contains(err.Error(), "57014") && !strings.Contains(err.Error(), "statement timeout") {
		t.Fatalf("a statement past the deadline: %v", err)
	}

	plain, err := dbsession.Open(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if got, err := plain.QueryString(context.Background(), "SELECT current_setting('statement_timeout')"); err != nil || got != "0" {
		t.Fatalf("without a deadline: %q, %v", got, err)
	}
}
