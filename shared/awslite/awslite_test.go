package awslite_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/awslite"
	"github.com/dbcreds/provisioner/shared/awslite/kms"
	"github.com/dbcreds/provisioner/shared/awslite/rds"
	"github.com/dbcreds/provisioner/shared/awslite/scheduler"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// TestEndpoints: the host is the service's in the call's Region and
// partition, or BaseEndpoint; a Region that is not one sends nothing, so
// no value can carry a signed request to another host.
func TestEndpoints(t *testing.T) {
	tests := []struct {
		name     string
		region   string // the client's
		call     string // a call's own Region, "" for none
		base     string
		wantHost string // "" for refused before sending
	}{
		{"commercial", "eu-west-1", "", "", "kms.eu-west-1.amazonaws.com"},
		{"China", "cn-north-1", "", "", "kms.cn-north-1.amazonaws.com.cn"},
		{"GovCloud", "us-gov-west-1", "", "", "kms.us-gov-west-1.amazonaws.com"},
		{"ISO", "us-iso-east-1", "", "", "kms.us-iso-east-1.c2s.ic.gov"},
		{"a replica's Region for one call", "eu-west-1", "ap-southeast-2", "", "kms.ap-southeast-2.amazonaws.com"},
		{"BaseEndpoint", "eu-west-1", "us-east-1", "http://127.0.0.1:5000", "127.0.0.1:5000"},
		{"a host in the Region", "evil.example.com/x", "", "", ""},
		{"a Region that ends a host", "eu-west-1.attacker.example#", "", "", ""},
		{"a call's Region with a user", "eu-west-1", "a@attacker.example:1", "", ""},
		{"empty", "", "", "", ""},
		{"a BaseEndpoint of another scheme", "eu-west-1", "", "file:///etc/passwd", ""},
	}
	for _, tt := range tests {
		r := &recorder{answer: "{}"}
		o := liteOptions(r)
		o.Region = tt.region
		if tt.base != "" {
			o.BaseEndpoint = aws.String(tt.base)
		}
		var optFns []func(*kms.Options)
		if tt.call != "" {
			optFns = append(optFns, func(o *kms.Options) { o.Region = tt.call })
		}
		_, err := kms.New(o).RetireGrant(context.Background(), &kms.RetireGrantInput{GrantId: aws.String("g")}, optFns...)
		switch {
		case tt.wantHost == "" && (err == nil || len(r.sent) > 0):
			t.Errorf("%s: sent %d requests (%v), want none and an error", tt.name, len(r.sent), err)
		case tt.wantHost != "" && (err != nil || len(r.sent) != 1):
			t.Errorf("%s: %v, %d requests", tt.name, err, len(r.sent))
		case tt.wantHost != "" && r.sent[0].URL.Host != tt.wantHost:
			t.Errorf("%s: sent to %s, want %s", tt.name, r.sent[0].URL.Host, tt.wantHost)
		case tt.wantHost != "" && tt.call != "" && !strings.Contains(r.sent[0].Header.Get("Authorization"), "/"+tt.call+"/kms/aws4_request"):
			t.Errorf("%s: signed %q, want for %s", tt.name, r.sent[0].Header.Get("Authorization"), tt.call)
		}
	}
}

// script answers each attempt in turn, then repeats its last answer.
type script struct {
	answers []answer
	sent    []*http.Request
	bodies  []string
}

type answer struct {
	status int
	header http.Header
	body   string
	err    error // no answer at all
}

func (s *script) Do(req *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	s.sent, s.bodies = append(s.sent, req), append(s.bodies, string(b))
	a := s.answers[min(len(s.sent), len(s.answers))-1]
	if a.err != nil {
		return nil, a.err
	}
	h := a.header
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{StatusCode: a.status, Header: h, Body: io.NopCloser(strings.NewReader(a.body)), Request: req}, nil
}

// noWait retries as the SDK's standard mode does, without its back-off.
func noWait() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		o.RateLimiter = noLimit{}
	})
}

