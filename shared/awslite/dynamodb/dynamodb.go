// Package dynamodb is the part of Amazon DynamoDB the functions use
// (GetItem, PutItem, UpdateItem, DeleteItem), with the SDK's method
// signatures and types (service/dynamodb/types) but not its client
// package: see awslite.
package dynamodb

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dbcreds/provisioner/shared/awslite"
)

// Options are the client's settings.
type Options = awslite.Options

// Client calls DynamoDB.
type Client struct{ c *awslite.Client }

// New builds a client; it calls nothing.
func New(o Options) *Client {
	return &Client{awslite.New(awslite.Service{ID: "DynamoDB", SigningName: "dynamodb", Endpoint: "dynamodb", Errors: typedError}, o)}
}

const (
	version = "1.0"
	prefix  = "DynamoDB_20120810."
)

type GetItemInput struct {
	TableName                *string
	Key                      map[string]types.AttributeValue
	ConsistentRead           *bool
	ProjectionExpression     *string
	ExpressionAttributeNames map[string]string
}

type GetItemOutput struct {
	Item map[string]types.AttributeValue
}

type PutItemInput struct {
	TableName                           *string
	Item                                map[string]types.AttributeValue
	ConditionExpression                 *string
	ExpressionAttributeNames            map[string]string
	ExpressionAttributeValues           map[string]types.AttributeValue
	ReturnValues                        types.ReturnValue
	ReturnValuesOnConditionCheckFailure types.ReturnValuesOnConditionCheckFailure
}

type PutItemOutput struct {
	Attributes map[string]types.AttributeValue
}

type UpdateItemInput struct {
	TableName                           *string
	Key                                 map[string]types.AttributeValue
	UpdateExpression                    *string
	ConditionExpression                 *string
	ExpressionAttributeNames            map[string]string
	ExpressionAttributeValues           map[string]types.AttributeValue
	ReturnValues                        types.ReturnValue
	ReturnValuesOnConditionCheckFailure types.ReturnValuesOnConditionCheckFailure
}

type UpdateItemOutput struct {
	Attributes map[string]types.AttributeValue
}

type DeleteItemInput struct {
	TableName                           *string
	Key                                 map[string]types.AttributeValue
	ConditionExpression                 *string
	ExpressionAttributeNames            map[string]string
	ExpressionAttributeValues           map[string]types.AttributeValue
	ReturnValues                        types.ReturnValue
	ReturnValuesOnConditionCheckFailure types.ReturnValuesOnConditionCheckFailure
}

type DeleteItemOutput struct {
	Attributes map[string]types.AttributeValue
}

// request is every operation's input as sent: what is not set is left out.
type request struct {
	TableName                           *string           `json:",omitempty"`
	Key                                 item              `json:",omitempty"`
	Item                                item              `json:",omitempty"`
	ConsistentRead                      *bool             `json:",omitempty"`
	ProjectionExpression                *string           `json:",omitempty"`
	UpdateExpression                    *string           `json:",omitempty"`
	ConditionExpression                 *string           `json:",omitempty"`
	ExpressionAttributeNames            map[string]string `json:",omitempty"`
	ExpressionAttributeValues           item              `json:",omitempty"`
	ReturnValues                        string            `json:",omitempty"`
	ReturnValuesOnConditionCheckFailure string            `json:",omitempty"`
}

// answer reads an operation's output: its Item or Attributes, named
// exactly as DynamoDB names them.
type answer struct {
	Item       map[string]types.AttributeValue
	Attributes map[string]types.AttributeValue
}

func (a *answer) UnmarshalJSON(b []byte) error {
	top, err := decodeObject(b)
	if err != nil {
		return err
	}
	if a.Item, err = itemOf(top["Item"], 0); err != nil {
		return fmt.Errorf("Item: %w", err)
	}
	if a.Attributes, err = itemOf(top["Attributes"], 0); err != nil {
		return fmt.Errorf("Attributes: %w", err)
	}
	return nil
}

// GetItem reads an item.
func (c *Client) GetItem(ctx context.Context, params *GetItemInput, optFns ...func(*Options)) (*GetItemOutput, error) {
	if params == nil {
		params = &GetItemInput{}
	}
	var out answer
	err := c.c.JSON(ctx, version, prefix+"GetItem", request{TableName: params.TableName, Key: params.Key, ConsistentRead: params.ConsistentRead,
		ProjectionExpression: params.ProjectionExpression, ExpressionAttributeNames: params.ExpressionAttributeNames}, &out, optFns...)
	if err != nil {
		return nil, err
	}
	return &GetItemOutput{Item: out.Item}, nil
}

