package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/dbcreds/provisioner/local/testenv/faultproxy"
	"github.com/dbcreds/provisioner/local/testenv/motoserver"
	"github.com/dbcreds/provisioner/shared/expiry"
)

// Review E2: expiry findings, through the real bootstraps against moto.

// patchAs is a PATCH /secrets/name with body as the payments-team caller,
// its environment's entries replaced by env.
func patchAs(t *testing.T, name, body string, env map[string]string) apiAnswer {
	t.Helper()
	return apiCall(t, invocation{env: env, edit: func(e map[string]any) {
		e["body"] = body
		e["headers"].(map[string]any)["content-type"] = "application/json"
	}}, "PATCH", name, "payments-team", "", nil)
}

func expiresAtOf(t *testing.T, body string) *time.Time {
	t.Helper()
	var v struct {
		ExpiresAt *time.Time `json:"expiresAt"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return v.ExpiresAt
}

// TestExpiryMoveThatFailsLeavesCredentialForeverReviewE2: a PATCH that
// moves an expiry later writes the record first, then fails to reach the
// Scheduler (throttled, unreachable, the function timed out). The record
// now says the later time, the only schedule still says the earlier one.
// GET reports the later time. When the old schedule fires (and, being a
// one-time schedule, deletes itself), Verify finds it "early" and the
// function does nothing: no schedule is left for the recorded time, so the
// credential never expires while GET goes on promising that it will.
func TestExpiryMoveThatFailsLeavesCredentialForeverReviewE2(t *testing.T) {
	name := "app/payments/reviewe2-move-fails"
	a := apiCall(t, invocation{}, "POST", "", "payments-team", `{"name": "`+name+`", "engine": "mysql", "host": "h", "expiresAfter": "PT2H"}`, nil)
	if a.Status != 201 {
		t.Fatalf("create: %+v", a)
	}
	arn := arnOf(t, a.Body)
	first := *expiresAtOf(t, a.Body)
	payload := checkSchedule(t, scheduleOf(t, "http-api", arn), "HttpApiFunction", first)

	// The move fails on its way to the Scheduler: every schedule call
	// answers 500. (The group the local run makes first exists: answered
	// as the Scheduler does, without moto, which would replace the group
	// and its schedules.)
	target, _ := url.Parse(moto.Endpoint)
	forward := httputil.NewSingleHostReverseProxy(target)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/schedules/") {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-ErrorType", "InternalServerException")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"Message":"Unexpected error"}`))
			return
		}
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/schedule-groups/") {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-ErrorType", "ConflictException")
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"Message":"the group exists"}`))
			return
		}
		forward.ServeHTTP(w, r)
	}))
	defer failing.Close()
	p := patchAs(t, name, `{"expiresAfter": "P1D"}`, map[string]string{"AWS_ENDPOINT_URL_SCHEDULER": failing.URL})
	if p.Status < 500 {
		t.Fatalf("the PATCH with the Scheduler out of reach answered %+v, want a 5xx", p)
	}
	g := apiCall(t, invocation{}, "GET", name, "payments-team", "", nil)
	promised := expiresAtOf(t, g.Body)
	t.Logf("PATCH: %+v; schedule now: %v", p, scheduleOf(t, "http-api", arn) != nil)
	// A 500 may have been applied: the record keeps what the PATCH asked,
	// and the old schedule, firing early, makes the record's again.
	if promised == nil || promised.Equal(first) {
		t.Fatalf("after the failed PATCH: GET says expiresAt %v, want the PATCH's time", promised)
	}

	// The old schedule's time comes: the Scheduler deletes the one-time
	// schedule once it has handed the invocation to Lambda, and the
	// function runs.
	if _, err := motoserver.SchedulerClient(moto.Env(), "us-east-1").DeleteSchedule(context.Background(),
		&scheduler.DeleteScheduleInput{Name: aws.String(expiry.Name("http-api", arn)), GroupName: aws.String(scheduleGroup)}); err != nil {
		t.Fatal(err)
	}
	out, failed := expire(t, "HttpApiFunction", payload, nil)
	if failed != "" {
		t.Fatalf("the old schedule's invocation: %s", failed)
	}
	if out["outcome"] == "expired" {
		return // the credential went at the time the schedule held: fine
	}
	s := scheduleOf(t, "http-api", arn)
	g = apiCall(t, invocation{}, "GET", name, "payments-team", "", nil)
	now := expiresAtOf(t, g.Body)
	if s == nil {
		t.Fatalf("outcome %v, and no schedule is left for the secret, yet GET still says expiresAt %v: the credential never expires", out["outcome"], now)
	}
	if now == nil || aws.ToString(s.ScheduleExpression) != "at("+now.UTC().Format("2006-01-02T15:04:05")+")" {
		t.Fatalf("GET says expiresAt %v, the schedule %s", now, aws.ToString(s.ScheduleExpression))
	}
}

// TestExpiryRacesPatchReviewE2: the expiry takes no lock on the secret's
// name (PATCH and DELETE do) and its record's conditional write compares
// only the token, which a move keeps. An expiry that has verified its
// payload removes the credential even though a PATCH, meanwhile, moved the
// expiry a day out and answered 200 with the new time; the expiry then
// overwrites the PATCH's record and deletes the schedule the PATCH made.
func TestExpiryRacesPatchReviewE2(t *testing.T) {
	name := "app/payments/reviewe2-race-patch"
	a := apiCall(t, invocation{}, "POST", "", "payments-team", `{"name": "`+name+`", "engine": "mysql", "host": "h", "expiresAfter": "PT2H"}`, nil)
	if a.Status != 201 {
		t.Fatalf("create: %+v", a)
	}
	arn := arnOf(t, a.Body)
	payload := checkSchedule(t, scheduleOf(t, "http-api", arn), "HttpApiFunction", *expiresAtOf(t, a.Body))
	timePasses(t, "http-api", arn)

	// The expiry's Secrets Manager calls lag (the proxy holds each
	// DescribeSecret for 6 seconds before forwarding it): it has verified
	// the payload and read the secret's record; its removal is on the way.
	px, env := proxy(t, func(string, int) faultproxy.Fault { return faultproxy.Pass })
	px.Latency = func(op string) time.Duration {
		if op == "DescribeSecret" {
			return 6 * time.Second
		}
		return 0
	}
	type result struct {
		out    map[string]any
		failed string
	}
	done := make(chan result, 1)
	go func() {
		out, _ := runWith(t, invocation{function: "HttpApiFunction", event: "http-api-get.json", env: env, edit: func(e map[string]any) {
			for k := range e {
				delete(e, k)
			}
			e[expiry.PayloadKey] = map[string]any{"secretArn": payload.SecretARN, "via": payload.Via, "token": payload.Token}
		}})
		var r result
		switch {
		case out.InitError != nil:
			r.failed = "init: " + out.InitError.Message
		case out.Error != nil:
			r.failed = out.Error.Type + ": " + out.Error.Message
		default:
			json.Unmarshal(out.Response, &r.out)
		}
		done <- r
	}()
	deadline := time.Now().Add(20 * time.Second)
	for px.Attempts("DescribeSecret") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the expiry never described the secret")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Meanwhile the owner moves the expiry a day out: 200, the new time.
	p := patchAs(t, name, `{"expiresAfter": "P1D"}`, nil)
	moved := expiresAtOf(t, p.Body)
	if p.Status != 200 || moved == nil || time.Until(*moved) < 23*time.Hour {
		// Refusing the PATCH (the expiry is under way) would be right.
		t.Logf("the PATCH during the expiry: %+v", p)
		<-done
		return
	}
	r := <-done
	t.Logf("expiry: %v %s", r.out, r.failed)
	d := describeSecret(t, arn)
	if d.DeletedDate != nil {
		t.Errorf("PATCH answered 200 with expiresAt %v, yet the credential was removed by the expiry it replaced (deleted %v, outcome %v)",
			moved, d.DeletedDate, r.out["outcome"])
	}
	if s := scheduleOf(t, "http-api", arn); s == nil && d.DeletedDate == nil {
		t.Errorf("the PATCH's schedule was deleted by the expiry: the secret will never expire")
	}
	if strings.Contains(r.failed, "forbidden") {
		t.Logf("the expiry was refused: %s", r.failed)
	}
}
