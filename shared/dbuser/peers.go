package dbuser

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"time"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// peer is a user the master made before on a schema: one it gave default
// privileges there (which only the master may write), with what it
// gave and whether it may create there.
type peer struct {
	name   string
	writes bool
	owner  bool // CREATE on the schema, granted by the master
}

func (p peer) level() Privileges {
	if p.writes {
		return ReadWrite
	}
	return ReadOnly
}

// peersQuery lists the users this provisioner made (madeMark) that are
// grantees of the master's default privileges on tables in schema $1, but
// $2 and $3 (the user and its clone): whether they may write, and whether
// the master let them create there. A DBA's role the master gave default
// privileges is no peer. The schema's ACL is read once (creators), not
// once a peer: it lists every user, so that made each grant O(users²).
const peersQuery = `WITH me AS (SELECT oid FROM pg_roles WHERE rolname = current_user),
ns AS (SELECT oid, nspacl FROM pg_namespace WHERE nspname = $1),
creators AS (SELECT c.grantee FROM ns, aclexplode(ns.nspacl) c
  WHERE c.grantor = (SELECT oid FROM me) AND c.privilege_type = 'CREATE'),
x AS (SELECT a.grantee, bool_or(a.privilege_type = 'INSERT') writes
  FROM pg_default_acl d, aclexplode(d.defaclacl) a
  WHERE d.defaclrole = (SELECT oid FROM me) AND d.defaclobjtype = 'r' AND d.defaclnamespace = (SELECT oid FROM ns)
  GROUP BY a.grantee)
SELECT coalesce(json_agg(json_build_array(g.rolname, x.writes, x.grantee IN (SELECT grantee FROM creators)) ORDER BY g.rolname), '[]')::text
FROM x JOIN pg_roles g ON g.oid = x.grantee WHERE g.rolname <> $2 AND g.rolname <> $3
  AND shobj_description(g.oid, 'pg_authid') = '` + madeMark + `'`

// schemaState is what the catalog says of one of a user's schemas.
type schemaState struct {
	peers []peer
	// tables and sequences the master may grant on there (its own, its
	// owner peers', the user's, and any it holds a grant option on), as
	// the server names them.
	tables, sequences []string
	// granted is what the master or an owner peer granted the user there.
	granted []grant
}

// grantable lists the relations of schema $1 of the kinds given ($2)
// that the master may grant on: those the master itself, the user or one
// of its owner peers ($3, a JSON array of names) owns, exactly. Not every
// role the master is a member of for the transaction: an owner peer may
// be a member of a DBA's group role, whose tables its membership must not
// hand to the schema's other users.
const grantable = `SELECT coalesce(json_agg(c.oid::regclass::text ORDER BY c.relname), '[]')::text FROM pg_class c
WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1) AND c.relkind = ANY (string_to_array($2, ','))
  AND c.relowner IN (SELECT oid FROM pg_roles WHERE rolname = current_user OR rolname IN (SELECT json_array_elements_text($3::json)))`

// grantedThere lists what the master or a user made on the schema ($3, a
// JSON array of names) granted $1 on the relations of schema $2, but the
// rights an owner has on what it owns: what a change of level revokes,
// whoever of them granted it, owner now or not.
const grantedThere = `SELECT coalesce(json_agg(json_build_array(g.rolname, a.privileges, a.clause, false)), '[]')::text FROM (
  SELECT x.grantor, string_agg(DISTINCT x.privilege_type, ', ') privileges, 'ON TABLE ' || c.oid::regclass::text clause FROM pg_class c, aclexplode(c.relacl) x
  WHERE c.relacl IS NOT NULL AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $2)
    AND x.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1) AND x.grantor <> x.grantee
    AND x.grantor IN (SELECT oid FROM pg_roles WHERE rolname = current_user OR rolname IN (SELECT json_array_elements_text($3::json)))
  GROUP BY x.grantor, c.oid
) a JOIN pg_roles g ON g.oid = a.grantor`