type noLimit struct{}

func (noLimit) GetToken(context.Context, uint) (func() error, error) {
	return func() error { return nil }, nil
}
func (noLimit) AddTokens(uint) error { return nil }

var refused = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}

// TestErrorsAndRetries: errors come out as the SDK's do, so callers'
// errors.As and awsclient.Classify read them alike; what the SDK retries
// is retried.
func TestErrorsAndRetries(t *testing.T) {
	throttled := answer{status: 400, body: `{"__type":"ThrottlingException","message":"Rate exceeded"}`}
	tests := []struct {
		name     string
		answers  []answer
		attempts int
		code     errcode.Code // "" for success
		typed    func(error) bool
	}{
		{"ok", []answer{{status: 200, body: `{}`}}, 1, "", nil},
		{"not found, typed", []answer{{status: 400, body: `{"__type":"NotFoundException","message":"Key 'k' does not exist"}`}}, 1, errcode.Upstream,
			func(err error) bool {
				var e *kmstypes.NotFoundException
				return errors.As(err, &e) && aws.ToString(e.Message) == "Key 'k' does not exist"
			}},
		{"namespaced code in the header", []answer{{status: 400, header: http.Header{"X-Amzn-Errortype": {"com.amazonaws.kms#DisabledException:http://internal"}}, body: `{}`}}, 1, errcode.Upstream,
			func(err error) bool { var e *kmstypes.DisabledException; return errors.As(err, &e) }},
		{"access denied", []answer{{status: 400, body: `{"__type":"AccessDeniedException","message":"no"}`}}, 1, errcode.Forbidden, nil},
		{"throttled, then ok", []answer{throttled, throttled, {status: 200, body: `{}`}}, 3, "", nil},
		{"throttled throughout", []answer{throttled}, 3, errcode.Throttled, nil},
		{"a proxy's 502 page", []answer{{status: 502, body: `<html>Bad Gateway</html>`}}, 3, errcode.Upstream, nil},
		{"no answer, then ok", []answer{{err: refused}, {status: 200, body: `{}`}}, 2, "", nil},
		{"no answer", []answer{{err: refused}}, 3, errcode.Unavailable, nil},
		{"an unreadable 200", []answer{{status: 200, body: `{"GrantId":`}}, 1, errcode.Upstream, nil},
		{"an answer too big to hold", []answer{{status: 200, body: `{"GrantId":"` + strings.Repeat("x", 9<<20) + `"}`}}, 1, errcode.Upstream, nil},
	}
	for _, tt := range tests {
		s := &script{answers: tt.answers}
		o := awslite.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: s, Retryer: noWait()}
		_, err := kms.New(o).CreateGrant(context.Background(), &kms.CreateGrantInput{KeyId: aws.String("k")})
		if len(s.sent) != tt.attempts {
			t.Errorf("%s: %d attempts, want %d", tt.name, len(s.sent), tt.attempts)
		}
		if tt.code == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if got := errcode.Of(awsclient.Classify(err, "KMS")); got != tt.code {
			t.Errorf("%s: classified %s, want %s (%v)", tt.name, got, tt.code, err)
		}
		if tt.typed != nil && !tt.typed(err) {
			t.Errorf("%s: %v is not the SDK's typed error", tt.name, err)
		}
	}
}

// TestQueryErrors: a Query service's error document gives the SDK's
// typed error.
func TestQueryErrors(t *testing.T) {
	s := &script{answers: []answer{{status: 404, body: `<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type><Code>DBClusterNotFoundFault</Code><Message>DBCluster orders not found.</Message></Error><RequestId>r</RequestId></ErrorResponse>`}}}
	_, err := rds.New(awslite.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: s, Retryer: noWait()}).
		DescribeDBClusters(context.Background(), &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String("orders")})
	var notFound *rdstypes.DBClusterNotFoundFault
	if !errors.As(err, &notFound) || aws.ToString(notFound.Message) != "DBCluster orders not found." {
		t.Errorf("%v, want DBClusterNotFoundFault", err)
	}
	s = &script{answers: []answer{{status: 404, body: `<ErrorResponse><Error><Code>DBInstanceNotFound</Code></Error></ErrorResponse>`}}}
	_, err = rds.New(awslite.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: s, Retryer: noWait()}).
		DescribeDBInstances(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("shop")})
	var noInstance *rdstypes.DBInstanceNotFoundFault
	if !errors.As(err, &noInstance) {
		t.Errorf("%v, want DBInstanceNotFoundFault", err)
	}
}

