package secretstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	smithy "github.com/aws/smithy-go"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// fakeClient stands in for the SDK client; each method is a function field.
type fakeClient struct {
	createSecret   func(*secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error)
	describeSecret func(*secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error)
	getSecretValue func(*secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, error)
	listVersions   func(*secretsmanager.ListSecretVersionIdsInput) (*secretsmanager.ListSecretVersionIdsOutput, error)
}

func (f fakeClient) ListSecretVersionIds(_ context.Context, in *secretsmanager.ListSecretVersionIdsInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error) {
	if f.listVersions == nil {
		return nil, errors.New("ListSecretVersionIds was not expected")
	}
	return f.listVersions(in)
}

func (f fakeClient) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if f.getSecretValue == nil {
		return nil, errors.New("GetSecretValue was not expected")
	}
	return f.getSecretValue(in)
}

func (f fakeClient) CreateSecret(_ context.Context, in *secretsmanager.CreateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error) {
	return f.createSecret(in)
}

func (f fakeClient) DescribeSecret(_ context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	if f.describeSecret == nil {
		return nil, errors.New("DescribeSecret was not expected")
	}
	return f.describeSecret(in)
}

const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf"

func existing(token string, deleted bool) func(*secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error) {
	return func(in *secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error) {
		out := &secretsmanager.DescribeSecretOutput{
			ARN: aws.String(arn), Name: in.SecretId,
			VersionIdsToStages: map[string][]string{token: {"AWSCURRENT"}},
			ReplicationStatus:  []types.ReplicationStatusType{{Region: aws.String("eu-west-1"), Status: types.StatusTypeInSync}},
		}
		if deleted {
			out.DeletedDate = aws.Time(time.Now())
		}
		return out, nil
	}
}

