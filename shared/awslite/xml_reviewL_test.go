package awslite_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkrds "github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/dbcreds/provisioner/shared/awslite/rds"
)

// TestCraftedRDSAnswersReviewL: odd but well-formed answers read as the
// SDK reads them, in the fields masterdb decides on (which cluster names
// which master secret, and where it is).
func TestCraftedRDSAnswersReviewL(t *testing.T) {
	ctx := context.Background()
	wrap := func(inner string) string {
		return `<DescribeDBClustersResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><DescribeDBClustersResult>` + inner + `</DescribeDBClustersResult></DescribeDBClustersResponse>`
	}
	for name, answer := range map[string]string{
		"two secrets":   wrap(`<DBClusters><DBCluster><Endpoint>a</Endpoint><MasterUserSecret><SecretArn>s1</SecretArn></MasterUserSecret><MasterUserSecret><SecretArn>s2</SecretArn></MasterUserSecret></DBCluster></DBClusters>`),
		"two endpoints": wrap(`<DBClusters><DBCluster><Endpoint>a</Endpoint><Endpoint>b</Endpoint><MasterUserSecret><SecretArn>s1</SecretArn></MasterUserSecret></DBCluster></DBClusters>`),
		"nested secret": wrap(`<DBClusters><DBCluster><Endpoint>a</Endpoint><TagList><Tag><MasterUserSecret><SecretArn>s1</SecretArn></MasterUserSecret></Tag></TagList></DBCluster></DBClusters>`),
		"two lists":     wrap(`<DBClusters><DBCluster><Endpoint>a</Endpoint></DBCluster></DBClusters><DBClusters><DBCluster><Endpoint>b</Endpoint><MasterUserSecret><SecretArn>s1</SecretArn></MasterUserSecret></DBCluster></DBClusters>`),
		"prefixed":      `<x:DescribeDBClustersResponse xmlns:x="urn:x"><x:DescribeDBClustersResult><x:DBClusters><x:DBCluster><x:Endpoint>a</x:Endpoint><x:MasterUserSecret><x:SecretArn>s1</x:SecretArn></x:MasterUserSecret></x:DBCluster></x:DBClusters></x:DescribeDBClustersResult></x:DescribeDBClustersResponse>`,
		"two results":   `<DescribeDBClustersResponse><DescribeDBClustersResult><DBClusters><DBCluster><Endpoint>a</Endpoint></DBCluster></DBClusters></DescribeDBClustersResult><DescribeDBClustersResult><DBClusters><DBCluster><Endpoint>b</Endpoint><MasterUserSecret><SecretArn>s1</SecretArn></MasterUserSecret></DBCluster></DBClusters></DescribeDBClustersResult></DescribeDBClustersResponse>`,
	} {
		s, serr := sdkrds.New(sdkrds.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: &recorder{answer: answer}}).DescribeDBClusters(ctx, &sdkrds.DescribeDBClustersInput{})
		l, lerr := rds.New(liteOptions(&recorder{answer: answer})).DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{})
		if (serr == nil) != (lerr == nil) {
			t.Errorf("%s: the SDK %v, ours %v", name, serr, lerr)
			continue
		}
		if serr != nil {
			continue
		}
		view := func(e, a []string) []string { return append(e, a...) }
		var sv, lv []string
		for _, c := range s.DBClusters {
			arn := ""
			if c.MasterUserSecret != nil {
				arn = aws.ToString(c.MasterUserSecret.SecretArn)
			}
			sv = view(sv, []string{aws.ToString(c.Endpoint), arn})
		}
		for _, c := range l.DBClusters {
			arn := ""
			if c.MasterUserSecret != nil {
				arn = aws.ToString(c.MasterUserSecret.SecretArn)
			}
			lv = view(lv, []string{aws.ToString(c.Endpoint), arn})
		}
		if len(sv) != len(lv) {
			t.Errorf("%s: the SDK %q, ours %q", name, sv, lv)
			continue
		}
		for i := range sv {
			if sv[i] != lv[i] {
				t.Errorf("%s: the SDK %q, ours %q", name, sv, lv)
				break
			}
		}
	}
}