// schemaStates reads the peers of u's schemas.
func (a *Admin) schemaStates(ctx context.Context, u User) (map[string]schemaState, error) {
	out := map[string]schemaState{}
	for _, s := range u.schemas() {
		peers, err := a.peersOn(ctx, u, s)
		if err != nil {
			return nil, err
		}
		out[s] = schemaState{peers: peers}
	}
	return out, nil
}

// targets reads, into on, what u's grants act on (granting) or what was
// granted to u there (revoking), inside the memberships they need.
func (a *Admin) targets(ctx context.Context, u User, on map[string]schemaState, revoking bool) error {
	for _, s := range u.schemas() {
		state := on[s]
		names := []string{u.Name}
		for _, p := range state.peers {
			if revoking || p.owner {
				names = append(names, p.name)
			}
		}
		list, _ := json.Marshal(names)
		var err error
		if revoking {
			// What the master or a user made on the schema granted u.
			var rows string
			if rows, err = a.s.QueryString(ctx, grantedThere, u.Name, s, string(list)); err != nil {
				return a.classify(err)
			}
			if state.granted, err = readGrants(rows); err != nil {
				return err
			}
		} else {
			// What the master, u or an owner peer owns.
			if state.tables, err = a.names(ctx, grantable, s, "r,p,v,m,f", string(list)); err != nil {
				return err
			}
			if state.sequences, err = a.names(ctx, grantable, s, "S", string(list)); err != nil {
				return err
			}
		}
		on[s] = state
	}
	return nil
}

func (a *Admin) names(ctx context.Context, query string, args ...string) ([]string, error) {
	list, err := a.s.QueryString(ctx, query, args...)
	if err != nil {
		return nil, a.classify(err)
	}
	var names []string
	if err := json.Unmarshal([]byte(list), &names); err != nil {
		return nil, errcode.New(errcode.Upstream, "the server's list of the schema's objects could not be read")
	}
	return names, nil
}

// peersOn finds u's peers on schema s.
func (a *Admin) peersOn(ctx context.Context, u User, s string) ([]peer, error) {
	list, err := a.s.QueryString(ctx, peersQuery, s, u.Name, CloneOf(u.Name))
	if err != nil {
		return nil, a.classify(err)
	}
	var rows [][3]any
	if err := json.Unmarshal([]byte(list), &rows); err != nil {
		return nil, errcode.New(errcode.Upstream, "the server's list of the schema's users could not be read")
	}
	var out []peer
	for _, r := range rows {
		name, _ := r[0].(string)
		writes, _ := r[1].(bool)
		owner, _ := r[2].(bool)
		if name == "" {
			return nil, errcode.New(errcode.Upstream, "the server's list of the schema's users could not be read")
		}
		out = append(out, peer{name: name, writes: writes, owner: owner})
	}
	return out, nil
}

// memberships are the roles the master acts as while granting u's
// privileges: its owner peers (whose tables it grants on and whose default
// privileges it sets) and, when self, u itself (whose default privileges
// it sets, and whose own tables, after an owner's downgrade, are among
// those it grants on). Never u while revoking: a revoke run as a member of
// a table's owner is run as the owner, and would take u's rights on its
// own tables. Taken for the transaction only (memberWhile).
func memberships(u User, on map[string]schemaState, self bool) []string {
	return membershipsOf(u, on, self, false)
}

// revokeMemberships are the roles the master acts as while revoking u's
// privileges: every user made on its schemas, owner now or not (one that
// was may have granted u on its tables, and set default privileges for
// it), never u itself.
func revokeMemberships(u User, on map[string]schemaState) []string {
	return membershipsOf(u, on, false, true)
}

