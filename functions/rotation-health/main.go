// Command rotation-health is the Lambda function behind the rotation
// health rule: Secrets Manager's RotationSucceeded, RotationFailed and
// RotationAbandoned events for the secrets under the prefix become
// metrics, which the failures alarm watches.
//
// It wires the core once, in main; handler.go decodes and calls
// rotationhealth. Nothing imports a function.
package main

import (
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/deployment"
	"github.com/dbcreds/provisioner/shared/rotationhealth"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	recorder, err := recorderFromEnv(os.Getenv)
	if err != nil {
		slog.Error("cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start((&handler{health: recorder}).handle)
}

// recorderFromEnv records the rotations of the secrets under the
// deployment's prefix, in its account and Region, as metrics on stdout.
func recorderFromEnv(getenv func(string) string) (*rotationhealth.Recorder, error) {
	cfg, err := deployment.Config(getenv)
	if err != nil {
		return nil, err
	}
	client, err := secretstore.ClientFromEnvironment(getenv)
	if err != nil {
		return nil, err
	}
	account := strings.TrimSpace(getenv(deployment.EnvAccountID))
	return rotationhealth.New(client, awsname.SecretARNPrefix(cfg.Region, account, cfg.NamePrefix), account, os.Stdout)
}
