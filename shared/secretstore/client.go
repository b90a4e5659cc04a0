package secretstore

import (
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/middleware"

	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/callrate"
)

// ClientFromEnvironment builds the Secrets Manager client from Lambda's
// environment (awsclient.FromEnvironment), its endpoint from
// AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL. With
// CREATE_SECRET_QUOTA (the account's CreateSecret calls a second) and
// FUNCTION_CONCURRENCY (this function's reserved concurrency), each
// instance paces its CreateSecret calls to its share of the quota, and
// retries a throttled call at its next paced slot (callrate.Pacer.Retryer)
// rather than in the SDK's adaptive mode.
func ClientFromEnvironment(getenv func(string) string) (*secretsmanager.Client, error) {
	s, err := awsclient.FromEnvironment(getenv)
	if err != nil {
		return nil, err
	}
	pacer, err := callrate.FromEnvironment(getenv, "CREATE_SECRET_QUOTA", "FUNCTION_CONCURRENCY")
	if err != nil {
		return nil, err
	}
	var api []func(*middleware.Stack) error
	retryer := s.Retryer()
	if pacer != nil {
		api = append(api, pacer.Operation("CreateSecret"))
		retryer = pacer.Retryer(s.MaxAttempts())
	}
	return secretsmanager.New(secretsmanager.Options{
		Region:       s.Region,
		Credentials:  s.Credentials,
		BaseEndpoint: s.Endpoint("SECRETS_MANAGER"),
		Retryer:      retryer,
		HTTPClient:   s.HTTPClient(),
		APIOptions:   api,
	}), nil
}
