package secretreaders

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/dbcreds/provisioner/shared/awslite/kms"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// pagedKMS is a KMS closer to the real one than reviewKMS: it pages
// ListGrants (at most Limit a page, by key and grantee), holds a key to KMS's default
// quota of 50,000 grants (LimitExceededException), retires grants, refuses
// a grantee whose role does not exist, and, with lagging, lists a grant
// only once it has propagated (KMS is eventually consistent for grants:
// https://docs.aws.amazon.com/kms/latest/developerguide/using-grant-token.html).
type pagedKMS struct {
	latency  time.Duration
	perKey   int
	lagging  bool
	mu       sync.Mutex
	grants   []kmstypes.GrantListEntry // in order made
	regionOf map[string]string         // grant id: its Region
	visible  map[string]bool
	retired  map[string]bool
	calls    map[string]int
	perKeyN  map[string]int
	nextID   int
	refusing string // a grantee KMS refuses (no such principal)
}

func newPagedKMS() *pagedKMS {
	return &pagedKMS{perKey: 50000, visible: map[string]bool{}, retired: map[string]bool{}, calls: map[string]int{}, perKeyN: map[string]int{}, regionOf: map[string]string{}}
}

func (k *pagedKMS) wait(ctx context.Context, op string) error {
	k.mu.Lock()
	k.calls[op]++
	k.mu.Unlock()
	if k.latency == 0 {
		return ctx.Err()
	}
	select {
	case <-time.After(k.latency):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (k *pagedKMS) DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, _ ...func(*kms.Options)) (*kms.DescribeKeyOutput, error) {
	return &kms.DescribeKeyOutput{KeyMetadata: &kmstypes.KeyMetadata{Arn: in.KeyId, KeyManager: kmstypes.KeyManagerTypeCustomer}}, k.wait(ctx, "DescribeKey")
}

func regionOf(opts []func(*kms.Options)) string {
	o := kms.Options{Region: "us-east-1"}
	for _, f := range opts {
		f(&o)
	}
	return o.Region
}

func (k *pagedKMS) CreateGrant(ctx context.Context, in *kms.CreateGrantInput, opts ...func(*kms.Options)) (*kms.CreateGrantOutput, error) {
	if err := k.wait(ctx, "CreateGrant"); err != nil {
		return nil, err
	}
	if aws.ToString(in.GranteePrincipal) == k.refusing {
		time.Sleep(20 * time.Millisecond) // KMS looks the principal up first
		return nil, &kmstypes.NotFoundException{Message: aws.String("no such principal")}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.perKeyN[aws.ToString(in.KeyId)] >= k.perKey {
		return nil, &kmstypes.LimitExceededException{Message: aws.String("grants per KMS key")}
	}
	k.nextID++
	id := "g" + strconv.Itoa(k.nextID)
	k.grants = append(k.grants, kmstypes.GrantListEntry{GrantId: aws.String(id), KeyId: in.KeyId, Name: in.Name, GranteePrincipal: in.GranteePrincipal,
		RetiringPrincipal: in.RetiringPrincipal, Operations: in.Operations, Constraints: in.Constraints})
	k.visible[id] = !k.lagging
	k.regionOf[id] = regionOf(opts)
	k.perKeyN[aws.ToString(in.KeyId)]++
	return &kms.CreateGrantOutput{GrantId: aws.String(id)}, nil
}

func (k *pagedKMS) ListGrants(ctx context.Context, in *kms.ListGrantsInput, opts ...func(*kms.Options)) (*kms.ListGrantsOutput, error) {
	if err := k.wait(ctx, "ListGrants"); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	start, _ := strconv.Atoi(aws.ToString(in.Marker))
	limit := int(aws.ToInt32(in.Limit))
	if limit == 0 {
		limit = 50
	}
	out := &kms.ListGrantsOutput{}
	i := start
	for ; i < len(k.grants) && len(out.Grants) < limit; i++ {
		g := k.grants[i]
		if aws.ToString(g.KeyId) != aws.ToString(in.KeyId) || in.GranteePrincipal != nil && aws.ToString(g.GranteePrincipal) != aws.ToString(in.GranteePrincipal) {
			continue
		}
		if k.retired[aws.ToString(g.GrantId)] || !k.visible[aws.ToString(g.GrantId)] {
			continue
		}
		out.Grants = append(out.Grants, g)
	}
	if i < len(k.grants) {
		out.Truncated, out.NextMarker = true, aws.String(strconv.Itoa(i))
	}
	return out, nil
}

func (k *pagedKMS) RetireGrant(ctx context.Context, in *kms.RetireGrantInput, _ ...func(*kms.Options)) (*kms.RetireGrantOutput, error) {
	if err := k.wait(ctx, "RetireGrant"); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.retired[aws.ToString(in.GrantId)] {
		k.retired[aws.ToString(in.GrantId)] = true
		k.perKeyN[aws.ToString(in.KeyId)]--
	}
	return &kms.RetireGrantOutput{}, nil
}

// liveFor are the grants not retired whose constraint names secretARN.
func (k *pagedKMS) liveFor(secretARN string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, g := range k.grants {
		if !k.retired[aws.ToString(g.GrantId)] && g.Constraints != nil && g.Constraints.EncryptionContextSubset["SecretARN"] == secretARN {
			out = append(out, aws.ToString(g.GranteePrincipal)+" on "+aws.ToString(g.KeyId))
		}
	}
	return out
}

func review2Secret(name string) string {
	return "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf"
}

func review2Readers(prefix string, n int) []string {
	var readers []string
	for i := 0; i < n; i++ {
		readers = append(readers, "arn:aws:iam::123456789012:role/"+prefix+"-"+strconv.Itoa(i))
	}
	return readers
}

// TestRetireCostIsTheSecretsNotTheAccounts (second review): Update and
// Delete find a secret's grants with ListRetirableGrants, which lists every
// grant the function's role may retire in the Region, one page per hundred,
// one Region after another. So the cost of deleting one secret is every
// other secret's grants: an HTTP API caller confined to team-a/ makes 600
// secrets of 50 readers on a primary and a replica key (100 grants each,
// within MaxGrants, 600 requests), and from then on team-b's DELETE of a
// secret with one reader lists 600 pages per Region and cannot end within
// the function's time; nor can a stack's Update or Delete of a secret with
// readers under the custom resource's role, when the attack is a stack's.
// Time is scaled down twenty-fold: 100 ms a KMS call is 5 ms, the 25 s the
// work has is 1.25 s.
func TestRetireCostIsTheSecretsNotTheAccounts(t *testing.T) {
	const scale = 20
	k := newPagedKMS()
	a, err := New(&reviewPolicies{}, k, &memRecords{}, reviewSTS{})
	if err != nil {
		t.Fatal(err)
	}
	keys := []Key{{Region: "us-east-1", ARN: "arn:aws:kms:us-east-1:123456789012:key/team-a"}, {Region: "eu-west-1", ARN: "arn:aws:kms:eu-west-1:123456789012:key/team-a"}}
	readers := review2Readers("a-reader", MaxReaders)
	for i := 0; i < 600; i++ {
		if err := a.Apply(context.Background(), Target{Via: "http-api", SecretARN: review2Secret("team-a/junk-" + strconv.Itoa(i)), Readers: readers, Keys: keys, Fresh: true}); err != nil {
			t.Fatal(err)
		}
	}
	victim := review2Secret("team-b/orders")
	victimKey := []Key{{Region: "us-east-1", ARN: "arn:aws:kms:us-east-1:123456789012:key/team-b"}}
	if err := a.Apply(context.Background(), Target{Via: "http-api", SecretARN: victim, Readers: []string{"arn:aws:iam::123456789012:role/orders"}, Keys: victimKey, Fresh: true}); err != nil {
		t.Fatal(err)
	}
	k.latency = 100 * time.Millisecond / scale
	k.calls = map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second/scale)
	defer cancel()
	start := time.Now()
	err = a.Retire(ctx, "http-api", victim)
	if err != nil || len(k.liveFor(victim)) != 0 {
		t.Errorf("retiring team-b's one grant after team-a made 60,000: %v after %v (x%d), %d ListGrants calls; grants left %v: "+
			"one team's grants make every other team's delete fail", err, time.Since(start)*scale, scale, k.calls["ListGrants"], k.liveFor(victim))
	}
}

// TestAFullKeyIsNoPassingFailure (second review): kmsKeyId is the
// caller's choice, so a caller could fill another team's key with grants
// up to KMS's 50,000. IAM now lets the roles grant only on keys their
// owners tagged dbcreds-readers: true (template_iam_eval_test.go); a key so
// offered is shared by every caller, and when it is full the refusal is
// permanent (invalid, naming the key's quota), never a throttle that tells
// the caller to retry for ever and keeps its secret for a retry.
func TestAFullKeyIsNoPassingFailure(t *testing.T) {
	k := newPagedKMS()
	k.perKey = 120
	a, err := New(&reviewPolicies{}, k, &memRecords{}, reviewSTS{})
	if err != nil {
		t.Fatal(err)
	}
	shared := []Key{{Region: "us-east-1", ARN: "arn:aws:kms:us-east-1:123456789012:key/shared"}}
	readers := review2Readers("a-reader", MaxReaders)
	for i := 0; i < 2; i++ {
		if err := a.Apply(context.Background(), Target{Via: "http-api", SecretARN: review2Secret("team-a/s-" + strconv.Itoa(i)), Readers: readers, Keys: shared, Fresh: true}); err != nil {
			t.Fatal(err)
		}
	}
	err = a.Apply(context.Background(), Target{Via: "http-api", SecretARN: review2Secret("team-b/orders"), Readers: readers, Keys: shared, Fresh: true})
	if errcode.Of(err) != errcode.Invalid || !strings.Contains(errcode.Message(err), "grants") {
		t.Fatalf("a full key: %v, want invalid, saying the key holds all the grants it may", err)
	}
}

// TestFailedSyncRetiresWhatItMade (second review): a sync that fails part
// way (one reader KMS refuses) drops the ids of the grants it did make
// (together's answer is thrown away with the error) and leaves them to be
// found again by ListRetirableGrants. The undo that follows at once, the
// stack's rollback (an Update without readers, which then untags the
// secret) or abandon's Remove after a failed create, lists before KMS
// shows the new grants, succeeds, and leaves them: on a rollback the grant
// outlives the tag, so no later Delete looks for it, and the reader keeps
// Decrypt on the secret for as long as it lives.
func TestFailedSyncRetiresWhatItMade(t *testing.T) {
	k := newPagedKMS()
	k.lagging = true
	k.refusing = "arn:aws:iam::123456789012:role/typo"
	a, err := New(&reviewPolicies{}, k, &memRecords{}, reviewSTS{})
	if err != nil {
		t.Fatal(err)
	}
	secret := review2Secret("app/orders")
	keys := []Key{{Region: "us-east-1", ARN: "arn:aws:kms:us-east-1:123456789012:key/k"}}
	// The Update: one good reader, one KMS refuses.
	err = a.Apply(context.Background(), Target{Via: "cloudformation", SecretARN: secret, Readers: []string{"arn:aws:iam::123456789012:role/analytics", k.refusing}, Keys: keys})
	if err == nil {
		t.Fatal("a reader KMS refuses: want an error")
	}
	// The rollback, at once: no readers.
	if err := a.Apply(context.Background(), Target{Via: "cloudformation", SecretARN: secret}); err != nil {
		t.Fatal(err)
	}
	if live := k.liveFor(secret); len(live) != 0 {
		t.Errorf("after a failed sync and a successful one without readers, grants still live: %s "+
			"(CreateGrant answered their ids; the cleanup looked only at ListRetirableGrants)", strings.Join(live, ", "))
	}
}
