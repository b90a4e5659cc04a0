// Command http-api is the Lambda function behind the self-service HTTP API
// (API Gateway HTTP API, payload format 2.0).
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
	service, err := provision.APIServiceFromEnv(context.Background())
	if err != nil {
		slog.Error("cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start((&handler{secrets: service, localCaller: localCallerFromEnv(os.Getenv)}).handle)
}
