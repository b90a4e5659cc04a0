package expiry

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/dbcreds/provisioner/shared/awslite/scheduler"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/userledger"
)

type throttlesReviewL struct{ calls int }

func (s *throttlesReviewL) Do(req *http.Request) (*http.Response, error) {
	s.calls++
	return &http.Response{StatusCode: 400, Header: http.Header{"X-Amzn-Errortype": {"ThrottlingException"}},
		Body: io.NopCloser(strings.NewReader(`{"message":"Rate exceeded"}`)), Request: req}, nil
}

// TestThrottledRefusalIsNotRefusedReviewL: when the client's retry quota
// is spent (a burst of throttling in a warm instance), a CreateSchedule
// the Scheduler refused with ThrottlingException comes back from awslite
// without its API error, so Set's refused() says "perhaps made" and keeps
// the new expiry record with no schedule behind it (for a first expiry:
// GET shows expiresAt, nothing fires). With the SDK the error keeps the
// ThrottlingException (errors.Join) and the record is put back.
func TestThrottledRefusalIsNotRefusedReviewL(t *testing.T) {
	h := &throttlesReviewL{}
	client := scheduler.New(scheduler.Options{Region: "eu-west-1", HTTPClient: h,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer:     retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.NewTokenRateLimit(0) })})
	s, err := New(client, userledger.New(nil, ""), Settings{Group: "g", RoleARN: "arn:aws:iam::123456789012:role/r",
		DeadLetterARN: "arn:aws:sqs:eu-west-1:123456789012:q", Target: "arn:aws:lambda:eu-west-1:123456789012:function:f"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.schedule(context.Background(), Payload{SecretARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:a-AbCdEf", Via: "http-api", Token: "t"}, time.Now().Add(time.Hour))
	if h.calls != 1 || err == nil {
		t.Fatalf("%d calls, %v", h.calls, err)
	}
	if !refused(err) {
		t.Errorf("a ThrottlingException the Scheduler answered is %s (%v), not refused: Set keeps a record the Scheduler has no schedule for", errcode.Of(err), err)
	}
}
