package masterdb

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/shared/awslite/rds"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// fakes are function fields, as the SDK's unit-testing guide shows.
type secrets struct {
	describe func(id string) (*secretsmanager.DescribeSecretOutput, error)
	value    func(id string) (*secretsmanager.GetSecretValueOutput, error)
}

func (s secrets) DescribeSecret(_ context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	return s.describe(aws.ToString(in.SecretId))
}

func (s secrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return s.value(aws.ToString(in.SecretId))
}

type rdsAPI struct {
	clusters  func(id string) (*rds.DescribeDBClustersOutput, error)
	instances func(id string) (*rds.DescribeDBInstancesOutput, error)
	asked     *[]string
}

func (r rdsAPI) DescribeDBClusters(_ context.Context, in *rds.DescribeDBClustersInput, _ ...func(*rds.Options)) (*rds.DescribeDBClustersOutput, error) {
	*r.asked = append(*r.asked, aws.ToString(in.DBClusterIdentifier))
	return r.clusters(aws.ToString(in.DBClusterIdentifier))
}

func (r rdsAPI) DescribeDBInstances(_ context.Context, in *rds.DescribeDBInstancesInput, _ ...func(*rds.Options)) (*rds.DescribeDBInstancesOutput, error) {
	*r.asked = append(*r.asked, aws.ToString(in.DBInstanceIdentifier))
	return r.instances(aws.ToString(in.DBInstanceIdentifier))
}

const (
	clusterSecret  = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-0a1b-AbCdEf"
	instanceSecret = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-9z8y-GhIjKl"
	plainSecret    = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:masters/reporting-MnOpQr"
	oursSecret     = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/payments/fake-master-StUvWx"
	clusterARN     = "arn:aws:rds:eu-west-1:111122223333:cluster:orders"
	instanceARN    = "arn:aws:rds:eu-west-1:111122223333:db:reporting"
)

type stored struct {
	name  string
	tags  map[string]string
	value string
}

