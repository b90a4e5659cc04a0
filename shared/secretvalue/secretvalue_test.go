package secretvalue

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/shared/credential"
	"github.com/dbcreds/provisioner/shared/dbsecret"
	"github.com/dbcreds/provisioner/shared/dbuser"
	"github.com/dbcreds/provisioner/shared/errcode"
)

func TestSupplied(t *testing.T) {
	for _, tt := range []struct {
		name   string
		str    string
		binary []byte
		field  string
	}{
		{"a string", "s3cret", nil, ""},
		{"bytes", "", []byte{0, 1, 2}, ""},
		{"a string at the limit", strings.Repeat("x", MaxBytes), nil, ""},
		{"a string over it", strings.Repeat("x", MaxBytes+1), nil, "secretString"},
		{"bytes over it", "", make([]byte, MaxBytes+1), "secretBinary"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Supplied(tt.str, tt.binary)
			if errcode.FieldOf(err) != tt.field || (tt.field == "") != (err == nil) {
				t.Fatalf("got %v, want field %q", err, tt.field)
			}
			if err == nil && (v.String != tt.str || len(v.Binary) != len(tt.binary)) {
				t.Fatalf("value %+v", v)
			}
		})
	}
}

// TestTemplate: the key is added last, the template's own text and order
// kept, nothing HTML-escaped; an update keeps the password.
func TestTemplate(t *testing.T) {
	policy := credential.DefaultPolicy()
	for _, tt := range []struct {
		name, template, key string
		keep                *Kept
		want, field         string
	}{
		{"added last, order kept", `{"z": 1, "a": "<&>"}`, "k", &Kept{Password: "p<&>"}, `{"z": 1, "a": "<&>","k":"p<&>"}`, ""},
		{"an empty object", " {} \n", "apiKey", &Kept{Password: "x"}, ` {"apiKey":"x"}`, ""},
		{"not an object", `["a"]`, "k", nil, "", "secretStringTemplate"},
		{"null", `null`, "k", nil, "", "secretStringTemplate"},
		{"the key taken", `{"k": 1}`, "k", nil, "", "generateStringKey"},
		{"too large", `{"a": "` + strings.Repeat("x", MaxBytes) + `"}`, "k", nil, "", "secretStringTemplate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Template(tt.template, tt.key, policy, tt.keep)
			if errcode.FieldOf(err) != tt.field || (tt.field == "") != (err == nil) {
				t.Fatalf("got %v, want field %q", err, tt.field)
			}
			if tt.want != "" && v.String != tt.want {
				t.Fatalf("got %s, want %s", v.String, tt.want)
			}
		})
	}
	v, err := Template(`{"user": "app"}`, "password", policy, nil)
	var m map[string]string
	if err != nil || json.Unmarshal([]byte(v.String), &m) != nil || len(m["password"]) != 32 || m["user"] != "app" {
		t.Fatalf("a generated password: %q, %v", v.String, err)
	}
}

// TestDatabase: the username a request leaves out follows the idempotency
// key and is never one an engine reserves; an update keeps the stored
// credentials, and the clone once rotation has switched to it.
func TestDatabase(t *testing.T) {
	engine, err := dbsecret.Lookup("postgres")
	if err != nil {
		t.Fatal(err)
	}
	policy := credential.DefaultPolicy()
	fields := dbsecret.Fields{Host: "db.internal"}
	username := func(key string, f dbsecret.Fields, keep *Kept) (string, map[string]any) {
		t.Helper()
		v, u, err := Database(engine, f, policy, key, keep)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(v.String), &m); err != nil || m["username"] != u {
			t.Fatalf("%s: %v, username %q", v.String, err, u)
		}
		return u, m
	}
	a1, s1 := username("key-a", fields, nil)
	a2, s2 := username("key-a", fields, nil)
	if a1 != a2 || len(a1) != generatedUsernameLength || s1["password"] == s2["password"] {
		t.Fatalf("a retry: %q and %q, passwords equal: %v", a1, a2, s1["password"] == s2["password"])
	}
	if b, _ := username("key-b", fields, nil); b == a1 {
		t.Fatal("another key, the same username")
	}
	// A key whose first draw is a reserved name draws again.
	reservedKey := ""
	for i := 0; i < 1_000_000 && reservedKey == ""; i++ {
		first, err := credential.NewGenerator(keyedStream(strconv.Itoa(i))).Username(generatedUsernameLength)
		if err != nil {
			t.Fatal(err)
		}
		if dbuser.Reserved(first) {
			reservedKey = strconv.Itoa(i)
		}
	}
	if reservedKey == "" {
		t.Fatal("no key draws a reserved name first: the test proves nothing")
	}
	if u, _ := username(reservedKey, fields, nil); dbuser.Reserved(u) {
		t.Fatalf("key %s: the reserved %q", reservedKey, u)
	}
	keep := &Kept{Username: "app_clone", Password: "kept-Pa55word"}
	for _, tt := range []struct{ name, asked, want string }{
		{"none asked", "", "app_clone"},
		{"the clone is live", "app", "app_clone"},
		{"another asked", "other", "other"},
	} {
		f := fields
		f.Username = tt.asked
		if u, m := username("", f, keep); u != tt.want || m["password"] != keep.Password {
			t.Fatalf("%s: %q, %v", tt.name, u, m["password"])
		}
	}
	f := fields
	f.Extra = map[string]json.RawMessage{"note": json.RawMessage(strconv.Quote(strings.Repeat("x", MaxBytes)))}
	if _, _, err := Database(engine, f, policy, "", nil); errcode.FieldOf(err) != "extraFields" {
		t.Fatalf("a value over the limit: %v", err)
	}
}
