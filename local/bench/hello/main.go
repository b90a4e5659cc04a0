// Command hello is the smallest aws-lambda-go function, built like ours:
// make bench measures its start-up so that the cost of our own shows.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (string, error) { return "hello", nil })
}