// PutItem writes an item.
func (c *Client) PutItem(ctx context.Context, params *PutItemInput, optFns ...func(*Options)) (*PutItemOutput, error) {
	if params == nil {
		params = &PutItemInput{}
	}
	var out answer
	err := c.c.JSON(ctx, version, prefix+"PutItem", request{TableName: params.TableName, Item: params.Item, ConditionExpression: params.ConditionExpression,
		ExpressionAttributeNames: params.ExpressionAttributeNames, ExpressionAttributeValues: params.ExpressionAttributeValues,
		ReturnValues: string(params.ReturnValues), ReturnValuesOnConditionCheckFailure: string(params.ReturnValuesOnConditionCheckFailure)}, &out, optFns...)
	if err != nil {
		return nil, err
	}
	return &PutItemOutput{Attributes: out.Attributes}, nil
}

// UpdateItem changes an item.
func (c *Client) UpdateItem(ctx context.Context, params *UpdateItemInput, optFns ...func(*Options)) (*UpdateItemOutput, error) {
	if params == nil {
		params = &UpdateItemInput{}
	}
	var out answer
	err := c.c.JSON(ctx, version, prefix+"UpdateItem", request{TableName: params.TableName, Key: params.Key, UpdateExpression: params.UpdateExpression,
		ConditionExpression: params.ConditionExpression, ExpressionAttributeNames: params.ExpressionAttributeNames, ExpressionAttributeValues: params.ExpressionAttributeValues,
		ReturnValues: string(params.ReturnValues), ReturnValuesOnConditionCheckFailure: string(params.ReturnValuesOnConditionCheckFailure)}, &out, optFns...)
	if err != nil {
		return nil, err
	}
	return &UpdateItemOutput{Attributes: out.Attributes}, nil
}

// DeleteItem deletes an item.
func (c *Client) DeleteItem(ctx context.Context, params *DeleteItemInput, optFns ...func(*Options)) (*DeleteItemOutput, error) {
	if params == nil {
		params = &DeleteItemInput{}
	}
	var out answer
	err := c.c.JSON(ctx, version, prefix+"DeleteItem", request{TableName: params.TableName, Key: params.Key, ConditionExpression: params.ConditionExpression,
		ExpressionAttributeNames: params.ExpressionAttributeNames, ExpressionAttributeValues: params.ExpressionAttributeValues,
		ReturnValues: string(params.ReturnValues), ReturnValuesOnConditionCheckFailure: string(params.ReturnValuesOnConditionCheckFailure)}, &out, optFns...)
	if err != nil {
		return nil, err
	}
	return &DeleteItemOutput{Attributes: out.Attributes}, nil
}

// item is an item's attributes as sent: {"name": {"S": "v"}}.
type item map[string]types.AttributeValue

func (m item) MarshalJSON() ([]byte, error) {
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		b, err := marshalValue(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		out[k] = b
	}
	return json.Marshal(out)
}

// member is one AttributeValue as sent: {"<kind>": value}. Every kind
// is written out, an empty set too (DynamoDB refuses it, as it refuses
// the SDK's), so nothing is dropped on the way.
func member(kind string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return []byte(`{"` + kind + `":` + string(b) + `}`), nil
}

func marshalValue(v types.AttributeValue) ([]byte, error) {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return member("S", v.Value)
	case *types.AttributeValueMemberN:
		return member("N", v.Value)
	case *types.AttributeValueMemberB:
		if v.Value == nil {
			return nil, errors.New("a binary value that is nil")
		}
		return member("B", v.Value) // base64, as encoding/json writes []byte
	case *types.AttributeValueMemberSS:
		return member("SS", nonNil(v.Value))
	case *types.AttributeValueMemberNS:
		return member("NS", nonNil(v.Value))
	case *types.AttributeValueMemberBS:
		set := v.Value
		if set == nil {
			set = [][]byte{}
		}
		return member("BS", set)
	case *types.AttributeValueMemberM:
		b, err := item(v.Value).MarshalJSON()
		if err != nil {
			return nil, err
		}
		return []byte(`{"M":` + string(b) + `}`), nil
	case *types.AttributeValueMemberL:
		list := make([]json.RawMessage, len(v.Value))
		for i, e := range v.Value {
			b, err := marshalValue(e)
			if err != nil {
				return nil, err
			}
			list[i] = b
		}
		return member("L", list)
	case *types.AttributeValueMemberNULL:
		return member("NULL", v.Value)
	case *types.AttributeValueMemberBOOL:
		return member("BOOL", v.Value)
	}
	return nil, fmt.Errorf("an attribute value of type %T", v)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// maxDepth is DynamoDB's own limit on nested maps and lists; an answer
// deeper than that is no DynamoDB answer.
const maxDepth = 32