func world(secretsByARN map[string]stored) (*Resolver, *[]string) {
	asked := &[]string{}
	s := secrets{
		describe: func(id string) (*secretsmanager.DescribeSecretOutput, error) {
			st, ok := secretsByARN[id]
			if !ok {
				return nil, &smtypes.ResourceNotFoundException{Message: aws.String("no")}
			}
			out := &secretsmanager.DescribeSecretOutput{ARN: aws.String(id), Name: aws.String(st.name)}
			for k, v := range st.tags {
				out.Tags = append(out.Tags, smtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
			}
			return out, nil
		},
		value: func(id string) (*secretsmanager.GetSecretValueOutput, error) {
			st, ok := secretsByARN[id]
			if !ok {
				return nil, &smtypes.ResourceNotFoundException{Message: aws.String("no")}
			}
			return &secretsmanager.GetSecretValueOutput{ARN: aws.String(id), SecretString: aws.String(st.value)}, nil
		},
	}
	r := rdsAPI{asked: asked,
		clusters: func(id string) (*rds.DescribeDBClustersOutput, error) {
			if id != clusterARN {
				return nil, &rdstypes.DBClusterNotFoundFault{Message: aws.String("no")}
			}
			return &rds.DescribeDBClustersOutput{DBClusters: []rdstypes.DBCluster{{
				Endpoint: aws.String("orders.cluster-abc.eu-west-1.rds.amazonaws.com"), Port: aws.Int32(5432), Engine: aws.String("aurora-postgresql"),
				DatabaseName: aws.String("orders"), MasterUserSecret: &rdstypes.MasterUserSecret{SecretArn: aws.String(clusterSecret)},
			}}}, nil
		},
		instances: func(id string) (*rds.DescribeDBInstancesOutput, error) {
			if id != instanceARN {
				return nil, &rdstypes.DBInstanceNotFoundFault{Message: aws.String("no")}
			}
			return &rds.DescribeDBInstancesOutput{DBInstances: []rdstypes.DBInstance{{
				Endpoint: &rdstypes.Endpoint{Address: aws.String("reporting.abc.eu-west-1.rds.amazonaws.com"), Port: aws.Int32(3306)}, Engine: aws.String("mariadb"),
				MasterUserSecret: &rdstypes.MasterUserSecret{SecretArn: aws.String(instanceSecret)},
			}}}, nil
		},
	}
	ours := func(name string, tags map[string]string) bool {
		return strings.HasPrefix(name, "app/") || tags["provisioned-via"] != ""
	}
	return New(s, r, "eu-west-1", ours), asked
}

const creds = `{"username": "master", "password": "Master-Pa55"}`

func TestResolve(t *testing.T) {
	all := map[string]stored{
		clusterSecret:  {name: "rds!cluster-0a1b", tags: map[string]string{TagCluster: clusterARN}, value: creds},
		instanceSecret: {name: "rds!db-9z8y", tags: map[string]string{TagInstance: instanceARN}, value: creds},
		plainSecret:    {name: "masters/reporting", value: `{"username": "master", "password": "Master-Pa55", "host": "10.0.0.5", "port": "5433", "dbname": "rep", "engine": "postgres"}`},
	}
	r, _ := world(all)
	for _, tt := range []struct {
		arn        string
		host, from string
		port       int
		db         string
	}{
		{clusterSecret, "orders.cluster-abc.eu-west-1.rds.amazonaws.com", FromCluster, 5432, "orders"},
		{instanceSecret, "reporting.abc.eu-west-1.rds.amazonaws.com", FromInstance, 3306, ""},
		{plainSecret, "10.0.0.5", FromSecret, 5433, "rep"},
	} {
		m, err := r.Resolve(context.Background(), tt.arn)
		if err != nil {
			t.Fatalf("%s: %v", tt.arn, err)
		}
		if m.Host != tt.host || m.Port != tt.port || m.From != tt.from || m.DBName != tt.db || m.Username != "master" || m.Password != "Master-Pa55" || m.ARN != tt.arn {
			t.Fatalf("%s: %+v", tt.arn, m)
		}
	}
}

// TestResolveRefuses: the master's credentials go nowhere a caller could
// choose: not to a secret the provisioner made, not to one that names no
// database, not to a database RDS does not say is that secret's.
func TestResolveRefuses(t *testing.T) {
	otherCluster := "arn:aws:rds:eu-west-1:111122223333:cluster:hr"
	for _, tt := range []struct {
		name   string
		arn    string
		secret stored
		code   errcode.Code
		want   string
	}{
		{"a secret the provisioner made, by its prefix", oursSecret, stored{name: "app/payments/fake-master", value: `{"username":"m","password":"p","host":"evil.example"}`}, errcode.Invalid, "this provisioner made"},
		{"a secret the provisioner made, by its tags", plainSecret, stored{name: "masters/reporting", tags: map[string]string{"provisioned-via": "http-api"}, value: `{"username":"m","password":"p","host":"evil.example"}`}, errcode.Invalid, "this provisioner made"},
		{"no host, not RDS's", plainSecret, stored{name: "masters/reporting", value: creds}, errcode.Invalid, "neither an RDS-managed"},
		{"RDS names another secret", clusterSecret, stored{name: "rds!cluster-0a1b", tags: map[string]string{TagCluster: otherCluster}, value: creds}, errcode.Invalid, "does not exist"},
		{"the tag names a cluster whose master is another secret", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-ffff-ZzZzZz",
			stored{name: "rds!cluster-ffff", tags: map[string]string{TagCluster: clusterARN}, value: creds}, errcode.Invalid, "does not name this secret"},
		{"another Region's database", clusterSecret, stored{name: "rds!cluster-0a1b", tags: map[string]string{TagCluster: "arn:aws:rds:us-east-1:111122223333:cluster:orders"}, value: creds}, errcode.Invalid, "this deployment makes users in eu-west-1"},
		{"a tag that names no cluster", clusterSecret, stored{name: "rds!cluster-0a1b", tags: map[string]string{TagCluster: "arn:aws:rds:eu-west-1:111122223333:db:orders"}, value: creds}, errcode.Invalid, "no cluster ARN"},
		{"no credentials", plainSecret, stored{name: "masters/reporting", value: `{"host": "h"}`}, errcode.Invalid, "username and password"},
		{"a port that is none", plainSecret, stored{name: "masters/reporting", value: `{"username":"m","password":"p","host":"h","port":"x"}`}, errcode.Invalid, "port"},
		{"missing", plainSecret, stored{}, errcode.Invalid, "does not exist"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			all := map[string]stored{}
			if tt.secret.name != "" {
				all[tt.arn] = tt.secret
			}
			r, _ := world(all)
			m, err := r.Resolve(context.Background(), tt.arn)
			if errcode.Of(err) != tt.code || errcode.FieldOf(err) != "masterSecretArn" || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %+v, %v; want %s %q", m, err, tt.code, tt.want)
			}
			if strings.Contains(err.Error(), "Master-Pa55") || strings.Contains(err.Error(), `"p"`) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

// TestResolveAsksRDSByTheTag: RDS is asked about the database RDS's own tag
// names, never one the value or a caller says.
func TestResolveAsksRDSByTheTag(t *testing.T) {
	r, asked := world(map[string]stored{
		clusterSecret: {name: "rds!cluster-0a1b", tags: map[string]string{TagCluster: clusterARN},
			value: `{"username": "master", "password": "Master-Pa55", "host": "evil.example", "port": 1}`},
	})
	m, err := r.Resolve(context.Background(), clusterSecret)
	if err != nil || m.Host == "evil.example" || m.Port == 1 || strings.Join(*asked, ",") != clusterARN {
		t.Fatalf("%+v %v, asked %v", m, err, *asked)
	}
}

func TestResolveWantsTheWholeARN(t *testing.T) {
	r, _ := world(map[string]stored{clusterSecret: {name: "rds!cluster-0a1b", tags: map[string]string{TagCluster: clusterARN}, value: creds}})
	r.secrets = secrets{
		describe: func(string) (*secretsmanager.DescribeSecretOutput, error) {
			return &secretsmanager.DescribeSecretOutput{ARN: aws.String(clusterSecret), Name: aws.String("rds!cluster-0a1b")}, nil
		},
		value: func(string) (*secretsmanager.GetSecretValueOutput, error) {
			return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(creds)}, nil
		},
	}
	if _, err := r.Resolve(context.Background(), "rds!cluster-0a1b"); errcode.FieldOf(err) != "masterSecretArn" {
		t.Fatalf("got %v", err)
	}
}

func TestLogValueHidesThePassword(t *testing.T) {
	m := Master{ARN: clusterSecret, Password: "Master-Pa55", Host: "h"}
	if strings.Contains(m.LogValue().String(), "Master-Pa55") {
		t.Fatal(m.LogValue().String())
	}
}
