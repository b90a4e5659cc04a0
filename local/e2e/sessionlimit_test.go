package e2e

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/local/testenv/motoserver"
	"github.com/dbcreds/provisioner/shared/sessionlimit"
)

// TestSessionLimitAcrossInstances: DatabaseSessionLimit bounds the
// sessions held as one master by every instance of every function. With
// a limit of 1 and the one slot held elsewhere (another instance, here the
// test), the API's request for a user waits, then answers 429 naming
// masterSecretArn, having made nothing; once the slot is free the same
// request makes its user, and gives the slot back when done.
func TestSessionLimitAcrossInstances(t *testing.T) {
	ctx := context.Background()
	s := dbServer(t, "postgres")
	master := masterSecretFor(t, "masters/sessions/master_one", s)
	const table = "DatabaseSessionsTable" // a Ref to it is locally its logical id
	if err := motoserver.CreateTable(ctx, moto.Env(), "us-east-1", table, "id"); err != nil {
		t.Fatal(err)
	}
	elsewhere := sessionlimit.New(ledgerClient(t), table, 1)
	held, err := elsewhere.Take(ctx, master)
	if err != nil {
		t.Fatal(err)
	}
	overrides := maps.Clone(openGrants)
	overrides["DatabaseSessionLimit"] = "1"
	body := fmt.Sprintf(`{"name": "app/payments/one-session", "engine": "postgres", "dbname": %q, "username": "one_session", "masterSecretArn": %q, "createDatabaseUser": true}`,
		dbserver.Database, master)
	// A short deadline: it waits until 10 s before it, 2 s here.
	a := apiCall(t, invocation{overrides: overrides, timeout: 12 * time.Second}, "POST", "", "payments-team", body, nil)
	if a.Status != 429 || !strings.Contains(a.Body, "masterSecretArn") || !strings.Contains(a.Body, "DatabaseSessionLimit") {
		t.Fatalf("with the one slot held elsewhere: %d %s", a.Status, a.Body)
	}
	if exists, err := s.UserExists("one_session"); err != nil || exists {
		t.Fatalf("a user was made without a slot (%v)", err)
	}
	if _, err := secretsClient(t, "us-east-1").DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/payments/one-session")}); err == nil {
		t.Fatal("a secret was made without a slot")
	}

	// A master that is no secret's waits for no slot: its error, not 429,
	// even with its every slot taken.
	none := master[:strings.LastIndex(master, ":")+1] + "masters/sessions/none-AbCdEf"
	taken, err := elsewhere.Take(ctx, none)
	if err != nil {
		t.Fatal(err)
	}
	noneBody := strings.Replace(body, master, none, 1)
	if a := apiCall(t, invocation{overrides: overrides}, "POST", "", "payments-team", noneBody, nil); a.Status == 429 || a.Status < 400 || !strings.Contains(a.Body, "masterSecretArn") {
		t.Fatalf("a master that is no secret's: %d %s", a.Status, a.Body)
	}
	taken.Release(ctx)

	held.Release(ctx)
	if a := apiCall(t, invocation{overrides: overrides}, "POST", "", "payments-team", body, nil); a.Status != 201 {
		t.Fatalf("with the slot free: %d %s", a.Status, a.Body)
	}
	if exists, err := s.UserExists("one_session"); err != nil || !exists {
		t.Fatalf("no user (%v)", err)
	}
	// Given back: the one slot is free again at once.
	if lease, err := elsewhere.Take(ctx, master); err != nil {
		t.Fatalf("the request kept its slot: %v", err)
	} else {
		lease.Release(ctx)
	}
}
