package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/local/testenv/faultproxy"
)

// DELETE /secrets/{name} through the HTTP API function's real bootstrap.

type apiAnswer struct {
	Status  int
	Headers map[string]string
	Body    string
}

// apiCall runs one HTTP API request: method on /secrets/name (or /secrets
// for POST) with body and query, as the role role's caller.
func apiCall(t *testing.T, inv invocation, method, name, role, body string, query map[string]string) apiAnswer {
	t.Helper()
	inv.function = "HttpApiFunction"
	inv.event = "http-api-get.json"
	if method == "POST" {
		inv.event = "http-api-create.json"
	}
	edit := inv.edit
	inv.edit = func(e map[string]any) {
		ctx := e["requestContext"].(map[string]any)
		ctx["http"].(map[string]any)["method"] = method
		ctx["authorizer"].(map[string]any)["iam"].(map[string]any)["userArn"] = "arn:aws:sts::123456789012:assumed-role/" + role + "/session"
		if method == "POST" {
			e["body"] = body
			delete(e["headers"].(map[string]any), "idempotency-key") // the sample's key is for its own body
		} else {
			e["rawPath"], e["pathParameters"] = "/secrets/"+name, map[string]any{"name": name}
		}
		if query != nil {
			q := map[string]any{}
			for k, v := range query {
				q[k] = v
			}
			e["queryStringParameters"] = q
		}
		if edit != nil {
			edit(e)
		}
	}
	out, _ := runWith(t, inv)
	var a struct {
		StatusCode int
		Headers    map[string]string
		Body       string
	}
	if err := json.Unmarshal(out.Response, &a); err != nil {
		t.Fatalf("response %s: %v", out.Response, err)
	}
	return apiAnswer{a.StatusCode, a.Headers, a.Body}
}

// TestHttpApiDelete: scope, provenance, replicas, the window, force, a
// second DELETE, a missing secret and bad parameters.
func TestHttpApiDelete(t *testing.T) {
	scoped := invocation{overrides: map[string]string{"CallerScope": "iam-role"}}
	post := func(name, extra string) {
		t.Helper()
		if a := apiCall(t, scoped, "POST", "", "payments", `{"name": "`+name+`", "engine": "mysql", "host": "h"`+extra+`}`, nil); a.Status != 201 {
			t.Fatalf("create %s: %+v", name, a)
		}
	}
	post("app/payments/del-replicated", `, "replicaRegions": ["eu-west-1"]`)
	if a := apiCall(t, scoped, "DELETE", "app/payments/del-replicated", "orders", "", nil); a.Status != 403 || !strings.Contains(a.Body, `"forbidden"`) {
		t.Fatalf("another team's caller: %+v", a)
	}
	before := time.Now()
	a := apiCall(t, scoped, "DELETE", "app/payments/del-replicated", "payments", "", map[string]string{"recoveryWindowInDays": "7"})
	var d struct {
		Arn, Name    string
		DeletionDate time.Time
	}
	json.Unmarshal([]byte(a.Body), &d)
	if a.Status != 202 || d.Name != "app/payments/del-replicated" || d.DeletionDate.Sub(before) < 7*24*time.Hour-time.Minute || d.DeletionDate.Sub(before) > 7*24*time.Hour+time.Minute {
		t.Fatalf("delete: %+v", a)
	}
	desc := describeSecret(t, "app/payments/del-replicated")
	if desc.DeletedDate == nil || len(desc.ReplicationStatus) != 0 {
		t.Fatalf("after the delete: deleted %v, replicas %+v", desc.DeletedDate, desc.ReplicationStatus)
	}
	if again := apiCall(t, scoped, "DELETE", "app/payments/del-replicated", "payments", "", nil); again.Status != 202 || again.Body != a.Body {
		t.Fatalf("a second DELETE: %+v, want %+v", again, a)
	}

	post("app/payments/del-force", "")
	if a := apiCall(t, scoped, "DELETE", "app/payments/del-force", "payments", "", map[string]string{"forceDeleteWithoutRecovery": "true"}); a.Status != 202 {
		t.Fatalf("forced: %+v", a)
	}
	if _, err := secretsClient(t, "us-east-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/payments/del-force")}); err == nil {
		t.Fatal("a forced delete left the secret")
	}

	cfn := customResource(t, "custom-resource-create.json", "dededede-0000-4000-8000-000000000001", "app/payments/del-by-stack", "", nil)
	if cfn.Status != "SUCCESS" {
		t.Fatalf("the stack's secret: %+v", cfn)
	}
	for _, tc := range []struct {
		name   string
		query  map[string]string
		status int
		says   string
	}{
		{"app/payments/del-by-stack", nil, 403, "was not made through this API"},
		{"app/payments/del-never-made", nil, 404, "no secret named"},
		{"app/payments/del-by-stack", map[string]string{"recoveryWindowInDays": "31"}, 400, "between 7 and 30"},
		{"app/payments/del-by-stack", map[string]string{"recoveryWindowInDays": "7", "forceDeleteWithoutRecovery": "true"}, 400, "cannot be true with recoveryWindowInDays"},
		{"app/payments/del-by-stack", map[string]string{"purge": "yes"}, 400, "not a query parameter"},
	} {
		if a := apiCall(t, scoped, "DELETE", tc.name, "payments", "", tc.query); a.Status != tc.status || !strings.Contains(a.Body, tc.says) {
			t.Errorf("DELETE %s %v: %+v, want %d saying %q", tc.name, tc.query, a, tc.status, tc.says)
		}
	}
	if describeSecret(t, "app/payments/del-by-stack").DeletedDate != nil {
		t.Fatal("the stack's secret was deleted through the API")
	}
}

