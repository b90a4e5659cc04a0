// Package iamcheck proves the template's IAM against what the functions do
// and what a hostile caller wants: it records every AWS call the functions
// make in the end-to-end tests (Recorder), maps each to the authorizations
// AWS performs for it (Authorizations), resolves each function role's
// policies from the SAM-translated template (Roles), and evaluates both
// with a real IAM policy evaluator, @cloud-copilot/iam-simulate (Evaluate).
//
// It is test-only: nothing of it ships in the functions, and nothing of
// shared/ or functions/ is imported.
package iamcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Call is one AWS call a function made.
type Call struct {
	Principal string `json:"principal"` // the function's logical id
	// Overrides are the template parameters the function ran under: its
	// role is resolved with them.
	Overrides map[string]string `json:"overrides,omitempty"`
	Service   string            `json:"service"` // as its signature names it: secretsmanager, dynamodb, rds
	Region    string            `json:"region"`
	Operation string            `json:"operation"` // CreateSecret, PutItem, DescribeDBClusters
	Params    map[string]any    `json:"params"`    // the request's JSON body, or its query form
	// Secret is the secret the call names, as it was just before the call;
	// nil when it names none or none exists.
	Secret *Secret `json:"secret,omitempty"`
	// KeyTags are the tags of the KMS key a KMS call names, as IAM sees
	// them (aws:ResourceTag).
	KeyTags map[string]string `json:"keyTags,omitempty"`
}

// Secret is what IAM sees of an existing secret.
type Secret struct {
	ARN      string            `json:"arn"`
	Tags     map[string]string `json:"tags"`
	KmsKeyID string            `json:"kmsKeyId"`
}

// Recorder stands between the functions and a test server (moto, the RDS
// stand-in) and records the calls that pass. Each function gets its own
// address (For), so that a call is known by who made it, whatever
// credentials it carries.
type Recorder struct {
	upstream *url.URL
	secrets  func(region string) *secretsmanager.Client // reads a secret's state; nil for no Secrets Manager
	// KeyTags, when set, reads a KMS key's tags, for the calls that name it.
	KeyTags func(region, keyID string) map[string]string
	mu      sync.Mutex
	calls   []Call
	servers map[string]*http.Server
	urls    map[string]string
}

// NewRecorder records calls on their way to upstream. secrets, when not
// nil, gives a client of upstream's Secrets Manager in a Region, to read a
// named secret's tags before the call changes them.
func NewRecorder(upstream string, secrets func(region string) *secretsmanager.Client) (*Recorder, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	return &Recorder{upstream: u, secrets: secrets, servers: map[string]*http.Server{}, urls: map[string]string{}}, nil
}

// For is the address function's calls go to when it runs under the
// template parameters overrides.
func (r *Recorder) For(function string, overrides map[string]string) (string, error) {
	key, _ := json.Marshal(overrides) // sorted keys: one address per set
	who := function + "\x00" + string(key)
	r.mu.Lock()
	defer r.mu.Unlock()
	if u, ok := r.urls[who]; ok {
		return u, nil
	}
	kept := map[string]string{}
	for k, v := range overrides {
		kept[k] = v
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	proxy := httputil.NewSingleHostReverseProxy(r.upstream)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		r.record(req, body, function, kept)
		if form, _ := url.ParseQuery(string(body)); form.Get("Action") == "GetCallerIdentity" {
			// STS answers with the function's own session, as in AWS:
			// its role is what a grant's retiring principal names.
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, callerIdentity(function))
			return
		}
		proxy.ServeHTTP(w, req)
	})}
	go srv.Serve(l)
	r.servers[who] = srv
	r.urls[who] = "http://" + l.Addr().String()
	return r.urls[who], nil
}

// Calls are the calls recorded so far.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// Close stops every function's address.
func (r *Recorder) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.servers {
		s.Close()
	}
}

func (r *Recorder) record(req *http.Request, body []byte, function string, overrides map[string]string) {
	c := Call{Principal: function, Overrides: overrides, Params: map[string]any{}}
	// Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261203/us-east-1/secretsmanager/aws4_request, ...
	if _, cred, ok := strings.Cut(req.Header.Get("Authorization"), "Credential="); ok {
		parts := strings.Split(strings.SplitN(cred, ",", 2)[0], "/")
		if len(parts) >= 4 {
			c.Region, c.Service = parts[2], parts[3]
		}
	}
	if target := req.Header.Get("X-Amz-Target"); target != "" {
		_, c.Operation, _ = strings.Cut(target, ".")
		json.Unmarshal(body, &c.Params)
	} else if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") != "" {
		c.Operation = form.Get("Action")
		for k, v := range form {
			if k != "Action" && k != "Version" {
				c.Params[k] = v[0]
			}
		}
	}
	if c.Service == "scheduler" {
		schedulerCall(&c, req, body)
	}
	if c.Operation == "" || c.Service == "" {
		return // not an AWS API call (a health check, the test's own probe)
	}
	if id, ok := c.Params["SecretId"].(string); ok && c.Service == "secretsmanager" && r.secrets != nil {
		c.Secret = r.secretState(c.Region, id)
	}
	if id, ok := c.Params["KeyId"].(string); ok && c.Service == "kms" && r.KeyTags != nil {
		c.KeyTags = r.KeyTags(c.Region, id)
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// secretState reads the secret id names as IAM would see it now.
func (r *Recorder) secretState(region, id string) *Secret {
	d, err := r.secrets(region).DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		return nil
	}
	s := &Secret{ARN: aws.ToString(d.ARN), Tags: map[string]string{}, KmsKeyID: aws.ToString(d.KmsKeyId)}
	for _, t := range d.Tags {
		s.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return s
}

// callerIdentity is STS's GetCallerIdentity answer for function's session
// of its role (as Roles names it).
func callerIdentity(function string) string {
	return `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
		`<Arn>arn:aws:sts::` + AccountID + `:assumed-role/` + StackName + `-` + function + `Role/` + function + `</Arn>` +
		`<UserId>AROAEXAMPLE:` + function + `</UserId><Account>` + AccountID + `</Account>` +
		`</GetCallerIdentityResult><ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
}

// schedulerCall reads an EventBridge Scheduler call, a REST one: the
// operation from the method on /schedules/{Name}, the group from the body
// or the groupName query.
func schedulerCall(c *Call, req *http.Request, body []byte) {
	name, ok := strings.CutPrefix(req.URL.Path, "/schedules/")
	if !ok {
		return
	}
	json.Unmarshal(body, &c.Params)
	c.Params["Name"] = name
	if g := req.URL.Query().Get("groupName"); g != "" {
		c.Params["GroupName"] = g
	}
	c.Operation = map[string]string{"POST": "CreateSchedule", "PUT": "UpdateSchedule", "DELETE": "DeleteSchedule", "GET": "GetSchedule"}[req.Method]
}
