package provision

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/dbsecret"
	"github.com/dbcreds/provisioner/shared/dbuser"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/masterdb"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// DatabaseUsers are what make database users safely: where a master
// secret's own database is, the record of the users made, and what
// removes a secret whose user could not be made.
type DatabaseUsers struct {
	Masters *masterdb.Resolver
	Ledger  *userledger.Ledger
	Deleter *secretstore.Deleter
}

// databaseReserve is the time a request keeps, after its database work
// must end, to undo what it made and answer: every database step (the
// master's look-up, dial, handshake, each statement) ends by the deadline
// less this. Undoing ends a second before the deadline (answerReserve).
const (
	databaseReserve = 5 * time.Second
	answerReserve   = time.Second
)

// undoContext is for removing what a failed request made: after its
// database work ended, but still before the request's deadline.
func undoContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(databaseReserve)
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline.Add(-answerReserve))
}

// minUserPassword is the shortest password a database user gets: 16
// characters are over 50 bits even of digits alone.
const minUserPassword = 16

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
	u := dbuser.User{Name: name, Database: database, Privileges: privileges, Schemas: r.Schemas}
	return u, u.Check(family)
}

// target is where r's user is made: the master's own database, never a
// host or port the request names. A request that names another is
// refused; one that names none gets the master's. The database is r's,
// else the master's, else the engine's default.
type target struct {
	endpoint dbuser.Endpoint
	database string
}

func (r Request) target(m masterdb.Master, requireTLS bool) (target, error) {
	family, _ := dbuser.FamilyOf(r.Engine)
	engine, _ := dbsecret.Lookup(r.Engine)
	if mf, ok := dbuser.FamilyOf(m.Engine); m.Engine != "" && ok && mf != family {
		return target{}, errcode.Invalidf("engine", "the master secret's database is %s, not %s", errcode.Quote(m.Engine), strings.ToLower(r.Engine))
	}
	port := m.Port
	if port == 0 {
		port = engine.DefaultPort
	}
	if r.Host != "" && !strings.EqualFold(strings.TrimSuffix(r.Host, "."), strings.TrimSuffix(m.Host, ".")) {
		return target{}, &errcode.Error{Code: errcode.Forbidden, Field: "host",
			Message: "is not the master secret's own database (" + errcode.Clip(m.Host) + "): the master user's credentials go nowhere else; leave host out to get it"}
	}
	if r.Port != nil && int(*r.Port) != port {
		return target{}, &errcode.Error{Code: errcode.Forbidden, Field: "port",
			Message: "is not the master secret's own database's port (" + strconv.Itoa(port) + "); leave port out to get it"}
	}
	database := r.DBName
	if database == "" {
		database = m.DBName
	}
	if database == "" {
		database = engine.DefaultDBName
	}
	e := dbuser.Endpoint{Family: family, Host: m.Host, Port: port, Database: database, Username: m.Username, Password: m.Password}
	if requireTLS && r.SSL != nil && !bool(*r.SSL) {
		return target{}, errcode.Invalidf("ssl", "cannot be false: this deployment requires verified TLS to every database (RequireDatabaseTls)")
	}
	if requireTLS || r.SSL != nil && bool(*r.SSL) {
		var err error
		if e.TLS, err = dbuser.TLSConfig(os.Getenv(dbuser.EnvCABundle), e.Host); err != nil {
			return target{}, errcode.Wrap(err, errcode.Internal, "ssl: the function has no certificate authority bundle to verify the database with (%s)", dbuser.EnvCABundle)
		}
	}
	return target{endpoint: e, database: database}, nil
}

// grantAsk is what the deployment's grants must allow for user u, of
// family (the recorded engine's on an update, never a request's say).
func grantAsk(caller dbgrants.Caller, master string, family dbuser.Family, u dbuser.User) dbgrants.Ask {
	ask := dbgrants.Ask{Caller: caller, MasterSecretARN: master, Database: u.Database}
	if family == dbuser.Postgres {
		ask.Schemas = u.Schemas
		if len(ask.Schemas) == 0 {
			ask.Schemas = []string{"public"}
		}
	}
	return ask
}

// userSetUp is what createWithUser found before it makes anything.
type userSetUp struct {
	user   dbuser.User
	target target
	master masterdb.Master
	admin  *dbuser.Admin
	// ours is set when the user exists already and the ledger says this
	// very secret's request made it (a retry).
	ours bool
}

