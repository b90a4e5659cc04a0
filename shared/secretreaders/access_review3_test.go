package secretreaders

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/dbcreds/provisioner/shared/awslite/kms"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// inflightKMS is pagedKMS whose CreateGrant makes the grant when the
// request arrives and answers after latency, as a real service does: a
// caller that stops waiting (its context cancelled) has lost the answer,
// not the grant.
type inflightKMS struct {
	*pagedKMS
	answer time.Duration
}

func (k *inflightKMS) CreateGrant(ctx context.Context, in *kms.CreateGrantInput, opts ...func(*kms.Options)) (*kms.CreateGrantOutput, error) {
	if aws.ToString(in.GranteePrincipal) == k.refusing {
		time.Sleep(5 * time.Millisecond)
		return nil, &kmstypes.NotFoundException{Message: aws.String("no such principal")}
	}
	out, err := k.pagedKMS.CreateGrant(ctx, in, opts...) // made now
	if err != nil {
		return nil, err
	}
	select {
	case <-time.After(k.answer):
		return out, nil
	case <-ctx.Done():
		return nil, ctx.Err() // the answer is lost; the grant is not
	}
}

// TestCancelledGrantsAreRetired (third review): together once cancelled
// every CreateGrant in flight as soon as one failed; KMS had made those
// grants, their ids were lost, and the undo that followed at once found
// none by ListGrants (KMS lists new grants late) and forgot them. Calls
// already made now run to their answer, and a grant whose answer is lost
// is found by asking KMS again (a named CreateGrant of the same parameters
// answers with the grant it made).
func TestCancelledGrantsAreRetired(t *testing.T) {
	k := &inflightKMS{pagedKMS: newPagedKMS(), answer: 50 * time.Millisecond}
	k.lagging = true
	k.refusing = "arn:aws:iam::123456789012:role/typo"
	records := &memRecords{}
	a, err := New(&reviewPolicies{}, k, records, reviewSTS{})
	if err != nil {
		t.Fatal(err)
	}
	secret := review2Secret("app/orders")
	keys := []Key{{Region: "us-east-1", ARN: "arn:aws:kms:us-east-1:123456789012:key/k"}}
	// The Update: two good readers, one KMS refuses (first to answer).
	err = a.Apply(context.Background(), Target{Via: "cloudformation", SecretARN: secret, Keys: keys,
		Readers: []string{"arn:aws:iam::123456789012:role/analytics", "arn:aws:iam::123456789012:role/reporting", k.refusing}})
	if err == nil {
		t.Fatal("a reader KMS refuses: want an error")
	}
	recorded, _ := records.Grants(context.Background(), "cloudformation", secret)
	t.Logf("after the failed update, recorded: %+v; live: %v", recorded, k.liveFor(secret))
	// The rollback, at once: no readers.
	if err := a.Apply(context.Background(), Target{Via: "cloudformation", SecretARN: secret}); err != nil {
		t.Fatal(err)
	}
	recorded, _ = records.Grants(context.Background(), "cloudformation", secret)
	if live := k.liveFor(secret); len(live) != 0 {
		t.Errorf("after a failed update and its rollback without readers, grants still live: %s, and the record holds %d entries: "+
			"no Update or Delete will ever retire them (together cancelled their CreateGrant after KMS made them; the record kept no id, "+
			"and one lagging ListGrants made the sync forget them)", strings.Join(live, ", "), len(recorded))
	}
}

// racingRecords is memRecords whose reads wait until n syncs have read:
// two syncs of one secret read the same record, as two invocations do.
type racingRecords struct {
	memRecords
	wg    *sync.WaitGroup
	reads atomic.Int32
}

// Grants holds the first read of each of the two syncs until both have
// read.
func (r *racingRecords) Grants(ctx context.Context, via, secretARN string) ([]userledger.Grant, error) {
	g, err := r.memRecords.Grants(ctx, via, secretARN)
	if r.wg != nil && r.reads.Add(1) <= 2 {
		r.wg.Done()
		r.wg.Wait()
	}
	return g, err
}

// TestConcurrentSyncsLoseNoGrant (third review): the record was read,
// changed and put back whole, so two syncs of one secret at once (a direct
// invoker's forged Updates, or an Update racing the Delete of the same
// resource) each wrote their own view, and the last write dropped the
// other's grant id. Each sync now changes the record atomically by what it
// did, so the Delete finds every grant.
func TestConcurrentSyncsLoseNoGrant(t *testing.T) {
	k := newPagedKMS()
	var wg sync.WaitGroup
	wg.Add(2)
	records := &racingRecords{wg: &wg}
	a, err := New(&reviewPolicies{}, k, records, reviewSTS{})
	if err != nil {
		t.Fatal(err)
	}
	secret := review2Secret("app/orders")
	keys := []Key{{Region: "us-east-1", ARN: "arn:aws:kms:us-east-1:123456789012:key/k"}}
	var done sync.WaitGroup
	for _, reader := range []string{"arn:aws:iam::123456789012:role/one", "arn:aws:iam::123456789012:role/two"} {
		done.Add(1)
		go func() {
			defer done.Done()
			if err := a.Apply(context.Background(), Target{Via: "cloudformation", SecretARN: secret, Keys: keys, Readers: []string{reader}}); err != nil {
				t.Error(err)
			}
		}()
	}
	done.Wait()
	records.wg = nil
	// The resource's Delete.
	if err := a.Retire(context.Background(), "cloudformation", secret); err != nil {
		t.Fatal(err)
	}
	if live := k.liveFor(secret); len(live) != 0 {
		t.Errorf("after two concurrent syncs and the Delete, grants still live: %s: the last record written dropped the other sync's grant", strings.Join(live, ", "))
	}
}

// TestFailedSyncsKeepTheRecordSmall (third review): each failed sync once
// appended every unmade pair again, growing the record with every retry
// towards DynamoDB's 400 KB item limit. A pair is now recorded once.
func TestFailedSyncsKeepTheRecordSmall(t *testing.T) {
	k := newPagedKMS()
	k.refusing = "arn:aws:iam::123456789012:role/typo"
	records := &memRecords{}
	a, err := New(&reviewPolicies{}, k, records, reviewSTS{})
	if err != nil {
		t.Fatal(err)
	}
	secret := review2Secret("app/orders")
	keys := []Key{{Region: "us-east-1", ARN: "arn:aws:kms:us-east-1:123456789012:key/k"}}
	readers := []string{"arn:aws:iam::123456789012:role/analytics", k.refusing}
	const tries = 10
	for i := 0; i < tries; i++ {
		if err := a.Apply(context.Background(), Target{Via: "http-api", SecretARN: secret, Keys: keys, Readers: readers}); err == nil {
			t.Fatal("a reader KMS refuses: want an error")
		}
	}
	recorded, _ := records.Grants(context.Background(), "http-api", secret)
	unmade := slices.DeleteFunc(slices.Clone(recorded), func(g userledger.Grant) bool { return g.ID != "" })
	if len(recorded) > len(readers)*len(keys) {
		t.Errorf("after %d failed tries of one request (%d pairs), the record holds %d entries, %d of them without an id: it grows with every try",
			tries, len(readers)*len(keys), len(recorded), len(unmade))
	}
	k.calls = map[string]int{}
	if err := a.Retire(context.Background(), "http-api", secret); err != nil {
		t.Fatal(err)
	}
	t.Logf("the Delete then made %d ListGrants calls for one unmade pair", k.calls["ListGrants"])
}
