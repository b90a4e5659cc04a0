package awslite_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	sdkkms "github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	sdkscheduler "github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/awslite"
	"github.com/dbcreds/provisioner/shared/awslite/kms"
	"github.com/dbcreds/provisioner/shared/awslite/scheduler"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// seenBackoff is a retryer's backoff that records the error each
// RetryDelay is asked about, and waits not at all.
type seenBackoff struct {
	mu   sync.Mutex
	errs []error
}

func (b *seenBackoff) BackoffDelay(_ int, err error) (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs = append(b.errs, err)
	return 0, nil
}

// TestThrottleBackoffSeesNoErrorReviewL: awslite's retry loop overwrites
// the attempt's error with GetRetryToken's nil before it asks RetryDelay,
// so the backoff never learns that the attempt was throttled. The SDK's
// own middleware passes the error, and its default backoff (v1.48,
// "retries 2.1") uses a 1 s base for throttling errors and 50 ms for
// anything else: with awslite a throttled KMS/Scheduler/RDS/STS call
// retries 20 times sooner (all three attempts within ~150 ms).
func TestThrottleBackoffSeesNoErrorReviewL(t *testing.T) {
	throttled := answer{status: 400, body: `{"__type":"ThrottlingException","message":"Rate exceeded"}`}
	retryer := func(b *seenBackoff) aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.Backoff = b; o.RateLimiter = ratelimit.None })
	}

	lite := &seenBackoff{}
	s := &script{answers: []answer{throttled, {status: 200, body: `{}`}}}
	if _, err := kms.New(awslite.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: s, Retryer: retryer(lite)}).
		CreateGrant(context.Background(), &kms.CreateGrantInput{KeyId: aws.String("k"), GranteePrincipal: aws.String("g"), Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}}); err != nil {
		t.Fatal(err)
	}
	sdk := &seenBackoff{}
	s = &script{answers: []answer{throttled, {status: 200, body: `{}`}}}
	if _, err := sdkkms.New(sdkkms.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: s, Retryer: retryer(sdk)}).
		CreateGrant(context.Background(), &sdkkms.CreateGrantInput{KeyId: aws.String("k"), GranteePrincipal: aws.String("g"), Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}}); err != nil {
		t.Fatal(err)
	}
	if len(sdk.errs) != 1 || sdk.errs[0] == nil {
		t.Fatalf("the SDK's backoff saw %v; want the throttling error", sdk.errs)
	}
	if len(lite.errs) != 1 || lite.errs[0] == nil {
		t.Errorf("awslite's backoff saw %v; the SDK's saw %v", lite.errs, sdk.errs)
	}

	// What that costs with the SDK's default backoff (the one
	// awsclient.Settings.Retryer builds, standard or adaptive).
	def := retry.NewStandard()
	var withErr, withNil time.Duration
	for range 200 {
		d, _ := def.RetryDelay(1, &throttledErr{})
		withErr = max(withErr, d)
		d, _ = def.RetryDelay(1, nil)
		withNil = max(withNil, d)
	}
	if withNil >= 50*time.Millisecond || withErr <= 50*time.Millisecond {
		t.Fatalf("unexpected SDK backoff: nil %v, throttle %v", withNil, withErr)
	}
	t.Logf("first retry after a throttle: up to %v as the SDK waits, up to %v as awslite waits", withErr, withNil)
}

type throttledErr struct{}

func (*throttledErr) Error() string     { return "ThrottlingException" }
func (*throttledErr) ErrorCode() string { return "ThrottlingException" }

