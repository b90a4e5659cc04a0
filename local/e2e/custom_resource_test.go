package e2e

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/emulate/invoke"
	"github.com/dbcreds/provisioner/local/testenv/motoserver"
)

// The custom resource's lifecycle through the real bootstrap: what
// CloudFormation receives at its ResponseURL, and what Secrets Manager holds.

type cfnAnswer struct {
	Status, Reason, PhysicalResourceId string
	NoEcho                             bool
	Data                               map[string]string
}

func answerOf(t *testing.T, out *invoke.Outcome) cfnAnswer {
	t.Helper()
	if out.InitError != nil || out.Error != nil {
		t.Fatalf("the function failed: %+v %+v", out.InitError, out.Error)
	}
	var a cfnAnswer
	if err := json.Unmarshal(out.CloudFormation, &a); err != nil {
		t.Fatalf("CloudFormation received %q: %v", out.CloudFormation, err)
	}
	return a
}

// customResource runs a custom-resource event for the secret name, with a
// request id of its own and, when id is set, that physical id.
func customResource(t *testing.T, event, requestID, name, id string, edit func(props map[string]any)) cfnAnswer {
	t.Helper()
	out, _ := run(t, "CustomResourceFunction", event, nil, func(e map[string]any) {
		e["RequestId"] = requestID
		if id != "" {
			e["PhysicalResourceId"] = id
		}
		for _, key := range []string{"ResourceProperties", "OldResourceProperties"} {
			if props, ok := e[key].(map[string]any); ok && name != "" {
				props["Name"] = name
			}
		}
		if edit != nil {
			edit(e["ResourceProperties"].(map[string]any))
		}
	})
	return answerOf(t, out)
}

