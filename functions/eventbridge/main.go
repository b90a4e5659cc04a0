// Command eventbridge is the Lambda function behind the "Database Secret
// Requested" EventBridge rule.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/dbcreds/provisioner/shared/provision"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	service, err := provision.ServiceFromEnv(context.Background())
	if err != nil {
		slog.Error("cannot start", "error", err)
		os.Exit(1)
	}
	trusted, err := trustFromEnv(os.Getenv)
	if err != nil {
		slog.Error("cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start((&handler{secrets: service, trust: trusted, metrics: os.Stdout}).handle)
}
