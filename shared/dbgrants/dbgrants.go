// Package dbgrants is the deployment's decision of who may make database
// users where: which master secrets (so which databases), which database
// names and which PostgreSQL schemas each API caller scope, each event
// source and each stack may provision users on. It is read once, at start,
// from DATABASE_USER_GRANTS; nothing a request says widens it. No grant,
// no user.
//
// It is pure: it imports nothing of the provisioner's but errcode.
package dbgrants

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// EnvGrants names the variable that holds the grants, a JSON array.
const EnvGrants = "DATABASE_USER_GRANTS"

// Kinds of caller: who asks, through which trigger.
const (
	KindAPI    = "api"    // an HTTP API caller; its name is its caller scope
	KindEvents = "events" // an event publisher; its name is the event's source
	KindStack  = "stack"  // a CloudFormation stack; its name is the stack's
)

// Caller is who asks for a user, as the trigger established it.
type Caller struct {
	Kind string
	// Name is the API caller's scope (empty when CallerScope is none),
	// the event's source, or the stack's name.
	Name string
	// Account is an event's account; empty for the other kinds.
	Account string
}

// String is how grants name the caller: api:<scope>,
// events:<source>@<account>, stack:<stack name>.
func (c Caller) String() string {
	if c.Kind == KindEvents {
		return c.Kind + ":" + c.Name + "@" + c.Account
	}
	return c.Kind + ":" + c.Name
}

// Grant lets the callers its pattern matches make users with the master
// secrets masterSecret matches, on the databases and (PostgreSQL) schemas
// its lists match. Patterns are matched whole and case-sensitively; * is
// any run of characters, and {caller} in a database or schema stands for
// the caller's own name.
type Grant struct {
	Caller       string   `json:"caller"`
	MasterSecret string   `json:"masterSecret"`
	Databases    []string `json:"databases"`
	Schemas      []string `json:"schemas"`
	// AnyUser also lets the callers name the master on secrets whose user
	// the provisioner does not make (masterSecretArn without
	// createDatabaseUser, a masterarn in a supplied value): AWS's
	// multi-user rotation functions then act as the master on whatever
	// username the secret holds, the master's own included. Grant it only
	// to callers trusted with the master itself.
	AnyUser bool `json:"anyUser"`
	// Privileges are the levels the callers may ask for; none listed is
	// readonly and readwrite: owner (which may create in the schemas, and
	// so plant objects other users resolve) must be named.
	Privileges []string `json:"privileges"`
	// Roles are the existing database roles the callers may be made
	// members of (memberOf), by pattern; none listed is none. A role must
	// match the deployment's GrantableRoles too.
	Roles []string `json:"roles"`
}

// EnvGrantableRoles names the variable of the deployment-wide list of
// roles memberOf may name: comma-separated names or patterns.
const EnvGrantableRoles = "GRANTABLE_ROLES"

// DefaultPrivileges are a grant's levels when it lists none.
var DefaultPrivileges = []string{"readonly", "readwrite"}

// levels are the privileges a grant may list.
var levels = map[string]bool{"readonly": true, "readwrite": true, "owner": true}

// Policy is a deployment's grants, and the roles any of them may grant.
type Policy struct {
	grants    []Grant
	grantable []string
}

// WithGrantableRoles returns p with the deployment's GrantableRoles:
// comma-separated names or patterns; empty is none.
func (p Policy) WithGrantableRoles(text string) (Policy, error) {
	p.grantable = nil
	for _, r := range strings.Split(text, ",") {
		if r = strings.TrimSpace(r); r != "" {
			if strings.Contains(r, "{caller}") {
				return Policy{}, fmt.Errorf("%s: %q: {caller} belongs in a grant's roles, not here", EnvGrantableRoles, r)
			}
			p.grantable = append(p.grantable, r)
		}
	}
	return p, nil
}

