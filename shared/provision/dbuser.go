package provision

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/dbuser"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/secretuser"
)

// minUserPassword is the shortest password a database user gets, and
// minUserPasswordBits the least entropy: a request may shrink the
// characters too (excludeCharacters, the exclude* switches), and 16 of one
// letter guard nothing.
const (
	minUserPassword     = 16
	minUserPasswordBits = 64
)

// pendingHost stands in for the host of a secret whose user the request
// makes without naming a host: the master's host replaces it before the
// secret is made, so it is never stored.
const pendingHost = "master.host.pending.invalid"

// checkDatabaseUser applies the rules of createDatabaseUser, privileges and
// schemas to a database request.
func (r Request) checkDatabaseUser() error {
	if !r.CreateDatabaseUser {
		switch {
		case r.Privileges != "":
			return errcode.Invalidf("privileges", "is given only with createDatabaseUser")
		case r.Schemas != nil:
			return errcode.Invalidf("schemas", "is given only with createDatabaseUser")
		case r.MemberOf != nil:
			return errcode.Invalidf("memberOf", "is given only with createDatabaseUser")
		}
		return nil
	}
	family, ok := dbuser.FamilyOf(r.Engine)
	switch {
	case !ok:
		return errcode.Invalidf("createDatabaseUser", "is supported for the engines %s, not %s", strings.Join(dbuser.Engines, ", "), errcode.Quote(r.Engine))
	case r.MasterSecretARN == "":
		return errcode.Invalidf("masterSecretArn", "is required with createDatabaseUser: the master user makes the user")
	case family == dbuser.MySQL && r.DBName == "":
		return errcode.Invalidf("dbname", "is required with createDatabaseUser for %s: the user's privileges are on that database", strings.ToLower(r.Engine))
	case family == dbuser.MySQL && r.Schemas != nil:
		return errcode.Invalidf("schemas", "are PostgreSQL's; %s grants on the database", strings.ToLower(r.Engine))
	case r.PasswordLength != nil && int(*r.PasswordLength) < minUserPassword:
		return errcode.Invalidf("passwordLength", "must be at least %d with createDatabaseUser: the password guards a live database login", minUserPassword)
	case r.Username != "":
		if err := dbuser.CheckNewUser(family, r.Username); err != nil {
			return err
		}
	}
	_, err := r.databaseUser("u", family, "db")
	return err
}

// databaseUser is the user r asks for, named name, on database.
func (r Request) databaseUser(name string, family dbuser.Family, database string) (dbuser.User, error) {
	privileges, err := dbuser.ParsePrivileges(r.Privileges)
	if err != nil {
		return dbuser.User{}, err
	}
	u := dbuser.User{Name: name, Database: database, Privileges: privileges, Schemas: r.Schemas, MemberOf: r.MemberOf}
	return u, u.Check(family)
}

// createWithUser makes the secret and its database user (secretuser):
// every check first, then the secret, holding the master's host, port and
// database where the request left them out, then the user.
//
// then, when not nil, runs once the user is committed, beside its record's
// confirmation (secretuser.Plan.Make).
func (s *Service) createWithUser(ctx context.Context, r Request, in *secretsmanager.CreateSecretInput, username string, then func(context.Context, secretstore.Created) error) (Result, error) {
	ur := r.UserRequest()
	ur.Token = aws.ToString(in.ClientRequestToken)
	plan, err := s.users.Plan(ctx, ur, username)
	if err != nil {
		return Result{}, err
	}
	defer plan.Close()
	// The secret says where the user is.
	where := plan.Where()
	var generated struct{ Username, Password string }
	json.Unmarshal([]byte(aws.ToString(in.SecretString)), &generated)
	at := r
	port := props.Int(where.Port)
	at.Host, at.Port = where.Host, &port
	if where.TLS && r.SSL == nil {
		tls := props.Bool(true) // the secret says what the connection needs
		at.SSL = &tls
	}
	if at.DBName == "" {
		at.DBName = where.DBName
	}
	value, _, err := s.Value(at, KindDatabase, "", &Kept{Username: generated.Username, Password: generated.Password})
	if err != nil {
		return Result{}, err
	}
	in.SecretString = aws.String(value.String)
	created, made, err := plan.Make(ctx, in, generated.Password, then)
	if created.ARN == "" {
		return Result{}, err
	}
	result := Result{ARN: created.ARN, Name: created.Name, VersionID: created.VersionID, Username: username,
		ReplicationStatus: created.Replicas, Replayed: created.Replayed}
	if made != nil {
		result.DatabaseUser = databaseUser(made)
	}
	return result, err
}

// UserRequest is r as secretuser sees it: what it asks of its user, and
// who asks.
func (r Request) UserRequest() secretuser.Request {
	privileges, _ := dbuser.ParsePrivileges(r.Privileges) // checked with the request
	u := secretuser.Request{SecretName: r.Name, Engine: r.Engine, Host: r.Host, DBName: r.DBName, Username: r.Username,
		MasterSecretARN: r.MasterSecretARN, Privileges: privileges, Schemas: r.Schemas, MemberOf: r.MemberOf,
		Caller: r.Provenance.Caller, Via: r.Provenance.Via, By: r.Provenance.By}
	if r.Port != nil {
		u.Port = int(*r.Port)
	}
	if r.SSL != nil {
		ssl := bool(*r.SSL)
		u.SSL = &ssl
	}
	return u
}

// CheckUserUpdate holds an update of the secret id to the database user
// recorded for it (secretuser.Users.CheckUpdate).
func (s *Service) CheckUserUpdate(ctx context.Context, id string, now Request) error {
	return s.users.CheckUpdate(ctx, id, now.UserRequest(), bool(now.CreateDatabaseUser))
}

// UpdateUser brings the recorded user's privileges and schemas to now's.
func (s *Service) UpdateUser(ctx context.Context, id string, now Request) (*DatabaseUser, error) {
	made, err := s.users.Update(ctx, id, now.UserRequest())
	if err != nil {
		return nil, err
	}
	return databaseUser(made), nil
}

// RecordedUser is the database user recorded for the secret made through
// via, or nil when none was.
func (s *Service) RecordedUser(ctx context.Context, via, secretARN string) (*DatabaseUser, error) {
	made, err := s.users.Recorded(ctx, via, secretARN)
	if made == nil || err != nil {
		return nil, err
	}
	return databaseUser(made), nil
}

// databaseUser is what a result says of a user made: never its password;
// its roles as a list, empty when none.
func databaseUser(made *secretuser.Made) *DatabaseUser {
	roles := made.MemberOf
	if roles == nil {
		roles = []string{}
	}
	return &DatabaseUser{Username: made.Username, Privileges: made.Privileges, MemberOf: roles}
}
