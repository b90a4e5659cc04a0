package sessionlimit_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dbcreds/provisioner/shared/awslite/dynamodb"

	"github.com/dbcreds/provisioner/local/testenv/motoserver"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/sessionlimit"
	"github.com/dbcreds/provisioner/shared/userledger"
)

const table = "database-sessions"

var moto *motoserver.Server

func TestMain(m *testing.M) {
	motoserver.Main(m, func(s *motoserver.Server) error {
		moto = s
		return motoserver.CreateTable(context.Background(), s.Env(), "us-east-1", table, "id")
	})
}

func dynamo(t *testing.T) *dynamodb.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("needs moto; not in -short")
	}
	env := moto.Env()
	c, err := userledger.ClientFromEnvironment(func(k string) string {
		if k == "AWS_REGION" {
			return "us-east-1"
		}
		return env[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func master(t *testing.T) string {
	return "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + strings.ReplaceAll(t.Name(), "/", "-") + "-AbCdEf"
}

// TestSlotsBoundSessions: a master's slots are taken one each; with all
// taken the next waits, then fails as throttled; a slot given back is
// taken again. Another master's slots are its own.
func TestSlotsBoundSessions(t *testing.T) {
	defer sessionlimit.ShortWaits(300*time.Millisecond, 0)()
	ctx := context.Background()
	l := sessionlimit.New(dynamo(t), table, 2)
	a, err := l.Take(ctx, master(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Take(ctx, master(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Take(ctx, master(t)); errcode.Of(err) != errcode.Throttled || errcode.FieldOf(err) != "masterSecretArn" || !strings.Contains(err.Error(), "limit of 2") {
		t.Fatalf("a third session with two slots: %v", err)
	}
	if other, err := l.Take(ctx, master(t)+"x"); err != nil || other == nil {
		t.Fatalf("another master's slot: %v", err)
	}
	a.Release(ctx)
	c, err := l.Take(ctx, master(t))
	if err != nil {
		t.Fatalf("a slot given back: %v", err)
	}
	b.Release(ctx)
	c.Release(ctx)
}

// TestWaiterTakesAFreedSlot: a request that finds every slot taken waits,
// and takes the slot when it is given back.
func TestWaiterTakesAFreedSlot(t *testing.T) {
	defer sessionlimit.ShortWaits(5*time.Second, 0)()
	ctx := context.Background()
	l := sessionlimit.New(dynamo(t), table, 1)
	held, err := l.Take(ctx, master(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		lease, err := l.Take(ctx, master(t))
		lease.Release(ctx)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	held.Release(ctx)
	if err := <-done; err != nil {
		t.Fatalf("the waiter: %v", err)
	}
}

// TestDeadHoldersSlotFrees: a holder that never gives its slot back (a
// timeout, a crash) holds it until its deadline and the margin have
// passed, no longer; its late Release then takes nothing of the new
// holder's.
func TestDeadHoldersSlotFrees(t *testing.T) {
	defer sessionlimit.ShortWaits(200*time.Millisecond, 0)()
	start := time.Now()
	var now atomic.Int64
	now.Store(start.UnixNano())
	l := sessionlimit.New(dynamo(t), table, 1)
	l.SetClock(func() time.Time { return time.Unix(0, now.Load()) })
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(20*time.Second))
	defer cancel()
	dead, err := l.Take(ctx, master(t))
	if err != nil {
		t.Fatal(err)
	}
	now.Store(start.Add(45 * time.Second).UnixNano()) // past the deadline, within the margin
	if _, err := l.Take(context.Background(), master(t)); errcode.Of(err) != errcode.Throttled {
		t.Fatalf("within the margin: %v", err)
	}
	now.Store(start.Add(51 * time.Second).UnixNano())
	next, err := l.Take(context.Background(), master(t))
	if err != nil {
		t.Fatalf("past the deadline and the margin: %v", err)
	}
	dead.Release(context.Background()) // late: the slot is next's
	if _, err := l.Take(context.Background(), master(t)); errcode.Of(err) != errcode.Throttled {
		t.Fatalf("a late Release freed another's slot: %v", err)
	}
	next.Release(context.Background())
}

// TestWaitKeepsTheReserve: with less than the reserve left before the
// deadline, a request does not wait at all.
func TestWaitKeepsTheReserve(t *testing.T) {
	defer sessionlimit.ShortWaits(10*time.Second, 10*time.Second)()
	l := sessionlimit.New(dynamo(t), table, 1)
	held, err := l.Take(context.Background(), master(t))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begun := time.Now()
	if _, err := l.Take(ctx, master(t)); errcode.Of(err) != errcode.Throttled {
		t.Fatalf("got %v", err)
	}
	if time.Since(begun) > 4*time.Second {
		t.Fatal("it waited into the reserve")
	}
}

// TestManyAtOnce: more takers than slots at once never hold more than the
// slots between them.
func TestManyAtOnce(t *testing.T) {
	defer sessionlimit.ShortWaits(20*time.Second, 0)()
	l := sessionlimit.New(dynamo(t), table, 3)
	var holding, most atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lease, err := l.Take(context.Background(), master(t))
			if err != nil {
				errs <- err
				return
			}
			n := holding.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(30 * time.Millisecond)
			holding.Add(-1)
			lease.Release(context.Background())
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if most.Load() > 3 || most.Load() == 0 {
		t.Fatalf("%d sessions at once with 3 slots", most.Load())
	}
}

// fakeClient answers as its fields say.
type fakeClient struct {
	put func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error)
	del func(*dynamodb.DeleteItemInput) (*dynamodb.DeleteItemOutput, error)
}

func (f fakeClient) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return f.put(in)
}

func (f fakeClient) DeleteItem(_ context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return f.del(in)
}

// TestTableFailureFailsClosed: a table that cannot be written refuses the
// session (no user is made without its slot), as the service's failure,
// and gives back the slot the put may have taken all the same, by its
// holder only.
func TestTableFailureFailsClosed(t *testing.T) {
	var put *dynamodb.PutItemInput
	var deleted *dynamodb.DeleteItemInput
	l := sessionlimit.New(fakeClient{put: func(in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
		put = in
		return nil, errors.New("connection reset")
	}, del: func(in *dynamodb.DeleteItemInput) (*dynamodb.DeleteItemOutput, error) {
		deleted = in
		return &dynamodb.DeleteItemOutput{}, nil
	}}, table, 4)
	if lease, err := l.Take(context.Background(), "m"); err == nil || lease != nil || errcode.Of(err) == errcode.Throttled {
		t.Fatalf("got %v, %v", lease, err)
	}
	if deleted == nil || deleted.Key["id"] == nil || deleted.Key["id"].(*types.AttributeValueMemberS).Value != put.Item["id"].(*types.AttributeValueMemberS).Value ||
		deleted.ExpressionAttributeValues[":me"].(*types.AttributeValueMemberS).Value != put.Item["holder"].(*types.AttributeValueMemberS).Value {
		t.Fatalf("the slot the failed put may hold was not given back by its holder: %+v", deleted)
	}
}

// TestNoLimit: no limit makes no call and holds nothing.
func TestNoLimit(t *testing.T) {
	l := sessionlimit.New(nil, table, 0)
	lease, err := l.Take(context.Background(), "m")
	if l != nil || lease != nil || err != nil || l.Slots() != 0 {
		t.Fatalf("%v %v %v", l, lease, err)
	}
	lease.Release(context.Background())
}

func TestFromEnvironment(t *testing.T) {
	for _, c := range []struct {
		slots, table string
		want         int
		fails        string
	}{
		{"", "", 0, ""},
		{"0", "", 0, ""},
		{"10", "sessions", 10, ""},
		{" 100 ", "sessions", 100, ""},
		{"101", "sessions", 0, "DATABASE_SESSION_LIMIT"},
		{"-1", "sessions", 0, "DATABASE_SESSION_LIMIT"},
		{"ten", "sessions", 0, "DATABASE_SESSION_LIMIT"},
		{"10", "", 0, "DATABASE_SESSIONS_TABLE"},
	} {
		env := map[string]string{sessionlimit.EnvSlots: c.slots, sessionlimit.EnvTable: c.table}
		l, err := sessionlimit.FromEnvironment(func(k string) string { return env[k] }, fakeClient{})
		if c.fails != "" {
			if err == nil || !strings.Contains(err.Error(), c.fails) {
				t.Errorf("%q %q: got %v", c.slots, c.table, err)
			}
			continue
		}
		if err != nil || l.Slots() != c.want {
			t.Errorf("%q %q: got %v slots, %v", c.slots, c.table, l.Slots(), err)
		}
	}
}
