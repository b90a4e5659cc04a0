// Command http-api is the Lambda function behind the self-service HTTP API
// (API Gateway HTTP API, payload format 2.0).
//
// It wires the core once, in main; handler.go decodes, calls selfservice
// and maps errors to HTTP statuses. Nothing imports a function.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/dbcreds/provisioner/shared/deployment"
	"github.com/dbcreds/provisioner/shared/idempotency"
	"github.com/dbcreds/provisioner/shared/selfservice"
)

// main wires the function once, at init: a part it lacks stops it here,
// never at a request.
func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	parts, err := deployment.FromEnvironment(os.Getenv)
	exitOn(err)
	service, err := parts.Service()
	exitOn(err)
	records, err := recordsFromEnv(os.Getenv)
	exitOn(err)
	api, err := selfservice.New(service, records)
	exitOn(err)
	lambda.Start((&handler{secrets: api, expirer: api, localCaller: localCallerFromEnv(os.Getenv), metrics: os.Stdout}).invoke)
}

func exitOn(err error) {
	if err != nil {
		slog.Error("cannot start", "error", err)
		os.Exit(1)
	}
}

// recordsFromEnv are the Idempotency-Key records in the DynamoDB table
// IDEMPOTENCY_TABLE names.
func recordsFromEnv(getenv func(string) string) (*idempotency.Records, error) {
	table := strings.TrimSpace(getenv(deployment.EnvIdempotencyTable))
	if table == "" {
		return nil, fmt.Errorf("%s is not set: the HTTP API keeps Idempotency-Keys in that DynamoDB table", deployment.EnvIdempotencyTable)
	}
	client, err := idempotency.ClientFromEnvironment(getenv)
	if err != nil {
		return nil, err
	}
	return idempotency.New(client, table), nil
}
