package awslite_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dbcreds/provisioner/shared/awslite"
	"github.com/dbcreds/provisioner/shared/awslite/dynamodb"
)

// every is an item with every kind of attribute value, nested.
func every() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"id":    &types.AttributeValueMemberS{Value: "cloudformation#arn:aws:secretsmanager:eu-west-1:123456789012:secret:a-AbCdEf"},
		"empty": &types.AttributeValueMemberS{Value: ""},
		"n":     &types.AttributeValueMemberN{Value: "5432"},
		"b":     &types.AttributeValueMemberB{Value: []byte{0, 1, 2, 255}},
		"ss":    &types.AttributeValueMemberSS{Value: []string{"public", "app"}},
		"ns":    &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
		"bs":    &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}},
		"null":  &types.AttributeValueMemberNULL{Value: true},
		"t":     &types.AttributeValueMemberBOOL{Value: true},
		"f":     &types.AttributeValueMemberBOOL{Value: false},
		"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"inner": &types.AttributeValueMemberS{Value: "x\"<&>\u2028"},
			"l":     &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberN{Value: "1"}, &types.AttributeValueMemberBOOL{Value: true}}},
		}},
		"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
	}
}

// TestDynamoDBRequestsAsTheSDKSendsThem: each operation the functions
// call sends the body the SDK's own client sends for the same input.
func TestDynamoDBRequestsAsTheSDKSendsThem(t *testing.T) {
	ctx := context.Background()
	key := map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "k"}}
	names := map[string]string{"#v": "version"}
	values := map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: "3"}, ":m": every()["m"]}
	sdk := func(r *recorder) *sdkdynamodb.Client {
		return sdkdynamodb.New(sdkdynamodb.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: r})
	}
	tests := []struct {
		name      string
		sdk, lite func(r *recorder) error
	}{
		{"GetItem", func(r *recorder) error {
			_, err := sdk(r).GetItem(ctx, &sdkdynamodb.GetItemInput{TableName: aws.String("t"), Key: key, ConsistentRead: aws.Bool(true)})
			return err
		}, func(r *recorder) error {
			_, err := dynamodb.New(liteOptions(r)).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key, ConsistentRead: aws.Bool(true)})
			return err
		}},
		{"PutItem", func(r *recorder) error {
			_, err := sdk(r).PutItem(ctx, &sdkdynamodb.PutItemInput{TableName: aws.String("t"), Item: every(), ConditionExpression: aws.String("attribute_not_exists(id) OR #v = :v"),
				ExpressionAttributeNames: names, ExpressionAttributeValues: values, ReturnValues: types.ReturnValueAllOld,
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
			return err
		}, func(r *recorder) error {
			_, err := dynamodb.New(liteOptions(r)).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: every(), ConditionExpression: aws.String("attribute_not_exists(id) OR #v = :v"),
				ExpressionAttributeNames: names, ExpressionAttributeValues: values, ReturnValues: types.ReturnValueAllOld,
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
			return err
		}},
		{"UpdateItem", func(r *recorder) error {
			_, err := sdk(r).UpdateItem(ctx, &sdkdynamodb.UpdateItemInput{TableName: aws.String("t"), Key: key, UpdateExpression: aws.String("SET #v = :v, m = :m"),
				ConditionExpression: aws.String("attribute_exists(id)"), ExpressionAttributeNames: names, ExpressionAttributeValues: values})
			return err
		}, func(r *recorder) error {
			_, err := dynamodb.New(liteOptions(r)).UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: key, UpdateExpression: aws.String("SET #v = :v, m = :m"),
				ConditionExpression: aws.String("attribute_exists(id)"), ExpressionAttributeNames: names, ExpressionAttributeValues: values})
			return err
		}},
		{"DeleteItem", func(r *recorder) error {
			_, err := sdk(r).DeleteItem(ctx, &sdkdynamodb.DeleteItemInput{TableName: aws.String("t"), Key: key, ConditionExpression: aws.String("#v = :v"),
				ExpressionAttributeNames: names, ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: "3"}}})
			return err
		}, func(r *recorder) error {
			_, err := dynamodb.New(liteOptions(r)).DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("t"), Key: key, ConditionExpression: aws.String("#v = :v"),
				ExpressionAttributeNames: names, ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: "3"}}})
			return err
		}},
	}
	for _, tt := range tests {
		s, l := &recorder{answer: "{}"}, &recorder{answer: "{}"}
		if err := tt.sdk(s); err != nil {
			t.Fatalf("%s: the SDK: %v", tt.name, err)
		}
		if err := tt.lite(l); err != nil {
			t.Fatalf("%s: ours: %v", tt.name, err)
		}
		sameRequest(t, "DynamoDB "+tt.name, s, l, jsonBody)
	}
}

// TestDynamoDBAnswersAsTheSDKReadsThem: an item of every kind reads as
// the SDK reads it, from GetItem's Item and the others' Attributes; a
// failed condition is the SDK's typed error.
func TestDynamoDBAnswersAsTheSDKReadsThem(t *testing.T) {
	ctx := context.Background()
	item := `{"id":{"S":"k"},"empty":{"S":""},"n":{"N":"5432"},"b":{"B":"AAEC/w=="},"ss":{"SS":["public","app"]},"ns":{"NS":["1","2.5"]},"bs":{"BS":["AQ==","AgM="]},"null":{"NULL":true},"t":{"BOOL":true},"f":{"BOOL":false},"m":{"M":{"inner":{"S":"x\"<&>"},"l":{"L":[{"N":"1"},{"BOOL":true}]}}},"l":{"L":[]}}`
	s, err := sdkdynamodb.New(sdkdynamodb.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: &recorder{answer: `{"Item":` + item + `}`}}).
		GetItem(ctx, &sdkdynamodb.GetItemInput{TableName: aws.String("t"), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "k"}}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := dynamodb.New(liteOptions(&recorder{answer: `{"Item":` + item + `}`})).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t")})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Item, l.Item) || len(l.Item) != 12 {
		t.Errorf("GetItem: ours %#v\nthe SDK's %#v", l.Item, s.Item)
	}
	u, err := dynamodb.New(liteOptions(&recorder{answer: `{"Attributes":` + item + `}`})).UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t")})
	if err != nil || !reflect.DeepEqual(s.Item, u.Attributes) {
		t.Errorf("UpdateItem: ours %#v, %v", u, err)
	}
	none, err := dynamodb.New(liteOptions(&recorder{answer: `{}`})).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t")})
	if err != nil || len(none.Item) != 0 {
		t.Errorf("no item: %#v, %v", none, err)
	}
	for _, bad := range []string{`{"Item":{"id":{"S":"a","N":"1"}}}`, `{"Item":{"id":{}}}`, `{"Item":{"id":{"X":"1"}}}`, `{"Item":{"id":{"S":1}}}`} {
		if _, err := dynamodb.New(liteOptions(&recorder{answer: bad})).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t")}); err == nil {
			t.Errorf("%s: read, want refused", bad)
		}
	}
	failed := &recorder{status: 400, answer: `{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}`}
	_, err = dynamodb.New(awslite.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: failed}).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t")})
	var changed *types.ConditionalCheckFailedException
	if !errors.As(err, &changed) || len(failed.sent) != 1 {
		t.Errorf("%v after %d attempts, want ConditionalCheckFailedException after one", err, len(failed.sent))
	}
}
