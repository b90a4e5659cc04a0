package awslite_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dbcreds/provisioner/shared/awslite/dynamodb"
)

// FuzzRequestStringsReviewD: any key, attribute name or string value
// (invalid UTF-8, NUL, U+2028, quotes, very long) goes out as the same
// JSON, as parsed, from awslite and the SDK.
func FuzzRequestStringsReviewD(f *testing.F) {
	for _, s := range []string{"", "a\xffb", "\x00", "\u2028\u2029", `"}],{"S":"x`, "\xed\xa0\x80", "<&>", "é", "\\u0000"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		ctx := context.Background()
		item := map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: value}, name: &types.AttributeValueMemberS{Value: value},
			"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: value}, &types.AttributeValueMemberN{Value: value}}}}
		s, l := &recorder{answer: "{}"}, &recorder{answer: "{}"}
		_, serr := sdkdynamodb.New(sdkdynamodb.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: s}).PutItem(ctx, &sdkdynamodb.PutItemInput{
			TableName: aws.String(value), Item: item, ConditionExpression: aws.String(value), ExpressionAttributeNames: map[string]string{"#" + name: value},
			ExpressionAttributeValues: map[string]types.AttributeValue{":" + name: &types.AttributeValueMemberS{Value: value}}})
		_, lerr := dynamodb.New(liteOptions(l)).PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(value), Item: item, ConditionExpression: aws.String(value), ExpressionAttributeNames: map[string]string{"#" + name: value},
			ExpressionAttributeValues: map[string]types.AttributeValue{":" + name: &types.AttributeValueMemberS{Value: value}}})
		if (serr == nil) != (lerr == nil) {
			t.Fatalf("SDK %v, awslite %v", serr, lerr)
		}
		if serr != nil {
			return
		}
		if sb, lb := jsonBody(s.bodies[0]), jsonBody(l.bodies[0]); !reflect.DeepEqual(sb, lb) || sb == nil {
			t.Fatalf("body\n%s\nthe SDK's\n%s", l.bodies[0], s.bodies[0])
		}
	})
}

// FuzzAnswerReviewD: an answer both clients read gives the same item;
// an answer awslite reads, the SDK reads too.
func FuzzAnswerReviewD(f *testing.F) {
	for _, s := range []string{`{"Item":{"id":{"S":"k"}}}`, `{"Item":{"id":{"S":null}}}`, `{"Item":{"a":{"L":[{"M":{"b":{"BOOL":true}}}]}}}`,
		`{"Item":{"a":{"NULL":true}},"ConsumedCapacity":{}}`, `{"Item":null}`, `{}`, ``, `{"Item":{"a":{"SS":null}}}`, `{"Item":{"a":{"B":"AA=="}}}`,
		`{"Item":{"a":{"N":"1e400"}}}`, `{"Item":{"a":{"S":"\ud800"}}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, answer string) {
		ctx := context.Background()
		key := map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "k"}}
		s, serr := sdkdynamodb.New(sdkdynamodb.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: &recorder{answer: answer}}).
			GetItem(ctx, &sdkdynamodb.GetItemInput{TableName: aws.String("t"), Key: key})
		l, lerr := dynamodb.New(liteOptions(&recorder{answer: answer})).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key})
		if lerr != nil {
			return // stricter is fine
		}
		if serr != nil {
			t.Fatalf("awslite reads %q as %v; the SDK refuses it: %v", answer, l.Item, serr)
		}
		if !sameItemReviewD(s.Item, l.Item) && !(len(s.Item) == 0 && len(l.Item) == 0) {
			t.Fatalf("%q: awslite %#v, the SDK %#v", answer, l.Item, s.Item)
		}
	})
}

// sameItemReviewD: equal, but for a member that is JSON null, which the
// SDK reads as no value and awslite as the member's zero value (every
// caller reads both alike).
func sameItemReviewD(s, l map[string]types.AttributeValue) bool {
	if len(s) != len(l) {
		return false
	}
	for k, sv := range s {
		lv, ok := l[k]
		if !ok || !sameValueReviewD(sv, lv) {
			return false
		}
	}
	return true
}

func sameValueReviewD(s, l types.AttributeValue) bool {
	if s == nil {
		if l == nil {
			return true
		}
		v := reflect.ValueOf(l).Elem().Field(0)
		return v.IsZero() || (v.Kind() == reflect.Slice && v.Len() == 0) || (v.Kind() == reflect.Map && v.Len() == 0)
	}
	switch sv := s.(type) {
	case *types.AttributeValueMemberM:
		lv, ok := l.(*types.AttributeValueMemberM)
		return ok && sameItemReviewD(sv.Value, lv.Value)
	case *types.AttributeValueMemberL:
		lv, ok := l.(*types.AttributeValueMemberL)
		if !ok || len(sv.Value) != len(lv.Value) {
			return false
		}
		for i := range sv.Value {
			if !sameValueReviewD(sv.Value[i], lv.Value[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(s, l)
}
