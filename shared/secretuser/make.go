package secretuser

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/dbsession"
	"github.com/dbcreds/provisioner/shared/dbuser"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/masterdb"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/sessionlimit"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// Plan is a user about to be made: every check that needs no change has
// passed and the master is connected. Make it, then Close the plan.
type Plan struct {
	users    *Users
	req      Request
	user     dbuser.User
	endpoint dbsession.Endpoint
	master   masterdb.Master
	admin    *dbuser.Admin
	lease    *sessionlimit.Lease // the master's session slot, held until Close
	// ours is set when the user exists already and the ledger says this
	// very secret's request made it (a retry).
	ours bool
	// dbctx bounds every database step of the plan.
	dbctx  context.Context
	cancel context.CancelFunc
}

// Where is where the secret must say its user is: the master's own host and
// port, the database, and whether TLS is required.
type Where struct {
	Host   string
	Port   int
	DBName string
	TLS    bool
}

// Plan does every check that needs no change, named username: the caller's
// grant, the master's own database, the user's name and what it is granted
// on, that neither the user nor its clone exists (unless this secret's
// earlier attempt made it). Nothing is made.
func (u *Users) Plan(ctx context.Context, r Request, username string) (*Plan, error) {
	family, _ := dbuser.FamilyOf(r.Engine)
	// Before anything is read: may this caller use that master at all?
	if err := u.grants.AllowsCaller(r.Caller, r.MasterSecretARN); err != nil {
		return nil, err
	}
	dbctx, cancel := dbuser.WithReserve(ctx, databaseReserve)
	p := &Plan{users: u, req: r, dbctx: dbctx, cancel: cancel}
	fail := func(err error) (*Plan, error) {
		p.Close()
		return nil, err
	}
	// The master's session slot is taken while the master is read: both
	// come before the connection. A master that cannot be read (a name
	// that is no secret's) waits for no slot and keeps none.
	takeCtx, stopTaking := context.WithCancel(dbctx)
	slot := make(chan error, 1)
	go func() {
		var err error
		p.lease, err = u.sessions.Take(takeCtx, r.MasterSecretARN)
		slot <- err
	}()
	var err error
	if p.master, err = u.masters.Resolve(dbctx, r.MasterSecretARN); err != nil {
		stopTaking()
	}
	terr := <-slot
	stopTaking()
	if err == nil {
		err = terr
	}
	if err != nil {
		return fail(err)
	}
	if p.endpoint, err = u.target(r, p.master); err != nil {
		return fail(err)
	}
	if p.user, err = r.user(username, p.endpoint.Database); err != nil {
		return fail(err)
	}
	p.user.ConnectionLimit = u.limit
	if err := dbuser.CheckNewUser(family, p.user.Name); err != nil {
		return fail(err)
	}
	if err := u.grants.Allow(grantAsk(r.Caller, p.master.ARN, family, p.user)); err != nil {
		return fail(err)
	}
	if p.admin, err = dbuser.Connect(dbctx, p.endpoint); err != nil {
		return fail(err)
	}
	taken, err := p.admin.Taken(dbctx, p.user.Name)
	if err != nil {
		return fail(err)
	}
	if taken != "" {
		if p.ours, err = p.earlierAttempt(taken); err != nil {
			if errcode.Of(err) == errcode.Conflict {
				p.removeLeftover(ctx)
			}
			return fail(err)
		}
	}
	if err := p.admin.CheckTargets(dbctx, p.user); err != nil {
		return fail(err)
	}
	return p, nil
}

// earlierAttempt reports whether the user that exists is this secret's
// earlier attempt's: only if the secret exists and the ledger says its
// request made exactly this user, with the same master, database and
// privileges. A clone alone is never ours.
func (p *Plan) earlierAttempt(taken string) (bool, error) {
	if taken != p.user.Name {
		return false, userTaken(taken)
	}
	sec, err := p.users.secrets.Describe(p.dbctx, p.req.SecretName)
	if errors.Is(err, secretstore.ErrNotFound) {
		return false, userTaken(taken)
	}
	if err != nil {
		return false, err
	}
	e, found, err := p.users.ledger.Find(p.dbctx, p.req.Via, sec.ARN)
	if err != nil {
		return false, err
	}
	u := p.user
	if !found || e.Username != u.Name || e.MasterSecretARN != p.master.ARN || e.Database != u.Database ||
		e.Privileges != string(u.Privileges) || strings.Join(e.Schemas, ",") != strings.Join(u.Schemas, ",") ||
		strings.Join(e.MemberOf, ",") != strings.Join(u.MemberOf, ",") {
		return false, userTaken(taken)
	}
	// The record alone proves nothing if it outlived its user and another
	// request made one of the name since: the user must log in with what
	// the secret holds (its own or, after a rotation, its clone's).
	stored, err := p.users.secrets.CurrentValue(p.dbctx, sec.ARN)
	if err != nil {
		return false, err
	}
	var v struct{ Username, Password string }
	if json.Unmarshal([]byte(stored.String), &v) != nil || v.Password == "" ||
		v.Username != u.Name && v.Username != dbuser.CloneOf(u.Name) || !p.logsIn(v.Username, v.Password) {
		return false, userTaken(taken)
	}
	return true, nil
}

