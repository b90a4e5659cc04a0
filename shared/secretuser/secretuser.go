// Package secretuser makes, changes and drops the database user behind a
// secret, safely against whoever asks: at the master secret's own
// database only (masterdb), within what the deployment grants the caller
// (dbgrants), recording every user made (userledger) and acting later on
// that record alone. It knows requests only as Request, its own view of
// one; it imports dbuser, masterdb, dbgrants, userledger and secretstore,
// and nothing that triggers or the core provide.
package secretuser

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/dbsecret"
	"github.com/dbcreds/provisioner/shared/dbsession"
	"github.com/dbcreds/provisioner/shared/dbuser"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/masterdb"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/sessionlimit"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// databaseReserve is the time a request keeps, after its database work
// must end, to undo what it made and answer: every database step (the
// master's look-up, dial, handshake, each statement) ends by the deadline
// less this. Undoing ends a second before the deadline (answerReserve).
const (
	databaseReserve = 5 * time.Second
	answerReserve   = time.Second
)

// Users are what make database users for secrets. Build one at init.
type Users struct {
	masters    *masterdb.Resolver
	ledger     *userledger.Ledger
	secrets    *secretstore.Store
	deleter    *secretstore.Deleter
	grants     dbgrants.Policy
	requireTLS bool
	limit      int
	// sessions bounds the sessions held at once as one master, across
	// every instance; nil, no bound.
	sessions *sessionlimit.Limit
}

// Settings are the deployment's rules for the users it makes.
type Settings struct {
	// Grants say who may make users where; empty, nobody may.
	Grants dbgrants.Policy
	// RequireTLS makes every connection to a database verified TLS.
	RequireTLS bool
	// ConnectionLimit caps each new user's sessions at once; 0, no cap.
	ConnectionLimit int
}

// New returns the users made with master secrets masters finds, recorded in
// ledger, with secrets made through secrets and removed through deleter
// when their user cannot be made, each master's sessions bounded by
// sessions (nil: no bound), under the deployment's settings.
func New(masters *masterdb.Resolver, ledger *userledger.Ledger, secrets *secretstore.Store, deleter *secretstore.Deleter, sessions *sessionlimit.Limit, settings Settings) *Users {
	return &Users{masters: masters, ledger: ledger, secrets: secrets, deleter: deleter, grants: settings.Grants,
		requireTLS: settings.RequireTLS, limit: settings.ConnectionLimit, sessions: sessions}
}

// Request is what a secret's request asks of its user, as the caller sent
// it: every field the caller's choice.
type Request struct {
	SecretName      string // the secret's name, to find an earlier attempt's
	Engine          string
	Host            string // "": the master's
	Port            int    // 0: the master's
	DBName          string // "": the master's, else the engine's default
	Username        string
	MasterSecretARN string
	SSL             *bool
	Privileges      dbuser.Privileges
	Schemas         []string
	MemberOf        []string
	// Who asks, as the trigger established it.
	Caller dbgrants.Caller
	Via    string
	By     string
	// Token is the version token of the secret this request makes: a
	// secret of its name holding it is this request's earlier attempt's.
	Token string
}

// Made is the user a secret holds the credentials of; never its password.
type Made struct {
	Username   string
	Privileges string
	MemberOf   []string
}

