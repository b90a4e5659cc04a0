package provision_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/dbcreds/provisioner/local/testenv/core"
	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/awslite/kms"
	"github.com/dbcreds/provisioner/shared/awslite/sts"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/secretreaders"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// grantsFailing is moto's KMS, but CreateGrant for the role "gone"
// answers with fail: as KMS does for a grantee that is no principal.
type grantsFailing struct {
	*kms.Client
	fail error
}

func (g grantsFailing) CreateGrant(ctx context.Context, in *kms.CreateGrantInput, opts ...func(*kms.Options)) (*kms.CreateGrantOutput, error) {
	if g.fail != nil && strings.HasSuffix(aws.ToString(in.GranteePrincipal), ":role/gone") {
		return nil, g.fail
	}
	return g.Client.CreateGrant(ctx, in, opts...)
}

func readersFailing(t *testing.T, fail error) *secretreaders.Access {
	t.Helper()
	s, err := awsclient.FromEnvironment(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	identity := sts.New(sts.Options{Region: s.Region, Credentials: s.Credentials, BaseEndpoint: s.Endpoint("STS")})
	dynamo, err := userledger.ClientFromEnvironment(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	a, err := secretreaders.New(core.SecretsClient(t), grantsFailing{core.Keys(t, primary), fail}, userledger.New(dynamo, core.UsersTable), identity)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestReadersThatFailLeaveNothing: readers that AWS refuses after the
// secret is made (a principal that is none) leave nothing behind. A
// passing failure of a request with an idempotency key keeps the secret
// for the retry, which completes it.
func TestReadersThatFailLeaveNothing(t *testing.T) {
	ctx := context.Background()
	key := core.Key(t, primary)
	body := func(name string) string {
		return `{"name": "` + name + `", "engine": "mysql", "host": "h", "replicaRegions": [], "kmsKeyId": "` + key + `", "readers": ["arn:aws:iam::` + core.OtherAccount + `:role/app", "arn:aws:iam::` + core.OtherAccount + `:role/gone"]}`
	}
	create := func(name, key string, fail error) error {
		_, err := core.ServiceWithReaders(t, testConfig(t, testGrants), readersFailing(t, fail)).Create(ctx, decode(t, body(name)), key)
		return err
	}
	refused := &kmstypes.InvalidArnException{Message: aws.String("the grantee principal is not valid")}
	passing := &kmstypes.KMSInternalException{Message: aws.String("try again")}
	for _, tt := range []struct {
		name       string
		key        string
		fail       error
		code       errcode.Code
		secretKept bool
	}{
		{"refused with a key", "event-1", refused, errcode.Invalid, false},
		{"refused without a key", "", refused, errcode.Invalid, false},
		// No retry would come to complete it.
		{"passing without a key", "", passing, errcode.Upstream, false},
		{"passing with a key", "event-2", passing, errcode.Upstream, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name := uniqueName(t)
			err := create(name, tt.key, tt.fail)
			if errcode.Of(err) != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
			if core.Exists(t, name) != tt.secretKept {
				t.Fatalf("the secret is there: %v, want %v", !tt.secretKept, tt.secretKept) // it is not what was wanted
			}
			grants, err := core.Keys(t, primary).ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range grants.Grants {
				if secret := g.Constraints.EncryptionContextSubset["SecretARN"]; strings.Contains(secret, ":secret:"+name+"-") && !tt.secretKept {
					t.Errorf("the first reader's grant is left: %s for %s", aws.ToString(g.GranteePrincipal), secret)
				}
			}
			if !tt.secretKept {
				return
			}
			if err := create(name, tt.key, nil); err != nil {
				t.Fatalf("the retry: %v, want it to complete", err)
			}
		})
	}
}