// decodeObject parses a JSON object once, keys exactly as written (a
// struct would match "item" to Item), numbers and base64 as strings.
func decodeObject(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("more than one JSON value")
	}
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// itemOf reads an item, depth levels of maps and lists down.
func itemOf(v any, depth int) (map[string]types.AttributeValue, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("an item that is not a JSON object")
	}
	out := make(map[string]types.AttributeValue, len(m))
	for k, e := range m {
		a, err := valueOf(e, depth)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		out[k] = a
	}
	return out, nil
}

// valueOf reads one AttributeValue: an object of exactly one member, of a
// kind DynamoDB has, spelled as DynamoDB spells it.
func valueOf(v any, depth int) (types.AttributeValue, error) {
	if depth >= maxDepth {
		return nil, fmt.Errorf("maps and lists nested deeper than DynamoDB's %d levels", maxDepth)
	}
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return nil, errors.New("an attribute value must be an object of exactly one member")
	}
	for kind, e := range m {
		switch kind {
		case "S":
			s, ok := e.(string)
			if !ok {
				return nil, errors.New("S must be a string")
			}
			return &types.AttributeValueMemberS{Value: s}, nil
		case "N":
			s, ok := e.(string)
			if !ok {
				return nil, errors.New("N must be a string")
			}
			return &types.AttributeValueMemberN{Value: s}, nil
		case "B":
			b, err := binary(e)
			return &types.AttributeValueMemberB{Value: b}, err
		case "SS", "NS":
			list, ok := e.([]any)
			if !ok {
				return nil, fmt.Errorf("%s must be a list", kind)
			}
			set := make([]string, len(list))
			for i, x := range list {
				if set[i], ok = x.(string); !ok {
					return nil, fmt.Errorf("%s must hold strings", kind)
				}
			}
			if kind == "SS" {
				return &types.AttributeValueMemberSS{Value: set}, nil
			}
			return &types.AttributeValueMemberNS{Value: set}, nil
		case "BS":
			list, ok := e.([]any)
			if !ok {
				return nil, errors.New("BS must be a list")
			}
			set := make([][]byte, len(list))
			for i, x := range list {
				b, err := binary(x)
				if err != nil {
					return nil, err
				}
				set[i] = b
			}
			return &types.AttributeValueMemberBS{Value: set}, nil
		case "M":
			inner, err := itemOf(e, depth+1)
			if err == nil && inner == nil {
				err = errors.New("M must be an object")
			}
			return &types.AttributeValueMemberM{Value: inner}, err
		case "L":
			list, ok := e.([]any)
			if !ok {
				return nil, errors.New("L must be a list")
			}
			out := make([]types.AttributeValue, len(list))
			for i, x := range list {
				a, err := valueOf(x, depth+1)
				if err != nil {
					return nil, err
				}
				out[i] = a
			}
			return &types.AttributeValueMemberL{Value: out}, nil
		case "NULL", "BOOL":
			b, ok := e.(bool)
			if !ok {
				return nil, fmt.Errorf("%s must be true or false", kind)
			}
			if kind == "NULL" {
				return &types.AttributeValueMemberNULL{Value: b}, nil
			}
			return &types.AttributeValueMemberBOOL{Value: b}, nil
		}
		return nil, fmt.Errorf("an attribute value of kind %q", kind)
	}
	return nil, errors.New("an empty attribute value")
}

func binary(v any) ([]byte, error) {
	s, ok := v.(string)
	if !ok {
		return nil, errors.New("a binary value must be base64 text")
	}
	return base64.StdEncoding.DecodeString(s)
}

// typedError is the SDK's error type for a code, matched as the SDK
// matches it (case aside); a failed condition carries the item DynamoDB
// returns with it (ReturnValuesOnConditionCheckFailure).
func typedError(code, message string, body []byte) error {
	m := aws.String(message)
	switch strings.ToLower(code) {
	case "conditionalcheckfailedexception":
		e := &types.ConditionalCheckFailedException{Message: m}
		if top, err := decodeObject(body); err == nil {
			e.Item, _ = itemOf(top["Item"], 0)
		}
		return e
	case "resourcenotfoundexception":
		return &types.ResourceNotFoundException{Message: m}
	case "provisionedthroughputexceededexception":
		return &types.ProvisionedThroughputExceededException{Message: m}
	case "requestlimitexceeded":
		return &types.RequestLimitExceeded{Message: m}
	case "throttlingexception":
		return &types.ThrottlingException{Message: m}
	case "transactionconflictexception":
		return &types.TransactionConflictException{Message: m}
	case "replicatedwriteconflictexception":
		return &types.ReplicatedWriteConflictException{Message: m}
	case "itemcollectionsizelimitexceededexception":
		return &types.ItemCollectionSizeLimitExceededException{Message: m}
	case "invalidendpointexception":
		return &types.InvalidEndpointException{Message: m}
	case "internalservererror":
		return &types.InternalServerError{Message: m}
	}
	return nil
}
