package userledger

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dbcreds/provisioner/shared/awslite/dynamodb"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// table is a DynamoDB table in memory, through the SDK's own types.
type table struct {
	items map[string]map[string]types.AttributeValue
	reads []*dynamodb.GetItemInput
}

func (t *table) id(key map[string]types.AttributeValue) string {
	return key["id"].(*types.AttributeValueMemberS).Value
}

func (t *table) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	t.items[t.id(in.Item)] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

func (t *table) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	t.reads = append(t.reads, in)
	return &dynamodb.GetItemOutput{Item: t.items[t.id(in.Key)]}, nil
}

func (t *table) DeleteItem(_ context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	delete(t.items, t.id(in.Key))
	return &dynamodb.DeleteItemOutput{}, nil
}

const secret = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/orders/db-AbCdEf"

func TestRecordFindForget(t *testing.T) {
	ctx := context.Background()
	tbl := &table{items: map[string]map[string]types.AttributeValue{}}
	l := New(tbl, "users")
	e := Entry{Via: "http-api", By: "arn:aws:sts::111122223333:assumed-role/payments", SecretARN: secret, MasterSecretARN: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-1-GhIjKl",
		Engine: "postgres", Host: "orders.cluster-x.eu-west-1.rds.amazonaws.com", Port: 5432, Database: "orders", SSL: true,
		Username: "orders_app", Privileges: "readonly", Schemas: []string{"sales", "public"}, CreatedAt: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	if err := l.Record(ctx, e); err != nil {
		t.Fatal(err)
	}
	// Keys start with the trigger, which IAM's dynamodb:LeadingKeys checks.
	if _, ok := tbl.items["http-api#"+secret]; !ok || len(tbl.items) != 1 {
		t.Fatalf("keys %v", tbl.items)
	}
	got, found, err := l.Find(ctx, "http-api", secret)
	if err != nil || !found || !reflect.DeepEqual(got, e) {
		t.Fatalf("found %v %+v, %v", found, got, err)
	}
	if !aws.ToBool(tbl.reads[0].ConsistentRead) {
		t.Fatal("a read that may lag a write")
	}
	// Another trigger's record of the same secret is not this one's.
	if _, found, err := l.Find(ctx, "eventbridge", secret); found || err != nil {
		t.Fatalf("another trigger found it: %v", err)
	}
	if err := l.Forget(ctx, "http-api", secret); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := l.Find(ctx, "http-api", secret); found {
		t.Fatal("forgotten, and still found")
	}
}

func TestIncompleteRecord(t *testing.T) {
	tbl := &table{items: map[string]map[string]types.AttributeValue{
		"cloudformation#" + secret: {"id": &types.AttributeValueMemberS{Value: "cloudformation#" + secret}, "username": &types.AttributeValueMemberS{Value: "u"}},
	}}
	_, found, err := New(tbl, "users").Find(context.Background(), "cloudformation", secret)
	if found || errcode.Of(err) != errcode.Internal || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("found %v, %v", found, err)
	}
}