func membershipsOf(u User, on map[string]schemaState, self, everyPeer bool) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, s := range u.schemas() {
		for _, p := range on[s].peers {
			if p.owner || everyPeer {
				add(p.name)
			}
		}
		if self {
			add(u.Name)
		}
	}
	return out
}

// grantsLock is the PostgreSQL advisory lock (per database) that
// serialises the provisioner's grants: "dbcreds" as a number.
const grantsLock int64 = 0x6462637265647300

// grantsLockWait is how long grants wait their turn. Any session of the
// database may take an advisory lock, so one that holds this one forever
// only delays the grants by this much (a queue of the provisioner's own
// sessions takes far less): they then go ahead unserialised, and at worst
// one fails as it would have without the lock. A variable for tests.
var grantsLockWait = 10 * time.Second

// serialiseGrants takes grantsLock until the transaction ends, waiting
// at most grantsLockWait for it.
func (a *Admin) serialiseGrants(ctx context.Context) error {
	// At most half of what is left, so that grants made without the lock
	// still finish before the deadline.
	d := grantsLockWait
	if deadline, ok := ctx.Deadline(); ok {
		d = max(min(d, time.Until(deadline)/2), 10*time.Millisecond)
	}
	wait := strconv.FormatInt(d.Milliseconds(), 10)
	steps := []string{"SET LOCAL lock_timeout = " + wait, "SAVEPOINT dbcreds_grants"}
	for _, q := range steps {
		if err := a.s.Exec(ctx, q); err != nil {
			return a.classify(err)
		}
	}
	err := a.s.Exec(ctx, "SELECT pg_advisory_xact_lock("+strconv.FormatInt(grantsLock, 10)+")")
	switch {
	case err == nil:
		err = a.s.Exec(ctx, "RELEASE SAVEPOINT dbcreds_grants")
	case isLockTimeout(err):
		slog.WarnContext(ctx, "another session held the grants' lock too long; granting without it", "waited", d)
		err = a.s.Exec(ctx, "ROLLBACK TO SAVEPOINT dbcreds_grants")
	}
	if err != nil {
		return a.classify(err)
	}
	return a.classify(a.s.Exec(ctx, "SET LOCAL lock_timeout = '1s'"))
}

// grantWithPeers runs u's grants (after revokes of was, when changing) in
// the transaction open on a's session, as a member of the roles it needs.
func (a *Admin) grantWithPeers(ctx context.Context, was *User, u User) error {
	if a.family != Postgres {
		mariadb := false
		if len(u.MemberOf) > 0 || was != nil && len(was.MemberOf) > 0 {
			var err error
			if mariadb, err = a.mariaDB(ctx); err != nil {
				return err
			}
		}
		var statements []Statement
		if was != nil {
			statements = append(revokes(MySQL, *was, nil), roleRevokes(MySQL, mariadb, *was)...)
		}
		statements = append(statements, grants(MySQL, u, nil)...)
		return a.exec(ctx, append(statements, roleGrants(MySQL, mariadb, u)...))
	}
	// One grant at a time in this database, until COMMIT: two open
	// transactions that both change a shared ACL fail the second.
	if err := a.serialiseGrants(ctx); err != nil {
		return err
	}
	if was != nil {
		on, err := a.schemaStates(ctx, *was)
		if err != nil {
			return err
		}
		err = a.memberWhile(ctx, revokeMemberships(*was, on), func() error {
			if err := a.targets(ctx, *was, on, true); err != nil {
				return err
			}
			return a.exec(ctx, append(revokes(Postgres, *was, on), roleRevokes(Postgres, false, *was)...))
		})
		if err != nil {
			return err
		}
	}
	on, err := a.schemaStates(ctx, u)
	if err != nil {
		return err
	}
	return a.memberWhile(ctx, memberships(u, on, true), func() error {
		if err := a.targets(ctx, u, on, false); err != nil {
			return err
		}
		return a.exec(ctx, append(grants(Postgres, u, on), roleGrants(Postgres, false, u)...))
	})
}