// setUpUser does every check that needs no change: the caller's grant,
// the master's own database, the user's name and what it is granted on,
// that neither the user nor its clone exists (unless this secret's
// earlier attempt made it). Nothing is made; on success the master is
// connected, and the caller closes admin.
func (s *Service) setUpUser(ctx context.Context, r Request, username string) (userSetUp, error) {
	if s.users == nil {
		return userSetUp{}, errcode.New(errcode.Internal, "this function was built without what makes database users")
	}
	family, _ := dbuser.FamilyOf(r.Engine)
	// Before anything is read: may this caller use that master at all?
	if err := s.config.DatabaseUserGrants.AllowsCaller(r.Provenance.Caller, r.MasterSecretARN); err != nil {
		return userSetUp{}, err
	}
	master, err := s.users.Masters.Resolve(ctx, r.MasterSecretARN)
	if err != nil {
		return userSetUp{}, err
	}
	t, err := r.target(master, s.config.RequireTLS)
	if err != nil {
		return userSetUp{}, err
	}
	u, err := r.databaseUser(username, family, t.database)
	if err != nil {
		return userSetUp{}, err
	}
	if err := dbuser.CheckNewUser(family, u.Name); err != nil {
		return userSetUp{}, err
	}
	if err := s.config.DatabaseUserGrants.Allow(grantAsk(r.Provenance.Caller, master.ARN, family, u)); err != nil {
		return userSetUp{}, err
	}
	admin, err := dbuser.Connect(ctx, t.endpoint)
	if err != nil {
		return userSetUp{}, err
	}
	set := userSetUp{user: u, target: t, master: master, admin: admin}
	fail := func(err error) (userSetUp, error) {
		admin.Close()
		return userSetUp{}, err
	}
	taken, err := admin.Taken(ctx, u.Name)
	if err != nil {
		return fail(err)
	}
	if taken != "" {
		// Ours only if this secret exists and the ledger says its request
		// made exactly this user; a clone alone is never ours.
		if taken != u.Name {
			return fail(userTaken(taken))
		}
		sec, err := s.store.Describe(ctx, r.Name)
		if errors.Is(err, secretstore.ErrNotFound) {
			return fail(userTaken(taken))
		}
		if err != nil {
			return fail(err)
		}
		e, found, err := s.users.Ledger.Find(ctx, r.Provenance.Via, sec.ARN)
		if err != nil {
			return fail(err)
		}
		// A retry of the same request asks for the same user: another
		// request with the same key is not this secret's to change.
		if !found || e.Username != u.Name || e.MasterSecretARN != master.ARN || e.Database != u.Database ||
			e.Privileges != string(u.Privileges) || strings.Join(e.Schemas, ",") != strings.Join(u.Schemas, ",") {
			return fail(userTaken(taken))
		}
		set.ours = true
	}
	if err := admin.CheckTargets(ctx, u); err != nil {
		return fail(err)
	}
	return set, nil
}

