package userledger

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dbcreds/provisioner/shared/awslite/dynamodb"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// Grant is a KMS grant the provisioner gave a secret's reader: on Key (a
// key ARN, in Region) for Grantee. ID is empty while it is being made: the
// record is written before CreateGrant, so a grant is never made without
// one, and a grant of a record without its id is found by key and grantee.
type Grant struct {
	Region  string `json:"region"`
	Key     string `json:"key"`
	Grantee string `json:"grantee"`
	ID      string `json:"id,omitempty"`
}

const (
	attrGrants  = "grants"
	attrVersion = "version"
)

// grantsKey is the record of a secret's grants: beside its user's record,
// under the same trigger's leading key.
func grantsKey(via, secretARN string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrID: &types.AttributeValueMemberS{Value: via + "#grants#" + secretARN}}
}

// Grants are the grants recorded for the secret made through via; none
// when nothing is recorded.
func (l *Ledger) Grants(ctx context.Context, via, secretARN string) ([]Grant, error) {
	grants, _, err := l.grants(ctx, via, secretARN)
	return grants, err
}

func (l *Ledger) grants(ctx context.Context, via, secretARN string) ([]Grant, int, error) {
	out, err := l.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: grantsKey(via, secretARN), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, 0, classify(err)
	}
	version := 0
	if n, ok := out.Item[attrVersion].(*types.AttributeValueMemberN); ok {
		version, _ = strconv.Atoi(n.Value)
	}
	raw := str(out.Item[attrGrants])
	if raw == "" {
		return nil, version, nil
	}
	var grants []Grant
	if err := json.Unmarshal([]byte(raw), &grants); err != nil {
		return nil, 0, errcode.New(errcode.Internal, "the record of a secret's reader grants does not read: %v", err)
	}
	return grants, version, nil
}

// UpdateGrants changes the secret's record by change, atomically: two
// changes of one secret at once (a direct invoker's Updates, an Update
// racing a Delete) each apply to what the other wrote, never over it. An
// empty record is removed.
func (l *Ledger) UpdateGrants(ctx context.Context, via, secretARN string, change func([]Grant) []Grant) error {
	for range 8 {
		grants, version, err := l.grants(ctx, via, secretARN)
		if err != nil {
			return err
		}
		next := change(grants)
		cond := aws.String("attribute_not_exists(#v) OR #v = :v")
		names := map[string]string{"#v": attrVersion}
		values := map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(version)}}
		if len(next) == 0 {
			_, err = l.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(l.table), Key: grantsKey(via, secretARN),
				ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values})
		} else {
			raw, merr := json.Marshal(next)
			if merr != nil {
				return errcode.Wrap(merr, errcode.Internal, "recording reader grants")
			}
			item := grantsKey(via, secretARN)
			item[attrSecret] = &types.AttributeValueMemberS{Value: secretARN}
			item[attrGrants] = &types.AttributeValueMemberS{Value: string(raw)}
			item[attrVersion] = &types.AttributeValueMemberN{Value: strconv.Itoa(version + 1)}
			_, err = l.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(l.table), Item: item,
				ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values})
		}
		var changed *types.ConditionalCheckFailedException
		if !errors.As(err, &changed) {
			return classify(err)
		}
	}
	return errcode.New(errcode.Conflict, "the record of this secret's reader grants keeps changing under another request; retry")
}
