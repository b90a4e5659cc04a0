package stack_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/provision"
)

// TestRetainDatabaseUserOfAGoneSecret: a team copies the password, deletes
// the secret for good outside the stack (or it is gone for any reason),
// then deletes the stack with RetainDatabaseUser: true. The property is
// documented as read at the Delete; the gone-secret path ignores it and
// drops the user the team asked to keep.
func TestRetainDatabaseUserOfAGoneSecret(t *testing.T) {
	ctx := context.Background()
	s := database(t, "mariadb")
	l := lifecycle(t)
	username := "kept_gone"
	created, err := l.Create(ctx, resource(t, "create"), decode(t, userRequest(t, "mariadb", s, `, "username": "`+username+`"`)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client(t, primary).DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(created.ARN), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Delete(ctx, resource(t, "delete"), created.ARN, provision.DeleteOptions{RetainDatabaseUser: true}, provision.Request{}); err != nil {
		t.Fatal(err)
	}
	if exists, err := s.UserExists(username); err != nil || !exists {
		t.Fatalf("RetainDatabaseUser: true, yet the Delete of a gone secret dropped the user (%v)", err)
	}
}
