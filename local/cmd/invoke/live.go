package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
)

// The product's main claim, shown locally: an event that makes a database
// user, whose master secret this Secrets Manager does not hold, runs
// against a throwaway PostgreSQL; afterwards the new user logs in with the
// stored secret and tries what it may and may not do.

// liveEvent is the sample that makes a database user; make invoke runs it
// first when PostgreSQL is installed.
const liveEvent = "events/custom-resource-create-database-user.json"

// liveDatabase is the throwaway server an event's user was made on.
type liveDatabase struct {
	server *dbserver.Server
	dbname string
}

// demoTable is what the master made before the user: the application's
// data, which readwrite may read and write but not reshape.
const demoTable = "orders"

// withLiveDatabase readies a custom-resource event with CreateDatabaseUser
// whose PostgreSQL master secret does not exist here: a throwaway
// PostgreSQL, its database and a table, the master's secret stored, and the
// event pointed at it. Other events are returned as they are, with no
// database.
func withLiveDatabase(ctx context.Context, event []byte, region string) ([]byte, *liveDatabase, error) {
	var e map[string]any
	if json.Unmarshal(event, &e) != nil {
		return event, nil, nil
	}
	props, _ := e["ResourceProperties"].(map[string]any)
	engine, _ := props["Engine"].(string)
	master, _ := props["MasterSecretArn"].(string)
	if props == nil || fmt.Sprint(props["CreateDatabaseUser"]) != "true" || master == "" ||
		engine != "postgres" && engine != "aurora-postgresql" {
		return event, nil, nil
	}
	if existing, err := lookUp(ctx, region, master); err != nil || existing != nil {
		return event, nil, err
	}
	if !dbserver.PostgresInstalled() {
		return nil, nil, errors.New("this event makes a database user, and runs locally against a throwaway PostgreSQL: install PostgreSQL (Debian: apt install postgresql), or run another event")
	}
	dbname, _ := props["DbName"].(string)
	if dbname == "" {
		dbname = "postgres"
	}
	s, err := dbserver.StartPostgres()
	if err != nil {
		return nil, nil, err
	}
	live := &liveDatabase{server: s, dbname: dbname}
	if err := live.prepare(); err != nil {
		s.Stop()
		return nil, nil, err
	}
	arn, err := storeMaster(ctx, region, s, dbname)
	if err != nil {
		s.Stop()
		return nil, nil, err
	}
	props["MasterSecretArn"] = arn
	fmt.Fprintf(os.Stderr, "== the event's master secret does not exist here: started a throwaway PostgreSQL at %s (stopped on exit) with database %s and table %s, stored its master user's secret as %s, and pointed the event at it\n",
		s.Addr(), dbname, demoTable, arn)
	event, err = json.Marshal(e)
	if err != nil {
		s.Stop()
		return nil, nil, err
	}
	return event, live, nil
}

// prepare makes the database (the master may: CREATEDB, as on RDS) and
// the master's table in it.
func (l *liveDatabase) prepare() error {
	if l.dbname != dbserver.Database && l.dbname != "postgres" {
		if err := l.server.AsMaster(`CREATE DATABASE "` + strings.ReplaceAll(l.dbname, `"`, `""`) + `"`); err != nil {
			return err
		}
	}
	db := dbserver.Open("postgres", l.server.Host, l.server.Port, l.dbname, dbserver.MasterUser, dbserver.MasterPassword)
	defer db.Close()
	return dbserver.Run(db, "CREATE TABLE "+demoTable+" (id serial PRIMARY KEY, item text)")
}

// storeMaster stores the master user's secret as RDS would shape it,
// outside the deployment's prefix.
func storeMaster(ctx context.Context, region string, s *dbserver.Server, dbname string) (string, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return "", err
	}
	value, _ := json.Marshal(map[string]any{"engine": "postgres", "host": s.Host, "port": s.Port, "dbname": dbname,
		"username": dbserver.MasterUser, "password": dbserver.MasterPassword})
	out, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("masters/local-postgres-" + strconv.Itoa(s.Port)), SecretString: aws.String(string(value)),
		Description: aws.String("the throwaway PostgreSQL's master user, made by make invoke"),
	})
	if err != nil {
		return "", fmt.Errorf("storing the master secret: %w", err)
	}
	return aws.ToString(out.ARN), nil
}

// show logs in with the secret arn holds, as the application will, and
// tries what readwrite may and may not do.
func (l *liveDatabase) show(ctx context.Context, arn, region string) error {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return err
	}
	value, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return fmt.Errorf("reading the secret back: %w", err)
	}
	var secret struct {
		Host, Username, Password, DBName string
		Port                             int
	}
	if err := json.Unmarshal([]byte(aws.ToString(value.SecretString)), &secret); err != nil {
		return fmt.Errorf("the secret is no database secret: %w", err)
	}
	section("the new user, live in PostgreSQL at " + l.server.Addr() + " (with the stored secret, as the application logs in)")
	db := dbserver.Open("postgres", secret.Host, secret.Port, secret.DBName, secret.Username, secret.Password)
	defer db.Close()
	var who string
	if err := db.QueryRowContext(ctx, "SELECT current_user").Scan(&who); err != nil {
		fmt.Printf("   logs in: no (%v)\n", err)
		return nil
	}
	fmt.Printf("   logs in as %s to database %s\n", who, secret.DBName)
	for _, try := range []struct{ what, sql string }{
		{"SELECT from " + demoTable, "SELECT count(*) FROM " + demoTable},
		{"INSERT into " + demoTable, "INSERT INTO " + demoTable + " (item) VALUES ('first order')"},
		{"UPDATE " + demoTable, "UPDATE " + demoTable + " SET item = 'changed'"},
		{"DELETE from " + demoTable, "DELETE FROM " + demoTable},
		{"CREATE TABLE", "CREATE TABLE made_by_app (id int)"},
		{"DROP TABLE " + demoTable, "DROP TABLE " + demoTable},
		{"CREATE ROLE", "CREATE ROLE made_by_app"},
	} {
		fmt.Printf("   %-24s %s\n", try.what, outcomeOf(ctx, db, try.sql))
	}
	fmt.Println("   (the throwaway PostgreSQL stops when this run ends)")
	return nil
}

func outcomeOf(ctx context.Context, db *sql.DB, statement string) string {
	if _, err := db.ExecContext(ctx, statement); err != nil {
		msg := err.Error()
		if i := strings.Index(msg, " (SQLSTATE"); i > 0 {
			msg = msg[:i]
		}
		return "refused: " + strings.TrimPrefix(msg, "ERROR: ")
	}
	return "allowed"
}
