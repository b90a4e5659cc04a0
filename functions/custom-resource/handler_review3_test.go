package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/stack"
)

// ctxLifecycle is a lifecycle whose Create, like the real one, makes the
// secret at once and then spends the rest of the work context giving its
// readers grants (KMS throttled by other callers of the account's
// CreateGrant quota, a hundred grants across Regions), and returns as
// provision.Service.abandon does for a passing failure of a keyed request:
// the secret kept, its ARN in the result, for "the retry" to complete.
type ctxLifecycle struct{ fakeLifecycle }

func (c *ctxLifecycle) Create(ctx context.Context, res stack.Resource, r provision.Request) (provision.Result, error) {
	<-ctx.Done() // the grants run out of time
	return result, errcode.Wrap(ctx.Err(), errcode.Unavailable, "KMS did not answer in time")
}

// TestTimedOutCreateNamesItsSecret (third review finding): a stack Create
// whose secret existed when the work ran out of time was answered FAILED
// with the request id as physical id, while its secret and grants were
// kept for a retry CloudFormation never makes; the rollback's Delete of the
// request id touched nothing. The work now runs to a deadline a little
// before the answer's, so it answers with the secret's ARN, which the
// rollback deletes.
func TestTimedOutCreateNamesItsSecret(t *testing.T) {
	rc := &receiver{statuses: []int{200}}
	event := loadEvent(t, "custom-resource-create.json", rc)
	deadline := time.Now().Add(3 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := (&handler{secrets: &ctxLifecycle{}, responder: http.DefaultClient}).handle(ctx, event); err != nil {
		t.Fatal(err)
	}
	if rc.body.Status != cfn.StatusFailed {
		t.Fatalf("answer %+v, want FAILED", rc.body)
	}
	if rc.body.PhysicalResourceID != arn {
		t.Errorf("a Create that made its secret and ran out of time answered physical id %q, not the secret's ARN: the rollback's Delete "+
			"touches nothing, and abandon kept the secret and its readers' grants for a retry CloudFormation never makes", rc.body.PhysicalResourceID)
	}
}
