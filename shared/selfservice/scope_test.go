package selfservice

import (
	"testing"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
)

func TestScopeFor(t *testing.T) {
	iam := Caller{ID: "arn:aws:sts::123456789012:assumed-role/payments/alice", IAMName: "payments"}
	jwt := Caller{ID: "jwt:alice", Claims: map[string]string{"team": "payments", "sub": "alice"}}
	tests := []struct {
		name   string
		scope  string
		caller Caller
		want   string
		code   errcode.Code
	}{
		{"no scope: the whole prefix", provision.ScopeNone, iam, "app/", ""},
		{"no identity", provision.ScopeNone, Caller{}, "", errcode.Unauthenticated},
		{"IAM role", provision.ScopeIAMRole, iam, "app/payments/", ""},
		{"IAM scope for a JWT caller", provision.ScopeIAMRole, jwt, "", errcode.Forbidden},
		{"JWT claim", provision.ScopeJWTClaim, jwt, "app/payments/", ""},
		{"JWT claim missing", provision.ScopeJWTClaim, Caller{ID: "jwt:bob", Claims: map[string]string{"sub": "bob"}}, "", errcode.Forbidden},
		{"claim that would climb out", provision.ScopeJWTClaim, Caller{ID: "jwt:eve", Claims: map[string]string{"team": ".."}}, "", errcode.Forbidden},
		{"claim with a slash", provision.ScopeJWTClaim, Caller{ID: "jwt:eve", Claims: map[string]string{"team": "payments/../x"}}, "", errcode.Forbidden},
		{"claim with a look-alike letter", provision.ScopeJWTClaim, Caller{ID: "jwt:eve", Claims: map[string]string{"team": "pаyments"}}, "", errcode.Forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &API{config: provision.Config{NamePrefix: "app/", CallerScope: tt.scope, CallerScopeClaim: "team"}}
			got, err := s.ScopeFor(tt.caller)
			if got != tt.want || errcode.Of(err) != tt.code {
				t.Fatalf("got %q, %v; want %q, %q", got, err, tt.want, tt.code)
			}
		})
	}
}

func TestConfine(t *testing.T) {
	s := &API{config: provision.Config{NamePrefix: "app/", CallerScope: provision.ScopeIAMRole}}
	caller := Caller{ID: "arn:aws:iam::123456789012:user/payments", IAMName: "payments"}
	for name, code := range map[string]errcode.Code{
		"app/payments/db":  "",
		"app/Payments/db":  errcode.Forbidden, // case is not folded
		"app/paymentsX/db": errcode.Forbidden, // a longer name is not the scope
		"app/orders/db":    errcode.Forbidden,
	} {
		if err := s.confine(caller, name); errcode.Of(err) != code {
			t.Errorf("%s: got %v, want %q", name, err, code)
		}
	}
}

func TestIAMCaller(t *testing.T) {
	for arn, want := range map[string]Caller{
		"arn:aws:sts::123456789012:assumed-role/payments/session-1": {ID: "arn:aws:sts::123456789012:assumed-role/payments", IAMName: "payments", Session: "session-1"},
		"arn:aws:sts::123456789012:assumed-role/payments/session-2": {ID: "arn:aws:sts::123456789012:assumed-role/payments", IAMName: "payments", Session: "session-2"},
		"arn:aws-cn:sts::123456789012:assumed-role/payments/a/b":    {ID: "arn:aws-cn:sts::123456789012:assumed-role/payments", IAMName: "payments", Session: "a/b"},
		"arn:aws:iam::123456789012:user/teams/payments":             {ID: "arn:aws:iam::123456789012:user/teams/payments", IAMName: "payments"},
		"arn:aws:iam::123456789012:role/payments":                   {ID: "arn:aws:iam::123456789012:role/payments", IAMName: "payments"},
		"arn:aws:iam::123456789012:root":                            {ID: "arn:aws:iam::123456789012:root"},
		"not an arn":                                                {ID: "not an arn"},
	} {
		if got := IAMCaller(arn); got.ID != want.ID || got.IAMName != want.IAMName || got.Session != want.Session {
			t.Errorf("IAMCaller(%q) = %+v, want %+v", arn, got, want)
		}
	}
}

func TestFingerprint(t *testing.T) {
	fp := func(body string) string {
		r, err := provision.DecodeRequest([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return Fingerprint(r)
	}
	base := fp(`{"name": "app/x", "engine": "mysql", "host": "h", "tags": {"a": "1", "b": "2"}, "extraFields": {"r": {"x": 1, "y": 2}}}`)
	for _, same := range []string{
		`{"Name": "app/x", "Engine": "mysql", "Host": "h", "Tags": [{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1"}], "ExtraFields": {"r": {"y": 2, "x": 1}}}`,
		`{"host": "h",   "engine": "mysql", "name": "app/x", "tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}], "extraFields": {"r": {"x":1,"y":2}}}`,
	} {
		if got := fp(same); got != base {
			t.Errorf("%s: fingerprint %s, want %s", same, got, base)
		}
	}
	for _, other := range []string{
		`{"name": "app/y", "engine": "mysql", "host": "h", "tags": {"a": "1", "b": "2"}, "extraFields": {"r": {"x": 1, "y": 2}}}`,
		`{"name": "app/x", "engine": "mysql", "host": "h", "tags": {"a": "1", "b": "3"}, "extraFields": {"r": {"x": 1, "y": 2}}}`,
		`{"name": "app/x", "engine": "mysql", "host": "h", "tags": {"a": "1", "b": "2"}, "extraFields": {"r": {"x": 1, "y": 3}}}`,
		`{"name": "app/x", "engine": "mysql", "host": "h", "tags": {"a": "1", "b": "2"}, "extraFields": {"r": {"x": 1, "y": 2}}, "passwordLength": 20}`,
	} {
		if fp(other) == base {
			t.Errorf("%s has the fingerprint of another request", other)
		}
	}
}
