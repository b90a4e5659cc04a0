package dbuser

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dbcreds/provisioner/shared/dbsession"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// classify turns a driver error into a coded one. Its text stays the cause,
// for the log, with any password cut out: drivers quote what they were
// given. A refusal the database would give again (a missing schema, a
// reserved name, a privilege the master lacks) is permanent: invalid,
// conflict or forbidden, so that no trigger retries it. Only what may pass
// (a lost connection, a deadlock, a server starting up) is unavailable or
// upstream.
func classify(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	var coded *errcode.Error
	if errors.As(err, &coded) && coded.Err == nil {
		return err // already ours, and carries no driver text
	}
	cause := redacted{err: err, secrets: secrets}
	var netErr net.Error
	var verify *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &verify) || errors.As(err, &unknownCA) || errors.As(err, &hostname):
		return errcode.Wrap(cause, errcode.Upstream, "the database's TLS certificate could not be verified against the certificate authority bundle")
	case strings.Contains(err.Error(), "server refused TLS") || strings.Contains(err.Error(), "server does not support TLS") || strings.Contains(err.Error(), "TLS requested but server does not support TLS"):
		return errcode.Wrap(cause, errcode.Upstream, "the database does not offer TLS, which ssl requires")
	case errors.Is(err, dbsession.ErrKeyRefused):
		return &errcode.Error{Code: errcode.Forbidden, Field: "ssl", Err: cause,
			Message: "the database offered its own key to encrypt the password with on a connection without verified TLS, and whoever answers could decrypt it; nothing was sent: set ssl to true"}
	case strings.Contains(err.Error(), "require_auth"):
		// With or without TLS: another server with a certificate for the
		// host must not read it either.
		return &errcode.Error{Code: errcode.Forbidden, Err: cause,
			Message: "the database asked for the password in clear text; nothing was sent: it must authenticate with SCRAM-SHA-256 or MD5"}
	case errors.Is(err, dbsession.ErrDriverFailed):
		return errcode.Wrap(cause, errcode.Upstream, "the database sent an answer no database sends")
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return errcode.Wrap(cause, errcode.Unavailable, "the database did not answer in time")
	case isAuthFailure(err):
		return errcode.Wrap(cause, errcode.Forbidden, "the master user could not log in to the database")
	case isDuplicate(err):
		return errcode.Wrap(cause, errcode.Conflict, "the database user already exists")
	case pgCode(err) == "2BP01":
		return &errcode.Error{Code: errcode.Conflict, Field: "username", Err: cause,
			Message: "the database user is still referenced elsewhere (privileges or default privileges in another database, say): remove those, then delete again"}
	case isPermission(err):
		return errcode.Wrap(cause, errcode.Forbidden, "the master user may not do this in the database")
	}
	if field, message, ok := refusal(err); ok {
		return &errcode.Error{Code: errcode.Invalid, Field: field, Message: message, Err: cause}
	}
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	if errors.As(err, &pgErr) || errors.As(err, &myErr) {
		return errcode.Wrap(cause, errcode.Upstream, "the database could not do it now; retry later")
	}
	return errcode.Wrap(cause, errcode.Unavailable, "the database could not be reached")
}

// refusal reads a permanent refusal: the field at fault, if known, and a
// message that names the engine's own code but repeats none of its text.
func refusal(err error) (field, message string, ok bool) {
	if c := pgCode(err); c != "" {
		switch {
		case c == "3D000":
			return "dbname", "the database does not exist", true
		case c == "3F000":
			return "schemas", "a schema does not exist", true
		case c == "42939":
			return "username", "the name is reserved by the database", true
		case transientPG(c):
			return "", "", false
		}
		return "", "the database refused the request (SQLSTATE " + c + ")", true
	}
	if n := myCode(err); n != 0 {
		switch {
		case n == 1049:
			return "dbname", "the database does not exist", true
		case transientMySQL(n):
			return "", "", false
		}
		return "", "the database refused the request (error " + itoa(int(n)) + ")", true
	}
	return "", "", false
}

// transientPG: SQLSTATE classes that say "not now" rather than "no":
// connection exceptions (08), transaction rollbacks such as deadlocks
// (40), insufficient resources (53), object not in prerequisite state such
// as a lock not available (55), operator intervention such as a shutdown
// (57), system errors (58) and internal errors (XX).
func transientPG(code string) bool {
	switch code[:2] {
	case "08", "40", "53", "55", "57", "58", "XX":
		return true
	}
	return false
}

// transientMySQL: too many connections (1040), shutting down (1053,
// 1077-1079), network errors (1158-1161), lock wait time-out (1205),
// deadlock (1213), interrupted (1317), read-only for now (1290, 1836).
func transientMySQL(n uint16) bool {
	switch {
	case n == 1040, n == 1053, n >= 1077 && n <= 1079, n >= 1158 && n <= 1161, n == 1205, n == 1213, n == 1290, n == 1317, n == 1836:
		return true
	}
	return false
}

func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func myCode(err error) uint16 {
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number
	}
	return 0
}

// isAuthFailure: PostgreSQL 28P01/28000, MySQL 1045, a locked account
// (MySQL 3118, MariaDB 4151).
func isAuthFailure(err error) bool {
	c := pgCode(err)
	n := myCode(err)
	return c == "28P01" || c == "28000" || n == 1045 || n == 3118 || n == 4151
}

// isDuplicate: the user exists (PostgreSQL 42710, or 23505 when another
// session's CREATE ROLE of the name committed first; MySQL 1396).
func isDuplicate(err error) bool {
	c := pgCode(err)
	return c == "42710" || c == "23505" || myCode(err) == 1396
}

// isPermission: PostgreSQL 42501, MySQL 1044, 1142, 1227, 1370.
func isPermission(err error) bool {
	n := myCode(err)
	return pgCode(err) == "42501" || n == 1044 || n == 1142 || n == 1227 || n == 1370
}

// isNotOwner: KILL of another user's thread without CONNECTION ADMIN
// (1095), or without the privilege at all (1227).
func isNotOwner(err error) bool { n := myCode(err); return n == 1095 || n == 1227 }

// isNoProcedure: no such procedure (1305), as mysql.rds_kill outside RDS.
func isNoProcedure(err error) bool { return myCode(err) == 1305 }

// isLockTimeout: PostgreSQL's lock_timeout ended a statement (55P03).
func isLockTimeout(err error) bool { return pgCode(err) == "55P03" }

// isNoSuchThread: the session ended before KILL reached it.
func isNoSuchThread(err error) bool { return myCode(err) == 1094 }

// isNoSuchGrant: MySQL 1141/1147, a REVOKE of nothing.
func isNoSuchGrant(err error) bool { n := myCode(err); return n == 1141 || n == 1147 }

// redacted is a driver error with every secret cut from its text.
type redacted struct {
	err     error
	secrets []string
}

func (r redacted) Error() string {
	text := r.err.Error()
	for _, s := range r.secrets {
		if s != "" {
			text = strings.ReplaceAll(text, s, "[redacted]")
		}
	}
	return text
}

func (r redacted) Unwrap() error { return r.err }