// logsIn reports whether username logs in at the master's database with
// password.
func (p *Plan) logsIn(username, password string) bool {
	return logsIn(p.dbctx, p.endpoint, username, password)
}

// removeLeftover removes this request's earlier attempt's secret when the
// retry finds its user's name taken by someone else: that attempt failed
// before its user was made (the record, if any, never confirmed), and kept
// its secret for this retry, which can now only refuse. Nothing would
// remove it otherwise. Only a secret of the request's name that holds the
// request's own version token is touched; no user is dropped.
func (p *Plan) removeLeftover(ctx context.Context) {
	if p.req.Token == "" {
		return
	}
	sec, err := p.users.secrets.Describe(p.dbctx, p.req.SecretName)
	if err != nil || sec.Deleted || !sec.Versions[p.req.Token] {
		return
	}
	e, found, err := p.users.ledger.Find(p.dbctx, p.req.Via, sec.ARN)
	if err != nil || found && e.Made {
		return
	}
	undo, cancel := undoContext(ctx)
	defer cancel()
	regions := make([]string, 0, len(sec.Replicas))
	for _, r := range sec.Replicas {
		regions = append(regions, r.Region)
	}
	err = p.users.deleter.RemoveReplicas(undo, sec.ARN, regions)
	if err == nil {
		_, err = p.users.deleter.Delete(undo, sec.ARN, 0, true)
	}
	if err == nil && found {
		err = p.users.ledger.Forget(undo, p.req.Via, sec.ARN)
	}
	if err != nil {
		slog.ErrorContext(ctx, "could not remove an earlier attempt's secret whose user's name is taken", "arn", sec.ARN, "error", errcode.Public(err))
		return
	}
	slog.InfoContext(ctx, "removed an earlier attempt's secret: its user's name is taken by another", "arn", sec.ARN)
}

// Where is where the secret must say the user is.
func (p *Plan) Where() Where {
	return Where{Host: p.endpoint.Host, Port: p.endpoint.Port, DBName: p.user.Database, TLS: p.endpoint.TLS != nil}
}

// Close ends the plan's connection, gives its session slot back and ends
// its database deadline.
func (p *Plan) Close() {
	p.endSession()
	p.lease.Release(p.dbctx)
	p.cancel()
}