// TestScheduleClientToken: a retried CreateSchedule is the same request,
// its ClientToken too, so a lost answer never makes two; target parameters
// the client cannot send are refused, not dropped.
func TestScheduleClientToken(t *testing.T) {
	s := &script{answers: []answer{{status: 500, body: `{"Message":"x"}`, header: http.Header{"X-Amzn-Errortype": {"InternalServerException"}}}, {status: 200, body: `{"ScheduleArn":"a"}`}}}
	c := scheduler.New(awslite.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: s, Retryer: noWait()})
	in := &scheduler.CreateScheduleInput{Name: aws.String("n"), ScheduleExpression: aws.String("at(2027-01-01T00:00:00)"),
		Target: &schedtypes.Target{Arn: aws.String("arn:aws:lambda:eu-west-1:123456789012:function:f")}}
	if _, err := c.CreateSchedule(context.Background(), in); err != nil || len(s.sent) != 2 {
		t.Fatalf("%v after %d attempts", err, len(s.sent))
	}
	token := func(body string) string {
		var v struct{ ClientToken string }
		_ = json.Unmarshal([]byte(body), &v)
		return v.ClientToken
	}
	if a, b := token(s.bodies[0]), token(s.bodies[1]); a == "" || a != b {
		t.Errorf("ClientTokens %q and %q, want one, the same", a, b)
	}
	in.Target.SqsParameters = &schedtypes.SqsParameters{MessageGroupId: aws.String("g")}
	s = &script{answers: []answer{{status: 200, body: `{}`}}}
	c = scheduler.New(awslite.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: s})
	if _, err := c.CreateSchedule(context.Background(), in); err == nil || len(s.sent) != 0 {
		t.Errorf("SqsParameters: %v after %d requests, want refused before any", err, len(s.sent))
	}
}

// TestScheduleNames: a name is one path segment of the API's characters,
// or nothing is sent.
func TestScheduleNames(t *testing.T) {
	for _, name := range []string{"", "../groups/x", "a/b", "a?b", "a%2Fb", strings.Repeat("a", 65)} {
		s := &script{answers: []answer{{status: 200, body: `{}`}}}
		c := scheduler.New(awslite.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: s})
		_, err1 := c.CreateSchedule(context.Background(), &scheduler.CreateScheduleInput{Name: aws.String(name)})
		_, err2 := c.UpdateSchedule(context.Background(), &scheduler.UpdateScheduleInput{Name: aws.String(name)})
		_, err3 := c.DeleteSchedule(context.Background(), &scheduler.DeleteScheduleInput{Name: aws.String(name)})
		if err1 == nil || err2 == nil || err3 == nil || len(s.sent) != 0 {
			t.Errorf("%q: %v, %v, %v after %d requests; want refused before any", name, err1, err2, err3, len(s.sent))
		}
	}
}

// TestCancelled: a cancelled call stops retrying and says why.
func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &script{answers: []answer{{err: refused}}}
	o := awslite.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: s, Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { cancel(); return time.Hour, nil })
	})}
	_, err := kms.New(o).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("k")})
	if !errors.Is(err, context.Canceled) || len(s.sent) != 1 || errcode.Of(awsclient.Classify(err, "KMS")) != errcode.Unavailable {
		t.Errorf("%v after %d attempts, want cancelled after one", err, len(s.sent))
	}
}
