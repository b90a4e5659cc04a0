package rdsapi

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"
)

const (
	region  = "us-east-1"
	account = "123456789012"

	ordersSecret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-0f1e2d3c-AbCdEf"
	legacySecret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-9a8b7c6d-GhIjKl"
	ordersARN    = "arn:aws:rds:us-east-1:123456789012:cluster:orders"
	billingARN   = "arn:aws:rds:us-east-1:123456789012:cluster:billing"
	legacyARN    = "arn:aws:rds:us-east-1:123456789012:db:legacy"
)

// fixture starts a server holding two clusters and three instances.
func fixture(t *testing.T) (*Server, *rds.Client) {
	t.Helper()
	srv, err := Start(region, account)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.AddCluster(Cluster{
		Identifier:          "orders",
		Engine:              "aurora-postgresql",
		Endpoint:            "orders.cluster-c1.us-east-1.rds.amazonaws.com",
		ReaderEndpoint:      "orders.cluster-ro-c1.us-east-1.rds.amazonaws.com",
		Port:                5432,
		DatabaseName:        "orders",
		MasterUsername:      "postgres",
		MasterUserSecretARN: ordersSecret,
	})
	srv.AddCluster(Cluster{ // default ARN and port, no managed secret
		Identifier:     "billing",
		Engine:         "aurora-mysql",
		Endpoint:       "billing.cluster-c1.us-east-1.rds.amazonaws.com",
		MasterUsername: "admin",
	})
	srv.AddInstance(Instance{
		Identifier:        "orders-1",
		Engine:            "aurora-postgresql",
		Address:           "orders-1.c1.us-east-1.rds.amazonaws.com",
		MasterUsername:    "postgres",
		ClusterIdentifier: "orders",
	})
	srv.AddInstance(Instance{
		Identifier:          "legacy",
		Engine:              "postgres",
		Address:             "legacy.c1.us-east-1.rds.amazonaws.com",
		Port:                5433,
		DBName:              "app",
		MasterUsername:      "master",
		MasterUserSecretARN: legacySecret,
	})
	srv.AddInstance(Instance{
		Identifier:     "shop",
		Engine:         "mysql",
		Address:        "shop.c1.us-east-1.rds.amazonaws.com",
		MasterUsername: "admin",
	})
	return srv, client(srv)
}

func client(srv *Server) *rds.Client {
	return rds.New(rds.Options{
		Region:       region,
		BaseEndpoint: aws.String(srv.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// errCode is the Query-protocol error code of err, or "" if it has none.
func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestDescribeDBClusters(t *testing.T) {
	_, c := fixture(t)
	tests := []struct {
		name     string
		in       rds.DescribeDBClustersInput
		want     []string
		notFound string // message of the expected *types.DBClusterNotFoundFault
		code     string // expected error code of another failure
	}{
		{name: "by identifier", in: rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String("orders")}, want: []string{"orders"}},
		{name: "by ARN", in: rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(ordersARN)}, want: []string{"orders"}},
		{name: "identifier is case-insensitive", in: rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String("ORDERS")}, want: []string{"orders"}},
		{name: "all, by identifier", in: rds.DescribeDBClustersInput{}, want: []string{"billing", "orders"}},
		{name: "MaxRecords in range", in: rds.DescribeDBClustersInput{MaxRecords: aws.Int32(20)}, want: []string{"billing", "orders"}},
		{name: "db-cluster-id filter by ARN", in: rds.DescribeDBClustersInput{Filters: []types.Filter{{Name: aws.String("db-cluster-id"), Values: []string{billingARN}}}}, want: []string{"billing"}},
		{name: "engine filter", in: rds.DescribeDBClustersInput{Filters: []types.Filter{{Name: aws.String("engine"), Values: []string{"aurora-mysql", "neptune"}}}}, want: []string{"billing"}},
		{name: "filter matching nothing", in: rds.DescribeDBClustersInput{Filters: []types.Filter{{Name: aws.String("clone-group-id"), Values: []string{"x"}}}}, want: []string{}},
		{name: "identifier and non-matching filter", in: rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String("orders"), Filters: []types.Filter{{Name: aws.String("engine"), Values: []string{"aurora-mysql"}}}}, want: []string{}},
		{name: "unknown identifier", in: rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String("nope")}, notFound: "DBCluster nope not found."},
		{name: "ARN of another account", in: rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String("arn:aws:rds:us-east-1:999999999999:cluster:orders")}, notFound: "DBCluster arn:aws:rds:us-east-1:999999999999:cluster:orders not found."},
		{name: "unknown filter name", in: rds.DescribeDBClustersInput{Filters: []types.Filter{{Name: aws.String("status"), Values: []string{"available"}}}}, code: "InvalidParameterValue"},
		{name: "malformed identifier", in: rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String("bad_id")}, code: "InvalidParameterValue"},
		{name: "MaxRecords too small", in: rds.DescribeDBClustersInput{MaxRecords: aws.Int32(5)}, code: "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.DescribeDBClusters(context.Background(), &tt.in)
			switch {
			case tt.notFound != "":
				var nf *types.DBClusterNotFoundFault
				if !errors.As(err, &nf) {
					t.Fatalf("err = %v (%T), want *types.DBClusterNotFoundFault", err, err)
				}
				if nf.ErrorMessage() != tt.notFound {
					t.Errorf("message %q, want %q", nf.ErrorMessage(), tt.notFound)
				}
				return
			case tt.code != "":
				if got := errCode(err); got != tt.code {
					t.Fatalf("err = %v, want code %s", err, tt.code)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			got := []string{}
			for _, cl := range out.DBClusters {
				got = append(got, aws.ToString(cl.DBClusterIdentifier))
				if aws.ToString(cl.DBClusterIdentifier) == "orders" {
					checkOrders(t, cl)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("clusters %v, want %v", got, tt.want)
			}
			if out.Marker != nil {
				t.Errorf("Marker %q, want none", *out.Marker)
			}
		})
	}
}

