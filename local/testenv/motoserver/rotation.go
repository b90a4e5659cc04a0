package motoserver

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RotationFunction registers a Lambda function named name in moto, for
// RotateSecret to name, and returns its ARN.
//
// moto's RotateSecret looks the function up in its own Lambda and invokes
// it: in Docker by default, and without Docker, as a function that does
// nothing and succeeds, once its config says so. So the server is told
// that first; the function (and the IAM role moto demands for it) is made
// through moto's own IAM and Lambda APIs, as boto3 would.
func (s *Server) RotationFunction(region, name string) (string, error) {
	if err := s.post("/moto-api/config", "", "", "application/json", `{"lambda": {"use_docker": false}}`); err != nil {
		return "", err
	}
	role := url.Values{
		"Action": {"CreateRole"}, "Version": {"2010-05-08"}, "RoleName": {name + "-role"},
		"AssumeRolePolicyDocument": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`},
	}
	if err := s.post("/", "iam", "us-east-1", "application/x-www-form-urlencoded", role.Encode()); err != nil && !strings.Contains(err.Error(), "EntityAlreadyExists") {
		return "", err
	}
	var code bytes.Buffer
	z := zip.NewWriter(&code)
	w, _ := z.Create("rotate.py")
	io.WriteString(w, "def handler(event, context):\n    pass\n")
	z.Close()
	fn, _ := json.Marshal(map[string]any{
		"FunctionName": name, "Runtime": "python3.12", "Handler": "rotate.handler",
		"Role": "arn:aws:iam::123456789012:role/" + name + "-role",
		"Code": map[string]string{"ZipFile": base64.StdEncoding.EncodeToString(code.Bytes())},
	})
	if err := s.post("/2015-03-31/functions", "lambda", region, "application/json", string(fn)); err != nil && !strings.Contains(err.Error(), "ResourceConflictException") {
		return "", err
	}
	return "arn:aws:lambda:" + region + ":123456789012:function:" + name, nil
}

// post sends a request to moto as an SDK would for service: moto picks the
// service and Region from the credential scope and checks no signature.
func (s *Server) post(path, service, region, contentType, body string) error {
	req, err := http.NewRequest(http.MethodPost, s.Endpoint+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	if service != "" {
		req.Header.Set("Authorization", fmt.Sprintf("AWS4-HMAC-SHA256 Credential=test/%s/%s/%s/aws4_request, SignedHeaders=host, Signature=0",
			time.Now().UTC().Format("20060102"), region, service))
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("moto %s %s: %s: %s", service, path, resp.Status, answer)
	}
	return nil
}
