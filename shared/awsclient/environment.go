// Package awsclient gives the functions' SDK clients what Lambda's
// environment says (Region, the role's credentials, the SDK's own endpoint
// and retry settings) without config.LoadDefaultConfig, and turns any
// service's errors into coded errors.
//
// It is the bottom of every AWS client here: it imports nothing of the
// provisioner's but errcode.
package awsclient

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Settings are the client settings one environment gives every service.
type Settings struct {
	Region      string
	Credentials aws.CredentialsProvider

	getenv      func(string) string
	retryMode   string
	maxAttempts int
}

// FromEnvironment reads what Lambda gives a function: AWS_REGION and the
// execution role's credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), and the SDK's own settings as config.LoadDefaultConfig
// reads them: AWS_MAX_ATTEMPTS, AWS_RETRY_MODE and the endpoint variables
// (see Endpoint).
//
// It does not use config.LoadDefaultConfig because linking that package
// brings credential providers a function never uses (SSO, STS, sign-in),
// whose initialisation costs every cold start about 3.5 ms: most of the
// difference from an empty aws-lambda-go function (BENCHMARKS.md).
func FromEnvironment(getenv func(string) string) (Settings, error) {
	s := Settings{getenv: getenv, Region: getenv("AWS_REGION")}
	if s.Region == "" {
		s.Region = getenv("AWS_DEFAULT_REGION")
	}
	if s.Region == "" {
		return s, fmt.Errorf("AWS_REGION is not set: Lambda sets it, and so must a local run")
	}
	key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		return s, fmt.Errorf("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set: Lambda sets them from the function's role, and so must a local run")
	}
	s.Credentials = credentials.NewStaticCredentialsProvider(key, secret, getenv("AWS_SESSION_TOKEN"))
	switch s.retryMode = strings.ToLower(getenv("AWS_RETRY_MODE")); s.retryMode {
	case "", "standard", "adaptive":
	default:
		return s, fmt.Errorf("AWS_RETRY_MODE %q: must be standard or adaptive", s.retryMode)
	}
	if v := getenv("AWS_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return s, fmt.Errorf("AWS_MAX_ATTEMPTS %q: must be a whole number of at least 1", v)
		}
		s.maxAttempts = n
	}
	return s, nil
}

// Endpoint is the endpoint configured for a service, named as the SDK names
// its variable (SECRETS_MANAGER, DYNAMODB): AWS_ENDPOINT_URL_<SERVICE>, else
// AWS_ENDPOINT_URL, neither when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is
// true; nil means the service's own endpoint.
func (s Settings) Endpoint(service string) *string {
	if strings.EqualFold(s.getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		return nil
	}
	for _, name := range []string{"AWS_ENDPOINT_URL_" + service, "AWS_ENDPOINT_URL"} {
		if v := s.getenv(name); v != "" {
			return aws.String(v)
		}
	}
	return nil
}

// HTTPClient is the one HTTP client every AWS client of the process
// shares: one pool of connections, built on first use. It is the SDK's
// default client, behind a type of its own so that an SDK client takes it
// as it is rather than deriving its "defaults mode" settings, which in the
// legacy mode the functions run in change nothing and format an error at
// every client's construction (a tenth of a millisecond of the first).
func (s Settings) HTTPClient() *SharedHTTP { return sharedHTTP }

// SharedHTTP is Settings.HTTPClient's type.
type SharedHTTP struct{ *awshttp.BuildableClient }

var sharedHTTP = &SharedHTTP{awshttp.NewBuildableClient()}

// MaxAttempts is AWS_MAX_ATTEMPTS; 0 when unset (the SDK's default).
func (s Settings) MaxAttempts() int { return s.maxAttempts }

// Retryer is a new retryer for one client (the adaptive mode keeps state).
// The functions use the adaptive mode unless AWS_RETRY_MODE says standard:
// after a throttle it slows the client's own calls, so a burst of requests
// settles at the service's quota instead of failing its first attempts.
func (s Settings) Retryer() aws.Retryer {
	var r aws.Retryer = retry.NewAdaptiveMode()
	if s.retryMode == "standard" {
		r = retry.NewStandard()
	}
	if s.maxAttempts > 0 {
		r = retry.AddWithMaxAttempts(r, s.maxAttempts)
	}
	return r
}