func describeSecret(t *testing.T, id string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	out, err := secretsClient(t, "us-east-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tagsOf(d *secretsmanager.DescribeSecretOutput) map[string]string {
	tags := map[string]string{}
	for _, tag := range d.Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return tags
}

func replicaRegions(d *secretsmanager.DescribeSecretOutput) string {
	var regions []string
	for _, r := range d.ReplicationStatus {
		regions = append(regions, aws.ToString(r.Region))
	}
	return strings.Join(regions, ",")
}

func TestCustomResourceGeneratedName(t *testing.T) {
	first := answerOf(t, mustRun(t, "custom-resource-create-generated-name.json"))
	if first.Status != "SUCCESS" || !strings.HasPrefix(first.Data["Name"], "app/orders-ReportingDbSecret-") ||
		len(first.Data["Name"]) != len("app/orders-ReportingDbSecret-")+12 || first.PhysicalResourceId != first.Data["Arn"] {
		t.Fatalf("answer %+v", first)
	}
	again := answerOf(t, mustRun(t, "custom-resource-create-generated-name.json"))
	if again.PhysicalResourceId != first.PhysicalResourceId || again.Data["VersionId"] != first.Data["VersionId"] {
		t.Fatalf("a retried create answered %+v, not %+v", again, first)
	}
}

func mustRun(t *testing.T, event string) *invoke.Outcome {
	out, _ := run(t, "CustomResourceFunction", event, nil, nil)
	return out
}

// TestCustomResourceUpdateInPlace: a host change keeps the password; a tag
// is added and one removed; a replica is added.
func TestCustomResourceUpdateInPlace(t *testing.T) {
	name := "app/e2e/update-in-place"
	created := customResource(t, "custom-resource-create.json", "11111111-0000-4000-8000-000000000001", name, "", nil)
	before, _ := storedSecret(t, "us-east-1", created.PhysicalResourceId)

	updated := customResource(t, "custom-resource-update.json", "11111111-0000-4000-8000-000000000002", name, created.PhysicalResourceId, nil)
	if updated.Status != "SUCCESS" || updated.PhysicalResourceId != created.PhysicalResourceId || updated.Data["VersionId"] == created.Data["VersionId"] {
		t.Fatalf("update answered %+v", updated)
	}
	after, value := storedSecret(t, "us-east-1", created.PhysicalResourceId)
	if after["host"] != "orders-v2.cluster-c1x2y3z4.us-east-1.rds.amazonaws.com" || after["dbClusterIdentifier"] != "orders-v2" ||
		after["password"] != before["password"] || after["username"] != "orders_app" {
		t.Fatalf("stored %v; want the new host and the same password", after)
	}
	if aws.ToString(value.VersionId) != updated.Data["VersionId"] {
		t.Fatalf("current version %s, CloudFormation was told %s", aws.ToString(value.VersionId), updated.Data["VersionId"])
	}
	d := describeSecret(t, created.PhysicalResourceId)
	tags := tagsOf(d)
	if tags["team"] != "orders" || tags["cost-center"] != "cc-1042" || tags["environment"] != "" || tags["provisioned-via"] != "cloudformation" {
		t.Fatalf("tags %v", tags)
	}
	if got := replicaRegions(d); got != "eu-west-1,eu-central-1" && got != "eu-central-1,eu-west-1" {
		t.Fatalf("replicas %s, want eu-west-1 and eu-central-1", got)
	}
	replica, _ := storedSecret(t, "eu-central-1", name)
	if replica["host"] != after["host"] {
		t.Fatalf("the new replica holds %v", replica)
	}
}

// TestCustomResourceReplacement: a new name is a new secret and a new
// physical id; CloudFormation then deletes the old one.
func TestCustomResourceReplacement(t *testing.T) {
	created := customResource(t, "custom-resource-create.json", "22222222-0000-4000-8000-000000000001", "app/e2e/replace-old", "", nil)
	replaced := customResource(t, "custom-resource-update-replace.json", "22222222-0000-4000-8000-000000000002", "", created.PhysicalResourceId,
		func(props map[string]any) { props["Name"] = "app/e2e/replace-new" })
	if replaced.Status != "SUCCESS" || replaced.PhysicalResourceId == created.PhysicalResourceId || replaced.Data["Name"] != "app/e2e/replace-new" {
		t.Fatalf("replacement answered %+v", replaced)
	}
	oldSecret, _ := storedSecret(t, "us-east-1", created.PhysicalResourceId)
	newSecret, _ := storedSecret(t, "us-east-1", replaced.PhysicalResourceId)
	if newSecret["host"] != "orders.cluster-c1x2y3z4.us-east-1.rds.amazonaws.com" || oldSecret["host"] == nil {
		t.Fatalf("old %v, new %v", oldSecret, newSecret)
	}
	deleted := customResource(t, "custom-resource-delete.json", "22222222-0000-4000-8000-000000000003", "", created.PhysicalResourceId, nil)
	if deleted.Status != "SUCCESS" || describeSecret(t, created.PhysicalResourceId).DeletedDate == nil || describeSecret(t, replaced.PhysicalResourceId).DeletedDate != nil {
		t.Fatalf("deleting the old secret: %+v", deleted)
	}
}

func TestCustomResourceDeleteWithReplicas(t *testing.T) {
	created := customResource(t, "custom-resource-create.json", "33333333-0000-4000-8000-000000000001", "app/e2e/delete", "", nil)
	if replicaRegions(describeSecret(t, created.PhysicalResourceId)) != "eu-west-1" {
		t.Fatal("the secret to delete has no replica")
	}
	deleted := customResource(t, "custom-resource-delete.json", "33333333-0000-4000-8000-000000000002", "", created.PhysicalResourceId, nil)
	d := describeSecret(t, created.PhysicalResourceId)
	if deleted.Status != "SUCCESS" || deleted.PhysicalResourceId != created.PhysicalResourceId || d.DeletedDate == nil || len(d.ReplicationStatus) != 0 {
		t.Fatalf("answer %+v; deleted %v, replicas %+v", deleted, d.DeletedDate, d.ReplicationStatus)
	}
	// The 7-day window from the properties, not an immediate deletion: the
	// secret can still be restored.
	if _, err := secretsClient(t, "us-east-1").RestoreSecret(context.Background(), &secretsmanager.RestoreSecretInput{SecretId: aws.String(created.PhysicalResourceId)}); err != nil {
		t.Fatalf("the deleted secret cannot be restored: %v", err)
	}
}

// TestCustomResourceDeleteNothing: the id of a failed create and the ARN of
// a secret that does not exist are SUCCESS with no action.
func TestCustomResourceDeleteNothing(t *testing.T) {
	for _, event := range []string{"custom-resource-delete-placeholder.json", "custom-resource-delete.json"} {
		out, logs := run(t, "CustomResourceFunction", event, nil, nil)
		a := answerOf(t, out)
		if a.Status != "SUCCESS" || !strings.Contains(logs, "nothing deleted") {
			t.Fatalf("%s: answer %+v\n%s", event, a, logs)
		}
	}
}

// TestCustomResourceBadProperties: each bad property gets a FAILED answer
// that names it, in the template's spelling, and the rule.
func TestCustomResourceBadProperties(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(map[string]any)
		reason string
	}{
		{"port", func(p map[string]any) { p["Port"] = "fifty" }, "Port: must be a whole number"},
		{"engine", func(p map[string]any) { p["Engine"] = "cassandra" }, `Engine: unknown engine "cassandra"; known engines: aurora-mysql`},
		{"replica in the primary Region", func(p map[string]any) { p["ReplicaRegions"] = []any{map[string]any{"Region": "us-east-1"}} }, "ReplicaRegions[0].Region: us-east-1 is the primary Region"},
		{"name outside the prefix", func(p map[string]any) { p["Name"] = "other/orders" }, `Name: must start with the configured prefix "app/"`},
		{"recovery window", func(p map[string]any) { p["RecoveryWindowInDays"] = "90" }, "RecoveryWindowInDays: must be between 7 and 30, got 90"},
		{"reserved tag", func(p map[string]any) { p["Tags"] = []any{map[string]any{"Key": "aws:team", "Value": "x"}} }, `Tags[0].Key: must not start with "aws:"`},
		{"unknown property", func(p map[string]any) { p["HostName"] = "x" }, "HostName: is not a known field"},
		{"oracle without a database", func(p map[string]any) { p["Engine"] = "oracle"; delete(p, "DbName") }, "DbName: is required for oracle"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requestID := "44444444-0000-4000-8000-00000000000" + string(rune('0'+i))
			a := customResource(t, "custom-resource-create-invalid.json", requestID, "", "", func(p map[string]any) {
				p["Port"] = "5432"
				tt.edit(p)
			})
			if a.Status != "FAILED" || !strings.Contains(a.Reason, tt.reason) || a.PhysicalResourceId != requestID || a.Data != nil {
				t.Fatalf("answer %+v, want FAILED with %q", a, tt.reason)
			}
		})
	}
	out, _ := run(t, "CustomResourceFunction", "custom-resource-create-invalid.json", nil, nil)
	if a := answerOf(t, out); a.Status != "FAILED" || !strings.HasPrefix(a.Reason, "Port: must be a whole number") {
		t.Fatalf("the sample event answered %+v", a)
	}
}

