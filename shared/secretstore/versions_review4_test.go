package secretstore

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// TestVersionCreatedEndsOnAnEmptyToken: moto (the local emulation and the
// tests' server) answers every ListSecretVersionIds with "NextToken": "",
// and the SDK's own paginators take an empty or repeated token as the end.
// VersionCreated takes only nil as the end: a pending version that is not
// listed (its AWSPENDING label removed between DescribeSecret and the
// listing, as docs/rotation.md's recovery does, makes it deprecated and
// unlisted) loops on the same page until the Lambda times out.
func TestVersionCreatedEndsOnAnEmptyToken(t *testing.T) {
	calls := 0
	s := New(fakeClient{listVersions: func(in *secretsmanager.ListSecretVersionIdsInput) (*secretsmanager.ListSecretVersionIdsOutput, error) {
		calls++
		if calls > 100 {
			return nil, errors.New("stop: the same page 100 times")
		}
		return &secretsmanager.ListSecretVersionIdsOutput{Versions: []types.SecretVersionsListEntry{{VersionId: aws.String("a")}}, NextToken: aws.String("")}, nil
	}})
	got, err := s.VersionCreated(context.Background(), "app/x", "gone")
	if calls > 1 {
		t.Fatalf("VersionCreated asked for the same empty-token page %d times (%v, %v)", calls, got, err)
	}
}
