package provision

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/dbsecret"
	"github.com/dbcreds/provisioner/shared/dbuser"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// checkDatabaseUser applies the rules of createDatabaseUser, privileges and
// schemas to a database request.
func (r Request) checkDatabaseUser() error {
	if !r.CreateDatabaseUser {
		switch {
		case r.Privileges != "":
			return errcode.Invalidf("privileges", "is given only with createDatabaseUser")
		case r.Schemas != nil:
			return errcode.Invalidf("schemas", "is given only with createDatabaseUser")
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
	}
	_, err := r.databaseUser("u", family)
	return err
}

// databaseUser is the user r asks for, named name.
func (r Request) databaseUser(name string, family dbuser.Family) (dbuser.User, error) {
	privileges, err := dbuser.ParsePrivileges(r.Privileges)
	if err != nil {
		return dbuser.User{}, err
	}
	engine, _ := dbsecret.Lookup(r.Engine)
	u := dbuser.User{Name: name, Database: r.DBName, Privileges: privileges, Schemas: r.Schemas}
	if u.Database == "" {
		u.Database = engine.DefaultDBName
	}
	return u, u.Check(family)
}

// endpoint is where r's database is, with the master user's credentials:
// the host, port and database of the request (the secret's own), else of
// the master secret.
func (s *Service) endpoint(ctx context.Context, r Request) (dbuser.Endpoint, error) {
	family, _ := dbuser.FamilyOf(r.Engine)
	master, err := s.store.MasterCredentials(ctx, r.MasterSecretARN)
	if err != nil {
		return dbuser.Endpoint{}, err
	}
	engine, _ := dbsecret.Lookup(r.Engine)
	e := dbuser.Endpoint{Family: family, Host: r.Host, Port: engine.DefaultPort, Database: r.DBName, Username: master.Username, Password: master.Password}
	if e.Host == "" {
		e.Host = master.Host
	}
	if r.Port != nil {
		e.Port = int(*r.Port)
	} else if p, err := strconv.Atoi(master.Port.String()); err == nil && p > 0 {
		e.Port = p
	}
	if e.Database == "" {
		e.Database = master.DBName
	}
	if e.Database == "" {
		e.Database = engine.DefaultDBName
	}
	if r.SSL != nil && bool(*r.SSL) {
		if e.TLS, err = dbuser.TLSConfig(os.Getenv(dbuser.EnvCABundle), e.Host); err != nil {
			return dbuser.Endpoint{}, errcode.Wrap(err, errcode.Internal, "ssl: the function has no certificate authority bundle to verify the database with (%s)", dbuser.EnvCABundle)
		}
	}
	return e, nil
}

// createWithUser makes the secret and its database user. A user that
// exists before the secret does is a conflict: nothing is made and no user
// is ever taken over. The secret is made first, so that the password the
// user gets is the one stored; when the secret already holds a version of
// this request (an earlier attempt), its password is used and a user that
// logs in with it is this request's, so a retry completes what an attempt
// left. The result carries the secret's ARN even on failure, so that a
// CloudFormation rollback can delete what exists.
func (s *Service) createWithUser(ctx context.Context, r Request, in *secretsmanager.CreateSecretInput, username string) (Result, error) {
	family, _ := dbuser.FamilyOf(r.Engine)
	u, err := r.databaseUser(username, family)
	if err != nil {
		return Result{}, err
	}
	// Readied now, so that PostgreSQL's key stretching overlaps the calls
	// below; a retry's stored password replaces it.
	var generated struct{ Password string }
	json.Unmarshal([]byte(aws.ToString(in.SecretString)), &generated)
	ready := dbuser.NewPassword(family, generated.Password)
	e, err := s.endpoint(ctx, r)
	if err != nil {
		return Result{}, err
	}
	admin, err := dbuser.Connect(ctx, e)
	if err != nil {
		return Result{}, err
	}
	defer admin.Close()
	exists, err := admin.Exists(ctx, u.Name)
	if err != nil {
		return Result{}, err
	}
	if exists {
		switch _, err := s.store.Describe(ctx, r.Name); {
		case errors.Is(err, secretstore.ErrNotFound):
			return Result{}, userTaken(u.Name)
		case err != nil:
			return Result{}, err
		}
	}
	// A new user is made (in PostgreSQL, inside a transaction left open)
	// while the secret is, and committed only once the secret holds its
	// password.
	var pending *dbuser.Pending
	prepared := make(chan struct{})
	if exists {
		close(prepared)
	} else {
		go func() {
			defer close(prepared)
			pending = admin.Prepare(ctx, u, ready)
		}()
	}
	created, err := s.store.Create(ctx, in)
	<-prepared
	if err != nil {
		if pending != nil {
			pending.Rollback(ctx)
		}
		return Result{}, err
	}
	result := Result{ARN: created.ARN, Name: created.Name, VersionID: created.VersionID, Username: username,
		ReplicationStatus: created.Replicas, Replayed: created.Replayed}
	password, err := s.storedPassword(ctx, in, created)
	if err != nil {
		return result, err
	}
	if exists {
		user := e
		user.Username, user.Password = u.Name, password
		ours, err := dbuser.CanLogIn(ctx, user)
		if err != nil {
			return result, err
		}
		if !ours {
			return result, userTaken(u.Name)
		}
		// An earlier attempt made it; grant again, in case it stopped short.
		err = admin.SetPrivileges(ctx, u, u)
	} else if password != generated.Password {
		// An earlier attempt's secret: its password, not this attempt's.
		pending.Rollback(ctx)
		err = admin.Create(ctx, u, dbuser.NewPassword(family, password))
	} else {
		err = pending.Commit(ctx)
	}
	if err != nil {
		return result, err
	}
	result.DatabaseUser = &DatabaseUser{Username: u.Name, Privileges: string(u.Privileges)}
	return result, nil
}

func userTaken(name string) error {
	return &errcode.Error{Code: errcode.Conflict, Field: "username",
		Message: "database user " + errcode.Quote(name) + " already exists and is not this secret's; this provisioner never takes over an existing user"}
}

// storedPassword is the password the secret holds: the one just generated,
// or an earlier attempt's when the secret was already there.
func (s *Service) storedPassword(ctx context.Context, in *secretsmanager.CreateSecretInput, created secretstore.Created) (string, error) {
	value := aws.ToString(in.SecretString)
	if created.Replayed {
		stored, err := s.store.CurrentValue(ctx, created.ARN)
		if err != nil {
			return "", err
		}
		value = stored.String
	}
	var v struct{ Password string }
	if json.Unmarshal([]byte(value), &v) != nil || v.Password == "" {
		return "", errcode.New(errcode.Conflict, "the stored secret holds no password; it was changed outside this provisioner")
	}
	return v.Password, nil
}

// userStaysPut refuses an update that would move a database user elsewhere
// or start or stop managing one: done in place it would orphan the user
// (or leave one behind); under a new name, a replacement makes a new one.
func userStaysPut(old, now Request) error {
	if old.CreateDatabaseUser != now.CreateDatabaseUser {
		return errcode.Invalidf("createDatabaseUser", "cannot change in place: give the resource a new name (and username) to replace it")
	}
	if !now.CreateDatabaseUser {
		return nil
	}
	for _, f := range []struct {
		field    string
		old, now string
	}{
		{"engine", strings.ToLower(old.Engine), strings.ToLower(now.Engine)},
		{"host", old.Host, now.Host},
		{"port", portOf(old), portOf(now)},
		{"dbname", old.DBName, now.DBName},
		{"username", old.Username, now.Username},
		{"masterSecretArn", old.MasterSecretARN, now.MasterSecretARN},
	} {
		if f.old != f.now {
			return errcode.Invalidf(f.field, "would move the database user elsewhere; give the resource a new name (and username) to replace it, so that the old user is dropped with the old secret")
		}
	}
	return nil
}

func portOf(r Request) string {
	if r.Port == nil {
		return ""
	}
	return strconv.Itoa(int(*r.Port))
}

// baseUser is the user a stored username belongs to: after an
// alternating-users rotation the secret holds the clone.
func baseUser(stored string) string {
	if len(stored) > len(dbuser.CloneSuffix) && strings.EqualFold(stored[len(stored)-len(dbuser.CloneSuffix):], dbuser.CloneSuffix) {
		return stored[:len(stored)-len(dbuser.CloneSuffix)]
	}
	return stored
}

// updateUser brings the user's privileges and schemas to now's, for the
// user and, after an alternating-users rotation, its clone.
func (s *Service) updateUser(ctx context.Context, old, now Request, stored string) (*DatabaseUser, error) {
	family, _ := dbuser.FamilyOf(now.Engine)
	base := baseUser(stored)
	was, err := old.databaseUser(base, family)
	if err != nil {
		was, _ = now.databaseUser(base, family) // an old request we cannot read
	}
	is, err := now.databaseUser(base, family)
	if err != nil {
		return nil, err
	}
	if was.Privileges != is.Privileges || strings.Join(was.Schemas, ",") != strings.Join(is.Schemas, ",") {
		e, err := s.endpoint(ctx, now)
		if err != nil {
			return nil, err
		}
		admin, err := dbuser.Connect(ctx, e)
		if err != nil {
			return nil, err
		}
		defer admin.Close()
		for _, name := range []string{base, base + dbuser.CloneSuffix} {
			if exists, err := admin.Exists(ctx, name); err != nil || !exists {
				if err != nil {
					return nil, err
				}
				continue
			}
			was.Name, is.Name = name, name
			if err := admin.SetPrivileges(ctx, was, is); err != nil {
				return nil, err
			}
		}
	}
	return &DatabaseUser{Username: base, Privileges: string(is.Privileges)}, nil
}

// dropUser drops the user the secret id holds the credentials of, and its
// clone, as the stored secret describes them (the database it is in, the
// master secret), with r's as fallback.
func (s *Service) dropUser(ctx context.Context, id string, r Request) error {
	current, err := s.store.CurrentValue(ctx, id)
	if err != nil {
		return err
	}
	var stored struct {
		Engine, Host, Username, Dbname, Masterarn string
		Port                                      json.Number
		SSL                                       *bool
	}
	if json.Unmarshal([]byte(current.String), &stored) != nil || stored.Username == "" {
		return errcode.New(errcode.Conflict, "the stored secret names no database user; it was changed outside this stack")
	}
	at := r
	at.Engine, at.Host, at.DBName = stored.Engine, stored.Host, stored.Dbname
	if stored.Masterarn != "" {
		at.MasterSecretARN = stored.Masterarn
	}
	if p, err := strconv.Atoi(stored.Port.String()); err == nil {
		port := Int(p)
		at.Port = &port
	}
	if at.SSL == nil && stored.SSL != nil {
		ssl := Bool(*stored.SSL)
		at.SSL = &ssl
	}
	e, err := s.endpoint(ctx, at)
	if err != nil {
		return err
	}
	admin, err := dbuser.Connect(ctx, e)
	if err != nil {
		return err
	}
	defer admin.Close()
	return admin.Drop(ctx, baseUser(stored.Username))
}
