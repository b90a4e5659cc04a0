// Package rdsapi is a local stand-in for the Amazon RDS API (version
// 2014-10-31, the awsQuery protocol) for tests. It answers DescribeDBClusters
// and DescribeDBInstances the way the real service does, closely enough that
// the real AWS SDK for Go v2 RDS client, pointed at URL() through
// BaseEndpoint or AWS_ENDPOINT_URL_RDS, parses its answers and errors into the
// SDK's own types (types.DBCluster, *types.DBClusterNotFoundFault, ...).
//
// It imports nothing of this module.
package rdsapi

import (
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	apiVersion = "2014-10-31"
	xmlns      = "http://rds.amazonaws.com/doc/" + apiVersion + "/"

	// Query-protocol error types: Sender is the caller's fault.
	sender = "Sender"

	// Endpoint.HostedZoneId: the value us-east-1 RDS endpoints carry, used
	// for every region since callers only pass it through.
	hostedZoneID = "Z2R2ITUGPM61AM"

	// A form is a handful of fields; anything bigger is not an SDK request.
	maxBodyBytes = 1 << 20
)

// Cluster is an Aurora (or Multi-AZ) DB cluster as DescribeDBClusters shows it.
type Cluster struct {
	Identifier          string // DBClusterIdentifier
	ARN                 string // DBClusterArn; default arn:aws:rds:<region>:<account>:cluster:<Identifier>
	Engine              string // e.g. aurora-postgresql, aurora-mysql
	Endpoint            string // writer endpoint host
	ReaderEndpoint      string
	Port                int // 0: the engine's default port (5432 or 3306)
	DatabaseName        string
	MasterUsername      string
	MasterUserSecretARN string // MasterUserSecret.SecretArn; empty: no MasterUserSecret element
}

// Instance is a DB instance as DescribeDBInstances shows it.
type Instance struct {
	Identifier          string // DBInstanceIdentifier
	ARN                 string // DBInstanceArn; default arn:aws:rds:<region>:<account>:db:<Identifier>
	Engine              string // postgres, mysql, mariadb, or aurora-* for a cluster member
	Address             string // Endpoint.Address; empty: no Endpoint element
	Port                int    // Endpoint.Port; 0: the engine's default port
	DBName              string
	MasterUsername      string
	MasterUserSecretARN string // MasterUserSecret.SecretArn; empty: no MasterUserSecret element
	ClusterIdentifier   string // DBClusterIdentifier, for an Aurora instance
}

// Filter is one Filters.Filter.N of a request.
type Filter struct {
	Name   string
	Values []string
}

// Call is one request the server received, whatever became of it.
type Call struct {
	Method string
	Action string
	// Identifier is DBClusterIdentifier for DescribeDBClusters and
	// DBInstanceIdentifier for DescribeDBInstances, as sent (id or ARN).
	Identifier string
	Filters    []Filter
	MaxRecords int // 0: not sent (or not a number; see Params)
	Marker     string
	// Params is the whole decoded form, for anything not broken out above.
	Params url.Values
}

// Server serves the two Describe operations on a loopback port.
type Server struct {
	region, account string
	url             string
	http            *http.Server
	closeOnce       sync.Once

	mu        sync.Mutex
	clusters  []Cluster // in the order added; AddCluster replaces by identifier
	instances []Instance
	calls     []Call
}

// Start listens on 127.0.0.1 on a free port. region and account make the
// default ARNs, so they should match what the client under test is given.
func Start(region, account string) (*Server, error) {
	if region == "" || account == "" {
		return nil, errors.New("rdsapi: region and account are required for ARNs")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("rdsapi: listen: %w", err)
	}
	s := &Server{
		region:  region,
		account: account,
		url:     "http://" + ln.Addr().String(),
	}
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.http.Serve(ln) //nolint:errcheck // returns ErrServerClosed on Close
	return s, nil
}

// URL is the base endpoint, http://127.0.0.1:PORT, for BaseEndpoint or
// AWS_ENDPOINT_URL_RDS.
func (s *Server) URL() string { return s.url }

