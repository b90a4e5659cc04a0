// Package awsrotation runs alternating-users rotations of a secret in
// tests: with AWS's own multi-user rotation function when its source is
// here (AWS_ROTATION_LAMBDAS: a checkout, or a bare clone, of
// aws-samples/aws-secrets-manager-rotation-lambdas) and Debian's Python
// drivers are installed, and otherwise with the statements that function
// runs, from Go.
package awsrotation

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/testenv/dbserver"
)

//go:embed driver.py
var driver []byte

// functions are the multi-user rotation functions by engine.
var functions = map[string]string{
	"postgres": "SecretsManagerRDSPostgreSQLRotationMultiUser/lambda_function.py",
	"mariadb":  "SecretsManagerRDSMariaDBRotationMultiUser/lambda_function.py",
	"mysql":    "SecretsManagerRDSMySQLRotationMultiUser/lambda_function.py",
}

// Source is AWS's function for engine, written to dir, or "" when it is
// not here: from a checkout, or from a bare clone's HEAD.
func Source(engine, dir string) string {
	root := os.Getenv("AWS_ROTATION_LAMBDAS")
	if root == "" || functions[engine] == "" {
		return ""
	}
	code, err := os.ReadFile(filepath.Join(root, functions[engine]))
	if err != nil {
		if code, err = exec.Command("git", "--git-dir", root, "show", "HEAD:"+functions[engine]).Output(); err != nil {
			return ""
		}
	}
	if exec.Command("/usr/bin/python3", "-c", "import boto3, pgdb, pymysql").Run() != nil {
		return ""
	}
	path := filepath.Join(dir, engine+"_lambda_function.py")
	if os.WriteFile(path, code, 0o600) != nil {
		return ""
	}
	return path
}

// Rotate runs one rotation of the secret arn, stored at Secrets Manager
// endpoint, with AWS's function at source, or without one (source ""),
// with its statements.
func Rotate(ctx context.Context, sm *secretsmanager.Client, endpoint, engine, source, arn string) error {
	if source != "" {
		script := filepath.Join(filepath.Dir(source), "driver.py")
		if err := os.WriteFile(script, driver, 0o600); err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "/usr/bin/python3", script, source, arn)
		cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL_SECRETSMANAGER="+endpoint, "AWS_DEFAULT_REGION=us-east-1",
			"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "PYTHONPATH=")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("AWS's rotation function: %v: %s", err, out.String())
		}
		return nil
	}
	return rotateByHand(ctx, sm, engine, arn)
}

// rotateByHand does what AWS's multi-user functions do (b4b8eca): a new
// password for the other login (the username without or with _clone);
// as the master, PostgreSQL makes it (CREATE ROLE ... ; GRANT <current> TO
// <pending>) or only sets its password when it exists, MySQL and MariaDB
// make it if need be and copy the current user's grants (SHOW GRANTS) to
// it, then set its password; the new version becomes current.
func rotateByHand(ctx context.Context, sm *secretsmanager.Client, engine, arn string) error {
	current, currentID, err := value(ctx, sm, arn, "AWSCURRENT")
	if err != nil {
		return err
	}
	master, _, err := value(ctx, sm, current["masterarn"].(string), "AWSCURRENT")
	if err != nil {
		return err
	}
	pending := map[string]any{}
	for k, v := range current {
		pending[k] = v
	}
	user := current["username"].(string)
	other := strings.TrimSuffix(user, "_clone")
	if other == user {
		other = user + "_clone"
	}
	b := make([]byte, 24)
	rand.Read(b)
	password := base64.RawURLEncoding.EncodeToString(b)
	pending["username"], pending["password"] = other, password
	db := dbserver.Open(engine, current["host"].(string), int(current["port"].(float64)), current["dbname"].(string), master["username"].(string), master["password"].(string))
	defer db.Close()
	if err := setUser(ctx, db, engine, user, other, password); err != nil {
		return err
	}
	body, _ := json.Marshal(pending)
	put, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(string(body)), VersionStages: []string{"AWSPENDING"}})
	if err != nil {
		return err
	}
	_, err = sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(arn), VersionStage: aws.String("AWSCURRENT"),
		MoveToVersionId: put.VersionId, RemoveFromVersionId: aws.String(currentID)})
	return err
}

func setUser(ctx context.Context, db *sql.DB, engine, current, pending, password string) error {
	exists := false
	if engine == "postgres" {
		var one int
		exists = db.QueryRowContext(ctx, "SELECT 1 FROM pg_roles WHERE rolname = $1", pending).Scan(&one) == nil
		if exists {
			return dbserver.Run(db, fmt.Sprintf(`ALTER USER %q WITH PASSWORD '%s'`, pending, password))
		}
		return dbserver.Run(db, fmt.Sprintf(`CREATE ROLE %q WITH LOGIN PASSWORD '%s'`, pending, password), fmt.Sprintf(`GRANT %q TO %q`, current, pending))
	}
	var name string
	exists = db.QueryRowContext(ctx, "SELECT User FROM mysql.user WHERE User = ?", pending).Scan(&name) == nil
	if !exists {
		if err := dbserver.Run(db, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", pending, password)); err != nil {
			return err
		}
	}
	rows, err := db.QueryContext(ctx, "SHOW GRANTS FOR '"+current+"'@'%'")
	if err != nil {
		return err
	}
	var grants []string
	for rows.Next() {
		var g string
		rows.Scan(&g)
		grants = append(grants, strings.Split(g, " TO ")[0]+" TO '"+pending+"'@'%'")
	}
	rows.Close()
	grants = append(grants, fmt.Sprintf("SET PASSWORD FOR '%s'@'%%' = PASSWORD('%s')", pending, password))
	return dbserver.Run(db, grants...)
}

// Current is the secret's AWSCURRENT value. Named, not the default:
// moto's GetSecretValue without a stage keeps answering with the version
// current before UpdateSecretVersionStage moved the label.
func Current(ctx context.Context, sm *secretsmanager.Client, arn string) (map[string]any, error) {
	v, _, err := value(ctx, sm, arn, "AWSCURRENT")
	return v, err
}

func value(ctx context.Context, sm *secretsmanager.Client, arn, stage string) (map[string]any, string, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String(stage)})
	if err != nil {
		return nil, "", err
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v); err != nil {
		return nil, "", err
	}
	return v, aws.ToString(out.VersionId), nil
}
