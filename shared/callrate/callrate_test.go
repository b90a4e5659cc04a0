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
