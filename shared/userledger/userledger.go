// Package userledger records, in a DynamoDB table that only the functions
// write, every database user the provisioner made: which user, on which
// database, with which master secret, for which secret; and the KMS
// grants it gave a secret's readers (grants.go). Changing or
// dropping a user acts on this record and nothing else: never on a name
// read back from the secret (rotation rewrites it to the clone, and anyone
// who may write the secret could rewrite it to any user), never on a host
// the secret names.
//
// Keys start with the trigger that made the user (http-api#, eventbridge#,
// cloudformation#), so that IAM confines each function to its own records
// (dynamodb:LeadingKeys). It imports nothing of the provisioner's but
// awsclient and errcode.
package userledger

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dbcreds/provisioner/shared/awslite/dynamodb"

	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// EnvTable names the variable holding the table's name.
const EnvTable = "DATABASE_USERS_TABLE"

// The calls the ledger makes, each copying the SDK's signature.
type (
	PutItemAPI interface {
		PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	}
	GetItemAPI interface {
		GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	}
	DeleteItemAPI interface {
		DeleteItem(ctx context.Context, params *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	}
)

// Client is the part of the DynamoDB client the ledger uses.
type Client interface {
	PutItemAPI
	GetItemAPI
	DeleteItemAPI
}

// Entry is one user the provisioner made. It holds no password.
type Entry struct {
	Via       string // the trigger that made it
	By        string // who asked: the secret's provenance, kept when the secret is gone
	SecretARN string // the secret that holds its credentials
	// Where: the master secret whose user made it, and that master's own
	// database as it was found then.
	MasterSecretARN string
	Engine          string
	Host            string
	Port            int
	Database        string
	// SSL: whether TLS was required to reach it; never less afterwards.
	SSL bool
	// Who and with what.
	Username   string
	Privileges string
	Schemas    []string
	MemberOf   []string
	CreatedAt  time.Time
	// Made: the user was committed after this was recorded. A record is
	// written before its user (never a user without its record), so one
	// whose request failed on the way names a user that may never have been
	// made, and whose name someone else may hold since: what acts on an
	// unmade record proves the user is the secret's first.
	Made bool
	// OID is the PostgreSQL user's identity once made (dbuser.Admin.OID);
	// "" for MySQL and MariaDB, and for records from before it was kept.
	OID string
}

// Ledger is the table of users made.
type Ledger struct {
	client Client
	table  string
}

// New returns the ledger in table, through client, built once at init.
func New(client Client, table string) *Ledger { return &Ledger{client: client, table: table} }

// ClientFromEnvironment builds the DynamoDB client from Lambda's
// environment, its endpoint from AWS_ENDPOINT_URL_DYNAMODB or
// AWS_ENDPOINT_URL.
func ClientFromEnvironment(getenv func(string) string) (*dynamodb.Client, error) {
	s, err := awsclient.FromEnvironment(getenv)
	if err != nil {
		return nil, err
	}
	return dynamodb.New(dynamodb.Options{
		Region:       s.Region,
		Credentials:  s.Credentials,
		BaseEndpoint: s.Endpoint("DYNAMODB"),
		Retryer:      s.Retryer(),
		HTTPClient:   s.HTTPClient(),
	}), nil
}

const (
	attrID         = "id"
	attrSecret     = "secretArn"
	attrBy         = "by"
	attrMaster     = "masterSecretArn"
	attrEngine     = "engine"
	attrHost       = "host"
	attrPort       = "port"
	attrDatabase   = "database"
	attrSSL        = "ssl"
	attrUsername   = "username"
	attrPrivileges = "privileges"
	attrSchemas    = "schemas"
	attrMemberOf   = "memberOf"
	attrCreatedAt  = "createdAt"
	attrMade       = "made"
	attrOID        = "oid"
)

func key(via, secretARN string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrID: &types.AttributeValueMemberS{Value: via + "#" + secretARN}}
}

