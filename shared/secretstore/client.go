package secretstore

import (
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/awsclient"
)

// ClientFromEnvironment builds the Secrets Manager client from Lambda's
// environment (awsclient.FromEnvironment), its endpoint from
// AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL.
func ClientFromEnvironment(getenv func(string) string) (*secretsmanager.Client, error) {
	s, err := awsclient.FromEnvironment(getenv)
	if err != nil {
		return nil, err
	}
	return secretsmanager.New(secretsmanager.Options{
		Region:       s.Region,
		Credentials:  s.Credentials,
		BaseEndpoint: s.Endpoint("SECRETS_MANAGER"),
		Retryer:      s.Retryer(),
	}), nil
}
