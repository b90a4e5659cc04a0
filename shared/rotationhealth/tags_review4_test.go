package rotationhealth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/dbcreds/provisioner/shared/awsname"
)

// TestFailureCountsWhateverTheTags: provisioned-via and provisioned-engine
// are reserved only in the provisioner's requests; anyone with
// secretsmanager:TagResource on a secret under the prefix can set them.
// RotationFailuresAlarm sums RotationFailed/RotationAbandoned for Trigger
// in {cloudformation, http-api, eventbridge, unknown} only, so a failed
// rotation of a secret whose tag says anything else (or a non-ASCII value,
// which CloudWatch refuses as a dimension) is never alarmed, and every
// distinct value is a new metric (unbounded cardinality). The dimensions
// must come from a closed set.
func TestFailureCountsWhateverTheTags(t *testing.T) {
	alarmed := map[string]bool{"cloudformation": true, "http-api": true, "eventbridge": true, "unknown": true}
	engines := map[string]bool{"mysql": true, "aurora-mysql": true, "mariadb": true, "postgres": true, "aurora-postgresql": true,
		"oracle": true, "sqlserver": true, "db2": true, "redshift": true, "mongo": true, "unknown": true}
	for _, tags := range [][2]string{{"CloudFormation", "postgres"}, {"hidden", "postgres"}, {"é", "postgres"}, {"http-api", "x-1a2b3c-attacker-chosen"}} {
		d := describer(func(*secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error) {
			return &secretsmanager.DescribeSecretOutput{ARN: aws.String("arn"), Tags: []types.Tag{
				{Key: aws.String(TagVia), Value: aws.String(tags[0])}, {Key: aws.String(TagEngine), Value: aws.String(tags[1])}}}, nil
		})
		var out bytes.Buffer
		r, err := New(d, awsname.SecretARNPrefix("us-east-1", "123456789012", "app/"), "123456789012", &out)
		if err != nil {
			t.Fatal(err)
		}
		r.now = func() time.Time { return time.Unix(1700000000, 0) }
		if _, err := r.Record(context.Background(), sample(t, nil)); err != nil {
			t.Fatal(err)
		}
		var line map[string]any
		if err := json.Unmarshal(out.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		if trigger, _ := line["Trigger"].(string); !alarmed[trigger] {
			t.Errorf("tags %q: RotationFailed recorded under Trigger %q, which RotationFailuresAlarm does not watch", tags, trigger)
		}
		if engine, _ := line["Engine"].(string); !engines[engine] {
			t.Errorf("tags %q: Engine dimension %q comes straight from a tag anyone with TagResource sets", tags, engine)
		}
	}
}

// TestFailureCountsWhenTheSecretCannotBeDescribed: the outcome is known
// from the event alone; DescribeSecret only adds the dimensions. A
// describe that fails (throttling, a resource policy that denies the
// function, an endpoint down) writes no metric, and with no DLQ or
// on-failure destination the event is gone after Lambda's two retries:
// RotationFailuresAlarm never sees the failure.
func TestFailureCountsWhenTheSecretCannotBeDescribed(t *testing.T) {
	denied := describer(func(*secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error) {
		return nil, errors.New("AccessDeniedException")
	})
	var out bytes.Buffer
	r, err := New(denied, awsname.SecretARNPrefix("us-east-1", "123456789012", "app/"), "123456789012", &out)
	if err != nil {
		t.Fatal(err)
	}
	r.Record(context.Background(), sample(t, nil))
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil || line["RotationFailed"] != float64(1) {
		t.Fatalf("a RotationFailed whose secret could not be described wrote %q: the alarm never counts it", out.String())
	}
}
