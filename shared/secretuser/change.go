package secretuser

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/dbcreds/provisioner/shared/dbuser"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/sessionlimit"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// connectRecorded logs in as the master of a recorded user, at the
// master's own database as it is found now (never a host a secret names),
// with TLS when the user was made with it or the deployment requires it.
// The caller holds the master's session slot (hold).
func (u *Users) connectRecorded(ctx context.Context, e userledger.Entry) (*dbuser.Admin, error) {
	master, err := u.masters.Resolve(ctx, e.MasterSecretARN)
	if err != nil {
		return nil, err
	}
	r := Request{Engine: e.Engine, DBName: e.Database}
	if e.SSL {
		ssl := true
		r.SSL = &ssl
	}
	endpoint, err := u.target(r, master)
	if err != nil {
		return nil, err
	}
	return dbuser.Connect(ctx, endpoint)
}

// hold takes one of the recorded master's session slots for the work on
// its database that follows, proofs by login included: give it back with
// Release. Each slot then stands for at most two sessions at once: the
// master's, and a login checked beside it or (dropping a PostgreSQL user)
// the master's session to another database where the user holds rights.
func (u *Users) hold(ctx context.Context, e userledger.Entry) (*sessionlimit.Lease, error) {
	return u.sessions.Take(ctx, e.MasterSecretARN)
}

// proven reports whether the user an unconfirmed record names is the
// secret's: it, or its clone after a rotation, logs in at the recorded
// master's own database with the credentials the secret holds now. A
// secret that cannot be read (scheduled for deletion, deleted) proves
// nothing.
func (u *Users) proven(ctx context.Context, e userledger.Entry) bool {
	applies, ok := u.proof(ctx, e)
	return applies && ok
}

// proof tries proven's login: applies says the secret could be read and
// holds the user's or its clone's login to try, ok that it logs in.
func (u *Users) proof(ctx context.Context, e userledger.Entry) (applies, ok bool) {
	stored, err := u.secrets.CurrentValue(ctx, e.SecretARN)
	if err != nil {
		return false, false
	}
	var v struct{ Username, Password string }
	if json.Unmarshal([]byte(stored.String), &v) != nil || v.Password == "" || v.Username != e.Username && v.Username != dbuser.CloneOf(e.Username) {
		return false, false
	}
	master, err := u.masters.Resolve(ctx, e.MasterSecretARN)
	if err != nil {
		return false, false
	}
	r := Request{Engine: e.Engine, DBName: e.Database}
	if e.SSL {
		ssl := true
		r.SSL = &ssl
	}
	as, err := u.target(r, master)
	if err != nil {
		return false, false
	}
	return true, logsIn(ctx, as, v.Username, v.Password)
}

// identity is what a made record's user is found to be now.
type identity int

const (
	ours     identity = iota // the very user made (its oid), or proven by its login
	gone                     // neither it nor its clone exists
	another                  // a user of its name made since: not the one made
	unproven                 // MySQL: it does not log in with what the secret holds
)

// identify tells whether the user a made record names is still the one
// made: a user dropped by hand while its record stayed, and made again
// by someone else under the same name, must never be changed or dropped
// through the old record. PostgreSQL compares the role's oid; a record
// without one (MySQL and MariaDB, which keep no identity, and records from
// before it was kept) needs the user or its clone to log in with what the
// secret holds, when it holds their login; a secret that can no longer be
// read (deleted outside the provisioner) or holds another username
// (rewritten by hand) tells nothing, and the record is all there is.
func (u *Users) identify(ctx context.Context, admin *dbuser.Admin, e userledger.Entry) (identity, error) {
	if e.OID != "" {
		oid, err := admin.OID(ctx, e.Username)
		switch {
		case err != nil:
			return 0, err
		case oid == e.OID:
			return ours, nil
		case oid != "":
			return another, nil
		}
	}
	present := false
	for _, n := range []string{e.Username, dbuser.CloneOf(e.Username)} {
		exists, err := admin.Exists(ctx, n)
		if err != nil {
			return 0, err
		}
		present = present || exists
	}
	if !present {
		return gone, nil
	}
	if e.OID != "" {
		return ours, nil // the user is gone, its clone is left: the user's
	}
	if applies, ok := u.proof(ctx, e); applies && !ok {
		return unproven, nil
	}
	return ours, nil
}