// Close stops the server and drops open connections at once. A graceful
// Shutdown would wait out the SDK's pre-dialled connections that never carry
// a request, which only slows tests down. It is safe to call twice.
func (s *Server) Close() {
	s.closeOnce.Do(func() { s.http.Close() })
}

// AddCluster adds c, or replaces the cluster with the same identifier
// (compared case-insensitively, as RDS identifiers are).
func (s *Server) AddCluster(c Cluster) {
	if c.ARN == "" {
		c.ARN = s.arn("cluster", c.Identifier)
	}
	if c.Port == 0 {
		c.Port = defaultPort(c.Engine)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.IndexFunc(s.clusters, func(o Cluster) bool { return strings.EqualFold(o.Identifier, c.Identifier) }); i >= 0 {
		s.clusters[i] = c
		return
	}
	s.clusters = append(s.clusters, c)
}

// AddInstance adds i, or replaces the instance with the same identifier.
func (s *Server) AddInstance(i Instance) {
	if i.ARN == "" {
		i.ARN = s.arn("db", i.Identifier)
	}
	if i.Port == 0 {
		i.Port = defaultPort(i.Engine)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := slices.IndexFunc(s.instances, func(o Instance) bool { return strings.EqualFold(o.Identifier, i.Identifier) }); n >= 0 {
		s.instances[n] = i
		return
	}
	s.instances = append(s.instances, i)
}

// Calls returns a copy of every request received so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for n, c := range s.calls {
		c.Filters = cloneFilters(c.Filters)
		c.Params = cloneValues(c.Params)
		out[n] = c
	}
	return out
}

func (s *Server) arn(kind, id string) string {
	return "arn:" + partition(s.region) + ":rds:" + s.region + ":" + s.account + ":" + kind + ":" + id
}

func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// defaultPort is the port RDS gives an engine when none is asked for.
func defaultPort(engine string) int {
	switch {
	case strings.Contains(engine, "postgres"):
		return 5432
	case strings.Contains(engine, "mysql"), strings.Contains(engine, "mariadb"):
		return 3306
	}
	return 0
}

// apiError is a Query-protocol error: the status and the ErrorResponse body.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func invalidParameter(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf(format, args...)}
}

// ServeHTTP answers one Query-protocol request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	call := Call{Method: r.Method}
	body, aerr := s.handle(w, r, reqID, &call)
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()

	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Content-Type", "text/xml")
	if aerr != nil {
		body = mustMarshal(errorResponse{
			Xmlns:     xmlns,
			Error:     errorDetail{Type: sender, Code: aerr.code, Message: aerr.message},
			RequestID: reqID,
		})
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(aerr.status)
		w.Write(body)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request, reqID string, call *Call) ([]byte, *apiError) {
	// The real service also takes GET with a query string; the SDK only
	// ever POSTs, and this stand-in answers nothing else.
	if r.Method != http.MethodPost {
		return nil, &apiError{http.StatusBadRequest, "InvalidAction",
			fmt.Sprintf("Only POST is supported, not %s.", r.Method)}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		return nil, &apiError{http.StatusBadRequest, "MalformedQueryString", err.Error()}
	}
	form := r.Form
	call.Params = cloneValues(form)
	call.Action = form.Get("Action")
	call.Marker = form.Get("Marker")
	call.MaxRecords, _ = strconv.Atoi(form.Get("MaxRecords"))
	switch call.Action {
	case "DescribeDBClusters":
		call.Identifier = form.Get("DBClusterIdentifier")
	case "DescribeDBInstances":
		call.Identifier = form.Get("DBInstanceIdentifier")
	}
	filters, ferr := parseFilters(form)
	call.Filters = filters

	switch call.Action {
	case "":
		return nil, &apiError{http.StatusBadRequest, "MissingAction", "The request must contain the parameter Action."}
	case "DescribeDBClusters", "DescribeDBInstances":
	default:
		return nil, &apiError{http.StatusBadRequest, "InvalidAction",
			fmt.Sprintf("The action %s is not valid for this web service.", call.Action)}
	}
	// The SDK always sends this version; a request for another one names
	// an API this stand-in does not speak.
	if v := form.Get("Version"); v != "" && v != apiVersion {
		return nil, &apiError{http.StatusBadRequest, "InvalidAction",
			fmt.Sprintf("Could not find operation %s for version %s", call.Action, v)}
	}
	if ferr != nil {
		return nil, ferr
	}
	// Marker is accepted and ignored: every answer is one whole page and
	// carries no Marker. MaxRecords is still range-checked as RDS does.
	if mr := form.Get("MaxRecords"); mr != "" {
		if n, err := strconv.Atoi(mr); err != nil || n < 20 || n > 100 {
			return nil, invalidParameter("Invalid value %s for MaxRecords. Must be between 20 and 100", mr)
		}
	}

	if call.Action == "DescribeDBClusters" {
		return s.describeClusters(reqID, call.Identifier, filters)
	}
	return s.describeInstances(reqID, call.Identifier, filters)
}

