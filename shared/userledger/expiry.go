package userledger

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dbcreds/provisioner/shared/awslite/dynamodb"
)

// Expiry is when a secret the provisioner made removes itself, and the
// token its schedule carries: an expiry invocation acts only when it names
// the secret and carries this token, so a look-alike payload from anyone
// else who may invoke the function deletes nothing.
type Expiry struct {
	By    string    // who asked: the secret's provenance, kept when the secret is gone
	At    time.Time // when
	Token string    // the schedule's, made once per record
	// Force deletes without a recovery window.
	Force bool
	// Expiring is set when an expiry begins to remove the secret: from then
	// on the expiry can no longer be moved, removed or raced by a DELETE.
	Expiring bool
	Began    time.Time // when the expiry began, for how long it retries
	// Expired is set once the secret was removed at its expiry, so that
	// a second delivery of the schedule's invocation is a success.
	Expired bool
}

const (
	attrAt       = "at"
	attrToken    = "token"
	attrForce    = "force"
	attrExpired  = "expired"
	attrExpiring = "expiring"
	attrBegan    = "began"
)

// expiryKey is the record of a secret's expiry: beside its user's record,
// under the same trigger's leading key.
func expiryKey(via, secretARN string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrID: &types.AttributeValueMemberS{Value: via + "#expiry#" + secretARN}}
}

// Expiry is the expiry recorded for the secret made through via; found is
// false when none is.
func (l *Ledger) Expiry(ctx context.Context, via, secretARN string) (e Expiry, found bool, err error) {
	out, err := l.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: expiryKey(via, secretARN), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Expiry{}, false, classify(err)
	}
	if len(out.Item) == 0 {
		return Expiry{}, false, nil
	}
	e.By, e.Token = str(out.Item[attrBy]), str(out.Item[attrToken])
	e.At, _ = time.Parse(time.RFC3339, str(out.Item[attrAt]))
	e.Began, _ = time.Parse(time.RFC3339, str(out.Item[attrBegan]))
	if b, ok := out.Item[attrForce].(*types.AttributeValueMemberBOOL); ok {
		e.Force = b.Value
	}
	if b, ok := out.Item[attrExpired].(*types.AttributeValueMemberBOOL); ok {
		e.Expired = b.Value
	}
	if b, ok := out.Item[attrExpiring].(*types.AttributeValueMemberBOOL); ok {
		e.Expiring = b.Value
	}
	return e, true, nil
}

// ErrExpiryChanged is PutExpiry's answer when the record is not the one
// it was told to replace: another request wrote it first.
var ErrExpiryChanged = errors.New("the expiry record changed under another request")

// PutExpiry writes e for the secret made through via, replacing the record
// was as it was read (its token, time and state), or only where there is
// none when was is nil. A token is made once; two requests that race never
// leave the record with one token and the schedule with another, and an
// expiry that began never has its record moved under it.
func (l *Ledger) PutExpiry(ctx context.Context, via, secretARN string, was *Expiry, e Expiry) error {
	item := expiryKey(via, secretARN)
	item[attrSecret] = &types.AttributeValueMemberS{Value: secretARN}
	item[attrBy] = &types.AttributeValueMemberS{Value: e.By}
	item[attrAt] = &types.AttributeValueMemberS{Value: e.At.UTC().Format(time.RFC3339)}
	item[attrToken] = &types.AttributeValueMemberS{Value: e.Token}
	item[attrForce] = &types.AttributeValueMemberBOOL{Value: e.Force}
	item[attrExpiring] = &types.AttributeValueMemberBOOL{Value: e.Expiring}
	item[attrExpired] = &types.AttributeValueMemberBOOL{Value: e.Expired}
	if !e.Began.IsZero() {
		item[attrBegan] = &types.AttributeValueMemberS{Value: e.Began.UTC().Format(time.RFC3339)}
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(l.table), Item: item,
		ConditionExpression:      aws.String("attribute_not_exists(#t)"),
		ExpressionAttributeNames: map[string]string{"#t": attrToken}}
	if was != nil {
		in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = sameExpiry(*was)
	}
	_, err := l.client.PutItem(ctx, in)
	var changed *types.ConditionalCheckFailedException
	if errors.As(err, &changed) {
		return ErrExpiryChanged
	}
	return classify(err)
}

// ForgetExpiry removes the secret's expiry record: only the record was as
// it was read (ErrExpiryChanged otherwise), or whatever is there when was
// is nil.
func (l *Ledger) ForgetExpiry(ctx context.Context, via, secretARN string, was *Expiry) error {
	in := &dynamodb.DeleteItemInput{TableName: aws.String(l.table), Key: expiryKey(via, secretARN)}
	if was != nil {
		in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = sameExpiry(*was)
	}
	_, err := l.client.DeleteItem(ctx, in)
	var changed *types.ConditionalCheckFailedException
	if errors.As(err, &changed) {
		return ErrExpiryChanged
	}
	return classify(err)
}

// sameExpiry is the condition that the record is still was: its token,
// time and state.
func sameExpiry(was Expiry) (*string, map[string]string, map[string]types.AttributeValue) {
	return aws.String("#t = :t AND #a = :a AND #g = :g AND #x = :x"),
		map[string]string{"#t": attrToken, "#a": attrAt, "#g": attrExpiring, "#x": attrExpired},
		map[string]types.AttributeValue{
			":t": &types.AttributeValueMemberS{Value: was.Token},
			":a": &types.AttributeValueMemberS{Value: was.At.UTC().Format(time.RFC3339)},
			":g": &types.AttributeValueMemberBOOL{Value: was.Expiring},
			":x": &types.AttributeValueMemberBOOL{Value: was.Expired},
		}
}
