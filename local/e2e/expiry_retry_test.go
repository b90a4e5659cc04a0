package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/local/testenv/motoserver"
	"github.com/dbcreds/provisioner/shared/expiry"
)

// switchable forwards TCP connections to addr while up; while down it
// closes each one at once, as a database out of reach does.
type switchable struct {
	ln net.Listener
	up atomic.Bool
}

func forwardTo(t *testing.T, addr string) *switchable {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &switchable{ln: ln}
	s.up.Store(true)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !s.up.Load() {
				c.Close()
				continue
			}
			go func() {
				defer c.Close()
				d, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer d.Close()
				go io.Copy(d, c)
				io.Copy(c, d)
			}()
		}
	}()
	return s
}

func (s *switchable) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// TestExpiryRetriesItself: an expiry whose database is out of reach does
// not fail into Lambda's two quick retries; it schedules its own retry, on
// the secret's other schedule name, and meanwhile neither PATCH nor DELETE
// acts on the credential. Once the database is back, the retry removes it.
func TestExpiryRetriesItself(t *testing.T) {
	s := dbServer(t, "postgres")
	fw := forwardTo(t, s.Addr())
	master := masterSecretAt(t, "masters/expiry/master_retry", "127.0.0.1", fw.port())
	name := "app/payments/expiry-retried"
	body := fmt.Sprintf(`{"name": %q, "engine": "postgres", "dbname": %q, "username": "expiry_retried", "masterSecretArn": %q, "createDatabaseUser": true, "expiresAfter": "PT2H"}`,
		name, dbserver.Database, master)
	a := apiCall(t, invocation{overrides: openGrants}, "POST", "", "payments-team", body, nil)
	if a.Status != 201 {
		t.Fatalf("create: %+v", a)
	}
	arn := arnOf(t, a.Body)
	payload := checkSchedule(t, scheduleOf(t, "http-api", arn), "HttpApiFunction", *expiresAtOf(t, a.Body))
	timePasses(t, "http-api", arn)

	fw.up.Store(false)
	before := time.Now()
	out, failed := expire(t, "HttpApiFunction", payload, openGrants)
	if failed != "" || out["outcome"] != "retrying" {
		t.Fatalf("with the database out of reach: %v %s, want retrying", out, failed)
	}
	var retryAt time.Time
	if s, _ := out["retryAt"].(string); s != "" {
		retryAt, _ = time.Parse(time.RFC3339, s)
	}
	if retryAt.Before(before.Add(5*time.Minute-time.Second)) || retryAt.After(time.Now().Add(5*time.Minute)) {
		t.Fatalf("retryAt %v, want five minutes on", out["retryAt"])
	}
	retry, err := motoserver.SchedulerClient(moto.Env(), "us-east-1").GetSchedule(context.Background(),
		&scheduler.GetScheduleInput{Name: aws.String(expiry.RetryName("http-api", arn)), GroupName: aws.String(scheduleGroup)})
	if err != nil {
		t.Fatalf("the retry's schedule: %v", err)
	}
	next := checkSchedule(t, retry, "HttpApiFunction", retryAt)
	if next.Token != payload.Token || next.SecretARN != arn || next.Attempt != 1 {
		t.Fatalf("the retry's payload %+v", next)
	}
	for _, r := range []apiAnswer{
		apiSend(t, "PATCH", name, `{"expiresAfter": "P1D"}`),
		apiCall(t, invocation{}, "DELETE", name, "payments-team", "", map[string]string{"retainDatabaseUser": "true"}),
	} {
		if r.Status != 409 || !strings.Contains(r.Body, "expiry") {
			t.Errorf("while the expiry retries: %+v, want 409", r)
		}
	}
	if ok, err := s.UserExists("expiry_retried"); err != nil || !ok {
		t.Fatalf("the user went while its database was out of reach: %v %v", ok, err)
	}
	if d := describeSecret(t, arn); d.DeletedDate != nil {
		t.Fatal("the secret went while its user could not")
	}

	fw.up.Store(true)
	out, failed = expire(t, "HttpApiFunction", next, openGrants)
	if failed != "" || out["outcome"] != "expired" {
		t.Fatalf("the retry: %v %s", out, failed)
	}
	if ok, _ := s.UserExists("expiry_retried"); ok {
		t.Error("the retry left the user")
	}
	if d := describeSecret(t, arn); d.DeletedDate == nil {
		t.Error("the retry left the secret")
	}
	if scheduleOf(t, "http-api", arn) != nil {
		t.Error("a schedule is left")
	}
	if _, err := motoserver.SchedulerClient(moto.Env(), "us-east-1").GetSchedule(context.Background(),
		&scheduler.GetScheduleInput{Name: aws.String(expiry.RetryName("http-api", arn)), GroupName: aws.String(scheduleGroup)}); err == nil {
		t.Error("the retry's schedule is left")
	}
	var again map[string]any
	if again, failed = expire(t, "HttpApiFunction", next, openGrants); failed != "" || again["outcome"] != "done" {
		t.Errorf("a second delivery: %v %s", again, failed)
	}
}