// parseFilters reads Filters.Filter.N.Name and Filters.Filter.N.Values.Value.M,
// ordered by N and M (1-based, as the SDK numbers them).
func parseFilters(form url.Values) ([]Filter, *apiError) {
	type entry struct {
		name    string
		hasName bool
		values  map[int]string
	}
	byN := map[int]*entry{}
	for key, vals := range form {
		rest, ok := strings.CutPrefix(key, "Filters.Filter.")
		if !ok || len(vals) == 0 {
			continue
		}
		nStr, field, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(nStr)
		if err != nil || n < 1 {
			return nil, invalidParameter("Malformed filter parameter %s", key)
		}
		e := byN[n]
		if e == nil {
			e = &entry{values: map[int]string{}}
			byN[n] = e
		}
		switch {
		case field == "Name":
			e.name, e.hasName = vals[0], true
		case field == "Values":
			// An empty list is sent as a bare "Values=".
		case strings.HasPrefix(field, "Values.Value."):
			m, err := strconv.Atoi(strings.TrimPrefix(field, "Values.Value."))
			if err != nil || m < 1 {
				return nil, invalidParameter("Malformed filter parameter %s", key)
			}
			e.values[m] = vals[0]
		default:
			return nil, invalidParameter("Malformed filter parameter %s", key)
		}
	}
	ns := make([]int, 0, len(byN))
	for n := range byN {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	var out []Filter
	for _, n := range ns {
		e := byN[n]
		if !e.hasName {
			return nil, &apiError{http.StatusBadRequest, "MissingParameter",
				fmt.Sprintf("The request must contain the parameter Filters.Filter.%d.Name", n)}
		}
		ms := make([]int, 0, len(e.values))
		for m := range e.values {
			ms = append(ms, m)
		}
		sort.Ints(ms)
		f := Filter{Name: e.name, Values: make([]string, 0, len(ms))}
		for _, m := range ms {
			f.Values = append(f.Values, e.values[m])
		}
		out = append(out, f)
	}
	return out, nil
}

// Filter names each operation accepts, per the RDS API Reference. The real
// service rejects any other name with 400 InvalidParameterValue
// "Unrecognized filter name: X" rather than ignoring it, and so does this.
// Names the stand-in has no data for (clone groups, resource ids, domains)
// are accepted and match nothing, as none of its resources has one.
var (
	clusterFilters  = map[string]bool{"clone-group-id": true, "db-cluster-id": true, "db-cluster-resource-id": true, "domain": true, "engine": true}
	instanceFilters = map[string]bool{"db-cluster-id": true, "db-instance-id": true, "dbi-resource-id": true, "domain": true, "engine": true}
)

func checkFilters(filters []Filter, known map[string]bool) *apiError {
	for _, f := range filters {
		if !known[f.Name] {
			return invalidParameter("Unrecognized filter name: %s", f.Name)
		}
		if len(f.Values) == 0 {
			return invalidParameter("Filter %s must have at least one value", f.Name)
		}
		if f.Name == "db-cluster-id" || f.Name == "db-instance-id" {
			for _, v := range f.Values {
				if !validIdentifierOrARN(v) {
					return invalidParameter("The parameter Filter: %s is not a valid identifier. %s", f.Name, identifierRules)
				}
			}
		}
	}
	return nil
}

const identifierRules = "Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens."

// validIdentifier applies RDS's rule for DB cluster and instance names; the
// real service answers a malformed one with InvalidParameterValue, not a
// not-found fault.
func validIdentifier(id string) bool {
	if id == "" || len(id) > 63 || strings.HasSuffix(id, "-") || strings.Contains(id, "--") {
		return false
	}
	for n, c := range id {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if n == 0 && !letter || !letter && c != '-' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// validIdentifierOrARN also takes arn:...:rds:...:cluster:<id> or :db:<id>.
func validIdentifierOrARN(v string) bool {
	if !strings.HasPrefix(v, "arn:") {
		return validIdentifier(v)
	}
	_, id, ok := splitARN(v)
	return ok && validIdentifier(id)
}

// splitARN returns the resource type and name of an RDS ARN.
func splitARN(v string) (kind, id string, ok bool) {
	parts := strings.SplitN(v, ":", 7)
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "rds" {
		return "", "", false
	}
	return parts[5], parts[6], true
}

// matches reports whether v names a resource by identifier or by ARN; RDS
// identifiers are case-insensitive.
func matches(v, id, arn string) bool {
	return strings.EqualFold(v, id) || strings.EqualFold(v, arn)
}

func anyMatches(values []string, id, arn string) bool {
	return slices.ContainsFunc(values, func(v string) bool { return matches(v, id, arn) })
}

func (s *Server) describeClusters(reqID, id string, filters []Filter) ([]byte, *apiError) {
	if id != "" && !validIdentifierOrARN(id) {
		return nil, invalidParameter("The parameter DBClusterIdentifier is not a valid identifier. %s", identifierRules)
	}
	if err := checkFilters(filters, clusterFilters); err != nil {
		return nil, err
	}
	s.mu.Lock()
	clusters := slices.Clone(s.clusters)
	instances := slices.Clone(s.instances)
	s.mu.Unlock()

	if id != "" {
		i := slices.IndexFunc(clusters, func(c Cluster) bool { return matches(id, c.Identifier, c.ARN) })
		if i < 0 {
			return nil, &apiError{http.StatusNotFound, "DBClusterNotFoundFault", fmt.Sprintf("DBCluster %s not found.", id)}
		}
		clusters = clusters[i : i+1]
	}
	clusters = slices.DeleteFunc(clusters, func(c Cluster) bool {
		for _, f := range filters {
			switch f.Name {
			case "db-cluster-id":
				if !anyMatches(f.Values, c.Identifier, c.ARN) {
					return true
				}
			case "engine":
				if !slices.Contains(f.Values, c.Engine) {
					return true
				}
			default:
				return true
			}
		}
		return false
	})
	sortByKey(clusters, func(c Cluster) string { return c.Identifier })

	resp := clustersResponse{Xmlns: xmlns, Metadata: responseMetadata{RequestID: reqID}}
	resp.Result.DBClusters.Items = make([]xmlCluster, 0, len(clusters))
	for _, c := range clusters {
		resp.Result.DBClusters.Items = append(resp.Result.DBClusters.Items, s.renderCluster(c, instances))
	}
	return mustMarshal(resp), nil
}

func (s *Server) describeInstances(reqID, id string, filters []Filter) ([]byte, *apiError) {
	if id != "" && !validIdentifierOrARN(id) {
		return nil, invalidParameter("The parameter DBInstanceIdentifier is not a valid identifier. %s", identifierRules)
	}
	if err := checkFilters(filters, instanceFilters); err != nil {
		return nil, err
	}
	s.mu.Lock()
	clusters := slices.Clone(s.clusters)
	instances := slices.Clone(s.instances)
	s.mu.Unlock()

	if id != "" {
		i := slices.IndexFunc(instances, func(in Instance) bool { return matches(id, in.Identifier, in.ARN) })
		if i < 0 {
			// The wire code is DBInstanceNotFound; the SDK maps it to
			// *types.DBInstanceNotFoundFault through its awsQueryError trait.
			return nil, &apiError{http.StatusNotFound, "DBInstanceNotFound", fmt.Sprintf("DBInstance %s not found.", id)}
		}
		instances = instances[i : i+1]
	}
	instances = slices.DeleteFunc(instances, func(in Instance) bool {
		for _, f := range filters {
			switch f.Name {
			case "db-instance-id":
				if !anyMatches(f.Values, in.Identifier, in.ARN) {
					return true
				}
			case "db-cluster-id":
				if in.ClusterIdentifier == "" || !anyMatches(f.Values, in.ClusterIdentifier, clusterARN(clusters, in.ClusterIdentifier, s)) {
					return true
				}
			case "engine":
				if !slices.Contains(f.Values, in.Engine) {
					return true
				}
			default:
				return true
			}
		}
		return false
	})
	sortByKey(instances, func(in Instance) string { return in.Identifier })

	resp := instancesResponse{Xmlns: xmlns, Metadata: responseMetadata{RequestID: reqID}}
	resp.Result.DBInstances.Items = make([]xmlInstance, 0, len(instances))
	for _, in := range instances {
		resp.Result.DBInstances.Items = append(resp.Result.DBInstances.Items, s.renderInstance(in))
	}
	return mustMarshal(resp), nil
}

// clusterARN is the ARN of the cluster an instance belongs to: the added
// cluster's own, or the default one if the cluster was never added.
func clusterARN(clusters []Cluster, id string, s *Server) string {
	if i := slices.IndexFunc(clusters, func(c Cluster) bool { return strings.EqualFold(c.Identifier, id) }); i >= 0 {
		return clusters[i].ARN
	}
	return s.arn("cluster", id)
}

// sortByKey orders results by identifier so answers do not depend on the
// order resources were added in.
func sortByKey[T any](items []T, key func(T) string) {
	slices.SortStableFunc(items, func(a, b T) int {
		return strings.Compare(strings.ToLower(key(a)), strings.ToLower(key(b)))
	})
}

func (s *Server) secret(arn string) *xmlSecret {
	if arn == "" {
		return nil
	}
	// RDS-managed master secrets are encrypted with a KMS key; a fixed
	// key ARN in the server's account and region stands in for it.
	return &xmlSecret{
		SecretArn:    arn,
		SecretStatus: "active",
		KmsKeyId:     "arn:" + partition(s.region) + ":kms:" + s.region + ":" + s.account + ":key/00000000-0000-4000-8000-000000000000",
	}
}

func (s *Server) renderCluster(c Cluster, instances []Instance) xmlCluster {
	x := xmlCluster{
		DBClusterIdentifier: c.Identifier,
		DBClusterArn:        c.ARN,
		Engine:              c.Engine,
		Status:              "available",
		Endpoint:            c.Endpoint,
		ReaderEndpoint:      c.ReaderEndpoint,
		Port:                c.Port,
		DatabaseName:        c.DatabaseName,
		MasterUsername:      c.MasterUsername,
		MasterUserSecret:    s.secret(c.MasterUserSecretARN),
	}
	// Members in the order added: the first one stands for the writer.
	writer := true
	for _, in := range instances {
		if strings.EqualFold(in.ClusterIdentifier, c.Identifier) {
			x.DBClusterMembers = append(x.DBClusterMembers, xmlMember{
				DBInstanceIdentifier:          in.Identifier,
				IsClusterWriter:               writer,
				DBClusterParameterGroupStatus: "in-sync",
				PromotionTier:                 1,
			})
			writer = false
		}
	}
	return x
}

func (s *Server) renderInstance(in Instance) xmlInstance {
	x := xmlInstance{
		DBInstanceIdentifier: in.Identifier,
		DBInstanceArn:        in.ARN,
		Engine:               in.Engine,
		DBInstanceStatus:     "available",
		DBName:               in.DBName,
		MasterUsername:       in.MasterUsername,
		DBClusterIdentifier:  in.ClusterIdentifier,
		MasterUserSecret:     s.secret(in.MasterUserSecretARN),
	}
	if in.Address != "" {
		x.Endpoint = &xmlEndpoint{Address: in.Address, Port: in.Port, HostedZoneId: hostedZoneID}
	}
	return x
}

// Wire shapes. Element names are the RDS model's; the SDK matches them
// case-insensitively and ignores order, but they are spelled as RDS does.

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type clustersResponse struct {
	XMLName xml.Name `xml:"DescribeDBClustersResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		// A wrapper struct, not "DBClusters>DBCluster", so an empty
		// answer still carries <DBClusters></DBClusters> as RDS's does.
		DBClusters struct {
			Items []xmlCluster `xml:"DBCluster"`
		} `xml:"DBClusters"`
	} `xml:"DescribeDBClustersResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type instancesResponse struct {
	XMLName xml.Name `xml:"DescribeDBInstancesResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		DBInstances struct {
			Items []xmlInstance `xml:"DBInstance"`
		} `xml:"DBInstances"`
	} `xml:"DescribeDBInstancesResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type xmlSecret struct {
	SecretArn    string `xml:"SecretArn"`
	SecretStatus string `xml:"SecretStatus"`
	KmsKeyId     string `xml:"KmsKeyId"`
}

type xmlMember struct {
	DBInstanceIdentifier          string `xml:"DBInstanceIdentifier"`
	IsClusterWriter               bool   `xml:"IsClusterWriter"`
	DBClusterParameterGroupStatus string `xml:"DBClusterParameterGroupStatus"`
	PromotionTier                 int    `xml:"PromotionTier"`
}

type xmlCluster struct {
	DBClusterIdentifier string      `xml:"DBClusterIdentifier"`
	DBClusterArn        string      `xml:"DBClusterArn"`
	Engine              string      `xml:"Engine,omitempty"`
	Status              string      `xml:"Status"`
	Endpoint            string      `xml:"Endpoint,omitempty"`
	ReaderEndpoint      string      `xml:"ReaderEndpoint,omitempty"`
	Port                int         `xml:"Port,omitempty"`
	DatabaseName        string      `xml:"DatabaseName,omitempty"`
	MasterUsername      string      `xml:"MasterUsername,omitempty"`
	MasterUserSecret    *xmlSecret  `xml:"MasterUserSecret,omitempty"`
	DBClusterMembers    []xmlMember `xml:"DBClusterMembers>DBClusterMember"`
}

type xmlEndpoint struct {
	Address      string `xml:"Address"`
	Port         int    `xml:"Port,omitempty"`
	HostedZoneId string `xml:"HostedZoneId"`
}

type xmlInstance struct {
	DBInstanceIdentifier string       `xml:"DBInstanceIdentifier"`
	DBInstanceArn        string       `xml:"DBInstanceArn"`
	Engine               string       `xml:"Engine,omitempty"`
	DBInstanceStatus     string       `xml:"DBInstanceStatus"`
	Endpoint             *xmlEndpoint `xml:"Endpoint,omitempty"`
	DBName               string       `xml:"DBName,omitempty"`
	MasterUsername       string       `xml:"MasterUsername,omitempty"`
	DBClusterIdentifier  string       `xml:"DBClusterIdentifier,omitempty"`
	MasterUserSecret     *xmlSecret   `xml:"MasterUserSecret,omitempty"`
}

type errorDetail struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

type errorResponse struct {
	XMLName   xml.Name    `xml:"ErrorResponse"`
	Xmlns     string      `xml:"xmlns,attr"`
	Error     errorDetail `xml:"Error"`
	RequestID string      `xml:"RequestId"`
}

// mustMarshal encodes v, whose types above cannot fail to encode.
func mustMarshal(v any) []byte {
	b, err := xml.Marshal(v)
	if err != nil {
		panic("rdsapi: marshal: " + err.Error())
	}
	return b
}

// newRequestID is a random version 4 UUID, the form of RDS request ids.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func cloneFilters(fs []Filter) []Filter {
	if fs == nil {
		return nil
	}
	out := make([]Filter, len(fs))
	for n, f := range fs {
		out[n] = Filter{Name: f.Name, Values: slices.Clone(f.Values)}
	}
	return out
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
