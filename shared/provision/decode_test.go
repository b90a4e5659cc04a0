package provision

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/secretspec"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func decodeFixture(t *testing.T, name string) Request {
	t.Helper()
	r, err := DecodeRequest(readFixture(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// TestDecodeBothForms: CloudFormation's PascalCase, all-strings properties
// and the API's camelCase, typed body describe the same request.
func TestDecodeBothForms(t *testing.T) {
	cfn := decodeFixture(t, "request-cloudformation.json")
	api := decodeFixture(t, "request-api.json")
	if !reflect.DeepEqual(cfn, api) {
		t.Fatalf("the two forms differ:\ncfn %#v\napi %#v", cfn, api)
	}
	if cfn.Port == nil || *cfn.Port != 5433 || cfn.SSL == nil || !*cfn.SSL || !cfn.ForceOverwriteReplicaSecret ||
		cfn.RequireEachIncludedType == nil || *cfn.RequireEachIncludedType || *cfn.PasswordLength != 40 {
		t.Fatalf("typed values lost: %#v", cfn)
	}
	if want := (secretspec.Replicas{{Region: "us-west-2", KmsKeyID: "alias/orders"}}); !reflect.DeepEqual(cfn.ReplicaRegions, want) {
		t.Fatalf("replicas %#v, want %#v", cfn.ReplicaRegions, want)
	}
	if want := (secretspec.Tags{{Key: "team", Value: "orders"}}); !reflect.DeepEqual(cfn.Tags, want) {
		t.Fatalf("tags %#v, want %#v", cfn.Tags, want)
	}
}

func TestDecodeForms(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Request
	}{
		{"replica Region names", `{"replicaRegions": ["eu-west-1", "ap-south-1"]}`,
			Request{ReplicaRegions: secretspec.Replicas{{Region: "eu-west-1"}, {Region: "ap-south-1"}}}},
		{"empty replica list is kept, to override defaults", `{"replicaRegions": []}`, Request{ReplicaRegions: secretspec.Replicas{}}},
		{"tags as an object, sorted by key", `{"tags": {"b": "2", "a": "1"}}`, Request{Tags: secretspec.Tags{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}}},
		{"null means not given", `{"port": null, "ssl": null, "name": null}`, Request{}},
		{"empty string number means not given", `{"port": "", "passwordLength": "", "ssl": ""}`, Request{}},
		{"negative number as string", `{"passwordLength": "-3"}`, Request{PasswordLength: ptr(props.Int(-3))}},
		{"boolean in any case", `{"includeSpace": "True", "excludeNumbers": "FALSE"}`, Request{IncludeSpace: true}},
		{"binary is base64", `{"secretBinary": "AAEC"}`, Request{SecretBinary: props.Binary{0, 1, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestNullTagValueInBothForms: a null tag value is an empty value whichever
// form the tags take.
func TestNullTagValueInBothForms(t *testing.T) {
	for _, body := range []string{`{"tags": [{"key": "a", "value": null}]}`, `{"tags": {"a": null}}`} {
		r, err := DecodeRequest([]byte(body))
		if err != nil || len(r.Tags) != 1 || r.Tags[0] != (secretspec.Tag{Key: "a"}) {
			t.Errorf("%s: got %+v, %v", body, r.Tags, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, body, field, rule string
	}{
		{"not JSON", `{"name":`, "", "not valid JSON"},
		{"not an object", `["name"]`, "", "must be a JSON object"},
		{"unknown field", `{"nmae": "x"}`, "nmae", "not a known field"},
		{"field twice in two cases", `{"name": "a", "Name": "b"}`, "name", "given twice"},
		{"string field given a number", `{"name": 5}`, "name", "must be a string"},
		{"number field given words", `{"port": "abc"}`, "port", "whole number"},
		{"number field given a fraction", `{"port": 5432.5}`, "port", "whole number"},
		{"number field given a boolean", `{"port": true}`, "port", "whole number"},
		{"huge number", `{"passwordLength": 99999999999999999999}`, "passwordLength", "out of range"},
		{"huge number as string", `{"port": "99999999999"}`, "port", "out of range"},
		{"boolean given words", `{"ssl": "yes"}`, "ssl", "true or false"},
		{"boolean given a number", `{"includeSpace": 1}`, "includeSpace", "true or false"},
		{"tags as a string", `{"tags": "team=orders"}`, "tags", "list of {key, value}"},
		{"tag value not a string", `{"tags": [{"key": "a", "value": 1}]}`, "tags[0].value", "must be a string"},
		{"tag with unknown field", `{"tags": [{"key": "a", "colour": "x"}]}`, "tags[0].colour", "not a known field"},
		{"tag object value not a string", `{"tags": {"a": 1}}`, "tags.a", "must be a string"},
		{"replica as a number", `{"replicaRegions": [5]}`, "replicaRegions[0]", "must be an object"},
		{"replica null", `{"replicaRegions": [null]}`, "replicaRegions[0]", "must not be null"},
		{"replicas as a string", `{"replicaRegions": "eu-west-1"}`, "replicaRegions", "list of Region names"},
		{"binary not base64", `{"secretBinary": "%%%"}`, "secretBinary", "base64"},
		{"extra fields not an object", `{"extraFields": ["a"]}`, "extraFields", "must be an object"},
		{"nested junk", `{"host": {"a": [1, {"b": null}]}}`, "host", "must be a string"},
		{"extra field given twice", `{"extraFields": {"readerHost": "a", "readerHost": "b"}}`, "extraFields", "given twice"},
		{"empty secret binary", `{"secretBinary": ""}`, "secretBinary", "must not be empty"},
		{"huge unknown field is not echoed", `{"` + strings.Repeat("x", 200_000) + `": 1}`, strings.Repeat("x", 100) + "... (200000 bytes in all)", "not a known field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(tt.body))
			var e *errcode.Error
			if !errors.As(err, &e) || e.Code != errcode.Invalid || e.Field != tt.field || !strings.Contains(e.Message, tt.rule) {
				t.Fatalf("got %v, want invalid %q error containing %q", err, tt.field, tt.rule)
			}
		})
	}
}

// TestSecretValuesNeverPrint: a request printed or logged by mistake shows
// no secret value.
func TestSecretValuesNeverPrint(t *testing.T) {
	r := decodeFixture(t, "request-supplied.json")
	r.SecretBinary = props.Binary("binary-secret-bytes")
	secret := string(r.SecretString)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("request", "request", r, "value", r.SecretString, "binary", r.SecretBinary)
	for _, out := range []string{
		fmt.Sprintf("%v %+v %s %q %#v", r, r, r.SecretString, r.SecretString, r),
		fmt.Sprint(r.SecretBinary), fmt.Sprintf("%#v", r.SecretBinary),
		logs.String(),
	} {
		if strings.Contains(out, secret) || strings.Contains(out, "binary-secret-bytes") {
			t.Fatalf("a secret value was printed: %s", out)
		}
	}
	if !strings.Contains(logs.String(), `"name":"app/service/token"`) {
		t.Fatalf("the log lost the request's name: %s", logs.String())
	}
}
