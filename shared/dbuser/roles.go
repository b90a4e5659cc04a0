package dbuser

import (
	"context"
	"strconv"
	"strings"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// pgRoleQuery names, of role $1 and every role it is a member of at any
// depth, the first that disqualifies it, with why: it may log in (a
// user's); it holds a server-wide attribute (SUPERUSER, CREATEROLE,
// CREATEDB, REPLICATION, BYPASSRLS); it is PostgreSQL's or RDS's (pg_*,
// rds*) or the master; it is a user this provisioner made (a grantee of
// madeMark, or, made before it, a capped grantee of the master's default
// privileges, which only the master writes; locked or not) or a clone; it may grant a role it holds (ADMIN OPTION) or a
// privilege (a grant option) to others. Membership would hand the user
// what that role holds, or the power to pass it on. ” when none.
const pgRoleQuery = `WITH chain AS (
  SELECT x.oid, x.rolname, x.rolcanlogin, x.rolconnlimit,
    x.rolsuper OR x.rolcreaterole OR x.rolcreatedb OR x.rolreplication OR x.rolbypassrls AS attributes
  FROM pg_roles x, pg_roles r WHERE r.rolname = $1 AND (x.oid = r.oid OR pg_has_role(r.oid, x.oid, 'MEMBER'))
), grantable AS (
  SELECT x.grantee FROM pg_class c, aclexplode(c.relacl) x WHERE x.is_grantable
  UNION ALL SELECT x.grantee FROM pg_namespace n, aclexplode(n.nspacl) x WHERE x.is_grantable
  UNION ALL SELECT x.grantee FROM pg_proc p, aclexplode(p.proacl) x WHERE x.is_grantable
  UNION ALL SELECT x.grantee FROM pg_type t, aclexplode(t.typacl) x WHERE x.is_grantable
  UNION ALL SELECT x.grantee FROM pg_largeobject_metadata l, aclexplode(l.lomacl) x WHERE x.is_grantable
  UNION ALL SELECT x.grantee FROM pg_attribute a, aclexplode(a.attacl) x WHERE x.is_grantable
  UNION ALL SELECT x.grantee FROM pg_database d, aclexplode(d.datacl) x WHERE x.is_grantable
  UNION ALL SELECT x.grantee FROM pg_foreign_server f, aclexplode(f.srvacl) x WHERE x.is_grantable
  UNION ALL SELECT x.grantee FROM pg_foreign_data_wrapper w, aclexplode(w.fdwacl) x WHERE x.is_grantable
  UNION ALL SELECT x.grantee FROM pg_language g, aclexplode(g.lanacl) x WHERE x.is_grantable
  UNION ALL SELECT x.grantee FROM pg_tablespace s, aclexplode(s.spcacl) x WHERE x.is_grantable
  UNION ALL SELECT x.grantee FROM pg_default_acl d, aclexplode(d.defaclacl) x WHERE x.is_grantable
)
SELECT coalesce((SELECT c.rolname || ' ' || CASE
    WHEN c.rolcanlogin THEN 'may log in: it is a user''s'
    WHEN c.attributes THEN 'holds a server-wide attribute'
    WHEN c.rolname LIKE 'pg\_%' OR c.rolname LIKE 'rds%' OR c.rolname = current_user THEN 'is PostgreSQL''s, RDS''s or the master''s'
    WHEN c.rolname LIKE '%\_clone' OR shobj_description(c.oid, 'pg_authid') = '` + madeMark + `' OR c.rolconnlimit <> -1 AND EXISTS (SELECT 1 FROM pg_default_acl d, aclexplode(d.defaclacl) a
      WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user) AND a.grantee = c.oid) THEN 'is a user this provisioner made, or a clone'
    WHEN EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = c.oid AND m.admin_option) THEN 'may grant a role it holds (ADMIN OPTION)'
    ELSE 'may grant a privilege it holds (a grant option)' END
  FROM chain c WHERE c.rolcanlogin OR c.attributes OR c.rolname LIKE 'pg\_%' OR c.rolname LIKE 'rds%' OR c.rolname = current_user
    OR c.rolname LIKE '%\_clone' OR shobj_description(c.oid, 'pg_authid') = '` + madeMark + `' OR c.rolconnlimit <> -1 AND EXISTS (SELECT 1 FROM pg_default_acl d, aclexplode(d.defaclacl) a
      WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user) AND a.grantee = c.oid)
    OR EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = c.oid AND m.admin_option)
    OR c.oid IN (SELECT grantee FROM grantable)
  ORDER BY c.rolname LIMIT 1), '')`

// CheckRoles makes sure each role u is to be a member of exists and is a
// group role a DBA maintains, before anything is made: never a user's
// login role (another team's user would hand over its tables), nor one
// with server-wide power, nor one that is a member of such a role.
func (a *Admin) CheckRoles(ctx context.Context, u User) error {
	if len(u.MemberOf) == 0 {
		return nil
	}
	if a.family == MySQL {
		return a.checkMySQLRoles(ctx, u)
	}
	for i, r := range u.MemberOf {
		field := "memberOf[" + itoa(i) + "]"
		exists, err := a.s.Exists(ctx, "SELECT 1 FROM pg_roles WHERE rolname = $1", r)
		if err != nil {
			return a.classify(err)
		}
		if !exists {
			return errcode.Invalidf(field, "role %s does not exist", errcode.Quote(r))
		}
		why, err := a.s.QueryString(ctx, pgRoleQuery, r)
		if err != nil {
			return a.classify(err)
		}
		if why == "" {
			if why, err = a.parameterPrivileges(ctx, r); err != nil {
				return err
			}
		}
		if why != "" {
			return errcode.Invalidf(field, "role %s is no group role a user may be made a member of: %s (itself or a role it belongs to)", errcode.Quote(r), errcode.Clip(why))
		}
	}
	return nil
}

// parameterQuery names a role of $1's chain that holds a privilege on a
// server setting (PostgreSQL 15's GRANT SET or ALTER SYSTEM ON PARAMETER):
// session_replication_role alone turns off foreign keys and triggers on
// every table its holder may write.
const parameterQuery = `SELECT coalesce((SELECT x.rolname || ' holds a privilege on the server setting ' || p.parname
  FROM pg_roles x, pg_roles r, pg_parameter_acl p, aclexplode(p.paracl) a
  WHERE r.rolname = $1 AND (x.oid = r.oid OR pg_has_role(r.oid, x.oid, 'MEMBER')) AND a.grantee = x.oid
  ORDER BY x.rolname LIMIT 1), '')`

// parameterPrivileges runs parameterQuery where there are parameter
// privileges (PostgreSQL 15 and later).
func (a *Admin) parameterPrivileges(ctx context.Context, r string) (string, error) {
	version, err := a.s.QueryString(ctx, "SELECT current_setting('server_version_num')")
	if err != nil {
		return "", a.classify(err)
	}
	if n, _ := strconv.Atoi(version); n < 150000 {
		return "", nil
	}
	why, err := a.s.QueryString(ctx, parameterQuery, r)
	return why, a.classify(err)
}

// mariaDB reports whether the server is MariaDB, asked once.
func (a *Admin) mariaDB(ctx context.Context) (bool, error) {
	if a.flavor == "" {
		v, err := a.s.QueryString(ctx, "SELECT VERSION()")
		if err != nil {
			return false, a.classify(err)
		}
		a.flavor = "mysql"
		if strings.Contains(strings.ToLower(v), "mariadb") {
			a.flavor = "mariadb"
		}
	}
	return a.flavor == "mariadb", nil
}

// maxRoleDepth bounds how deep MySQL roles granted to roles are followed.
const maxRoleDepth = 8

func (a *Admin) checkMySQLRoles(ctx context.Context, u User) error {
	mariadb, err := a.mariaDB(ctx)
	if err != nil {
		return err
	}
	if mariadb && len(u.MemberOf) > 1 {
		return errcode.Invalidf("memberOf", "MariaDB makes one role active at login (the default role): name one, a role that holds the others")
	}
	for i, r := range u.MemberOf {
		if err := a.checkMySQLRole(ctx, "memberOf["+itoa(i)+"]", r, r, mariadb, 0); err != nil {
			return err
		}
	}
	return nil
}

// checkMySQLRole checks role r (named, in the request, as asked): a role,
// not an account that logs in; no privilege server-wide or on the
// server's own databases, no grant or admin option; and so the roles it
// holds.
func (a *Admin) checkMySQLRole(ctx context.Context, field, asked, r string, mariadb bool, depth int) error {
	if depth > maxRoleDepth {
		return errcode.Invalidf(field, "role %s holds roles more than %d deep", errcode.Quote(asked), maxRoleDepth)
	}
	query := "SELECT 1 FROM mysql.user WHERE User = ? AND Host = '' AND is_role = 'Y'"
	if !mariadb {
		// MySQL 8: CREATE ROLE makes a locked account with no password.
		query = "SELECT 1 FROM mysql.user WHERE User = ? AND Host = '%' AND account_locked = 'Y' AND authentication_string = ''"
	}
	exists, err := a.s.Exists(ctx, query, r)
	if err != nil {
		return a.classify(err)
	}
	if !exists {
		return errcode.Invalidf(field, "role %s does not exist (as a role: an account that logs in is a user's)", errcode.Quote(r))
	}
	grants, err := a.s.QueryStrings(ctx, "SHOW GRANTS FOR "+quoteMySQL(r))
	if err != nil {
		return a.classify(err)
	}
	for _, g := range grants {
		upper := strings.ToUpper(g)
		if strings.HasPrefix(g, "GRANT `") {
			// GRANT `held` TO `r`: a role r holds, read by its quotes (its
			// name may hold " ON " or " TO ").
			held, ok := backticked(g[len("GRANT "):])
			if !ok {
				return errcode.Invalidf(field, "role %s holds a grant this provisioner cannot read", errcode.Quote(asked))
			}
			if strings.Contains(upper, "WITH ADMIN OPTION") {
				return errcode.Invalidf(field, "role %s may grant what it holds", errcode.Quote(asked))
			}
			if err := a.checkMySQLRole(ctx, field, asked, held, mariadb, depth+1); err != nil {
				return err
			}
			continue
		}
		on, target, isPrivilege := strings.Cut(upper, " ON ")
		target, _, _ = strings.Cut(target, " TO ")
		for _, kind := range []string{"PROCEDURE ", "FUNCTION ", "PACKAGE BODY ", "PACKAGE ", "TABLE "} {
			target = strings.TrimPrefix(target, kind)
		}
		database := strings.SplitN(target, ".", 2)[0]
		switch {
		case strings.Contains(upper, "WITH GRANT OPTION") || strings.Contains(upper, "WITH ADMIN OPTION"):
			return errcode.Invalidf(field, "role %s may grant what it holds", errcode.Quote(asked))
		case isPrivilege && strings.HasPrefix(target, "*.*") && strings.TrimSpace(on) != "GRANT USAGE":
			return errcode.Invalidf(field, "role %s holds privileges on the whole server", errcode.Quote(asked))
		case isPrivilege && strings.HasSuffix(target, ".*") && wildcard(database):
			return errcode.Invalidf(field, "role %s holds privileges on databases named by a pattern (an unescaped %% or _), which may reach the server's own", errcode.Quote(asked))
		case isPrivilege && systemDatabase(MySQL, strings.Trim(database, "`")):
			return errcode.Invalidf(field, "role %s holds privileges on the server's own databases", errcode.Quote(asked))
		}
	}
	return nil
}

// wildcard reports whether a database name as SHOW GRANTS writes it
// holds a % or _ not escaped by a backslash: a pattern GRANT matches
// against every database.
func wildcard(name string) bool {
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '\\':
			i++
		case '%', '_':
			return true
		}
	}
	return false
}

// backticked reads the identifier s begins with, as SHOW GRANTS quotes it
// (`name`, a backtick inside doubled): a role's name may hold " TO " or
// " ON ", so it is read by its quotes, never cut at a word.
func backticked(s string) (string, bool) {
	if !strings.HasPrefix(s, "`") {
		return "", false
	}
	var name strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '`' {
			name.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '`' {
			name.WriteByte('`')
			i++
			continue
		}
		return name.String(), true
	}
	return "", false
}
