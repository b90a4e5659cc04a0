package stack_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/core"
	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/selfservice"
	"github.com/dbcreds/provisioner/shared/stack"
)

// TestUpdateCannotForgeAnotherTriggersReplay (the twenty-first review): a stack author who invokes the
// ServiceToken function directly chooses StackId, LogicalResourceId and
// RequestId. An Update's PutSecretValue uses Token(StackId/Logical/RequestId)
// as the new version's id, without the provenance that Create's
// versionToken adds. Choosing the three so that the concatenation reads
// "http-api\x00<caller>\x00<caller>\x00<Idempotency-Key>" puts an HTTP API
// caller's version token into a secret the stack made, in the caller's own
// scope; the caller's next POST with that key then "replays" the stack's
// secret as its own (201, Idempotent-Replayed), whose value the stack author
// wrote.
func TestUpdateCannotForgeAnotherTriggersReplay(t *testing.T) {
	ctx := context.Background()
	l := lifecycle(t)

	// The victim: an API caller in scope "payments", with a predictable key.
	victim := selfservice.IAMCaller("arn:aws:sts::" + account + ":assumed-role/payments/alice")
	const key = "orders-1"
	name := "app/payments/" + strings.ReplaceAll(strings.TrimPrefix(uniqueName(t), "app/"), "/", "-")

	// The target string of the victim's versionToken, cut at its first two
	// slashes into StackId / LogicalResourceId / RequestId.
	target := "http-api\x00" + victim.ID + "\x00" + victim.ID + "\x00" + key
	parts := strings.SplitN(target, "/", 3)
	if len(parts) != 3 {
		t.Fatalf("target %q has fewer than two slashes", target)
	}
	stackID, logical, requestID := parts[0], parts[1], parts[2]
	res := func(req string) stack.Resource {
		// As the custom resource's handler builds it from the event.
		return stack.Resource{NameBase: "x", Account: strings.Split(stackID, ":")[4],
			IdempotencyKey: stackID + "/" + logical + "/" + req,
			Provenance: provision.Provenance{By: stackID + "#" + logical, Via: "cloudformation",
				Caller: dbgrants.Caller{Kind: dbgrants.KindStack, Name: logical}}}
	}

	// 1. The attacker's Create, in the victim's scope.
	body := func(host string) string {
		return `{"Name": "` + name + `", "Engine": "mysql", "Host": "` + host + `", "Username": "app"}`
	}
	body1 := body("attacker.example")
	made, err := l.Create(ctx, res("create-1"), decode(t, body1))
	if err != nil {
		t.Fatal(err)
	}
	// 2. The attacker's Update with the crafted RequestId: a new version
	// whose id is the victim's token.
	body2 := body("attacker-db.example")
	if _, err := l.Update(ctx, res(requestID), made.ARN, decode(t, body1), decode(t, body2)); err != nil {
		t.Fatal(err)
	}

	// 3. The victim asks for its own secret under that name and key.
	cfg := testConfig(t, testGrants)
	cfg.CallerScope, cfg.CallerScopeClaim = provision.ScopeIAMRole, "team"
	api, err := selfservice.New(core.ServiceWith(t, cfg, nil, nil), core.Records(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = api.CreateFor(ctx, victim, "http-api", decode(t, `{"name": "`+name+`", "engine": "mysql", "host": "orders.internal"}`), key)
	if errcode.Of(err) != errcode.Conflict {
		t.Fatalf("the API caller's create took the stack author's secret for its own: %v", err)
	}
}
