package provision

import (
	"testing"

	"github.com/dbcreds/provisioner/shared/errcode"
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
		{"no scope: the whole prefix", ScopeNone, iam, "app/", ""},
		{"no identity", ScopeNone, Caller{}, "", errcode.Unauthenticated},
		{"IAM role", ScopeIAMRole, iam, "app/payments/", ""},
		{"IAM scope for a JWT caller", ScopeIAMRole, jwt, "", errcode.Forbidden},
		{"JWT claim", ScopeJWTClaim, jwt, "app/payments/", ""},
		{"JWT claim missing", ScopeJWTClaim, Caller{ID: "jwt:bob", Claims: map[string]string{"sub": "bob"}}, "", errcode.Forbidden},
		{"claim that would climb out", ScopeJWTClaim, Caller{ID: "jwt:eve", Claims: map[string]string{"team": ".."}}, "", errcode.Forbidden},
		{"claim with a slash", ScopeJWTClaim, Caller{ID: "jwt:eve", Claims: map[string]string{"team": "payments/../x"}}, "", errcode.Forbidden},
		{"claim with a look-alike letter", ScopeJWTClaim, Caller{ID: "jwt:eve", Claims: map[string]string{"team": "pаyments"}}, "", errcode.Forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{config: Config{NamePrefix: "app/", CallerScope: tt.scope, CallerScopeClaim: "team"}}
			got, err := s.ScopeFor(tt.caller)
			if got != tt.want || errcode.Of(err) != tt.code {
				t.Fatalf("got %q, %v; want %q, %q", got, err, tt.want, tt.code)
			}
		})
	}
}

func TestConfine(t *testing.T) {
	s := &Service{config: Config{NamePrefix: "app/", CallerScope: ScopeIAMRole}}
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
