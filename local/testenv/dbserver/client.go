package dbserver

import (
	"database/sql"
	"net"
	"path/filepath"
	"strconv"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Open is a connection to a database as a user, for tests to act as that
// user or to look at what was made: engine postgres (or aurora-postgresql)
// or mariadb (or mysql, aurora-mysql).
func Open(engine, host string, port int, database, user, password string) *sql.DB {
	if engine == "mariadb" || engine == "mysql" || engine == "aurora-mysql" {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, password, "tcp", net.JoinHostPort(host, strconv.Itoa(port)), database
		connector, _ := mysql.NewConnector(cfg)
		return sql.OpenDB(connector)
	}
	cfg, _ := pgx.ParseConfig("")
	cfg.Host, cfg.Port, cfg.Database, cfg.User, cfg.Password = host, uint16(port), database, user, password
	return stdlib.OpenDB(*cfg)
}

// Run runs statements on db, stopping at the first error.
func Run(db *sql.DB, statements ...string) error {
	if err := db.Ping(); err != nil {
		return err
	}
	for _, s := range statements {
		if _, err := db.Exec(s); err != nil {
			return err
		}
	}
	return nil
}

// AsMaster runs statements on the server as its master user.
func (s *Server) AsMaster(statements ...string) error {
	db := Open(s.Engine, s.Host, s.Port, Database, MasterUser, MasterPassword)
	defer db.Close()
	return Run(db, statements...)
}

// AsAdministrator runs statements on the application database as the
// server's own administrator (PostgreSQL's bootstrap superuser, MariaDB's
// root over its socket): what only a DBA may do, such as taking a
// privilege from the master user.
func (s *Server) AsAdministrator(statements ...string) error {
	var db *sql.DB
	if s.Engine == "mariadb" {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Net, cfg.Addr, cfg.DBName = "root", "unix", filepath.Join(s.dir, "mysqld.sock"), Database
		connector, err := mysql.NewConnector(cfg)
		if err != nil {
			return err
		}
		db = sql.OpenDB(connector)
	} else {
		db = Open(s.Engine, s.Host, s.Port, Database, "bootstrap", "bootstrap-Pa55word")
	}
	defer db.Close()
	return Run(db, statements...)
}

// UserExists reports whether the server has a user of that name.
func (s *Server) UserExists(user string) (bool, error) {
	db := Open(s.Engine, s.Host, s.Port, Database, MasterUser, MasterPassword)
	defer db.Close()
	query := "SELECT count(*) FROM pg_roles WHERE rolname = $1"
	if s.Engine == "mariadb" {
		query = "SELECT count(*) FROM mysql.user WHERE User = ?"
	}
	var n int
	err := db.QueryRow(query, user).Scan(&n)
	return n > 0, err
}