func checkOrders(t *testing.T, cl types.DBCluster) {
	t.Helper()
	for _, f := range []struct{ name, got, want string }{
		{"DBClusterArn", aws.ToString(cl.DBClusterArn), ordersARN},
		{"Engine", aws.ToString(cl.Engine), "aurora-postgresql"},
		{"Status", aws.ToString(cl.Status), "available"},
		{"Endpoint", aws.ToString(cl.Endpoint), "orders.cluster-c1.us-east-1.rds.amazonaws.com"},
		{"ReaderEndpoint", aws.ToString(cl.ReaderEndpoint), "orders.cluster-ro-c1.us-east-1.rds.amazonaws.com"},
		{"DatabaseName", aws.ToString(cl.DatabaseName), "orders"},
		{"MasterUsername", aws.ToString(cl.MasterUsername), "postgres"},
	} {
		if f.got != f.want {
			t.Errorf("%s %q, want %q", f.name, f.got, f.want)
		}
	}
	if aws.ToInt32(cl.Port) != 5432 {
		t.Errorf("Port %d, want 5432", aws.ToInt32(cl.Port))
	}
	if cl.MasterUserSecret == nil || aws.ToString(cl.MasterUserSecret.SecretArn) != ordersSecret ||
		aws.ToString(cl.MasterUserSecret.SecretStatus) != "active" || cl.MasterUserSecret.KmsKeyId == nil {
		t.Errorf("MasterUserSecret %+v", cl.MasterUserSecret)
	}
	if len(cl.DBClusterMembers) != 1 || aws.ToString(cl.DBClusterMembers[0].DBInstanceIdentifier) != "orders-1" ||
		!aws.ToBool(cl.DBClusterMembers[0].IsClusterWriter) {
		t.Errorf("DBClusterMembers %+v", cl.DBClusterMembers)
	}
}

func TestDescribeDBClustersDefaults(t *testing.T) {
	_, c := fixture(t)
	out, err := c.DescribeDBClusters(context.Background(), &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String("billing")})
	if err != nil {
		t.Fatal(err)
	}
	cl := out.DBClusters[0]
	if aws.ToString(cl.DBClusterArn) != billingARN || aws.ToInt32(cl.Port) != 3306 ||
		cl.MasterUserSecret != nil || cl.DatabaseName != nil || cl.ReaderEndpoint != nil {
		t.Errorf("billing %+v", cl)
	}
}

