package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/dbcreds/provisioner/shared/provision"
)

// TestReadersGiveWayInData (review finding): with a long (valid,
// 512-character) name and a realistic stack id, Readers once pushed the
// answer past 4,096 bytes and fit dropped all of Data: SUCCESS without
// Arn, so every Fn::GetAtt failed. Readers now give way first.
func TestReadersGiveWayInData(t *testing.T) {
	name := "app/" + strings.Repeat("n", 508)
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf"
	var readers []string
	for joined := 0; ; {
		r := "arn:aws:iam::123456789012:role/reader-" + strconv.Itoa(len(readers)) + "-" + strings.Repeat("x", 30)
		if joined+len(r)+1 > maxReadersData {
			break
		}
		readers = append(readers, r)
		joined += len(r) + 1
	}
	out := answer(provision.Result{ARN: arn, Name: name, VersionID: "11111111-2222-4333-8444-555555555555", Username: "app_user", Readers: readers}, nil)
	if _, ok := out.data["Readers"]; !ok {
		t.Fatalf("setup: %d readers not in Data", len(readers))
	}
	stackID := "arn:aws:cloudformation:us-east-1:123456789012:stack/" + strings.Repeat("s", 128) + "/11111111-2222-4333-8444-555555555555"
	body := fit(&cfn.Response{Status: cfn.StatusSuccess, PhysicalResourceID: arn, StackID: stackID, RequestID: "11111111-2222-4333-8444-555555555555",
		LogicalResourceID: "OrdersReportingUser", Data: out.data, NoEcho: true})
	if !strings.Contains(string(body), `"Arn"`) {
		t.Errorf("a %d-character name with %d readers: the %d-byte answer lost all of Data (Arn included)", len(name), len(readers), len(body))
	}
}
