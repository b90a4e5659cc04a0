package sessionlimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/dbcreds/provisioner/shared/awslite/dynamodb"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/sessionlimit"
)

// landsThenCancelled writes the PutItem at DynamoDB, then loses the answer
// to the caller's cancellation: what a Take sees when its context is
// cancelled while the put is on the wire (Plan cancels the Take as soon as
// masters.Resolve fails, and Resolve and the put take about the same round
// trip).
type landsThenCancelled struct {
	*dynamodb.Client
	cancel context.CancelFunc
}

func (c landsThenCancelled) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := c.Client.PutItem(context.WithoutCancel(ctx), in, o...)
	if err != nil {
		return out, err
	}
	c.cancel() // Resolve failed meanwhile: stopTaking()
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestCancelledTakeKeepsNoSlotReviewE4: a Take cancelled after its
// conditional put landed returns an error and no Lease, so nobody can give
// the slot back: it stays taken until the taker's deadline plus the 30 s
// margin (up to about a minute for a 30 s function), though docs/security.md
// says a slot "is given back at once when that read fails". Plan cancels
// its Take whenever masters.Resolve fails, including transiently
// (DescribeSecret's 40/s quota in a burst) for a real master.
func TestCancelledTakeKeepsNoSlotReviewE4(t *testing.T) {
	defer sessionlimit.ShortWaits(200*time.Millisecond, 0)()
	real := dynamo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	l := sessionlimit.New(landsThenCancelled{Client: real, cancel: cancel}, table, 1)
	lease, err := l.Take(ctx, master(t))
	if err == nil || lease != nil {
		t.Fatalf("the cancelled Take: %v, %v", lease, err)
	}
	t.Logf("the cancelled Take answered %v", err)

	after := sessionlimit.New(real, table, 1)
	next, err := after.Take(context.Background(), master(t))
	if err != nil {
		t.Fatalf("the master's only slot is still held after a Take that was cancelled (and returned no lease to give back): %v (code %s)", err, errcode.Of(err))
	}
	next.Release(context.Background())
}

// retriedAfterLostAnswer sends each PutItem twice, as the SDK's retryer
// does when the first attempt landed but its answer was lost (a timeout,
// a reset connection, a 500 after the write): the second attempt is the
// same item, the same holder.
type retriedAfterLostAnswer struct{ *dynamodb.Client }

func (c retriedAfterLostAnswer) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.Client.PutItem(ctx, in, o...) // landed; the answer never came
	return c.Client.PutItem(ctx, in, o...)
}

// TestRetriedPutIsNotAnotherHolderReviewE4: the lease condition
// (attribute_not_exists(id) OR until < now) does not recognise the taker's
// own holder token, so an SDK retry of a put that had landed fails its
// condition on the taker's own item. Take counts the slot as someone
// else's, moves on (or, with every other slot taken, throttles) and the
// slot it holds without knowing stays taken until its deadline plus the
// margin. With DatabaseSessionLimit 1 the request throttles on itself.
func TestRetriedPutIsNotAnotherHolderReviewE4(t *testing.T) {
	defer sessionlimit.ShortWaits(200*time.Millisecond, 0)()
	l := sessionlimit.New(retriedAfterLostAnswer{dynamo(t)}, table, 1)
	lease, err := l.Take(context.Background(), master(t))
	if err != nil {
		t.Fatalf("a Take whose put was retried by the SDK, with the master's only slot free: %v (code %s)", err, errcode.Of(err))
	}
	lease.Release(context.Background())
}
