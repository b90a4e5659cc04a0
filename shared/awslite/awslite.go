// Package awslite calls the few operations the functions need of AWS
// services other than Secrets Manager (DynamoDB, RDS, KMS, STS,
// EventBridge Scheduler) without the SDK's per-service packages. Each of
// those packages builds its endpoint tables and compiles their regular
// expressions at process start, about 0.4 ms of every cold start each,
// whether or not a request ever needs the service (BENCHMARKS.md).
// Signing, credentials, retries and the shape of errors are the SDK's own
// (aws/signer/v4, aws/retry, smithy errors), so callers and
// awsclient.Classify see what an SDK client gives.
//
// The services' packages (dynamodb, kms, rds, scheduler, sts below this
// one) copy the SDK's method signatures, and use its types packages,
// which cost nothing at start.
package awslite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/dbcreds/provisioner/shared/awsname"
)

// Options are a client's settings, named as the SDK's clients name them.
// A call may change them for itself (a KMS call in a replica's Region).
type Options struct {
	Region       string
	Credentials  aws.CredentialsProvider
	BaseEndpoint *string     // nil: the service's endpoint in Region
	Retryer      aws.Retryer // nil: retry.NewStandard()
	HTTPClient   HTTPClient  // nil: the SDK's default client
}

// HTTPClient sends a request: *http.Client, or a test's stand-in.
type HTTPClient interface {
	Do(*http.Request) (*http.Response, error)
}

// Service is what a client needs to know of its service.
type Service struct {
	ID          string // as the SDK's ServiceID, for errors: "KMS"
	SigningName string // "kms"
	Endpoint    string // the host's first label: "kms"
	// Errors gives the SDK's typed error for a code the caller tells
	// apart (*types.NotFoundException), matching codes as the SDK does
	// (case aside), or nil for a generic one; body is the error answer.
	Errors func(code, message string, body []byte) error
}

// Client calls one service.
type Client struct {
	service Service
	options Options
	signer  *v4.Signer
}

// New builds a client; it calls nothing. Its HTTP client and retryer are
// built once, so calls share connections and the retryer's state.
func New(service Service, o Options) *Client {
	if o.Retryer == nil {
		o.Retryer = retry.NewStandard()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = awshttp.NewBuildableClient()
	}
	return &Client{service: service, options: o, signer: v4.NewSigner()}
}

// Request is one call, before signing.
type Request struct {
	Operation string
	Method    string
	Path      string // unescaped; "/" for JSON and Query services
	Query     url.Values
	Header    http.Header
	Body      []byte
	// Decode reads a 2xx answer's body; nil ignores it.
	Decode func(body []byte) error
}

// maxAnswer bounds an answer read into memory: every answer these
// operations give is a few kilobytes.
const maxAnswer = 8 << 20

// errorDecoder reads an error answer into its code and message.
type errorDecoder func(header http.Header, body []byte) (code, message string)

// Do sends req, signed, retrying as o's retryer says, and decodes a 2xx
// answer. Errors are shaped as the SDK's: an *smithy.OperationError around
// an *awshttp.ResponseError (when there was an answer) around the
// service's API error, or a *smithy.DeserializationError for an answer
// that could not be read.
func (c *Client) Do(ctx context.Context, req Request, decodeError errorDecoder, optFns ...func(*Options)) error {
	o := c.options
	for _, fn := range optFns {
		fn(&o)
	}
	if err := c.do(ctx, o, req, decodeError); err != nil {
		return &smithy.OperationError{ServiceID: c.service.ID, OperationName: req.Operation, Err: err}
	}
	return nil
}