// TestCustomResourceOversizedAnswer: a 5 KB property value is repeated only
// in part, in the reason and in the log, and the answer arrives whole.
func TestCustomResourceOversizedAnswer(t *testing.T) {
	out, logs := run(t, "CustomResourceFunction", "custom-resource-create-oversized.json", nil, nil)
	a := answerOf(t, out)
	x100 := "postgres-" + strings.Repeat("x", 91)
	if len(out.CloudFormation) > 4096 || a.Status != "FAILED" || !strings.HasPrefix(a.Reason, `Engine: unknown engine "`+x100+`... (5009 bytes in all)"`) {
		t.Fatalf("%d bytes: %+v", len(out.CloudFormation), a)
	}
	if strings.Contains(logs, x100+"x") {
		t.Fatalf("the log repeats more than 100 characters of the engine:\n%s", logs)
	}
}

// TestCustomResourceSecretsManagerUnreachable: refused connections fail
// fast; a Secrets Manager that accepts and never answers still gets
// CloudFormation a FAILED answer before the function's deadline.
func TestCustomResourceSecretsManagerUnreachable(t *testing.T) {
	refused, err := motoserver.UnusedEndpoint()
	if err != nil {
		t.Fatal(err)
	}

	hanging, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := hanging.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		hanging.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})

	const timeout = 6 * time.Second
	for _, tt := range []struct{ name, endpoint, attempts, reason string }{
		// One attempt: the SDK's backoff between retries would otherwise
		// outlast this short test deadline (the deadline case below shows what
		// happens when retries run long).
		{"refused", refused, "1", "could not be reached"},
		// The work's own deadline comes first: it answers for itself.
		{"never answers", "http://" + hanging.Addr().String(), "3", "did not answer in time"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, _ := runWith(t, invocation{function: "CustomResourceFunction", event: "custom-resource-create.json",
				env: map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": tt.endpoint, "AWS_MAX_ATTEMPTS": tt.attempts}, timeout: timeout,
				edit: func(e map[string]any) { e["RequestId"] = "55555555-0000-4000-8000-000000000001" }})
			a := answerOf(t, out) // no Sandbox.Timedout: the function answered and returned in time
			if a.Status != "FAILED" || !strings.Contains(a.Reason, tt.reason) || out.Duration >= timeout {
				t.Fatalf("after %v: answer %+v, want FAILED with %q", out.Duration, a, tt.reason)
			}
		})
	}
}

