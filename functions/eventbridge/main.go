// Command eventbridge is the Lambda function behind the "Database Secret
// Requested" EventBridge rule.
//
// It wires the core once, in main; handler.go decodes, calls provision and
// maps errors to retryable or permanent. Nothing imports a function.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/dbcreds/provisioner/shared/deployment"
)

// main wires the function once, at init: a part it lacks stops it here,
// never at a request.
func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	parts, err := deployment.FromEnvironment(os.Getenv)
	exitOn(err)
	service, err := parts.Service()
	exitOn(err)
	trusted, err := trustFromEnv(os.Getenv)
	exitOn(err)
	lambda.Start((&handler{secrets: service, expirer: service, trust: trusted, metrics: os.Stdout}).invoke)
}

func exitOn(err error) {
	if err != nil {
		slog.Error("cannot start", "error", err)
		os.Exit(1)
	}
}