func TestDescribeDBInstances(t *testing.T) {
	_, c := fixture(t)
	tests := []struct {
		name     string
		in       rds.DescribeDBInstancesInput
		want     []string
		notFound string
		code     string
	}{
		{name: "by identifier", in: rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("legacy")}, want: []string{"legacy"}},
		{name: "by ARN", in: rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(legacyARN)}, want: []string{"legacy"}},
		{name: "all, by identifier", in: rds.DescribeDBInstancesInput{}, want: []string{"legacy", "orders-1", "shop"}},
		{name: "db-cluster-id filter by identifier", in: rds.DescribeDBInstancesInput{Filters: []types.Filter{{Name: aws.String("db-cluster-id"), Values: []string{"orders"}}}}, want: []string{"orders-1"}},
		{name: "db-cluster-id filter by ARN", in: rds.DescribeDBInstancesInput{Filters: []types.Filter{{Name: aws.String("db-cluster-id"), Values: []string{ordersARN}}}}, want: []string{"orders-1"}},
		{name: "db-instance-id filter, two values", in: rds.DescribeDBInstancesInput{Filters: []types.Filter{{Name: aws.String("db-instance-id"), Values: []string{"shop", legacyARN, "gone"}}}}, want: []string{"legacy", "shop"}},
		{name: "filters are ANDed", in: rds.DescribeDBInstancesInput{Filters: []types.Filter{
			{Name: aws.String("db-instance-id"), Values: []string{"shop", "legacy"}},
			{Name: aws.String("engine"), Values: []string{"mysql"}},
		}}, want: []string{"shop"}},
		{name: "unknown identifier", in: rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("nope")}, notFound: "DBInstance nope not found."},
		{name: "unknown filter name", in: rds.DescribeDBInstancesInput{Filters: []types.Filter{{Name: aws.String("DBInstanceStatus"), Values: []string{"stopped"}}}}, code: "InvalidParameterValue"},
		{name: "malformed filter value", in: rds.DescribeDBInstancesInput{Filters: []types.Filter{{Name: aws.String("db-instance-id"), Values: []string{"arn:aws:rds:us-east-1:123456789012:db:"}}}}, code: "InvalidParameterValue"},
		{name: "MaxRecords too large", in: rds.DescribeDBInstancesInput{MaxRecords: aws.Int32(101)}, code: "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.DescribeDBInstances(context.Background(), &tt.in)
			switch {
			case tt.notFound != "":
				var nf *types.DBInstanceNotFoundFault
				if !errors.As(err, &nf) {
					t.Fatalf("err = %v (%T), want *types.DBInstanceNotFoundFault", err, err)
				}
				if nf.ErrorMessage() != tt.notFound {
					t.Errorf("message %q, want %q", nf.ErrorMessage(), tt.notFound)
				}
				return
			case tt.code != "":
				if got := errCode(err); got != tt.code {
					t.Fatalf("err = %v, want code %s", err, tt.code)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			got := []string{}
			for _, in := range out.DBInstances {
				got = append(got, aws.ToString(in.DBInstanceIdentifier))
				checkInstance(t, in)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("instances %v, want %v", got, tt.want)
			}
		})
	}
}

// checkInstance compares an instance with its fixture.
func checkInstance(t *testing.T, in types.DBInstance) {
	t.Helper()
	type view struct {
		ARN, Engine, Status, Address, HostedZone, DBName, User, Cluster, Secret string
		Port                                                                    int32
	}
	id := aws.ToString(in.DBInstanceIdentifier)
	want := map[string]view{
		"legacy":   {legacyARN, "postgres", "available", "legacy.c1.us-east-1.rds.amazonaws.com", hostedZoneID, "app", "master", "", legacySecret, 5433},
		"orders-1": {"arn:aws:rds:us-east-1:123456789012:db:orders-1", "aurora-postgresql", "available", "orders-1.c1.us-east-1.rds.amazonaws.com", hostedZoneID, "", "postgres", "orders", "", 5432},
		"shop":     {"arn:aws:rds:us-east-1:123456789012:db:shop", "mysql", "available", "shop.c1.us-east-1.rds.amazonaws.com", hostedZoneID, "", "admin", "", "", 3306},
	}[id]
	got := view{
		ARN: aws.ToString(in.DBInstanceArn), Engine: aws.ToString(in.Engine), Status: aws.ToString(in.DBInstanceStatus),
		DBName: aws.ToString(in.DBName), User: aws.ToString(in.MasterUsername), Cluster: aws.ToString(in.DBClusterIdentifier),
	}
	if in.Endpoint != nil {
		got.Address, got.Port, got.HostedZone = aws.ToString(in.Endpoint.Address), aws.ToInt32(in.Endpoint.Port), aws.ToString(in.Endpoint.HostedZoneId)
	}
	if in.MasterUserSecret != nil {
		got.Secret = aws.ToString(in.MasterUserSecret.SecretArn)
	}
	if got != want {
		t.Errorf("%s:\n got %+v\nwant %+v", id, got, want)
	}
}

