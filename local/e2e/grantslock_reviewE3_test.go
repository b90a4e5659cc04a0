package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// TestGrantsLockTakenByAnotherCallersUserReviewE3: since b90f14a every
// PostgreSQL user is granted its privileges under
// pg_advisory_xact_lock(0x6462637265647300), a key written in the source
// and open to every role that may connect (pg_advisory_lock is PUBLIC's).
// The holder of a read-only credential the HTTP API made for one team
// takes that key in a session it keeps open; from then on an event
// source's request for a user on the same database fails, and its
// secret is left behind, holding the password of a user that does not
// exist.
func TestGrantsLockTakenByAnotherCallersUserReviewE3(t *testing.T) {
	s := dbServer(t, "postgres")
	master := masterSecretFor(t, "masters/reviewE3/master_lock", s)

	// One team's ordinary, read-only credential.
	body := fmt.Sprintf(`{"name": "app/payments/lock-holder-e3", "engine": "postgres", "dbname": %q, "username": "lock_holder_e3", "masterSecretArn": %q, "createDatabaseUser": true, "privileges": "readonly"}`,
		dbserver.Database, master)
	a := apiCall(t, invocation{overrides: openGrants}, "POST", "", "payments-team", body, nil)
	if a.Status != 201 {
		t.Fatalf("the holder's credential: %+v", a)
	}
	v, _ := storedSecret(t, "us-east-1", arnOf(t, a.Body))
	db := dbserver.Open("postgres", v["host"].(string), int(v["port"].(float64)), v["dbname"].(string), v["username"].(string), v["password"].(string))
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "SELECT pg_advisory_lock("+strconv.FormatInt(0x6462637265647300, 10)+")"); err != nil {
		t.Fatalf("the read-only user could not take the key: %v", err)
	}

	// Another trigger's request, on the same database.
	name := "app/analytics/lock-victim-e3"
	_, errType, msg, _ := deliver(t, "eventbridge-request.json", func(e map[string]any) {
		e["id"] = "reviewE3-lock-victim"
		e["detail"] = map[string]any{"name": name, "engine": "postgres", "host": s.Host, "port": s.Port, "dbname": dbserver.Database,
			"username": "lock_victim_e3", "masterSecretArn": master, "createDatabaseUser": true, "replicaRegions": []any{}}
	}, map[string]string{"DATABASE_USER_GRANTS": openGrants["DatabaseUserGrants"]})
	exists, _ := s.UserExists("lock_victim_e3")
	d, derr := secretsClient(t, "us-east-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if errType != "" {
		left := "no secret left"
		if derr == nil {
			e, found, ferr := userledger.New(ledgerClient(t), usersTable).Find(context.Background(), "eventbridge", aws.ToString(d.ARN))
			left = fmt.Sprintf("its secret LEFT BEHIND without its user (user exists: %v; ledger record found %v, made %v, %v)", exists, found, e.Made, ferr)
		}
		t.Fatalf("a read-only user of another team holding the constant grants lock key makes every user request on the database fail: %s %s; %s", errType, msg, left)
	}
	if !exists {
		out, _ := json.Marshal(v)
		t.Fatalf("no user made: %s", out)
	}
}
