package provision_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/awslite/dynamodb"

	"github.com/dbcreds/provisioner/local/testenv/core"
	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// confirmationLost lets every write of the users table through except the
// confirmation of a made user (made = true), which fails before it lands,
// as a network error after COMMIT would: a passing failure once the user
// exists.
type confirmationLost struct{ userledger.Client }

func (c confirmationLost) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if made, ok := in.Item["made"].(*types.AttributeValueMemberBOOL); ok && made.Value {
		return nil, errors.New("dial tcp: i/o timeout")
	}
	return c.Client.PutItem(ctx, in, o...)
}

// boundedLossyService is the core whose users' confirmations are lost, with
// a bound of slots sessions per master (0: none), as the functions build it.
func boundedLossyService(t *testing.T, cfg provision.Config, slots int) *provision.Service {
	t.Helper()
	return serviceWithLedger(t, cfg, slots, func(c userledger.Client) userledger.Client { return confirmationLost{c} })
}

// TestKeylessFailureDropsItsUserUnderTheSessionLimitReviewE4: an API
// request without an Idempotency-Key has no retry, so a passing failure
// after COMMIT (the confirmation of the user in the ledger is lost) must
// drop the user it made and remove its secret (Users.abandon ->
// dropIfProven). dropIfProven opens its session through connectRecorded,
// which takes a second slot of the same master while the Plan, closed only
// when Make returns, still holds its own (and its open connection). With
// DatabaseSessionLimit 1 (or with every slot held by requests in the same
// state) that Take can never succeed: abandon logs "a database user may be
// left behind: drop it by hand", deletes the secret, and the user stays,
// its password in no secret any more. Without the bound the same failure
// drops the user.
func TestKeylessFailureDropsItsUserUnderTheSessionLimitReviewE4(t *testing.T) {
	for _, c := range []struct {
		name  string
		slots int
	}{{"no bound", 0}, {"one slot", 1}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := database(t, "postgres")
			username := "abandoned_e4_" + map[int]string{0: "free", 1: "one"}[c.slots]
			r := decode(t, userRequest(t, "postgres", s, `, "username": "`+username+`"`))
			r.Provenance = provision.Provenance{By: "arn:aws:sts::123456789012:assumed-role/payments", Via: "http-api",
				Caller: dbgrants.Caller{Kind: dbgrants.KindAPI, Name: "payments"}}
			svc := boundedLossyService(t, testConfig(t, testGrants), c.slots)
			_, err := svc.Create(ctx, r, "") // no Idempotency-Key: nothing will retry it
			if errcode.Of(err) != errcode.Unavailable {
				t.Fatalf("the request whose confirmation was lost: %v, want unavailable", err)
			}
			if _, derr := client(t, primary).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(r.Name)}); derr == nil {
				t.Fatal("the keyless request's secret stays")
			} else if !strings.Contains(derr.Error(), "ResourceNotFound") {
				t.Fatal(derr)
			}
			if exists, err := s.UserExists(username); err != nil || exists {
				t.Fatalf("with DatabaseSessionLimit %d the failed keyless request LEFT ITS USER %s behind (exists %v, %v), "+
					"its secret deleted: abandon's dropIfProven waited for a second slot of the master while the Plan held the first", c.slots, username, exists, err)
			}
		})
	}
}

// TestTwinThatLosesTheUserStillRotatesReviewE4: since c39c59c rotation is
// switched on by Plan.Make's then, beside the user's confirmation, and
// createBuilt skips its own s.rotate whenever then was given
// (rotatedAlready). Of two deliveries of one request, the one whose CREATE
// USER loses to its twin's takes the madeByTwin branch of Make, which
// returns success before then ever ran: that delivery answers success
// with no Rotation in its result, having never asked for rotation, while
// the twin that did ask failed to switch it on (here: the deployment's
// rotation function does not exist). Before c39c59c the losing delivery
// called s.rotate like every other and failed the same way.
func TestTwinThatLosesTheUserStillRotatesReviewE4(t *testing.T) {
	for _, c := range []struct {
		name   string
		exists bool
	}{{"rotation function missing", false}, {"rotation function exists", true}} {
		t.Run(c.name, func(t *testing.T) { twinRotation(t, c.exists) })
	}
}