// Parse reads grants as DATABASE_USER_GRANTS holds them: a JSON array of
// Grant; empty is no grant at all. Every rule is checked here, so that a
// mistake stops the function at start-up rather than at a request.
func Parse(text string) (Policy, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return Policy{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.DisallowUnknownFields()
	var grants []Grant
	if err := dec.Decode(&grants); err != nil {
		return Policy{}, fmt.Errorf("%s: must be a JSON array of {caller, masterSecret, databases, schemas, anyUser, privileges, roles}: %v", EnvGrants, err)
	}
	if dec.More() {
		return Policy{}, fmt.Errorf("%s: must be one JSON array", EnvGrants)
	}
	for i, g := range grants {
		if err := g.check(); err != nil {
			return Policy{}, fmt.Errorf("%s[%d]: %v", EnvGrants, i, err)
		}
	}
	return Policy{grants: grants}, nil
}

func (g Grant) check() error {
	kind, _, ok := strings.Cut(g.Caller, ":")
	switch {
	case !ok || kind != KindAPI && kind != KindEvents && kind != KindStack:
		return fmt.Errorf("caller %q must start with api:, events: or stack:", g.Caller)
	case g.MasterSecret != "*" && !strings.HasPrefix(g.MasterSecret, "arn:"):
		return fmt.Errorf("masterSecret %q must be a secret ARN (wildcards allowed) or *", g.MasterSecret)
	case len(g.Databases) == 0:
		return fmt.Errorf("databases must name at least one database (or *)")
	}
	for _, list := range [][]string{g.Databases, g.Schemas, g.Roles} {
		for _, p := range list {
			if p == "" {
				return fmt.Errorf("databases, schemas and roles must not hold an empty name")
			}
		}
	}
	for _, level := range g.Privileges {
		if !levels[level] {
			return fmt.Errorf("privileges %q must be readonly, readwrite or owner", level)
		}
	}
	return nil
}

// Empty reports whether the policy grants nothing.
func (p Policy) Empty() bool { return len(p.grants) == 0 }

// Ask is what a request wants: a user for caller with the master secret,
// on the database and, for PostgreSQL, the schemas.
type Ask struct {
	Caller          Caller
	MasterSecretARN string
	Database        string
	// Schemas are PostgreSQL's, the default (public) included; nil for
	// MySQL and MariaDB, which grant on the database.
	Schemas []string
	// Privileges is the level asked for ("" is not checked).
	Privileges string
	// Roles are the roles the user is to be a member of.
	Roles []string
}

// Allow returns nil when some grant allows every part of ask, else a
// forbidden error naming the first field no grant allows. The message
// names the caller as grants name it, so that a platform team knows what
// to add.
func (p Policy) Allow(ask Ask) error {
	who := ask.Caller.String()
	var callers, masters []Grant
	for _, g := range p.grants {
		if match(g.Caller, who) {
			callers = append(callers, g)
		}
	}
	if len(callers) == 0 {
		return deny("createDatabaseUser", "this deployment lets %s make no database users (its DatabaseUserGrants parameter)", who)
	}
	for _, g := range callers {
		if match(g.MasterSecret, ask.MasterSecretARN) {
			masters = append(masters, g)
		}
	}
	if len(masters) == 0 {
		return deny("masterSecretArn", "this deployment does not let %s make users with that master secret", who)
	}
	var databases []Grant
	for _, g := range masters {
		if anyMatch(g.Databases, ask.Caller.Name, ask.Database) {
			databases = append(databases, g)
		}
	}
	if len(databases) == 0 {
		return deny("dbname", "this deployment does not let %s make users on database %s with that master secret", who, errcode.Quote(ask.Database))
	}
	for i, schema := range ask.Schemas {
		allowed := false
		for _, g := range databases {
			if anyMatch(g.Schemas, ask.Caller.Name, schema) {
				allowed = true
				break
			}
		}
		if !allowed {
			return deny("schemas["+fmt.Sprint(i)+"]", "this deployment does not let %s make users on schema %s of database %s", who, errcode.Quote(schema), errcode.Quote(ask.Database))
		}
	}
	// The level and the roles: from a grant that allows the database and
	// every schema too.
	var places []Grant
	for _, g := range databases {
		if allSchemas(g, ask) {
			places = append(places, g)
		}
	}
	if ask.Privileges != "" {
		var levelled []Grant
		for _, g := range places {
			allowed := g.Privileges
			if len(allowed) == 0 {
				allowed = DefaultPrivileges
			}
			for _, l := range allowed {
				if l == ask.Privileges {
					levelled = append(levelled, g)
					break
				}
			}
		}
		if len(levelled) == 0 {
			return deny("privileges", "this deployment does not let %s make %s users there (privileges in its DatabaseUserGrants parameter)", who, errcode.Quote(ask.Privileges))
		}
		places = levelled
	}
	for i, role := range ask.Roles {
		field := "memberOf[" + fmt.Sprint(i) + "]"
		if !anyMatch(p.grantable, "", role) {
			return deny(field, "role %s is not one this deployment lets users be made members of (its GrantableRoles parameter)", errcode.Quote(role))
		}
		allowed := false
		for _, g := range places {
			if anyMatch(g.Roles, ask.Caller.Name, role) {
				allowed = true
				break
			}
		}
		if !allowed {
			return deny(field, "this deployment does not let %s make users members of role %s there (roles in its DatabaseUserGrants parameter)", who, errcode.Quote(role))
		}
	}
	return nil
}

func allSchemas(g Grant, ask Ask) bool {
	for _, schema := range ask.Schemas {
		if !anyMatch(g.Schemas, ask.Caller.Name, schema) {
			return false
		}
	}
	return true
}

// AllowsCaller reports whether any grant names caller with a master
// secret that could match arn: the check a request passes before anything
// is read.
func (p Policy) AllowsCaller(caller Caller, arn string) error {
	who := caller.String()
	named := false
	for _, g := range p.grants {
		if match(g.Caller, who) {
			named = true
			if match(g.MasterSecret, arn) {
				return nil
			}
		}
	}
	if !named {
		return deny("createDatabaseUser", "this deployment lets %s make no database users (its DatabaseUserGrants parameter)", who)
	}
	return deny("masterSecretArn", "this deployment does not let %s make users with that master secret", who)
}

// AllowsMaster is the check for a secret that names a master secret but
// makes no user itself: only a grant with AnyUser allows it.
func (p Policy) AllowsMaster(caller Caller, arn string) error {
	who := caller.String()
	for _, g := range p.grants {
		if g.AnyUser && match(g.Caller, who) && match(g.MasterSecret, arn) {
			return nil
		}
	}
	return deny("masterSecretArn", "this deployment does not let %s name that master secret for a user it does not make (anyUser in its DatabaseUserGrants parameter): a multi-user rotation function would act as the master on any username the secret holds", who)
}

func deny(field, format string, args ...any) error {
	return &errcode.Error{Code: errcode.Forbidden, Field: field, Message: fmt.Sprintf(format, args...)}
}

func anyMatch(patterns []string, callerName, s string) bool {
	for _, p := range patterns {
		if callerName == "" && strings.Contains(p, "{caller}") {
			continue // a caller without a name has no own database or schema
		}
		if match(strings.ReplaceAll(p, "{caller}", callerName), s) {
			return true
		}
	}
	return false
}

// match reports whether s matches pattern whole, * being any run of
// characters (none included) and everything else itself.
func match(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	last := parts[len(parts)-1]
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}
