// Package sessionlimit bounds the sessions the provisioner holds at once as
// one master, across every function and every instance: the database a
// master secret opens takes at most Slots sessions from the provisioner,
// however many requests arrive (a burst of events, API calls and stack
// updates together).
//
// Each slot is an item in a DynamoDB table, leased by a conditional put and
// given back by a conditional delete. A lease lasts until its holder's
// deadline (plus a margin for clocks), so a holder that dies (a timeout, a
// crash) frees its slot when it could no longer be working; the table's TTL
// sweeps what is left. A request that finds every slot taken waits, then
// fails as throttled: retried, never half-made (nothing is made before the
// session opens).
package sessionlimit

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dbcreds/provisioner/shared/awslite/dynamodb"

	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// The variables that configure the limit.
const (
	EnvTable = "DATABASE_SESSIONS_TABLE"
	EnvSlots = "DATABASE_SESSION_LIMIT"
)

// MaxSlots is the most a deployment may set: each slot may cost a request
// one conditional put when the others are taken.
const MaxSlots = 100

// Client is the part of the DynamoDB client the limit uses, copying the
// SDK's signatures.
type Client interface {
	PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, params *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

const (
	attrID      = "id"
	attrHolder  = "holder"
	attrUntil   = "until"     // unix milliseconds: the lease ends then
	attrExpires = "expiresAt" // unix seconds, for the table's TTL
)

// Wait bounds: a request waits for a slot at most maxWait, and only while
// reserve is left after it for the work the session is for.
var (
	maxWait = 10 * time.Second
	reserve = 10 * time.Second
	// margin outlasts a holder's deadline, for clocks that differ
	// between instances.
	margin = 30 * time.Second
)

// Limit is the bound on sessions per master. A nil *Limit bounds nothing.
type Limit struct {
	client Client
	table  string
	slots  int
	now    func() time.Time
}

// New returns the limit of slots sessions per master, leased in table.
// slots of 0 or less bound nothing: New returns nil.
func New(client Client, table string, slots int) *Limit {
	if slots <= 0 {
		return nil
	}
	return &Limit{client: client, table: table, slots: slots, now: time.Now}
}

// FromEnvironment reads the limit's variables; client is built once at
// init. An unset or 0 limit bounds nothing.
func FromEnvironment(getenv func(string) string, client Client) (*Limit, error) {
	raw := strings.TrimSpace(getenv(EnvSlots))
	if raw == "" || raw == "0" {
		return nil, nil
	}
	slots, err := strconv.Atoi(raw)
	if err != nil || slots < 0 || slots > MaxSlots {
		return nil, errcode.New(errcode.Internal, "%s %s: must be a whole number from 0 (no limit) to %d", EnvSlots, errcode.Quote(raw), MaxSlots)
	}
	table := strings.TrimSpace(getenv(EnvTable))
	if table == "" {
		return nil, errcode.New(errcode.Internal, "%s is not set: %s needs the table that holds the sessions' leases", EnvTable, EnvSlots)
	}
	return New(client, table, slots), nil
}

// Slots is how many sessions a master may hold at once; 0, no bound.
func (l *Limit) Slots() int {
	if l == nil {
		return 0
	}
	return l.slots
}

// Lease is one slot held. Release gives it back.
type Lease struct {
	limit  *Limit
	id     string
	holder string
}

// Take leases a slot of master's (its whole secret ARN), waiting while
// every slot is taken for at most maxWait and only while reserve would
// remain before ctx's deadline; then it fails as throttled. A nil limit
// gives a lease that holds nothing.
func (l *Limit) Take(ctx context.Context, master string) (*Lease, error) {
	if l == nil {
		return nil, nil
	}
	holder := token()
	until := l.now().Add(15 * time.Minute) // Lambda's longest run
	if d, ok := ctx.Deadline(); ok {
		until = d
	}
	until = until.Add(margin)
	giveUp := l.now().Add(maxWait)
	if d, ok := ctx.Deadline(); ok && d.Add(-reserve).Before(giveUp) {
		giveUp = d.Add(-reserve)
	}
	pause := 20 * time.Millisecond
	first := rand.IntN(l.slots) // spread the takers over the slots
	for {
		for i := range l.slots {
			id := slotID(master, (first+i)%l.slots)
			taken, err := l.put(ctx, id, holder, until)
			if err != nil {
				// The put may have landed all the same (an answer lost,
				// a cancel on the way): give the slot back, if it is ours.
				(&Lease{limit: l, id: id, holder: holder}).Release(ctx)
				return nil, err
			}
			if !taken {
				return &Lease{limit: l, id: id, holder: holder}, nil
			}
		}
		if !l.now().Add(pause).Before(giveUp) {
			return nil, &errcode.Error{Code: errcode.Throttled, Field: "masterSecretArn",
				Message: "its database is holding this deployment's limit of " + strconv.Itoa(l.slots) +
					" provisioner sessions at once (DatabaseSessionLimit); try again shortly"}
		}
		// Jittered, so that waiters do not come back together.
		select {
		case <-time.After(pause/2 + rand.N(pause)):
		case <-ctx.Done():
			return nil, errcode.Wrap(ctx.Err(), errcode.Unavailable, "the request's time ran out waiting for a database session")
		}
		pause = min(2*pause, 500*time.Millisecond)
	}
}

// put leases slot id for holder until then, unless another holds it now:
// taken reports that. A slot holder already has (the SDK's retry of a put
// whose answer was lost) is its own, not another's.
func (l *Limit) put(ctx context.Context, id, holder string, until time.Time) (taken bool, err error) {
	now := l.now()
	_, err = l.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(l.table),
		Item: map[string]types.AttributeValue{
			attrID:      &types.AttributeValueMemberS{Value: id},
			attrHolder:  &types.AttributeValueMemberS{Value: holder},
			attrUntil:   &types.AttributeValueMemberN{Value: strconv.FormatInt(until.UnixMilli(), 10)},
			attrExpires: &types.AttributeValueMemberN{Value: strconv.FormatInt(until.Unix()+1, 10)},
		},
		ConditionExpression:      aws.String("attribute_not_exists(#id) OR #until < :now OR #holder = :me"),
		ExpressionAttributeNames: map[string]string{"#id": attrID, "#until": attrUntil, "#holder": attrHolder},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)},
			":me":  &types.AttributeValueMemberS{Value: holder},
		},
	})
	var held *types.ConditionalCheckFailedException
	if errors.As(err, &held) {
		return true, nil
	}
	if err != nil {
		return false, awsclient.Classify(err, "DynamoDB (the database sessions table)")
	}
	return false, nil
}

// Release gives the slot back, if it is still this lease's. A failure is
// logged: the lease ends at its holder's deadline anyway.
func (le *Lease) Release(ctx context.Context) {
	if le == nil {
		return
	}
	// On its own time: a request whose time ran out still gives back.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_, err := le.limit.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(le.limit.table),
		Key:                       map[string]types.AttributeValue{attrID: &types.AttributeValueMemberS{Value: le.id}},
		ConditionExpression:       aws.String("#holder = :me"),
		ExpressionAttributeNames:  map[string]string{"#holder": attrHolder},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": &types.AttributeValueMemberS{Value: le.holder}},
	})
	var gone *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &gone) {
		slog.WarnContext(ctx, "could not give back a database session's slot; it frees itself at its deadline", "error", errcode.Public(awsclient.Classify(err, "DynamoDB (the database sessions table)")))
	}
}

// slotID is the key of master's slot n.
func slotID(master string, n int) string {
	return "session#" + master + "#" + strconv.Itoa(n)
}

// token names a lease's holder: only it gives the slot back.
func token() string {
	b := make([]byte, 16)
	crand.Read(b)
	return hex.EncodeToString(b)
}
