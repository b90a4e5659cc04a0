package awsclient

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithy "github.com/aws/smithy-go"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// Classify turns an error of any service's client into a coded error, by
// what every AWS service has in common; service names the service in the
// message ("Secrets Manager"). Service-specific errors are the caller's to
// sort out first. The error is kept as the cause, for the log.
func Classify(err error, service string) error {
	if err == nil {
		return nil
	}
	var (
		apiErr   smithy.APIError
		response *awshttp.ResponseError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return errcode.Wrap(err, errcode.Unavailable, "%s did not answer in time", service)
	case errors.As(err, &apiErr):
		code := apiErr.ErrorCode()
		if _, throttle := retry.DefaultThrottleErrorCodes[code]; throttle {
			return errcode.Wrap(err, errcode.Throttled, "%s is throttling requests (%s)", service, code)
		}
		switch code {
		case "AccessDeniedException", "AccessDenied", "UnrecognizedClientException",
			"InvalidSignatureException", "ExpiredTokenException", "IncompleteSignature":
			return errcode.Wrap(err, errcode.Forbidden, "the function is not allowed to do this in %s (%s)", service, code)
		}
		return errcode.Wrap(err, errcode.Upstream, "%s failed (%s)", service, code)
	case errors.As(err, &response) && response.Response != nil && response.HTTPStatusCode() >= 500:
		// An answer, if not one the SDK could read (a proxy's HTML page).
		return errcode.Wrap(err, errcode.Upstream, "%s failed (HTTP %d)", service, response.HTTPStatusCode())
	case errors.As(err, &response) && response.Response != nil && response.HTTPStatusCode() > 0:
		return errcode.Wrap(err, errcode.Upstream, "%s gave an answer that could not be read (HTTP %d)", service, response.HTTPStatusCode())
	default:
		// No answer at all.
		return errcode.Wrap(err, errcode.Unavailable, "%s could not be reached", service)
	}
}
