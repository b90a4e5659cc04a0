// Package masterdb finds a master secret's own database: the one place a
// master user's credentials may be sent. A caller names a master secret;
// where its password goes is never the caller's to say.
//
//   - An RDS-managed master secret (rds!…, tagged by RDS with
//     aws:rds:primaryDBClusterArn or aws:rds:primaryDBInstanceArn, tags no
//     one else may set) gets its endpoint from the RDS API: the cluster or
//     instance whose MasterUserSecret is that very secret, as AWS's
//     multi-user rotation functions resolve it.
//   - Any other master secret must hold host (and port) itself.
//   - A secret this provisioner made is never a master secret, whatever it
//     holds: a caller could have made it to say anything.
//
// It reads Secrets Manager and RDS only; it imports no package of the
// provisioner's above errcode, secretstore and awsclient.
package masterdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/awslite/rds"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// The calls this package makes, each copying the SDK's signature.
type (
	DescribeSecretAPI interface {
		DescribeSecret(ctx context.Context, params *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	}
	GetSecretValueAPI interface {
		GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	}
	DescribeDBClustersAPI interface {
		DescribeDBClusters(ctx context.Context, params *rds.DescribeDBClustersInput, optFns ...func(*rds.Options)) (*rds.DescribeDBClustersOutput, error)
	}
	DescribeDBInstancesAPI interface {
		DescribeDBInstances(ctx context.Context, params *rds.DescribeDBInstancesInput, optFns ...func(*rds.Options)) (*rds.DescribeDBInstancesOutput, error)
	}
)

// SecretsClient is the part of the Secrets Manager client it uses.
type SecretsClient interface {
	DescribeSecretAPI
	GetSecretValueAPI
}

// RDSClient is the part of the RDS client it uses.
type RDSClient interface {
	DescribeDBClustersAPI
	DescribeDBInstancesAPI
}

// The tags RDS puts on the master secrets it manages. Keys starting with
// aws: cannot be set by anyone else.
const (
	TagCluster  = "aws:rds:primaryDBClusterArn"
	TagInstance = "aws:rds:primaryDBInstanceArn"
)

// Where a master's endpoint came from.
const (
	FromCluster  = "rds-cluster"
	FromInstance = "rds-instance"
	FromSecret   = "secret"
)

// Master is a master user and its own database. Its password never
// reaches a log: LogValue leaves it out.
type Master struct {
	ARN      string // the master secret's full ARN
	Username string
	Password string
	Host     string
	Port     int    // 0 when the secret names none: the engine's default
	DBName   string // the database RDS made, or the secret's dbname
	Engine   string // RDS's or the secret's engine, when known
	From     string // FromCluster, FromInstance or FromSecret
	// Database is the RDS cluster or instance ARN, when RDS manages it.
	Database string
}

// LogValue shows where the master is, never its password.
func (m Master) LogValue() slog.Value {
	return slog.GroupValue(slog.String("arn", m.ARN), slog.String("host", m.Host), slog.Int("port", m.Port), slog.String("from", m.From))
}

// Resolver finds master secrets' databases. Build one at init.
type Resolver struct {
	secrets SecretsClient
	rds     RDSClient
	// ours recognises a secret the provisioner made.
	ours func(name string, tags map[string]string) bool
	// region and account are the function's: RDS is asked there only.
	region string
}

// New returns a resolver that reads secrets through secrets and asks rds
// (a client for region) where RDS-managed masters live; ours recognises
// the provisioner's own secrets, which are never master secrets.
func New(secrets SecretsClient, rds RDSClient, region string, ours func(name string, tags map[string]string) bool) *Resolver {
	return &Resolver{secrets: secrets, rds: rds, region: region, ours: ours}
}

// Resolve reads the master secret arn and finds its own database. Every
// refusal is a coded error naming masterSecretArn; the password is never
// part of one.
func (r *Resolver) Resolve(ctx context.Context, arn string) (Master, error) {
	// The value is read while the secret is described: both are needed.
	var value struct {
		v   *secretsmanager.GetSecretValueOutput
		err error
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		value.v, value.err = r.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	}()
	m, err := r.locate(ctx, arn)
	wg.Wait()
	if err != nil {
		return Master{}, err
	}
	if value.err != nil {
		return Master{}, masterError(value.err)
	}
	var v struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Host     string `json:"host"`
		Port     any    `json:"port"` // a number, or a string holding one
		DBName   string `json:"dbname"`
		Engine   string `json:"engine"`
	}
	if json.Unmarshal([]byte(aws.ToString(value.v.SecretString)), &v) != nil || v.Username == "" || v.Password == "" {
		return Master{}, errcode.Invalidf("masterSecretArn", "the master secret must be a JSON object with username and password, as RDS keeps it")
	}
	m.Username, m.Password = v.Username, v.Password
	if m.From != FromSecret {
		return m, nil
	}
	// Not RDS's: the secret says where its database is, or it is none.
	if v.Host == "" {
		return Master{}, errcode.Invalidf("masterSecretArn", "is neither an RDS-managed master secret nor one that holds its database's host: the master's credentials go only to the master's own database, which this secret does not name")
	}
	m.Host, m.DBName, m.Engine = v.Host, v.DBName, v.Engine
	if v.Port != nil {
		p, err := strconv.Atoi(strings.TrimSpace(fmt.Sprint(v.Port)))
		if err != nil || p < 1 || p > 65535 {
			return Master{}, errcode.Invalidf("masterSecretArn", "the master secret's port is not a port number")
		}
		m.Port = p
	}
	return m, nil
}

