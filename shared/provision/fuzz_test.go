package provision

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// FuzzDecodeRequest: any bytes decode or are refused with an invalid-input
// error naming what is wrong; a decoded request then builds or is refused
// with a coded error; nothing panics, and a secret value never appears in
// an error message.
func FuzzDecodeRequest(f *testing.F) {
	for _, name := range []string{"request-api.json", "request-cloudformation.json", "request-template.json", "request-supplied.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, seed := range []string{
		`{"name": 5, "port": "99999999999999999999", "ssl": "maybe"}`,
		`{"tags": {"a": {"b": [1, {"c": null}]}}, "replicaRegions": [[]]}`,
		"{\"name\": \"app/\xff\xfe\", \"host\": \"\xc3\x28\"}",
		`{"port": 1e400, "passwordLength": -0, "extraFields": {"": null}}`,
		`{"Name": "a", "name": "b", "NAME": "c"}`, `[`, `"x"`, `null`, `{}`, ``,
		`{"secretString": "TOP-SECRET-VALUE", "engine": "mysql"}`,
	} {
		f.Add([]byte(seed))
	}
	svc := &Service{config: Config{NamePrefix: "app/", Region: "us-east-1"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			var e *errcode.Error
			if !errors.As(err, &e) || e.Code != errcode.Invalid || e.Message == "" {
				t.Fatalf("decode refused with %T %v, want an invalid-input error", err, err)
			}
			return
		}
		_, _, err = svc.build(r, "key")
		if err == nil {
			return
		}
		switch code := errcode.Of(err); code {
		case errcode.Invalid, errcode.Forbidden:
		default:
			t.Fatalf("build refused with %s: %v", code, err)
		}
		if secret := string(r.SecretString); len(secret) >= 8 && strings.Contains(errcode.Message(err), secret) {
			t.Fatalf("the error shows the secret value: %v", err)
		}
		if !utf8.ValidString(errcode.Message(err)) {
			t.Fatalf("the error is not valid UTF-8: %q", errcode.Message(err))
		}
	})
}
