package secretspec

import (
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/shared/errcode"
)

func TestRules(t *testing.T) {
	reserved := func(k string) bool { return strings.EqualFold(k, "provisioned-by") }
	for _, tt := range []struct {
		name      string
		err       error
		wantField string // "" when valid
	}{
		{"name ok", ValidateName("app/orders/db"), ""},
		{"name with a space", ValidateName("app/orders db"), "name"},
		{"name like an ARN suffix", ValidateName("app/db-AbCdEf"), "name"},
		{"name with ..", ValidateName("app/../db"), "name"},
		{"description at the limit", ValidateDescription(strings.Repeat("é", MaxDescriptionLength)), ""},
		{"description over", ValidateDescription(strings.Repeat("é", MaxDescriptionLength+1)), "description"},
		{"tags: room for the reserved", ValidateTags(make(Tags, MaxTags-1), 2, reserved), "tags"},
		{"tag reserved in another case", ValidateTags(Tags{{Key: "Provisioned-By"}}, 0, reserved), "tags[0].key"},
		{"tag twice", ValidateTags(Tags{{Key: "a"}, {Key: "a"}}, 0, reserved), "tags[1].key"},
		{"tag aws:", ValidateTags(Tags{{Key: "AWS:x"}}, 0, reserved), "tags[0].key"},
		{"replicas ok", ValidateReplicas(Replicas{{Region: "eu-west-1", KmsKeyID: "alias/app"}}, "us-east-1"), ""},
		{"replica is the primary", ValidateReplicas(Replicas{{Region: "us-east-1"}}, "us-east-1"), "replicaRegions[0].region"},
		{"replica twice", ValidateReplicas(Replicas{{Region: "eu-west-1"}, {Region: "eu-west-1"}}, "us-east-1"), "replicaRegions[1].region"},
		{"replica not a Region", ValidateReplicas(Replicas{{Region: "Europe"}}, "us-east-1"), "replicaRegions[0].region"},
		{"replica key not a key", ValidateReplicas(Replicas{{Region: "eu-west-1", KmsKeyID: "my key"}}, "us-east-1"), "replicaRegions[0].kmsKeyId"},
		{"key empty is the AWS managed key", ValidateKMSKey("kmsKeyId", ""), ""},
		{"key too long", ValidateKMSKey("kmsKeyId", "alias/"+strings.Repeat("k", MaxKmsKeyIDLength)), "kmsKeyId"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantField == "" {
				if tt.err != nil {
					t.Fatalf("refused: %v", tt.err)
				}
				return
			}
			if errcode.Of(tt.err) != errcode.Invalid || errcode.FieldOf(tt.err) != tt.wantField {
				t.Fatalf("got %v (field %q), want invalid %s", tt.err, errcode.FieldOf(tt.err), tt.wantField)
			}
		})
	}
}

func TestSDKForms(t *testing.T) {
	tags := Tags{{Key: "team", Value: "orders"}}.SDK()
	if len(tags) != 1 || *tags[0].Key != "team" || *tags[0].Value != "orders" {
		t.Fatalf("tags: %+v", tags)
	}
	reps := Replicas{{Region: "eu-west-1"}, {Region: "eu-central-1", KmsKeyID: "alias/app"}}.SDK()
	if len(reps) != 2 || reps[0].KmsKeyId != nil || *reps[1].KmsKeyId != "alias/app" {
		t.Fatalf("replicas: %+v", reps)
	}
}
