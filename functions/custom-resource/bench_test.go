package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/shared/awslite/kms"
	"github.com/dbcreds/provisioner/shared/awslite/scheduler"
	"github.com/dbcreds/provisioner/shared/awslite/sts"
	"github.com/dbcreds/provisioner/shared/expiry"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretreaders"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/secretuser"
	"github.com/dbcreds/provisioner/shared/stack"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// instant answers every request at once: CreateSecret for the SDK, 200 for
// the ResponseURL.
type instant struct{ body string }

func (s instant) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
		Body: io.NopCloser(strings.NewReader(s.body)), Request: r}, nil
}

// BenchmarkInvocation is one warm invocation of a Create, as make bench
// records it: decode the event, validate, generate, shape, build and sign
// the CreateSecret request (sent to a transport that answers at once),
// encode and send the answer. Logs are formatted, then discarded.
func BenchmarkInvocation(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "custom-resource-create.json"))
	if err != nil {
		b.Fatal(err)
	}
	client := benchClient()
	// No database user is asked for: users without a ledger or masters.
	users := secretuser.New(nil, nil, secretstore.New(client), secretstore.NewDeleter(client), nil, secretuser.Settings{})
	// No readers are asked for: no KMS, STS or record is called.
	readers, err := secretreaders.New(client, kms.New(kms.Options{}), userledger.New(nil, ""), sts.New(sts.Options{}))
	if err != nil {
		b.Fatal(err)
	}
	// No expiry is asked for: no Scheduler call or record is made.
	expiries, err := expiry.New(scheduler.New(scheduler.Options{}), userledger.New(nil, ""), expiry.Settings{
		Group: "g", RoleARN: "arn:aws:iam::123456789012:role/r", DeadLetterARN: "arn:aws:sqs:us-east-1:123456789012:q",
		Target: "arn:aws:lambda:us-east-1:123456789012:function:f"})
	if err != nil {
		b.Fatal(err)
	}
	service, err := provision.NewService(provision.Config{NamePrefix: "app/", Region: "us-east-1"}, secretstore.New(client), rotation.NewWithCancel(client), users, secretstore.NewDeleter(client), readers, expiries)
	if err != nil {
		b.Fatal(err)
	}
	lifecycle, err := stack.New(service, secretstore.NewManager(client))
	if err != nil {
		b.Fatal(err)
	}
	h := &handler{secrets: lifecycle, responder: instant{}}
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewJSONHandler(io.Discard, nil)))
	ctx := context.Background()

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var e event
		if err := json.Unmarshal(raw, &e); err != nil {
			b.Fatal(err)
		}
		if err := h.handle(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// benchClient is a Secrets Manager client whose transport answers a
// CreateSecret at once, with the function's own retry mode.
func benchClient() *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String("https://secretsmanager.us-east-1.amazonaws.com"),
		Retryer:      retry.NewAdaptiveMode(),
		HTTPClient: instant{body: `{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/orders/postgres-AbCdEf",` +
			`"Name":"app/orders/postgres","VersionId":"v-1","ReplicationStatus":[{"Region":"eu-west-1","Status":"InProgress"}]}`},
	})
}

// BenchmarkCreateSecretFloor is the SDK's own part of an invocation: one
// CreateSecret call of the same input through the same client (middleware,
// endpoint, SigV4 signing, the JSON both ways), with nothing of ours; make
// bench subtracts it to show what the function itself costs.
func BenchmarkCreateSecretFloor(b *testing.B) {
	client := benchClient()
	in := &secretsmanager.CreateSecretInput{
		Name: aws.String("app/orders/postgres"), ClientRequestToken: aws.String("3f2a6b1c-0d4e-5f60-8a7b-9c0d1e2f3a4b"),
		Description:       aws.String("Orders database, application user"),
		SecretString:      aws.String(`{"engine":"postgres","host":"orders.cluster-c1x2y3z4.us-east-1.rds.amazonaws.com","username":"orders_app","password":"0123456789abcdefghijABCDEFGHIJ!#","dbname":"orders","port":5432}`),
		Tags:              []types.Tag{{Key: aws.String("team"), Value: aws.String("orders")}, {Key: aws.String("provisioned-via"), Value: aws.String("cloudformation")}},
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("eu-west-1")}},
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := client.CreateSecret(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
