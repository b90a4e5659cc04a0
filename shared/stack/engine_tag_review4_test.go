package stack_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// TestUpdateOfASecretMadeBeforeTheEngineTag: a database secret made before
// provisioned-engine existed, by a stack whose 48 tags filled the budget
// (48 + provisioned-by + provisioned-via = 50). An update that changes only
// the description never adds the engine tag (updateTags leaves reserved
// tags alone), yet Check now counts it and refuses the stack's own tags:
// every stack at the limit can no longer be updated.
func TestUpdateOfASecretMadeBeforeTheEngineTag(t *testing.T) {
	ctx := context.Background()
	l := lifecycle(t)
	name := uniqueName(t)
	tags := func(n int) string {
		var b []string
		for i := 0; i < n; i++ {
			b = append(b, fmt.Sprintf(`{"Key": "k%d", "Value": "v"}`, i))
		}
		return "[" + strings.Join(b, ",") + "]"
	}
	body := func(description string, n int) string {
		return `{"Name": "` + name + `", "Description": "` + description + `", "Engine": "postgres", "Host": "h.internal", "Username": "app", "ReplicaRegions": [], "Tags": ` + tags(n) + `}`
	}
	created, err := l.Create(ctx, resource(t, "create"), decode(t, body("v1", 47)))
	if err != nil {
		t.Fatal(err)
	}
	// As the previous version left it: no engine tag, 48 of the stack's.
	c := client(t, primary)
	if _, err := c.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String(created.ARN), TagKeys: []string{"provisioned-engine"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(created.ARN), Tags: []types.Tag{{Key: aws.String("k47"), Value: aws.String("v")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Update(ctx, resource(t, "update"), created.ARN, decode(t, body("v1", 48)), decode(t, body("v2", 48))); err != nil {
		t.Fatalf("an update that adds no tag to a secret made before provisioned-engine: %v", err)
	}
}
