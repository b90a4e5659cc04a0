package userledger

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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

const attrGrants = "grants"

// grantsKey is the record of a secret's grants: beside its user's record,
// under the same trigger's leading key.
func grantsKey(via, secretARN string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrID: &types.AttributeValueMemberS{Value: via + "#grants#" + secretARN}}
}

// Grants are the grants recorded for the secret made through via; none
// when nothing is recorded.
func (l *Ledger) Grants(ctx context.Context, via, secretARN string) ([]Grant, error) {
	out, err := l.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: grantsKey(via, secretARN), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, classify(err)
	}
	raw := str(out.Item[attrGrants])
	if raw == "" {
		return nil, nil
	}
	var grants []Grant
	if err := json.Unmarshal([]byte(raw), &grants); err != nil {
		return nil, errcode.New(errcode.Internal, "the record of a secret's reader grants does not read: %v", err)
	}
	return grants, nil
}

// RecordGrants replaces the secret's record with grants; none forgets it.
func (l *Ledger) RecordGrants(ctx context.Context, via, secretARN string, grants []Grant) error {
	if len(grants) == 0 {
		_, err := l.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(l.table), Key: grantsKey(via, secretARN)})
		return classify(err)
	}
	raw, err := json.Marshal(grants)
	if err != nil {
		return errcode.Wrap(err, errcode.Internal, "recording reader grants")
	}
	item := grantsKey(via, secretARN)
	item[attrSecret] = &types.AttributeValueMemberS{Value: secretARN}
	item[attrGrants] = &types.AttributeValueMemberS{Value: string(raw)}
	_, err = l.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(l.table), Item: item})
	return classify(err)
}