// target is where a user is made: the master's own database, never a host
// or port the request names. A request that names another is refused; one
// that names none gets the master's.
func (u *Users) target(r Request, m masterdb.Master) (dbsession.Endpoint, error) {
	family, _ := dbuser.FamilyOf(r.Engine)
	engine, _ := dbsecret.Lookup(r.Engine)
	if mf, ok := dbuser.FamilyOf(m.Engine); m.Engine != "" && ok && mf != family {
		return dbsession.Endpoint{}, errcode.Invalidf("engine", "the master secret's database is %s, not %s", errcode.Quote(m.Engine), strings.ToLower(r.Engine))
	}
	port := m.Port
	if port == 0 {
		// The master's engine says its default port; the request's engine
		// is the caller's to choose, and would choose where the password
		// goes.
		master, err := dbsecret.Lookup(m.Engine)
		if m.Engine == "" || err != nil {
			return dbsession.Endpoint{}, errcode.Invalidf("masterSecretArn", "the master secret holds no port and no engine to take the default port from: add port to it")
		}
		port = master.DefaultPort
	}
	if r.Host != "" && !sameHost(r.Host, m.Host) {
		return dbsession.Endpoint{}, &errcode.Error{Code: errcode.Forbidden, Field: "host",
			Message: "is not the master secret's own database (" + errcode.Clip(m.Host) + "): the master user's credentials go nowhere else; leave host out to get it"}
	}
	if r.Port != 0 && r.Port != port {
		return dbsession.Endpoint{}, &errcode.Error{Code: errcode.Forbidden, Field: "port",
			Message: "is not the master secret's own database's port (" + itoa(port) + "); leave port out to get it"}
	}
	database := r.DBName
	if database == "" {
		database = m.DBName
	}
	if database == "" {
		database = engine.DefaultDBName
	}
	e := dbsession.Endpoint{Family: family, Host: m.Host, Port: port, Database: database, Username: m.Username, Password: m.Password}
	if u.requireTLS && r.SSL != nil && !*r.SSL {
		return dbsession.Endpoint{}, errcode.Invalidf("ssl", "cannot be false: this deployment requires verified TLS to every database (RequireDatabaseTls)")
	}
	if u.requireTLS || r.SSL != nil && *r.SSL {
		var err error
		if e.TLS, err = dbsession.TLSConfig(os.Getenv(dbsession.EnvCABundle), e.Host); err != nil {
			return dbsession.Endpoint{}, errcode.Wrap(err, errcode.Internal, "ssl: the function has no certificate authority bundle to verify the database with (%s)", dbsession.EnvCABundle)
		}
	}
	return e, nil
}

func sameHost(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// user is the dbuser.User r asks for, named name, on database.
func (r Request) user(name, database string) (dbuser.User, error) {
	family, _ := dbuser.FamilyOf(r.Engine)
	u := dbuser.User{Name: name, Database: database, Privileges: r.Privileges, Schemas: r.Schemas, MemberOf: r.MemberOf}
	return u, u.Check(family)
}

// grantAsk is what the grants must allow for user u of family (the
// recorded engine's on an update, never a request's say).
func grantAsk(caller dbgrants.Caller, master string, family dbuser.Family, u dbuser.User) dbgrants.Ask {
	ask := dbgrants.Ask{Caller: caller, MasterSecretARN: master, Database: u.Database, Privileges: string(u.Privileges), Roles: u.MemberOf}
	if family == dbuser.Postgres {
		ask.Schemas = u.Schemas
		if len(ask.Schemas) == 0 {
			ask.Schemas = []string{"public"}
		}
	}
	return ask
}

// undoContext is for removing what a failed request made: after its
// database work ended, but still before the request's deadline.
func undoContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(databaseReserve)
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline.Add(-answerReserve))
}

func userTaken(name string) error {
	return &errcode.Error{Code: errcode.Conflict, Field: "username",
		Message: "database user " + errcode.Quote(name) + " already exists and is not this secret's; this provisioner never takes over an existing user, nor makes one whose rotation clone exists"}
}

// FromEnvironment builds the users of a function, once at init: the RDS
// client (AWS_ENDPOINT_URL_RDS for a local endpoint) for the masters in
// region, the ledger in the table DATABASE_USERS_TABLE names, and secrets
// (and the deleter of half-made ones) through client; ours recognises the
// deployment's own secrets, never master secrets. Nothing here makes a
// call.
func FromEnvironment(getenv func(string) string, client *secretsmanager.Client, region string, ours func(name string, tags map[string]string) bool,
	settings Settings) (*Users, error) {
	table := strings.TrimSpace(getenv(userledger.EnvTable))
	if table == "" {
		return nil, fmt.Errorf("%s is not set: the functions record the database users they make in that DynamoDB table", userledger.EnvTable)
	}
	dynamo, err := userledger.ClientFromEnvironment(getenv)
	if err != nil {
		return nil, err
	}
	rdsClient, err := masterdb.RDSClientFromEnvironment(getenv)
	if err != nil {
		return nil, err
	}
	sessions, err := sessionlimit.FromEnvironment(getenv, dynamo)
	if err != nil {
		return nil, err
	}
	return New(masterdb.New(client, rdsClient, region, ours), userledger.New(dynamo, table), secretstore.New(client), secretstore.NewDeleter(client), sessions, settings), nil
}

// logsIn reports whether username logs in with password where the master's
// endpoint is: the proof that a user is a secret's. The driver's words stay
// out of every log: a login error is no place to risk a credential.
func logsIn(ctx context.Context, master dbsession.Endpoint, username, password string) bool {
	as := master
	as.Username, as.Password = username, password
	s, err := dbsession.Open(ctx, as)
	if err != nil {
		return false
	}
	s.Close()
	return true
}
