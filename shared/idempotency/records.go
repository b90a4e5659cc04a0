// Package idempotency keeps one record per caller and Idempotency-Key in a
// DynamoDB table, written with a conditional put, so that of any number of
// requests with one key, arriving at once in any number of processes,
// exactly one does the work and the others learn its outcome. The design is
// that of Powertools for AWS Lambda's idempotency utility: a record with a
// status, the request's fingerprint, the result once known, and an expiry.
// Reads are strongly consistent, so no look-up can lag behind a write.
//
// It knows keys and bytes, not requests: it imports nothing of the
// provisioner's but awsclient and errcode.
package idempotency

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dbcreds/provisioner/shared/awslite/dynamodb"

	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// The table's attributes. id is the partition key; expiresAt (epoch
// seconds) is also the table's TTL attribute.
const (
	attrID          = "id"
	attrFingerprint = "fingerprint"
	attrStatus      = "status"
	attrResult      = "result"
	attrExpiresAt   = "expiresAt"

	statusInProgress = "IN_PROGRESS"
	statusCompleted  = "COMPLETED"
)

// How long records hold. A request in progress holds its key for the lease,
// longer than any function's timeout, so that a process that died mid-way
// frees it; a completed one answers replays for a day, as Stripe's keys do.
const (
	Lease  = 2 * time.Minute
	Expiry = 24 * time.Hour
)

// The calls the records make, each copying the SDK's signature.
type (
	PutItemAPI interface {
		PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	}
	GetItemAPI interface {
		GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	}
	UpdateItemAPI interface {
		UpdateItem(ctx context.Context, params *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	}
	DeleteItemAPI interface {
		DeleteItem(ctx context.Context, params *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	}
)

// Client is the part of the DynamoDB client the records use.
type Client interface {
	PutItemAPI
	GetItemAPI
	UpdateItemAPI
	DeleteItemAPI
}

// Records is the table of idempotency records.
type Records struct {
	client Client
	table  string
	now    func() time.Time
}

// New returns the records in table, through client, built once at init.
func New(client Client, table string) *Records {
	return &Records{client: client, table: table, now: time.Now}
}

// ClientFromEnvironment builds the DynamoDB client from Lambda's
// environment, its endpoint from AWS_ENDPOINT_URL_DYNAMODB or
// AWS_ENDPOINT_URL.
func ClientFromEnvironment(getenv func(string) string) (*dynamodb.Client, error) {
	s, err := awsclient.FromEnvironment(getenv)
	if err != nil {
		return nil, err
	}
	return dynamodb.New(dynamodb.Options{
		Region:       s.Region,
		Credentials:  s.Credentials,
		BaseEndpoint: s.Endpoint("DYNAMODB"),
		Retryer:      s.Retryer(),
		HTTPClient:   s.HTTPClient(),
	}), nil
}

// Claim is the outcome of claiming a key.
type Claim struct {
	// Won is set when this request holds the key now and must do the work,
	// then Complete or Release it.
	Won bool
	// Otherwise, the record another request holds.
	Fingerprint string
	Completed   bool
	Result      []byte // once Completed
}

// Claim takes the key for a request with this fingerprint, unless a record
// that has not expired holds it, which it then returns.
func (r *Records) Claim(ctx context.Context, key, fingerprint string) (Claim, error) {
	for attempt := 0; ; attempt++ {
		now := r.now()
		_, err := r.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(r.table),
			Item: map[string]types.AttributeValue{
				attrID:          &types.AttributeValueMemberS{Value: key},
				attrFingerprint: &types.AttributeValueMemberS{Value: fingerprint},
				attrStatus:      &types.AttributeValueMemberS{Value: statusInProgress},
				attrExpiresAt:   epoch(now.Add(Lease)),
			},
			// TTL deletes expired items only eventually: the expiry is
			// checked here too.
			ConditionExpression:       aws.String("attribute_not_exists(#id) OR #expiresAt < :now"),
			ExpressionAttributeNames:  map[string]string{"#id": attrID, "#expiresAt": attrExpiresAt},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": epoch(now)},
		})
		if err == nil {
			return Claim{Won: true}, nil
		}
		var held *types.ConditionalCheckFailedException
		if !errors.As(err, &held) {
			return Claim{}, classify(err)
		}
		out, err := r.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(r.table),
			Key:            map[string]types.AttributeValue{attrID: &types.AttributeValueMemberS{Value: key}},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return Claim{}, classify(err)
		}
		if out.Item == nil || expired(out.Item, r.now()) {
			// Released or expired between the put and the read: claim again.
			if attempt < 3 {
				continue
			}
			return Claim{}, errcode.New(errcode.Conflict, "the Idempotency-Key is changing hands too fast to claim; retry")
		}
		return Claim{
			Fingerprint: str(out.Item[attrFingerprint]),
			Completed:   str(out.Item[attrStatus]) == statusCompleted,
			Result:      []byte(str(out.Item[attrResult])),
		}, nil
	}
}

// Complete records the result of the request that won the key, which then
// answers replays until the record expires.
func (r *Records) Complete(ctx context.Context, key, fingerprint string, result []byte) error {
	_, err := r.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(r.table),
		Key:                 map[string]types.AttributeValue{attrID: &types.AttributeValueMemberS{Value: key}},
		UpdateExpression:    aws.String("SET #status = :completed, #result = :result, #expiresAt = :expiresAt"),
		ConditionExpression: aws.String("#fingerprint = :fingerprint"),
		ExpressionAttributeNames: map[string]string{"#status": attrStatus, "#result": attrResult,
			"#expiresAt": attrExpiresAt, "#fingerprint": attrFingerprint},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":completed":   &types.AttributeValueMemberS{Value: statusCompleted},
			":result":      &types.AttributeValueMemberS{Value: string(result)},
			":expiresAt":   epoch(r.now().Add(Expiry)),
			":fingerprint": &types.AttributeValueMemberS{Value: fingerprint},
		},
	})
	return classify(err)
}

// Release frees the key of a request that failed, so that a retry may try
// again; a record that is not this request's in-progress one is left alone.
func (r *Records) Release(ctx context.Context, key, fingerprint string) error {
	_, err := r.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(r.table),
		Key:                       map[string]types.AttributeValue{attrID: &types.AttributeValueMemberS{Value: key}},
		ConditionExpression:       aws.String("#fingerprint = :fingerprint AND #status = :inProgress"),
		ExpressionAttributeNames:  map[string]string{"#fingerprint": attrFingerprint, "#status": attrStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{":fingerprint": &types.AttributeValueMemberS{Value: fingerprint}, ":inProgress": &types.AttributeValueMemberS{Value: statusInProgress}},
	})
	var gone *types.ConditionalCheckFailedException
	if errors.As(err, &gone) {
		return nil
	}
	return classify(err)
}

func classify(err error) error {
	if err == nil {
		return nil
	}
	var missing *types.ResourceNotFoundException
	if errors.As(err, &missing) {
		return errcode.Wrap(err, errcode.Internal, "the idempotency table does not exist")
	}
	return awsclient.Classify(err, "DynamoDB")
}

func epoch(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}

func expired(item map[string]types.AttributeValue, now time.Time) bool {
	n, ok := item[attrExpiresAt].(*types.AttributeValueMemberN)
	if !ok {
		return true
	}
	at, err := strconv.ParseInt(n.Value, 10, 64)
	return err != nil || at < now.Unix()
}

func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
