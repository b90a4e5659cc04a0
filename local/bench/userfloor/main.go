// Command userfloor is the floor a cold custom-resource Create of a live
// credential (the secret, its PostgreSQL user and its rotation) is measured
// against: the smallest Go process that makes the same calls in the same
// order, one after another, with nothing else (no Lambda runtime, no
// validation, no logging). make bench runs it.
//
// The calls, as a Create with createDatabaseUser and rotation makes them:
// the master secret's value and description; a connection as the master,
// the user's name checked, what it is granted on checked, the role and its
// clone made in a transaction; CreateSecret; the user's record; the grants
// and COMMIT; the role's oid and the record again; RotateSecret and the
// secret described; the answer PUT to CloudFormation.
//
//	userfloor NAME USERNAME   (environment: AWS_*, MASTER_SECRET_ARN, USERS_TABLE, ROTATION_FUNCTION, RESPONSE_URL)
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/shared/awslite/dynamodb"

	"github.com/dbcreds/provisioner/shared/dbsession"
	"github.com/dbcreds/provisioner/shared/dbuser"
	"github.com/dbcreds/provisioner/shared/userledger"
)

func main() {
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(name, username string) error {
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), "")
	secrets := secretsmanager.New(secretsmanager.Options{Region: os.Getenv("AWS_REGION"), Credentials: creds,
		BaseEndpoint: aws.String(os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER"))})
	ledger := userledger.New(dynamodb.New(dynamodb.Options{Region: os.Getenv("AWS_REGION"), Credentials: creds,
		BaseEndpoint: aws.String(os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))}), os.Getenv("USERS_TABLE"))

	masterARN := os.Getenv("MASTER_SECRET_ARN")
	got, err := secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(masterARN)})
	if err != nil {
		return err
	}
	if _, err := secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(masterARN)}); err != nil {
		return err
	}
	var master struct {
		Username, Password, Host string
		Port                     int
	}
	if err := json.Unmarshal([]byte(aws.ToString(got.SecretString)), &master); err != nil {
		return err
	}
	database := os.Getenv("DB_NAME")
	admin, err := dbuser.Connect(ctx, dbsession.Endpoint{Family: dbuser.Postgres, Host: master.Host, Port: master.Port,
		Database: database, Username: master.Username, Password: master.Password})
	if err != nil {
		return err
	}
	defer admin.Close()
	user := dbuser.User{Name: username, Database: database, Privileges: dbuser.ReadWrite}
	if taken, err := admin.Taken(ctx, username); err != nil || taken != "" {
		return fmt.Errorf("taken %q: %v", taken, err)
	}
	if err := admin.CheckTargets(ctx, user); err != nil {
		return err
	}
	const password = "Floor-Pa55word-0123456789abcdefgh"
	pending := admin.Prepare(ctx, user, dbuser.NewPassword(dbuser.Postgres, password))
	if err := pending.Err(); err != nil {
		return err
	}
	value := fmt.Sprintf(`{"engine":"postgres","host":%q,"username":%q,"password":%q,"dbname":%q,"port":%d,"masterarn":%q}`,
		master.Host, username, password, database, master.Port, masterARN)
	created, err := secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		return err
	}
	entry := userledger.Entry{Via: "cfn", By: "floor", SecretARN: aws.ToString(created.ARN), MasterSecretARN: masterARN, Engine: "postgres",
		Host: master.Host, Port: master.Port, Database: database, Username: username, Privileges: string(user.Privileges), CreatedAt: time.Now()}
	if err := ledger.Record(ctx, entry); err != nil {
		return err
	}
	if err := pending.Commit(ctx); err != nil {
		return err
	}
	entry.Made = true
	if entry.OID, err = admin.OID(ctx, username); err != nil {
		return err
	}
	if err := ledger.Record(ctx, entry); err != nil {
		return err
	}
	if _, err := secrets.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: created.ARN,
		RotationLambdaARN: aws.String(os.Getenv("ROTATION_FUNCTION")), RotateImmediately: aws.Bool(false),
		ClientRequestToken: aws.String("00000000-0000-4000-8000-" + fmt.Sprintf("%012d", time.Now().UnixNano()%1e12)),
		RotationRules:      &smtypes.RotationRulesType{ScheduleExpression: aws.String("rate(30 days)")}}); err != nil {
		return err
	}
	if _, err := secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: created.ARN}); err != nil {
		return err
	}
	answer, _ := json.Marshal(map[string]any{"Status": "SUCCESS", "PhysicalResourceId": aws.ToString(created.ARN),
		"StackId": "floor", "RequestId": "floor", "LogicalResourceId": "floor",
		"Data": map[string]string{"SecretArn": aws.ToString(created.ARN), "Username": username, "RotationEnabled": "true"}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, os.Getenv("RESPONSE_URL"), bytes.NewReader(answer))
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("the answer's PUT: %s", res.Status)
	}
	return nil
}
