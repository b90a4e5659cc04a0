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

// FuzzNameAndTags: validation accepts exactly what the service allows.
func FuzzNameAndTags(f *testing.F) {
	f.Add("app/orders/db", "team", "orders")
	f.Add("app/db-AbCdEf", "aws:x", "")
	f.Add("app//x", strings.Repeat("k", 128), strings.Repeat("v", 256))
	f.Add("/app/x", "é", "\x00")
	f.Fuzz(func(t *testing.T, name, key, value string) {
		if err := validateName(name); err == nil {
			if len(name) == 0 || len(name) > MaxNameLength || hasBadSegment(name) || len(name) >= 7 && name[len(name)-7] == '-' {
				t.Fatalf("accepted name %q", name)
			}
			for i := 0; i < len(name); i++ {
				if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_+=.@-", rune(name[i])) {
					t.Fatalf("accepted name %q with %q", name, name[i])
				}
			}
		} else if errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != "name" {
			t.Fatalf("name %q refused with %v", name, err)
		}
		err := validateTags(Tags{{Key: key, Value: value}}, 0)
		if err == nil {
			n := utf8.RuneCountInString(key)
			if n == 0 || n > MaxTagKeyLength || utf8.RuneCountInString(value) > MaxTagValueLength || strings.HasPrefix(strings.ToLower(key), "aws:") {
				t.Fatalf("accepted tag %q=%q", key, value)
			}
		} else if errcode.Of(err) != errcode.Invalid || !strings.HasPrefix(errcode.FieldOf(err), "tags[0].") {
			t.Fatalf("tag %q=%q refused with %v", key, value, err)
		}
	})
}