func TestCalls(t *testing.T) {
	srv, c := fixture(t)
	ctx := context.Background()
	c.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(ordersARN)})
	c.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{
		Filters: []types.Filter{
			{Name: aws.String("db-cluster-id"), Values: []string{"orders", ordersARN}},
			{Name: aws.String("engine"), Values: []string{"aurora-postgresql"}},
		},
		MaxRecords: aws.Int32(50),
		Marker:     aws.String("m1"),
	})
	c.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("nope")})
	c.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{})

	calls := srv.Calls()
	for n := range calls {
		if calls[n].Params.Get("Version") != apiVersion {
			t.Errorf("call %d Version %q", n, calls[n].Params.Get("Version"))
		}
		calls[n].Params = nil
	}
	want := []Call{
		{Method: "POST", Action: "DescribeDBClusters", Identifier: ordersARN},
		{Method: "POST", Action: "DescribeDBInstances", MaxRecords: 50, Marker: "m1", Filters: []Filter{
			{Name: "db-cluster-id", Values: []string{"orders", ordersARN}},
			{Name: "engine", Values: []string{"aurora-postgresql"}},
		}},
		{Method: "POST", Action: "DescribeDBInstances", Identifier: "nope"},
		{Method: "POST", Action: "DescribeDBClusters"},
	}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("calls:\n got %+v\nwant %+v", calls, want)
	}

	// Calls hands out copies.
	calls[1].Filters[0].Values[0] = "changed"
	if srv.Calls()[1].Filters[0].Values[0] != "orders" {
		t.Error("Calls shares its slices with the server")
	}
}

// rawPost sends a form straight to the server, as the SDK would not.
func rawPost(t *testing.T, srv *Server, method string, form url.Values) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL()+"/", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestWireFormat(t *testing.T) {
	srv, _ := fixture(t)
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for n := 0; n < len(kv); n += 2 {
			v.Set(kv[n], kv[n+1])
		}
		return v
	}
	tests := []struct {
		name   string
		method string
		form   url.Values
		status int
		root   string // root element
		code   string // error code, for an ErrorResponse
	}{
		{"success", "POST", form("Action", "DescribeDBInstances", "Version", apiVersion, "DBInstanceIdentifier", "shop"), 200, "DescribeDBInstancesResponse", ""},
		{"empty list", "POST", form("Action", "DescribeDBClusters", "Version", apiVersion, "Filters.Filter.1.Name", "engine", "Filters.Filter.1.Values.Value.1", "x"), 200, "DescribeDBClustersResponse", ""},
		{"cluster not found", "POST", form("Action", "DescribeDBClusters", "Version", apiVersion, "DBClusterIdentifier", "x"), 404, "ErrorResponse", "DBClusterNotFoundFault"},
		{"instance not found", "POST", form("Action", "DescribeDBInstances", "Version", apiVersion, "DBInstanceIdentifier", "x"), 404, "ErrorResponse", "DBInstanceNotFound"},
		{"other action", "POST", form("Action", "DeleteDBCluster", "Version", apiVersion, "DBClusterIdentifier", "orders"), 400, "ErrorResponse", "InvalidAction"},
		{"no action", "POST", form("Version", apiVersion), 400, "ErrorResponse", "MissingAction"},
		{"other version", "POST", form("Action", "DescribeDBClusters", "Version", "2013-01-10"), 400, "ErrorResponse", "InvalidAction"},
		{"filter without name", "POST", form("Action", "DescribeDBClusters", "Version", apiVersion, "Filters.Filter.1.Values.Value.1", "x"), 400, "ErrorResponse", "MissingParameter"},
		{"GET", "GET", nil, 400, "ErrorResponse", "InvalidAction"},
		{"PUT", "PUT", form("Action", "DescribeDBClusters", "Version", apiVersion), 400, "ErrorResponse", "InvalidAction"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawPost(t, srv, tt.method, tt.form)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/xml" {
				t.Errorf("Content-Type %q", ct)
			}
			var doc struct {
				XMLName   xml.Name
				Code      string `xml:"Error>Code"`
				Type      string `xml:"Error>Type"`
				Message   string `xml:"Error>Message"`
				RequestID string `xml:"RequestId"`
				MetaID    string `xml:"ResponseMetadata>RequestId"`
			}
			if err := xml.Unmarshal(body, &doc); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if doc.XMLName.Local != tt.root || doc.XMLName.Space != xmlns {
				t.Errorf("root {%s}%s, want {%s}%s", doc.XMLName.Space, doc.XMLName.Local, xmlns, tt.root)
			}
			id := resp.Header.Get("x-amzn-RequestId")
			if len(id) != 36 || (doc.RequestID != id && doc.MetaID != id) {
				t.Errorf("request id header %q, body %q/%q", id, doc.RequestID, doc.MetaID)
			}
			if doc.Code != tt.code {
				t.Errorf("code %q, want %q", doc.Code, tt.code)
			}
			if tt.code != "" && (doc.Type != "Sender" || doc.Message == "") {
				t.Errorf("Type %q Message %q", doc.Type, doc.Message)
			}
			if tt.name == "empty list" && !strings.Contains(string(body), "<DBClusters></DBClusters>") {
				t.Errorf("no empty DBClusters element: %s", body)
			}
		})
	}
	if n := len(srv.Calls()); n != len(tests) {
		t.Errorf("%d calls recorded, want %d", n, len(tests))
	}
}