// Record writes e, replacing what was recorded for its secret (a retry of
// the same request, or a change of privileges).
func (l *Ledger) Record(ctx context.Context, e Entry) error {
	item := key(e.Via, e.SecretARN)
	schemas, roles := list(e.Schemas), list(e.MemberOf)
	for name, value := range map[string]types.AttributeValue{
		attrSecret:     &types.AttributeValueMemberS{Value: e.SecretARN},
		attrBy:         &types.AttributeValueMemberS{Value: e.By},
		attrMaster:     &types.AttributeValueMemberS{Value: e.MasterSecretARN},
		attrEngine:     &types.AttributeValueMemberS{Value: e.Engine},
		attrHost:       &types.AttributeValueMemberS{Value: e.Host},
		attrPort:       &types.AttributeValueMemberN{Value: strconv.Itoa(e.Port)},
		attrDatabase:   &types.AttributeValueMemberS{Value: e.Database},
		attrSSL:        &types.AttributeValueMemberBOOL{Value: e.SSL},
		attrUsername:   &types.AttributeValueMemberS{Value: e.Username},
		attrPrivileges: &types.AttributeValueMemberS{Value: e.Privileges},
		attrSchemas:    &types.AttributeValueMemberL{Value: schemas},
		attrMemberOf:   &types.AttributeValueMemberL{Value: roles},
		attrCreatedAt:  &types.AttributeValueMemberS{Value: e.CreatedAt.UTC().Format(time.RFC3339)},
		attrMade:       &types.AttributeValueMemberBOOL{Value: e.Made},
		attrOID:        &types.AttributeValueMemberS{Value: e.OID},
	} {
		item[name] = value
	}
	_, err := l.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(l.table), Item: item})
	return classify(err)
}

// Find returns what was recorded for the secret made through via; found
// is false when nothing was (the provisioner made no user for it).
func (l *Ledger) Find(ctx context.Context, via, secretARN string) (e Entry, found bool, err error) {
	out, err := l.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: key(via, secretARN), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Entry{}, false, classify(err)
	}
	if len(out.Item) == 0 {
		return Entry{}, false, nil
	}
	e = Entry{Via: via, SecretARN: secretARN}
	e.By = str(out.Item[attrBy])
	e.MasterSecretARN = str(out.Item[attrMaster])
	e.Engine = str(out.Item[attrEngine])
	e.Host = str(out.Item[attrHost])
	e.Database = str(out.Item[attrDatabase])
	e.Username = str(out.Item[attrUsername])
	e.Privileges = str(out.Item[attrPrivileges])
	e.OID = str(out.Item[attrOID])
	if b, ok := out.Item[attrSSL].(*types.AttributeValueMemberBOOL); ok {
		e.SSL = b.Value
	}
	// A record from before this attribute says nothing: not made.
	if b, ok := out.Item[attrMade].(*types.AttributeValueMemberBOOL); ok {
		e.Made = b.Value
	}
	if n, ok := out.Item[attrPort].(*types.AttributeValueMemberN); ok {
		e.Port, _ = strconv.Atoi(n.Value)
	}
	e.Schemas, e.MemberOf = strs(out.Item[attrSchemas]), strs(out.Item[attrMemberOf])
	e.CreatedAt, _ = time.Parse(time.RFC3339, str(out.Item[attrCreatedAt]))
	if e.Username == "" || e.MasterSecretARN == "" {
		return Entry{}, false, errcode.New(errcode.Internal, "the record of the database user made for this secret is incomplete")
	}
	return e, true, nil
}

// Forget removes the record once the user is gone.
func (l *Ledger) Forget(ctx context.Context, via, secretARN string) error {
	_, err := l.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(l.table), Key: key(via, secretARN)})
	return classify(err)
}

func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func classify(err error) error {
	if err == nil {
		return nil
	}
	return awsclient.Classify(err, "DynamoDB (the database users table)")
}

func list(values []string) []types.AttributeValue {
	out := make([]types.AttributeValue, 0, len(values))
	for _, v := range values {
		out = append(out, &types.AttributeValueMemberS{Value: v})
	}
	return out
}

// strs reads a list of strings; none (a record from before it) is nil.
func strs(v types.AttributeValue) []string {
	l, ok := v.(*types.AttributeValueMemberL)
	if !ok {
		return nil
	}
	var out []string
	for _, item := range l.Value {
		out = append(out, str(item))
	}
	return out
}
