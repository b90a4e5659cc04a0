package callrate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

func TestFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		quota, concurrency string
		interval           time.Duration // 0: unpaced
		bad                bool
	}{
		{"", "", 0, false},
		{"50", "", 0, false},
		{"", "5", 0, false},
		{"50", "5", 100 * time.Millisecond, false},
		{"50", "32", 640 * time.Millisecond, false},
		{"0", "5", 0, true},
		{"-1", "5", 0, true},
		{"fifty", "5", 0, true},
		{"50", "0", 0, true},
		{"50", "1.5", 0, true},
		{"20000", "5", 0, true},
		{"1", "11", 0, true},
		{"1", "10", 10 * time.Second, false},
	} {
		env := map[string]string{"Q": tc.quota, "N": tc.concurrency}
		p, err := FromEnvironment(func(k string) string { return env[k] }, "Q", "N")
		switch {
		case tc.bad:
			if err == nil {
				t.Errorf("%+v: accepted", tc)
			}
		case err != nil:
			t.Errorf("%+v: %v", tc, err)
		case tc.interval == 0 && p != nil, tc.interval != 0 && (p == nil || p.Interval() != tc.interval):
			t.Errorf("%+v: %+v", tc, p)
		}
	}
}

// TestOperationPacesItsAttempts: the paced operation's attempts, retries
// included, go at most one an interval; another operation is not held.
func TestOperationPacesItsAttempts(t *testing.T) {
	var mu sync.Mutex
	var creates []time.Time
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if r.Header.Get("X-Amz-Target") != "secretsmanager.CreateSecret" {
			w.Write([]byte(`{}`))
			return
		}
		mu.Lock()
		creates = append(creates, time.Now())
		first := len(creates) == 1
		mu.Unlock()
		if first { // throttled once: the retry is paced too
			w.WriteHeader(400)
			w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded"}`))
			return
		}
		w.Write([]byte(`{"ARN":"arn","Name":"n"}`))
	}))
	defer server.Close()
	const interval = 100 * time.Millisecond
	p := New(float64(time.Second / interval))
	client := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(server.URL),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
		APIOptions: []func(*middleware.Stack) error{p.Operation("CreateSecret")}})
	ctx := context.Background()
	for range 3 {
		if _, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("n"), SecretString: aws.String("v")}); err != nil {
			t.Fatal(err)
		}
	}
	if len(creates) != 4 {
		t.Fatalf("%d attempts, want 4 (one throttled)", len(creates))
	}
	for i := 1; i < len(creates); i++ {
		// Seen at the server, so the way there (signing, the loopback)
		// blurs the pace a little; unpaced, the gaps would be about none.
		if gap := creates[i].Sub(creates[i-1]); gap < interval/2 {
			t.Errorf("attempt %d came %v after the one before, want about %v", i+1, gap, interval)
		}
	}
	// Another operation is never paced: behind a pacer of one call an
	// hour, and a call that has taken its slot, it goes at once.
	slow := New(1.0 / 3600)
	slowClient := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(server.URL),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), APIOptions: []func(*middleware.Stack) error{slow.Operation("CreateSecret")}})
	if _, err := slowClient.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("n"), SecretString: aws.String("v")}); err != nil {
		t.Fatal(err)
	}
	quick, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for range 3 {
		if _, err := slowClient.DescribeSecret(quick, &secretsmanager.DescribeSecretInput{SecretId: aws.String("n")}); err != nil {
			t.Fatalf("DescribeSecret was held: %v", err)
		}
	}
}

// TestRetryer: a throttled attempt is retried after less than half an
// interval (the pacer then spaces it), and the SDK's standard delay keeps
// the other errors; the attempts are AWS_MAX_ATTEMPTS' when set.
func TestRetryer(t *testing.T) {
	p := New(4) // 250 ms apart
	throttled := &smithyAPIError{code: "ThrottlingException"}
	other := &smithyAPIError{code: "RequestTimeoutException"} // retryable, not a throttle
	for _, tc := range []struct {
		name        string
		maxAttempts int
		err         error
		most        time.Duration
		retryable   bool
	}{
		{"throttle", 0, throttled, 125 * time.Millisecond, true},
		{"throttle, five attempts", 5, throttled, 125 * time.Millisecond, true},
		{"timeout", 0, other, 20 * time.Second, true},
	} {
		r := p.Retryer(tc.maxAttempts)
		want := tc.maxAttempts
		if want == 0 {
			want = retry.DefaultMaxAttempts
		}
		if r.MaxAttempts() != want {
			t.Errorf("%s: %d attempts, want %d", tc.name, r.MaxAttempts(), want)
		}
		if r.IsErrorRetryable(tc.err) != tc.retryable {
			t.Errorf("%s: retryable %v", tc.name, !tc.retryable)
		}
		var longest time.Duration
		for range 200 {
			d, err := r.RetryDelay(1, tc.err)
			if err != nil {
				t.Fatal(err)
			}
			longest = max(longest, d)
		}
		if longest > tc.most {
			t.Errorf("%s: waited %v, at most %v", tc.name, longest, tc.most)
		}
		if tc.err == throttled && longest == 0 {
			t.Errorf("%s: no jitter at all", tc.name)
		}
	}
	// The standard delay for a timeout is the SDK's, not the short one.
	var longest time.Duration
	for range 200 {
		d, _ := p.Retryer(0).RetryDelay(3, other)
		longest = max(longest, d)
	}
	if longest <= 125*time.Millisecond {
		t.Errorf("a timeout's third retry waited at most %v: not the SDK's backoff", longest)
	}
}

// smithyAPIError is a service's error with its code, as the SDK decodes it.
type smithyAPIError struct{ code string }

func (e *smithyAPIError) Error() string                 { return e.code }
func (e *smithyAPIError) ErrorCode() string             { return e.code }
func (e *smithyAPIError) ErrorMessage() string          { return e.code }
func (e *smithyAPIError) ErrorFault() smithy.ErrorFault { return smithy.FaultServer }