func TestEscaping(t *testing.T) {
	srv, c := fixture(t)
	odd := `a<b>&"c'd]]>` + "\t\u00e9"
	srv.AddCluster(Cluster{Identifier: "odd", Engine: "aurora-postgresql", DatabaseName: odd, MasterUsername: odd})
	out, err := c.DescribeDBClusters(context.Background(), &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String("odd")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.DBClusters[0].DatabaseName); got != odd {
		t.Errorf("DatabaseName %q, want %q", got, odd)
	}
	// The identifier is echoed in the not-found message, escaped too.
	arn := "arn:aws:rds:x<&>:1:cluster:abc"
	_, err = c.DescribeDBClusters(context.Background(), &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(arn)})
	var nf *types.DBClusterNotFoundFault
	if !errors.As(err, &nf) || nf.ErrorMessage() != "DBCluster "+arn+" not found." {
		t.Errorf("err = %v", err)
	}
}

func TestReplace(t *testing.T) {
	srv, c := fixture(t)
	srv.AddInstance(Instance{Identifier: "SHOP", Engine: "mariadb", Address: "new.example"})
	out, err := c.DescribeDBInstances(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("shop")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.DBInstances) != 1 || aws.ToString(out.DBInstances[0].Engine) != "mariadb" {
		t.Errorf("%+v", out.DBInstances)
	}
}

// TestEndpointFromEnvironment points a default-config client at the server the
// way a deployed function would be: through AWS_ENDPOINT_URL_RDS.
func TestEndpointFromEnvironment(t *testing.T) {
	srv, _ := fixture(t)
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_RDS":                srv.URL(),
		"AWS_ENDPOINT_URL":                    "",
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "",
		"AWS_REGION":                          region,
		"AWS_ACCESS_KEY_ID":                   "test",
		"AWS_SECRET_ACCESS_KEY":               "test",
		"AWS_SESSION_TOKEN":                   "",
		"AWS_PROFILE":                         "",
		"AWS_CONFIG_FILE":                     none,
		"AWS_SHARED_CREDENTIALS_FILE":         none,
		"AWS_EC2_METADATA_DISABLED":           "true",
	} {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := rds.NewFromConfig(cfg).DescribeDBInstances(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(legacyARN)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.DBInstances[0].MasterUserSecret.SecretArn); got != legacySecret {
		t.Errorf("SecretArn %q", got)
	}
}

func TestConcurrent(t *testing.T) {
	srv, c := fixture(t)
	var wg sync.WaitGroup
	for n := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("db-%d", n)
			srv.AddInstance(Instance{Identifier: id, Engine: "postgres", Address: id + ".example"})
			if _, err := c.DescribeDBInstances(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)}); err != nil {
				t.Error(err)
			}
			if _, err := c.DescribeDBClusters(context.Background(), &rds.DescribeDBClustersInput{}); err != nil {
				t.Error(err)
			}
			_ = srv.Calls()
		}()
	}
	wg.Wait()
	if n := len(srv.Calls()); n != 16 {
		t.Errorf("%d calls, want 16", n)
	}
}

func TestStart(t *testing.T) {
	if _, err := Start("", account); err == nil {
		t.Error("Start without a region succeeded")
	}
	srv, err := Start(region, account)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %q", srv.URL())
	}
	srv.Close()
	srv.Close() // twice is fine
	if _, err := http.Post(srv.URL(), "application/x-www-form-urlencoded", nil); err == nil {
		t.Error("server still answers after Close")
	}
}
