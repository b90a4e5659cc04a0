package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/local/testenv/faultproxy"
)

// Rotation switched on through each trigger's real bootstrap, against moto
// with the rotation functions registered in its own Lambda.

func rotationFunction(t *testing.T, name string) string {
	t.Helper()
	arn, err := moto.RotationFunction("us-east-1", name)
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

// rotationOf is what DescribeSecret says of a secret's rotation.
func rotationOf(t *testing.T, id string) (enabled bool, function, schedule string, days int64) {
	t.Helper()
	d := describeSecret(t, id)
	if r := d.RotationRules; r != nil {
		schedule, days = aws.ToString(r.ScheduleExpression), aws.ToInt64(r.AutomaticallyAfterDays)
		if r.Duration != nil {
			schedule += " for " + aws.ToString(r.Duration)
		}
	}
	return aws.ToBool(d.RotationEnabled), aws.ToString(d.RotationLambdaARN), schedule, days
}

// TestCustomResourceRotation: the stack's rotation properties turn rotation
// on at Create, change it in place at Update, and turn it off when they are
// removed; invalid rules fail the Create before anything is made.
func TestCustomResourceRotation(t *testing.T) {
	pg, pg2 := rotationFunction(t, "cfn-rotate-pg"), rotationFunction(t, "cfn-rotate-pg-v2")
	overrides := map[string]string{"AllowedRotationFunctions": "arn:aws:lambda:us-east-1:123456789012:function:cfn-rotate-*"}
	name := "app/rotation/cfn"
	props := func(rotation map[string]any) func(map[string]any) {
		return func(p map[string]any) {
			for k := range p {
				if k != "ServiceToken" {
					delete(p, k)
				}
			}
			p["Name"], p["Engine"], p["Host"] = name, "postgres", "orders.internal"
			for k, v := range rotation {
				p[k] = v
			}
		}
	}
	weekly := map[string]any{"RotationLambdaArn": pg, "RotationRules": map[string]any{"ScheduleExpression": "cron(0 2 ? * SUN *)", "Duration": "3h"}}
	out, _ := run(t, "CustomResourceFunction", "custom-resource-create.json", overrides, func(e map[string]any) {
		e["RequestId"] = "0f0f0f0f-0000-4000-8000-000000000001"
		props(weekly)(e["ResourceProperties"].(map[string]any))
	})
	created := answerOf(t, out)
	if created.Status != "SUCCESS" || created.Data["RotationEnabled"] != "true" {
		t.Fatalf("create: %+v", created)
	}
	if on, fn, schedule, _ := rotationOf(t, created.PhysicalResourceId); !on || fn != pg || schedule != "cron(0 2 ? * SUN *) for 3h" {
		t.Fatalf("after create the secret rotates %v with %s on %s", on, fn, schedule)
	}

	update := func(requestID string, old, now map[string]any) cfnAnswer {
		out, _ := run(t, "CustomResourceFunction", "custom-resource-update.json", overrides, func(e map[string]any) {
			e["RequestId"], e["PhysicalResourceId"] = requestID, created.PhysicalResourceId
			props(old)(e["OldResourceProperties"].(map[string]any))
			props(now)(e["ResourceProperties"].(map[string]any))
		})
		return answerOf(t, out)
	}
	daily := map[string]any{"RotationLambdaArn": pg2, "RotationRules": map[string]any{"AutomaticallyAfterDays": "1"}}
	if a := update("0f0f0f0f-0000-4000-8000-000000000002", weekly, daily); a.Status != "SUCCESS" || a.Data["RotationEnabled"] != "true" || a.Data["NextRotationDate"] == "" {
		t.Fatalf("update: %+v", a)
	}
	if on, fn, _, days := rotationOf(t, created.PhysicalResourceId); !on || fn != pg2 || days != 1 {
		t.Fatalf("after the update the secret rotates %v with %s every %d days", on, fn, days)
	}
	if a := update("0f0f0f0f-0000-4000-8000-000000000003", daily, nil); a.Status != "SUCCESS" || a.Data["RotationEnabled"] != "false" {
		t.Fatalf("update removing rotation: %+v", a)
	}
	if on, _, _, _ := rotationOf(t, created.PhysicalResourceId); on {
		t.Fatal("rotation is still on after its properties were removed")
	}

	out, _ = run(t, "CustomResourceFunction", "custom-resource-create.json", overrides, func(e map[string]any) {
		e["RequestId"] = "0f0f0f0f-0000-4000-8000-000000000004"
		name = "app/rotation/cfn_invalid"
		props(map[string]any{"RotationLambdaArn": pg, "RotationRules": map[string]any{"ScheduleExpression": "cron(0 */2 * * ? *)"}})(e["ResourceProperties"].(map[string]any))
	})
	if a := answerOf(t, out); a.Status != "FAILED" || !strings.Contains(a.Reason, "RotationRules.ScheduleExpression") || !strings.Contains(a.Reason, "every 4 hours") {
		t.Fatalf("invalid rules: %+v", a)
	}
	notCreated(t, "app/rotation/cfn_invalid")
}

// TestExampleStackDatabaseUserAndRotation is the README's whole example: a
// database, a user made by the master user, and rotation by the
// deployment's default function for the engine, on the default schedule.
func TestExampleStackDatabaseUserAndRotation(t *testing.T) {
	s := dbServer(t, "postgres")
	master := masterSecretFor(t, "masters/rotation/master_example", s)
	pg := rotationFunction(t, "SecretsManagerRDSPostgreSQLRotationMultiUser")
	overrides := map[string]string{"RotationFunctionPostgreSQL": pg, "RotationSchedule": "rate(30 days)", "RotationWindow": "4h"}
	out, _ := run(t, "CustomResourceFunction", "custom-resource-create.json", overrides, func(e map[string]any) {
		e["RequestId"] = "1e1e1e1e-0000-4000-8000-000000000001"
		p := e["ResourceProperties"].(map[string]any)
		p["Name"], p["Engine"], p["Host"], p["Port"], p["DbName"] = "app/rotation/example", "postgres", s.Host, strconv.Itoa(s.Port), dbserver.Database
		p["MasterSecretArn"], p["CreateDatabaseUser"], p["Username"] = master, "true", "orders_rotating"
		delete(p, "Ssl")
	})
	a := answerOf(t, out)
	if a.Status != "SUCCESS" || a.Data["RotationEnabled"] != "true" {
		t.Fatalf("create: %+v", a)
	}
	if on, fn, schedule, _ := rotationOf(t, a.PhysicalResourceId); !on || fn != pg || schedule != "rate(30 days) for 4h" {
		t.Fatalf("the secret rotates %v with %s on %s", on, fn, schedule)
	}
	if err := asSecret(t, "postgres", a.PhysicalResourceId, "SELECT 1"); err != nil {
		t.Fatalf("the user cannot log in: %v", err)
	}
	if v, _ := storedSecret(t, "us-east-1", a.PhysicalResourceId); v["masterarn"] != master {
		t.Fatalf("the multi-user rotation function reads masterarn; the secret has %v", v["masterarn"])
	}

	// The same deployment: a resource that opts out gets no rotation.
	out, _ = run(t, "CustomResourceFunction", "custom-resource-create.json", overrides, func(e map[string]any) {
		e["RequestId"] = "1e1e1e1e-0000-4000-8000-000000000002"
		p := e["ResourceProperties"].(map[string]any)
		p["Name"], p["Engine"], p["Host"], p["RotationEnabled"] = "app/rotation/example_optout", "postgres", "orders.internal", "false"
	})
	if a := answerOf(t, out); a.Status != "SUCCESS" || a.Data["RotationEnabled"] != "false" {
		t.Fatalf("opted out: %+v", a)
	}
	if on, fn, _, _ := rotationOf(t, "app/rotation/example_optout"); on || fn != "" {
		t.Fatalf("the opted-out secret rotates %v with %q", on, fn)
	}
}

// TestHttpApiRotation: the deployment's default applies; a caller opts out;
// invalid rules are a 400 that makes nothing; a retried request with the
// same Idempotency-Key rotates nothing again.
func TestHttpApiRotation(t *testing.T) {
	s := dbServer(t, "mariadb")
	master := masterSecretFor(t, "masters/rotation/master_api", s)
	maria := rotationFunction(t, "api-rotate-mariadb")
	overrides := map[string]string{"RotationFunctionMariaDB": maria, "RotationSchedule": "14", "DatabaseUserGrants": openGrants["DatabaseUserGrants"]}
	post := func(key, body string) (int, string) {
		out, _ := runWith(t, invocation{function: "HttpApiFunction", event: "http-api-create.json", overrides: overrides, edit: func(e map[string]any) {
			e["body"] = body
			e["headers"].(map[string]any)["idempotency-key"] = key
		}})
		var resp struct {
			StatusCode int
			Body       string
		}
		json.Unmarshal(out.Response, &resp)
		return resp.StatusCode, resp.Body
	}
	body := func(name, extra string) string {
		return fmt.Sprintf(`{"name": %q, "engine": "mariadb", "host": %q, "port": %d, "dbname": %q, "masterSecretArn": %q, "createDatabaseUser": true%s}`,
			name, s.Host, s.Port, dbserver.Database, master, extra)
	}
	status, first := post("rotation-key-1", body("app/rotation/api", ""))
	var result struct {
		Arn      string
		Rotation struct {
			Enabled           bool
			RotationLambdaArn string
			Rules             struct{ AutomaticallyAfterDays int }
			NextRotationDate  string
		}
	}
	json.Unmarshal([]byte(first), &result)
	if status != 201 || !result.Rotation.Enabled || result.Rotation.RotationLambdaArn != maria || result.Rotation.Rules.AutomaticallyAfterDays != 14 || result.Rotation.NextRotationDate == "" {
		t.Fatalf("%d %s", status, first)
	}
	versions := versionsOf(t, result.Arn)
	if status, again := post("rotation-key-1", body("app/rotation/api", "")); status != 201 || again != first {
		t.Fatalf("the retry: %d %s", status, again)
	}
	if n := versionsOf(t, result.Arn); n != versions {
		t.Fatalf("the retry rotated again: %d versions, %d before", n, versions)
	}
	if err := asSecret(t, "mariadb", result.Arn, "SELECT 1"); err != nil {
		t.Fatalf("the user cannot log in after rotation was switched on: %v", err)
	}
	out, _ := runWith(t, invocation{function: "HttpApiFunction", event: "http-api-get.json", overrides: overrides, edit: func(e map[string]any) {
		e["pathParameters"] = map[string]any{"name": "app/rotation/api"}
	}})
	if !strings.Contains(string(out.Response), `\"rotation\":{\"enabled\":true,\"rotationLambdaArn\":\"`+maria+`\"`) {
		t.Fatalf("GET /secrets/{name} does not show the rotation: %s", out.Response)
	}

	status, resp := post("rotation-key-2", body("app/rotation/api_optout", `, "rotationEnabled": false`))
	if status != 201 || strings.Contains(resp, `"rotation"`) {
		t.Fatalf("opt-out: %d %s", status, resp)
	}
	if on, fn, _, _ := rotationOf(t, "app/rotation/api_optout"); on || fn != "" {
		t.Fatalf("the opted-out secret rotates %v with %q", on, fn)
	}

	for i, extra := range []string{
		`, "rotationRules": {"scheduleExpression": "rate(3 hours)"}`,
		`, "rotationRules": {"automaticallyAfterDays": 30, "duration": "2h"}`,
		`, "rotationLambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:not-allowed"`,
	} {
		name := "app/rotation/api_invalid_" + strconv.Itoa(i)
		status, resp := post("rotation-invalid-"+strconv.Itoa(i), body(name, extra))
		if status != 400 && status != 403 || !strings.Contains(resp, "rotation") {
			t.Errorf("%s: %d %s", extra, status, resp)
		}
		notCreated(t, name)
	}
}

// TestEventBridgeRotation: an event's rotation fields switch rotation on.
// The first delivery's RotateSecret takes effect but its answer is lost;
// the redelivery finds rotation on and calls RotateSecret no more. An
// invalid window is a permanent failure that makes nothing.
func TestEventBridgeRotation(t *testing.T) {
	fn := rotationFunction(t, "events-rotate")
	p, env := proxy(t, firstFail("RotateSecret", 1, faultproxy.LoseResponse))
	env["ROTATION_FUNCTIONS_ALLOWED"], env["AWS_MAX_ATTEMPTS"] = fn, "1"
	send := func(id, name, rotation string) (map[string]any, string, string) {
		result, errType, msg, _ := deliver(t, "eventbridge-request.json", func(e map[string]any) {
			e["id"] = id
			var detail map[string]any
			json.Unmarshal([]byte(`{"name": "`+name+`", "engine": "postgres", "host": "db.internal", `+rotation+`}`), &detail)
			e["detail"] = detail
		}, env)
		return result, errType, msg
	}
	rotation := `"rotationLambdaArn": "` + fn + `", "rotationRules": {"scheduleExpression": "rate(6 hours)", "duration": "2h"}, "rotateImmediately": "true"`
	if _, errType, msg := send("rotation-event-1", "app/rotation/event", rotation); errType != "Retryable.upstream" {
		t.Fatalf("the first delivery, its RotateSecret answer lost: %q %s", errType, msg)
	}
	result, errType, msg := send("rotation-event-1", "app/rotation/event", rotation)
	if errType != "" {
		t.Fatalf("the redelivery: %s %s", errType, msg)
	}
	if r, _ := result["rotation"].(map[string]any); r == nil || r["enabled"] != true || r["rotationLambdaArn"] != fn {
		t.Fatalf("result %v", result)
	}
	if on, got, schedule, _ := rotationOf(t, "app/rotation/event"); !on || got != fn || schedule != "rate(6 hours) for 2h" {
		t.Fatalf("the secret rotates %v with %s on %s", on, got, schedule)
	}
	calls := p.Bodies("RotateSecret")
	if len(calls) != 1 || !strings.Contains(calls[0], `"RotateImmediately":true`) || !strings.Contains(calls[0], `"ClientRequestToken"`) {
		t.Fatalf("RotateSecret calls: %q", calls)
	}

	// The deployment's default for the engine, and a request opting out.
	env["ROTATION_FUNCTION_POSTGRESQL"], env["ROTATION_SCHEDULE"] = fn, "rate(2 days)"
	if _, errType, msg := send("rotation-event-3", "app/rotation/event_default", `"port": 5432`); errType != "" {
		t.Fatalf("%s %s", errType, msg)
	}
	if on, got, schedule, _ := rotationOf(t, "app/rotation/event_default"); !on || got != fn || schedule != "rate(2 days)" {
		t.Fatalf("by default the secret rotates %v with %s on %s", on, got, schedule)
	}
	if _, errType, msg := send("rotation-event-4", "app/rotation/event_optout", `"rotationEnabled": "false"`); errType != "" {
		t.Fatalf("%s %s", errType, msg)
	}
	if on, got, _, _ := rotationOf(t, "app/rotation/event_optout"); on || got != "" {
		t.Fatalf("the opted-out secret rotates %v with %q", on, got)
	}

	_, errType, msg = send("rotation-event-2", "app/rotation/event_invalid", `"rotationLambdaArn": "`+fn+`", "rotationRules": {"scheduleExpression": "rate(6 hours)", "duration": "7h"}`)
	if !strings.HasPrefix(errType, "Permanent.") || !strings.Contains(msg, "rotationRules.duration") {
		t.Fatalf("invalid window: %s %s", errType, msg)
	}
	notCreated(t, "app/rotation/event_invalid")
}

// TestReadmeRotationStack sends the README's whole stack (database, user,
// rotation) through the custom resource's bootstrap, its intrinsics
// resolved to a local PostgreSQL, its master secret and a rotation function
// in moto of the name the stack gives its own.
func TestReadmeRotationStack(t *testing.T) {
	s := dbServer(t, "postgres")
	master := rdsMaster(t, "orders-readme", s) // an Aurora cluster's, as the stack's
	doc := readmeStack(t, "RotationRules")
	var fn string
	for _, r := range mappingOf(valueOf(doc, "Resources")) {
		if valueOf(r, "Type").Value == "AWS::Serverless::Application" {
			fn = rotationFunction(t, valueOf(valueOf(valueOf(r, "Properties"), "Parameters"), "functionName").Value)
		}
	}
	intrinsics := map[string]string{
		"!ImportValue dbcreds-provisioner-ServiceToken":    readmeIntrinsics["!ImportValue dbcreds-provisioner-ServiceToken"],
		"!GetAtt OrdersCluster.Endpoint.Address":           s.Host,
		"!GetAtt OrdersCluster.Endpoint.Port":              strconv.Itoa(s.Port),
		"!GetAtt OrdersCluster.MasterUserSecret.SecretArn": master,
		"!GetAtt OrdersRotation.Outputs.RotationLambdaARN": fn,
	}
	var props map[string]any
	for _, r := range mappingOf(valueOf(doc, "Resources")) {
		if strings.HasPrefix(valueOf(r, "Type").Value, "Custom::") {
			props = asCloudFormation(t, valueOf(r, "Properties"), intrinsics).(map[string]any)
		}
	}
	props["Name"], props["DbName"] = "app/readme/rotating", dbserver.Database // the tests' own database
	overrides := map[string]string{"AllowedRotationFunctions": fn}
	out, _ := run(t, "CustomResourceFunction", "custom-resource-create.json", overrides, func(e map[string]any) {
		e["RequestId"] = "2d2d2d2d-0000-4000-8000-000000000001"
		e["ResourceProperties"] = props
	})
	a := answerOf(t, out)
	if a.Status != "SUCCESS" || a.Data["RotationEnabled"] != "true" {
		t.Fatalf("the README's stack answered %+v", a)
	}
	if on, got, schedule, _ := rotationOf(t, a.PhysicalResourceId); !on || got != fn || schedule != "cron(0 3 ? * SUN *) for 2h" {
		t.Fatalf("the secret rotates %v with %s on %s", on, got, schedule)
	}
	if err := asSecret(t, "postgres", a.PhysicalResourceId, "SELECT 1"); err != nil {
		t.Fatalf("the user cannot log in: %v", err)
	}
}
