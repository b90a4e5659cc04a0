// These tests prove Silent forces a client onto its own deadline: both
// drivers must give up on a server that never speaks.

package fakedb_test

import (
	"context"
	"testing"
	"time"

	"github.com/dbcreds/provisioner/local/testenv/fakedb"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestSilentClientsGiveUp(t *testing.T) {
	srv, err := fakedb.StartSilent()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	for _, tc := range []struct {
		name    string
		connect func(ctx context.Context) error
	}{
		{"pgconn", func(ctx context.Context) error {
			conn, err := pgconn.ConnectConfig(ctx, plainPgConfig(t, srv.Port()))
			if err == nil {
				conn.Close(context.Background())
			}
			return err
		}},
		{"mysql", func(ctx context.Context) error {
			connector, err := mysqlConnector(srv.Addr())
			if err != nil {
				return err
			}
			return pingWith(ctx, connector)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				done <- tc.connect(ctx)
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("connected to a silent server")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still waiting 10s after a 300ms deadline")
			}
		})
	}
	if srv.Connections() < 2 {
		t.Errorf("Connections() = %d, want at least 2", srv.Connections())
	}
}