func TestCreate(t *testing.T) {
	token := Token("request-1")
	exists := &types.ResourceExistsException{Message: aws.String("exists")}
	tests := []struct {
		name     string
		token    string
		create   func(*secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error)
		describe func(*secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error)
		tags     []types.Tag // the request's
		want     Created
		code     errcode.Code
		rule     string
	}{
		{
			name:  "created",
			token: token,
			create: func(in *secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
				return &secretsmanager.CreateSecretOutput{ARN: aws.String(arn), Name: in.Name, VersionId: in.ClientRequestToken,
					ReplicationStatus: []types.ReplicationStatusType{{Region: aws.String("eu-west-1"), KmsKeyId: aws.String("alias/aws/secretsmanager"), Status: types.StatusTypeInProgress}}}, nil
			},
			want: Created{ARN: arn, Name: "app/db", VersionID: token, Replicas: []ReplicaStatus{{Region: "eu-west-1", KmsKeyID: "alias/aws/secretsmanager", Status: "InProgress"}}},
		},
		{
			name:  "a retry finds its own version",
			token: token,
			create: func(*secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
				return nil, exists
			},
			describe: existing(token, false),
			want:     Created{ARN: arn, Name: "app/db", VersionID: token, Replicas: []ReplicaStatus{{Region: "eu-west-1", Status: "InSync"}}, Replayed: true},
		},
		{
			name:  "a retry whose token conflicts on value finds its own version",
			token: token,
			create: func(*secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
				return nil, &types.InvalidRequestException{}
			},
			describe: existing(token, false),
			want:     Created{ARN: arn, Name: "app/db", VersionID: token, Replicas: []ReplicaStatus{{Region: "eu-west-1", Status: "InSync"}}, Replayed: true},
		},
		{
			name:  "a retry finds its own version, made by the same requester",
			token: token,
			tags:  provenance("http-api", "alice"),
			create: func(*secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
				return nil, exists
			},
			describe: withTags(existing(token, false), append(provenance("http-api", "alice"), types.Tag{Key: aws.String("team"), Value: aws.String("x")})),
			want:     Created{ARN: arn, Name: "app/db", VersionID: token, Replicas: []ReplicaStatus{{Region: "eu-west-1", Status: "InSync"}}, Replayed: true},
		},
		{
			name:  "its token in a secret another trigger made",
			token: token,
			tags:  provenance("http-api", "alice"),
			create: func(*secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
				return nil, exists
			},
			describe: withTags(existing(token, false), provenance("cloudformation", "alice")),
			code:     errcode.Conflict, rule: "already exists",
		},
		{
			name:  "its token in a secret another requester made",
			token: token,
			tags:  provenance("http-api", "alice"),
			create: func(*secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
				return nil, exists
			},
			describe: withTags(existing(token, false), provenance("http-api", "mallory")),
			code:     errcode.Conflict, rule: "already exists",
		},
		{
			name:  "its token in a secret without provenance",
			token: token,
			tags:  provenance("http-api", "alice"),
			create: func(*secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
				return nil, exists
			},
			describe: existing(token, false),
			code:     errcode.Conflict, rule: "already exists",
		},
		{
			name:  "someone else's secret",
			token: token,
			create: func(*secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
				return nil, exists
			},
			describe: existing("another-token", false),
			code:     errcode.Conflict, rule: "already exists",
		},
		{
			name: "no token: any existing secret is a conflict",
			create: func(*secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
				return nil, exists
			},
			describe: existing("", false),
			code:     errcode.Conflict, rule: "already exists",
		},
		{
			name:  "scheduled for deletion",
			token: token,
			create: func(*secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
				return nil, &types.InvalidRequestException{}
			},
			describe: existing("old", true),
			code:     errcode.Conflict, rule: "scheduled for deletion",
		},
		{
			name:  "invalid request with no secret behind it",
			token: token,
			create: func(*secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
				return nil, &types.InvalidRequestException{Message: aws.String("bad")}
			},
			describe: func(*secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error) {
				return nil, &types.ResourceNotFoundException{}
			},
			code: errcode.Invalid, rule: "rejected the request (InvalidRequestException): bad",
		},
		{
			name:  "the look-up fails",
			token: token,
			create: func(*secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
				return nil, exists
			},
			describe: func(*secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error) {
				return nil, &types.InternalServiceError{}
			},
			code: errcode.Upstream, rule: "failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("{}"), Tags: tt.tags}
			if tt.token != "" {
				in.ClientRequestToken = aws.String(tt.token)
			}
			got, err := New(fakeClient{createSecret: tt.create, describeSecret: tt.describe}).Create(context.Background(), in)
			if tt.code != "" {
				if errcode.Of(err) != tt.code || !strings.Contains(errcode.Message(err), tt.rule) {
					t.Fatalf("got %v, want %s error containing %q", err, tt.code, tt.rule)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func provenance(via, by string) []types.Tag {
	return []types.Tag{{Key: aws.String("provisioned-via"), Value: aws.String(via)}, {Key: aws.String("provisioned-by"), Value: aws.String(by)}}
}

func withTags(describe func(*secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error), tags []types.Tag) func(*secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error) {
	return func(in *secretsmanager.DescribeSecretInput) (*secretsmanager.DescribeSecretOutput, error) {
		out, err := describe(in)
		if out != nil {
			out.Tags = tags
		}
		return out, err
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code errcode.Code
	}{
		{"exists", &types.ResourceExistsException{}, errcode.Conflict},
		{"not found", &types.ResourceNotFoundException{}, errcode.NotFound},
		{"invalid parameter", &types.InvalidParameterException{Message: aws.String("x")}, errcode.Invalid},
		{"malformed policy", &types.MalformedPolicyDocumentException{}, errcode.Invalid},
		{"precondition", &types.PreconditionNotMetException{}, errcode.Invalid},
		{"kms encryption", &types.EncryptionFailure{}, errcode.Invalid},
		{"quota", &types.LimitExceededException{}, errcode.Throttled},
		{"throttling", &smithy.GenericAPIError{Code: "ThrottlingException"}, errcode.Throttled},
		{"internal", &types.InternalServiceError{}, errcode.Upstream},
		{"unknown 5xx", &smithy.GenericAPIError{Code: "ServiceUnavailable"}, errcode.Upstream},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException"}, errcode.Forbidden},
		{"bad credentials", &smithy.GenericAPIError{Code: "UnrecognizedClientException"}, errcode.Forbidden},
		{"timeout", fmt.Errorf("op: %w", context.DeadlineExceeded), errcode.Unavailable},
		{"unreachable", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, errcode.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Classify(tt.err)
			if errcode.Of(err) != tt.code {
				t.Fatalf("Classify(%v) = %v, want %s", tt.err, err, tt.code)
			}
			if !errors.Is(err, tt.err) {
				t.Fatal("the cause is lost for the log")
			}
		})
	}
	if Classify(nil) != nil {
		t.Fatal("Classify(nil) is not nil")
	}
}

func TestToken(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := Token("request-1"), Token("request-2")
	if !uuid.MatchString(a) || len(a) < 32 || len(a) > 64 {
		t.Fatalf("token %q: want a version 5 UUID, 32-64 characters", a)
	}
	if a != Token("request-1") || a == b {
		t.Fatalf("tokens %q, %q: want the same for one key and different for two", a, b)
	}
	if Token("") != "" {
		t.Fatal("an empty key must leave the token to the SDK")
	}
}

// TestMasterCredentials: an RDS-managed master secret (username and
// password only) and a full one are read; anything else is refused naming
// masterSecretArn, and the value is in no error.
func TestMasterCredentials(t *testing.T) {
	for _, tt := range []struct {
		name, value string
		ok          bool
	}{
		{"RDS-managed", `{"username":"postgres","password":"Master-Pa55"}`, true},
		{"full", `{"engine":"mysql","host":"h","port":3306,"dbname":"d","username":"admin","password":"Master-Pa55"}`, true},
		{"no password", `{"username":"postgres"}`, false},
		{"not JSON", `Master-Pa55`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := New(fakeClient{getSecretValue: func(*secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, error) {
				return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(tt.value)}, nil
			}})
			m, err := s.MasterCredentials(context.Background(), "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCdEf")
			if (err == nil) != tt.ok || tt.ok && m.Password != "Master-Pa55" {
				t.Fatalf("%+v, %v", m, err)
			}
			if err != nil && (errcode.FieldOf(err) != "masterSecretArn" || strings.Contains(fmt.Sprint(err), "Master-Pa55")) {
				t.Fatalf("error %v", err)
			}
		})
	}
}

// TestVersionCreated pages the versions for the one asked of; a version
// the secret no longer holds is of no date.
func TestVersionCreated(t *testing.T) {
	made := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	pages := map[string]*secretsmanager.ListSecretVersionIdsOutput{
		"":  {Versions: []types.SecretVersionsListEntry{{VersionId: aws.String("a")}}, NextToken: aws.String("2")},
		"2": {Versions: []types.SecretVersionsListEntry{{VersionId: aws.String("b"), CreatedDate: &made}}},
	}
	s := New(fakeClient{listVersions: func(in *secretsmanager.ListSecretVersionIdsInput) (*secretsmanager.ListSecretVersionIdsOutput, error) {
		return pages[aws.ToString(in.NextToken)], nil
	}})
	for version, want := range map[string]time.Time{"b": made, "c": {}} {
		got, err := s.VersionCreated(context.Background(), "app/x", version)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v, %v; want %v", version, got, err, want)
		}
	}
}