func twinRotation(t *testing.T, exists bool) {
	ctx := context.Background()
	s := database(t, "mariadb")
	fast := core.SecretsClient(t)
	created := make(chan struct{})
	slow := secretsmanager.New(fast.Options(), func(o *secretsmanager.Options) {
		o.HTTPClient = slowAnswer{next: o.HTTPClient, created: created}
	})
	cfg := testConfig(t, testGrants)
	fnName := "twin-rotation-e4-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	fn := "arn:aws:lambda:us-east-1:123456789012:function:" + fnName
	if exists {
		if _, err := core.Moto(t).RotationFunction("us-east-1", fnName); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if cfg.Rotation, err = rotation.DefaultsFromEnv(func(k string) string {
		return map[string]string{rotation.EnvFunctionPrefix + "MARIADB": fn, rotation.EnvFunctionPrefix + "MYSQL": fn}[k]
	}); err != nil {
		t.Fatal(err)
	}
	maker, replay := core.ServiceOn(t, cfg, slow), core.ServiceOn(t, cfg, fast)
	username := "twin_rot_e4_" + map[bool]string{false: "x", true: "y"}[exists]
	r := decode(t, userRequest(t, "mariadb", s, `, "username": "`+username+`", "rotationRules": {"scheduleExpression": "rate(30 days)"}`))
	r.Provenance = provision.Provenance{By: "twins@123456789012", Via: "eventbridge",
		Caller: dbgrants.Caller{Kind: dbgrants.KindEvents, Name: "twins", Account: "123456789012"}}
	key := "event-twin-rot-" + uniqueName(t)
	type answer struct {
		res provision.Result
		err error
	}
	makerAnswer := make(chan answer, 1)
	go func() { res, err := maker.Create(ctx, r, key); makerAnswer <- answer{res, err} }()
	<-created
	res, rerr := replay.Create(ctx, r, key)
	m := <-makerAnswer
	t.Logf("replay (made the user): err %v, rotation %+v; maker (lost the user to its twin): err %v, rotation %+v", rerr, res.Rotation, m.err, m.res.Rotation)
	d := describe(t, r.Name)
	for who, a := range map[string]answer{"the replay": {res, rerr}, "the maker": m} {
		if a.err != nil {
			continue
		}
		if a.res.Rotation == nil || !a.res.Rotation.Enabled || !aws.ToBool(d.RotationEnabled) {
			t.Errorf("%s answered SUCCESS for a request that asks for rotation, with result rotation %+v; the secret's rotation is on: %v",
				who, a.res.Rotation, aws.ToBool(d.RotationEnabled))
		}
	}
}

// boundedService is the core as the functions build it, with a bound of
// slots sessions per master (0: none).
func boundedService(t *testing.T, cfg provision.Config, slots int) *provision.Service {
	t.Helper()
	return serviceWithLedger(t, cfg, slots, func(c userledger.Client) userledger.Client { return c })
}

// TestSessionsPerSlotReviewE4: the review found that a slot covered the
// master's session only, while login proofs (Plan.earlierAttempt on every
// retry, madeByTwin, identify, dropIfProven, and proven in Drop and Update,
// the last two then before any slot was taken) open a second session on
// the same database, and that the README promised DatabaseSessionLimit
// sessions in all. The proofs now run inside the request's slot, and the
// docs state the bound as it is: each slot stands for at most two
// sessions at once, the master's and a login checked beside it. With
// DatabaseSessionLimit 1, a request's retry (which proves its earlier
// attempt's user by its login) holds at most two.
func TestSessionsPerSlotReviewE4(t *testing.T) {
	ctx := context.Background()
	s := database(t, "postgres")
	proxy := startUserCountingProxy(t, net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	master := core.StoreMaster(t, "127.0.0.1", proxy.port)
	r := byStack(decode(t, `{"name": "`+uniqueName(t)+`", "engine": "postgres", "dbname": "`+dbserver.Database+`", "masterSecretArn": "`+master+`", "createDatabaseUser": true, "username": "two_sessions_e4"}`))
	svc := boundedService(t, testConfig(t, testGrants), 1)
	if _, err := svc.Create(ctx, r, "retried-e4"); err != nil {
		t.Fatal(err)
	}
	proxy.resetUser(allUsers)
	if _, err := svc.Create(ctx, r, "retried-e4"); err != nil { // the retry
		t.Fatal(err)
	}
	if most := proxy.resetUser(allUsers); most > 2 {
		t.Fatalf("with DatabaseSessionLimit 1, one request's retry held %d sessions on the database at once; the bound is 2 per slot, and the retry's proof takes its second", most)
	}
}