// CheckUpdate holds an update of secretARN (or the adoption of a secret a
// stack resource made, which compares the request with itself) to the user
// the ledger says was made for it: same engine family, master, database
// and name, at the same host and port. A secret with a recorded user keeps
// managing it (manage true), and one without cannot start.
func (u *Users) CheckUpdate(ctx context.Context, secretARN string, r Request, manage bool) error {
	e, found, err := u.ledger.Find(ctx, r.Via, secretARN)
	switch {
	case err != nil:
		return err
	case !found && manage:
		return errcode.New(errcode.Conflict, "there is no record of a database user this provisioner made for this secret (it was made before users were recorded, or never made): give the resource a new name to replace it")
	case !found:
		return nil
	case !manage:
		return errcode.Invalidf("createDatabaseUser", "cannot change in place: the secret's database user %s was made by this provisioner; give the resource a new name to replace it", errcode.Quote(e.Username))
	case r.SSL != nil && !*r.SSL && (e.SSL || u.requireTLS):
		// The secret tells rotation functions and applications how to
		// reach the user: never less than it was made with, nor than the
		// deployment requires.
		return errcode.Invalidf("ssl", "cannot turn TLS off: the secret's database user was made over verified TLS or this deployment requires it (RequireDatabaseTls)")
	}
	was, _ := dbuser.FamilyOf(e.Engine)
	is, _ := dbuser.FamilyOf(r.Engine)
	for _, f := range []struct {
		field string
		moved bool
	}{
		{"engine", was != is},
		{"masterSecretArn", r.MasterSecretARN != e.MasterSecretARN},
		{"dbname", r.DBName != "" && r.DBName != e.Database},
		{"username", r.Username != "" && r.Username != e.Username},
		{"host", r.Host != "" && !sameHost(r.Host, e.Host)},
		{"port", r.Port != 0 && r.Port != e.Port},
	} {
		if f.moved {
			return errcode.Invalidf(f.field, "would move the database user this provisioner made for the secret; give the resource a new name (and username) to replace it, so that the old user is dropped with the old secret")
		}
	}
	return nil
}

// Update brings the recorded user's privileges and schemas to r's, on the
// user and its clone, within what the deployment grants r's caller, for
// the recorded engine. CheckUpdate has held r to the record.
func (u *Users) Update(ctx context.Context, secretARN string, r Request) (*Made, error) {
	dbctx, cancel := dbuser.WithReserve(ctx, databaseReserve)
	defer cancel()
	e, found, err := u.ledger.Find(dbctx, r.Via, secretARN)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errcode.New(errcode.Conflict, "there is no record of a database user this provisioner made for this secret")
	}
	// Its database's work, the proof by login included, in one slot.
	lease, err := u.hold(dbctx, e)
	if err != nil {
		return nil, err
	}
	defer lease.Release(dbctx)
	proven := false
	if !e.Made {
		if !u.proven(dbctx, e) {
			return nil, errcode.New(errcode.Conflict, "the database user recorded for this secret was never confirmed made, and no user of its name logs in with what the secret holds")
		}
		e.Made, proven = true, true
	}
	family, _ := dbuser.FamilyOf(e.Engine) // the record's, never the request's
	was := dbuser.User{Name: e.Username, Database: e.Database, Privileges: dbuser.Privileges(e.Privileges), Schemas: e.Schemas, MemberOf: e.MemberOf}
	is := dbuser.User{Name: e.Username, Database: e.Database, Privileges: r.Privileges, Schemas: r.Schemas, MemberOf: r.MemberOf}
	if err := is.Check(family); err != nil {
		return nil, err
	}
	made := &Made{Username: e.Username, Privileges: string(is.Privileges), MemberOf: is.MemberOf}
	if was.Privileges == is.Privileges && strings.Join(was.Schemas, ",") == strings.Join(is.Schemas, ",") &&
		strings.Join(was.MemberOf, ",") == strings.Join(is.MemberOf, ",") {
		return made, nil
	}
	if err := u.grants.Allow(grantAsk(r.Caller, e.MasterSecretARN, family, is)); err != nil {
		return nil, err
	}
	if r.SSL != nil && *r.SSL {
		e.SSL = true // stricter, never looser, than when it was made
	}
	admin, err := u.connectRecorded(dbctx, e)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	if !proven {
		switch who, err := u.identify(dbctx, admin, e); {
		case err != nil:
			return nil, err
		case who == gone:
			return nil, errcode.New(errcode.Conflict, "the database user made for this secret no longer exists")
		case who != ours:
			return nil, errcode.New(errcode.Conflict, "the database user of this secret's name is not the one made for it (it was dropped and made again, or no longer logs in with what the secret holds): nothing is changed")
		}
	}
	if e.OID == "" {
		if e.OID, err = admin.OID(dbctx, e.Username); err != nil {
			return nil, err
		}
	}
	// What the privileges are on must exist and be no extension's, as when
	// the user was made.
	if err := admin.CheckTargets(dbctx, is); err != nil {
		return nil, err
	}
	// PostgreSQL's clone is a member of the user and acts as it: it holds
	// what the user holds. MySQL's and MariaDB's has copies of the user's
	// grants (AWS's function copies them), changed with the user's.
	names := []string{e.Username, dbuser.CloneOf(e.Username)}
	if family == dbuser.Postgres {
		names = names[:1]
	}
	for _, name := range names {
		exists, err := admin.Exists(dbctx, name)
		if err != nil {
			return nil, err
		}
		if !exists {
			continue
		}
		was.Name, is.Name = name, name
		if err := admin.SetPrivileges(dbctx, was, is); err != nil {
			return nil, err
		}
	}
	e.Privileges, e.Schemas, e.MemberOf = string(is.Privileges), is.Schemas, is.MemberOf
	if err := u.ledger.Record(dbctx, e); err != nil {
		return nil, err
	}
	return made, nil
}

