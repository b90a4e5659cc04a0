// Package dbserver starts real database servers for tests, from Debian's
// packages, as motoserver starts moto: PostgreSQL and MariaDB, each on a
// free loopback port in a temporary data directory, with a master user
// that has what an RDS master user has (not a superuser).
//
// It imports nothing of shared/.
package dbserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/dbcreds/provisioner/local/testenv"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// InstallHint is what to do when a server is missing.
const InstallHint = "apt-get install -y postgresql mariadb-server (Debian's packages; .ci/run installs them)"

// Master is the master user every server is started with, as an RDS
// instance's: it may create users and grant what it owns.
const (
	MasterUser     = "master"
	MasterPassword = "master-Pa55word"
	Database       = "app"
)

// Server is a running database server.
type Server struct {
	Engine string // postgres or mariadb
	Host   string
	Port   int
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Stop ends the server and removes its data.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	os.RemoveAll(s.dir)
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// binary finds a server program on PATH or in Debian's versioned
// directories (PostgreSQL's are not on PATH).
func binary(name string, dirs ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, pattern := range dirs {
		if matches, _ := filepath.Glob(filepath.Join(pattern, name)); len(matches) > 0 {
			return matches[len(matches)-1], nil
		}
	}
	return "", fmt.Errorf("%s not found: %s", name, InstallHint)
}

// PostgresInstalled reports whether PostgreSQL's server programs are on
// this machine.
func PostgresInstalled() bool {
	_, initdbErr := binary("initdb", "/usr/lib/postgresql/*/bin")
	_, postgresErr := binary("postgres", "/usr/lib/postgresql/*/bin")
	return initdbErr == nil && postgresErr == nil
}

// Options change how a server starts.
type Options struct {
	// TLS, when set, has the server offer TLS with this certificate.
	TLS *TestCA
}

// StartPostgres runs initdb and postgres as an unprivileged user
// (PostgreSQL refuses root), creates the master role (CREATEROLE, CREATEDB,
// not a superuser, as RDS's) and its database.
func StartPostgres() (*Server, error) { return StartPostgresWith(Options{}) }

// StartPostgresWith is StartPostgres with options.
func StartPostgresWith(opts Options) (*Server, error) {
	initdb, err := binary("initdb", "/usr/lib/postgresql/*/bin")
	if err != nil {
		return nil, err
	}
	postgres, err := binary("postgres", "/usr/lib/postgresql/*/bin")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "dbserver-postgres-")
	if err != nil {
		return nil, err
	}
	cred, err := unprivileged(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	pwfile := filepath.Join(dir, "pw")
	os.WriteFile(pwfile, []byte("bootstrap-Pa55word\n"), 0o600)
	os.Chown(pwfile, int(cred.Uid), int(cred.Gid))
	cmd := exec.Command(initdb, "-D", data, "-U", "bootstrap", "--pwfile", pwfile, "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	s := &Server{Engine: "postgres", Host: "127.0.0.1", dir: dir}
	var args []string
	if opts.TLS != nil {
		// The server's own copies, owned by the user it runs as.
		cert, key := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
		for from, to := range map[string]string{opts.TLS.CertFile: cert, opts.TLS.KeyFile: key} {
			b, err := os.ReadFile(from)
			if err == nil {
				err = os.WriteFile(to, b, 0o600)
			}
			if err == nil && cred != nil {
				err = os.Chown(to, int(cred.Uid), int(cred.Gid))
			}
			if err != nil {
				os.RemoveAll(dir)
				return nil, err
			}
		}
		args = append(args, "-c", "ssl=on", "-c", "ssl_cert_file="+cert, "-c", "ssl_key_file="+key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var conn *pgx.Conn
	err = s.startOnFreePort(func(port int) *exec.Cmd {
		cmd := exec.Command(postgres, append([]string{"-D", data, "-p", strconv.Itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		return cmd
	}, func() error {
		// Through its own socket in dir: at the port, another package's
		// server could answer to the same bootstrap password.
		c, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=bootstrap password=bootstrap-Pa55word dbname=postgres sslmode=disable", dir, s.Port))
		conn = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres did not answer: %w", err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		"CREATE ROLE " + MasterUser + " LOGIN CREATEROLE CREATEDB PASSWORD '" + MasterPassword + "'",
		"CREATE DATABASE " + Database + " OWNER " + MasterUser,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			s.Stop()
			return nil, fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return s, nil
}

// StartMariaDB runs mariadb-install-db and mariadbd, and creates the master
// user with the privileges RDS gives its master user (all on *.* with
// GRANT OPTION, not SUPER), RDS's mysql.rds_kill, and the database.
func StartMariaDB() (*Server, error) { return StartMariaDBWith(Options{}) }

// StartMariaDBWith is StartMariaDB with options.
func StartMariaDBWith(opts Options) (*Server, error) {
	install, err := binary("mariadb-install-db")
	if err != nil {
		return nil, err
	}
	mariadbd, err := binary("mariadbd", "/usr/sbin")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "dbserver-mariadb-")
	if err != nil {
		return nil, err
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "mysqld.sock")
	// A server of its own tmpdir: mariadbd removes every "#sql*" file in
	// its tmpdir at start, so servers sharing /tmp delete each other's
	// temporary tables (a bootstrap then fails on "mysql.tmp_user_sys").
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if out, err := exec.Command(install, "--datadir="+data, "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db", "--tmpdir="+tmp).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	s := &Server{Engine: "mariadb", Host: "127.0.0.1", dir: dir}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "unix", sock
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer db.Close()
	err = s.startOnFreePort(func(port int) *exec.Cmd {
		args := []string{"--no-defaults", "--datadir=" + data, "--socket=" + sock, "--port=" + strconv.Itoa(port),
			"--bind-address=127.0.0.1", "--user=root", "--pid-file=" + filepath.Join(dir, "pid"), "--skip-log-bin", "--innodb-flush-log-at-trx-commit=0", "--tmpdir=" + tmp}
		if opts.TLS != nil {
			args = append(args, "--ssl-cert="+opts.TLS.CertFile, "--ssl-key="+opts.TLS.KeyFile, "--ssl-ca="+opts.TLS.CAFile)
		}
		cmd := exec.Command(mariadbd, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd
	}, db.Ping) // through its own socket, never another server's port
	if err != nil {
		return nil, fmt.Errorf("mariadbd did not answer: %w", err)
	}
	for _, stmt := range []string{
		"CREATE USER '" + MasterUser + "'@'%' IDENTIFIED BY '" + MasterPassword + "'",
		"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, PROCESS, REFERENCES, INDEX, ALTER, SHOW DATABASES, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, REPLICATION SLAVE, REPLICATION CLIENT, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, CREATE USER, EVENT, TRIGGER ON *.* TO '" + MasterUser + "'@'%' WITH GRANT OPTION",
		"CREATE DATABASE " + Database,
		// RDS's own procedure: its master user lacks CONNECTION ADMIN, and
		// ends another user's sessions through this.
		"CREATE PROCEDURE mysql.rds_kill(IN thread BIGINT) SQL SECURITY DEFINER KILL CONNECTION thread",
	} {
		if _, err := db.Exec(stmt); err != nil {
			s.Stop()
			return nil, fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return s, nil
}

func (s *Server) startOnFreePort(command func(port int) *exec.Cmd, ready func() error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if s.Port, err = testenv.FreePort(); err != nil {
			break
		}
		s.cmd, s.exited = command(s.Port), make(chan struct{})
		s.cmd.Stdout, s.cmd.Stderr = nil, nil
		if err = s.cmd.Start(); err != nil {
			err = fmt.Errorf("starting %s: %w", s.Engine, err)
			break
		}
		go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(s.cmd, s.exited)
		if err = s.waitReady(ready); !errors.Is(err, errExited) {
			break
		}
	}
	if err != nil {
		s.Stop()
		os.RemoveAll(s.dir)
	}
	return err
}

// errExited is a server that ended before it answered.
var errExited = errors.New("the server exited before it answered")

// waitReady waits up to 30 s for ready to succeed, and stops early when
// the server exits, as it does when another took its port first.
func (s *Server) waitReady(ready func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.exited:
			return errExited
		default:
		}
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// unprivileged is the user a server that refuses root runs as: this
// process's own when not root, else the postgres user the package made,
// who is given dir.
func unprivileged(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("PostgreSQL refuses to run as root and there is no postgres user: " + InstallHint)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

var (
	sharedOnce sync.Once
	shared     map[string]*Server
	sharedErr  error
)

// Shared starts one PostgreSQL and one MariaDB for a test binary, the first
// time it is called, and returns the server of engine (postgres or
// mariadb); StopShared stops them.
func Shared(engine string) (*Server, error) {
	sharedOnce.Do(func() {
		shared = map[string]*Server{}
		if shared["postgres"], sharedErr = StartPostgres(); sharedErr != nil {
			return
		}
		shared["mariadb"], sharedErr = StartMariaDB()
	})
	return shared[engine], sharedErr
}

// StopShared stops what Shared started.
func StopShared() {
	for _, s := range shared {
		s.Stop()
	}
}