// Make makes the secret in (which must hold the password generated and
// where the user is) and its user. The user is prepared while the secret
// is made (in PostgreSQL, inside a transaction left open), recorded in the
// ledger, then committed. When the secret already holds a version of this
// request (an earlier attempt), its password is used, so a retry completes
// what an attempt left.
//
// A failure once the secret exists either keeps what its retry or
// CloudFormation's rollback completes or removes (created then names the
// secret), or, when nothing would (a permanent refusal, or a request
// without an idempotency token), removes the secret itself (created is
// empty).
//
// then, when not nil, runs once the user is committed, beside the user's
// confirmation in the ledger (independent calls, overlapped to save a
// round trip): the caller's next step on the secret, such as switching on
// its rotation. Its failure, after the user and its record are whole, is
// returned with created and made, never undone here.
func (p *Plan) Make(ctx context.Context, in *secretsmanager.CreateSecretInput, password string, then func(context.Context, secretstore.Created) error) (secretstore.Created, *Made, error) {
	family, _ := dbuser.FamilyOf(p.req.Engine)
	// Read before CreateSecret: the SDK fills in a token of its own on in.
	keyed := aws.ToString(in.ClientRequestToken) != ""
	// Readied now, so that PostgreSQL's key stretching overlaps the calls
	// below; a retry's stored password replaces it.
	ready := dbuser.NewPassword(family, password)
	var pending *dbuser.Pending
	prepared := make(chan struct{})
	if p.ours {
		close(prepared)
	} else {
		go func() {
			defer close(prepared)
			pending = p.admin.Prepare(p.dbctx, p.user, ready)
		}()
	}
	created, err := p.users.secrets.Create(ctx, in)
	<-prepared
	rollback := func() {
		if pending != nil {
			pending.Rollback(p.dbctx)
		}
	}
	if err != nil {
		rollback()
		return secretstore.Created{}, nil, err
	}
	entry := userledger.Entry{Via: p.req.Via, By: p.req.By, SecretARN: created.ARN, MasterSecretARN: p.master.ARN,
		Engine: strings.ToLower(p.req.Engine), Host: p.endpoint.Host, Port: p.endpoint.Port, Database: p.user.Database,
		SSL: p.endpoint.TLS != nil, Username: p.user.Name, Privileges: string(p.user.Privileges), Schemas: p.user.Schemas, MemberOf: p.user.MemberOf, CreatedAt: time.Now()}
	var thenErr error
	var next func()
	if then != nil {
		next = func() { thenErr = then(ctx, created) }
	}
	stored, mayHaveMade, err := p.make(in, created, pending, password, entry, next)
	made := &Made{Username: p.user.Name, Privileges: string(p.user.Privileges), MemberOf: p.user.MemberOf}
	var other otherRequest
	switch {
	case errors.As(err, &other):
		// The secret is an earlier request's that shares the key, not this
		// one's retry: nothing of it is this request's to change or remove.
		rollback()
		return secretstore.Created{}, nil, other.error
	case err != nil && p.ours:
		// The user, its record and the secret are an earlier attempt's:
		// kept whole for the next retry.
		return created, nil, err
	case err != nil && keyed && errcode.Of(err) == errcode.Conflict:
		// Another delivery of this very request (EventBridge and Lambda
		// deliver at least once) won the race to make the user, whichever
		// of the two made the secret: what it made is whole, and no loser
		// may remove it, nor the record both share.
		rollback()
		if p.madeByTwin(entry, stored) {
			return created, made, nil
		}
		if created.Replayed {
			// The user is another request's: the record that says it is
			// this secret's must go, or a Delete of the secret would drop
			// it. The delivery that made the secret removes it.
			// A record its twin marked made is the twin's, never this
			// delivery's to forget.
			undo, cancel := undoContext(ctx)
			defer cancel()
			if e, found, ferr := p.users.ledger.Find(undo, entry.Via, entry.SecretARN); ferr == nil && found && !e.Made {
				if ferr := p.users.ledger.Forget(undo, entry.Via, entry.SecretARN); ferr != nil {
					slog.WarnContext(ctx, "could not forget the record of a user another request made", "arn", created.ARN, "forgetError", errcode.Public(ferr))
				}
			}
			return created, nil, err
		}
		return p.users.abandon(ctx, created, entry, keyed, false, err)
	case err != nil:
		rollback()
		// abandon may prove and drop the user through a session of its
		// own: in this plan's slot, once the plan's session is closed.
		p.endSession()
		return p.users.abandon(ctx, created, entry, keyed, mayHaveMade, err)
	}
	return created, made, thenErr
}

// endSession closes the plan's master session and keeps its slot.
func (p *Plan) endSession() {
	if p.admin != nil {
		p.admin.Close()
		p.admin = nil
	}
}

// make records and makes (or, on a retry that made it, completes) the user
// once the secret exists, and runs next (if any) beside the user's
// confirmation once it is made. mayHaveMade says a failure came when the
// user may have been made all the same (a commit whose answer was lost);
// before that, a failure made nothing.
func (p *Plan) make(in *secretsmanager.CreateSecretInput, created secretstore.Created, pending *dbuser.Pending, generated string, entry userledger.Entry, next func()) (password string, mayHaveMade bool, err error) {
	// The stored password first: a twin's user (its CREATE ROLE is what
	// our prepared one waited on) is proven by logging in with it.
	password, err = p.users.storedPassword(p.dbctx, in, created, entry)
	if err != nil {
		return "", false, err
	}
	if pending != nil && pending.Err() != nil {
		return password, false, pending.Err()
	}
	// Recorded before it is made: a user is never made without its record.
	if err := p.users.ledger.Record(p.dbctx, entry); err != nil {
		return password, false, err
	}
	family, _ := dbuser.FamilyOf(entry.Engine)
	switch {
	case p.ours:
		// An earlier attempt made it; grant again, in case it stopped short.
		err = p.admin.SetPrivileges(p.dbctx, p.user, p.user)
	case password != generated:
		// An earlier attempt's secret: its password, not this attempt's.
		pending.Rollback(p.dbctx)
		err = p.admin.Create(p.dbctx, p.user, dbuser.NewPassword(family, password))
	default:
		err = pending.Commit(p.dbctx)
	}
	if err != nil {
		return password, true, err
	}
	if next != nil {
		done := make(chan struct{})
		go func() {
			defer close(done)
			next()
		}()
		defer func() { <-done }()
	}
	// Made: now the record may be trusted, with the user's identity (a
	// failure here is passing, and the retry proves the user by its login).
	entry.Made = true
	if entry.OID, err = p.admin.OID(p.dbctx, entry.Username); err != nil {
		return password, true, err
	}
	return password, true, p.users.ledger.Record(p.dbctx, entry)
}

