// Package rds is the part of the Amazon RDS API the functions use
// (DescribeDBClusters, DescribeDBInstances), with the SDK's method
// signatures and types (service/rds/types) but not its client package: see
// awslite. Answers carry the fields a master secret's database needs.
package rds

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/dbcreds/provisioner/shared/awslite"
)

// Options are the client's settings.
type Options = awslite.Options

// Client calls RDS.
type Client struct{ c *awslite.Client }

// New builds a client; it calls nothing.
func New(o Options) *Client {
	return &Client{awslite.New(awslite.Service{ID: "RDS", SigningName: "rds", Endpoint: "rds", Errors: typedError}, o)}
}

const version = "2014-10-31"

type DescribeDBClustersInput struct {
	DBClusterIdentifier *string
	Filters             []types.Filter
	Marker              *string
	MaxRecords          *int32
}

type DescribeDBClustersOutput struct {
	DBClusters []types.DBCluster
	Marker     *string
}

type secret struct {
	SecretArn    *string
	SecretStatus *string
	KmsKeyId     *string
}

func (s *secret) sdk() *types.MasterUserSecret {
	if s == nil {
		return nil
	}
	return &types.MasterUserSecret{SecretArn: s.SecretArn, SecretStatus: s.SecretStatus, KmsKeyId: s.KmsKeyId}
}

// DescribeDBClusters describes clusters, a page at a time.
func (c *Client) DescribeDBClusters(ctx context.Context, params *DescribeDBClustersInput, optFns ...func(*Options)) (*DescribeDBClustersOutput, error) {
	if params == nil {
		params = &DescribeDBClustersInput{}
	}
	form := page(params.Filters, params.Marker, params.MaxRecords)
	if params.DBClusterIdentifier != nil {
		form.Set("DBClusterIdentifier", *params.DBClusterIdentifier)
	}
	var out struct {
		Clusters []struct {
			DBClusterIdentifier, DBClusterArn, Engine, EngineVersion, Status *string
			Endpoint, ReaderEndpoint, DatabaseName, MasterUsername           *string
			Port                                                             *int32
			MasterUserSecret                                                 *secret
		} `xml:"DBClusters>DBCluster"`
		Marker *string
	}
	if err := c.c.Query(ctx, "DescribeDBClusters", version, form, &out, optFns...); err != nil {
		return nil, err
	}
	clusters := make([]types.DBCluster, len(out.Clusters))
	for i, k := range out.Clusters {
		clusters[i] = types.DBCluster{
			DBClusterIdentifier: k.DBClusterIdentifier, DBClusterArn: k.DBClusterArn, Engine: k.Engine, EngineVersion: k.EngineVersion, Status: k.Status,
			Endpoint: k.Endpoint, ReaderEndpoint: k.ReaderEndpoint, DatabaseName: k.DatabaseName, MasterUsername: k.MasterUsername,
			Port: k.Port, MasterUserSecret: k.MasterUserSecret.sdk(),
		}
	}
	return &DescribeDBClustersOutput{DBClusters: clusters, Marker: out.Marker}, nil
}

type DescribeDBInstancesInput struct {
	DBInstanceIdentifier *string
	Filters              []types.Filter
	Marker               *string
	MaxRecords           *int32
}

type DescribeDBInstancesOutput struct {
	DBInstances []types.DBInstance
	Marker      *string
}

// DescribeDBInstances describes instances, a page at a time.
func (c *Client) DescribeDBInstances(ctx context.Context, params *DescribeDBInstancesInput, optFns ...func(*Options)) (*DescribeDBInstancesOutput, error) {
	if params == nil {
		params = &DescribeDBInstancesInput{}
	}
	form := page(params.Filters, params.Marker, params.MaxRecords)
	if params.DBInstanceIdentifier != nil {
		form.Set("DBInstanceIdentifier", *params.DBInstanceIdentifier)
	}
	var out struct {
		Instances []struct {
			DBInstanceIdentifier, DBInstanceArn, Engine, EngineVersion, DBInstanceStatus *string
			DBName, MasterUsername, DBClusterIdentifier                                  *string
			Endpoint                                                                     *struct {
				Address, HostedZoneId *string
				Port                  *int32
			}
			MasterUserSecret *secret
		} `xml:"DBInstances>DBInstance"`
		Marker *string
	}
	if err := c.c.Query(ctx, "DescribeDBInstances", version, form, &out, optFns...); err != nil {
		return nil, err
	}
	instances := make([]types.DBInstance, len(out.Instances))
	for i, k := range out.Instances {
		instances[i] = types.DBInstance{
			DBInstanceIdentifier: k.DBInstanceIdentifier, DBInstanceArn: k.DBInstanceArn, Engine: k.Engine, EngineVersion: k.EngineVersion,
			DBInstanceStatus: k.DBInstanceStatus, DBName: k.DBName, MasterUsername: k.MasterUsername, DBClusterIdentifier: k.DBClusterIdentifier,
			MasterUserSecret: k.MasterUserSecret.sdk(),
		}
		if e := k.Endpoint; e != nil {
			instances[i].Endpoint = &types.Endpoint{Address: e.Address, HostedZoneId: e.HostedZoneId, Port: e.Port}
		}
	}
	return &DescribeDBInstancesOutput{DBInstances: instances, Marker: out.Marker}, nil
}

// page is the form of the filters and paging both operations take, as the
// Query protocol spells lists (Filters.Filter.1.Values.Value.1).
func page(filters []types.Filter, marker *string, max *int32) url.Values {
	form := url.Values{}
	for i, f := range filters {
		p := "Filters.Filter." + strconv.Itoa(i+1) + "."
		form.Set(p+"Name", aws.ToString(f.Name))
		for j, v := range f.Values {
			form.Set(p+"Values.Value."+strconv.Itoa(j+1), v)
		}
	}
	if marker != nil {
		form.Set("Marker", *marker)
	}
	if max != nil {
		form.Set("MaxRecords", strconv.Itoa(int(*max)))
	}
	return form
}

// typedError is the SDK's error type for the codes callers tell apart,
// matched as the SDK matches them, case aside.
func typedError(code, message string, _ []byte) error {
	m := aws.String(message)
	switch strings.ToLower(code) {
	case "dbclusternotfoundfault":
		return &types.DBClusterNotFoundFault{Message: m}
	case "dbinstancenotfound":
		return &types.DBInstanceNotFoundFault{Message: m}
	}
	return nil
}
