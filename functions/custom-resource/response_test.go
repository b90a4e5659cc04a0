package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/stack"
)

// TestAnswerFitsCloudFormation: an answer over 4096 bytes has its reason cut,
// and says so, rather than being refused.
func TestAnswerFitsCloudFormation(t *testing.T) {
	rc := &receiver{statuses: []int{200}}
	event := loadEvent(t, "custom-resource-create.json", rc)
	long := strings.Repeat(`<"quoted" & escaped> `, 500)
	secrets := &fakeLifecycle{create: func(stack.Resource, provision.Request) (provision.Result, error) {
		return provision.Result{}, errcode.Invalidf("engine", "unknown engine %q", long)
	}}
	handle(t, secrets, event)
	if len(rc.raw) > maxResponseBytes || len(rc.raw) < maxResponseBytes-64 {
		t.Fatalf("answer of %d bytes, want just within %d", len(rc.raw), maxResponseBytes)
	}
	if rc.body.Status != cfn.StatusFailed || !strings.HasPrefix(rc.body.Reason, `Engine: unknown engine "<\"quoted\"`) ||
		!strings.HasSuffix(rc.body.Reason, "[cut: too long for CloudFormation]") {
		t.Fatalf("reason %q", rc.body.Reason)
	}
}

func TestDelivery(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		attempts int
		ok       bool
	}{
		{"delivered at once", []int{200}, 1, true},
		{"delivered after two server errors", []int{500, 503, 200}, 3, true},
		{"server errors every time", []int{500}, sendAttempts, false},
		{"refused: no point trying again", []int{403}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &receiver{statuses: tt.statuses}
			event := loadEvent(t, "custom-resource-create.json", rc)
			err := handle(t, &fakeLifecycle{create: func(stack.Resource, provision.Request) (provision.Result, error) { return result, nil }}, event)
			if (err == nil) != tt.ok || rc.attempts != tt.attempts {
				t.Fatalf("error %v after %d attempts; want ok=%v after %d", err, rc.attempts, tt.ok, tt.attempts)
			}
			if err != nil && strings.Contains(err.Error(), "SIGNATURE-SECRET") {
				t.Fatalf("the error shows the presigned URL: %v", err)
			}
			var ie messages.InvokeResponse_Error
			if err != nil && (!errors.As(err, &ie) || ie.Type != "CloudFormation.ResponseNotDelivered") {
				t.Fatalf("error %#v: want the type CloudFormation.ResponseNotDelivered", err)
			}
		})
	}
	// A ResponseURL that is no URL says so, once, and never quotes it.
	for _, bad := range []string{"::not a url?X-Amz-Signature=SIGNATURE-SECRET", "ftp://bucket/key?X-Amz-Signature=SIGNATURE-SECRET", "/relative?X-Amz-Signature=SIGNATURE-SECRET"} {
		event := loadEvent(t, "custom-resource-create.json", nil)
		event.ResponseURL = bad
		err := handle(t, &fakeLifecycle{create: func(stack.Resource, provision.Request) (provision.Result, error) { return result, nil }}, event)
		if err == nil || !strings.Contains(err.Error(), "the ResponseURL is not an http(s) URL") || strings.Contains(err.Error(), "SIGNATURE-SECRET") || strings.Contains(err.Error(), "answered") {
			t.Fatalf("ResponseURL %q: got %v", bad, err)
		}
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	event := loadEvent(t, "custom-resource-create.json", nil)
	event.ResponseURL = closed.URL + "/stack-response?X-Amz-Signature=SIGNATURE-SECRET"
	closed.Close()
	err := handle(t, &fakeLifecycle{create: func(stack.Resource, provision.Request) (provision.Result, error) { return result, nil }}, event)
	if err == nil || strings.Contains(err.Error(), "SIGNATURE-SECRET") || strings.Contains(err.Error(), "X-Amz") {
		t.Fatalf("unreachable receiver: got %v, want an error without the URL", err)
	}
}

