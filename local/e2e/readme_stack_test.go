package e2e

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// What the README's example stack's intrinsics resolve to in a deployed
// stack: an Aurora cluster with an RDS-managed master secret.
var readmeIntrinsics = map[string]string{
	"!ImportValue dbcreds-provisioner-ServiceToken":    "arn:aws:lambda:us-east-1:123456789012:function:dbcreds-CustomResourceFunction-Q1w2E3r4T5y6",
	"!GetAtt OrdersCluster.Endpoint.Address":           "orders.cluster-c1x2y3z4.us-east-1.rds.amazonaws.com",
	"!GetAtt OrdersCluster.Endpoint.Port":              "5432",
	"!GetAtt OrdersCluster.MasterUserSecret.SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-0b7b2f5e-3c1d-4a59-9b1e-2f0f7c6a9d11-AbCdEf",
	"!Ref OrdersCluster":                               "orders-cluster-1a2b3c4d5e6f",
	"!GetAtt OrdersCluster.ReadEndpoint.Address":       "orders.cluster-ro-c1x2y3z4.us-east-1.rds.amazonaws.com",
}

// TestReadmeExampleStack sends the custom resource page's example stack's
// Custom::DatabaseSecret properties, as CloudFormation would (intrinsics
// resolved, every value a string), through the custom resource's bootstrap.
func TestReadmeExampleStack(t *testing.T) {
	doc := readmeStack(t, "Orders database and its rotation-ready application secret.")
	var props map[string]any
	for _, resource := range mappingOf(valueOf(doc, "Resources")) {
		if v := valueOf(resource, "Type"); v != nil && strings.HasPrefix(v.Value, "Custom::") {
			props = asCloudFormation(t, valueOf(resource, "Properties"), readmeIntrinsics).(map[string]any)
		}
	}
	if props == nil {
		t.Fatal("the example stack has no Custom:: resource")
	}
	props["Name"] = "app/readme/aurora-postgresql" // one of its own on the shared moto
	a := customResource(t, "custom-resource-create.json", "99999999-0000-4000-8000-000000000001", "", "", func(p map[string]any) {
		for k := range p {
			delete(p, k)
		}
		for k, v := range props {
			p[k] = v
		}
	})
	if a.Status != "SUCCESS" {
		t.Fatalf("the README's stack answered %+v", a)
	}
	v, _ := storedSecret(t, "us-east-1", a.PhysicalResourceId)
	if v["masterarn"] != nil || v["engine"] != "aurora-postgresql" || v["port"] != float64(5432) || v["dbClusterIdentifier"] != readmeIntrinsics["!Ref OrdersCluster"] {
		t.Fatalf("stored %v", v)
	}
}

// asCloudFormation turns a YAML node into what CloudFormation sends a custom
// resource: intrinsics resolved, every scalar a string.
func asCloudFormation(t *testing.T, n *yaml.Node, intrinsics map[string]string) any {
	t.Helper()
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = asCloudFormation(t, n.Content[i+1], intrinsics)
		}
		return m
	case yaml.SequenceNode:
		var l []any
		for _, c := range n.Content {
			l = append(l, asCloudFormation(t, c, intrinsics))
		}
		return l
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		v, ok := intrinsics[n.Tag+" "+n.Value]
		if !ok {
			t.Fatalf("the example stack uses %s %s, which this test cannot resolve", n.Tag, n.Value)
		}
		return v
	}
	return fmt.Sprint(n.Value)
}

func valueOf(n *yaml.Node, key string) *yaml.Node {
	for i := 0; n != nil && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func mappingOf(n *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	for i := 0; n != nil && i+1 < len(n.Content); i += 2 {
		out = append(out, n.Content[i+1])
	}
	return out
}

// readmeStack is the docs' first example stack holding mark.
func readmeStack(t *testing.T, mark string) *yaml.Node {
	t.Helper()
	for _, name := range docFiles(t) {
		for _, block := range strings.Split(docText(t, name), "```yaml\nAWSTemplateFormatVersion")[1:] {
			stack, _, _ := strings.Cut(block, "```")
			if !strings.Contains(stack, mark) {
				continue
			}
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte("AWSTemplateFormatVersion"+stack), &doc); err != nil {
				t.Fatal(err)
			}
			return doc.Content[0]
		}
	}
	t.Fatalf("the docs have no example stack with %q", mark)
	return nil
}
