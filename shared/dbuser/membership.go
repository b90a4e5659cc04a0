package dbuser

import (
	"context"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// asMemberOf runs do in a PostgreSQL transaction of its own in which the
// master is a member of each of roles, for that transaction only: ending
// a role's sessions and DROP OWNED need the role's privileges, which an RDS
// master (no superuser) has only as a member. A membership taken is given
// back before the transaction commits, and one that cannot be is a
// rollback; so no other session of the master ever sees it (a concurrent
// GRANT ... ON ALL TABLES IN SCHEMA for another team's user would reach a
// member's tables), and no failure or cancelled request leaves it behind.
// Membership runs no code.
func (a *Admin) asMemberOf(ctx context.Context, roles []string, do func() error) error {
	return a.transaction(ctx, func() error { return a.memberWhile(ctx, roles, do) })
}

// membershipRows counts the rows that make the master a member of $1: one
// (PostgreSQL 15 and before) or one per grantor (16 and after).
const membershipRows = "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname = $1 AND m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)"

func (a *Admin) memberWhile(ctx context.Context, roles []string, do func() error) error {
	type held struct{ role, before string }
	var taken []held
	for _, role := range roles {
		has, err := a.s.Exists(ctx, "SELECT 1 WHERE pg_has_role(current_user, $1, 'USAGE')", role)
		if err != nil {
			return a.classify(err)
		}
		if has {
			continue
		}
		before, err := a.s.QueryString(ctx, membershipRows, role)
		if err != nil {
			return a.classify(err)
		}
		if err := a.exec(ctx, []Statement{takeMembership(role)}); err != nil {
			return err
		}
		// A GRANT that added no row (a membership held already, without
		// its privileges) is not revoked: that would take away the old one.
		after, err := a.s.QueryString(ctx, membershipRows, role)
		if err != nil {
			return a.classify(err)
		}
		if after != before {
			taken = append(taken, held{role, before})
		}
	}
	if err := do(); err != nil {
		return err
	}
	for _, h := range taken {
		exists, err := a.Exists(ctx, h.role)
		if err != nil {
			return err
		}
		if !exists {
			continue // dropped, and its memberships with it
		}
		if err := a.exec(ctx, []Statement{giveMembershipBack(h.role)}); err != nil {
			return err
		}
		now, err := a.s.QueryString(ctx, membershipRows, h.role)
		if err != nil {
			return a.classify(err)
		}
		if now != h.before {
			return errcode.New(errcode.Upstream, "the master's membership in database role %s could not be given back as it was", errcode.Quote(h.role))
		}
	}
	return nil
}
