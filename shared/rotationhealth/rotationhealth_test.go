package rotationhealth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
)

// describer is DescribeSecret as a function field.
type describer func(*secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error)

func (d describer) DescribeSecret(_ context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	return d(in)
}

// sample is the fixture: a RotationFailed event with the field layout AWS
// delivers (CloudTrail through EventBridge), edited.
func sample(t *testing.T, edit func(map[string]any)) Event {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "secretsmanager-rotation-failed.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]any
	json.Unmarshal(raw, &e)
	if edit != nil {
		edit(e)
	}
	detail, _ := json.Marshal(e["detail"])
	return Event{Source: e["source"].(string), DetailType: e["detail-type"].(string), Account: e["account"].(string), Region: e["region"].(string), Detail: detail}
}

func detailOf(e map[string]any) map[string]any { return e["detail"].(map[string]any) }

func TestRecord(t *testing.T) {
	tagged := describer(func(*secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error) {
		return &secretsmanager.DescribeSecretOutput{ARN: aws.String("arn"), Tags: []types.Tag{{Key: aws.String(TagVia), Value: aws.String("http-api")}, {Key: aws.String(TagEngine), Value: aws.String("postgres")}}}, nil
	})
	gone := describer(func(*secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error) {
		return nil, &types.ResourceNotFoundException{Message: aws.String("gone")}
	})
	throttled := describer(func(*secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error) {
		return nil, errors.New("ThrottlingException")
	})
	for _, tt := range []struct {
		name    string
		client  describer
		edit    func(map[string]any)
		code    errcode.Code
		metric  string // the metric that is 1
		trigger string
		engine  string
	}{
		{"a failure", tagged, nil, "", "RotationFailed", "http-api", "postgres"},
		{"a success", tagged, func(e map[string]any) { detailOf(e)["eventName"] = "RotationSucceeded" }, "", "RotationSucceeded", "http-api", "postgres"},
		{"abandoned", tagged, func(e map[string]any) { detailOf(e)["eventName"] = "RotationAbandoned" }, "", "RotationAbandoned", "http-api", "postgres"},
		{"of a secret gone since", gone, nil, "", "RotationFailed", "unknown", "unknown"},
		{"a rotation starting", tagged, func(e map[string]any) { detailOf(e)["eventName"] = "RotationStarted" }, errcode.Invalid, "", "", ""},
		{"from another source", tagged, func(e map[string]any) { e["source"] = "dbcreds.requests" }, errcode.Invalid, "", "", ""},
		{"an API call", tagged, func(e map[string]any) { e["detail-type"] = "AWS API Call via CloudTrail" }, errcode.Invalid, "", "", ""},
		{"of another account", tagged, func(e map[string]any) { e["account"] = "444455556666" }, errcode.Invalid, "", "", ""},
		{"of a secret outside the prefix", tagged, func(e map[string]any) {
			detailOf(e)["additionalEventData"] = map[string]any{"SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:billing/db-AbCdEf"}
		}, errcode.Invalid, "", "", ""},
		{"the secret cannot be described", throttled, nil, "", "RotationFailed", "unknown", "unknown"},
		{"tags of values the metrics do not know", describer(func(*secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error) {
			return &secretsmanager.DescribeSecretOutput{ARN: aws.String("arn"), Tags: []types.Tag{{Key: aws.String(TagVia), Value: aws.String("CloudFormation")}, {Key: aws.String(TagEngine), Value: aws.String("x" + "y")}}}, nil
		}), nil, "", "RotationFailed", "unknown", "unknown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			r, err := New(tt.client, awsname.SecretARNPrefix("us-east-1", "123456789012", "app/"), "123456789012", &out)
			if err != nil {
				t.Fatal(err)
			}
			r.now = func() time.Time { return time.Unix(1700000000, 0) }
			o, err := r.Record(context.Background(), sample(t, tt.edit))
			if tt.code != "" {
				if errcode.Of(err) != tt.code || out.Len() != 0 {
					t.Fatalf("got %v and %q, want %s and no metric", err, out.String(), tt.code)
				}
				return
			}
			if err != nil || o.Trigger != tt.trigger || o.Engine != tt.engine {
				t.Fatalf("%+v, %v", o, err)
			}
			var line map[string]any
			if err := json.Unmarshal(out.Bytes(), &line); err != nil {
				t.Fatalf("EMF line %q: %v", out.String(), err)
			}
			for _, m := range []string{"RotationSucceeded", "RotationFailed", "RotationAbandoned"} {
				if want := float64(map[bool]int{true: 1}[m == tt.metric]); line[m] != want {
					t.Errorf("%s = %v, want %v (line %s)", m, line[m], want, out.String())
				}
			}
			if line["Trigger"] != tt.trigger || line["Engine"] != tt.engine || line["_aws"] == nil {
				t.Errorf("line %s", out.String())
			}
		})
	}
}

// TestTagsAreTheProvisioners: the tags read are the ones provision writes.
func TestTagsAreTheProvisioners(t *testing.T) {
	if TagVia != provision.TagProvisionedVia || TagEngine != provision.TagEngine {
		t.Fatalf("%s, %s; provision writes %s, %s", TagVia, TagEngine, provision.TagProvisionedVia, provision.TagEngine)
	}
}
