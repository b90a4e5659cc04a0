package awslite_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dbcreds/provisioner/shared/awslite/dynamodb"
)

// TestNestedAnswerCostReviewD: an answer was read again at each level
// of nesting, so a deep answer with a large leaf cost its depth times its
// size (3.5 s for 1 MB nested 200 deep, against the SDK's 20 ms). The
// answer is now parsed once, and nesting deeper than DynamoDB's own limit
// of 32 levels is no DynamoDB answer: refused, as a forged endpoint's.
func TestNestedAnswerCostReviewD(t *testing.T) {
	ctx := context.Background()
	nested := func(depth int) string {
		return `{"Item":{"a":` + strings.Repeat(`{"L":[`, depth) + `{"S":"` + strings.Repeat("a", 1<<20) + `"}` + strings.Repeat(`]}`, depth) + `}}`
	}
	for _, tt := range []struct {
		depth int
		ok    bool
	}{{31, true}, {32, false}, {200, false}} {
		_, err := dynamodb.New(liteOptions(&recorder{answer: nested(tt.depth)})).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t")})
		if (err == nil) != tt.ok {
			t.Errorf("%d lists deep: %v, want read %v", tt.depth, err, tt.ok)
		}
	}
}
