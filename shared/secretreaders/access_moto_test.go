package secretreaders_test

import (
	"context"
	"os"
	"slices"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/testenv/motoserver"
	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/secretreaders"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/userledger"
)

var moto *motoserver.Server

func TestMain(m *testing.M) {
	motoserver.Main(m, func(s *motoserver.Server) error {
		moto = s
		if err := os.Setenv(userledger.EnvTable, "database-users"); err != nil {
			return err
		}
		return motoserver.CreateTable(context.Background(), s.Env(), "us-east-1", "database-users", "id")
	})
}

const (
	reader   = "arn:aws:iam::444455556666:role/reader"
	reporter = "arn:aws:iam::123456789012:role/reporting"
)

type fixture struct {
	access  *secretreaders.Access
	secrets *secretsmanager.Client
	keys    *kms.Client
}

func setup(t *testing.T) fixture {
	t.Helper()
	if moto == nil {
		t.Skip("needs moto_server; not in -short mode")
	}
	secrets, err := secretstore.ClientFromEnvironment(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	access, err := secretreaders.FromEnvironment(os.Getenv, secrets)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := awsclient.FromEnvironment(os.Getenv)
	keys := kms.New(kms.Options{Region: "us-east-1", Credentials: s.Credentials, BaseEndpoint: s.Endpoint("KMS")})
	return fixture{access: access, secrets: secrets, keys: keys}
}

// key makes a customer managed key in region, with an alias.
func (f fixture) key(t *testing.T, region, alias string) string {
	t.Helper()
	in := func(o *kms.Options) { o.Region = region }
	out, err := f.keys.CreateKey(context.Background(), &kms.CreateKeyInput{}, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.keys.CreateAlias(context.Background(), &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: out.KeyMetadata.KeyId}, in); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

func (f fixture) secret(t *testing.T, name, key string) string {
	t.Helper()
	out, err := f.secrets.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("{}"), KmsKeyId: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

type grant struct{ grantee, secret string }

// grants are the grants on key the way a reader would see them: grantee
// and the one SecretARN they are constrained to, for every grant that
// names this function's grant name, with its exact shape checked.
func (f fixture) grants(t *testing.T, region, key string) []grant {
	t.Helper()
	out, err := f.keys.ListGrants(context.Background(), &kms.ListGrantsInput{KeyId: aws.String(key)}, func(o *kms.Options) { o.Region = region })
	if err != nil {
		t.Fatal(err)
	}
	var got []grant
	for _, g := range out.Grants {
		if aws.ToString(g.Name) != secretreaders.GrantName {
			continue
		}
		if !slices.Equal(g.Operations, []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}) || g.Constraints == nil ||
			len(g.Constraints.EncryptionContextSubset) != 1 || len(g.Constraints.EncryptionContextEquals) != 0 || aws.ToString(g.RetiringPrincipal) == "" {
			t.Errorf("grant %s: operations %v, constraints %+v, retiring %q: want Decrypt on one SecretARN, retirable", aws.ToString(g.GrantId), g.Operations, g.Constraints, aws.ToString(g.RetiringPrincipal))
		}
		got = append(got, grant{aws.ToString(g.GranteePrincipal), g.Constraints.EncryptionContextSubset["SecretARN"]})
	}
	sort.Slice(got, func(i, j int) bool { return got[i].grantee+got[i].secret < got[j].grantee+got[j].secret })
	return got
}

func (f fixture) policy(t *testing.T, arn string) string {
	t.Helper()
	out, err := f.secrets.GetResourcePolicy(context.Background(), &secretsmanager.GetResourcePolicyInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ResourcePolicy)
}

// TestGrantsFollowReaders: a grant per reader on each key of each copy,
// constrained to that copy's ARN; a retry makes none twice; a reader that
// goes, or a key the secret leaves, has its grant retired; grants that
// are not this function's are never touched.
func TestGrantsFollowReaders(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	primary := f.key(t, "us-east-1", "alias/orders-secrets")
	replica := f.key(t, "eu-west-1", "alias/orders-secrets")
	arn := f.secret(t, "app/orders/grants", primary)
	replicaARN := secretreaders.InRegion(arn, "eu-west-1")

	keys, err := f.access.Keys(ctx, []secretreaders.Copy{{Region: "us-east-1", KmsKeyID: "alias/orders-secrets", Field: "kmsKeyId"}, {Region: "eu-west-1", KmsKeyID: "alias/orders-secrets"}, {Region: "ap-south-1"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := []secretreaders.Key{{Region: "us-east-1", ARN: primary}, {Region: "eu-west-1", ARN: replica}}; !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v (aliases resolved, the AWS managed key of ap-south-1 left out)", keys, want)
	}
	// Someone else's grants on the same key: another name, and the same
	// name for another secret.
	other := f.secret(t, "app/billing/db", primary)
	for _, in := range []*kms.CreateGrantInput{
		{KeyId: aws.String(primary), GranteePrincipal: aws.String(reader), Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}, Name: aws.String("billing")},
		{KeyId: aws.String(primary), GranteePrincipal: aws.String(reader), Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}, Name: aws.String(secretreaders.GrantName),
			Constraints: &kmstypes.GrantConstraints{EncryptionContextSubset: map[string]string{"SecretARN": other}}, RetiringPrincipal: aws.String("arn:aws:sts::123456789012:user/moto")},
	} {
		if _, err := f.keys.CreateGrant(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	theirs := []grant{{reader, other}}

	apply := func(readers []string, keys []secretreaders.Key, fresh bool) {
		t.Helper()
		if err := f.access.Apply(ctx, secretreaders.Target{Via: "http-api", SecretARN: arn, Readers: readers, Keys: keys, Fresh: fresh}); err != nil {
			t.Fatal(err)
		}
	}
	apply([]string{reader, reporter}, keys, true)
	apply([]string{reader, reporter}, keys, false) // a retry
	if got, want := f.grants(t, "us-east-1", primary), sorted(grant{reader, arn}, theirs[0], grant{reporter, arn}); !slices.Equal(got, want) {
		t.Errorf("primary key's grants %v, want %v", got, want)
	}
	if got, want := f.grants(t, "eu-west-1", replica), sorted(grant{reader, replicaARN}, grant{reporter, replicaARN}); !slices.Equal(got, want) {
		t.Errorf("replica key's grants %v, want %v", got, want)
	}
	if readers, ours := secretreaders.Ours(f.policy(t, arn)); !ours || !slices.Equal(readers, []string{reader, reporter}) {
		t.Errorf("policy %s: want the readers' own", f.policy(t, arn))
	}

	// The reporter goes, and the replica's key with it (the replica went).
	apply([]string{reader}, keys[:1], false)
	if got, want := f.grants(t, "us-east-1", primary), sorted(grant{reader, arn}, theirs[0]); !slices.Equal(got, want) {
		t.Errorf("after the reporter went: %v, want %v", got, want)
	}
	if got := f.grants(t, "eu-west-1", replica); len(got) != 0 {
		t.Errorf("the replica's key keeps %v", got)
	}
	if readers, _ := f.access.Readers(ctx, arn); !slices.Equal(readers, []string{reader}) {
		t.Errorf("readers %v", readers)
	}

	// No readers: the policy and the grants go; others' stay.
	apply(nil, nil, false)
	if got := f.grants(t, "us-east-1", primary); !slices.Equal(got, theirs) {
		t.Errorf("after readers went: %v, want only %v", got, theirs)
	}
	if p := f.policy(t, arn); p != "" {
		t.Errorf("policy left: %s", p)
	}
}

// TestHandPolicyIsLeftAlone: a policy this provisioner did not write is
// neither overwritten (readers: conflict, and no grant is made) nor
// deleted (no readers).
func TestHandPolicyIsLeftAlone(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	key := f.key(t, "us-east-1", "alias/hand")
	arn := f.secret(t, "app/orders/hand", key)
	hand := `{"Version":"2012-10-17","Statement":[{"Sid":"Auditors","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/auditor"},"Action":"secretsmanager:DescribeSecret","Resource":"*"}]}`
	if _, err := f.secrets.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: aws.String(arn), ResourcePolicy: aws.String(hand)}); err != nil {
		t.Fatal(err)
	}
	keys := []secretreaders.Key{{Region: "us-east-1", ARN: key}}
	err := f.access.Apply(ctx, secretreaders.Target{Via: "http-api", SecretARN: arn, Readers: []string{reader}, Keys: keys})
	if errcode.Of(err) != errcode.Conflict || errcode.FieldOf(err) != "readers" {
		t.Fatalf("readers over a hand policy: %v, want a conflict on readers", err)
	}
	if got := f.grants(t, "us-east-1", key); len(got) != 0 {
		t.Errorf("a refused request made grants %v", got)
	}
	if err := f.access.Apply(ctx, secretreaders.Target{Via: "http-api", SecretARN: arn}); err != nil {
		t.Fatal(err)
	}
	if got := f.policy(t, arn); got != hand {
		t.Errorf("the hand policy became %q", got)
	}
	if readers, err := f.access.Readers(ctx, arn); err != nil || readers != nil {
		t.Errorf("a hand policy reads as readers %v, %v", readers, err)
	}
}

// TestKeysRefused: an AWS managed key named outright, or a key that does
// not exist, is refused before anything is made, naming the field.
func TestKeysRefused(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	// moto makes AWS managed keys as Secrets Manager would, on first use.
	if _, err := f.secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/managed"), SecretString: aws.String("{}")}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, id string
	}{
		{"the AWS managed key", "alias/aws/secretsmanager"},
		{"no such key", "alias/nothing-here"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.access.Keys(ctx, []secretreaders.Copy{{Region: "us-east-1", KmsKeyID: tt.id, Field: "replicaRegions[0].kmsKeyId"}}, true)
			if errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != "replicaRegions[0].kmsKeyId" {
				t.Fatalf("%s: %v, want invalid naming the field", tt.id, err)
			}
		})
	}
	if keys, err := f.access.Keys(ctx, []secretreaders.Copy{{Region: "us-east-1", KmsKeyID: "alias/nothing-here"}}, false); err != nil || len(keys) != 0 {
		t.Errorf("a gone key, readers in this account: %v, %v; want none, no error (CreateSecret says what is wrong)", keys, err)
	}
}

func sorted(gs ...grant) []grant {
	sort.Slice(gs, func(i, j int) bool { return gs[i].grantee+gs[i].secret < gs[j].grantee+gs[j].secret })
	return gs
}
