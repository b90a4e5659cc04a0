package samtemplate

import (
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// What the SAM CLI (aws/aws-sam-cli 1.164) does with a template for
// sam local start-api, read from its source:
// samcli/lib/providers/api_provider.py picks one provider for the whole
// template from the first resource whose type either provider knows;
// samcli/lib/providers/sam_api_provider.py then reads only the functions'
// Api and HttpApi events (Path and Method as written, ApiId a logical id or
// a Ref to one) and AWS::Serverless::Api/HttpApi resources; an HttpApi
// with no DefinitionBody or DefinitionUri is skipped; AWS_IAM is "not
// supported for local emulation" (api_collector.py), so the requests carry
// no identity.
var (
	samProviderTypes = []string{"AWS::Serverless::Function", "AWS::Serverless::Api", "AWS::Serverless::HttpApi"}
	cfnProviderTypes = []string{"AWS::ApiGateway::RestApi", "AWS::ApiGateway::Stage", "AWS::ApiGateway::Resource",
		"AWS::ApiGateway::Method", "AWS::ApiGateway::Authorizer", "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Integration",
		"AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Stage", "AWS::ApiGatewayV2::Authorizer"}
)

// apiRoutes are the routes the HTTP API function serves.
var apiRoutes = []string{"ANY /secrets", "ANY /secrets/{name+}"}

func loadOrdered(t *testing.T) *yaml.Node {
	t.Helper()
	data, err := os.ReadFile("../../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return Get(doc.Content[0], "Resources")
}

// TestSamLocalStartApiFindsTheRoutes encodes what sam local start-api needs
// to serve the HTTP API's routes with payload format 2.0.
func TestSamLocalStartApiFindsTheRoutes(t *testing.T) {
	resources := loadOrdered(t)
	types := map[string]string{}
	first := ""
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id, typ := resources.Content[i].Value, Scalar(Get(resources.Content[i+1], "Type"))
		types[id] = typ
		if first == "" && (slices.Contains(samProviderTypes, typ) || slices.Contains(cfnProviderTypes, typ)) {
			first = id
		}
	}
	if !slices.Contains(samProviderTypes, types[first]) {
		t.Fatalf("the first resource the SAM CLI recognises is %s (%s): it would read the template with its CloudFormation API provider, which finds no HttpApi events", first, types[first])
	}
	var routes []string
	for i := 0; i+1 < len(resources.Content); i += 2 {
		r := resources.Content[i+1]
		if Scalar(Get(r, "Type")) != "AWS::Serverless::Function" {
			continue
		}
		for name, event := range Mapping(Get(Get(r, "Properties"), "Events")) {
			if typ := Scalar(Get(event, "Type")); typ != "HttpApi" {
				if typ == "Api" {
					t.Errorf("event %s is a REST API event; the API is an HTTP API", name)
				}
				continue
			}
			props := Get(event, "Properties")
			path, method, api := Get(props, "Path"), Get(props, "Method"), Get(props, "ApiId")
			for field, n := range map[string]*yaml.Node{"Path": path, "Method": method} {
				if n == nil || n.Kind != yaml.ScalarNode || strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
					t.Errorf("event %s: %s must be written out; the SAM CLI reads it as it is", name, field)
				}
			}
			if api == nil || api.Tag != "!Ref" || types[api.Value] != "AWS::Serverless::HttpApi" {
				t.Errorf("event %s: ApiId must be a Ref to an AWS::Serverless::HttpApi", name)
			} else if hr := Get(resources, api.Value); Get(Get(hr, "Properties"), "DefinitionBody") != nil || Get(Get(hr, "Properties"), "DefinitionUri") != nil {
				t.Errorf("%s has an OpenAPI definition: the SAM CLI would read routes and authorizers from it instead", api.Value)
			}
			if v := Scalar(Get(props, "PayloadFormatVersion")); v != "2.0" {
				t.Errorf("event %s: PayloadFormatVersion %q, want 2.0", name, v)
			}
			routes = append(routes, strings.ToUpper(Scalar(method))+" "+Scalar(path))
		}
	}
	slices.Sort(routes)
	if !slices.Equal(routes, apiRoutes) {
		t.Fatalf("HttpApi events route %v, want %v", routes, apiRoutes)
	}
}