// TestHttpApiDeleteDropsTheUserAndWaitsForACreate: a DELETE sent while the
// create of the same name is between its user and its rotation (a
// RotateSecret that lags) waits for the create, then drops the user and
// deletes the secret: the create answers 201, the delete 202, and nothing
// is left behind.
func TestHttpApiDeleteDropsTheUserAndWaitsForACreate(t *testing.T) {
	s := dbServer(t, "postgres")
	master := masterSecretFor(t, "masters/payments/del-master", s)
	fn := rotationFunction(t, "del-rotate")
	_, env := proxy(t, func(op string, attempt int) faultproxy.Fault {
		if op == "RotateSecret" {
			return faultproxy.Slow
		}
		return faultproxy.Pass
	})
	inv := invocation{env: env, overrides: map[string]string{"AllowedRotationFunctions": fn, "DatabaseUserGrants": openGrants["DatabaseUserGrants"]}}
	body := fmt.Sprintf(`{"name": "app/payments/del-user", "engine": "postgres", "host": %q, "port": %d, "dbname": %q, "username": "del_user",
		"masterSecretArn": %q, "createDatabaseUser": true, "rotationLambdaArn": %q, "rotationRules": {"automaticallyAfterDays": 30}}`,
		s.Host, s.Port, dbserver.Database, master, fn)
	answers := concurrently(2, func(i int) string {
		if i == 0 {
			return strconv.Itoa(apiCall(t, inv, "POST", "", "payments", body, nil).Status)
		}
		// Once the user exists, while RotateSecret lags.
		for deadline := time.Now().Add(10 * time.Second); userCount(t, s, "del_user") == 0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		return strconv.Itoa(apiCall(t, inv, "DELETE", "app/payments/del-user", "payments", "", nil).Status)
	})
	if answers[0] != "201" || answers[1] != "202" {
		t.Fatalf("create answered %s, delete %s; want 201 and 202", answers[0], answers[1])
	}
	if describeSecret(t, "app/payments/del-user").DeletedDate == nil {
		t.Fatal("the secret was not deleted")
	}
	if n := userCount(t, s, "del_user"); n != 0 {
		t.Fatal("the database user is left behind")
	}
}