// TestOnlyCloudFormationsResponseBuckets: a deployed function answers only
// CloudFormation's response bucket for its Region, whatever ResponseURL its
// invoker wrote: never another host it can reach from its VPC, nor a bucket
// of anyone's whose name merely starts the same.
func TestOnlyCloudFormationsResponseBuckets(t *testing.T) {
	for _, tt := range []struct {
		region, url string
		ok          bool
	}{
		{"us-east-1", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws%3Acloudformation/x?X-Amz-Signature=s", true},
		{"ap-southeast-3", "https://cloudformation-custom-resource-response-apsoutheast3.s3.ap-southeast-3.amazonaws.com/x", true},
		{"cn-north-1", "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/x", true},
		{"us-west-2", "https://cloudformation-custom-resource-response-uswest2.s3-us-west-2.amazonaws.com/x", true},
		{"us-east-1", "https://s3.amazonaws.com/cloudformation-custom-resource-response-useast1/x", true},
		{"eu-west-1", "https://s3.eu-west-1.amazonaws.com/cloudformation-custom-resource-response-euwest1/x", true},
		{"us-east-1", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com:443/x", true},
		{"us-east-1", "http://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x", false},
		{"us-east-1", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com:8443/x", false},
		{"us-east-1", "https://cloudformation-custom-resource-response-uswest2.s3.amazonaws.com/x", false},
		{"us-east-1", "https://cloudformation-custom-resource-response-attacker-owned.s3.amazonaws.com/x", false},
		{"eu-west-1", "https://s3.eu-west-1.amazonaws.com/cloudformation-custom-resource-response-attacker-owned/x", false},
		{"us-east-1", "https://cloudformation-custom-resource-response-useast1.s3-website-us-east-1.amazonaws.com/x", false},
		{"us-east-1", "https://cloudformation-custom-resource-response-useast1.s3-website.us-east-1.amazonaws.com/x", false},
		{"us-east-1", "https://169.254.169.254/latest/meta-data/", false},
		{"us-east-1", "https://attacker.s3.amazonaws.com/cloudformation-custom-resource-response-useast1/x", false},
		{"us-east-1", "https://s3.amazonaws.com/attacker/cloudformation-custom-resource-response-useast1/x", false},
		{"us-east-1", "https://cloudformation-custom-resource-response-useast1.evil.example/x", false},
		{"us-east-1", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.evil.example/x", false},
		{"us-east-1", "https://abc.execute-api.us-east-1.amazonaws.com/cloudformation-custom-resource-response-useast1/y", false},
		{"us-east-1", "https://cloudformation-custom-resource-response-useast1.execute-api.us-east-1.amazonaws.com/y", false},
	} {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := isResponseURL(u, newToCloudFormation(tt.region).bucket); got != tt.ok {
			t.Errorf("%s in %s: %v, want %v", tt.url, tt.region, got, tt.ok)
		}
	}
	req, _ := http.NewRequest(http.MethodPut, "https://169.254.169.254/", nil)
	var permanent *permanentError
	if _, err := newToCloudFormation("us-east-1").Do(req); !errors.As(err, &permanent) {
		t.Fatalf("Do: %v, want a permanent refusal", err)
	}
}

// TestReadersInData: the readers are in Data while they fit; the most a
// request may name never pushes the answer past 4096 bytes, so Data (and
// Fn::GetAtt Arn) always reaches CloudFormation.
func TestReadersInData(t *testing.T) {
	var few, most []string
	for i := 0; i < 50; i++ {
		arn := "arn:aws:iam::123456789012:role/" + strings.Repeat("path/", 10) + "reader-" + strconv.Itoa(i)
		most = append(most, arn)
		if i < 2 {
			few = append(few, arn)
		}
	}
	for _, tt := range []struct {
		readers []string
		inData  bool
	}{{few, true}, {most, false}, {nil, false}} {
		out := answer(provision.Result{ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/x-AbCdEf", Name: "app/x", VersionID: "v", Readers: tt.readers}, nil)
		_, has := out.data["Readers"]
		if has != tt.inData || has && out.data["Readers"] != strings.Join(tt.readers, ",") {
			t.Errorf("%d readers: Data %v, want readers there %v", len(tt.readers), out.data, tt.inData)
		}
		body := fit(&cfn.Response{Status: cfn.StatusSuccess, PhysicalResourceID: "p", StackID: strings.Repeat("s", 200), RequestID: "r", LogicalResourceID: "l", Data: out.data})
		if len(body) > maxResponseBytes || !strings.Contains(string(body), `"Arn"`) {
			t.Errorf("%d readers: the answer is %d bytes, Data kept %v", len(tt.readers), len(body), strings.Contains(string(body), `"Arn"`))
		}
	}
}
