// Command custom-resource is the Lambda function behind Custom::DatabaseSecret
// resources: CloudFormation sends it Create, Update and Delete requests and
// waits for the answer at the request's ResponseURL.
//
// It wires the core once, in main; handler.go decodes, calls stack and
// answers (response.go sends it). Nothing imports a function.
package main

import (
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/dbcreds/provisioner/shared/deployment"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/stack"
)

// main wires the function once, at init: a part it lacks stops it here,
// never at a request. Only this function updates, deletes and cancels
// rotation, so only it links those operations.
func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	parts, err := deployment.FromEnvironment(os.Getenv)
	exitOn(err)
	service, err := provision.NewService(parts.Config, secretstore.New(parts.Client), rotation.NewWithCancel(parts.Client), parts.Users, secretstore.NewDeleter(parts.Client), parts.Readers, parts.Expiries)
	exitOn(err)
	secrets, err := stack.New(service, secretstore.NewManager(parts.Client))
	exitOn(err)
	var to responder = newToCloudFormation(os.Getenv("AWS_REGION")) // each try has its own timeout
	if os.Getenv("AWS_SAM_LOCAL") == "true" {
		to = &http.Client{} // the SAM CLI's or the tests' local receiver
	}
	h := &handler{secrets: secrets, responder: to, metrics: os.Stdout}
	lambda.Start(h.handle)
}

func exitOn(err error) {
	if err != nil {
		slog.Error("cannot start", "error", err)
		os.Exit(1)
	}
}