func (c *Client) do(ctx context.Context, o Options, req Request, decodeError errorDecoder) error {
	endpoint, err := c.endpoint(o)
	if err != nil {
		return err
	}
	retryer, client := o.Retryer, o.HTTPClient
	if retryer == nil || client == nil {
		return errors.New("a call took away its client's retryer or HTTP client")
	}
	sum := sha256.Sum256(req.Body) // once a call: every attempt sends the same body
	payloadHash := hex.EncodeToString(sum[:])
	releaseRetry := func(error) error { return nil }
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		releaseAttempt := func(error) error { return nil }
		if v2, ok := retryer.(aws.RetryerV2); ok {
			if releaseAttempt, err = v2.GetAttemptToken(ctx); err != nil {
				return fmt.Errorf("failed to get retry Send token, %w", err)
			}
		} else {
			releaseAttempt = retryer.GetInitialToken()
		}
		err = c.attempt(ctx, client, o, endpoint, req, payloadHash, decodeError)
		_ = releaseRetry(err)
		_ = releaseAttempt(err)
		if err == nil {
			return nil
		}
		if !retryer.IsErrorRetryable(err) {
			return err
		}
		if max := retryer.MaxAttempts(); max > 0 && attempt >= max {
			return &retry.MaxAttemptsError{Attempt: attempt, Err: err}
		}
		// The retry's token and delay are asked about the attempt's error:
		// a throttle waits longer than other errors.
		release, terr := retryer.GetRetryToken(ctx, err)
		if terr != nil {
			// The SDK's shape: the service's error is kept for callers.
			return errors.Join(err, terr)
		}
		releaseRetry = release
		delay, derr := retryer.RetryDelay(attempt, err)
		if derr != nil {
			return errors.Join(err, derr)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// attempt makes one signed request.
func (c *Client) attempt(ctx context.Context, client HTTPClient, o Options, endpoint *url.URL, req Request, payloadHash string, decodeError errorDecoder) error {
	u := *endpoint
	u.Path, u.RawPath = strings.TrimSuffix(u.Path, "/")+req.Path, ""
	if len(req.Query) > 0 {
		u.RawQuery = req.Query.Encode()
	}
	r, err := http.NewRequestWithContext(ctx, req.Method, u.String(), bytes.NewReader(req.Body))
	if err != nil {
		return err
	}
	for k, v := range req.Header {
		r.Header[k] = v
	}
	r.Header.Set("User-Agent", "dbcreds-provisioner awslite")
	if o.Credentials == nil {
		return errors.New("no credentials")
	}
	creds, err := o.Credentials.Retrieve(ctx)
	if err != nil {
		return err
	}
	if err := c.signer.SignHTTP(ctx, creds, r, payloadHash, c.service.SigningName, o.Region, time.Now().UTC()); err != nil {
		return err
	}
	resp, err := client.Do(r)
	if err != nil && ctx.Err() != nil {
		// The caller's deadline or cancellation, which no retry can
		// help: the SDK's shape, never retried.
		return &smithy.CanceledError{Err: ctx.Err()}
	}
	if err != nil {
		// The SDK's shape for no answer: the retryer retries it, and
		// awsclient.Classify calls it unavailable.
		return &smithyhttp.RequestSendError{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err == nil && len(body) > maxAnswer {
		err = fmt.Errorf("an answer of over %d bytes", maxAnswer)
	}
	if err != nil {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: resp}, Err: err}}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if req.Decode == nil {
			return nil
		}
		if err := req.Decode(body); err != nil {
			return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: resp}, Err: &smithy.DeserializationError{Err: err}}}
		}
		return nil
	}
	code, message := decodeError(resp.Header, body)
	var apiErr error
	if code != "" && c.service.Errors != nil {
		apiErr = c.service.Errors(code, message, body)
	}
	if apiErr == nil && code != "" {
		fault := smithy.FaultClient
		if resp.StatusCode >= 500 {
			fault = smithy.FaultServer
		}
		apiErr = &smithy.GenericAPIError{Code: code, Message: message, Fault: fault}
	}
	if apiErr == nil {
		// An answer no service gave (a proxy's page): the status tells.
		apiErr = fmt.Errorf("HTTP %d with no error code", resp.StatusCode)
	}
	return &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: resp}, Err: apiErr},
		RequestID:     resp.Header.Get("X-Amzn-Requestid"),
	}
}

// endpoint is BaseEndpoint, or the service's endpoint in o.Region. The
// Region must be one, so that no value can move a signed request to
// another host.
func (c *Client) endpoint(o Options) (*url.URL, error) {
	if !awsname.IsRegion(o.Region) {
		return nil, fmt.Errorf("%q is not a Region", o.Region)
	}
	raw := "https://" + c.service.Endpoint + "." + o.Region + "." + awsname.DNSSuffix(o.Region)
	if o.BaseEndpoint != nil {
		raw = *o.BaseEndpoint
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// Not the value: an endpoint URL may carry credentials.
		return nil, errors.New("the configured endpoint is not an http(s) URL")
	}
	return u, nil
}
