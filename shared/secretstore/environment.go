package secretstore

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// ClientFromEnvironment builds the Secrets Manager client from what Lambda
// gives a function: AWS_REGION and the execution role's credentials
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). It honours
// the SDK's own settings as config.LoadDefaultConfig does: the endpoint in
// AWS_ENDPOINT_URL_SECRETS_MANAGER, else AWS_ENDPOINT_URL (unless
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true), AWS_MAX_ATTEMPTS and
// AWS_RETRY_MODE.
//
// It does not call config.LoadDefaultConfig because linking that package
// brings credential providers a function never uses (SSO, STS, sign-in),
// whose initialisation costs every cold start about 3.5 ms: most of the
// difference from an empty aws-lambda-go function (BENCHMARKS.md).
func ClientFromEnvironment(getenv func(string) string) (*secretsmanager.Client, error) {
	region := getenv("AWS_REGION")
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	if region == "" {
		return nil, fmt.Errorf("AWS_REGION is not set: Lambda sets it, and so must a local run")
	}
	key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		return nil, fmt.Errorf("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set: Lambda sets them from the function's role, and so must a local run")
	}
	opts := secretsmanager.Options{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, getenv("AWS_SESSION_TOKEN")),
	}
	if !strings.EqualFold(getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		if endpoint := firstSet(getenv, "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"); endpoint != "" {
			opts.BaseEndpoint = aws.String(endpoint)
		}
	}
	var retryer aws.Retryer = retry.NewStandard()
	switch mode := strings.ToLower(getenv("AWS_RETRY_MODE")); mode {
	case "", "standard":
	case "adaptive":
		retryer = retry.NewAdaptiveMode()
	default:
		return nil, fmt.Errorf("AWS_RETRY_MODE %q: must be standard or adaptive", mode)
	}
	if v := getenv("AWS_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("AWS_MAX_ATTEMPTS %q: must be a whole number of at least 1", v)
		}
		retryer = retry.AddWithMaxAttempts(retryer, n)
	}
	opts.Retryer = retryer
	return secretsmanager.New(opts), nil
}

func firstSet(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}
