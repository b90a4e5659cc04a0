// Command api serves a function's HTTP API locally: the stand-in for sam
// local start-api. Real HTTP requests become API Gateway payload format 2.0
// events for the built bootstrap, kept warm between requests, against a
// local Secrets Manager, so curl works against it.
//
//	go run ./local/cmd/api -addr 127.0.0.1:3000
//	curl -X POST localhost:3000/secrets -H 'Content-Type: application/json' -d '{"name":"app/x","engine":"mysql","host":"h"}'
//
// IAM authorization is not checked: requests come from -caller, or from the
// principal in the X-Local-Caller header; a bearer JWT's claims are used
// unverified.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dbcreds/provisioner/local/emulate/apigateway"
	"github.com/dbcreds/provisioner/local/emulate/invoke"
	"github.com/dbcreds/provisioner/local/emulate/samtemplate"
	"github.com/dbcreds/provisioner/local/foreground"
	"github.com/dbcreds/provisioner/local/testenv/motoserver"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

func run() error {
	templatePath := flag.String("template", "template.yaml", "the SAM template")
	function := flag.String("function", "HttpApiFunction", "the function behind the API")
	bootstrap := flag.String("bootstrap", "", "the built bootstrap (default bin/<function>/bootstrap)")
	addr := flag.String("addr", "127.0.0.1:3000", "where to listen")
	overrides := flag.String("parameter-overrides", "", `template parameters, as sam takes them: Key=Value Key2="v 2"`)
	caller := flag.String("caller", "arn:aws:iam::"+invoke.AccountID+":user/local-developer", "the IAM principal of requests that name none (empty: none)")
	region := flag.String("region", "us-east-1", "the Region the function runs in")
	document := flag.String("openapi", "", "an OpenAPI document to serve at GET /openapi.json")
	state := flag.String("moto-state", "bin/moto-endpoint", "where make moto records the local Secrets Manager it keeps")
	flag.Parse()
	if *bootstrap == "" {
		*bootstrap = "bin/" + *function + "/bootstrap"
	}
	// Ctrl-C in a terminal reaches this command alone, not make, so that
	// stopping the server is a clean exit 0 of make api too.
	restore, hungUp := foreground.Take()
	defer restore()
	// Ctrl-C, kill and a closed terminal all stop the server, the function
	// and moto (which runs in its own process group, out of the terminal's
	// reach), and exit 0: stopping is how this command ends. Caught from
	// here on, so that nothing started below can be left behind.
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stopSignals()
	params, err := samtemplate.ParseOverrides(*overrides)
	if err != nil {
		return err
	}
	tpl, err := samtemplate.Load(*templatePath)
	if err != nil {
		return err
	}

	env, origin, stopMoto, err := motoserver.ForLocalRun(*state)
	if err != nil {
		return err
	}
	defer stopMoto()
	endpoint := env["AWS_ENDPOINT_URL_SECRETS_MANAGER"]
	switch origin {
	case motoserver.StartedForRun:
		fmt.Fprintf(os.Stderr, "== started moto_server at %s (stopped on exit; run make moto in another terminal to keep what the API makes)\n", endpoint)
	case motoserver.FromMakeMoto:
		fmt.Fprintf(os.Stderr, "== using the local Secrets Manager make moto keeps at %s\n", endpoint)
	}
	fmt.Fprintf(os.Stderr, "== read a secret back: %s\n", motoserver.ReadBack(endpoint, *region, "<name>"))
	if ctx.Err() != nil {
		return nil
	}
	fn, err := invoke.Start(invoke.Options{Template: *templatePath, Function: *function, Bootstrap: *bootstrap,
		ParameterOverrides: params, Region: *region, Env: env, Logs: os.Stderr})
	if err != nil {
		return err
	}
	defer fn.Close()
	gateway := apigateway.New(fn, tpl.RouteKeys())
	gateway.DefaultCaller = *caller
	if *document != "" {
		if gateway.Document, err = os.ReadFile(*document); err != nil {
			return err
		}
	}

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: gateway, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		select {
		case <-ctx.Done():
		case <-hungUp:
		}
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	fmt.Fprintf(os.Stderr, "== %s serving %v on http://%s (Ctrl-C stops)\n", *function, tpl.RouteKeys(), l.Addr())
	if gateway.Document != nil {
		fmt.Fprintf(os.Stderr, "== its OpenAPI document: http://%s/openapi.json\n", l.Addr())
	}
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	slog.Info("stopped")
	return nil
}