// TestCustomResourceOnlyItsOwnSecret: another stack naming this stack's
// secret as its physical id can neither repoint it (Update FAILED) nor
// delete it (Delete SUCCESS, nothing done); its own stack still can both.
func TestCustomResourceOnlyItsOwnSecret(t *testing.T) {
	const name = "app/ownership/orders"
	created := customResource(t, "custom-resource-create.json", "55555555-0000-4000-8000-000000000001", name, "", nil)
	if created.Status != "SUCCESS" {
		t.Fatalf("create %+v", created)
	}
	attacker := func(e map[string]any) {
		e["StackId"] = "arn:aws:cloudformation:us-east-1:123456789012:stack/intruder/9c1d7f20-a9e3-11ef-8d3f-0a1b2c3d4e5f"
		e["RequestId"] = "55555555-0000-4000-8000-000000000002"
		e["PhysicalResourceId"] = created.PhysicalResourceId
		for _, key := range []string{"ResourceProperties", "OldResourceProperties"} {
			if props, ok := e[key].(map[string]any); ok {
				props["Name"] = name
			}
		}
		e["ResourceProperties"].(map[string]any)["Host"] = "attacker.example.com"
	}
	out, _ := run(t, "CustomResourceFunction", "custom-resource-update.json", nil, attacker)
	if a := answerOf(t, out); a.Status != "FAILED" || !strings.Contains(a.Reason, "was not made by this stack's resource") {
		t.Fatalf("another stack's update answered %+v", a)
	}
	out, logs := run(t, "CustomResourceFunction", "custom-resource-delete.json", nil, attacker)
	if a := answerOf(t, out); a.Status != "SUCCESS" || !strings.Contains(logs, "not made by this stack's resource") {
		t.Fatalf("another stack's delete answered %+v\n%s", a, logs)
	}
	if v, _ := storedSecret(t, "us-east-1", created.PhysicalResourceId); v["host"] == "attacker.example.com" || describeSecret(t, created.PhysicalResourceId).DeletedDate != nil {
		t.Fatalf("another stack changed the secret: host %v, deleted %v", v["host"], describeSecret(t, created.PhysicalResourceId).DeletedDate)
	}

	// The stack that made it updates and deletes it.
	updated := customResource(t, "custom-resource-update.json", "55555555-0000-4000-8000-000000000003", name, created.PhysicalResourceId, nil)
	if updated.Status != "SUCCESS" {
		t.Fatalf("own update %+v", updated)
	}
	deleted := customResource(t, "custom-resource-delete.json", "55555555-0000-4000-8000-000000000004", name, created.PhysicalResourceId, nil)
	if deleted.Status != "SUCCESS" || describeSecret(t, created.PhysicalResourceId).DeletedDate == nil {
		t.Fatalf("own delete %+v", deleted)
	}
}

// TestCustomResourceAnswerNotDelivered: when the ResponseURL refuses the
// answer, or is no URL at all, the invocation fails with an error type that
// says so, and with no part of the URL.
func TestCustomResourceAnswerNotDelivered(t *testing.T) {
	out, _ := runWith(t, invocation{function: "CustomResourceFunction", event: "custom-resource-delete-placeholder.json", responseStatus: 403})
	if out.Error == nil || out.Error.Type != "CloudFormation.ResponseNotDelivered" || !strings.Contains(out.Error.Message, "answered 403") {
		t.Fatalf("refused: %+v", out.Error)
	}
	out, _ = runWith(t, invocation{function: "CustomResourceFunction", event: "custom-resource-delete-placeholder.json",
		edit: func(e map[string]any) { e["ResponseURL"] = "s3 bucket?X-Amz-Signature=SIGNATURE-SECRET" }})
	if out.Error == nil || out.Error.Type != "CloudFormation.ResponseNotDelivered" || !strings.Contains(out.Error.Message, "not an http(s) URL") ||
		strings.Contains(out.Error.Message, "SIGNATURE-SECRET") || strings.Contains(out.Error.Message, "answered") {
		t.Fatalf("no URL: %+v", out.Error)
	}
}
