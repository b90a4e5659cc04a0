package motoserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dbcreds/provisioner/shared/awsclient"
)

// CreateTable makes a DynamoDB table with a string partition key at the
// DynamoDB endpoint env names (AWS_ENDPOINT_URL_DYNAMODB, with the
// credentials beside it), as a stack would have made it; a table that
// exists is left as it is. Without that endpoint it does nothing: local
// runs never create tables in a real account.
func CreateTable(ctx context.Context, env map[string]string, region, name, partitionKey string) error {
	if env["AWS_ENDPOINT_URL_DYNAMODB"] == "" {
		return nil
	}
	s, err := awsclient.FromEnvironment(func(k string) string {
		if k == "AWS_REGION" {
			return region
		}
		return env[k]
	})
	if err != nil {
		return err
	}
	// The SDK's client: the functions' own (awslite) makes no tables.
	client := dynamodb.New(dynamodb.Options{Region: s.Region, Credentials: s.Credentials, BaseEndpoint: s.Endpoint("DYNAMODB"), Retryer: s.Retryer()})
	_, err = client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(partitionKey), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(partitionKey), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	var exists *types.ResourceInUseException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("creating the DynamoDB table %s: %w", name, err)
	}
	return nil
}
