package idempotency_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dbcreds/provisioner/local/testenv/motoserver"
	"github.com/dbcreds/provisioner/shared/idempotency"
)

const table = "idempotency-records"

var moto *motoserver.Server

// TestMain starts moto, except under go test -short, whose tests here
// are all skipped: every one needs DynamoDB.
func TestMain(m *testing.M) {
	motoserver.Main(m, func(s *motoserver.Server) error {
		moto = s
		return motoserver.CreateTable(context.Background(), s.Env(), "us-east-1", table, "id")
	})
}

func records(t *testing.T, now func() time.Time) *idempotency.Records {
	t.Helper()
	if testing.Short() {
		t.Skip("needs moto; not in -short")
	}
	env := moto.Env()
	client, err := idempotency.ClientFromEnvironment(func(k string) string {
		if k == "AWS_REGION" {
			return "us-east-1"
		}
		return env[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	r := idempotency.New(client, table)
	if now != nil {
		idempotency.SetClock(r, now)
	}
	return r
}

func newKey() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func TestClaimCompleteRelease(t *testing.T) {
	ctx := context.Background()
	r := records(t, nil)
	key := newKey()
	if c, err := r.Claim(ctx, key, "fp-a"); err != nil || !c.Won {
		t.Fatalf("first claim: %+v, %v", c, err)
	}
	if c, err := r.Claim(ctx, key, "fp-a"); err != nil || c.Won || c.Completed || c.Fingerprint != "fp-a" {
		t.Fatalf("same request while in progress: %+v, %v", c, err)
	}
	if c, err := r.Claim(ctx, key, "fp-b"); err != nil || c.Won || c.Fingerprint != "fp-a" {
		t.Fatalf("other request while in progress: %+v, %v", c, err)
	}
	if err := r.Release(ctx, key, "fp-b"); err != nil {
		t.Fatalf("release by another request: %v", err)
	}
	if c, _ := r.Claim(ctx, key, "fp-a"); c.Won {
		t.Fatal("another request's release freed the key")
	}
	if err := r.Complete(ctx, key, "fp-a", []byte(`{"arn":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if c, err := r.Claim(ctx, key, "fp-a"); err != nil || c.Won || !c.Completed || string(c.Result) != `{"arn":"x"}` {
		t.Fatalf("after completion: %+v, %v", c, err)
	}
	if err := r.Release(ctx, key, "fp-a"); err != nil {
		t.Fatal(err)
	}
	if c, _ := r.Claim(ctx, key, "fp-a"); c.Won || !c.Completed {
		t.Fatalf("a release freed a completed record: %+v", c)
	}

	failed := newKey()
	r.Claim(ctx, failed, "fp-a")
	if err := r.Release(ctx, failed, "fp-a"); err != nil {
		t.Fatal(err)
	}
	if c, err := r.Claim(ctx, failed, "fp-b"); err != nil || !c.Won {
		t.Fatalf("after a failed request released the key: %+v, %v", c, err)
	}
}

// TestExpiry: an in-progress record whose process died frees its key after
// the lease; a completed one answers for a day, then frees it.
func TestExpiry(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	clock := start
	r := records(t, func() time.Time { return clock })
	stuck, done := newKey(), newKey()
	r.Claim(ctx, stuck, "fp-a")
	r.Claim(ctx, done, "fp-a")
	r.Complete(ctx, done, "fp-a", []byte(`{}`))

	clock = start.Add(idempotency.Lease + time.Second)
	if c, err := r.Claim(ctx, stuck, "fp-b"); err != nil || !c.Won {
		t.Fatalf("after the lease: %+v, %v", c, err)
	}
	if c, _ := r.Claim(ctx, done, "fp-b"); c.Won || !c.Completed {
		t.Fatalf("a completed record freed its key after the lease: %+v", c)
	}
	clock = start.Add(idempotency.Expiry + time.Minute)
	if c, err := r.Claim(ctx, done, "fp-b"); err != nil || !c.Won {
		t.Fatalf("after expiry: %+v, %v", c, err)
	}
}

// TestOneWinner: many claims of one key at once, one wins.
func TestOneWinner(t *testing.T) {
	r := records(t, nil)
	key := newKey()
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := r.Claim(context.Background(), key, fmt.Sprintf("fp-%d", i))
			if err != nil {
				t.Error(err)
				return
			}
			if c.Won {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d claims won", won)
	}
}

func TestMissingTable(t *testing.T) {
	r := records(t, nil)
	idempotency.SetTable(r, "no-such-table")
	if _, err := r.Claim(context.Background(), newKey(), "fp"); err == nil {
		t.Fatal("a claim on a missing table succeeded")
	}
}