// locate describes the secret and, when RDS manages it, asks RDS where
// its database is.
func (r *Resolver) locate(ctx context.Context, arn string) (Master, error) {
	out, err := r.secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		return Master{}, masterError(err)
	}
	m := Master{ARN: aws.ToString(out.ARN), From: FromSecret}
	if m.ARN != arn {
		return Master{}, errcode.Invalidf("masterSecretArn", "must be the master secret's whole ARN, as Secrets Manager gives it")
	}
	tags := make(map[string]string, len(out.Tags))
	for _, t := range out.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	if out.DeletedDate != nil {
		return Master{}, errcode.Invalidf("masterSecretArn", "the master secret is scheduled for deletion")
	}
	if r.ours(aws.ToString(out.Name), tags) {
		return Master{}, errcode.Invalidf("masterSecretArn", "names a secret this provisioner made, which is never a master secret")
	}
	switch {
	case tags[TagCluster] != "":
		m.From, m.Database = FromCluster, tags[TagCluster]
		return r.cluster(ctx, m)
	case tags[TagInstance] != "":
		m.From, m.Database = FromInstance, tags[TagInstance]
		return r.instance(ctx, m)
	}
	return m, nil
}

func (r *Resolver) cluster(ctx context.Context, m Master) (Master, error) {
	if err := r.inRegion(m.Database, "cluster"); err != nil {
		return Master{}, err
	}
	out, err := r.rds.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(m.Database)})
	var notFound *rdstypes.DBClusterNotFoundFault
	if errors.As(err, &notFound) {
		return Master{}, errcode.Invalidf("masterSecretArn", "the master secret's database cluster %s does not exist", errcode.Quote(m.Database))
	}
	if err != nil {
		return Master{}, awsclient.Classify(err, "RDS")
	}
	for _, c := range out.DBClusters {
		if c.MasterUserSecret == nil || aws.ToString(c.MasterUserSecret.SecretArn) != m.ARN {
			continue
		}
		m.Host, m.Port, m.DBName, m.Engine = aws.ToString(c.Endpoint), int(aws.ToInt32(c.Port)), aws.ToString(c.DatabaseName), aws.ToString(c.Engine)
		if m.Host == "" {
			return Master{}, errcode.New(errcode.Unavailable, "the master secret's database cluster has no endpoint yet")
		}
		return m, nil
	}
	return Master{}, errcode.Invalidf("masterSecretArn", "RDS does not name this secret as the master secret of cluster %s", errcode.Quote(m.Database))
}

func (r *Resolver) instance(ctx context.Context, m Master) (Master, error) {
	if err := r.inRegion(m.Database, "db"); err != nil {
		return Master{}, err
	}
	out, err := r.rds.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(m.Database)})
	var notFound *rdstypes.DBInstanceNotFoundFault
	if errors.As(err, &notFound) {
		return Master{}, errcode.Invalidf("masterSecretArn", "the master secret's database instance %s does not exist", errcode.Quote(m.Database))
	}
	if err != nil {
		return Master{}, awsclient.Classify(err, "RDS")
	}
	for _, i := range out.DBInstances {
		if i.MasterUserSecret == nil || aws.ToString(i.MasterUserSecret.SecretArn) != m.ARN || i.Endpoint == nil {
			continue
		}
		m.Host, m.Port, m.DBName, m.Engine = aws.ToString(i.Endpoint.Address), int(aws.ToInt32(i.Endpoint.Port)), aws.ToString(i.DBName), aws.ToString(i.Engine)
		if m.Host == "" {
			return Master{}, errcode.New(errcode.Unavailable, "the master secret's database instance has no endpoint yet")
		}
		return m, nil
	}
	return Master{}, errcode.Invalidf("masterSecretArn", "RDS does not name this secret as the master secret of instance %s", errcode.Quote(m.Database))
}

// inRegion refuses a database ARN of another kind, Region or partition
// than this function's RDS client asks about.
func (r *Resolver) inRegion(arn, kind string) error {
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "rds" || parts[5] != kind || parts[6] == "" {
		return errcode.Invalidf("masterSecretArn", "RDS's tag on the master secret names no %s ARN", kind)
	}
	if r.region != "" && parts[3] != r.region {
		return errcode.Invalidf("masterSecretArn", "the master secret's database is in %s; this deployment makes users in %s only", errcode.Quote(parts[3]), r.region)
	}
	return nil
}

// masterError classifies a failed read of the master secret, naming the
// field.
func masterError(err error) error {
	c := secretstore.Classify(err)
	var e *errcode.Error
	if errors.As(c, &e) {
		switch e.Code {
		case errcode.NotFound:
			return &errcode.Error{Code: errcode.Invalid, Field: "masterSecretArn", Message: "the master secret does not exist", Err: err}
		case errcode.Forbidden:
			return &errcode.Error{Code: errcode.Forbidden, Field: "masterSecretArn", Message: "this deployment may not read that master secret (its MasterSecretArns parameter, ApiMasterSecretArns for the HTTP API, EventMasterSecretArns for events)", Err: err}
		}
	}
	return c
}

// RDSClientFromEnvironment builds the RDS client from Lambda's environment
// (awsclient.FromEnvironment), its endpoint from AWS_ENDPOINT_URL_RDS or
// AWS_ENDPOINT_URL. Building it makes no call.
func RDSClientFromEnvironment(getenv func(string) string) (*rds.Client, error) {
	s, err := awsclient.FromEnvironment(getenv)
	if err != nil {
		return nil, err
	}
	return rds.New(rds.Options{
		Region:       s.Region,
		Credentials:  s.Credentials,
		BaseEndpoint: s.Endpoint("RDS"),
		Retryer:      s.Retryer(),
		HTTPClient:   s.HTTPClient(),
	}), nil
}
