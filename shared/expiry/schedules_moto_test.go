package expiry_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/dbcreds/provisioner/local/testenv/motoserver"
	litescheduler "github.com/dbcreds/provisioner/shared/awslite/scheduler"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/expiry"
	"github.com/dbcreds/provisioner/shared/userledger"
)

const (
	table  = "expiry-records"
	group  = "expiry-group"
	target = "arn:aws:lambda:us-east-1:123456789012:function:maker"
)

var server *motoserver.Server

func TestMain(m *testing.M) {
	motoserver.Main(m, func(s *motoserver.Server) error {
		server = s
		if err := motoserver.CreateTable(context.Background(), s.Env(), "us-east-1", table, "id"); err != nil {
			return err
		}
		return motoserver.CreateScheduleGroup(context.Background(), s.Env(), "us-east-1", group)
	})
}

func schedules(t *testing.T) (*expiry.Schedules, *userledger.Ledger, *litescheduler.Client) {
	t.Helper()
	if server == nil {
		t.Skip("needs moto_server; not in -short mode")
	}
	dynamo, err := userledger.ClientFromEnvironment(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	ledger := userledger.New(dynamo, table)
	env := server.Env()
	// The functions' own client makes the schedules; the SDK's reads them
	// (payloadOf).
	client := litescheduler.New(litescheduler.Options{Region: "us-east-1", BaseEndpoint: aws.String(env["AWS_ENDPOINT_URL_SCHEDULER"]),
		Credentials: credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], "")})
	s, err := expiry.New(client, ledger, expiry.Settings{Group: group, RoleARN: "arn:aws:iam::123456789012:role/sched",
		DeadLetterARN: "arn:aws:sqs:us-east-1:123456789012:dlq", Target: target})
	if err != nil {
		t.Fatal(err)
	}
	return s, ledger, client
}

func payloadOf(t *testing.T, via, arn string) (expiry.Payload, string) {
	t.Helper()
	out, err := motoserver.SchedulerClient(server.Env(), "us-east-1").GetSchedule(context.Background(), &scheduler.GetScheduleInput{Name: aws.String(expiry.Name(via, arn)), GroupName: aws.String(group)})
	if err != nil {
		return expiry.Payload{}, ""
	}
	var inv expiry.Invocation
	json.Unmarshal([]byte(aws.ToString(out.Target.Input)), &inv)
	return *inv.Expiry, aws.ToString(out.ScheduleExpression)
}

// TestSetMovesOneSchedule: a second Set moves the one schedule and keeps
// its token; Verify proves only that token, early or due; Finish makes a
// second delivery a success; Cancel removes schedule and record.
func TestSetMovesOneSchedule(t *testing.T) {
	s, ledger, _ := schedules(t)
	ctx := context.Background()
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/moved-AbCdEf"
	first := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.Set(ctx, expiry.Plan{Via: "http-api", By: "alice", SecretARN: arn, At: first}); err != nil {
		t.Fatal(err)
	}
	p1, expr := payloadOf(t, "http-api", arn)
	if expr != "at(2030-01-02T03:04:05)" || p1.SecretARN != arn || p1.Via != "http-api" {
		t.Fatalf("%s %+v", expr, p1)
	}
	later := first.Add(48 * time.Hour)
	if err := s.Set(ctx, expiry.Plan{Via: "http-api", By: "alice", SecretARN: arn, At: later, Force: true}); err != nil {
		t.Fatal(err)
	}
	p2, expr := payloadOf(t, "http-api", arn)
	if expr != "at(2030-01-04T03:04:05)" || p2 != p1 {
		t.Fatalf("moved: %s %+v, want the same payload %+v", expr, p2, p1)
	}
	if at, err := s.At(ctx, "http-api", arn); err != nil || !at.Equal(later) {
		t.Fatalf("At: %v %v", at, err)
	}
	for _, forged := range []expiry.Payload{
		{SecretARN: arn, Via: "http-api", Token: "0000000000000000000000000000000000000000000000000000000000000000"},
		{SecretARN: arn, Via: "eventbridge", Token: p1.Token},
		{SecretARN: arn + "x", Via: "http-api", Token: p1.Token},
		{SecretARN: arn, Via: "http-api#expiry", Token: p1.Token},
		{SecretARN: arn, Via: "http-api", Token: p1.Token[:63]},
	} {
		if _, err := s.Verify(ctx, forged, later); errcode.Of(err) != errcode.Forbidden {
			t.Errorf("%+v: %v, want forbidden", forged, err)
		}
	}
	if due, err := s.Verify(ctx, p1, first); err != nil || !due.Early {
		t.Fatalf("at the old time: %+v %v, want early", due, err)
	}
	due, err := s.Verify(ctx, p1, later.Add(-30*time.Second))
	if err != nil || due.Early || !due.Force || due.By != "alice" || due.Expired {
		t.Fatalf("due: %+v %v", due, err)
	}
	if err := s.Finish(ctx, "http-api", arn, due.Expiry); err != nil {
		t.Fatal(err)
	}
	if p, _ := payloadOf(t, "http-api", arn); p != (expiry.Payload{}) {
		t.Fatal("Finish left the schedule")
	}
	if again, err := s.Verify(ctx, p1, later); err != nil || !again.Expired {
		t.Fatalf("a second delivery: %+v %v", again, err)
	}
	if at, _ := s.At(ctx, "http-api", arn); at != nil {
		t.Fatalf("an expired secret's At: %v", at)
	}
	if err := s.Cancel(ctx, "http-api", arn); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := ledger.Expiry(ctx, "http-api", arn); found {
		t.Fatal("Cancel left the record")
	}
	if err := s.Cancel(ctx, "http-api", arn); err != nil {
		t.Fatalf("a second Cancel: %v", err)
	}
}