// createWithUser makes the secret and its database user. Everything that
// can be checked is checked before anything is made (setUpUser). The
// secret is made next, holding the master's host, port and database, with
// the user prepared meanwhile (in PostgreSQL, inside a transaction left
// open); the user is recorded in the ledger, then committed. When the
// secret already holds a version of this request (an earlier attempt),
// its password is used, so a retry completes what an attempt left.
//
// A failure once the secret exists either leaves what its retry or
// CloudFormation's rollback completes or removes (the result then carries
// the secret's ARN), or, when nothing would (a permanent refusal, or an
// API request without an Idempotency-Key), removes the secret itself.
func (s *Service) createWithUser(ctx context.Context, r Request, in *secretsmanager.CreateSecretInput, username string) (Result, error) {
	family, _ := dbuser.FamilyOf(r.Engine)
	dbctx, cancel := dbuser.WithReserve(ctx, databaseReserve)
	defer cancel()
	set, err := s.setUpUser(dbctx, r, username)
	if err != nil {
		return Result{}, err
	}
	defer set.admin.Close()
	u, admin := set.user, set.admin
	// The secret says where the user is: the master's host and port, and
	// the database, where the request left them out.
	var generated struct{ Username, Password string }
	json.Unmarshal([]byte(aws.ToString(in.SecretString)), &generated)
	at := r
	port := props.Int(set.target.endpoint.Port)
	at.Host, at.Port = set.target.endpoint.Host, &port
	if set.target.endpoint.TLS != nil && r.SSL == nil {
		tls := props.Bool(true) // the secret says what the connection needs
		at.SSL = &tls
	}
	if at.DBName == "" && u.Database != "" {
		at.DBName = u.Database
	}
	value, _, err := s.secretValue(at, kindDatabase, "", &kept{Username: generated.Username, Password: generated.Password})
	if err != nil {
		return Result{}, err
	}
	in.SecretString = aws.String(value.String)

	// Readied now, so that PostgreSQL's key stretching overlaps the calls
	// below; a retry's stored password replaces it.
	ready := dbuser.NewPassword(family, generated.Password)
	var pending *dbuser.Pending
	prepared := make(chan struct{})
	if set.ours {
		close(prepared)
	} else {
		go func() {
			defer close(prepared)
			pending = admin.Prepare(dbctx, u, ready)
		}()
	}
	created, err := s.store.Create(ctx, in)
	<-prepared
	if err != nil {
		if pending != nil {
			pending.Rollback(dbctx)
		}
		return Result{}, err
	}
	result := Result{ARN: created.ARN, Name: created.Name, VersionID: created.VersionID, Username: username,
		ReplicationStatus: created.Replicas, Replayed: created.Replayed}
	entry := userledger.Entry{Via: r.Provenance.Via, By: r.Provenance.By, SecretARN: created.ARN, MasterSecretARN: set.master.ARN,
		Engine: strings.ToLower(r.Engine), Host: set.target.endpoint.Host, Port: set.target.endpoint.Port, Database: u.Database,
		SSL: set.target.endpoint.TLS != nil, Username: u.Name, Privileges: string(u.Privileges), Schemas: u.Schemas, CreatedAt: time.Now()}
	err = s.makeUser(ctx, dbctx, in, created, set, pending, generated.Password, entry)
	var other otherRequest
	switch {
	case errors.As(err, &other):
		// The secret is an earlier request's that shares the key, not this
		// one's retry: nothing of it is this request's to change or remove.
		if pending != nil {
			pending.Rollback(dbctx)
		}
		return Result{}, other.error
	case err != nil && set.ours:
		// The user, its record and the secret are an earlier attempt's:
		// kept whole for the next retry.
		return result, err
	case err != nil:
		if pending != nil {
			pending.Rollback(dbctx)
		}
		return s.abandon(ctx, result, entry, in, err)
	}
	result.DatabaseUser = &DatabaseUser{Username: u.Name, Privileges: string(u.Privileges)}
	return result, nil
}

// makeUser records and makes (or, on a retry that made it, completes) the
// user once the secret exists.
func (s *Service) makeUser(ctx, dbctx context.Context, in *secretsmanager.CreateSecretInput, created secretstore.Created,
	set userSetUp, pending *dbuser.Pending, generated string, entry userledger.Entry) error {
	if pending != nil && pending.Err() != nil {
		return pending.Err()
	}
	password, err := s.storedPassword(dbctx, in, created, entry)
	if err != nil {
		return err
	}
	// Recorded before it is made: a user is never made without its record.
	if err := s.users.Ledger.Record(dbctx, entry); err != nil {
		return err
	}
	family, _ := dbuser.FamilyOf(entry.Engine)
	switch {
	case set.ours:
		// An earlier attempt made it; grant again, in case it stopped short.
		return set.admin.SetPrivileges(dbctx, set.user, set.user)
	case password != generated:
		// An earlier attempt's secret: its password, not this attempt's.
		pending.Rollback(dbctx)
		return set.admin.Create(dbctx, set.user, dbuser.NewPassword(family, password))
	}
	return pending.Commit(dbctx)
}