// TestQuotaExhaustedHidesTheAPIErrorReviewL: once the retryer's retry
// quota is spent, the SDK answers errors.Join(the API error, the quota
// error); awslite answers the quota error alone. Callers' errors.As and
// awsclient.Classify then see no API error: a throttled Scheduler call is
// "unavailable" (maybe made) instead of "throttled" (certainly refused).
func TestQuotaExhaustedHidesTheAPIErrorReviewL(t *testing.T) {
	throttled := answer{status: 400, header: http.Header{"X-Amzn-Errortype": {"ThrottlingException:http://internal"}}, body: `{"message":"Rate exceeded"}`}
	spent := func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.NewTokenRateLimit(0) })
	}
	in := func() (*string, *string, *schedtypes.Target) {
		return aws.String("n"), aws.String("at(2030-01-01T00:00:00)"), &schedtypes.Target{Arn: aws.String("arn:aws:lambda:eu-west-1:123456789012:function:f"), RoleArn: aws.String("arn:aws:iam::123456789012:role/r")}
	}
	window := &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff}
	name, expr, target := in()
	_, sdkErr := sdkscheduler.New(sdkscheduler.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: &script{answers: []answer{throttled}}, Retryer: spent()}).
		CreateSchedule(context.Background(), &sdkscheduler.CreateScheduleInput{Name: name, ScheduleExpression: expr, Target: target, FlexibleTimeWindow: window})
	_, liteErr := scheduler.New(awslite.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: &script{answers: []answer{throttled}}, Retryer: spent()}).
		CreateSchedule(context.Background(), &scheduler.CreateScheduleInput{Name: name, ScheduleExpression: expr, Target: target, FlexibleTimeWindow: window})

	var sdkTyped, liteTyped *schedtypes.ThrottlingException
	sdkCode, liteCode := errcode.Of(awsclient.Classify(sdkErr, "EventBridge Scheduler")), errcode.Of(awsclient.Classify(liteErr, "EventBridge Scheduler"))
	if !errors.As(sdkErr, &sdkTyped) || sdkCode != errcode.Throttled {
		t.Fatalf("the SDK: %v (%s)", sdkErr, sdkCode)
	}
	if !errors.As(liteErr, &liteTyped) || liteCode != sdkCode {
		t.Errorf("awslite: %v classified %s, typed %v; the SDK: %v classified %s", liteErr, liteCode, liteTyped != nil, sdkErr, sdkCode)
	}
}

// countingLimiter counts retry tokens taken.
type countingLimiter struct {
	mu    sync.Mutex
	taken int
}

func (c *countingLimiter) GetToken(context.Context, uint) (func() error, error) {
	c.mu.Lock()
	c.taken++
	c.mu.Unlock()
	return func() error { return nil }, nil
}
func (c *countingLimiter) AddTokens(uint) error { return nil }

// hangs answers nothing until the request's context ends, as http.Client
// does at a deadline.
type hangs struct{}

func (hangs) Do(req *http.Request) (*http.Response, error) {
	<-req.Context().Done()
	return nil, &url.Error{Op: req.Method, URL: req.URL.String(), Err: req.Context().Err()}
}

// TestDeadlineMidCallSpendsRetryQuotaReviewL: a call whose context
// deadline passes while it waits for an answer is, to awslite, a
// retryable timeout: it takes a retry token from the client's shared
// quota (which outlives the invocation in a warm Lambda) before it notices
// the context. The SDK marks it a CanceledError, never retried.
func TestDeadlineMidCallSpendsRetryQuotaReviewL(t *testing.T) {
	call := func(lite bool) int {
		l := &countingLimiter{}
		r := retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = l })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if lite {
			kms.New(awslite.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: hangs{}, Retryer: r}).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("k")})
		} else {
			sdkkms.New(sdkkms.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: hangs{}, Retryer: r}).DescribeKey(ctx, &sdkkms.DescribeKeyInput{KeyId: aws.String("k")})
		}
		return l.taken
	}
	if sdk, lite := call(false), call(true); lite != sdk {
		t.Errorf("retry tokens taken by a call that ran out of time: awslite %d, the SDK %d", lite, sdk)
	}
}

// TestQuotaExhaustedHidesGrantLimitReviewL: KMS's LimitExceededException
// (the key holds as many grants as KMS allows) is a throttle code to the
// retryer, so it is retried; with the quota spent (one request of 100
// readers on a full key can spend it) the SDK still answers
// LimitExceededException, which secretreaders.classifyKMS turns into an
// invalid "readers" field; awslite answers no API error at all.
func TestQuotaExhaustedHidesGrantLimitReviewL(t *testing.T) {
	full := answer{status: 400, body: `{"__type":"LimitExceededException","message":"grants"}`}
	spent := func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.NewTokenRateLimit(0) })
	}
	ops := []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}
	_, sdkErr := sdkkms.New(sdkkms.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: &script{answers: []answer{full}}, Retryer: spent()}).
		CreateGrant(context.Background(), &sdkkms.CreateGrantInput{KeyId: aws.String("k"), GranteePrincipal: aws.String("g"), Operations: ops})
	_, liteErr := kms.New(awslite.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: &script{answers: []answer{full}}, Retryer: spent()}).
		CreateGrant(context.Background(), &kms.CreateGrantInput{KeyId: aws.String("k"), GranteePrincipal: aws.String("g"), Operations: ops})
	var s, l *kmstypes.LimitExceededException
	if !errors.As(sdkErr, &s) {
		t.Fatalf("the SDK: %v", sdkErr)
	}
	if !errors.As(liteErr, &l) {
		t.Errorf("awslite: %v (%s); the SDK: LimitExceededException", liteErr, errcode.Of(awsclient.Classify(liteErr, "KMS")))
	}
}