// TestBegunExpiryHoldsItsRecord: once an expiry begins, nothing moves or
// cancels it, and a record read before a move cannot be begun.
func TestBegunExpiryHoldsItsRecord(t *testing.T) {
	s, ledger, _ := schedules(t)
	ctx := context.Background()
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/begun-AbCdEf"
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.Set(ctx, expiry.Plan{Via: "http-api", By: "alice", SecretARN: arn, At: at}); err != nil {
		t.Fatal(err)
	}
	read, _, _ := ledger.Expiry(ctx, "http-api", arn)
	if err := s.Set(ctx, expiry.Plan{Via: "http-api", By: "alice", SecretARN: arn, At: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if moved, err := s.Begin(ctx, "http-api", arn, read, time.Now()); err != nil || !moved {
		t.Fatalf("beginning the record read before a move: moved %v, %v", moved, err)
	}
	now, _, _ := ledger.Expiry(ctx, "http-api", arn)
	if moved, err := s.Begin(ctx, "http-api", arn, now, time.Now()); err != nil || moved {
		t.Fatalf("Begin: moved %v, %v", moved, err)
	}
	for what, err := range map[string]error{
		"Set":    s.Set(ctx, expiry.Plan{Via: "http-api", By: "alice", SecretARN: arn, At: at.Add(2 * time.Hour)}),
		"Cancel": s.Cancel(ctx, "http-api", arn),
	} {
		if !errors.Is(err, expiry.ErrExpiring) || errcode.Of(err) != errcode.Conflict {
			t.Errorf("%s during an expiry: %v, want a conflict", what, err)
		}
	}
	if rec, _, _ := ledger.Expiry(ctx, "http-api", arn); !rec.Expiring || !rec.At.Equal(at.Add(time.Hour)) {
		t.Fatalf("the record: %+v", rec)
	}
}

// TestRacingSetsAgree: Sets of one secret at once leave the record and
// the schedule with one token.
func TestRacingSetsAgree(t *testing.T) {
	s, ledger, _ := schedules(t)
	ctx := context.Background()
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/raced-AbCdEf"
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Set(ctx, expiry.Plan{Via: "eventbridge", SecretARN: arn, At: time.Date(2030, 1, 1, 0, i, 0, 0, time.UTC)})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rec, found, err := ledger.Expiry(ctx, "eventbridge", arn)
	p, _ := payloadOf(t, "eventbridge", arn)
	if err != nil || !found || rec.Token != p.Token {
		t.Fatalf("record %+v, schedule's token %s", rec, p.Token)
	}
}

func TestNewNeedsItsParts(t *testing.T) {
	for _, s := range []expiry.Settings{
		{RoleARN: "r", DeadLetterARN: "q", Target: target},
		{Group: "g", DeadLetterARN: "q", Target: target},
		{Group: "g", RoleARN: "r", Target: target},
		{Group: "g", RoleARN: "r", DeadLetterARN: "q", Target: "arn:aws:sqs:us-east-1:123456789012:function:x"},
		{Group: "g", RoleARN: "r", DeadLetterARN: "q", Target: "arn:aws:lambda:us-east-1:123456789012:function:"},
	} {
		if _, err := expiry.New(litescheduler.New(litescheduler.Options{}), userledger.New(nil, ""), s); err == nil {
			t.Errorf("%+v: started", s)
		}
	}
}