// abandon answers a failure after the secret was made. When a retry or a
// rollback can finish the work (a passing failure, with a key that makes
// the retry this request's), the secret stays and the result names it.
// Otherwise nothing would: the user (if this request may have made it), its
// record and the secret are removed, and the result names nothing.
func (s *Service) abandon(ctx context.Context, result Result, entry userledger.Entry, in *secretsmanager.CreateSecretInput, cause error) (Result, error) {
	code := errcode.Of(cause)
	passing := code == errcode.Unavailable || code == errcode.Upstream || code == errcode.Throttled
	if passing && aws.ToString(in.ClientRequestToken) != "" {
		return result, cause
	}
	undo, cancel := undoContext(ctx)
	defer cancel()
	log := slog.With("arn", result.ARN, "error", errcode.Public(cause))
	gone := !passing // a refusal made nothing: PostgreSQL rolled back, MySQL dropped what it made
	if !gone {
		gone = s.dropRecorded(undo, entry) == nil
	}
	if gone {
		if err := s.users.Ledger.Forget(undo, entry.Via, entry.SecretARN); err != nil {
			log.WarnContext(ctx, "could not forget the record of a database user never made", "forgetError", errcode.Public(err))
		}
	} else {
		log.ErrorContext(ctx, "a database user may be left behind: drop it by hand", "user", entry.Username, "host", entry.Host, "database", entry.Database)
	}
	regions := make([]string, 0, len(result.ReplicationStatus))
	for _, r := range result.ReplicationStatus {
		regions = append(regions, r.Region)
	}
	err := s.users.Deleter.RemoveReplicas(undo, result.ARN, regions)
	if err == nil {
		_, err = s.users.Deleter.Delete(undo, result.ARN, 0, true)
	}
	if err != nil {
		log.ErrorContext(ctx, "could not remove the secret whose database user failed", "deleteError", errcode.Public(err))
		return result, cause
	}
	log.InfoContext(ctx, "removed the secret whose database user could not be made")
	return Result{}, cause
}

func userTaken(name string) error {
	return &errcode.Error{Code: errcode.Conflict, Field: "username",
		Message: "database user " + errcode.Quote(name) + " already exists and is not this secret's; this provisioner never takes over an existing user, nor makes one whose rotation clone exists"}
}

// otherRequest is a secret made under this request's key by another
// request: not a retry of this one.
type otherRequest struct{ error }

