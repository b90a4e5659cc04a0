// Command moto keeps a local Secrets Manager (moto_server, behind the same
// front the tests use) running until Ctrl-C, and records its endpoint in a
// state file, where make invoke and make api find it: what their runs make
// stays to look at with the aws command they print.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/dbcreds/provisioner/local/foreground"
	"github.com/dbcreds/provisioner/local/testenv/motoserver"
)

func main() {
	state := flag.String("state", "bin/moto-endpoint", "where to record the endpoint")
	flag.Parse()
	if endpoint, ok := motoserver.Kept(*state); ok {
		fmt.Fprintf(os.Stderr, "moto: one already runs at %s (%s)\n", endpoint, *state)
		os.Exit(1)
	}
	// Ctrl-C reaches this command alone, so that stopping it is make moto's
	// clean exit 0.
	restore, hungUp := foreground.Take()
	defer restore()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	s, err := motoserver.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "moto:", err)
		os.Exit(1)
	}
	defer s.Stop()
	if err := os.MkdirAll(filepath.Dir(*state), 0o755); err == nil {
		err = os.WriteFile(*state, []byte(s.Endpoint+"\n"), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "moto:", err)
		return
	}
	defer os.Remove(*state)
	fmt.Fprintf(os.Stderr, "== local Secrets Manager (moto) at %s: make invoke and make api use it until Ctrl-C\n", s.Endpoint)
	fmt.Fprintf(os.Stderr, "== list what they made: AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws --endpoint-url %s --region us-east-1 secretsmanager list-secrets\n", s.Endpoint)
	select {
	case <-ctx.Done():
	case <-hungUp:
	}
	fmt.Fprintln(os.Stderr, "== stopped; what it held is gone")
}
