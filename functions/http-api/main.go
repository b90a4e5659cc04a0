// Command http-api is the Lambda function behind the self-service HTTP API
// (API Gateway HTTP API, payload format 2.0).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/dbcreds/provisioner/shared/idempotency"
	"github.com/dbcreds/provisioner/shared/provision"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	service, err := provision.APIServiceFromEnv(context.Background())
	if err != nil {
		slog.Error("cannot start", "error", err)
		os.Exit(1)
	}
	records, err := recordsFromEnv(os.Getenv)
	if err != nil {
		slog.Error("cannot start", "error", err)
		os.Exit(1)
	}
	service.UseIdempotencyRecords(records)
	lambda.Start((&handler{secrets: service, localCaller: localCallerFromEnv(os.Getenv), metrics: os.Stdout}).handle)
}

// recordsFromEnv are the Idempotency-Key records in the DynamoDB table
// IDEMPOTENCY_TABLE names.
func recordsFromEnv(getenv func(string) string) (idempotencyRecords, error) {
	table := strings.TrimSpace(getenv(provision.EnvIdempotencyTable))
	if table == "" {
		return idempotencyRecords{}, fmt.Errorf("%s is not set: the HTTP API keeps Idempotency-Keys in that DynamoDB table", provision.EnvIdempotencyTable)
	}
	client, err := idempotency.ClientFromEnvironment(getenv)
	if err != nil {
		return idempotencyRecords{}, err
	}
	return idempotencyRecords{idempotency.New(client, table)}, nil
}

// idempotencyRecords gives the core idempotency.Records in its own types.
type idempotencyRecords struct{ *idempotency.Records }

func (r idempotencyRecords) Claim(ctx context.Context, key, fingerprint string) (provision.IdempotencyClaim, error) {
	c, err := r.Records.Claim(ctx, key, fingerprint)
	return provision.IdempotencyClaim(c), err
}
