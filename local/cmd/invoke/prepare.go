package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/local/emulate/invoke"
	"github.com/dbcreds/provisioner/shared/awsname"
)

// withItsSecret readies an event that acts on an existing secret (a
// custom-resource Update or Delete, an HTTP GET or DELETE) for this Secrets Manager:
// the sample events name a secret that exists in no fresh moto, or carry a
// placeholder ARN. When the secret is missing it is made first, the way it
// would have been (a Create of the resource's properties, a POST of its
// name), and a custom-resource event is pointed at the secret's real ARN.
// Other events are returned as they are.
func withItsSecret(ctx context.Context, opts invoke.Options) ([]byte, error) {
	var probe struct {
		RequestType           string
		PhysicalResourceId    string
		ResourceProperties    json.RawMessage
		OldResourceProperties json.RawMessage
		RawPath               string `json:"rawPath"`
		RequestContext        struct {
			HTTP struct{ Method string } `json:"http"`
		} `json:"requestContext"`
		PathParameters map[string]string `json:"pathParameters"`
	}
	if json.Unmarshal(opts.Event, &probe) != nil {
		return opts.Event, nil
	}
	switch {
	case probe.RequestType == "Update" || probe.RequestType == "Delete":
		arn, ok := awsname.ParseSecretARN(probe.PhysicalResourceId)
		if !ok || arn.Name() == "" {
			return opts.Event, nil // a failed create's id: nothing to make
		}
		existing, err := lookUp(ctx, opts.Region, arn.Name())
		if err != nil || existing != nil && existing.DeletedDate != nil {
			return opts.Event, err // scheduled for deletion: the function says so
		}
		id := aws.ToString(existingARN(existing))
		if existing == nil {
			props := probe.OldResourceProperties
			if probe.RequestType == "Delete" {
				props = probe.ResourceProperties
			}
			fmt.Fprintf(os.Stderr, "== %s does not exist in this Secrets Manager: creating it first with a Create of the resource's properties\n", arn.Name())
			if id, err = createFirst(ctx, opts, props); err != nil {
				return nil, err
			}
		}
		return setMember(opts.Event, "PhysicalResourceId", id)

	case (probe.RequestContext.HTTP.Method == "GET" || probe.RequestContext.HTTP.Method == "DELETE") && probe.PathParameters["name"] != "":
		name := probe.PathParameters["name"]
		existing, err := lookUp(ctx, opts.Region, name)
		if err != nil || existing != nil {
			return opts.Event, err
		}
		fmt.Fprintf(os.Stderr, "== %s does not exist in this Secrets Manager: creating it first with POST /secrets\n", name)
		return opts.Event, postFirst(ctx, opts, name)
	}
	return opts.Event, nil
}

func existingARN(s *secretsmanager.DescribeSecretOutput) *string {
	if s == nil {
		return nil
	}
	return s.ARN
}

// lookUp describes the secret, or returns nil when there is none.
func lookUp(ctx context.Context, region, name string) (*secretsmanager.DescribeSecretOutput, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, err
	}
	out, err := secretsmanager.NewFromConfig(cfg).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	var missing *types.ResourceNotFoundException
	if errors.As(err, &missing) {
		return nil, nil
	}
	return out, err
}

// createFirst runs a Create of props through the function and returns the
// secret's ARN.
func createFirst(ctx context.Context, opts invoke.Options, props json.RawMessage) (string, error) {
	event, err := setMember(opts.Event, "RequestType", "Create")
	if err == nil {
		event, err = setMember(event, "RequestId", "prepare-"+fmt.Sprint(os.Getpid()))
	}
	if err == nil {
		event, err = setRaw(event, "ResourceProperties", props)
	}
	if err != nil {
		return "", err
	}
	var m map[string]json.RawMessage
	json.Unmarshal(event, &m)
	delete(m, "PhysicalResourceId")
	delete(m, "OldResourceProperties")
	event, _ = json.Marshal(m)
	opts.Event = event
	out, err := invoke.Run(ctx, opts)
	if err != nil {
		return "", err
	}
	var answer struct {
		Status, Reason string
		Data           struct{ Arn string }
	}
	if json.Unmarshal(out.CloudFormation, &answer) != nil || answer.Status != "SUCCESS" {
		return "", fmt.Errorf("creating the secret first failed: %s %s", answer.Status, answer.Reason)
	}
	return answer.Data.Arn, nil
}

// postFirst runs POST /secrets for name, as the same caller, through the
// function.
func postFirst(ctx context.Context, opts invoke.Options, name string) error {
	var m map[string]any
	if err := json.Unmarshal(opts.Event, &m); err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"name": name, "engine": "mysql", "host": "db.internal"})
	m["routeKey"], m["rawPath"], m["body"] = "ANY /secrets", "/secrets", string(body)
	delete(m, "pathParameters")
	if headers, ok := m["headers"].(map[string]any); ok {
		headers["content-type"] = "application/json"
	}
	if rc, ok := m["requestContext"].(map[string]any); ok {
		rc["routeKey"] = "ANY /secrets"
		if h, ok := rc["http"].(map[string]any); ok {
			h["method"], h["path"] = "POST", "/secrets"
		}
	}
	opts.Event, _ = json.Marshal(m)
	out, err := invoke.Run(ctx, opts)
	if err != nil {
		return err
	}
	var resp struct{ StatusCode int }
	if json.Unmarshal(out.Response, &resp) != nil || resp.StatusCode != 201 {
		return fmt.Errorf("creating the secret first failed: %s", out.Response)
	}
	return nil
}

func setMember(event []byte, key string, value any) ([]byte, error) {
	raw, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	return setRaw(event, key, raw)
}

func setRaw(event []byte, key string, raw json.RawMessage) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(event, &m); err != nil {
		return nil, err
	}
	m[key] = raw
	return json.Marshal(m)
}

// deletedID is the physical id of a custom-resource Delete event.
func deletedID(event []byte) string {
	var e struct{ RequestType, PhysicalResourceId string }
	if json.Unmarshal(event, &e) != nil || e.RequestType != "Delete" {
		return ""
	}
	return e.PhysicalResourceId
}

// httpMethod is an HTTP API event's method, or "".
func httpMethod(event []byte) string {
	var e struct {
		RequestContext struct {
			HTTP struct{ Method string } `json:"http"`
		} `json:"requestContext"`
	}
	json.Unmarshal(event, &e)
	return e.RequestContext.HTTP.Method
}

// showDeletion says what became of the secret a Delete named.
func showDeletion(ctx context.Context, id, region string) {
	arn, ok := awsname.ParseSecretARN(id)
	if !ok {
		return
	}
	s, err := lookUp(ctx, region, id)
	switch {
	case err != nil:
	case s == nil:
		fmt.Printf("\n== secret %s: deleted\n", arn.Name())
	case s.DeletedDate != nil:
		fmt.Printf("\n== secret %s: scheduled for deletion on %s (restorable until then)\n", arn.Name(), s.DeletedDate.UTC().Format("2006-01-02 15:04 UTC"))
	default:
		fmt.Printf("\n== secret %s: still there\n", arn.Name())
	}
}
