package dbuser

import (
	"strings"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// CloneSuffix is what AWS's alternating-users rotation appends to a user's
// name to make its second login. This package is the only place that
// knows it: a user's clone is always CloneOf(user), never a name worked
// back from a stored username.
const CloneSuffix = "_clone"

// CloneOf is the name of u's alternating-users clone.
func CloneOf(u string) string { return u + CloneSuffix }

// isCloneName reports whether name looks like some user's clone (Oracle's
// templates upper-case the suffix, so any letter case).
func isCloneName(name string) bool {
	return len(name) > len(CloneSuffix) && strings.EqualFold(name[len(name)-len(CloneSuffix):], CloneSuffix)
}

// reservedPrefixes and reservedNames are users an engine or RDS keeps for
// itself (PostgreSQL's pg_ roles, RDS's rds* and rdsadmin, Aurora's,
// MySQL's and MariaDB's system accounts and the name of the event
// scheduler's thread, PUBLIC and NONE), compared in
// lower case. Some cannot be created at all, others exist on every
// server; either way a request for one is refused before anything is made.
var (
	reservedPrefixes = map[Family][]string{
		Postgres: {"pg_", "rds", "aurora"},
		MySQL:    {"rds", "aurora", "mysql", "mariadb"},
	}
	reservedNames = map[Family][]string{
		Postgres: {"public", "none", "postgres", "current_user", "current_role", "session_user"},
		MySQL:    {"root", "public", "none", "event_scheduler"},
	}
)

// CheckNewUser checks the name of a user this provisioner is to make, for
// family: a valid name (CheckName) that is not a clone's name, not one the
// engine or RDS reserves, and that leaves room for its own clone within
// the engine's limit.
func CheckNewUser(f Family, name string) error {
	max := maxName(f)
	if err := CheckName("username", name, max); err != nil {
		return err
	}
	if isCloneName(name) {
		return errcode.Invalidf("username", "must not end in %s: that is the name AWS's alternating-users rotation gives another user's second login", CloneSuffix)
	}
	if len(CloneOf(name)) > max {
		return errcode.Invalidf("username", "must be at most %d characters, so that its rotation clone (%s added) fits the engine's limit of %d", max-len(CloneSuffix), CloneSuffix, max)
	}
	if reserved(f, name) {
		return errcode.Invalidf("username", "%s is reserved by the engine or RDS (names starting with %s, and %s)",
			errcode.Quote(name), strings.Join(reservedPrefixes[f], ", "), strings.Join(reservedNames[f], ", "))
	}
	return nil
}

// Reserved reports whether any family reserves name: what a generated
// username must never be.
func Reserved(name string) bool {
	for _, f := range []Family{Postgres, MySQL} {
		if reserved(f, name) {
			return true
		}
	}
	return false
}

func reserved(f Family, name string) bool {
	lower := strings.ToLower(name)
	for _, p := range reservedPrefixes[f] {
		if strings.HasPrefix(lower, p) {
			return true
		}
	}
	for _, n := range reservedNames[f] {
		if lower == n {
			return true
		}
	}
	return false
}

// maxName is the longest identifier Check takes: PostgreSQL's NAMEDATALEN
// - 1, and 64 for MySQL and MariaDB. Each engine's own, tighter limit on
// users (with room for the clone) is the secret's rule (dbsecret).
func maxName(f Family) int {
	if f == MySQL {
		return 64
	}
	return 63
}
