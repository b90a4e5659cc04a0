// Command custom-resource is the Lambda function behind Custom::DatabaseSecret
// resources: CloudFormation sends it Create, Update and Delete requests and
// waits for the answer at the request's ResponseURL.
package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/dbcreds/provisioner/shared/provision"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	secrets, err := provision.LifecycleFromEnv(context.Background())
	if err != nil {
		slog.Error("cannot start", "error", err)
		os.Exit(1)
	}
	h := &handler{secrets: secrets, responder: &http.Client{}, metrics: os.Stdout} // each try has its own timeout
	lambda.Start(h.handle)
}