// storedPassword is the password the secret holds: the one just generated,
// or an earlier attempt's when the secret was already there. An earlier
// attempt's secret must be for the same user with the same master, or it
// is another request's that shares the key.
func (s *Service) storedPassword(ctx context.Context, in *secretsmanager.CreateSecretInput, created secretstore.Created, want userledger.Entry) (string, error) {
	value := aws.ToString(in.SecretString)
	if created.Replayed {
		stored, err := s.store.CurrentValue(ctx, created.ARN)
		if err != nil {
			return "", err
		}
		value = stored.String
	}
	var v struct{ Username, Password, Masterarn string }
	if json.Unmarshal([]byte(value), &v) != nil || v.Password == "" {
		return "", otherRequest{errcode.New(errcode.Conflict, "the stored secret holds no password; it was changed outside this provisioner")}
	}
	if created.Replayed && (v.Masterarn != want.MasterSecretARN || v.Username != want.Username && !isCloneOf(v.Username, want.Username)) {
		return "", otherRequest{&errcode.Error{Code: errcode.Conflict, Field: "name",
			Message: "the secret made under this request's key is for another database user: this is not a retry of the request that made it"}}
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

// recorded is the user the ledger says the secret's trigger made for it.
// Without a record there is none to act on: users made before the ledger
// existed, or never made.
func (s *Service) recorded(ctx context.Context, via, secretARN string) (userledger.Entry, bool, error) {
	if s.users == nil {
		return userledger.Entry{}, false, errcode.New(errcode.Internal, "this function was built without what makes database users")
	}
	return s.users.Ledger.Find(ctx, via, secretARN)
}

// connectRecorded logs in as the master of a recorded user, at the
// master's own database as it is found now (never a host the secret
// names).
func (s *Service) connectRecorded(ctx context.Context, e userledger.Entry) (*dbuser.Admin, error) {
	master, err := s.users.Masters.Resolve(ctx, e.MasterSecretARN)
	if err != nil {
		return nil, err
	}
	r := Request{Engine: e.Engine, DBName: e.Database}
	if e.SSL {
		ssl := props.Bool(true)
		r.SSL = &ssl
	}
	t, err := r.target(master, s.config.RequireTLS)
	if err != nil {
		return nil, err
	}
	return dbuser.Connect(ctx, t.endpoint)
}

// checkRecordedUser holds an update (or the adoption of a secret this
// resource made, which compares the request with itself) to the user the
// ledger says was made for the secret: same engine family, master,
// database and name, at the same host and port; a secret with a recorded
// user keeps managing it, and one without cannot start.
func (s *Service) checkRecordedUser(ctx context.Context, secretARN string, now Request) error {
	e, found, err := s.recorded(ctx, now.Provenance.Via, secretARN)
	switch {
	case err != nil:
		return err
	case !found && bool(now.CreateDatabaseUser):
		return errcode.New(errcode.Conflict, "there is no record of a database user this provisioner made for this secret (it was made before users were recorded, or never made): give the resource a new name to replace it")
	case !found:
		return nil
	case !bool(now.CreateDatabaseUser):
		return errcode.Invalidf("createDatabaseUser", "cannot change in place: the secret's database user %s was made by this provisioner; give the resource a new name to replace it", errcode.Quote(e.Username))
	}
	was, _ := dbuser.FamilyOf(e.Engine)
	is, _ := dbuser.FamilyOf(now.Engine)
	for _, f := range []struct {
		field string
		moved bool
	}{
		{"engine", was != is},
		{"masterSecretArn", now.MasterSecretARN != e.MasterSecretARN},
		{"dbname", now.DBName != "" && now.DBName != e.Database},
		{"username", now.Username != "" && now.Username != e.Username},
		{"host", now.Host != "" && !strings.EqualFold(strings.TrimSuffix(now.Host, "."), strings.TrimSuffix(e.Host, "."))},
		{"port", now.Port != nil && int(*now.Port) != e.Port},
	} {
		if f.moved {
			return errcode.Invalidf(f.field, "would move the database user this provisioner made for the secret; give the resource a new name (and username) to replace it, so that the old user is dropped with the old secret")
		}
	}
	return nil
}

// updateUser brings the recorded user's privileges and schemas to now's,
// on the user and its clone, within what the deployment grants now's
// caller. checkRecordedUser has held now to the record.
func (s *Service) updateUser(ctx context.Context, secretARN string, now Request) (*DatabaseUser, error) {
	dbctx, cancel := dbuser.WithReserve(ctx, databaseReserve)
	defer cancel()
	e, found, err := s.recorded(dbctx, now.Provenance.Via, secretARN)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errcode.New(errcode.Conflict, "there is no record of a database user this provisioner made for this secret")
	}
	family, _ := dbuser.FamilyOf(e.Engine) // the record's, never the request's
	was := dbuser.User{Name: e.Username, Database: e.Database, Privileges: dbuser.Privileges(e.Privileges), Schemas: e.Schemas}
	is, err := now.databaseUser(e.Username, family, e.Database)
	if err != nil {
		return nil, err
	}
	user := &DatabaseUser{Username: e.Username, Privileges: string(is.Privileges)}
	if was.Privileges == is.Privileges && strings.Join(was.Schemas, ",") == strings.Join(is.Schemas, ",") {
		return user, nil
	}
	if err := s.config.DatabaseUserGrants.Allow(grantAsk(now.Provenance.Caller, e.MasterSecretARN, family, is)); err != nil {
		return nil, err
	}
	if now.SSL != nil && bool(*now.SSL) {
		e.SSL = true // stricter, never looser, than when it was made
	}
	admin, err := s.connectRecorded(dbctx, e)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	for _, name := range []string{e.Username, dbuser.CloneOf(e.Username)} {
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
	e.Privileges, e.Schemas = string(is.Privileges), is.Schemas
	if err := s.users.Ledger.Record(dbctx, e); err != nil {
		return nil, err
	}
	return user, nil
}

// dropUser drops the user the ledger says via made for the secret, and
// its clone, at the recorded master's own database, then forgets it. A
// secret with no record has no user of ours: nothing is dropped (marked
// says the secret's tag claims one: made before users were recorded).
func (s *Service) dropUser(ctx context.Context, via, secretARN string, marked bool) error {
	return s.dropUserBy(ctx, via, "", secretARN, marked)
}

// dropUserBy is dropUser for a secret that may be gone, so that no tag can
// say whose it was: the record must name by as who asked for it.
func (s *Service) dropUserBy(ctx context.Context, via, by, secretARN string, marked bool) error {
	dbctx, cancel := dbuser.WithReserve(ctx, databaseReserve)
	defer cancel()
	e, found, err := s.recorded(dbctx, via, secretARN)
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
	if err := s.dropRecorded(dbctx, e); err != nil {
		return err
	}
	return s.users.Ledger.Forget(dbctx, via, secretARN)
}

func (s *Service) dropRecorded(ctx context.Context, e userledger.Entry) error {
	admin, err := s.connectRecorded(ctx, e)
	if err != nil {
		return err
	}
	defer admin.Close()
	return admin.Drop(ctx, e.Username)
}
