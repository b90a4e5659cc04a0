// Command userfloor is the floor a cold custom-resource Create with
// createDatabaseUser is measured against: the smallest Go process that makes
// the same calls, one CreateSecret and one connection to the database
// running the same statements, with nothing else (no Lambda runtime, no
// validation, no answer to CloudFormation). make bench runs it.
//
//	userfloor NAME USERNAME   (environment: AWS_*, DB_HOST, DB_PORT, DB_NAME, DB_MASTER_USER, DB_MASTER_PASSWORD)
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/dbsession"
	"github.com/dbcreds/provisioner/shared/dbuser"
)

func main() {
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(name, username string) error {
	ctx := context.Background()
	client := secretsmanager.New(secretsmanager.Options{
		Region:       os.Getenv("AWS_REGION"),
		Credentials:  credentials.NewStaticCredentialsProvider(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
		BaseEndpoint: aws.String(os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER")),
	})
	const password = "Floor-Pa55word-0123456789abcdefgh"
	port, _ := strconv.Atoi(os.Getenv("DB_PORT"))
	value := fmt.Sprintf(`{"engine":"postgres","host":%q,"username":%q,"password":%q,"dbname":%q,"port":%d}`,
		os.Getenv("DB_HOST"), username, password, os.Getenv("DB_NAME"), port)
	if _, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
		return err
	}
	admin, err := dbuser.Connect(ctx, dbsession.Endpoint{Family: dbuser.Postgres, Host: os.Getenv("DB_HOST"), Port: port,
		Database: os.Getenv("DB_NAME"), Username: os.Getenv("DB_MASTER_USER"), Password: os.Getenv("DB_MASTER_PASSWORD")})
	if err != nil {
		return err
	}
	defer admin.Close()
	return admin.Create(ctx, dbuser.User{Name: username, Database: os.Getenv("DB_NAME"), Privileges: dbuser.ReadWrite}, dbuser.NewPassword(dbuser.Postgres, password))
}
