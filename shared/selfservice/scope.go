package selfservice

import (
	"strings"

	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
)

// Caller is who calls the API, as its authorizer established it.
type Caller struct {
	// ID is the IAM principal ARN, without the session of an assumed role,
	// or "jwt:" and the token's subject. Scope, idempotency and provenance
	// key on it, so a caller is the same caller after its credentials
	// refresh.
	ID string
	// Session is an assumed role's session name: for the log, for audit.
	Session string
	// IAMName is the role (or user) name of an IAM caller.
	IAMName string
	// Claims are a JWT caller's claims.
	Claims map[string]string
}

// IAMCaller is the caller an IAM principal ARN names: for
// arn:aws:sts::1:assumed-role/payments/session-1 the role,
// arn:aws:sts::1:assumed-role/payments, its name payments, and the session
// session-1 apart; a user or role ARN as it is.
func IAMCaller(arn string) Caller {
	c := Caller{ID: arn}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return c
	}
	resource := strings.Split(parts[5], "/")
	switch {
	case resource[0] == "assumed-role" && len(resource) >= 2:
		c.IAMName = resource[1]
		if len(resource) >= 3 {
			c.Session = strings.Join(resource[2:], "/")
			c.ID = strings.Join(parts[:5], ":") + ":assumed-role/" + resource[1]
		}
	case (resource[0] == "user" || resource[0] == "role") && len(resource) >= 2:
		c.IAMName = resource[len(resource)-1]
	}
	return c
}

// isScope reports whether s can be a name segment of its own: 1-64 of
// A-Z a-z 0-9 _+=.@-, not starting with a dot (so never "." or "..").
func isScope(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || !awsname.IsSecretNameByte(s[i]) {
			return false
		}
	}
	return true
}

// ScopeFor is the prefix the caller's secret names must start with: the
// configured prefix, and under CALLER_SCOPE the caller's own sub-prefix.
// A caller without an identity, or whose identity names no usable scope, is
// refused.
func (a *API) ScopeFor(c Caller) (string, error) {
	scope, err := a.scopeName(c)
	if err != nil {
		return "", err
	}
	if scope == "" {
		return a.config.NamePrefix, nil
	}
	return a.config.NamePrefix + scope + "/", nil
}

// scopeName is the caller's own sub-prefix segment, "" when CallerScope
// is none: also how the database-user grants name an API caller
// (api:<scope>).
func (a *API) scopeName(c Caller) (string, error) {
	if c.ID == "" {
		return "", errcode.New(errcode.Unauthenticated, "the request carries no caller identity")
	}
	var scope, source string
	switch a.config.CallerScope {
	case provision.ScopeIAMRole:
		scope, source = c.IAMName, "IAM role name"
	case provision.ScopeJWTClaim:
		scope, source = c.Claims[a.config.CallerScopeClaim], "JWT claim "+a.config.CallerScopeClaim
	default:
		return "", nil
	}
	if !isScope(scope) {
		return "", errcode.New(errcode.Forbidden, "the caller's %s does not name a usable scope (1-64 of A-Z a-z 0-9 _+=.@-)", source)
	}
	return scope, nil
}

// confine checks that name lies inside the caller's scope. The name has
// passed the name rules, so it is ASCII with no "." or ".." segments: a
// byte-wise, case-sensitive prefix is the whole check.
func (a *API) confine(c Caller, name string) error {
	scope, err := a.ScopeFor(c)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(name, scope) {
		return &errcode.Error{Code: errcode.Forbidden, Field: "name", Message: "must start with \"" + scope + "\", the prefix this caller may use"}
	}
	return nil
}