// Drop drops the user the ledger says via made for the secret, and its
// clone, at the recorded master's own database, then forgets it. A secret
// with no record has no user of ours: nothing is dropped (marked says the
// secret's tag claims one: made before users were recorded). by, when not
// empty, must be who the record says asked for the user: for a secret that
// is gone, so that no tag can say whose it was.
func (u *Users) Drop(ctx context.Context, via, by, secretARN string, marked bool) error {
	dbctx, cancel := dbuser.WithReserve(ctx, databaseReserve)
	defer cancel()
	e, found, err := u.ledger.Find(dbctx, via, secretARN)
	if err != nil {
		return err
	}
	if found && by != "" && e.By != by {
		slog.WarnContext(ctx, "the record of the secret's database user names another requester; nothing is dropped", "arn", secretARN)
		return nil
	}
	if !found {
		if marked {
			slog.WarnContext(ctx, "the secret's tag says it has a database user, but none is recorded (made before users were recorded): none is dropped; drop it by hand", "arn", secretARN)
		}
		return nil
	}
	lease, err := u.hold(dbctx, e)
	if err != nil {
		return err
	}
	defer lease.Release(dbctx)
	if !e.Made && !u.proven(dbctx, e) {
		// Its request failed before the user was confirmed: a user of that
		// name now may be anyone's. Nothing is dropped.
		slog.WarnContext(ctx, "the secret's database user was never confirmed made and does not log in with what the secret holds: the record is forgotten, no user is dropped", "arn", secretARN, "user", e.Username)
		return u.ledger.Forget(dbctx, via, secretARN)
	}
	if err := u.dropRecorded(dbctx, e, e.Made); err != nil {
		return err
	}
	return u.ledger.Forget(dbctx, via, secretARN)
}

// Release forgets the database user recorded for the secret made through
// via and leaves the user as it is, with its password and its rotation
// clone: the team takes it over. by and marked are as Drop's.
func (u *Users) Release(ctx context.Context, via, by, secretARN string, marked bool) error {
	e, found, err := u.ledger.Find(ctx, via, secretARN)
	if err != nil || !found {
		return err
	}
	if by != "" && e.By != by {
		return nil
	}
	slog.WarnContext(ctx, "the secret's database user is kept, as asked: the provisioner no longer manages it", "arn", secretARN, "user", e.Username, "host", e.Host, "database", e.Database)
	return u.ledger.Forget(ctx, via, secretARN)
}

// dropIfProven drops the user a failed request may have made, only once it
// is proven the request's: it exists and logs in with what the secret
// holds. A user of the name that does not is someone else's, made while
// this request was failing: nothing is dropped. The caller holds the
// master's session slot, its own session closed.
func (u *Users) dropIfProven(ctx context.Context, e userledger.Entry) error {
	admin, err := u.connectRecorded(ctx, e)
	if err != nil {
		return err
	}
	defer admin.Close()
	exists, err := admin.Exists(ctx, e.Username)
	if err != nil || !exists {
		return err
	}
	if !u.proven(ctx, e) {
		slog.WarnContext(ctx, "a user of the failed request's name exists but does not log in with what its secret holds: someone else's, not dropped", "user", e.Username)
		return nil
	}
	return admin.Drop(ctx, e.Username)
}

// dropRecorded drops the recorded user; check says it must be found to be
// the one made first (identify): one of its name made since is left
// alone and the record is forgotten (another), and one that cannot be
// proven so is a conflict (unproven: MySQL's, not logging in with what the
// secret holds, whose user may have changed its own password).
func (u *Users) dropRecorded(ctx context.Context, e userledger.Entry, check bool) error {
	admin, err := u.connectRecorded(ctx, e)
	if err != nil {
		return err
	}
	defer admin.Close()
	if check {
		switch who, err := u.identify(ctx, admin, e); {
		case err != nil:
			return err
		case who == gone:
			return nil
		case who == another:
			slog.WarnContext(ctx, "the database user of the recorded name was made again since the one recorded was dropped: someone else's, not dropped", "user", e.Username)
			return nil
		case who == unproven:
			return &errcode.Error{Code: errcode.Conflict, Field: "username",
				Message: "database user " + errcode.Quote(e.Username) + " does not log in with what the secret holds, so it cannot be told from a user of the same name made after this one was dropped: nothing is dropped; drop it by hand if it is this secret's, then delete again"}
		}
	}
	return admin.Drop(ctx, e.Username)
}

// Recorded is the user recorded for the secret made through via, or nil.
func (u *Users) Recorded(ctx context.Context, via, secretARN string) (*Made, error) {
	e, found, err := u.ledger.Find(ctx, via, secretARN)
	if !found || err != nil {
		return nil, err
	}
	return &Made{Username: e.Username, Privileges: e.Privileges, MemberOf: e.MemberOf}, nil
}