// madeByTwin reports whether the user that exists now is another delivery
// of this same request's: the ledger's record of this secret names it, and
// it logs in with the password the secret holds. The record alone proves
// nothing (this delivery wrote it too), and a user of the same name that
// another request made meanwhile does not have this secret's password.
func (p *Plan) madeByTwin(entry userledger.Entry, password string) bool {
	exists, err := p.admin.Exists(p.dbctx, p.user.Name)
	if err != nil || !exists || password == "" {
		return false
	}
	e, found, err := p.users.ledger.Find(p.dbctx, entry.Via, entry.SecretARN)
	if err != nil || !found || e.Username != entry.Username || e.MasterSecretARN != entry.MasterSecretARN ||
		e.Database != entry.Database || e.Privileges != entry.Privileges || strings.Join(e.Schemas, ",") != strings.Join(entry.Schemas, ",") ||
		strings.Join(e.MemberOf, ",") != strings.Join(entry.MemberOf, ",") {
		return false
	}
	if !p.logsIn(p.user.Name, password) {
		slog.WarnContext(p.dbctx, "a user of this request's name exists, but does not log in with this secret's password: another request's", "user", p.user.Name)
		return false
	}
	return true
}

// otherRequest is a secret made under this request's key by another
// request: not a retry of this one.
type otherRequest struct{ error }

// storedPassword is the password the secret holds: the one just generated,
// or an earlier attempt's when the secret was already there. An earlier
// attempt's secret must be for the same user with the same master, or it
// is another request's that shares the key.
func (u *Users) storedPassword(ctx context.Context, in *secretsmanager.CreateSecretInput, created secretstore.Created, want userledger.Entry) (string, error) {
	value := aws.ToString(in.SecretString)
	if created.Replayed {
		stored, err := u.secrets.CurrentValue(ctx, created.ARN)
		if err != nil {
			return "", err
		}
		value = stored.String
	}
	var v struct{ Username, Password, Masterarn string }
	if json.Unmarshal([]byte(value), &v) != nil || v.Password == "" {
		return "", otherRequest{errcode.New(errcode.Conflict, "the stored secret holds no password; it was changed outside this provisioner")}
	}
	if created.Replayed && (v.Masterarn != want.MasterSecretARN || v.Username != want.Username && !strings.EqualFold(v.Username, dbuser.CloneOf(want.Username))) {
		return "", otherRequest{&errcode.Error{Code: errcode.Conflict, Field: "name",
			Message: "the secret made under this request's key is for another database user: this is not a retry of the request that made it"}}
	}
	return v.Password, nil
}

// abandon answers a failure after the secret was made. When a retry or a
// rollback can finish the work (a passing failure of a request with an
// idempotency key, which makes the retry this request's), the secret stays
// and created names it. Otherwise nothing would: the user (only if this
// request may have made it: never one of that name found alone), its
// record and the secret are removed, and the answer names nothing.
func (u *Users) abandon(ctx context.Context, created secretstore.Created, entry userledger.Entry, keyed, mayHaveMade bool, cause error) (secretstore.Created, *Made, error) {
	code := errcode.Of(cause)
	passing := code == errcode.Unavailable || code == errcode.Upstream || code == errcode.Throttled
	if passing && keyed {
		return created, nil, cause
	}
	undo, cancel := undoContext(ctx)
	defer cancel()
	log := slog.With("arn", created.ARN, "error", errcode.Public(cause))
	// A refusal made nothing (PostgreSQL rolled back, MySQL dropped what it
	// made), nor did a failure before the commit.
	gone := !passing || !mayHaveMade
	if !gone {
		gone = u.dropIfProven(undo, entry) == nil
	}
	if gone {
		if err := u.ledger.Forget(undo, entry.Via, entry.SecretARN); err != nil {
			log.WarnContext(ctx, "could not forget the record of a database user never made", "forgetError", errcode.Public(err))
		}
	} else {
		log.ErrorContext(ctx, "a database user may be left behind: drop it by hand", "user", entry.Username, "host", entry.Host, "database", entry.Database)
	}
	regions := make([]string, 0, len(created.Replicas))
	for _, r := range created.Replicas {
		regions = append(regions, r.Region)
	}
	err := u.deleter.RemoveReplicas(undo, created.ARN, regions)
	if err == nil {
		_, err = u.deleter.Delete(undo, created.ARN, 0, true)
	}
	if err != nil {
		log.ErrorContext(ctx, "could not remove the secret whose database user failed", "deleteError", errcode.Public(err))
		return created, nil, cause
	}
	log.InfoContext(ctx, "removed the secret whose database user could not be made")
	return secretstore.Created{}, nil, cause
}
